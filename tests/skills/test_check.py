"""The strict checker: every rule of the spec, each reported at the line of the key that broke it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flue_py.skills import SkillProblem, check_skill, check_skills

DESC = "description: Does a thing. Use when a thing is needed."


def errors(problems: list[SkillProblem]) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in problems if p.severity == "error"]


def test_valid_skill_has_no_problems(write_skill) -> None:
    frontmatter = f"""
name: good-skill-2
{DESC}
license: MIT
compatibility: Requires git and network access
metadata:
  author: acme
  version: "1.0"
allowed-tools: Bash(git:*) Read
"""
    assert check_skill(write_skill("good-skill-2", frontmatter)) == []


def test_unicode_lowercase_name_is_valid(write_skill) -> None:
    assert check_skill(write_skill("café", f"name: café\n{DESC}")) == []


def test_allowed_tools_list_is_valid(write_skill) -> None:
    assert check_skill(write_skill("tools", f"name: tools\n{DESC}\nallowed-tools:\n  - Read\n  - Write")) == []


@pytest.mark.parametrize(
    ("directory", "frontmatter", "line", "message"),
    [
        ("Upper", f"{DESC}\nname: Upper", 3, "name 'Upper' must be lowercase"),
        ("Ärger", f"name: Ärger\n{DESC}", 2, "name 'Ärger' must be lowercase"),
        ("a" * 65, f"name: {'a' * 65}\n{DESC}", 2, "name '" + "a" * 65 + "' is 65 characters; the limit is 64"),
        ("snake_case", f"name: snake_case\n{DESC}", 2, "may only contain letters, digits and '-' (found '_')"),
        ("has space", f"name: has space\n{DESC}", 2, "may only contain letters, digits and '-' (found ' ')"),
        ("-lead", f"name: -lead\n{DESC}", 2, "name '-lead' must not start or end with '-'"),
        ("trail-", f"name: trail-\n{DESC}", 2, "name 'trail-' must not start or end with '-'"),
        ("dou--ble", f"name: dou--ble\n{DESC}", 2, "name 'dou--ble' must not contain '--'"),
        ("folder", f"{DESC}\n\nname: other", 4, "name 'other' must match its directory name 'folder'"),
        ("empty", f"name: ''\n{DESC}", 2, "name must not be empty"),
        ("numeric", f"name: 123\n{DESC}", 2, "'name' must be a string, not a number"),
        ("noname", DESC, 1, "missing required field 'name'"),
        ("nodesc", "name: nodesc", 1, "missing required field 'description'"),
        ("blank", "name: blank\ndescription: '   '", 3, "'description' must not be empty"),
        ("listdesc", "name: listdesc\ndescription:\n  - a", 3, "'description' must be a string, not a list"),
        ("long", f"name: long\ndescription: {'d' * 1025}", 3, "'description' is 1025 characters; the limit is 1024"),
        ("lic", f"name: lic\n{DESC}\nlicense: 3", 4, "'license' must be a non-empty string"),
        (
            "compat",
            f"name: compat\n{DESC}\ncompatibility: {'c' * 501}",
            4,
            "'compatibility' is 501 characters; the limit is 500",
        ),
        ("compat", f"name: compat\n{DESC}\ncompatibility: ''", 4, "'compatibility' must not be empty when given"),
        ("compat", f"name: compat\n{DESC}\ncompatibility: [a]", 4, "'compatibility' must be a string, not a list"),
        (
            "meta",
            f"name: meta\n{DESC}\nmetadata: text",
            4,
            "'metadata' must be a mapping of strings to strings, not str",
        ),
        (
            "meta",
            f"name: meta\n{DESC}\nmetadata:\n  author: me\n  version: 1.0",
            6,
            "metadata value for 'version' must be a string, not a number (quote it)",
        ),
        ("meta", f"name: meta\n{DESC}\nmetadata:\n  1: one", 5, "metadata key 1 must be a string"),
        (
            "tools",
            f"name: tools\n{DESC}\nallowed-tools: 7",
            4,
            "'allowed-tools' must be a space-separated string or a list of strings, not a number",
        ),
        (
            "tools",
            f"name: tools\n{DESC}\nallowed-tools:\n  - Read\n  - 3",
            4,
            "'allowed-tools' list items must all be strings",
        ),
        ("extra", f"name: extra\n{DESC}\nversion: 2\nmodel: x", 4, "unexpected field 'version' in frontmatter"),
        ("dupe", f"name: dupe\n{DESC}\nname: dupe", 4, "field 'name' is given more than once"),
    ],
)
def test_each_rule_is_reported_at_its_line(
    write_skill, directory: str, frontmatter: str, line: int, message: str
) -> None:
    problems = check_skill(write_skill(directory, frontmatter))
    found = errors(problems)
    assert any(got_line == line and message in got for got_line, got in found), found


def test_every_unknown_field_is_reported(write_skill) -> None:
    problems = check_skill(write_skill("extra", f"name: extra\n{DESC}\nversion: 2\nmodel: x"))
    assert [(p.line, p.message.split(" in ")[0]) for p in problems] == [
        (4, "unexpected field 'version'"),
        (5, "unexpected field 'model'"),
    ]


def test_name_is_nfkc_normalized_before_checking(write_skill) -> None:
    # "ﬁle" with the U+FB01 ligature normalizes to "file": valid, but the checker asks for the normal form.
    problems = check_skill(write_skill("file", f"name: \ufb01le\n{DESC}"))
    assert errors(problems) == []
    assert [(p.line, p.severity) for p in problems] == [(2, "warning")]
    assert "not NFKC-normalized" in problems[0].message


@pytest.mark.parametrize(
    ("raw", "line", "message"),
    [
        ("# No frontmatter\n", 1, "must start with a '---' line"),
        ("", 1, "must start with a '---' line"),
        ("---\nname: x\ndescription: y\n", 1, "never closed"),
        (
            "---\nname: bad\ndescription: Use when: asked\n---\nbody\n",
            3,
            "not valid YAML: mapping values are not allowed here (quote values that contain ': ')",
        ),
        ("---\nname: bad\ndescription: [oops\n---\nbody\n", 3, "not valid YAML"),
        ("---\n- a\n- b\n---\nbody\n", 2, "frontmatter must be a mapping of fields, not a list"),
    ],
)
def test_frontmatter_structure(write_skill, raw: str, line: int, message: str) -> None:
    problems = check_skill(write_skill("bad", None, raw=raw))
    assert len(problems) == 1
    assert (problems[0].line, problems[0].severity) == (line, "error")
    assert message in problems[0].message


def test_bom_and_crlf_are_accepted(write_skill) -> None:
    raw = f"\ufeff---\r\nname: crlf\r\n{DESC}\r\n---\r\nBody\r\n"
    assert check_skill(write_skill("crlf", None, raw=raw)) == []


def test_empty_frontmatter_reports_both_required_fields(write_skill) -> None:
    problems = check_skill(write_skill("empty", None, raw="---\n---\nBody\n"))
    assert errors(problems) == [(1, "missing required field 'name'"), (1, "missing required field 'description'")]


def test_empty_body_and_long_file_are_warnings(write_skill) -> None:
    empty = check_skill(write_skill("empty-body", f"name: empty-body\n{DESC}", body=""))
    assert [(p.line, p.severity) for p in empty] == [(4, "warning")]
    assert "no instructions" in empty[0].message

    long = check_skill(write_skill("long-body", f"name: long-body\n{DESC}", body="line\n" * 600))
    assert [(p.line, p.severity) for p in long] == [(501, "warning")]
    assert "keep it under 500" in long[0].message


def test_missing_skill_file(tmp_path: Path) -> None:
    problems = check_skill(tmp_path)
    assert [(p.path, p.line, p.severity) for p in problems] == [(tmp_path / "SKILL.md", 1, "error")]


def test_lowercase_skill_md_is_accepted(tmp_path: Path) -> None:
    directory = tmp_path / "lower"
    directory.mkdir()
    (directory / "skill.md").write_text(f"---\nname: lower\n{DESC}\n---\nBody\n")
    assert check_skill(directory) == []


def test_problem_renders_path_line_message(tmp_path: Path) -> None:
    problem = SkillProblem(tmp_path / "SKILL.md", 3, "boom")
    assert str(problem) == f"{tmp_path / 'SKILL.md'}:3: boom"
    assert problem.to_dict() == {"path": str(tmp_path / "SKILL.md"), "line": 3, "message": "boom", "severity": "error"}


def test_check_skills_covers_both_dirs_shadowing_and_stray_dirs(write_skill, tmp_path: Path) -> None:
    write_skill("ok", f"name: ok\n{DESC}")
    write_skill("ok", f"name: ok\n{DESC}", under=".agents/skills")
    write_skill("Bad", f"name: Bad\n{DESC}", under=".agents/skills")
    (tmp_path / "skills" / "stray").mkdir()

    problems = check_skills(tmp_path)

    rendered = sorted((p.severity, str(p).replace(str(tmp_path) + "/", "")) for p in problems)
    assert rendered == [
        ("error", ".agents/skills/Bad/SKILL.md:2: name 'Bad' must be lowercase"),
        ("warning", ".agents/skills/ok/SKILL.md:1: skill 'ok' is shadowed by skills/ok and will not be loaded"),
        ("warning", "skills/stray:1: directory 'stray' has no SKILL.md and is not a skill"),
    ]


def test_check_skills_on_an_empty_project(tmp_path: Path) -> None:
    assert check_skills(tmp_path) == []
