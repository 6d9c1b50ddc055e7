"""`flue build`: placeholder while the builder is written."""

from __future__ import annotations

import typer


def build() -> None:
    """Build dist/<project>.pyz."""
    raise typer.Exit(1)
