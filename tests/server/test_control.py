"""Abort and steer travel through the session log, so they work whichever process receives them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server._client import follow, outcome, raw_events, send, settled
from tests.server._project import SHARED_ENV, ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_servers(project: Path, server: ServerProcess) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes over one SQLite file, as two workers behind a load balancer would be."""
    other = ServerProcess(project, env=SHARED_ENV).start()
    try:
        yield server, other
    finally:
        other.stop()


@pytest.mark.parametrize("text,started", [("long 5000", "message-delta"), ("tool now", "tool-input")])
def test_abort_settles_promptly_and_exactly_once(two_servers, text: str, started: str) -> None:  # type: ignore[no-untyped-def]
    a, b = two_servers
    session = f"chat/abort-{started}"
    with httpx.Client(timeout=30) as client:
        admission = send(client, a.url, session, text)
        _, offset = follow(client, a.url, session, admission["offset"], lambda c: c["type"] == started)
        t0 = time.monotonic()
        # Sent to the other process: it only appends abort_requested; the run's own watcher stops it.
        assert client.post(f"{b.url}/agents/{session}/abort").json() == {"aborted": True}
        chunks, _ = follow(client, a.url, session, offset, settled(admission["submissionId"]))
        assert time.monotonic() - t0 < 2.0
        assert outcome(chunks, admission["submissionId"]) == "aborted"
        events = raw_events(client, b.url, session)
    assert sum(e["kind"] == "run_settled" for e in events) == 1
    if started == "tool-input":
        results = [e for e in events if e["kind"] == "tool_result"]
        assert [r["error_type"] for r in results] == ["aborted"]  # the tool was cancelled, and the log says so
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_a_message_sent_to_another_process_steers_the_live_run(two_servers) -> None:  # type: ignore[no-untyped-def]
    a, b = two_servers
    session = "chat/steer"
    with httpx.Client(timeout=30) as client:
        first = send(client, a.url, session, "tool please")
        _, offset = follow(client, a.url, session, first["offset"], lambda c: c["type"] == "tool-input")
        second = send(client, b.url, session, "and then say hi")  # while A's run is inside the tool
        chunks, _ = follow(client, b.url, session, offset, settled(second["submissionId"]))
        events = raw_events(client, a.url, session)
        history = client.get(f"{a.url}/agents/{session}").json()
    settles = [e for e in events if e["kind"] == "run_settled"]
    assert len(settles) == 1  # one run answered both: the message joined it at the next turn boundary
    assert any(e["kind"] == "steer_message" and e["submission"] == second["submissionId"] for e in events)
    steer = [c for c in chunks if c["type"] == "submission-settled"][-1]
    assert steer["answeredBySubmissionId"] == first["submissionId"]
    assistant = [m for m in history["messages"] if m["role"] == "assistant"]
    assert len(assistant) == 1
    texts = [p["text"] for p in assistant[0]["parts"] if p["type"] == "text"]
    assert texts[-1] == "You said: and then say hi"
