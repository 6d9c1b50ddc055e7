"""The `Sandbox` ABC: a filesystem and a shell an agent acts in, that cannot touch the host.

Limits are results, not exceptions: a script that hits one ends with a non-zero `exit_code` and
`limit_hit` naming the limit, so the model reads what happened and the run goes on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["ExecResult", "Sandbox"]


@dataclass(frozen=True, slots=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int
    truncated: bool = False
    """Output was longer than the output limit and was cut (a marker says so in the text too)."""
    limit_hit: str | None = None
    """The name of the limit that ended the script (`timeout`, `commands`, `loop_iterations`, …), if any."""
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Sandbox(ABC):
    """A virtual filesystem plus a shell. Every method is async and never blocks the event loop."""

    @abstractmethod
    async def exec(
        self,
        script: str,
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> ExecResult: ...

    @abstractmethod
    async def read_file(self, path: str) -> bytes:
        """Raises FileNotFoundError when the path does not exist."""

    @abstractmethod
    async def write_file(self, path: str, content: str | bytes) -> None:
        """Create or replace a file, creating parent directories."""

    @abstractmethod
    async def list(self, path: str = ".") -> list[str]:
        """Names in a directory (not recursive, without `.` and `..`)."""

    @abstractmethod
    async def exists(self, path: str) -> bool: ...

    @abstractmethod
    async def remove(self, path: str, *, recursive: bool = False) -> None: ...

    @abstractmethod
    async def snapshot(self) -> bytes:
        """The whole filesystem as bytes, for `restore` in a later process."""

    @abstractmethod
    async def restore(self, data: bytes) -> None: ...

    async def close(self) -> None:
        """Free the backend's resources."""
