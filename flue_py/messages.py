"""The conversation as the model sees it: OpenAI-style chat messages, which litellm speaks for every provider.

These are plain dicts (typed here) rather than classes because they cross straight into litellm; the
typed record of what happened is the event log (`flue_py.events`), and `flue_py._history.fold` turns
that log into this list.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = ["ChatMessage", "ToolCallMessage", "ToolSpec"]


class _Function(TypedDict):
    name: str
    arguments: str


class ToolCallMessage(TypedDict):
    id: str
    type: Literal["function"]
    function: _Function


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None
    tool_calls: NotRequired[list[ToolCallMessage]]
    tool_call_id: NotRequired[str]
    name: NotRequired[str]


class ToolSpec(TypedDict):
    """A tool as offered to the model: `{"type": "function", "function": {name, description, parameters}}`."""

    type: Literal["function"]
    function: dict[str, Any]
