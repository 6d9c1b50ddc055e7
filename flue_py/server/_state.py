"""What every route shares: the project, the harness over one store, and the server's settings."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from flue_py.cli._project import Project
from flue_py.harness import Harness
from flue_py.server._chunks import Projector, incarnation
from flue_py.server._errors import ApiError
from flue_py.sessions.base import SessionStore, StreamInfo, session_path

__all__ = ["MAX_BODY", "ServerState", "check_id", "state_of"]

MAX_BODY = 1024 * 1024
"""Largest request body accepted (bytes); bigger ones get 413."""
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~:@-]{0,127}$")


def check_id(value: str, what: str = "id") -> str:
    if not _ID.fullmatch(value):
        raise ApiError(
            400,
            "invalid_request",
            f"invalid {what} {value!r}: use 1-128 letters, digits and . _ ~ : @ - (starting with a letter or digit)",
            details={what: value},
        )
    return value


@dataclass
class _Cached:
    created_at: float
    projector: Projector
    chunks: list[tuple[int, str, list[dict[str, Any]]]] = field(default_factory=list)
    """(seq, offset, chunks) for every event projected so far, in log order."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class ServerState:
    project: Project
    store: SessionStore
    harness: Harness
    long_poll_timeout: float = 20.0
    sse_heartbeat: float = 15.0
    sse_max_seconds: float = 300.0
    _projections: dict[str, _Cached] = field(default_factory=dict)

    async def stream_info(self, session: str) -> StreamInfo | None:
        return await self.store.head(session_path(session))

    def uid(self, session: str, info: StreamInfo) -> str:
        return incarnation(session_path(session), info.created_at)

    async def projection(self, session: str, info: StreamInfo) -> _Cached:
        """The session's chunks so far. Events never change once logged, so projections are cached and extended."""
        cached = self._projections.get(session)
        if cached is None or cached.created_at != info.created_at:
            cached = _Cached(info.created_at, Projector(session))
            if len(self._projections) >= 256:
                self._projections.pop(next(iter(self._projections)))
            self._projections[session] = cached
        async with cached.lock:  # two readers must not project the same events twice
            after = cached.chunks[-1][1] if cached.chunks else None
            for event in await self.harness.log.read(session, after):
                cached.chunks.append((event.seq, event.offset, cached.projector.chunks(event)))
        return cached


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.flue
    return state
