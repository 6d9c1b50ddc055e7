"""`flue skills list|check`: see which skills a project has, and validate them strictly before shipping."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from flue_py.skills import SkillProblem

__all__ = ["app"]

app = typer.Typer(help="List the project's skills and check them against the Agent Skills spec.", no_args_is_help=True)

RootOption = Annotated[
    Path,
    typer.Option("--root", help="Project directory holding skills/ and .agents/skills/.", file_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _shown(path: Path, root: Path) -> str:
    """A path relative to the root when it is inside it (shorter, and what editors resolve from the project)."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


@app.command("list")
def list_skills(root: RootOption = Path("."), as_json: JsonOption = False) -> None:
    """List the skills the runtime would load (name, description, location)."""
    from flue_py._skills_parse import SKILL_DIRS
    from flue_py.skills import SkillWarning, discover_skills  # imported here: `flue --help` stays light

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SkillWarning)
        skills = discover_skills(root)
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    if as_json:
        rows = [
            {
                "name": s.name,
                "description": s.description,
                "location": _shown(s.file, root),
                "resources": s.resources(),
            }
            for s in skills
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not skills:
        searched = " or ".join(f"{d}/" for d in SKILL_DIRS)
        typer.echo(f"No skills found in {searched} under {root}.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "description", "location", box=None, pad_edge=False)
    for skill in skills:
        table.add_row(skill.name, skill.description, _shown(skill.file, root))
    Console(width=200 if not typer.get_text_stream("stdout").isatty() else None).print(table)


@app.command("check")
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Skill directories to check; by default every skill of the project.", show_default=False),
    ] = None,
    root: RootOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Validate skills strictly; exits 1 when any has an error (warnings alone pass)."""
    from flue_py._skills_parse import SKILL_DIRS, find_skill_dirs
    from flue_py.skills import check_skill, check_skills

    if paths:
        problems = [problem for path in paths for problem in check_skill(path)]
        count = len(paths)
    else:
        problems = check_skills(root)
        count = sum(len(find_skill_dirs(root / d)) for d in SKILL_DIRS)
    errors = [p for p in problems if p.severity == "error"]
    warnings_ = [p for p in problems if p.severity == "warning"]
    if as_json:
        payload = {
            "skills": count,
            "errors": len(errors),
            "warnings": len(warnings_),
            "problems": [{**p.to_dict(), "path": _shown(p.path, root)} for p in problems],
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            typer.echo(_render(problem, root))
        typer.echo(_summary(count, len(errors), len(warnings_)))
    if errors:
        raise typer.Exit(1)


def _render(problem: SkillProblem, root: Path) -> str:
    label = "warning: " if problem.severity == "warning" else ""
    return f"{_shown(problem.path, root)}:{problem.line}: {label}{problem.message}"


def _summary(count: int, errors: int, warnings_: int) -> str:
    if count == 0:
        return "No skills found."
    checked = f"{count} skill{'s' if count != 1 else ''} checked"
    if not errors and not warnings_:
        return f"{checked}: all valid."
    return f"{checked}: {errors} error{'s' if errors != 1 else ''}, {warnings_} warning{'s' if warnings_ != 1 else ''}."
