"""Sandboxes: the `Sandbox` ABC and the in-process bash backend an agent acts in.

`BashSandbox` (the bashkit backend), the built-in tools (`sandbox_tools`) and snapshot persistence
(`save_snapshot`, `load_snapshot`) are imported on first use, so importing `flue_py.sandbox` never loads
the native engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flue_py.sandbox._limits import SandboxLimits
from flue_py.sandbox.base import ExecResult, Sandbox

if TYPE_CHECKING:
    from flue_py.sandbox.bashkit import BashSandbox
    from flue_py.sandbox.persistence import load_snapshot, save_snapshot
    from flue_py.sandbox.toolset import sandbox_tools

__all__ = ["BashSandbox", "ExecResult", "Sandbox", "SandboxLimits", "load_snapshot", "sandbox_tools", "save_snapshot"]

_LAZY = {
    "BashSandbox": "flue_py.sandbox.bashkit",
    "load_snapshot": "flue_py.sandbox.persistence",
    "save_snapshot": "flue_py.sandbox.persistence",
    "sandbox_tools": "flue_py.sandbox.toolset",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
