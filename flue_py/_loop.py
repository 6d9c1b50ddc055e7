"""The turn machine: model call → assemble text and tool calls → validate → run tools → repeat.

Everything it does is an event first (through `EventWriter`), and the conversation it sends is the
fold of those events, so a log replayed through `_history.fold` reproduces each request exactly.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, create_model

from flue_py._history import assistant_message
from flue_py._schema import format_validation_error
from flue_py._session_log import EventWriter
from flue_py.agent import Limits
from flue_py.events import (
    MessageCompleted,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCalled,
    ToolCallRecord,
    ToolCallStarted,
    ToolResult,
    TurnStarted,
    Usage,
    UsageReported,
    UserMessage,
)
from flue_py.exceptions import LimitExceeded, ResultValidationError, RunAborted, RunError, ToolRetry
from flue_py.messages import ChatMessage, ToolSpec
from flue_py.models.base import (
    FinishPart,
    Model,
    ModelRequest,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    UsagePart,
)
from flue_py.tools import Tool, ToolContext, render_output

__all__ = ["Control", "LoopOutcome", "TurnLoop", "ResultSpec"]

T = TypeVar("T")
RESULT_TOOL = "final_result"


@dataclass
class Control:
    """Live control of a run, fed by the session watcher: abort and steering messages."""

    abort: asyncio.Event = field(default_factory=asyncio.Event)
    abort_reason: str | None = None
    steers: list[tuple[int, str]] = field(default_factory=list)
    submissions: dict[int, str | None] = field(default_factory=dict)
    """seq of a steering message -> the submission it belongs to (it settles with this run)."""

    def request_abort(self, reason: str | None) -> None:
        self.abort_reason = reason
        self.abort.set()

    def add_steer(self, seq: int, text: str, submission: str | None = None) -> None:
        if seq not in self.submissions:
            self.submissions[seq] = submission
            self.steers.append((seq, text))

    def take_steers(self) -> list[tuple[int, str]]:
        taken, self.steers = self.steers, []
        return taken


class ResultSpec:
    """A structured result the model must deliver by calling the `final_result` tool."""

    def __init__(self, result_type: type[Any]) -> None:
        self.result_type = result_type
        self.wrapped = not (isinstance(result_type, type) and issubclass(result_type, BaseModel))
        self.model: type[BaseModel] = (
            create_model("final_result", result=(result_type, ...)) if self.wrapped else result_type  # type: ignore[call-overload]
        )

    @functools.cached_property
    def _spec(self) -> ToolSpec:
        schema = self.model.model_json_schema()
        schema.pop("title", None)
        return {
            "type": "function",
            "function": {
                "name": RESULT_TOOL,
                "description": "Deliver the final answer. Call this exactly once, when you are done.",
                "parameters": schema,
            },
        }

    def spec(self) -> ToolSpec:
        return self._spec

    def validate(self, arguments: Any) -> Any:
        parsed = self.model.model_validate(arguments)
        return parsed.result if self.wrapped else parsed  # type: ignore[attr-defined]

    def from_text(self, text: str) -> Any:
        """Accept a JSON answer in plain text too (some models ignore tools); strips a code fence."""
        body = text.strip()
        if body.startswith("```"):
            body = body.split("\n", 1)[-1].rsplit("```", 1)[0]
        data = json.loads(body)
        return self.validate({"result": data} if self.wrapped else data)


@dataclass
class LoopOutcome:
    outcome: str
    reply: str = ""
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass
class _AssembledCall:
    id: str
    name: str
    arguments: str = ""


async def _race(work: Awaitable[T], abort: asyncio.Event) -> T:
    """Await `work` unless the run is aborted first, in which case cancel it and raise RunAborted."""
    task = asyncio.ensure_future(work)
    if abort.is_set():
        task.cancel()
    waiter = asyncio.ensure_future(abort.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        waiter.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise RunAborted("aborted")
    return task.result()


class TurnLoop:
    """One run of an agent over a conversation, until a final answer, a limit, a failure or an abort."""

    def __init__(
        self,
        *,
        model: Model,
        system_prompt: str,
        tools: list[Tool],
        limits: Limits,
        writer: EventWriter,
        control: Control,
        make_context: Callable[[str], ToolContext],
        parallel_tool_calls: bool = True,
        settings: dict[str, Any] | None = None,
        result: ResultSpec | None = None,
    ) -> None:
        self.model = model
        self.system_prompt = system_prompt
        self.tools = {t.name: t for t in tools}
        self.limits = limits
        self.writer = writer
        self.control = control
        self.make_context = make_context
        self.parallel = parallel_tool_calls
        self.settings = settings or {}
        self.result = result
        self.usage = Usage()
        self.consumed: list[int] = []
        """Seqs of the user and steering messages this loop fed to the model."""
        self.failures: dict[str, int] = {}
        self.result_failures = 0

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, conversation: list[ChatMessage], inputs: list[tuple[int, str]]) -> LoopOutcome:
        """Run turns; `inputs` are (seq, text) of logged user messages not yet seen by the model."""
        messages = list(conversation)
        turn = 0
        reply = ""
        try:
            while True:
                inputs = inputs + [s for s in self.control.take_steers() if s[0] not in self.consumed]
                turn += 1
                if turn > self.limits.max_turns:
                    raise LimitExceeded("max_turns", turn, self.limits.max_turns)
                await self.writer.emit(TurnStarted(turn=turn, inputs=[seq for seq, _ in inputs]))
                self.consumed += [seq for seq, _ in inputs]
                messages.extend({"role": "user", "content": text} for _, text in inputs)
                inputs = []
                completed = await _race(self._model_turn(messages, turn), self.control.abort)
                self._check_usage_limits()
                reply = completed.text or reply
                if completed.tool_calls:
                    final = await _race(self._run_tools(completed.tool_calls, messages), self.control.abort)
                    if final is not _NO_RESULT:
                        return LoopOutcome("completed", reply=reply, result=final, usage=self.usage)
                    continue
                if self.control.steers:
                    continue  # a steering message arrived during the answer: the run goes on
                if self.result is None:
                    return LoopOutcome("completed", reply=reply, usage=self.usage)
                parsed = await self._result_from_text(completed.text)
                if parsed is not _NO_RESULT:
                    return LoopOutcome("completed", reply=reply, result=parsed, usage=self.usage)
                reask = await self.writer.emit(
                    UserMessage(text=f"Respond by calling the `{RESULT_TOOL}` tool with the final answer.")
                )
                inputs = [(reask.seq, reask.text)]
        except RunAborted:
            return LoopOutcome("aborted", reply=reply, error=self.control.abort_reason or "aborted", usage=self.usage)
        except LimitExceeded as exc:
            return LoopOutcome("failed", reply=reply, error=str(exc), error_type=f"limit:{exc.limit}", usage=self.usage)
        except RunError as exc:
            return LoopOutcome("failed", reply=reply, error=str(exc), error_type=type(exc).__name__, usage=self.usage)

    def _check_usage_limits(self) -> None:
        limits = self.limits
        if limits.max_tokens is not None and self.usage.total_tokens > limits.max_tokens:
            raise LimitExceeded("max_tokens", self.usage.total_tokens, limits.max_tokens)
        if limits.max_cost is not None and self.usage.cost > limits.max_cost:
            raise LimitExceeded("max_cost", self.usage.cost, limits.max_cost)

    # -- one model call --------------------------------------------------------------------------

    def _tool_specs(self) -> list[ToolSpec]:
        specs = [t.spec() for t in self.tools.values()]
        if self.result is not None:
            specs.append(self.result.spec())
        return specs

    async def _model_turn(self, messages: list[ChatMessage], turn: int) -> MessageCompleted:
        system: list[ChatMessage] = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        request = ModelRequest(messages=system + messages, tools=self._tool_specs(), settings=self.settings)
        text: list[str] = []
        reasoning: list[str] = []
        calls: dict[int, _AssembledCall] = {}
        finish: str | None = None
        turn_usage = Usage()
        async for part in self.model.stream(request):
            if isinstance(part, TextPart):
                if part.text:
                    text.append(part.text)
                    await self.writer.emit(TextDelta(text=part.text))
            elif isinstance(part, ToolCallPart):
                call = calls.get(part.index)
                if call is None:
                    call = calls[part.index] = _AssembledCall(
                        id=part.id or f"call_{turn}_{part.index}", name=part.name or ""
                    )
                    await self.writer.emit(ToolCallStarted(call_id=call.id, name=call.name))
                elif part.name and not call.name:
                    call.name = part.name
                if part.arguments:
                    call.arguments += part.arguments
                    await self.writer.emit(ToolCallDelta(call_id=call.id, delta=part.arguments))
            elif isinstance(part, ReasoningPart):
                reasoning.append(part.text)
                await self.writer.emit(ReasoningDelta(text=part.text))
            elif isinstance(part, UsagePart):
                turn_usage = turn_usage + part.usage
            elif isinstance(part, FinishPart):
                finish = part.reason
        completed = MessageCompleted(
            text="".join(text),
            reasoning="".join(reasoning),
            tool_calls=[ToolCallRecord(id=c.id, name=c.name, arguments=c.arguments) for c in calls.values()],
            finish_reason=finish,
            turn=turn,
        )
        self.usage = self.usage + turn_usage
        await self.writer.emit_all(completed, UsageReported(model=self.model.name, usage=turn_usage))
        messages.append(assistant_message(completed))
        return completed

    # -- tools -----------------------------------------------------------------------------------

    async def _run_tools(self, calls: list[ToolCallRecord], messages: list[ChatMessage]) -> Any:
        """Run a turn's calls; returns the validated structured result if `final_result` succeeded."""
        results: dict[str, ToolResult] = {}
        final: Any = _NO_RESULT

        async def one(call: ToolCallRecord) -> None:
            nonlocal final
            outcome = await self._run_one(call)
            if isinstance(outcome, tuple):
                final, outcome = outcome
            results[call.id] = outcome

        concurrent = [c for c in calls if self.parallel and not self._sequential(c.name)]
        sequential = [c for c in calls if c not in concurrent]
        try:
            await asyncio.gather(*(one(c) for c in concurrent))
            for call in sequential:
                await one(call)
        except asyncio.CancelledError:
            # Aborted mid-tool: every call still gets exactly one result, so the log stays foldable.
            for call in calls:
                if call.id not in results:
                    await self.writer.emit(
                        ToolResult(call_id=call.id, name=call.name, output="Aborted.", is_error=True, error_type="aborted")
                    )
            raise
        for call in calls:
            result = results[call.id]
            messages.append({"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result.output})
        exhausted = [name for name, count in self.failures.items() if count > self._budget(name)]
        if exhausted:
            name = exhausted[0]
            raise RunError(f"tool {name!r} failed {self.failures[name]} times (retry budget {self._budget(name)})")
        return final

    def _sequential(self, name: str) -> bool:
        tool = self.tools.get(name)
        return tool is not None and tool.sequential

    def _budget(self, name: str) -> int:
        if name == RESULT_TOOL:
            return self.limits.result_retries
        tool = self.tools.get(name)
        return tool.retries if tool is not None else 2

    def _fail(self, call: ToolCallRecord, output: str, error_type: str, started: float) -> ToolResult:
        self.failures[call.name] = self.failures.get(call.name, 0) + 1
        return ToolResult(
            call_id=call.id,
            name=call.name,
            output=output,
            is_error=True,
            error_type=error_type,
            duration=time.monotonic() - started,
        )

    async def _run_one(self, call: ToolCallRecord) -> ToolResult | tuple[Any, ToolResult]:
        started = time.monotonic()
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError as exc:
            result = self._fail(
                call, f"Invalid arguments: not valid JSON ({exc.msg}).\nReceived: {call.arguments}", "validation", started
            )
            return await self.writer.emit(result)
        if call.name == RESULT_TOOL and self.result is not None:
            return await self._deliver_result(call, arguments, started)
        tool = self.tools.get(call.name)
        if tool is None:
            available = ", ".join(sorted(self.tools)) or "none"
            result = self._fail(
                call, f"Unknown tool {call.name!r}. Available tools: {available}.", "unknown_tool", started
            )
            return await self.writer.emit(result)
        if not isinstance(arguments, dict):
            result = self._fail(
                call, f"Invalid arguments: expected a JSON object.\nReceived: {call.arguments}", "validation", started
            )
            return await self.writer.emit(result)
        try:
            tool.schema.validate(arguments)
        except ValidationError as exc:
            return await self.writer.emit(
                self._fail(call, format_validation_error(exc, arguments), "validation", started)
            )
        await self.writer.emit(ToolCalled(call_id=call.id, name=call.name, args=arguments))
        try:
            value = await tool.call(arguments, self.make_context(call.id))
        except ToolRetry as exc:
            return await self.writer.emit(self._fail(call, exc.message, "retry", started))
        except Exception as exc:  # a tool's bug is the model's error result, never a crashed run
            message = f"Tool {call.name!r} raised {type(exc).__name__}: {exc}"
            return await self.writer.emit(self._fail(call, message, "exception", started))
        result = ToolResult(
            call_id=call.id, name=call.name, output=render_output(value), duration=time.monotonic() - started
        )
        return await self.writer.emit(result)

    async def _deliver_result(self, call: ToolCallRecord, arguments: Any, started: float) -> Any:
        assert self.result is not None
        try:
            value = self.result.validate(arguments)
        except ValidationError as exc:
            return await self.writer.emit(
                self._fail(call, format_validation_error(exc, arguments), "validation", started)
            )
        await self.writer.emit(ToolCalled(call_id=call.id, name=call.name, args=arguments))
        result = ToolResult(call_id=call.id, name=call.name, output="Result accepted.", duration=time.monotonic() - started)
        return value, await self.writer.emit(result)

    async def _result_from_text(self, text: str) -> Any:
        assert self.result is not None
        try:
            return self.result.from_text(text)
        except (ValueError, ValidationError):
            self.result_failures += 1
            if self.result_failures > self.limits.result_retries:
                raise ResultValidationError(
                    f"the model did not deliver a valid result after {self.result_failures} attempts"
                ) from None
            return _NO_RESULT


_NO_RESULT: Any = object()

