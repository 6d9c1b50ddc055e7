"""`Agent`: what an agent is (model, instructions, tools, skills, sandbox, limits). No execution lives here."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flue_py.exceptions import ConfigError
from flue_py.tools import Tool, tool

if TYPE_CHECKING:
    from flue_py.harness import RunResult
    from flue_py.models.base import Model
    from flue_py.sandbox.base import Sandbox
    from flue_py.sessions.base import SessionStore
    from flue_py.skills import Skill

__all__ = ["Agent", "Limits"]

_AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Limits:
    """When a run must stop. Each limit that is hit settles the run `failed` with an error naming it."""

    max_turns: int = 25
    """Model calls per run."""
    max_tokens: int | None = None
    """Input plus output tokens per run."""
    max_cost: float | None = None
    """US dollars per run (from litellm's price map)."""
    result_retries: int = 2
    """How often a structured result is re-asked for when the model's answer does not validate."""


@dataclass(eq=False)
class Agent:
    """An interactive agent: people talk to it, steer it and stop it through its session.

    ```python
    support = Agent(
        name="support",
        model="anthropic/claude-sonnet-4-5",
        instructions="You help ACME customers. Be brief.",
        tools=[lookup_order],
    )
    ```
    """

    name: str
    model: str | Model = "test"
    """A litellm `provider/model` string, `"test"` for the offline model, or a `Model` instance."""
    instructions: str | Callable[[], str] = ""
    tools: Sequence[Tool | Callable[..., Any]] = ()
    """Tools, or plain typed functions (wrapped with `@tool`)."""
    skills: Sequence[Skill] | None = None
    """None discovers `skills/` and `.agents/skills/` in the project; a list pins them; `[]` turns them off."""
    sandbox: bool | Callable[[], Sandbox] = True
    """True gives each agent instance its own in-process BashSandbox (workspace `/workspace`)."""
    builtin_tools: Sequence[str] | None = None
    """Which sandbox tools the model gets (`bash read write edit grep glob`); None means all of them."""
    limits: Limits = field(default_factory=Limits)
    parallel_tool_calls: bool = True
    """Run a turn's tool calls concurrently (a tool can still opt out with `sequential=True`)."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Passed to the model with every request (temperature, max_tokens, …)."""
    project_root: Path | None = None
    """Where skills are discovered; defaults to the directory the run starts in."""

    def __post_init__(self) -> None:
        if not _AGENT_NAME.match(self.name):
            raise ConfigError(
                f"agent name {self.name!r} must be 1-64 lowercase letters, digits, '-' or '_', starting alphanumeric"
            )
        self.tools = tuple(t if isinstance(t, Tool) else tool(t) for t in self.tools)
        names = [t.name for t in self.tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"agent {self.name!r} has more than one tool named {duplicates[0]!r}")

    def system_prompt(self) -> str:
        return self.instructions() if callable(self.instructions) else self.instructions

    async def run(
        self,
        message: str,
        *,
        id: str | None = None,
        store: SessionStore | None = None,
        model: str | Model | None = None,
    ) -> RunResult:
        """Send one message and wait for the reply (a new conversation unless `id` names one)."""
        from flue_py.harness import Harness  # definitions never import execution at module level

        harness = Harness(store=store)
        try:
            return await harness.send(self, message, id=id, model=model)
        finally:
            await harness.close()  # no driver task or sandbox outlives the call

    def run_sync(self, message: str, **kwargs: Any) -> RunResult:
        """`run` for code that is not async."""
        import asyncio

        return asyncio.run(self.run(message, **kwargs))

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, model={getattr(self.model, 'name', self.model)!r})"
