"""Flue's conversation view of a session log: events become Flue v2 chunks, chunks fold into a snapshot.

`@flue/sdk` reads a conversation as a stream of chunks (`message-started`, `message-delta`,
`tool-input`, `tool-output`, `submission-settled`, …) and materializes them into messages. We project
our events into exactly those shapes, so Flue's own client can talk to a flue-py agent.

Identity rules, chosen so a projection never needs anything but the log:
- each chunk's `position` is `{batch: <event seq>, index: <chunk number within that event>}`, so
  positions increase strictly along the log and a client dedupes replays by them;
- one assistant message per run attempt (`msg_<run>`; a recovered attempt gets `msg_<run>_a<n>`),
  holding every step of the run (text, tool calls, results, more text), as Flue does;
- user and steering messages are `msg_<seq>`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from flue_py.events import (
    Event,
    MessageCompleted,
    ReasoningDelta,
    RunSettled,
    RunStarted,
    SteerMessage,
    TextDelta,
    ToolResult,
    TurnStarted,
    UserMessage,
)

__all__ = ["Projector", "Snapshot", "incarnation"]

Chunk = dict[str, Any]


def incarnation(path: str, created_at: float) -> str:
    """Identifies one generation of a session stream (a deleted and recreated session gets another)."""
    return "inc_" + hashlib.sha256(f"{path}\0{created_at!r}".encode()).hexdigest()[:20]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return arguments  # the model sent broken JSON: show what it sent


class Projector:
    """Turns events, in log order, into chunks. Keeps the little state the chunk shapes need."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.message_of_run: dict[str, str] = {}
        self.owner_of_run: dict[str, str | None] = {}
        self.submission_of_seq: dict[int, str | None] = {}
        self.consumed_by_run: dict[str, list[int]] = {}

    def chunks(self, event: Event) -> list[Chunk]:
        out: list[Chunk] = []

        def add(chunk: Chunk) -> None:
            chunk["conversationId"] = self.conversation_id
            chunk["position"] = {"batch": event.seq, "index": len(out)}
            out.append(chunk)

        run = event.run or ""
        if isinstance(event, UserMessage | SteerMessage):
            self.submission_of_seq[event.seq] = event.submission
            if event.run is not None:
                return out  # a harness re-ask inside a run (structured output), not something a person said
            message: dict[str, Any] = {
                "id": f"msg_{event.seq}",
                "role": "user",
                "purpose": "user",
                "display": "visible",
                "parts": [{"type": "text", "text": event.text, "state": "done"}],
            }
            if event.submission:
                message["submissionId"] = event.submission
            add({"type": "message-appended", "message": message})
        elif isinstance(event, RunStarted) and event.agent is not None:
            previous = self.message_of_run.get(run)
            if previous is not None:
                # A recovered attempt: close the interrupted message, answer in a fresh one.
                add({"type": "message-completed", "messageId": previous, "timestamp": _iso(event.ts)})
            message_id = f"msg_{run}" if previous is None else f"msg_{run}_a{event.attempt}"
            self.message_of_run[run] = message_id
            self.owner_of_run[run] = event.submission
            started: Chunk = {"type": "message-started", "messageId": message_id, "timestamp": _iso(event.ts)}
            if event.submission:
                started["submissionId"] = event.submission
            add(started)
        elif isinstance(event, TurnStarted):
            self.consumed_by_run.setdefault(run, []).extend(event.inputs)
        elif isinstance(event, TextDelta | ReasoningDelta) and run in self.message_of_run:
            kind = "text" if isinstance(event, TextDelta) else "reasoning"
            add({"type": "message-delta", "messageId": self.message_of_run[run], "kind": kind, "delta": event.text})
        elif isinstance(event, MessageCompleted) and run in self.message_of_run:
            for call in event.tool_calls:
                add(
                    {
                        "type": "tool-input",
                        "messageId": self.message_of_run[run],
                        "toolCallId": call.id,
                        "toolName": call.name,
                        "input": _input(call.arguments),
                        "timestamp": _iso(event.ts),
                    }
                )
        elif isinstance(event, ToolResult) and run in self.message_of_run:
            base = {
                "toolCallId": event.call_id,
                "durationMs": round(event.duration * 1000),
                "timestamp": _iso(event.ts),
            }
            if event.is_error:
                add({"type": "tool-output-error", "errorText": event.output, **base})
            else:
                add({"type": "tool-output", "output": event.output, **base})
        elif isinstance(event, RunSettled):
            self._settled(event, run, add)
        return out

    def _settled(self, event: RunSettled, run: str, add: Any) -> None:
        message_id = self.message_of_run.get(run)
        if message_id is not None:
            add({"type": "message-completed", "messageId": message_id, "timestamp": _iso(event.ts)})
        owner = event.submission or self.owner_of_run.get(run)
        settled: list[str] = [owner] if owner else []
        for seq in self.consumed_by_run.get(run, []):
            submission = self.submission_of_seq.get(seq)
            if submission and submission not in settled:
                settled.append(submission)
        for submission in settled:
            chunk: Chunk = {
                "type": "submission-settled",
                "submissionId": submission,
                "outcome": event.outcome,
                "timestamp": _iso(event.ts),
            }
            if event.outcome != "completed":
                chunk["error"] = {"type": event.error_type or event.outcome, "message": event.error or event.outcome}
            if submission != owner and owner:
                chunk["answeredBySubmissionId"] = owner  # a steering message is answered by the run it joined
            add(chunk)


class Snapshot:
    """Folds chunks into Flue's `FlueConversationSnapshot` (the same reduction `@flue/sdk` applies)."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.messages: list[dict[str, Any]] = []
        self.settlements: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}

    def apply(self, chunk: Chunk) -> None:
        kind = chunk["type"]
        if kind == "message-appended":
            message = dict(chunk["message"])
            self._by_id[message["id"]] = message
            self.messages.append(message)
        elif kind == "message-started" and chunk["messageId"] not in self._by_id:
            message = {
                "id": chunk["messageId"],
                "role": "assistant",
                "purpose": "assistant",
                "display": "visible",
                "parts": [],
            }
            if "submissionId" in chunk:
                message["submissionId"] = chunk["submissionId"]
            self._by_id[message["id"]] = message
            self.messages.append(message)
        elif kind == "message-delta" and (streaming := self._by_id.get(chunk["messageId"])) is not None:
            parts = streaming["parts"]
            last = parts[-1] if parts else None
            if last is not None and last["type"] == chunk["kind"] and last["state"] == "streaming":
                last["text"] += chunk["delta"]
            else:
                self._close_streaming(parts)
                parts.append({"type": chunk["kind"], "text": chunk["delta"], "state": "streaming"})
        elif kind == "tool-input" and (caller := self._by_id.get(chunk["messageId"])) is not None:
            parts = caller["parts"]
            if not any(p.get("toolCallId") == chunk["toolCallId"] for p in parts):
                self._close_streaming(parts)
                parts.append(
                    {
                        "type": "dynamic-tool",
                        "toolName": chunk["toolName"],
                        "toolCallId": chunk["toolCallId"],
                        "state": "input-available",
                        "input": chunk["input"],
                    }
                )
        elif kind in ("tool-output", "tool-output-error"):
            self._tool_result(chunk)
        elif kind == "message-completed" and (completed := self._by_id.get(chunk["messageId"])) is not None:
            for part in completed["parts"]:
                if part["type"] in ("text", "reasoning"):
                    part["state"] = "done"
        elif kind == "submission-settled":
            settlement: dict[str, Any] = {
                k: chunk[k] for k in ("submissionId", "outcome", "error", "answeredBySubmissionId") if k in chunk
            }
            self.settlements = [s for s in self.settlements if s["submissionId"] != chunk["submissionId"]]
            self.settlements.append(settlement)

    @staticmethod
    def _close_streaming(parts: list[dict[str, Any]]) -> None:
        if parts and parts[-1]["type"] in ("text", "reasoning") and parts[-1]["state"] == "streaming":
            parts[-1]["state"] = "done"

    def _tool_result(self, chunk: Chunk) -> None:
        for message in reversed(self.messages):
            for part in message["parts"]:
                if part.get("type") == "dynamic-tool" and part["toolCallId"] == chunk["toolCallId"]:
                    part.pop("output", None)
                    part.pop("errorText", None)
                    if chunk["type"] == "tool-output":
                        part.update(state="output-available", output=chunk["output"])
                    else:
                        part.update(state="output-error", errorText=chunk["errorText"])
                    if "durationMs" in chunk:
                        part["durationMs"] = chunk["durationMs"]
                    return

    def to_json(self, offset: str, incarnation: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "v": 1,
            "conversationId": self.conversation_id,
            "offset": offset,
            "messages": self.messages,
            "settlements": self.settlements,
        }
        if incarnation is not None:
            body["incarnation"] = incarnation
        return body
