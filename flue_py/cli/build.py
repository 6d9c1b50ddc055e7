"""`flue build`: one file, `dist/<project>.pyz`, that serves the project on any machine with the same Python.

The artifact is a shiv zipapp. Why shiv rather than pex: shiv takes a ready site-packages directory and
adds a ~200-line stdlib bootstrap that extracts it once (to ~/.shiv or $SHIV_ROOT) and puts it first on
sys.path. Extraction is what native extensions need (pydantic-core, bashkit, cryptography, tokenizers), and
packing the directory we assemble lets the build copy the exact, tested distributions of the current
environment: no index, no network, no resolver, so a build is offline and matches what `pytest` ran
against. pex would resolve again from an index or a wheel cache and brings a larger runtime.

What goes in: flue-py and the closure of its requirements as installed here (plus the `redis` extra when
the store is Redis, plus any `requirements.txt` of the project), and the project itself (without tests,
.env, .git, caches or dist/) as `_flue_project/`. The entry point is `flue_py._artifact:main`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from importlib.metadata import Distribution

    from rich.console import Console

__all__ = ["BuildError", "build", "build_artifact", "collect_distributions"]

PROJECT_DIR = "_flue_project"
ENTRY_POINT = "flue_py._artifact:main"
# Tools for building, not for running: never bundled even though flue-py depends on shiv.
BUILD_ONLY = frozenset({"shiv", "pip", "setuptools", "wheel"})
# Never copied from the project: secrets, version control, environments, caches, outputs, tests.
SKIPPED = frozenset(
    {".git", ".hg", ".venv", "venv", ".env", ".flue", "dist", "build", "tests", "node_modules", "__pycache__"}
    | {".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox", ".idea", ".vscode"}
)


class BuildError(Exception):
    """A build that cannot go on; the message is one line naming the problem and the fix."""


@dataclass
class BuildResult:
    artifact: Path
    size: int
    distributions: list[str]
    seconds: float
    dockerfile: Path | None


# -- what to bundle -------------------------------------------------------------------------------


def collect_distributions(roots: list[str]) -> dict[str, Distribution]:
    """The installed distributions `roots` need (requirement strings, extras and markers honoured)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, Distribution] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, str]] = [(root, "the project") for root in roots]
    while todo:
        text, wanted_by = todo.pop()
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise BuildError(f"{wanted_by}: invalid requirement {text!r} ({exc}) — fix its spelling") from None
        key = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if key in BUILD_ONLY or (key, extras) in done:
            continue
        done.add((key, extras))
        try:
            dist = found.get(key) or distribution(requirement.name)
        except PackageNotFoundError:
            raise BuildError(
                f"{requirement.name} (needed by {wanted_by}) is not installed here — pip install {requirement.name!r}"
            ) from None
        found[key] = dist
        environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
        for child in dist.requires or []:
            parsed = Requirement(child)
            if parsed.marker is None or any(parsed.marker.evaluate(env) for env in environments):
                todo.append((child, requirement.name))
    return found


def _project_requirements(root: Path, store_url: str) -> list[str]:
    roots = ["flue-py[redis]" if store_url.startswith(("redis", "rediss", "unix")) else "flue-py"]
    requirements = root / "requirements.txt"
    if requirements.is_file():
        for line in requirements.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                roots.append(line)
    return roots


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)  # a hard link costs nothing; the tree is a few hundred megabytes
    except OSError:
        shutil.copy2(source, target)


def _is_editable(dist: Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    return text is not None and bool(json.loads(text).get("dir_info", {}).get("editable"))


def _stage_distribution(dist: Distribution, site: Path) -> None:
    base = Path(str(dist.locate_file(""))).resolve()
    for entry in dist.files or []:
        source = Path(str(dist.locate_file(entry))).resolve()
        if not source.is_file() or source.suffix == ".pyc" or "__pycache__" in source.parts:
            continue
        try:
            relative = source.relative_to(base)
        except ValueError:
            continue  # console scripts in bin/: the artifact has its own entry point
        if relative.suffix == ".pth" and "editable" in relative.name:
            continue
        _place(source, site / relative)


def _stage_editable_flue(site: Path) -> None:
    """An editable flue-py lives in its checkout: copy the package and its packaged data from there."""
    import flue_py

    package = Path(flue_py.__file__).resolve().parent
    _copy_tree(package, site / "flue_py", skip=frozenset({"__pycache__"}))
    checkout = package.parent
    if not (site / "flue_py" / "_data" / "skills").is_dir() and (checkout / "skills").is_dir():
        _copy_tree(checkout / "skills", site / "flue_py" / "_data" / "skills", skip=frozenset({"__pycache__"}))


def _copy_tree(source: Path, target: Path, *, skip: frozenset[str]) -> int:
    count = 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(part in skip for part in relative.parts) or not path.is_file() or path.suffix == ".pyc":
            continue
        _place(path, target / relative)
        count += 1
    return count


def _stage_project(root: Path, site: Path, output: Path) -> int:
    target = site / PROJECT_DIR
    skip = set(SKIPPED)
    try:
        skip.add(output.resolve().relative_to(root.resolve()).parts[0])
    except (ValueError, IndexError):
        pass
    count = 0
    for path in sorted(root.iterdir()):
        if path.name in skip or (path.name.startswith(".env") and path.name != ".env.example"):
            continue
        if path.is_dir():
            count += _copy_tree(path, target / path.name, skip=frozenset(skip))
        elif path.is_file():
            _place(path, target / path.name)
            count += 1
    return count


# -- the build ------------------------------------------------------------------------------------


class _Progress:
    """Steps on stderr: a rich spinner on a terminal, plain lines when piped, nothing with --json."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.console: Console | None = None
        if not quiet and sys.stderr.isatty():
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    @contextmanager
    def step(self, title: str) -> Iterator[dict[str, str]]:
        note: dict[str, str] = {}
        started = time.monotonic()
        if self.console is not None:
            with self.console.status(title + "…"):
                yield note
            detail = f" ({note['detail']})" if note.get("detail") else ""
            self.console.print(f"[green]✓[/] {title}{detail} [dim]{time.monotonic() - started:.1f}s[/]")
        else:
            if not self.quiet:
                typer.echo(f"flue build: {title}…", err=True)
            yield note


def build_artifact(
    root: Path, *, store_url: str, output: Path, dockerfile: bool = False, quiet: bool = True
) -> BuildResult:
    """Assemble the site-packages, pack it with shiv into `output`; optionally write `Dockerfile` beside it."""
    started = time.monotonic()
    progress = _Progress(quiet)
    with tempfile.TemporaryDirectory(prefix="flue-build-") as scratch:
        site = Path(scratch) / "site-packages"
        site.mkdir()
        with progress.step("Collecting flue-py and its dependencies") as note:
            dists = collect_distributions(_project_requirements(root, store_url))
            note["detail"] = f"{len(dists)} distributions"
        with progress.step("Staging the distributions"):
            for key, dist in sorted(dists.items()):
                if _is_editable(dist):
                    if key != "flue-py":
                        raise BuildError(
                            f"{dist.metadata['Name']} is installed in editable mode — install it normally "
                            f"(pip install {dist.metadata['Name']}) to bundle it"
                        )
                    _stage_editable_flue(site)
                _stage_distribution(dist, site)
        with progress.step("Adding the project") as note:
            note["detail"] = f"{_stage_project(root, site, output)} files"
        with progress.step(f"Packing {output.name} with shiv") as note:
            output.parent.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "shiv", "--site-packages", str(site), "-e", ENTRY_POINT]
            command += ["-o", str(output), "-p", "/usr/bin/env python3", "--reproducible"]
            done = subprocess.run(command, check=False, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
                raise BuildError(f"shiv failed ({last}) — check that shiv is installed: pip install shiv")
            note["detail"] = f"{output.stat().st_size / 1e6:.0f} MB"
    docker_path = None
    if dockerfile:
        docker_path = output.parent / "Dockerfile"
        docker_path.write_text(_dockerfile(output.name), encoding="utf-8")
    return BuildResult(
        artifact=output,
        size=output.stat().st_size,
        distributions=sorted(dists),
        seconds=round(time.monotonic() - started, 1),
        dockerfile=docker_path,
    )


def _dockerfile(artifact: str) -> str:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"""# Runs {artifact}, built by `flue build --dockerfile`. Build from this directory: docker build -t app .
# The base image's Python must match the one that built the artifact ({version}): it holds native extensions.
FROM python:{version}-slim
WORKDIR /app
COPY {artifact} /app/{artifact}
ENV SHIV_ROOT=/app/.shiv FLUE_HOST=0.0.0.0 PORT=8000 FLUE_STORE=sqlite:////data/flue.db
# Unpack once at image build time instead of at every container start.
RUN python /app/{artifact} --check
VOLUME /data
EXPOSE 8000
CMD ["python", "/app/{artifact}"]
"""


def _fail(message: str, as_json: bool) -> typer.Exit:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message}))
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def build(
    project: Annotated[Path | None, typer.Option("--project", help="Project directory [default: here].")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Artifact path [default: dist/<project>.pyz].")
    ] = None,
    dockerfile: Annotated[bool, typer.Option("--dockerfile", help="Also write a Dockerfile next to it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object describing the artifact.")] = False,
) -> None:
    """Pack the project, flue-py and every dependency into one file: python dist/<project>.pyz serves it."""
    from flue_py.cli._project import find_root, load_project
    from flue_py.config import load_config
    from flue_py.exceptions import UserError

    root = find_root(project)
    try:
        config = load_config(root)
        loaded = load_project(root)  # fail here, not on the server: an agent that does not import
    except UserError as exc:
        raise _fail(str(exc), as_json) from None
    if not loaded.names():
        raise _fail(f"{root}: no agents or workflows to serve — add one to agents/ (or run flue init)", as_json)
    target = output or root / "dist" / f"{config.name}.pyz"
    try:
        result = build_artifact(root, store_url=config.store.url, output=target, dockerfile=dockerfile, quiet=as_json)
    except BuildError as exc:
        raise _fail(str(exc), as_json) from None
    document: dict[str, Any] = {
        "ok": True,
        "artifact": str(result.artifact.resolve()),
        "size": result.size,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "distributions": len(result.distributions),
        "agents": sorted(loaded.agents),
        "workflows": sorted(loaded.workflows),
        "seconds": result.seconds,
        "dockerfile": str(result.dockerfile) if result.dockerfile else None,
    }
    if as_json:
        typer.echo(json.dumps(document))
        return
    try:
        shown = result.artifact.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = result.artifact
    typer.echo(
        typer.style(f"Built {shown}", fg="green", bold=True)
        + f" ({result.size / 1e6:.0f} MB, {len(result.distributions)} distributions, {result.seconds}s)."
    )
    typer.echo(f"Run it with: python {shown} --port 8000   (needs Python {document['python']}; nothing else)")
    if result.dockerfile:
        typer.echo(f"Docker: docker build -t {config.name} {result.dockerfile.parent}")
