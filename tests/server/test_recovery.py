"""Crash recovery with a real server: SIGKILL mid-tool and mid-stream, restart on the same SQLite file.

After the restart every submission settles exactly once, `seq` stays 1, 2, 3…, nothing logged before
the crash is lost, and a client that reconnects with its last offset receives the rest.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.server._client import follow, outcome, raw_events, send, settled
from tests.server._project import ServerProcess, write_project

pytestmark = pytest.mark.slow


def _crash_and_resume(tmp_path: Path, text: str, started: str) -> tuple[list[dict], list[dict], list[dict], dict]:  # type: ignore[type-arg]
    root = write_project(tmp_path / "proj")
    server = ServerProcess(root, env={"E2E_TOOL_SECONDS": "5", "E2E_DELAY": "0.02"}).start()
    session = "chat/crash"
    with httpx.Client(timeout=30) as client:
        try:
            admission = send(client, server.url, session, text)
            before, offset = follow(client, server.url, session, admission["offset"], lambda c: c["type"] == started)
            if started == "message-delta":  # let a few more deltas land, so the crash cuts a stream in half
                more, offset = follow(client, server.url, session, offset, lambda c: c["type"] == "message-delta")
                before += more
            logged = raw_events(client, server.url, session)
            server.kill()  # SIGKILL: no cleanup, the run is left open in the log
            server.start()
            after, _ = follow(client, server.url, session, offset, settled(admission["submissionId"]), timeout=30)
            everything, _ = follow(client, server.url, session, "-1", settled(admission["submissionId"]))
            events = raw_events(client, server.url, session)
        finally:
            server.stop()
    assert events[: len(logged)] == logged  # nothing logged before the crash was lost or rewritten
    return before + after, everything, events, admission


def _check_log(events: list[dict]) -> None:  # type: ignore[type-arg]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    settles = [e for e in events if e["kind"] == "run_settled"]
    assert len(settles) == 1
    assert len({e["run"] for e in events if e["kind"] == "run_started"}) == 1  # the same run, resumed


def test_sigkill_during_a_tool_call(tmp_path: Path) -> None:
    seen, everything, events, admission = _crash_and_resume(tmp_path, "tool please", "tool-input")
    # The client that reconnected with its offset saw exactly what a fresh reader sees: no gap, no duplicate.
    assert [c["position"] for c in seen] == [c["position"] for c in everything]
    _check_log(events)
    results = [e for e in events if e["kind"] == "tool_result"]
    assert [r["error_type"] for r in results] == ["interrupted"]
    assert "outcome is unknown" in results[0]["output"]
    starts = [e for e in events if e["kind"] == "run_started"]
    assert [s["attempt"] for s in starts] == [1, 2]
    assert events[-1]["kind"] == "run_settled" and events[-1]["outcome"] == "completed"
    assert events[-1]["reply"].startswith("Done: Interrupted")
    assert outcome(everything, admission["submissionId"]) == "completed"


def test_sigkill_during_streaming(tmp_path: Path) -> None:
    seen, everything, events, _ = _crash_and_resume(tmp_path, "long 300", "message-delta")
    assert [c["position"] for c in seen] == [c["position"] for c in everything]
    _check_log(events)
    deltas_before_crash = [e for e in events if e["kind"] == "text_delta"]
    assert len(deltas_before_crash) > 1
    assert events[-1]["outcome"] == "completed"
    assert events[-1]["reply"] == " ".join(f"w{i}" for i in range(300))
    # The interrupted partial answer stays in the log; the recovered attempt answers in a new message.
    started = [c["messageId"] for c in everything if c["type"] == "message-started"]
    assert len(started) == 2 and started[1].endswith("_a2")


def test_a_graceful_restart_hands_live_runs_to_the_next_start(tmp_path: Path) -> None:
    """SIGTERM (a deploy, a `flue dev` reload): the run is left open with its lease released, and resumes."""
    root = write_project(tmp_path / "proj")
    server = ServerProcess(root, env={"E2E_DELAY": "0.02"}).start()
    session = "chat/restart"
    with httpx.Client(timeout=30) as client:
        try:
            admission = send(client, server.url, session, "long 200")
            _, offset = follow(client, server.url, session, admission["offset"], lambda c: c["type"] == "message-delta")
            server.stop()  # graceful
            server.start()
            after, _ = follow(client, server.url, session, offset, settled(admission["submissionId"]), timeout=30)
            events = raw_events(client, server.url, session)
        finally:
            server.stop()
    _check_log(events)
    assert outcome(after, admission["submissionId"]) == "completed"
    assert [e["attempt"] for e in events if e["kind"] == "run_started"] == [1, 2]
    assert events[-1]["reply"] == " ".join(f"w{i}" for i in range(200))
