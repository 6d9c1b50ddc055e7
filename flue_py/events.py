"""The session event records: one Pydantic discriminated union on `kind`.

A session is an ordered log of these. Every record carries the envelope fields (`seq`, `offset`, `ts`,
`session`, `run`, `agent`, `kind`); `seq` and `offset` are assigned by the store when the event is
appended, so an event built in memory has `seq == 0` and `offset == ""` until it is read back.

The log is the source of truth: the conversation for the next turn is folded from it
(`flue_py._history.fold`), clients render it, and recovery resumes from it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "AbortRequested",
    "Event",
    "EVENT_ADAPTER",
    "MessageCompleted",
    "ReasoningDelta",
    "RunSettled",
    "RunStarted",
    "SandboxExec",
    "SkillActivated",
    "SteerMessage",
    "SubagentEnded",
    "SubagentStarted",
    "SubmissionAdmitted",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallRecord",
    "ToolCallStarted",
    "ToolCalled",
    "ToolResult",
    "TurnStarted",
    "Usage",
    "UsageReported",
    "UserMessage",
    "WorkflowInput",
    "dump_event",
    "load_event",
]

Outcome = Literal["completed", "failed", "aborted"]


class Usage(BaseModel):
    """Token and cost totals; add two with `+`."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    """US dollars, from litellm's price map; 0.0 when the model has no known price."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost=self.cost + other.cost,
        )


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    seq: int = 0
    """1, 2, 3… per session, strictly increasing; assigned by the store on append."""
    offset: str = ""
    """The stream offset of this event (opaque, sortable); assigned by the store."""
    ts: float = Field(default_factory=time.time)
    """Unix time the event was created, in seconds."""
    session: str = ""
    run: str | None = None
    agent: str | None = None


class SubmissionAdmitted(_Envelope):
    """An input was accepted; it will settle exactly once."""

    kind: Literal["submission_admitted"] = "submission_admitted"
    submission: str
    submission_kind: Literal["message", "workflow"] = "message"


class UserMessage(_Envelope):
    """A message from a person (or calling code) that starts or continues a conversation."""

    kind: Literal["user_message"] = "user_message"
    text: str
    submission: str | None = None


class WorkflowInput(_Envelope):
    """The validated input of a workflow run."""

    kind: Literal["workflow_input"] = "workflow_input"
    workflow: str
    input: dict[str, Any]
    submission: str | None = None


class RunStarted(_Envelope):
    kind: Literal["run_started"] = "run_started"
    submission: str | None = None
    model: str = ""
    attempt: int = 1


class TurnStarted(_Envelope):
    """A model call begins. `inputs` are the seqs of the user/steer messages it consumes, in order.

    Messages join the conversation here, not where they were appended: a steer message sent mid-stream
    is logged at once but reaches the model at the next turn boundary, and fold must agree with that.
    """

    kind: Literal["turn_started"] = "turn_started"
    turn: int
    inputs: list[int] = Field(default_factory=list)


class TextDelta(_Envelope):
    kind: Literal["text_delta"] = "text_delta"
    text: str


class ReasoningDelta(_Envelope):
    kind: Literal["reasoning_delta"] = "reasoning_delta"
    text: str


class ToolCallRecord(BaseModel):
    """A tool call as the model asked for it (arguments as the raw JSON text it sent)."""

    id: str
    name: str
    arguments: str


class MessageCompleted(_Envelope):
    """The assistant finished one message; this, not the deltas, is what the conversation folds from."""

    kind: Literal["message_completed"] = "message_completed"
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    finish_reason: str | None = None
    turn: int = 0


class ToolCallStarted(_Envelope):
    kind: Literal["tool_call_started"] = "tool_call_started"
    call_id: str
    name: str


class ToolCallDelta(_Envelope):
    kind: Literal["tool_call_delta"] = "tool_call_delta"
    call_id: str
    delta: str


class ToolCalled(_Envelope):
    """The arguments were validated and the tool is about to run."""

    kind: Literal["tool_called"] = "tool_called"
    call_id: str
    name: str
    args: dict[str, Any]


class ToolResult(_Envelope):
    """What the model will read back for a call: the output, or an error it can act on."""

    kind: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    output: str
    is_error: bool = False
    error_type: str | None = None
    """`validation`, `exception`, `unknown_tool`, `retry`, `retries_exhausted`, `interrupted`, `aborted`."""
    duration: float = 0.0


class SkillActivated(_Envelope):
    kind: Literal["skill_activated"] = "skill_activated"
    name: str


class SandboxExec(_Envelope):
    """A summary of one sandbox command (the output itself is in the tool result)."""

    kind: Literal["sandbox_exec"] = "sandbox_exec"
    command: str
    exit_code: int
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    truncated: bool = False
    limit_hit: str | None = None
    duration: float = 0.0


class UsageReported(_Envelope):
    kind: Literal["usage"] = "usage"
    model: str = ""
    usage: Usage


class AbortRequested(_Envelope):
    """A client asked to stop the live run; the harness watching the session acts on it."""

    kind: Literal["abort_requested"] = "abort_requested"
    reason: str | None = None


class SteerMessage(_Envelope):
    """A message sent while a run is live; it joins the run at the next turn boundary."""

    kind: Literal["steer_message"] = "steer_message"
    text: str
    submission: str | None = None


class SubagentStarted(_Envelope):
    kind: Literal["subagent_started"] = "subagent_started"
    subagent: str
    prompt: str


class SubagentEnded(_Envelope):
    kind: Literal["subagent_ended"] = "subagent_ended"
    subagent: str
    outcome: Outcome


class RunSettled(_Envelope):
    """Exactly one per run: how it ended, what it produced, what it cost."""

    kind: Literal["run_settled"] = "run_settled"
    outcome: Outcome
    submission: str | None = None
    reply: str | None = None
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    usage: Usage = Field(default_factory=Usage)


Event = Annotated[
    SubmissionAdmitted
    | UserMessage
    | WorkflowInput
    | RunStarted
    | TurnStarted
    | TextDelta
    | ReasoningDelta
    | MessageCompleted
    | ToolCallStarted
    | ToolCallDelta
    | ToolCalled
    | ToolResult
    | SkillActivated
    | SandboxExec
    | UsageReported
    | AbortRequested
    | SteerMessage
    | SubagentStarted
    | SubagentEnded
    | RunSettled,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

_NOT_STORED = {"seq", "offset"}


def dump_event(event: _Envelope) -> bytes:
    """Serialize an event for the log; `seq` is stamped in by the store, `offset` is positional."""
    return event.model_dump_json(exclude=_NOT_STORED).encode()


def load_event(data: bytes | str, offset: str = "") -> Event:
    """Parse one stored event and attach the offset it was read at."""
    event = EVENT_ADAPTER.validate_json(data)
    event.offset = offset
    return event
