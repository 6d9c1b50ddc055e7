"""Tools: typed Python functions the model can call. `@tool` makes one; `ToolContext` is what a tool may ask for.

```python
@tool
async def lookup_order(order_id: str, ctx: ToolContext) -> dict:
    \"\"\"Look up an order by its id.

    Args:
        order_id: The order number, e.g. A-1001.
    \"\"\"
```

The JSON schema the model sees comes from the signature and docstring; every call is validated by
Pydantic before the function runs, and a bad call goes back to the model as an error it can fix.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from flue_py._schema import FunctionSchema, function_schema
from flue_py.exceptions import UserError
from flue_py.messages import ToolSpec

if TYPE_CHECKING:
    from flue_py.sandbox.base import Sandbox

__all__ = ["Tool", "ToolContext", "tool"]

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass
class ToolContext:
    """What a running tool can reach: where it runs, the sandbox, and the run's abort signal."""

    run: str
    session: str
    agent: str
    call_id: str
    sandbox: Sandbox | None = None
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the run is aborted; long-running tools should check it (they are also cancelled)."""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("flue_py.tools"))
    emit: Callable[[Any], Awaitable[None]] | None = None
    """Append an event to the session (used by built-in tools for sandbox exec summaries)."""


class Tool:
    """A callable the model can use. Build one with `@tool`, or `Tool(func, ...)` directly."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        sequential: bool = False,
        retries: int = 2,
    ) -> None:
        self.func = func
        self.name = name or func.__name__
        if not self.name or not set(self.name) <= _NAME_OK or len(self.name) > 64:
            raise UserError(f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-'")
        self.schema: FunctionSchema = function_schema(func, context_type=ToolContext)
        self.description = description or self.schema.description or self.name
        self.sequential = sequential
        """Run this tool alone (never concurrently with the turn's other calls)."""
        self.retries = retries
        """How many failed calls (bad arguments, exceptions) the model gets before the tool is closed to it."""
        self._is_async = inspect.iscoroutinefunction(func)
        self._spec: ToolSpec | None = None

    def spec(self) -> ToolSpec:
        """The tool as offered to the model. Built once: pydantic's schema generation costs ~0.3 ms a tool."""
        if self._spec is None:
            self._spec = {
                "type": "function",
                "function": {
                    "name": self.name,
                    "description": self.description,
                    "parameters": self.schema.json_schema(),
                },
            }
        return self._spec

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        """Validate and run. Raises pydantic.ValidationError for bad arguments; whatever the function raises."""
        kwargs = self.schema.validate(arguments)
        if self.schema.context_param:
            kwargs[self.schema.context_param] = ctx
        if self._is_async:
            return await self.func(**kwargs)
        # Sync tools run in a worker thread so a slow one never blocks the event loop.
        return await asyncio.to_thread(self.func, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling the tool directly calls the function, so tools stay unit-testable."""
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, sequential: bool = False, retries: int = 2
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    sequential: bool = False,
    retries: int = 2,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function into a `Tool`: `@tool` or `@tool(name=..., sequential=True, retries=3)`."""

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(f, name=name, description=description, sequential=sequential, retries=retries)

    return wrap(func) if func is not None else wrap


def render_output(value: Any) -> str:
    """What the model reads for a tool's return value."""
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return str(value.model_dump_json())
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)
