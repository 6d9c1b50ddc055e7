from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server._project import ServerProcess, write_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


@pytest.fixture
def server(project: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(project).start()
    try:
        yield proc
    finally:
        proc.stop()
