"""Reading SKILL.md files: find them, split the frontmatter, parse its YAML with line numbers.

Shared by the lenient loader (`flue_py.skills`) and the strict checker (`flue_py._skills_check`). Line
numbers are 1-based lines of the SKILL.md file, so a problem can point at the key that caused it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "FrontmatterError",
    "ParsedFile",
    "find_skill_dirs",
    "name_problems",
    "parse_skill_file",
    "quote_colon_values",
    "skill_file",
]

SKILL_FILES = ("SKILL.md", "skill.md")
"""Accepted file names, preferred first (the reference parser also takes the lowercase one)."""
SKILL_DIRS = ("skills", ".agents/skills")
"""Where a project keeps skills, in precedence order: on a name collision the first one wins."""
MAX_NAME = 64


class FrontmatterError(ValueError):
    """The frontmatter is missing, unclosed or not valid YAML; `line` is where in the file."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class ParsedFile:
    """A SKILL.md split into frontmatter data and body, with the file line of every key."""

    data: dict[Any, Any]
    body: str
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    """(key,) or (key, subkey) -> 1-based file line where that key is written."""
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    """Keys written more than once (YAML keeps the last silently; the checker reports them)."""
    opener_line: int = 1
    repaired_line: int | None = None
    """Set when the YAML only parsed after quoting values that contain `: ` (the lenient loader's second
    try): the line the first parse failed at."""

    def line_of(self, *key: str) -> int:
        """The line of a key, else of its parent key, else the opening `---`."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.opener_line


def skill_file(directory: Path) -> Path | None:
    """The SKILL.md (or skill.md) inside `directory`, if it has one."""
    for name in SKILL_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def find_skill_dirs(skills_dir: Path) -> list[Path]:
    """Sub-directories of one skills folder that hold a SKILL.md, sorted; hidden ones are skipped."""
    if not skills_dir.is_dir():
        return []
    return sorted(
        child
        for child in skills_dir.iterdir()
        if child.is_dir() and not child.name.startswith(".") and skill_file(child) is not None
    )


def name_problems(name: str, directory_name: str | None) -> list[str]:
    """Every way `name` breaks the spec's naming rules (empty when it is a good name)."""
    problems: list[str] = []
    normalized = unicodedata.normalize("NFKC", name)
    if not normalized:
        return ["name must not be empty"]
    if len(normalized) > MAX_NAME:
        problems.append(f"name {name!r} is {len(normalized)} characters; the limit is {MAX_NAME}")
    if normalized != normalized.lower():
        problems.append(f"name {name!r} must be lowercase")
    bad = sorted({c for c in normalized if not (c.isalnum() or c == "-")})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        problems.append(f"name {name!r} may only contain letters, digits and '-' (found {shown})")
    if normalized.startswith("-") or normalized.endswith("-"):
        problems.append(f"name {name!r} must not start or end with '-'")
    if "--" in normalized:
        problems.append(f"name {name!r} must not contain '--'")
    if directory_name is not None and normalized != unicodedata.normalize("NFKC", directory_name):
        problems.append(f"name {name!r} must match its directory name {directory_name!r}")
    return problems


def _split(text: str) -> tuple[list[str], list[str], int]:
    """(frontmatter lines, body lines, file line where the frontmatter YAML starts)."""
    lines = text.removeprefix("\ufeff").splitlines()
    if not lines or lines[0].rstrip() != "---":
        raise FrontmatterError("SKILL.md must start with a '---' line opening the YAML frontmatter", 1)
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return lines[1:index], lines[index + 1 :], 2
    raise FrontmatterError("the frontmatter opened on line 1 is never closed with a '---' line", 1)


# A top-level `key: value` line whose unquoted value itself contains ": " (YAML reads it as a nested map).
_COLON_VALUE = re.compile(r"^(?P<key>[A-Za-z0-9_-]+):[ \t]+(?P<value>[^'\"\s\[{>|&*!#%@`].*?:(?:\s.*)?)\s*$")


def quote_colon_values(yaml_text: str) -> str:
    """Wrap unquoted values containing a colon in double quotes, as the client guide suggests for a retry."""
    out: list[str] = []
    for line in yaml_text.splitlines():
        match = _COLON_VALUE.match(line)
        if match:
            value = match.group("value").replace("\\", "\\\\").replace('"', '\\"')
            line = f'{match.group("key")}: "{value}"'
        out.append(line)
    return "\n".join(out)


def _load(yaml_text: str, first_line: int) -> tuple[Any, dict[tuple[str, ...], int], list[tuple[str, int]]]:
    try:
        node = yaml.compose(yaml_text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = first_line + (mark.line if mark is not None else 0)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FrontmatterError(f"frontmatter is not valid YAML: {reason}", line) from exc
    lines: dict[tuple[str, ...], int] = {}
    duplicates: list[tuple[str, int]] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = first_line + key_node.start_mark.line
            if (key,) in lines:
                duplicates.append((key, line))
            lines[(key,)] = line
            if isinstance(value_node, yaml.MappingNode):
                for sub_key, _ in value_node.value:
                    lines[(key, str(sub_key.value))] = first_line + sub_key.start_mark.line
    return data, lines, duplicates


def parse_skill_file(path: Path, *, retry_quoting: bool) -> ParsedFile:
    """Read and split one SKILL.md. Raises FrontmatterError (and OSError if it cannot be read)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    front, body, first_line = _split(text)
    yaml_text = "\n".join(front)
    repaired_line: int | None = None
    try:
        data, lines, duplicates = _load(yaml_text, first_line)
    except FrontmatterError as first_error:
        repaired = quote_colon_values(yaml_text) if retry_quoting else yaml_text
        if repaired == yaml_text:
            raise
        try:
            data, lines, duplicates = _load(repaired, first_line)
        except FrontmatterError:
            raise first_error from None
        repaired_line = first_error.line
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontmatterError(f"frontmatter must be a mapping of fields, not a {type(data).__name__}", first_line)
    return ParsedFile(
        data=data,
        body="\n".join(body).strip(),
        lines=lines,
        duplicates=duplicates,
        repaired_line=repaired_line,
    )
