"""`flue init`: both templates render a project that passes `flue skills check` and its own tests offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flue_py.cli import app
from flue_py.skills import check_skills, discover_skills

runner = CliRunner()

EXPECTED = {
    "chat": {"workflows/greet.py", "skills/house-style/SKILL.md", "tests/test_hello.py", "tests/test_greet.py"},
    "workflow": {"workflows/review.py", "skills/review-checklist/SKILL.md", "tests/test_review.py"},
}
EXPECTED_SKILL = {"chat": "house-style", "workflow": "review-checklist"}
COMMON = {
    "agents/__init__.py",
    "workflows/__init__.py",
    "agents/hello.py",
    "flue.toml",
    ".env.example",
    ".gitignore",
    "README.md",
    "tests/conftest.py",
}


def init(*args: str) -> Result:
    return runner.invoke(app, ["init", *args])


@pytest.mark.parametrize("template", ["chat", "workflow"])
def test_init_writes_a_complete_project(tmp_path: Path, template: str) -> None:
    target = tmp_path / "My Bot"
    result = init(str(target), "--template", template, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["ok"] is True
    assert document["name"] == "my-bot"
    assert set(document["files"]) >= COMMON | EXPECTED[template]
    assert all((target / f).is_file() for f in document["files"])
    assert 'name = "my-bot"' in (target / "flue.toml").read_text()
    assert not any(p.suffix == ".j2" or p.name.startswith("dot-") for p in target.rglob("*"))
    assert ".env" in (target / ".gitignore").read_text().split()
    readme = (target / "README.md").read_text()
    for command in ("flue run hello", "pytest", "flue serve", "flue build", "dist/my-bot.pyz"):
        assert command in readme
    assert "{{" not in readme and "{%" not in readme


@pytest.mark.parametrize("template", ["chat", "workflow"])
def test_generated_skills_pass_the_strict_check(tmp_path: Path, template: str) -> None:
    assert init(str(tmp_path / "p"), "-t", template).exit_code == 0
    assert [s.name for s in discover_skills(tmp_path / "p")] == [EXPECTED_SKILL[template]]
    assert check_skills(tmp_path / "p") == []  # not even a warning
    assert runner.invoke(app, ["skills", "check", "--root", str(tmp_path / "p")]).exit_code == 0


@pytest.mark.parametrize("template", ["chat", "workflow"])
def test_generated_tests_pass_offline(tmp_path: Path, template: str) -> None:
    assert init(str(tmp_path / "p"), "-t", template).exit_code == 0
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"],
        check=False,
        cwd=tmp_path / "p",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_refuses_a_non_empty_directory_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = init(str(tmp_path))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path} is not empty; run again with --force to write into it anyway"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_force_writes_into_it_and_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "flue.toml").write_text("old")
    assert init(str(tmp_path), "--force").exit_code == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert "[project]" in (tmp_path / "flue.toml").read_text()


def test_a_directory_with_only_git_counts_as_empty(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert init(str(tmp_path)).exit_code == 0


def test_json_error(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    result = runner.invoke(app, ["init", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[0]) == {
        "ok": False,
        "error": f"{tmp_path} is not empty; run again with --force to write into it anyway",
    }


def test_unknown_template_is_a_usage_error(tmp_path: Path) -> None:
    result = init(str(tmp_path / "p"), "-t", "nope")
    assert result.exit_code == 2
    assert not (tmp_path / "p").exists()


def test_invalid_name(tmp_path: Path) -> None:
    result = init(str(tmp_path / "p"), "--name", "bad name!")
    assert result.exit_code == 1
    assert "is not valid" in result.output


def test_plain_output_has_no_colour_codes_when_piped(tmp_path: Path) -> None:
    result = init(str(tmp_path / "p"))
    assert result.exit_code == 0
    assert "\x1b[" not in result.output
    assert "Created p" in result.output and "flue run hello" in result.output


def flue(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A subprocess: `flue run` imports the project's agents/ package, which must not leak into this process.
    return subprocess.run(
        [sys.executable, "-c", "from flue_py.cli import main; main()", *args],
        check=False,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("template", ["chat", "workflow"])
def test_flue_run_works_in_the_generated_project(tmp_path: Path, template: str) -> None:
    assert init(str(tmp_path / "p"), "-t", template).exit_code == 0
    done = flue("run", "hello", "-m", "hi", "--model", "test", "--json", cwd=tmp_path / "p")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["outcome"] == "completed"
    assert "(test model) You said: hi" in reply["reply"]
    assert (tmp_path / "p" / ".flue" / "flue.db").is_file()  # the store from flue.toml, relative to the project


def test_model_comes_from_flue_toml_then_environment_then_flag(tmp_path: Path) -> None:
    # Each step passes only if the winning source names the offline model; a loser names one nobody has.
    root = tmp_path / "p"
    assert init(str(root)).exit_code == 0
    template = (root / "flue.toml").read_text()
    (root / "flue.toml").write_text(template.replace('# model = "anthropic/claude-haiku-4-5"', 'model = "test"'))
    done = flue("run", "hello", "-m", "hi", cwd=root)
    assert done.returncode == 0, done.stderr
    (root / "flue.toml").write_text(template.replace('# model = "anthropic/claude-haiku-4-5"', 'model = "nope/x"'))
    done = flue("run", "hello", "-m", "hi", cwd=root, env={"FLUE_MODEL": "test"})
    assert done.returncode == 0, done.stderr
    done = flue("run", "hello", "-m", "hi", "--model", "test", cwd=root, env={"FLUE_MODEL": "nope/x"})
    assert done.returncode == 0, done.stderr


def test_flue_run_reports_a_bad_flue_toml_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert init(str(root)).exit_code == 0
    (root / "flue.toml").write_text("[server]\nport = 'x'\n")
    done = flue("run", "hello", "-m", "hi", "--model", "test", cwd=root)
    assert done.returncode == 2
    assert done.stderr == (
        "error: flue.toml: [server] port: Input should be a valid integer — set it to a number like 8000\n"
    )
