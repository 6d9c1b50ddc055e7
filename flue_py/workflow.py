"""`@workflow` and `Context`: an autonomous job with a typed input and a typed result.

```python
@workflow
async def triage(ctx: Context, issue: Issue) -> Triage:
    await ctx.sandbox.write_file("/workspace/issue.md", issue.body)
    return await ctx.prompt("Triage /workspace/issue.md", agent=support, result=Triage)
```
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from pydantic import BaseModel, TypeAdapter, ValidationError

from flue_py.exceptions import ConfigError, UserError

if TYPE_CHECKING:
    from flue_py.agent import Agent
    from flue_py.harness import WorkflowResult
    from flue_py.models.base import Model
    from flue_py.sandbox.base import Sandbox
    from flue_py.sessions.base import SessionStore

__all__ = ["Context", "Workflow", "workflow"]

T = TypeVar("T")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class _Runner(Protocol):
    """What a Context delegates to; the harness provides it."""

    async def prompt(
        self, text: str, *, agent: Agent | None, result: type[Any] | None, model: str | Model | None
    ) -> Any: ...

    async def get_sandbox(self) -> Sandbox: ...


class Context:
    """What a workflow body can do: prompt agents, use the sandbox, know where it runs."""

    def __init__(self, runner: _Runner, *, run: str, session: str, workflow: str) -> None:
        self._runner = runner
        self.run = run
        self.session = session
        self.workflow = workflow
        self._sandbox: Sandbox | None = None

    @property
    def sandbox(self) -> Sandbox:
        """The run's sandbox (created on first use; shared by every prompt of this run)."""
        if self._sandbox is None:
            raise UserError("ctx.sandbox is available after the run started; use `await ctx.get_sandbox()` first")
        return self._sandbox

    async def get_sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = await self._runner.get_sandbox()
        return self._sandbox

    @overload
    async def prompt(
        self, text: str, *, agent: Agent | None = None, result: type[T], model: str | Model | None = None
    ) -> T: ...

    @overload
    async def prompt(
        self, text: str, *, agent: Agent | None = None, result: None = None, model: str | Model | None = None
    ) -> str: ...

    async def prompt(
        self,
        text: str,
        *,
        agent: Agent | None = None,
        result: type[Any] | None = None,
        model: str | Model | None = None,
    ) -> Any:
        """Run `agent` (or a plain one) on `text`; with `result=`, return a validated instance of that type."""
        return await self._runner.prompt(text, agent=agent, result=result, model=model)


class Workflow:
    """A declared workflow. Run it with `await wf.run(input)`, `flue run NAME --input`, or `POST /workflows/NAME`."""

    def __init__(self, func: Callable[..., Awaitable[Any]], *, name: str | None = None) -> None:
        if not inspect.iscoroutinefunction(func):
            raise ConfigError(f"workflow {func.__name__!r} must be an `async def` function")
        self.func = func
        self.name = (name or func.__name__).replace("_", "-")
        if not _NAME.match(self.name):
            raise ConfigError(f"workflow name {self.name!r} must be lowercase letters, digits, '-' or '_'")
        params = list(inspect.signature(func).parameters.values())
        if len(params) != 2:
            raise ConfigError(
                f"workflow {self.name!r} must take exactly (ctx: Context, input: SomeModel); got {len(params)} params"
            )
        hints = typing.get_type_hints(func)
        input_type = hints.get(params[1].name)
        if not (isinstance(input_type, type) and issubclass(input_type, BaseModel)):
            raise ConfigError(f"workflow {self.name!r}: its input parameter must be annotated with a Pydantic model")
        self.input_type: type[BaseModel] = input_type
        self.result_type: Any = hints.get("return", Any)
        self.description = inspect.getdoc(func) or ""

    def parse_input(self, data: BaseModel | dict[str, Any] | str) -> BaseModel:
        """Validate an input (an instance, a dict or JSON text). Raises pydantic.ValidationError."""
        if isinstance(data, self.input_type):
            return data
        if isinstance(data, str):
            return self.input_type.model_validate_json(data)
        if isinstance(data, BaseModel):
            data = data.model_dump()
        return self.input_type.model_validate(data)

    def dump_result(self, value: Any) -> Any:
        """The JSON form of a result, checked against the declared return type."""
        if self.result_type is Any or self.result_type is None:
            return TypeAdapter(Any).dump_python(value, mode="json")
        adapter: TypeAdapter[Any] = TypeAdapter(self.result_type)
        try:
            checked = adapter.validate_python(value)
        except ValidationError as exc:
            raise UserError(f"workflow {self.name!r} returned a value that is not {self.result_type!r}: {exc}") from exc
        return adapter.dump_python(checked, mode="json")

    async def run(
        self,
        input: BaseModel | dict[str, Any] | str,
        *,
        store: SessionStore | None = None,
        model: str | Model | None = None,
    ) -> WorkflowResult:
        """Run to completion and return the outcome with the typed result."""
        from flue_py.harness import Harness

        harness = Harness(store=store)
        try:
            return await harness.run_workflow(self, input, model=model)
        finally:
            await harness.close()

    async def __call__(self, ctx: Context, input: BaseModel) -> Any:
        return await self.func(ctx, input)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r})"


@overload
def workflow(func: Callable[..., Awaitable[Any]], /) -> Workflow: ...


@overload
def workflow(*, name: str | None = None) -> Callable[[Callable[..., Awaitable[Any]]], Workflow]: ...


def workflow(
    func: Callable[..., Awaitable[Any]] | None = None, /, *, name: str | None = None
) -> Workflow | Callable[[Callable[..., Awaitable[Any]]], Workflow]:
    """Declare a workflow: `@workflow` or `@workflow(name="triage")`."""

    def wrap(f: Callable[..., Awaitable[Any]]) -> Workflow:
        return Workflow(f, name=name)

    return wrap(func) if func is not None else wrap
