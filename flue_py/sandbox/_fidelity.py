"""Fidelity fixes: builtins that replace bashkit commands whose output differs from GNU where agents parse it."""

from __future__ import annotations

from typing import Any

__all__ = ["fidelity_builtins"]


def fidelity_builtins() -> dict[str, Any]:
    return {}
