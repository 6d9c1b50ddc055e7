"""Suite-wide fixtures. Any request to a real (non-loopback) model fails loudly in this suite."""

from __future__ import annotations

import pytest

from flue_py.testing import block_model_requests

block_model_requests()


@pytest.fixture
def harness():
    """A harness over a fresh in-memory store."""
    from flue_py import Harness

    return Harness()
