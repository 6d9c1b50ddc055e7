"""flue-py: agents and workflows in a few lines, an in-process sandbox, and a durable session log."""

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

__all__ = [
    "Admission",
    "Agent",
    "Context",
    "Event",
    "FlueError",
    "Harness",
    "Limits",
    "Model",
    "RunResult",
    "Tool",
    "ToolContext",
    "ToolRetry",
    "Usage",
    "Workflow",
    "WorkflowResult",
    "tool",
    "workflow",
]
