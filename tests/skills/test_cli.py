"""`flue skills list|check`, driven through typer's CliRunner on the sub-app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flue_py.cli.skills import app

DESC = "description: Does a thing. Use when a thing is needed."
runner = CliRunner()


@pytest.fixture
def project(write_skill, tmp_path: Path) -> Path:
    write_skill("alpha", f"name: alpha\n{DESC}")
    (tmp_path / "skills" / "alpha" / "NOTES.md").write_text("notes")
    write_skill("beta", f"name: beta\n{DESC}", under=".agents/skills")
    return tmp_path


def test_list_shows_name_description_location(project: Path) -> None:
    result = runner.invoke(app, ["list", "--root", str(project)])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["name", "description", "location"]
    assert lines[1][0] == "alpha" and lines[1][-1] == "skills/alpha/SKILL.md"
    assert lines[2][0] == "beta" and lines[2][-1] == ".agents/skills/beta/SKILL.md"
    assert "Does a thing." in result.stdout


def test_list_json(project: Path) -> None:
    result = runner.invoke(app, ["list", "--root", str(project), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {
            "name": "alpha",
            "description": DESC.split(": ", 1)[1],
            "location": "skills/alpha/SKILL.md",
            "resources": ["NOTES.md"],
        },
        {
            "name": "beta",
            "description": DESC.split(": ", 1)[1],
            "location": ".agents/skills/beta/SKILL.md",
            "resources": [],
        },
    ]


def test_list_reports_loader_warnings_on_stderr(write_skill, tmp_path: Path) -> None:
    write_skill("skipped", "name: skipped")
    write_skill("renamed", f"name: other\n{DESC}")
    result = runner.invoke(app, ["list", "--root", str(tmp_path), "--json"])
    assert result.exit_code == 0
    assert [row["name"] for row in json.loads(result.stdout)] == ["other"]
    assert "warning:" in result.stderr
    assert "missing 'description'" in result.stderr and "must match its directory name" in result.stderr


def test_list_without_skills(tmp_path: Path) -> None:
    result = runner.invoke(app, ["list", "--root", str(tmp_path)])
    assert result.exit_code == 0
    assert "No skills found in skills/ or .agents/skills/" in result.stdout


def test_check_passes_a_valid_project(project: Path) -> None:
    result = runner.invoke(app, ["check", "--root", str(project)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 skills checked: all valid."


def test_check_fails_with_file_line_messages(write_skill, project: Path) -> None:
    write_skill("Gamma", f"{DESC}\nname: Gamma\nextra: 1")
    result = runner.invoke(app, ["check", "--root", str(project)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "skills/Gamma/SKILL.md:3: name 'Gamma' must be lowercase",
        "skills/Gamma/SKILL.md:4: unexpected field 'extra' in frontmatter "
        "(allowed: name, description, license, compatibility, metadata, allowed-tools)",
        "3 skills checked: 2 errors, 0 warnings.",
    ]


def test_check_warnings_alone_pass(write_skill, tmp_path: Path) -> None:
    write_skill("quiet", f"name: quiet\n{DESC}", body="")
    result = runner.invoke(app, ["check", "--root", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "skills/quiet/SKILL.md:4: warning: the skill has no instructions after the frontmatter",
        "1 skill checked: 0 errors, 1 warning.",
    ]


def test_check_json(write_skill, tmp_path: Path) -> None:
    write_skill("bad", "name: bad")
    result = runner.invoke(app, ["check", "--root", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "skills": 1,
        "errors": 1,
        "warnings": 0,
        "problems": [
            {
                "path": "skills/bad/SKILL.md",
                "line": 1,
                "message": "missing required field 'description'",
                "severity": "error",
            }
        ],
    }


def test_check_named_directories(write_skill, tmp_path: Path) -> None:
    good = write_skill("good", f"name: good\n{DESC}")
    bad = write_skill("bad", "name: bad")
    assert runner.invoke(app, ["check", str(good)]).exit_code == 0
    result = runner.invoke(app, ["check", str(good), str(bad), "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "2 skills checked: 1 error, 0 warnings."


def test_check_empty_project(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--root", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout.strip() == "No skills found."


def test_check_defaults_to_the_current_directory(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "2 skills checked: all valid."


def test_first_party_skills_pass_the_cli_check() -> None:
    repo = Path(__file__).resolve().parents[2]
    result = runner.invoke(app, ["check", "--root", str(repo)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("all valid.")


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "list" in result.output and "check" in result.output


def test_cli_module_stays_light() -> None:
    import subprocess
    import sys

    # Measured against the parent package, so only what this module itself pulls in is counted.
    code = (
        "import sys, flue_py.cli; heavy = ('litellm', 'starlette'); before = {m for m in heavy if m in sys.modules}; "
        "import flue_py.cli.skills; print(sorted(m for m in heavy if m in sys.modules and m not in before))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, check=True)
    assert out.stdout.strip() == "[]"
