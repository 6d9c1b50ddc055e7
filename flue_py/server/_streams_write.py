"""PUT (create / fork), POST (append / close), DELETE and HEAD on `/v1/stream/{path}`."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from flue_py.server import _streams_protocol as proto
from flue_py.server._streams_context import StreamsContext
from flue_py.server._streams_errors import error_response
from flue_py.sessions.base import ForkSpec, StreamInfo


async def read_body(request: Request, limit: int) -> bytes | Response:
    """The whole body, or a 413 response once it grows past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return error_response(413, "payload_too_large", f"body exceeds {limit} bytes", details={"limit": limit})
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return error_response(413, "payload_too_large", f"body exceeds {limit} bytes", details={"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def _info_headers(info: StreamInfo) -> dict[str, str]:
    headers = {**proto.SECURITY_HEADERS, "Content-Type": info.content_type, proto.NEXT_OFFSET: info.next_offset}
    if info.closed:
        headers[proto.CLOSED] = "true"
    return headers


def _source_path(ctx: StreamsContext, value: str) -> str:
    """`Stream-Forked-From` names the source by URL or path under the streams root; the store wants the rest."""
    path = urlsplit(value).path if "://" in value else value
    root = ctx.prefix.rstrip("/") + "/"
    path = path.removeprefix(root)
    return path.lstrip("/")


def _fork_spec(ctx: StreamsContext, request: Request) -> ForkSpec | None:
    source = request.headers.get(proto.FORKED_FROM)
    offset = request.headers.get(proto.FORK_OFFSET)
    sub = request.headers.get(proto.FORK_SUB_OFFSET)
    if source is None:
        if offset is not None or sub is not None:
            raise proto.ProtocolError(f"{proto.FORK_OFFSET} and {proto.FORK_SUB_OFFSET} need {proto.FORKED_FROM}")
        return None
    if not source.strip():
        raise proto.ProtocolError(f"{proto.FORKED_FROM} must name a stream")
    if offset is not None and offset in ("-1", "now"):
        raise proto.ProtocolError(f"{proto.FORK_OFFSET} must be an offset the server returned, not {offset!r}")
    if offset is not None:
        proto.check_offset(offset)
    sub_offset = proto.strict_uint(sub, proto.FORK_SUB_OFFSET) if sub is not None else 0
    if sub_offset and offset is None:
        raise proto.ProtocolError(f"{proto.FORK_SUB_OFFSET} needs {proto.FORK_OFFSET}")
    return ForkSpec(_source_path(ctx, source), offset, sub_offset)


async def put(ctx: StreamsContext, request: Request, path: str) -> Response:
    ttl_header = request.headers.get(proto.TTL)
    expires_header = request.headers.get(proto.EXPIRES_AT)
    if ttl_header is not None and expires_header is not None:
        raise proto.ProtocolError(f"send {proto.TTL} or {proto.EXPIRES_AT}, not both")
    ttl = proto.strict_uint(ttl_header, proto.TTL) if ttl_header is not None else None
    expires_at = proto.parse_expires_at(expires_header) if expires_header is not None else None
    fork = _fork_spec(ctx, request)
    content_type = request.headers.get("content-type") or None
    body = await read_body(request, ctx.max_body)
    if isinstance(body, Response):
        return body
    split_type = content_type
    if split_type is None and fork is not None:
        source = await ctx.store.head(fork.source)
        split_type = source.content_type if source else "application/octet-stream"
    initial = proto.split_body(split_type or "application/octet-stream", body, allow_empty_array=True)
    info, created = await ctx.store.create_stream(
        path,
        content_type=content_type,
        ttl_seconds=ttl,
        expires_at=expires_at,
        closed=proto.is_true(request.headers.get(proto.CLOSED)),
        fork=fork,
        initial=initial,
    )
    headers = _info_headers(info)
    if created:
        headers["Location"] = str(request.url.replace(query="", fragment=""))
        ctx.notify_append(path)
    return Response(status_code=201 if created else 200, headers=headers)


async def post(ctx: StreamsContext, request: Request, path: str) -> Response:
    close = proto.is_true(request.headers.get(proto.CLOSED))
    producer = proto.parse_producer(
        request.headers.get(proto.PRODUCER_ID),
        request.headers.get(proto.PRODUCER_EPOCH),
        request.headers.get(proto.PRODUCER_SEQ),
    )
    body = await read_body(request, ctx.max_body)
    if isinstance(body, Response):
        return body
    content_type = request.headers.get("content-type") or None
    if not body and not close:
        raise proto.ProtocolError("an append needs a body (or Stream-Closed: true to close the stream)")
    if body and content_type is None:
        raise proto.ProtocolError("an append with a body needs a Content-Type")
    messages = proto.split_body(content_type or "", body) if body else []
    result = await ctx.store.append(
        path,
        messages,
        content_type=content_type if messages else None,
        stream_seq=request.headers.get(proto.SEQ),
        producer=producer,
        close=close,
    )
    headers = {**proto.SECURITY_HEADERS, proto.NEXT_OFFSET: result.next_offset}
    if result.closed:
        headers[proto.CLOSED] = "true"
    if result.producer_epoch is not None:
        headers[proto.PRODUCER_EPOCH] = str(result.producer_epoch)
    if result.producer_seq is not None:
        headers[proto.PRODUCER_SEQ] = str(result.producer_seq)
    if result.offsets or (close and not result.duplicate):
        ctx.notify_append(path)
    # 200 tells an idempotent producer "written now"; 204 covers duplicates, close-only and plain appends.
    status = 200 if producer is not None and result.offsets and not result.duplicate else 204
    return Response(status_code=status, headers=headers)


async def delete(ctx: StreamsContext, request: Request, path: str) -> Response:
    if not await ctx.store.delete(path):
        return error_response(404, "stream_not_found", f"no stream at {path!r}", details={"path": path})
    ctx.notify_delete(path)
    return Response(status_code=204, headers=proto.SECURITY_HEADERS)


async def head(ctx: StreamsContext, request: Request, path: str) -> Response:
    info = await ctx.store.head(path)
    if info is None:
        return error_response(404, "stream_not_found", f"no stream at {path!r}", head=True)
    headers = {**_info_headers(info), "Cache-Control": proto.NO_STORE}
    if info.ttl_seconds is not None:
        headers[proto.TTL] = str(info.ttl_seconds)
    if info.expires_at is not None:
        headers[proto.EXPIRES_AT] = proto.format_expires_at(info.expires_at)
    return Response(status_code=200, headers=headers)
