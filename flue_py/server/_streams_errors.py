"""Store errors and protocol errors as HTTP answers: the right status, headers and a JSON body.

Body shape (everywhere the protocol does not dictate one): `{"error": {"type", "message", "details"}}`.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from flue_py.exceptions import (
    ContentTypeMismatch,
    InvalidOffset,
    ProducerFenced,
    ProducerSequenceGap,
    SequenceConflict,
    StoreError,
    StoreUnavailable,
    StreamClosed,
    StreamExists,
    StreamGone,
    StreamNotFound,
)
from flue_py.server import _streams_protocol as proto


def error_response(
    status: int,
    type_: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    head: bool = False,
    **extra: Any,
) -> Response:
    """A JSON error (an empty body for HEAD, which must not carry one)."""
    body = {"error": {"type": type_, "message": message, "details": details or {}, **extra}}
    all_headers = {**proto.SECURITY_HEADERS, "Cache-Control": proto.NO_STORE, **(headers or {})}
    if head:
        return Response(status_code=status, headers=all_headers)
    all_headers["Content-Type"] = "application/json"
    return Response(json.dumps(body).encode(), status_code=status, headers=all_headers)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if isinstance(v, (str, int, float, bool, type(None)))}


def store_error_response(exc: StoreError, *, method: str) -> Response:
    """Translate a store refusal. `method` matters: a soft-deleted path is 410, but 409 for PUT."""
    head = method == "HEAD"
    details = _jsonable(exc.details)
    message = str(exc)
    if isinstance(exc, StoreUnavailable):
        return error_response(503, "store_unavailable", message, details=details, head=head)
    if isinstance(exc, StreamNotFound):
        return error_response(404, "stream_not_found", message, details=details, head=head)
    if isinstance(exc, StreamGone):
        if method == "PUT":
            return error_response(409, "stream_gone", message, details=details)
        return error_response(410, "stream_gone", message, details=details, head=head)
    if isinstance(exc, StreamExists):
        return error_response(409, "stream_exists", message, details=details)
    if isinstance(exc, StreamClosed):
        headers = {proto.CLOSED: "true"}
        if isinstance(exc.details.get("next_offset"), str):
            headers[proto.NEXT_OFFSET] = exc.details["next_offset"]
        return error_response(409, "stream_closed", message, details=details, headers=headers)
    if isinstance(exc, ContentTypeMismatch):
        return error_response(409, "content_type_mismatch", message, details=details)
    if isinstance(exc, SequenceConflict):
        return error_response(409, "sequence_conflict", message, details=details)
    if isinstance(exc, ProducerFenced):
        headers = {proto.PRODUCER_EPOCH: str(exc.details.get("current_epoch", ""))}
        return error_response(403, "producer_fenced", message, details=details, headers=headers)
    if isinstance(exc, ProducerSequenceGap):
        if exc.details.get("new_epoch"):
            return error_response(400, "producer_epoch_start", message, details=details)
        headers = {
            proto.PRODUCER_EXPECTED_SEQ: str(exc.details.get("expected_seq", "")),
            proto.PRODUCER_RECEIVED_SEQ: str(exc.details.get("received_seq", "")),
        }
        return error_response(409, "producer_sequence_gap", message, details=details, headers=headers)
    if isinstance(exc, InvalidOffset):
        return error_response(400, "invalid_offset", message, details=details, head=head)
    return error_response(400, "store_error", message, details=details, head=head)


def protocol_error_response(exc: proto.ProtocolError, *, method: str) -> Response:
    return error_response(400, "bad_request", str(exc), details=_jsonable(exc.details), head=method == "HEAD")
