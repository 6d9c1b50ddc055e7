"""The strict SKILL.md checker behind `flue skills check`: every rule of the Agent Skills spec.

The runtime loader forgives what it can (see `flue_py.skills`); this module is what a skill author runs
before shipping, so it reports everything, each problem at the line of the key that caused it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from flue_py._skills_parse import (
    SKILL_DIRS,
    FrontmatterError,
    ParsedFile,
    find_skill_dirs,
    name_problems,
    parse_skill_file,
    skill_file,
)

__all__ = ["SkillProblem", "check_skill", "check_skills"]

Severity = Literal["error", "warning"]

KNOWN_FIELDS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
MAX_DESCRIPTION = 1024
MAX_COMPATIBILITY = 500
MAX_BODY_LINES = 500
"""The spec recommends keeping SKILL.md under 500 lines; longer bodies belong in reference files."""


@dataclass(frozen=True)
class SkillProblem:
    """One thing wrong with a skill; `line` is 1-based in `path` (the key's line for a frontmatter field)."""

    path: Path
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "line": self.line, "message": self.message, "severity": self.severity}


class _Report:
    def __init__(self, path: Path, parsed: ParsedFile | None = None) -> None:
        self.path = path
        self.parsed = parsed
        self.problems: list[SkillProblem] = []

    def error(self, message: str, *key: str, line: int | None = None) -> None:
        self.add(message, *key, line=line, severity="error")

    def warning(self, message: str, *key: str, line: int | None = None) -> None:
        self.add(message, *key, line=line, severity="warning")

    def add(self, message: str, *key: str, line: int | None, severity: Severity) -> None:
        if line is None:
            line = self.parsed.line_of(*key) if self.parsed is not None else 1
        self.problems.append(SkillProblem(self.path, line, message, severity))


def check_skill(directory: Path | str) -> list[SkillProblem]:
    """Strictly validate one skill directory; an empty list means it is valid."""
    directory = Path(directory)
    path = skill_file(directory)
    if path is None:
        return [SkillProblem(directory / "SKILL.md", 1, f"no SKILL.md in {directory}")]
    report = _Report(path)
    try:
        report.parsed = parse_skill_file(path, retry_quoting=False)
    except FrontmatterError as exc:
        message = exc.message
        if "not valid YAML" in message and _quoting_would_fix(path):
            message += " (quote values that contain ': ')"
        report.error(message, line=exc.line)
        return report.problems
    except OSError as exc:
        report.error(f"cannot read SKILL.md: {exc.strerror or exc}")
        return report.problems
    _check_fields(report, report.parsed, directory.name)
    _check_body(report, report.parsed, path)
    return sorted(report.problems, key=lambda p: (p.line, p.severity != "error"))


def check_skills(root: Path | str) -> list[SkillProblem]:
    """Strictly validate every skill under `root/skills/` and `root/.agents/skills/`."""
    root = Path(root)
    problems: list[SkillProblem] = []
    seen: dict[str, Path] = {}
    for skills_dir in (root / d for d in SKILL_DIRS):
        if not skills_dir.is_dir():
            continue
        for child in sorted(skills_dir.iterdir()):
            if child.is_dir() and not child.name.startswith(".") and skill_file(child) is None:
                problems.append(
                    SkillProblem(child, 1, f"directory {child.name!r} has no SKILL.md and is not a skill", "warning")
                )
        for directory in find_skill_dirs(skills_dir):
            problems.extend(check_skill(directory))
            if directory.name in seen:
                problems.append(
                    SkillProblem(
                        skill_file(directory) or directory,
                        1,
                        f"skill {directory.name!r} is shadowed by {seen[directory.name]} and will not be loaded",
                        "warning",
                    )
                )
            else:
                seen[directory.name] = directory
    return problems


def _quoting_would_fix(path: Path) -> bool:
    try:
        parse_skill_file(path, retry_quoting=True)
    except (FrontmatterError, OSError):
        return False
    return True


def _check_fields(report: _Report, parsed: ParsedFile, directory_name: str) -> None:
    data = parsed.data
    for key, line in parsed.duplicates:
        report.error(f"field {key!r} is given more than once", line=line)
    for key in data:
        if str(key) not in KNOWN_FIELDS:
            allowed = ", ".join(KNOWN_FIELDS)
            report.error(f"unexpected field {str(key)!r} in frontmatter (allowed: {allowed})", str(key))

    name = data.get("name")
    if name is None:
        report.error("missing required field 'name'")
    elif not isinstance(name, str):
        report.error(f"'name' must be a string, not {_kind(name)}", "name")
    else:
        for message in name_problems(name.strip(), directory_name):
            report.error(message, "name")
        if unicodedata.normalize("NFKC", name) != name:
            report.warning(f"name {name!r} is not NFKC-normalized", "name")

    description = data.get("description")
    if description is None:
        report.error("missing required field 'description'")
    elif not isinstance(description, str):
        report.error(f"'description' must be a string, not {_kind(description)}", "description")
    elif not description.strip():
        report.error("'description' must not be empty", "description")
    elif len(description) > MAX_DESCRIPTION:
        report.error(f"'description' is {len(description)} characters; the limit is {MAX_DESCRIPTION}", "description")

    if "license" in data and not (isinstance(data["license"], str) and data["license"].strip()):
        report.error("'license' must be a non-empty string (a license name or a bundled file)", "license")

    if "compatibility" in data:
        compatibility = data["compatibility"]
        if not isinstance(compatibility, str):
            report.error(f"'compatibility' must be a string, not {_kind(compatibility)}", "compatibility")
        elif not compatibility.strip():
            report.error("'compatibility' must not be empty when given", "compatibility")
        elif len(compatibility) > MAX_COMPATIBILITY:
            report.error(
                f"'compatibility' is {len(compatibility)} characters; the limit is {MAX_COMPATIBILITY}",
                "compatibility",
            )

    if "metadata" in data:
        _check_metadata(report, data["metadata"])

    if "allowed-tools" in data:
        tools = data["allowed-tools"]
        if isinstance(tools, list):
            if not all(isinstance(item, str) for item in tools):
                report.error("'allowed-tools' list items must all be strings", "allowed-tools")
        elif not isinstance(tools, str):
            report.error(
                f"'allowed-tools' must be a space-separated string or a list of strings, not {_kind(tools)}",
                "allowed-tools",
            )


def _check_metadata(report: _Report, metadata: Any) -> None:
    if not isinstance(metadata, dict):
        report.error(f"'metadata' must be a mapping of strings to strings, not {_kind(metadata)}", "metadata")
        return
    for key, value in metadata.items():
        if not isinstance(key, str):
            report.error(f"metadata key {key!r} must be a string", "metadata", str(key))
        if not isinstance(value, str):
            report.error(
                f"metadata value for {str(key)!r} must be a string, not {_kind(value)} (quote it)",
                "metadata",
                str(key),
            )


def _check_body(report: _Report, parsed: ParsedFile, path: Path) -> None:
    if not parsed.body:
        report.warning("the skill has no instructions after the frontmatter", line=_body_line(path))
    total = len(path.read_text(encoding="utf-8", errors="replace").splitlines())
    if total > MAX_BODY_LINES:
        report.warning(
            f"SKILL.md is {total} lines; keep it under {MAX_BODY_LINES} and move detail into reference files",
            line=MAX_BODY_LINES + 1,
        )


def _body_line(path: Path) -> int:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    closing = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), 0)
    return closing + 1


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )
