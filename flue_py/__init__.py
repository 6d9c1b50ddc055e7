"""flue-py: agents and workflows in a few lines, an in-process sandbox, and a durable session log.

The names below are imported on first use, so `import flue_py` (and with it every `flue` command's
start-up) costs almost nothing until an agent is actually declared or run.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flue_py.agent import Agent as Agent
    from flue_py.agent import Limits as Limits
    from flue_py.events import Event as Event
    from flue_py.events import Usage as Usage
    from flue_py.exceptions import FlueError as FlueError
    from flue_py.exceptions import ToolRetry as ToolRetry
    from flue_py.harness import Admission as Admission
    from flue_py.harness import Harness as Harness
    from flue_py.harness import RunResult as RunResult
    from flue_py.harness import WorkflowResult as WorkflowResult
    from flue_py.models.base import Model as Model
    from flue_py.tools import Tool as Tool
    from flue_py.tools import ToolContext as ToolContext
    from flue_py.tools import tool as tool
    from flue_py.workflow import Context as Context
    from flue_py.workflow import Workflow as Workflow
    from flue_py.workflow import workflow as workflow

__version__ = "0.1.0"

_EXPORTS = {
    "Admission": "flue_py.harness",
    "Agent": "flue_py.agent",
    "Context": "flue_py.workflow",
    "Event": "flue_py.events",
    "FlueError": "flue_py.exceptions",
    "Harness": "flue_py.harness",
    "Limits": "flue_py.agent",
    "Model": "flue_py.models.base",
    "RunResult": "flue_py.harness",
    "Tool": "flue_py.tools",
    "ToolContext": "flue_py.tools",
    "ToolRetry": "flue_py.exceptions",
    "Usage": "flue_py.events",
    "Workflow": "flue_py.workflow",
    "WorkflowResult": "flue_py.harness",
    "tool": "flue_py.tools",
    "workflow": "flue_py.workflow",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flue_py' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _FrontDoor(types.ModuleType):
    """Keeps `flue_py.workflow` the decorator even after the submodule of that name is imported.

    Importing `flue_py.workflow` makes the import system set the package attribute `workflow` to the
    module, which would shadow the lazily exported function; exported names never take a module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _FrontDoor
