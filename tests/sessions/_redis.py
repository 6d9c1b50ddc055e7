"""The one place Redis tests decide whether they can run.

No reachable Redis -> the test is skipped, with the reason; but with `FLUE_REQUIRE_REDIS=1` (CI sets it)
that skip becomes a failure, so a CI job whose Redis died cannot pass green. Every store made here gets
its own key prefix, and its keys are deleted when the store is closed.
"""

from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path

import pytest

from flue_py.sessions.base import SessionStore

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """`FLUE_TEST_REDIS_URL`, else the local default."""
    return os.environ.get("FLUE_TEST_REDIS_URL") or DEFAULT_URL


@functools.cache
def _unreachable_reason(url: str) -> str | None:
    """Why `url` can't be used (None when a PING answers). Cached: one probe per test session."""
    try:
        import redis
    except ImportError:
        return "the 'redis' package is not installed (pip install 'flue-py[redis]')"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"no Redis reachable at {url} ({exc})"
    return None


def require_redis() -> str:
    """The Redis URL to test against; skips the test (or fails it under FLUE_REQUIRE_REDIS=1) if unreachable."""
    url = redis_url()
    reason = _unreachable_reason(url)
    if reason is not None:
        if os.environ.get("FLUE_REQUIRE_REDIS") == "1":
            pytest.fail(f"FLUE_REQUIRE_REDIS=1 but {reason}", pytrace=False)
        pytest.skip(f"{reason}; start redis-server or set FLUE_TEST_REDIS_URL")
    return url


def unique_prefix() -> str:
    return f"flue-test:{uuid.uuid4().hex}:"


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under `prefix` (synchronously, so it also works from finalizers)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def redis_store(tmp: Path | None = None) -> SessionStore:
    """A RedisSessionStore under a fresh prefix whose keys vanish on close (the contract-suite backend)."""
    url = require_redis()
    from flue_py.sessions.redis import RedisSessionStore

    class _CleaningStore(RedisSessionStore):
        async def close(self) -> None:
            try:
                async for key in self._redis.scan_iter(match=self.prefix + "*", count=1000):
                    await self._redis.delete(key)
            finally:
                await super().close()

    return _CleaningStore(url, prefix=unique_prefix())
