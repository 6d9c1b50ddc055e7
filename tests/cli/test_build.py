"""`flue build`: what goes into the artifact, what stays out, and (slow) that the artifact runs on a bare Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flue_py.cli import app
from flue_py.cli.build import BuildError, _dockerfile, _project_requirements, _stage_project, collect_distributions

runner = CliRunner()


def test_closure_has_the_runtime_and_not_the_build_tools() -> None:
    found = collect_distributions(["flue-py"])
    for needed in ("flue-py", "pydantic", "pydantic-core", "litellm", "starlette", "uvicorn", "bashkit", "typer"):
        assert needed in found
    assert not {"shiv", "pip", "setuptools"} & set(found)
    assert "pytest" not in found  # a test extra, not requested


def test_markers_of_extras_are_honoured() -> None:
    # flue-py[test] pulls pytest in; plain flue-py (above) does not.
    assert "pytest" in collect_distributions(["flue-py[test]"])


def test_a_missing_requirement_is_one_line_with_the_fix() -> None:
    with pytest.raises(BuildError) as info:
        collect_distributions(["flue-py", "surely-not-installed-pkg"])
    assert str(info.value) == (
        "surely-not-installed-pkg (needed by the project) is not installed here — pip install 'surely-not-installed-pkg'"
    )


def test_requirements_txt_and_redis_store_add_roots(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# tools\nrich>=13  # pretty\n-r other.txt\n\n")
    assert _project_requirements(tmp_path, "sqlite:///.flue/flue.db") == ["flue-py", "rich>=13"]
    assert _project_requirements(tmp_path, "redis://localhost")[0] == "flue-py[redis]"


def test_the_project_goes_in_without_secrets_tests_or_outputs(tmp_path: Path) -> None:
    root = tmp_path / "p"
    for name in (
        "agents/hello.py",
        "agents/__pycache__/hello.cpython-311.pyc",
        "skills/s/SKILL.md",
        "flue.toml",
        ".env",
        ".env.local",
        ".env.example",
        "tests/test_x.py",
        ".flue/flue.db",
        "dist/old.pyz",
        ".git/HEAD",
        "out/p.pyz",
        "README.md",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    site = tmp_path / "site"
    _stage_project(root, site, output=root / "out" / "p.pyz")
    staged = sorted(p.relative_to(site / "_flue_project").as_posix() for p in site.rglob("*") if p.is_file())
    assert staged == [".env.example", "README.md", "agents/hello.py", "flue.toml", "skills/s/SKILL.md"]


def test_dockerfile_matches_this_python() -> None:
    text = _dockerfile("demo.pyz")
    assert f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim" in text
    assert 'CMD ["python", "/app/demo.pyz"]' in text and "FLUE_HOST=0.0.0.0" in text


def test_build_refuses_a_project_with_nothing_to_serve(tmp_path: Path) -> None:
    (tmp_path / "flue.toml").write_text('[project]\nname = "empty"\n')
    result = runner.invoke(app, ["build", "--project", str(tmp_path), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[0])["error"].endswith(
        "no agents or workflows to serve — add one to agents/ (or run flue init)"
    )


def test_build_reports_a_bad_flue_toml(tmp_path: Path) -> None:
    (tmp_path / "flue.toml").write_text("[server]\nport = 'x'\n")
    result = runner.invoke(app, ["build", "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: flue.toml: [server] port: Input should be a valid integer — set it to a number like 8000"
    )


@pytest.mark.slow
def test_the_artifact_runs_on_a_bare_python(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    assert runner.invoke(app, ["init", str(root), "-t", "workflow"]).exit_code == 0
    done = subprocess.run(
        [sys.executable, "-c", "from flue_py.cli import main; main()", "build", "--json", "--dockerfile"],
        check=False,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout)
    assert built["artifact"] == str(root / "dist" / "shop.pyz")
    assert built["agents"] == ["hello"] and built["workflows"] == ["review"]
    assert (root / "dist" / "Dockerfile").is_file()
    bare = tmp_path / "bare"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(bare)], check=True)
    (tmp_path / "home").mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "PORT": "9123"}
    check = subprocess.run(
        [str(bare / "bin" / "python"), built["artifact"], "--check"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr
    assert (
        check.stdout.strip()
        == f"shop: hello, review on http://127.0.0.1:9123 (store sqlite:///{tmp_path}/.flue/flue.db)"
    )
    assert not os.path.exists(tmp_path / ".flue")  # --check opens nothing
