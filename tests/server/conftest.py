from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server._project import ServerProcess, write_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("proj"))


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[ServerProcess]:
    """One `flue serve` per test module (tests use distinct session ids)."""
    proc = ServerProcess(project).start()
    try:
        yield proc
    finally:
        proc.stop()
