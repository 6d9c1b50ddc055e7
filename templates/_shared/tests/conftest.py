"""Tests run offline: a real model request fails loudly, and the project root is importable (agents.*)."""

import sys
from pathlib import Path

import pytest
from flue_py.testing import block_model_requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
block_model_requests()


@pytest.fixture(autouse=True)
def in_project(monkeypatch: pytest.MonkeyPatch) -> Path:
    # Agents discover skills/ from the directory a run starts in.
    monkeypatch.chdir(ROOT)
    return ROOT
