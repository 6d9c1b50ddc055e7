"""`flue init [DIR]`: write a new project from a template (agent, workflow, skill, offline tests, settings).

Templates live in `templates/<name>/` plus `templates/_shared/` (packaged as `flue_py/_data/templates`).
Files ending in `.j2` are rendered with jinja2 and lose the suffix; the rest are copied as they are.
A leading `dot-` becomes `.` (`dot-gitignore` -> `.gitignore`): dotfiles inside a package's data are easy to
lose to packaging tools' ignore rules.

Imports only the standard library and typer at module level: `flue init` must start fast.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["DEFAULT_MODEL", "InitResult", "Template", "init", "render_project", "templates_dir"]

DEFAULT_MODEL = "anthropic/claude-haiku-4-5"


class Template(str, Enum):
    chat = "chat"
    workflow = "workflow"


# What each template's README and next steps refer to.
_DETAILS: dict[str, dict[str, str]] = {
    "chat": {
        "workflow": "greet",
        "skill": "house-style",
        "example_message": "When are you open?",
        "example_input": '{"name": "Ada", "language": "French"}',
    },
    "workflow": {
        "workflow": "review",
        "skill": "review-checklist",
        "example_message": "What makes a good bug report?",
        "example_input": '{"title": "Release notes", "text": "We shipped search. Docs are still missing."}',
    },
}
# Entries that may already be in a directory that still counts as empty (`git init` first is common).
_IGNORED_EXISTING = {".git"}


@dataclass
class InitResult:
    directory: Path
    template: str
    name: str
    files: list[str] = field(default_factory=list)


def templates_dir() -> Path:
    """The templates of the installed package, or the checkout's `templates/` in an editable install."""
    from importlib.resources import files

    packaged = files("flue_py").joinpath("_data", "templates")
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "flue-py's templates are missing: reinstall flue-py (pip install --force-reinstall flue-py)"
    )


def project_name(directory: Path) -> str:
    """A name usable as a file name and in TOML, from the directory's name ("My Bot" -> "my-bot")."""
    raw = directory.resolve().name.lower()
    slug = re.sub(r"[^a-z0-9._-]+", "-", raw).strip("-.")
    return slug or "app"


def _target_name(relative: Path) -> Path:
    parts = ["." + p[len("dot-") :] if p.startswith("dot-") else p for p in relative.parts]
    target = Path(*parts)
    return target.with_suffix("") if target.suffix == ".j2" else target


def render_project(directory: Path, template: str, name: str, *, model: str = DEFAULT_MODEL) -> list[str]:
    """Write the template into `directory` (created if needed); return the written paths, relative and sorted."""
    import jinja2

    source = templates_dir()
    layers = [source / "_shared", source / template]
    if not layers[1].is_dir():
        known = ", ".join(sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("_")))
        raise ValueError(f"unknown template {template!r}; choose one of: {known}")
    context: dict[str, Any] = {"name": name, "model": model, "template": template, **_DETAILS.get(template, {})}
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    written: dict[str, Path] = {}
    for layer in layers:  # later layers replace earlier files of the same name
        for path in sorted(layer.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            relative = _target_name(path.relative_to(layer))
            written[relative.as_posix()] = path
    directory.mkdir(parents=True, exist_ok=True)
    for posix, path in written.items():
        target = directory / posix
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".j2":
            target.write_text(env.from_string(path.read_text(encoding="utf-8")).render(context), encoding="utf-8")
        else:
            target.write_bytes(path.read_bytes())
    return sorted(written)


def _next_steps(result: InitResult, here: Path) -> list[str]:
    steps = []
    try:
        shown = result.directory.resolve().relative_to(here.resolve())
    except ValueError:
        shown = result.directory
    if str(shown) != ".":
        steps.append(f"cd {shown}")
    message = _DETAILS[result.template]["example_message"]
    steps += [
        'flue run hello -m "hi" --model test        # offline',
        "cp .env.example .env                       # then add your model key",
        f'flue run hello -m "{message}"',
        "pytest                                     # pip install pytest first",
        "flue dev                                   # http://127.0.0.1:8000",
    ]
    return steps


def _fail(message: str, as_json: bool) -> typer.Exit:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}))
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project [default: here].")] = Path("."),
    template: Annotated[
        Template, typer.Option("--template", "-t", help="chat: a chat agent; workflow: a workflow-centred project.")
    ] = Template.chat,
    name: Annotated[str | None, typer.Option("--name", help="Project name [default: the directory's name].")] = None,
    model: Annotated[str, typer.Option("--model", help="The agent's litellm model string.")] = DEFAULT_MODEL,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty directory, replacing files.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object describing what was created.")] = False,
) -> None:
    """Create a project: an agent with a tool and a skill, a typed workflow, offline tests and settings."""
    if directory.exists() and not directory.is_dir():
        raise _fail(f"{directory} is a file; pass a directory name, e.g. flue init my-agent", as_json)
    if directory.is_dir() and not force:
        existing = [p.name for p in directory.iterdir() if p.name not in _IGNORED_EXISTING]
        if existing:
            raise _fail(f"{directory} is not empty; run again with --force to write into it anyway", as_json)
    chosen = name or project_name(directory)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", chosen):
        raise _fail(f"project name {chosen!r} is not valid; use letters, digits, '.', '_' or '-' (--name)", as_json)
    try:
        files = render_project(directory, template.value, chosen, model=model)
    except (OSError, ValueError) as exc:
        raise _fail(f"{directory}: {exc}", as_json) from None
    result = InitResult(directory=directory, template=template.value, name=chosen, files=files)
    steps = _next_steps(result, Path.cwd())
    if as_json:
        document = {
            "ok": True,
            "directory": str(directory.resolve()),
            "name": chosen,
            "template": template.value,
            "files": files,
            "next": steps,
        }
        typer.echo(json.dumps(document))
        return
    # click strips the colours when stdout is not a terminal, so piped output stays plain.
    typer.echo(
        typer.style(f"Created {chosen}", fg="green", bold=True)
        + f" in {directory} ({template.value} template, {len(files)} files)."
    )
    typer.echo("\nNext:")
    for step in steps:
        typer.echo("  " + typer.style(step, fg="cyan"))
    sys.stdout.flush()
