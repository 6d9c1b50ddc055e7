"""The Flue chunk projection on its own: positions, one assistant message per run attempt, settlements."""

from __future__ import annotations

from typing import Any

from flue_py.events import (
    MessageCompleted,
    RunSettled,
    RunStarted,
    SteerMessage,
    TextDelta,
    ToolCallRecord,
    ToolResult,
    TurnStarted,
    UserMessage,
)
from flue_py.server._chunks import Projector, Snapshot


def _log() -> list[Any]:
    events: list[Any] = [
        UserMessage(text="hi", submission="s1"),
        RunStarted(run="r", agent="a", submission="s1"),
        TurnStarted(run="r", agent="a", turn=1, inputs=[1]),
        TextDelta(run="r", agent="a", text="Look"),
        TextDelta(run="r", agent="a", text="ing."),
        MessageCompleted(
            run="r", agent="a", text="Looking.", tool_calls=[ToolCallRecord(id="c", name="t", arguments="{bad")]
        ),
        SteerMessage(text="faster", submission="s2", agent="a"),
        RunStarted(run="r", agent="a", submission="s1", attempt=2),  # a recovered attempt
        ToolResult(
            run="r", agent="a", call_id="c", name="t", output="Interrupted", is_error=True, error_type="interrupted"
        ),
        TurnStarted(run="r", agent="a", turn=2, inputs=[7]),
        TextDelta(run="r", agent="a", text="Done."),
        RunSettled(run="r", agent="a", submission="s1", outcome="completed", reply="Done."),
    ]
    for seq, event in enumerate(events, 1):
        event.seq = seq
    return events


def test_projection_and_snapshot() -> None:
    projector = Projector("a/x")
    chunks = [c for e in _log() for c in projector.chunks(e)]
    positions = [(c["position"]["batch"], c["position"]["index"]) for c in chunks]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    tool_input = next(c for c in chunks if c["type"] == "tool-input")
    assert tool_input["input"] == "{bad"  # broken JSON from the model is shown as sent
    settled = [c for c in chunks if c["type"] == "submission-settled"]
    assert [(c["submissionId"], c.get("answeredBySubmissionId")) for c in settled] == [("s1", None), ("s2", "s1")]
    snapshot = Snapshot("a/x")
    for chunk in chunks:
        snapshot.apply(chunk)
    body = snapshot.to_json("off", "inc")
    roles = [(m["role"], m["id"]) for m in body["messages"]]
    assert roles == [("user", "msg_1"), ("assistant", "msg_r"), ("user", "msg_7"), ("assistant", "msg_r_a2")]
    first, second = body["messages"][1], body["messages"][3]
    assert first["parts"][0] == {"type": "text", "text": "Looking.", "state": "done"}
    assert first["parts"][1]["state"] == "output-error" and first["parts"][1]["errorText"] == "Interrupted"
    assert second["parts"] == [{"type": "text", "text": "Done.", "state": "done"}]
    assert [s["outcome"] for s in body["settlements"]] == ["completed", "completed"]
