"""Durable Streams wire details: header names, strict parsing of request headers, cursors, ETags, bodies.

Everything here is pure (no I/O) so the handlers stay short and the rules are testable one by one.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

from flue_py.sessions._rules import is_json, media_type
from flue_py.sessions.base import Producer, parse_offset

NEXT_OFFSET = "Stream-Next-Offset"
UP_TO_DATE = "Stream-Up-To-Date"
CURSOR = "Stream-Cursor"
CLOSED = "Stream-Closed"
SEQ = "Stream-Seq"
TTL = "Stream-TTL"
EXPIRES_AT = "Stream-Expires-At"
FORKED_FROM = "Stream-Forked-From"
FORK_OFFSET = "Stream-Fork-Offset"
FORK_SUB_OFFSET = "Stream-Fork-Sub-Offset"
SSE_ENCODING = "Stream-SSE-Data-Encoding"
PRODUCER_ID = "Producer-Id"
PRODUCER_EPOCH = "Producer-Epoch"
PRODUCER_SEQ = "Producer-Seq"
PRODUCER_EXPECTED_SEQ = "Producer-Expected-Seq"
PRODUCER_RECEIVED_SEQ = "Producer-Received-Seq"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": ", ".join(
        [
            NEXT_OFFSET,
            CURSOR,
            UP_TO_DATE,
            CLOSED,
            TTL,
            EXPIRES_AT,
            SSE_ENCODING,
            PRODUCER_EPOCH,
            PRODUCER_SEQ,
            PRODUCER_EXPECTED_SEQ,
            PRODUCER_RECEIVED_SEQ,
            "ETag",
            "Location",
            "Content-Type",
        ]
    ),
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": ", ".join(
        [
            "Content-Type",
            "Authorization",
            "If-None-Match",
            SEQ,
            TTL,
            EXPIRES_AT,
            CLOSED,
            PRODUCER_ID,
            PRODUCER_EPOCH,
            PRODUCER_SEQ,
            FORKED_FROM,
            FORK_OFFSET,
            FORK_SUB_OFFSET,
        ]
    ),
    "Access-Control-Max-Age": "86400",
}

CACHEABLE = "public, max-age=60, stale-while-revalidate=300"
NO_STORE = "no-store"

_STRICT_UINT = re.compile(r"0|[1-9][0-9]*")
_MAX_SAFE_INT = 2**53 - 1
# Cursor intervals count from this instant (the protocol's reference epoch), 20 s each.
_CURSOR_EPOCH = datetime.fromisoformat("2024-10-09T00:00:00+00:00").timestamp()
_CURSOR_INTERVAL = 20


class ProtocolError(Exception):
    """A malformed request: answered 400 with a JSON error body."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


def strict_uint(value: str, name: str) -> int:
    """Digits only, no sign, no leading zeros, no exponent (the protocol's integer syntax)."""
    if not _STRICT_UINT.fullmatch(value) or int(value) > _MAX_SAFE_INT:
        raise ProtocolError(f"{name} must be a non-negative integer without sign or leading zeros, got {value!r}")
    return int(value)


def is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def parse_expires_at(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ProtocolError(f"{EXPIRES_AT} must be an RFC 3339 timestamp, got {value!r}") from None
    if moment.tzinfo is None:
        raise ProtocolError(f"{EXPIRES_AT} needs a time zone (Z or +hh:mm), got {value!r}")
    return moment.timestamp()


def format_expires_at(value: float) -> str:
    return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_producer(id_: str | None, epoch: str | None, seq: str | None) -> Producer | None:
    given = [v is not None for v in (id_, epoch, seq)]
    if not any(given):
        return None
    if not all(given):
        raise ProtocolError(f"{PRODUCER_ID}, {PRODUCER_EPOCH} and {PRODUCER_SEQ} must be sent together")
    assert id_ is not None and epoch is not None and seq is not None
    if not id_.strip():
        raise ProtocolError(f"{PRODUCER_ID} must not be empty")
    return Producer(id_, strict_uint(epoch, PRODUCER_EPOCH), strict_uint(seq, PRODUCER_SEQ))


def check_offset(value: str) -> str:
    """Validate a client-supplied offset: a sentinel or something this server minted."""
    if value in ("-1", "now"):
        return value
    try:
        parse_offset(value)
    except ValueError:
        raise ProtocolError(f"invalid offset {value!r}", offset=value) from None
    return value


def cursor_for(client_cursor: str | None, now: float | None = None) -> str:
    """The current cursor interval; strictly above the client's when it already has this one (or later).

    A repeated cursor would let a CDN answer a long-poll from its cache forever, hence the jump.
    """
    current = int(((time.time() if now is None else now) - _CURSOR_EPOCH) // _CURSOR_INTERVAL)
    if client_cursor is not None and client_cursor.isdigit():
        seen = int(client_cursor)
        if seen >= current:
            return str(seen + random.randint(1, 3600 // _CURSOR_INTERVAL))
    return str(current)


def etag(path: str, created_at: float, start: str, end: str, closed: bool) -> str:
    """Identifies one response body: stream incarnation, range, and whether the range ends the stream."""
    incarnation = hashlib.sha1(f"{path}\0{created_at!r}".encode()).hexdigest()[:16]
    return f'"{incarnation}:{start}:{end}{":c" if closed else ""}"'


_DECODER = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in _JSON_SPACE:
        index += 1
    return index


def json_messages(body: bytes, *, allow_empty_array: bool) -> list[bytes]:
    """Split a JSON-mode body into messages: an array is flattened exactly one level.

    Each message keeps the client's own text for its value (sliced out while the C decoder validates
    it), so a batch of token deltas is never re-serialized.
    """
    try:
        text = body.decode("utf-8")
        start = _skip_space(text, 0)
        if text.startswith("[", start):
            items: list[bytes] = []
            index = _skip_space(text, start + 1)
            if text.startswith("]", index):
                index += 1
            else:
                while True:
                    _, end = _DECODER.raw_decode(text, index)
                    items.append(text[index:end].encode())
                    index = _skip_space(text, end)
                    if text.startswith(",", index):
                        index = _skip_space(text, index + 1)
                        continue
                    if not text.startswith("]", index):
                        raise ValueError("expected , or ]")
                    index += 1
                    break
        else:
            _, index = _DECODER.raw_decode(text, start)
            items = [text[start:index].encode()]
        if _skip_space(text, index) != len(text):
            raise ValueError("extra data after the JSON value")
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise ProtocolError("body is not valid JSON") from None
    if not items and not allow_empty_array:
        raise ProtocolError("an empty JSON array appends nothing")
    return items


def split_body(content_type: str, body: bytes, *, allow_empty_array: bool = False) -> list[bytes]:
    """The messages a request body holds in a stream of `content_type`."""
    if not body:
        return []
    if is_json(content_type):
        return json_messages(body, allow_empty_array=allow_empty_array)
    return [body]


def render(content_type: str, messages: list[bytes]) -> bytes:
    """A read's body: JSON streams answer one array of the messages; others the bytes back to back."""
    if is_json(content_type):
        return b"[" + b",".join(messages) + b"]"
    return b"".join(messages)


def is_text(content_type: str) -> bool:
    """Whether SSE can carry the stream as text (else base64)."""
    kind = media_type(content_type)
    return kind.startswith("text/") or is_json(content_type)
