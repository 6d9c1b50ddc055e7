"""`GET ?live=sse`: catch-up then live tail as Server-Sent Events.

Framing: every `event: data` frame is followed by one `event: control` frame whose JSON carries
`streamNextOffset`, `streamCursor` and, only when true, `upToDate` / `streamClosed` (a client may stop
reading at the first control that says either). Payload lines are split on every line terminator
(CR, LF, CRLF) and each becomes its own `data:` line, so a payload can never inject an event.
JSON streams send one JSON array per data frame; binary streams send base64 (announced by the
`Stream-SSE-Data-Encoding: base64` header).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from flue_py.exceptions import StoreError
from flue_py.server import _streams_protocol as proto
from flue_py.server._streams_context import StreamsContext
from flue_py.sessions.base import ReadResult, StreamInfo

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def data_frame(payload: str) -> bytes:
    lines = _LINE_BREAK.split(payload)
    return ("event: data\n" + "".join(f"data:{line}\n" for line in lines) + "\n").encode()


def control_frame(next_offset: str, cursor: str, *, up_to_date: bool, closed: bool) -> bytes:
    control: dict[str, object] = {"streamNextOffset": next_offset}
    if closed:
        control["streamClosed"] = True  # no cursor after the end: there is nothing left to poll
    else:
        control["streamCursor"] = cursor
    if up_to_date:
        control["upToDate"] = True
    return f"event: control\ndata:{json.dumps(control, separators=(',', ':'))}\n\n".encode()


def _payload(info: StreamInfo, result: ReadResult) -> str:
    messages = [m.data for m in result.messages]
    if proto.is_text(info.content_type):
        return proto.render(info.content_type, messages).decode("utf-8", errors="replace")
    return base64.b64encode(b"".join(messages)).decode("ascii")


async def _events(ctx: StreamsContext, path: str, first: ReadResult, cursor: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.sse_max_seconds
    result = first
    info = first.info
    assert info is not None
    while True:
        if result.messages or result is first:
            control = control_frame(result.next_offset, cursor, up_to_date=result.up_to_date, closed=result.closed)
            # One write for the pair: a reader that stops at the first blank line after a payload that
            # merely *looks* like a control event still gets the real control event in the same chunk.
            yield (data_frame(_payload(info, result)) if result.messages else b"") + control
        if result.closed:
            return  # the stream ended: close the connection after the final control event
        after = result.next_offset
        if result.up_to_date:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                woke = await ctx.store.wait(path, after, min(remaining, ctx.sse_keepalive_seconds))
            except StoreError:
                return  # deleted or expired while we watched
            if not woke:
                yield b": keep-alive\n\n"
                result = ReadResult(messages=[], next_offset=after, up_to_date=True, closed=False, info=info)
                continue
        try:
            result = await ctx.live_read(path, after)
        except StoreError:
            return


async def sse(ctx: StreamsContext, request: Request, path: str, offset: str, client_cursor: str | None) -> Response:
    first = await ctx.store.read(path, offset, limit=ctx.read_limit)  # raises before any byte is sent
    info = first.info
    assert info is not None
    headers = {
        **proto.SECURITY_HEADERS,
        "Content-Type": "text/event-stream",  # exactly: no charset parameter
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",  # tell reverse proxies not to buffer the stream
    }
    if not proto.is_text(info.content_type):
        headers[proto.SSE_ENCODING] = "base64"
    cursor = proto.cursor_for(client_cursor)
    return StreamingResponse(_events(ctx, path, first, cursor), headers=headers)
