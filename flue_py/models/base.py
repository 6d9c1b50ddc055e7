"""The `Model` ABC: one streaming request per turn, answered as a stream of small typed parts.

A model adapter turns its provider's stream into `StreamPart`s; the turn loop assembles text and tool
calls from them (tool-call arguments arrive in fragments, keyed by `index`) and validates the
arguments itself, so no adapter has to be trusted to merge fragments correctly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from flue_py.events import Usage
from flue_py.exceptions import ModelRequestsBlocked
from flue_py.messages import ChatMessage, ToolSpec

__all__ = [
    "ALLOW_MODEL_REQUESTS",
    "FinishPart",
    "Model",
    "ModelRequest",
    "ModelRequestsBlocked",
    "ReasoningPart",
    "StreamPart",
    "TextPart",
    "ToolCallPart",
    "UsagePart",
    "resolve_model",
]


ALLOW_MODEL_REQUESTS = True
"""Set to False (`flue_py.testing.block_model_requests()`) to make any request to a remote model fail loudly.

Requests to a model server on a loopback address stay allowed, so tests can run litellm's real code path
against a local fake provider.
"""


@dataclass(frozen=True, slots=True)
class ModelRequest:
    messages: list[ChatMessage]
    """System prompt first, then the conversation folded from the session log."""
    tools: list[ToolSpec] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    """Provider settings passed through (temperature, max_tokens, …)."""


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningPart:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """One fragment of a tool call. The first fragment of a call carries `id` and `name`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsagePart:
    usage: Usage


@dataclass(frozen=True, slots=True)
class FinishPart:
    reason: str | None


StreamPart = TextPart | ReasoningPart | ToolCallPart | UsagePart | FinishPart


class Model(ABC):
    """A chat model that streams."""

    name: str = "model"

    @abstractmethod
    def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        """Start the request and yield its parts. Cancelling the iteration cancels the request."""


def resolve_model(model: str | Model) -> Model:
    """A `Model` for a model string: `"test"` is the offline tool-exercising model, anything else litellm's."""
    if isinstance(model, Model):
        return model
    if model == "test":
        from flue_py.models.scripted import SchemaDrivenModel

        return SchemaDrivenModel()
    from flue_py.models.litellm import LiteLLMModel  # heavy: imported only when a real model is used

    return LiteLLMModel(model)
