"""Typed JSON errors for the agent, workflow and viewer routes: `{"error": {"type", "message", "details"}}`.

Handlers raise `ApiError`; the app turns it (and anything unexpected) into JSON with the right status.
An unexpected exception becomes a 500 with a reference id and no stack trace; the trace goes to the log.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["ApiError", "error_response", "handle_api_error", "handle_store_error", "handle_unexpected"]

log = logging.getLogger("flue_py.server")


class ApiError(Exception):
    """A refusal the client can act on."""

    def __init__(
        self, status: int, type_: str, message: str, *, details: Any = None, meta: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.details = details if details is not None else {}
        self.meta = meta


def error_response(
    status: int, type_: str, message: str, *, details: Any = None, meta: dict[str, Any] | None = None, **extra: Any
) -> Response:
    error: dict[str, Any] = {"type": type_, "message": message, "details": details if details is not None else {}}
    if meta:
        error["meta"] = meta
    error.update(extra)
    headers = {"Cache-Control": "no-store"}
    if "ref" in extra:
        headers["flue-error-ref"] = extra["ref"]
    body = json.dumps({"error": error}, default=str).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.type, exc.message, details=exc.details, meta=exc.meta)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    ref = f"err_{uuid.uuid4().hex[:12]}"
    log.error("unhandled error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the server failed to handle this request", ref=ref)


async def handle_store_error(request: Request, exc: Exception) -> Response:
    """A store refusal that reached a route (a session deleted or closed under it): a 409, not a 500."""
    from flue_py.exceptions import StoreUnavailable, StreamGone, StreamNotFound

    if isinstance(exc, StoreUnavailable):
        return error_response(503, "store_unavailable", str(exc))
    if isinstance(exc, StreamNotFound | StreamGone):
        return error_response(404, "stream_not_found", str(exc))
    return error_response(409, "store_conflict", str(exc))
