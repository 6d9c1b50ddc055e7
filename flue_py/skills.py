"""Skills: folders of instructions in the Agent Skills format (`skills/<name>/SKILL.md`) an agent loads on demand.

```text
skills/refunds/
├── SKILL.md            ---\\nname: refunds\\ndescription: Process a refund. Use when…\\n---\\n<instructions>
└── POLICY.md           read on demand with read_skill_resource
```

Progressive disclosure: the system prompt carries only the catalog (`render_catalog`), the model calls
`activate_skill` to get a skill's instructions and the list of its files, and `read_skill_resource` to read
one of them. Loading is lenient (`discover_skills` warns and keeps going, as the spec's client guide asks);
checking is strict (`check_skills`, behind `flue skills check`).
"""

from __future__ import annotations

import html
import logging
import os
import unicodedata
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from flue_py._skills_check import SkillProblem, check_skill, check_skills
from flue_py._skills_parse import (
    SKILL_DIRS,
    SKILL_FILES,
    FrontmatterError,
    find_skill_dirs,
    name_problems,
    parse_skill_file,
    skill_file,
)
from flue_py.events import SkillActivated
from flue_py.exceptions import NotFoundError, SkillLoadError, UserError
from flue_py.tools import Tool, ToolContext

__all__ = [
    "Skill",
    "SkillLoadError",
    "SkillProblem",
    "SkillWarning",
    "check_skill",
    "check_skills",
    "discover_skills",
    "first_party_skills",
    "load_skill",
    "render_activation",
    "render_catalog",
    "skill_tools",
]

logger = logging.getLogger(__name__)
# A library must not print through logging's last-resort handler; `warnings` is the visible channel and
# applications that configure logging still receive these records through propagation.
logger.addHandler(logging.NullHandler())

MAX_DESCRIPTION = 1024
MAX_RESOURCE_BYTES = 256 * 1024
MAX_LISTED_RESOURCES = 200
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


class SkillWarning(UserWarning):
    """A skill was loaded with a problem, shadowed, or skipped."""


@dataclass(frozen=True)
class Skill:
    """One loaded skill. `path` is the skill's directory; `body` is the Markdown after the frontmatter."""

    name: str
    description: str
    path: Path
    body: str = ""
    license: str | None = None
    compatibility: str | None = None
    metadata: dict[str, str] = field(default_factory=dict, hash=False)
    allowed_tools: tuple[str, ...] = ()
    """Experimental in the spec and not enforced by flue-py; kept so hosts can read it."""

    @property
    def file(self) -> Path:
        """The SKILL.md itself."""
        return skill_file(self.path) or self.path / "SKILL.md"

    def resources(self) -> list[str]:
        """The skill's other files as sorted relative POSIX paths (no SKILL.md, hidden files or outside links)."""
        base = self.path.resolve()
        found: list[str] = []
        # os.walk does not descend into symlinked directories; file links are kept only if they stay inside.
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _SKIPPED_DIRS]
            for filename in filenames:
                if filename.startswith("."):
                    continue
                full = Path(dirpath) / filename
                relative = full.relative_to(base).as_posix()
                if relative in SKILL_FILES or not _regular_file_inside(full, base):
                    continue
                found.append(relative)
        return sorted(found)

    def read_resource(self, relative: str) -> str:
        """The text of one of the skill's files. Raises UserError if `relative` leaves the skill directory."""
        base = self.path.resolve()
        pure = PurePosixPath(relative.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts:
            raise UserError(
                f"{relative!r} is outside the skill {self.name!r}; use a path relative to the skill directory"
            )
        if any(part.startswith(".") for part in pure.parts):
            raise UserError(f"{relative!r} is a hidden file; skills only expose their visible files")
        full = base.joinpath(*pure.parts)
        if not _regular_file_inside(full, base):
            if full.is_symlink() or (full.exists() and not full.resolve().is_relative_to(base)):
                raise UserError(f"{relative!r} links outside the skill {self.name!r} and cannot be read")
            raise NotFoundError(f"skill {self.name!r} has no file {relative!r}")
        data = full.read_bytes()
        if b"\x00" in data[:8192]:
            return f"({relative} is a binary file of {len(data)} bytes; it cannot be shown as text)"
        text = data[:MAX_RESOURCE_BYTES].decode("utf-8", errors="replace")
        if len(data) > MAX_RESOURCE_BYTES:
            text += f"\n\n[truncated: showing {MAX_RESOURCE_BYTES} of {len(data)} bytes]"
        return text


def _regular_file_inside(path: Path, base: Path) -> bool:
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return resolved.is_relative_to(base) and resolved.is_file()


def _warn(message: str) -> None:
    logger.warning("%s", message)
    warnings.warn(message, SkillWarning, stacklevel=3)


def load_skill(directory: Path | str) -> Skill:
    """Load one skill leniently: warn about what the spec forbids but a model can live with.

    Raises:
        NotFoundError: the directory has no SKILL.md.
        SkillLoadError: the frontmatter is missing or unparseable, or there is no description.
    """
    directory = Path(directory)
    path = skill_file(directory)
    if path is None:
        raise NotFoundError(f"no SKILL.md in {directory}")
    try:
        parsed = parse_skill_file(path, retry_quoting=True)
    except FrontmatterError as exc:
        raise SkillLoadError(path, exc.line, exc.message) from exc
    except OSError as exc:
        raise SkillLoadError(path, 1, f"cannot read SKILL.md: {exc.strerror or exc}") from exc
    data = parsed.data
    if parsed.repaired_line is not None:
        line = parsed.repaired_line
        _warn(f"{path}:{line}: frontmatter only parsed after quoting values that contain ': '; quote them")

    description = data.get("description")
    if description is None or isinstance(description, (dict, list)) or not str(description).strip():
        raise SkillLoadError(path, parsed.line_of("description"), "missing 'description'; the skill is skipped")
    description = str(description).strip()
    if len(description) > MAX_DESCRIPTION:
        _warn(f"{path}:{parsed.line_of('description')}: description is over {MAX_DESCRIPTION} characters")

    raw_name = data.get("name")
    if raw_name is None or isinstance(raw_name, (dict, list)) or not str(raw_name).strip():
        _warn(f"{path}:{parsed.line_of('name')}: missing 'name'; using the directory name {directory.name!r}")
        name = directory.name
    else:
        name = unicodedata.normalize("NFKC", str(raw_name).strip())
        for problem in name_problems(name, directory.name):
            _warn(f"{path}:{parsed.line_of('name')}: {problem} (loaded anyway)")

    return Skill(
        name=name,
        description=description,
        path=directory,
        body=parsed.body,
        license=_optional_text(data.get("license")),
        compatibility=_optional_text(data.get("compatibility")),
        metadata=_metadata(data.get("metadata"), path, parsed.line_of("metadata")),
        allowed_tools=_allowed_tools(data.get("allowed-tools"), path, parsed.line_of("allowed-tools")),
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _metadata(value: Any, path: Path, line: int) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        _warn(f"{path}:{line}: 'metadata' is not a mapping and is ignored")
        return {}
    # The reference parser stringifies values (so `version: 1.0` becomes "1.0"); so do we.
    return {str(k): str(v) for k, v in value.items()}


def _allowed_tools(value: Any, path: Path, line: int) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    _warn(f"{path}:{line}: 'allowed-tools' must be a string or a list and is ignored")
    return ()


def _load_all(skills_dirs: Iterable[Path]) -> list[Skill]:
    loaded: dict[str, Skill] = {}
    for skills_dir in skills_dirs:
        for directory in find_skill_dirs(skills_dir):
            try:
                skill = load_skill(directory)
            except SkillLoadError as exc:
                _warn(f"{exc} (skipped)")
                continue
            existing = loaded.get(skill.name)
            if existing is not None:
                _warn(f"{skill.file}:1: skill {skill.name!r} is shadowed by {existing.file} and is not loaded")
                continue
            loaded[skill.name] = skill
    return sorted(loaded.values(), key=lambda s: s.name)


def discover_skills(root: Path | str) -> list[Skill]:
    """Every usable skill under `root/skills/` and `root/.agents/skills/`, sorted by name.

    On a name collision the one in `skills/` wins and the other is reported as shadowed.
    """
    root = Path(root)
    return _load_all(root / d for d in SKILL_DIRS)


def first_party_skills() -> list[Skill]:
    """The skills shipped with flue-py (packaged in the wheel; read from the checkout in development)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_data" / "skills"
    if packaged.is_dir():
        return _load_all([packaged])
    checkout = here.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "skills").is_dir():
        return _load_all([checkout / "skills"])
    return []


def render_catalog(skills: Sequence[Skill]) -> str:
    """The system-prompt section listing the skills; "" when there are none (omit the section then)."""
    if not skills:
        return ""
    lines = [
        "## Available Skills",
        "",
        "The following skills provide specialized instructions for specific tasks. When a task matches a "
        "skill's description, call the `activate_skill` tool with the skill's name to load its full "
        "instructions before you start working on it.",
        "",
    ]
    lines += [f"- **{skill.name}** — {' '.join(skill.description.split())}" for skill in skills]
    return "\n".join(lines)


def render_activation(skill: Skill) -> str:
    """What the model reads when a skill is activated: its instructions, then the list of its files."""
    name = html.escape(skill.name, quote=True)
    parts = [f'<skill_content name="{name}">\n{skill.body}\n</skill_content>']
    resources = skill.resources()
    if resources:
        listed = [f"- {path}" for path in resources[:MAX_LISTED_RESOURCES]]
        if len(resources) > MAX_LISTED_RESOURCES:
            listed.append(f"- … and {len(resources) - MAX_LISTED_RESOURCES} more")
        parts.append(
            "<skill_resources>\n"
            f"Files of this skill, relative to its directory. Read one with "
            f'read_skill_resource(skill="{skill.name}", path=...) when the instructions call for it.\n'
            + "\n".join(listed)
            + "\n</skill_resources>"
        )
    return "\n\n".join(parts)


class _ActiveSkills:
    """Which skills each run has activated. Bounded, so a long-lived process does not grow without end."""

    def __init__(self, max_runs: int = 1024) -> None:
        self._runs: OrderedDict[str, set[str]] = OrderedDict()
        self._max_runs = max_runs

    def add(self, run: str, name: str) -> bool:
        """Mark `name` active in `run`; False if it already was."""
        active = self._runs.setdefault(run, set())
        self._runs.move_to_end(run)
        while len(self._runs) > self._max_runs:
            self._runs.popitem(last=False)
        if name in active:
            return False
        active.add(name)
        return True

    def discard(self, run: str, name: str) -> None:
        self._runs.get(run, set()).discard(name)


def _lookup(by_name: dict[str, Skill], name: str) -> Skill | None:
    wanted = name.strip()
    if wanted in by_name:
        return by_name[wanted]
    # Models sometimes change the case or Unicode form of a name; the spec's names are NFKC lowercase.
    folded = unicodedata.normalize("NFKC", wanted).lower()
    return next((s for n, s in by_name.items() if unicodedata.normalize("NFKC", n).lower() == folded), None)


def skill_tools(skills: Sequence[Skill]) -> list[Tool]:
    """The `activate_skill` and `read_skill_resource` tools for these skills ([] when there are none)."""
    if not skills:
        return []
    by_name = {skill.name: skill for skill in skills}
    available = ", ".join(sorted(by_name))
    active = _ActiveSkills()

    async def activate_skill(name: str, ctx: ToolContext) -> str:
        skill = _lookup(by_name, name)
        if skill is None:
            return f"There is no skill named {name!r}. Available skills: {available}."
        # Marked before the first await, so two concurrent calls in one turn cannot both activate it.
        if not active.add(ctx.run, skill.name):
            return (
                f"The skill {skill.name!r} is already active in this run; "
                "its instructions are earlier in this conversation."
            )
        if ctx.emit is not None:
            try:
                await ctx.emit(SkillActivated(name=skill.name, session=ctx.session, run=ctx.run, agent=ctx.agent))
            except BaseException:
                active.discard(ctx.run, skill.name)
                raise
        return render_activation(skill)

    activate_skill.__doc__ = f"""Load a skill's full instructions and the list of its files.

    Args:
        name: The skill to activate; one of: {available}.
    """

    def read_skill_resource(skill: str, path: str) -> str:
        found = _lookup(by_name, skill)
        if found is None:
            return f"There is no skill named {skill!r}. Available skills: {available}."
        try:
            return found.read_resource(path)
        except NotFoundError:
            listed = ", ".join(found.resources()[:MAX_LISTED_RESOURCES]) or "(none)"
            return f"Skill {found.name!r} has no file {path!r}. Its files: {listed}."
        except UserError as exc:
            return f"Refused: {exc}"

    read_skill_resource.__doc__ = """Read one file of an activated skill (a path from its <skill_resources> list).

    Args:
        skill: The skill's name.
        path: The file's path relative to the skill directory, e.g. references/REFERENCE.md.
    """

    return [
        Tool(
            activate_skill,
            description=(
                "Load the full instructions of a skill when a task matches its description. "
                f"Available skills: {available}."
            ),
        ),
        Tool(read_skill_resource),
    ]
