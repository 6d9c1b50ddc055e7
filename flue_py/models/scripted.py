"""Offline models: `ScriptedModel` plays a script; `SchemaDrivenModel` (the model name `"test"`) exercises tools.

Both stream the way real providers do (text in several deltas, tool-call arguments in fragments with
the id and name only on the first), so the turn loop's assembly code runs exactly as in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from flue_py.events import Usage
from flue_py.exceptions import UserError
from flue_py.models.base import (
    FinishPart,
    Model,
    ModelRequest,
    StreamPart,
    TextPart,
    ToolCallPart,
    UsagePart,
)

__all__ = ["SchemaDrivenModel", "ScriptedModel", "ToolCall"]

# Built-in tools the "test" model leaves alone: it exercises the agent's own tools.
_BUILTIN_TOOLS = frozenset({"bash", "read", "write", "edit", "grep", "glob", "activate_skill", "read_skill_resource"})


@dataclass(frozen=True)
class ToolCall:
    """A scripted tool call. `args` may be a dict, or a raw string to script malformed JSON."""

    name: str
    args: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


ScriptTurn = str | ToolCall | Sequence[ToolCall] | BaseException


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _estimate_tokens(request: ModelRequest) -> int:
    return sum(len(str(m.get("content") or "")) for m in request.messages) // 4 + 1


class _StreamingModel(Model):
    """Shared streaming of one scripted answer: text or tool calls, with pauses of `delay` seconds."""

    delay: float = 0.0
    calls: int = 0

    async def _pause(self) -> None:
        # sleep(0) still yields, so a zero-delay stream lets other tasks (abort watchers) run.
        await asyncio.sleep(self.delay)

    async def _stream_text(self, text: str) -> AsyncIterator[StreamPart]:
        for piece in _chunks(text, 4):
            await self._pause()
            yield TextPart(piece)

    async def _stream_calls(self, calls: Sequence[ToolCall]) -> AsyncIterator[StreamPart]:
        for index, call in enumerate(calls):
            raw = call.args if isinstance(call.args, str) else json.dumps(call.args)
            call_id = call.id or f"call_{self.calls}_{index}"
            await self._pause()
            yield ToolCallPart(index=index, id=call_id, name=call.name, arguments="")
            for fragment in _chunks(raw, 7):
                await self._pause()
                yield ToolCallPart(index=index, arguments=fragment)

    async def _finish(self, request: ModelRequest, output: str, reason: str) -> AsyncIterator[StreamPart]:
        yield UsagePart(Usage(input_tokens=_estimate_tokens(request), output_tokens=len(output) // 4 + 1))
        yield FinishPart(reason)


class ScriptedModel(_StreamingModel):
    """Answers each request with the next turn of a script.

    A turn is assistant text (`str`), one `ToolCall`, a list of `ToolCall`s (parallel calls), or an
    exception instance to raise (an injected provider error). `requests` records what was sent.
    """

    def __init__(self, turns: Sequence[ScriptTurn], *, delay: float = 0.0, name: str = "scripted") -> None:
        self.turns = list(turns)
        self.delay = delay
        self.name = name
        self.requests: list[ModelRequest] = []
        self.calls = 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        self.requests.append(request)
        if self.calls >= len(self.turns):
            raise UserError(f"ScriptedModel ran out of turns after {len(self.turns)} (request {self.calls + 1})")
        turn = self.turns[self.calls]
        self.calls += 1
        if isinstance(turn, BaseException):
            raise turn
        if isinstance(turn, str):
            async for part in self._stream_text(turn):
                yield part
            async for part in self._finish(request, turn, "stop"):
                yield part
            return
        calls = [turn] if isinstance(turn, ToolCall) else list(turn)
        async for part in self._stream_calls(calls):
            yield part
        async for part in self._finish(request, json.dumps([c.name for c in calls]), "tool_calls"):
            yield part


class SchemaDrivenModel(_StreamingModel):
    """The model named `"test"`: calls each of the agent's own tools once, then answers with their results.

    Arguments are generated from each tool's JSON schema; with a structured result requested (a
    `final_result` tool), it then calls that too. Deterministic given the conversation.
    """

    name = "test"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        self.calls += 1
        since_user = _since_last_user(request)
        called = {c["function"]["name"] for m in since_user for c in m.get("tool_calls", [])}
        results = [m for m in since_user if m["role"] == "tool"]
        offered = {t["function"]["name"]: t["function"] for t in request.tools}
        own = [name for name in offered if name not in _BUILTIN_TOOLS and name != "final_result"]
        todo = [name for name in own if name not in called]
        if todo:
            calls = [ToolCall(name, generate_example(offered[name].get("parameters", {}))) for name in todo]
        elif "final_result" in offered and "final_result" not in called:
            calls = [ToolCall("final_result", generate_example(offered["final_result"].get("parameters", {})))]
        else:
            calls = []
        if calls:
            async for part in self._stream_calls(calls):
                yield part
            async for part in self._finish(request, "", "tool_calls"):
                yield part
            return
        text = _summary(request, results)
        async for part in self._stream_text(text):
            yield part
        async for part in self._finish(request, text, "stop"):
            yield part


def _since_last_user(request: ModelRequest) -> list[Any]:
    messages = list(request.messages)
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "user":
            return messages[i + 1 :]
    return messages


def _summary(request: ModelRequest, results: list[Any]) -> str:
    last_user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")
    lines = [f"(test model) You said: {last_user}"]
    for result in results:
        lines.append(f"- {result.get('name', 'tool')} returned: {result['content']}")
    return "\n".join(lines)


def generate_example(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A deterministic value that satisfies a (Pydantic-generated) JSON schema."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return generate_example(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "default" in schema:
        return schema["default"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return generate_example(options[0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: generate_example(sub, defs) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [generate_example(schema.get("items", {}), defs) for _ in range(count)]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return float(max(1, schema.get("minimum", 1)))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = "example"
    return text.ljust(schema.get("minLength", 0), "x")
