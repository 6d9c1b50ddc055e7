"""Build a tool's JSON schema and argument validator from a Python function's signature and docstring."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from flue_py.exceptions import UserError

__all__ = ["FunctionSchema", "format_validation_error", "function_schema"]

_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_ARG_LINE = re.compile(r"^\s+(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SECTION = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (description, {param: description})."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    params: dict[str, str] = {}
    current: str | None = None
    in_args = False
    for line in lines:
        if _ARGS_HEADER.match(line):
            in_args, current = True, None
            continue
        if in_args:
            if _SECTION.match(line) and not line.startswith(" "):
                in_args, current = False, None
                continue
            match = _ARG_LINE.match(line)
            if match:
                current = match.group(1).lstrip("*")
                params[current] = match.group(3).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
            continue
        summary.append(line)
    return "\n".join(summary).strip(), params


class FunctionSchema:
    """What a function accepts: the Pydantic model of its arguments and the name of its context parameter."""

    def __init__(self, args_model: type[BaseModel], description: str, context_param: str | None) -> None:
        self.args_model = args_model
        self.description = description
        self.context_param = context_param

    def json_schema(self) -> dict[str, Any]:
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        return schema

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments (nested models stay models). Raises pydantic.ValidationError."""
        parsed = self.args_model.model_validate(arguments)
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def function_schema(func: Callable[..., Any], *, context_type: type) -> FunctionSchema:
    """Inspect `func`; a parameter annotated with `context_type` is injected, not shown to the model."""
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except NameError as exc:
        raise UserError(f"tool {func.__name__!r}: cannot resolve a type annotation ({exc})") from exc
    description, param_docs = _parse_docstring(func.__doc__)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UserError(f"tool {func.__name__!r}: *args and **kwargs cannot be described to a model")
        annotation = hints.get(name, Any)
        if annotation is context_type:
            context_param = name
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (annotation, Field(default, description=param_docs.get(name)))
    model = create_model(  # type: ignore[call-overload]
        f"{func.__name__}_args",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return FunctionSchema(model, description, context_param)


def format_validation_error(error: ValidationError, received: Any) -> str:
    """A message a model can act on: each problem with its field path, then what it sent."""
    import json

    lines = ["Invalid arguments:"]
    for problem in error.errors(include_url=False):
        path = ".".join(str(part) for part in problem["loc"]) or "(arguments)"
        lines.append(f"- {path}: {problem['msg']}")
    try:
        shown = json.dumps(received, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = repr(received)
    lines.append(f"Received: {shown}")
    lines.append("Call the tool again with corrected arguments.")
    return "\n".join(lines)
