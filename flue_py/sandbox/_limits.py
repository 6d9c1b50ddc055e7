"""`SandboxLimits`: the budgets every sandbox exec runs under, and the names of the limits it reports.

Defaults are sized from measurements (`reference/sandbox.md` §4-5): ordinary agent work (loops of tens of
thousands of iterations, `seq 50000`, a few MB of files) fits with room to spare, while a runaway script
(`while true`, a fork bomb, a string or file bomb) ends within a few seconds with a non-zero exit and a
message that names the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LIMIT_NAMES", "SandboxLimits"]

LIMIT_NAMES = frozenset(
    {
        "timeout",
        "commands",
        "loop_iterations",
        "output_bytes",
        "filesystem_bytes",
        "file_size",
        "function_depth",
        "memory",
        "expansion",
        "aborted",
    }
)
"""Every value `ExecResult.limit_hit` can take."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Per-exec budgets (and two filesystem quotas) for a sandbox.

    A backend may have fixed ceilings of its own; bashkit caps a file at 10 MB and the whole filesystem at
    100 MB, so larger values here are clamped to those (the backend still fails loudly at its ceiling).
    """

    wall_time: float = 20.0
    """Seconds one exec may run, `sleep` included. A per-call `timeout` can only tighten it."""
    commands: int = 250_000
    """Commands one exec may run; `while true; do :; done` reaches this in about two seconds."""
    loop_iterations: int = 1_000_000
    """Iterations of one loop (shell, awk, sed, jq), and the longest `seq` the sandbox will produce."""
    output_bytes: int = 4 * 1024 * 1024
    """stdout plus stderr kept from one exec; anything longer is cut with a visible marker."""
    filesystem_bytes: int = 100_000_000
    """Total bytes of all files in the sandbox."""
    file_size: int = 10_000_000
    """Bytes of any one file."""
    variable_bytes: int = 10_000_000
    """Bytes of one shell variable or expansion result (string bombs end here)."""
    recycle_after: int = 500
    """Execs after which the backend instance is rebuilt from a snapshot, ahead of its lifetime caps."""

    def __post_init__(self) -> None:
        for name in ("wall_time", "commands", "loop_iterations", "output_bytes", "filesystem_bytes", "file_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive, got {getattr(self, name)!r}")
        if self.recycle_after < 1:
            raise ValueError(f"SandboxLimits.recycle_after must be at least 1, got {self.recycle_after!r}")
