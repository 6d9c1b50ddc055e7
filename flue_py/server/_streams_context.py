"""What every streams handler needs: the store, timeouts, limits, and the append listeners."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from flue_py.exceptions import ConfigError
from flue_py.sessions.base import ReadResult, SessionStore

DEFAULT_LONG_POLL_TIMEOUT = 30.0
LONG_POLL_ENV = "FLUE_LONG_POLL_TIMEOUT"


def long_poll_timeout_from_env(default: float = DEFAULT_LONG_POLL_TIMEOUT) -> float:
    raw = os.environ.get(LONG_POLL_ENV)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{LONG_POLL_ENV} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{LONG_POLL_ENV} must be positive, got {raw!r}")
    return value


@dataclass
class StreamsContext:
    store: SessionStore
    long_poll_timeout: float = DEFAULT_LONG_POLL_TIMEOUT
    prefix: str = "/v1/stream"
    """Where the routes are mounted; `Stream-Forked-From` paths are relative to it."""
    max_body: int = 64 * 1024 * 1024
    sse_max_seconds: float = 60.0
    """SSE responses end after this long so CDNs can collapse them; clients reconnect from the last offset."""
    sse_keepalive_seconds: float = 15.0
    read_limit: int = 1000
    """Messages per catch-up response (a client pages on with Stream-Next-Offset)."""
    on_append: list[Callable[[str], None]] = field(default_factory=list)
    on_delete: list[Callable[[str], None]] = field(default_factory=list)
    _reads: dict[tuple[str, str, int], asyncio.Future[ReadResult]] = field(default_factory=dict)

    async def live_read(self, path: str, after: str) -> ReadResult:
        """`store.read` for live readers, shared by every reader asking for the same range at once.

        When an append wakes a hundred SSE subscribers sitting at the same offset, one read serves
        them all. A shared read may have started just before the append a reader was woken for; it
        then finds nothing new and simply waits again, so sharing never loses data.
        """
        key = (path, after, self.read_limit)
        flight = self._reads.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self.store.read(path, after, limit=self.read_limit))
            self._reads[key] = flight

            def landed(done: asyncio.Future[ReadResult], key: tuple[str, str, int] = key) -> None:
                if self._reads.get(key) is done:
                    del self._reads[key]
                if not done.cancelled():
                    done.exception()  # retrieved here, so an unawaited failure is not logged as lost

            flight.add_done_callback(landed)
        return await asyncio.shield(flight)

    def notify_append(self, path: str) -> None:
        for listener in self.on_append:
            listener(path)

    def notify_delete(self, path: str) -> None:
        for listener in self.on_delete:
            listener(path)
