"""The `session_store` fixture: every contract test runs once per backend.

Adding a backend is one entry in BACKENDS: a name and a factory taking a temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from flue_py.sessions import open_store
from flue_py.sessions.base import SessionStore
from tests.sessions._redis import redis_store


def _redis(tmp: Path) -> SessionStore:
    url = os.environ.get("FLUE_TEST_REDIS_URL")
    if not url:
        pytest.skip("set FLUE_TEST_REDIS_URL to run the contract suite on Redis")
    return open_store(url)


BACKENDS: dict[str, Callable[[Path], SessionStore]] = {
    "memory": lambda tmp: open_store("memory://"),
    "sqlite": lambda tmp: open_store(f"sqlite:///{tmp}/store.db"),
    "redis": redis_store,
}


@pytest.fixture(params=sorted(BACKENDS))
async def session_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    store = BACKENDS[request.param](tmp_path)
    try:
        yield store
    finally:
        await store.close()
