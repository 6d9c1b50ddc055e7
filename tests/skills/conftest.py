from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

WriteSkill = Callable[..., Path]


@pytest.fixture
def write_skill(tmp_path: Path) -> WriteSkill:
    """Write `tmp_path/<under>/<directory>/SKILL.md` from raw frontmatter text and return the skill directory."""

    def write(
        directory: str,
        frontmatter: str | None,
        body: str = "Do the thing.",
        *,
        under: str = "skills",
        raw: str | None = None,
    ) -> Path:
        skill_dir = tmp_path / under / directory
        skill_dir.mkdir(parents=True, exist_ok=True)
        if raw is not None:
            text = raw
        elif frontmatter is None:
            text = body
        else:
            text = f"---\n{frontmatter.strip()}\n---\n{body}\n"
        (skill_dir / "SKILL.md").write_text(text, encoding="utf-8")
        return skill_dir

    return write
