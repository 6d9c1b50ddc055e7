"""`GET /agents/{name}/{id}?view=updates`: Flue chunks after an offset — catch-up, long-poll or SSE.

Offsets are the session log's own offsets, so a client resumes exactly where it stopped (no gap, no
duplicate), and the Durable Streams framing is the one `@durable-streams/client` (inside `@flue/sdk`)
speaks: JSON arrays with `Stream-Next-Offset` / `Stream-Up-To-Date` headers, `204` when a long-poll
times out, and for SSE `event: data` frames each followed by an `event: control` frame.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from flue_py.exceptions import StoreError
from flue_py.server._errors import ApiError
from flue_py.server._state import ServerState
from flue_py.sessions.base import ZERO_OFFSET, StreamInfo, format_offset, parse_offset, session_path

__all__ = ["updates"]

PAGE_EVENTS = 500
EXPOSE = {
    "Access-Control-Expose-Headers": "Stream-Next-Offset, Stream-Up-To-Date, Stream-Cursor, Location",
    "Cache-Control": "no-store",
}


def parse_after(value: str | None) -> int | None:
    """The seq to read after (None = from the start); raises a 400 for anything we did not mint."""
    if value is None:
        raise ApiError(400, "invalid_request", "view=updates needs an offset (use -1 for the beginning)")
    if value == "-1":
        return None
    try:
        return parse_offset(value)
    except ValueError:
        raise ApiError(400, "invalid_offset", f"invalid offset {value!r}", details={"offset": value}) from None


async def _page(state: ServerState, session: str, info: StreamInfo, after: int | None) -> tuple[list[Any], str, bool]:
    """(chunks, next offset, up to date) for the events after seq `after`."""
    cached = await state.projection(session, info)
    start = 0 if after is None else after  # seq n sits at list index n-1
    if after is not None and after > len(cached.chunks):
        raise ApiError(400, "invalid_offset", "offset is beyond the end of this conversation", details={"seq": after})
    page = cached.chunks[start : start + PAGE_EVENTS]
    chunks = [c for _, _, event_chunks in page for c in event_chunks]
    if page:
        next_offset = page[-1][1]
    else:
        next_offset = cached.chunks[start - 1][1] if start > 0 else ZERO_OFFSET
    return chunks, next_offset, start + len(page) >= len(cached.chunks)


def _checkpoint(state: ServerState, session: str, info: StreamInfo) -> dict[str, Any]:
    return {"type": "stream-checkpoint", "incarnation": state.uid(session, info)}


async def updates(state: ServerState, request: Request, session: str, info: StreamInfo) -> Response:
    after = parse_after(request.query_params.get("offset"))
    live = request.query_params.get("live") or None
    if live not in (None, "long-poll", "sse", "true"):
        raise ApiError(400, "invalid_request", f"live must be long-poll or sse, got {live!r}")
    if live == "sse":
        stream = _sse(state, request, session, info, after)
        headers = {**EXPOSE, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
    chunks, next_offset, up_to_date = await _page(state, session, info, after)
    if live is not None and next_offset == _offset_of(after or 0):  # nothing new yet: hold the request
        path = session_path(session)
        if not await _wait(state, request, path, next_offset, state.long_poll_timeout):
            return Response(
                status_code=204, headers={**EXPOSE, "Stream-Next-Offset": next_offset, "Stream-Up-To-Date": "true"}
            )
        chunks, next_offset, up_to_date = await _page(state, session, info, after)
    headers = {**EXPOSE, "Stream-Next-Offset": next_offset}
    if up_to_date:
        headers["Stream-Up-To-Date"] = "true"
    body = json.dumps([_checkpoint(state, session, info), *chunks], separators=(",", ":"))
    return Response(body, media_type="application/json", headers=headers)


async def _wait(state: ServerState, request: Request, path: str, after: str, timeout: float) -> bool:
    """Wait for an append, in short slices: a client that went away must not hold the handler (or a shutdown)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (remaining := deadline - loop.time()) > 0:
        if await state.store.wait(path, after, min(remaining, 1.0)):
            return True
        if await request.is_disconnected():
            return False
    return False


def _offset_of(seq: int) -> str:
    return format_offset(seq)


def _control(next_offset: str, up_to_date: bool) -> bytes:
    control: dict[str, Any] = {"streamNextOffset": next_offset}
    if up_to_date:
        control["upToDate"] = True
    return f"event: control\ndata:{json.dumps(control, separators=(',', ':'))}\n\n".encode()


def _data(chunks: list[Any]) -> bytes:
    # json.dumps never emits a raw newline, so one data: line carries the whole array.
    return f"event: data\ndata:{json.dumps(chunks, separators=(',', ':'))}\n\n".encode()


async def _sse(
    state: ServerState, request: Request, session: str, info: StreamInfo, after: int | None
) -> AsyncIterator[bytes]:
    try:
        async for frame in _frames(state, request, session, info, after):
            yield frame
    except StoreError:
        return  # the session was deleted while we watched: end the stream (a reconnect gets the 404)


async def _frames(
    state: ServerState, request: Request, session: str, info: StreamInfo, after: int | None
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.sse_max_seconds
    path = session_path(session)
    first = True
    while True:
        chunks, next_offset, up_to_date = await _page(state, session, info, after)
        if first:
            chunks = [_checkpoint(state, session, info), *chunks]  # once per connection, as Flue does
        if chunks:
            yield _data(chunks)
        if chunks or first:
            yield _control(next_offset, up_to_date)
        first = False
        after = parse_offset(next_offset) if next_offset != ZERO_OFFSET else None
        if not up_to_date:
            continue
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 or await request.is_disconnected():
                return
            if await _wait(state, request, path, next_offset, min(remaining, state.sse_heartbeat)):
                break
            # An idle control frame is the heartbeat: the SDK counts it as activity (a comment is not).
            yield _control(next_offset, True)
