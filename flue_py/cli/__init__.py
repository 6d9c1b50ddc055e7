"""The `flue` command: a tiny root that mounts one module per command.

Command modules import nothing heavy at module level (no litellm, no starlette), so `flue --help`
stays fast; each imports what it needs inside the command function.
"""

from __future__ import annotations

import typer

from flue_py.cli import build as _build
from flue_py.cli import init as _init
from flue_py.cli import run as _run
from flue_py.cli import serve as _serve
from flue_py.cli import sessions as _sessions
from flue_py.cli import skills as _skills

__all__ = ["app", "main"]

app = typer.Typer(
    name="flue",
    help="flue-py: agents and workflows in a few lines, an in-process sandbox, and a durable session log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(_init.init)
app.command("run")(_run.run)
app.command("serve")(_serve.serve)
app.command("dev")(_serve.dev)
app.command("build")(_build.build)
app.add_typer(_sessions.app, name="sessions")
app.add_typer(_skills.app, name="skills")


def main() -> None:
    app()
