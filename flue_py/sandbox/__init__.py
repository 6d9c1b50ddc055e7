"""Sandboxes: the `Sandbox` ABC and the in-process bash backend an agent acts in.

`BashSandbox` (the bashkit backend) is imported on first use, so importing `flue_py.sandbox` never loads
the native engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flue_py.sandbox._limits import SandboxLimits
from flue_py.sandbox.base import ExecResult, Sandbox

if TYPE_CHECKING:
    from flue_py.sandbox.bashkit import BashSandbox

__all__ = ["BashSandbox", "ExecResult", "Sandbox", "SandboxLimits"]


def __getattr__(name: str) -> Any:
    if name == "BashSandbox":
        from flue_py.sandbox.bashkit import BashSandbox

        return BashSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
