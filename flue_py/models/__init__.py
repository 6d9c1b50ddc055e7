"""Models: the `Model` ABC, the litellm adapter (any provider) and the offline scripted model."""

from flue_py.models.base import (
    FinishPart,
    Model,
    ModelRequest,
    ReasoningPart,
    StreamPart,
    TextPart,
    ToolCallPart,
    UsagePart,
    resolve_model,
)

__all__ = [
    "FinishPart",
    "Model",
    "ModelRequest",
    "ReasoningPart",
    "StreamPart",
    "TextPart",
    "ToolCallPart",
    "UsagePart",
    "resolve_model",
]
