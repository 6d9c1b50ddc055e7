"""fold(events) -> the conversation the model saw. The log is the only state; this is how it becomes messages.

Rules, mirrored by the turn loop so that replaying a log reproduces exactly what was sent:
- user and steer messages join the conversation at the `turn_started` whose `inputs` name them;
- an assistant message is `message_completed` (its deltas are for live viewers only);
- a tool call gets its `tool_result`; a call that never got one (the process died mid-tool) gets an
  "interrupted, outcome unknown" result, so the conversation stays valid and the model knows.
"""

from __future__ import annotations

from collections.abc import Iterable

from flue_py.events import Event, MessageCompleted, RunSettled, SteerMessage, ToolResult, TurnStarted, UserMessage
from flue_py.messages import ChatMessage, ToolCallMessage

__all__ = ["INTERRUPTED", "assistant_message", "fold", "pending_inputs"]

INTERRUPTED = "Interrupted: the process stopped while this tool was running; its outcome is unknown."


def assistant_message(event: MessageCompleted) -> ChatMessage:
    message: ChatMessage = {"role": "assistant", "content": event.text or None}
    if event.tool_calls:
        message["tool_calls"] = [
            ToolCallMessage(id=c.id, type="function", function={"name": c.name, "arguments": c.arguments})
            for c in event.tool_calls
        ]
    return message


def _tool(call_id: str, name: str, content: str) -> ChatMessage:
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def fold(events: Iterable[Event], *, agent: str | None = None) -> list[ChatMessage]:
    """The conversation (without the system prompt) that `events` describe, for one agent if given."""
    messages: list[ChatMessage] = []
    inputs: dict[int, str] = {}
    open_calls: dict[str, str] = {}  # call id -> tool name, for the last assistant message, in call order
    results: dict[str, str] = {}

    def close_open_calls() -> None:
        # Results go in call order (as the loop sends them), whatever order the tools finished in.
        for call_id, name in open_calls.items():
            messages.append(_tool(call_id, name, results.pop(call_id, INTERRUPTED)))
        open_calls.clear()

    for event in events:
        if agent is not None and event.agent not in (agent, None):
            continue
        if isinstance(event, UserMessage | SteerMessage):
            inputs[event.seq] = event.text
        elif isinstance(event, TurnStarted):
            close_open_calls()
            for seq in event.inputs:
                if seq in inputs:
                    messages.append({"role": "user", "content": inputs.pop(seq)})
        elif isinstance(event, MessageCompleted):
            close_open_calls()
            messages.append(assistant_message(event))
            open_calls = {c.id: c.name for c in event.tool_calls}
        elif isinstance(event, ToolResult) and event.call_id in open_calls:
            results[event.call_id] = event.output
    close_open_calls()
    return messages


def pending_inputs(events: Iterable[Event], *, agent: str | None = None) -> list[UserMessage | SteerMessage]:
    """User/steer messages that still need a run, oldest first.

    A message is done once a turn consumed it, or once the run that owned its submission settled
    (a run that failed before its first turn must not be retried forever).
    """
    waiting: dict[int, UserMessage | SteerMessage] = {}
    for event in events:
        if agent is not None and event.agent not in (agent, None):
            continue
        if isinstance(event, UserMessage | SteerMessage):
            waiting[event.seq] = event
        elif isinstance(event, TurnStarted):
            for seq in event.inputs:
                waiting.pop(seq, None)
        elif isinstance(event, RunSettled) and event.submission is not None:
            for seq in [s for s, m in waiting.items() if m.submission == event.submission]:
                del waiting[seq]
    return list(waiting.values())
