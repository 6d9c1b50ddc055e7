"""Small HTTP helpers for server tests: send a message, follow the updates view, read the raw log."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx


def send(client: httpx.Client, base: str, session: str, text: str, **extra: Any) -> dict[str, Any]:
    r = client.post(f"{base}/agents/{session}", json={"kind": "user", "body": text, **extra})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def follow(
    client: httpx.Client, base: str, session: str, offset: str, until: Any, timeout: float = 20.0
) -> tuple[list[dict[str, Any]], str]:
    """Long-poll the updates view from `offset` until a page has a chunk for which `until` is true.

    Returns (every chunk read, the offset after the last page).
    """
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    live = False
    while time.monotonic() < deadline:
        params = {"view": "updates", "offset": offset, **({"live": "long-poll"} if live else {})}
        r = client.get(f"{base}/agents/{session}", params=params, timeout=30)
        assert r.status_code in (200, 204), r.text
        offset = r.headers["stream-next-offset"]
        live = "stream-up-to-date" in r.headers
        if r.status_code == 200:
            # Keep the whole page: `offset` is past all of it, so a caller resuming there must have it all.
            page = [c for c in r.json() if c["type"] != "stream-checkpoint"]
            seen += page
            if any(until(c) for c in page):
                return seen, offset
    raise AssertionError(f"condition not met in {timeout}s; saw {[c['type'] for c in seen][-20:]}")


def settled(submission: str) -> Any:
    return lambda c: c["type"] == "submission-settled" and c["submissionId"] == submission


def outcome(chunks: list[dict[str, Any]], submission: str) -> str:
    """The outcome of `submission` among `chunks` (its `submission-settled` chunk)."""
    found = [c["outcome"] for c in chunks if settled(submission)(c)]
    assert len(found) == 1, f"expected one settlement of {submission}, got {found}"
    return str(found[0])


def raw_events(client: httpx.Client, base: str, session: str) -> list[dict[str, Any]]:
    """Every event of the session, from the Durable Streams log (`/v1/stream/sessions/<session>`)."""
    events: list[dict[str, Any]] = []
    offset = "-1"
    while True:
        r = client.get(f"{base}/v1/stream/sessions/{session}", params={"offset": offset})
        assert r.status_code == 200, r.text
        events += json.loads(r.content)
        offset = r.headers["stream-next-offset"]
        if "stream-up-to-date" in r.headers:
            return events
