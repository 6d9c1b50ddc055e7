"""GET on `/v1/stream/{path}`: catch-up reads and long-poll (SSE lives in `_streams_sse.py`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from flue_py.server import _streams_protocol as proto
from flue_py.server._streams_context import StreamsContext
from flue_py.server._streams_sse import sse
from flue_py.sessions.base import ReadResult


def read_params(request: Request) -> tuple[str | None, str | None, str | None]:
    """(offset, live, cursor) from the query, validated: one offset at most, never empty."""
    offsets = request.query_params.getlist("offset")
    if len(offsets) > 1:
        raise proto.ProtocolError("send at most one offset parameter")
    offset = proto.check_offset(offsets[0]) if offsets else None
    live = request.query_params.get("live")
    if live in ("", "false"):
        live = None
    if live not in (None, "long-poll", "sse"):
        raise proto.ProtocolError(f"live must be long-poll or sse, got {live!r}")
    if live is not None and offset is None:
        raise proto.ProtocolError(f"live={live} needs an offset (use -1 for the beginning, now for the tail)")
    return offset, live, request.query_params.get("cursor")


def _data_response(
    result: ReadResult, *, start: str, cache_control: str, cursor: str | None, request: Request
) -> Response:
    info = result.info
    assert info is not None
    headers = {
        **proto.SECURITY_HEADERS,
        "Content-Type": info.content_type,
        proto.NEXT_OFFSET: result.next_offset,
        "Cache-Control": cache_control,
        "ETag": proto.etag(info.path, info.created_at, start, result.next_offset, result.closed),
    }
    if result.up_to_date:
        headers[proto.UP_TO_DATE] = "true"
    if result.closed:
        headers[proto.CLOSED] = "true"
    if cursor is not None:
        headers[proto.CURSOR] = cursor
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    body = proto.render(info.content_type, [m.data for m in result.messages])
    return Response(body, status_code=200, headers=headers)


def _timeout_response(result: ReadResult, cursor: str | None) -> Response:
    headers = {
        **proto.SECURITY_HEADERS,
        proto.NEXT_OFFSET: result.next_offset,
        proto.UP_TO_DATE: "true",
        "Cache-Control": proto.NO_STORE,  # a cached 204 would stall every later poller behind a CDN
    }
    if result.closed:
        headers[proto.CLOSED] = "true"
    elif cursor is not None:
        headers[proto.CURSOR] = cursor
    return Response(status_code=204, headers=headers)


async def get(ctx: StreamsContext, request: Request, path: str) -> Response:
    offset, live, client_cursor = read_params(request)
    if live == "sse":
        return await sse(ctx, request, path, offset or "-1", client_cursor)
    result = await ctx.store.read(path, offset, limit=ctx.read_limit)
    start = offset or "-1"
    if live is None:
        cache = proto.NO_STORE if offset == "now" else proto.CACHEABLE
        return _data_response(result, start=start, cache_control=cache, cursor=None, request=request)
    cursor = proto.cursor_for(client_cursor)
    if result.messages:
        return _data_response(result, start=start, cache_control=proto.NO_STORE, cursor=cursor, request=request)
    if result.closed:
        return _timeout_response(result, cursor)
    if await ctx.store.wait(path, result.next_offset, ctx.long_poll_timeout):
        after = result.next_offset
        fresh = await ctx.live_read(path, after)
        if fresh.messages:
            return _data_response(fresh, start=after, cache_control=proto.NO_STORE, cursor=cursor, request=request)
        return _timeout_response(fresh, cursor)
    return _timeout_response(result, cursor)
