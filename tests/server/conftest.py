from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server._project import SHARED_ENV, ServerProcess, write_project


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("proj"))


@pytest.fixture(scope="session")
def server(project: Path) -> Iterator[ServerProcess]:
    """One `flue serve` for the whole directory (server start-up is the slow part); tests use distinct sessions."""
    proc = ServerProcess(project, env=SHARED_ENV).start()
    try:
        yield proc
    finally:
        proc.stop()
