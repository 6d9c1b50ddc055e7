"""Sandboxes: the `Sandbox` ABC and the in-process bash backend an agent acts in."""

from flue_py.sandbox.base import ExecResult, Sandbox

__all__ = ["ExecResult", "Sandbox"]
