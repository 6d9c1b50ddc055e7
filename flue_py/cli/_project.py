"""Find a project's agents and workflows: module-level `Agent`s in agents/*.py, `@workflow`s in workflows/*.py."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from flue_py.agent import Agent
from flue_py.exceptions import NotFoundError, UserError
from flue_py.workflow import Workflow

__all__ = ["Project", "find_root", "load_project"]


@dataclass
class Project:
    root: Path
    agents: dict[str, Agent] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted({*self.agents, *self.workflows})

    def get(self, name: str) -> Agent | Workflow:
        if name in self.agents:
            return self.agents[name]
        if name in self.workflows:
            return self.workflows[name]
        known = ", ".join(self.names()) or "none"
        raise NotFoundError(
            f"no agent or workflow named {name!r} in {self.root} (found: {known}); "
            f"define it in agents/{name}.py or workflows/{name}.py"
        )


def find_root(start: Path | None = None) -> Path:
    """The nearest directory (from `start` upwards) with flue.toml, agents/ or workflows/; else `start`."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if any((candidate / marker).exists() for marker in ("flue.toml", "agents", "workflows")):
            return candidate
    return here


def _import(path: Path, root: Path) -> ModuleType:
    relative = path.relative_to(root).with_suffix("")
    name = ".".join(relative.parts)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserError(f"{path}: failed to import ({type(exc).__name__}: {exc}); fix the error in that file") from exc
    return module


def load_project(root: Path | None = None) -> Project:
    """Import agents/*.py and workflows/*.py (the project root goes on sys.path, so they can import each other)."""
    root = find_root(root)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    project = Project(root=root)
    for folder, kind in (("agents", Agent), ("workflows", Workflow)):
        for path in sorted((root / folder).glob("*.py")):
            if path.name.startswith("_"):
                continue
            module = _import(path, root)
            for value in vars(module).values():
                if isinstance(value, Agent) and kind is Agent:
                    if value.project_root is None:
                        value.project_root = root
                    project.agents.setdefault(value.name, value)
                elif isinstance(value, Workflow) and kind is Workflow:
                    project.workflows.setdefault(value.name, value)
    return project
