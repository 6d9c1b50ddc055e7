"""Reading a JSON request body safely: content type, size limit, parse errors as typed 4xx answers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from flue_py.server._errors import ApiError
from flue_py.server._state import MAX_BODY

__all__ = ["read_json"]


async def read_json(request: Request, *, limit: int = MAX_BODY) -> Any:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", "send the body as application/json", details={"content_type": content_type}
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes", details={"limit": limit})
    # Count as we read: a chunked body carries no Content-Length to trust.
    data = bytearray()
    try:
        async for piece in request.stream():
            data += piece
            if len(data) > limit:
                raise ApiError(
                    413, "payload_too_large", f"the body is larger than {limit} bytes", details={"limit": limit}
                )
    except ClientDisconnect:
        raise ApiError(400, "invalid_request", "the client went away while sending the body") from None
    if not data:
        raise ApiError(400, "invalid_json", "the body is empty; send a JSON value")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
