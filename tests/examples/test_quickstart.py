"""The README's example project runs as documented: agent and workflow, offline, sessions in SQLite."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flue_py.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_quickstart_agent_uses_its_tools_offline(tmp_path):
    project = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".flue"))
    done = run(project, "run", "support", "-m", "Where is order A-1001?", "--model", "test", "--json")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)["reply"]
    assert '"status": "shipped"' in reply and '"amount": 42.5' in reply
    assert (project / ".flue" / "flue.db").exists()


def test_quickstart_workflow_returns_a_typed_result(tmp_path):
    project = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".flue"))
    done = run(project, "run", "triage", "--input", '{"title": "t", "body": "b"}', "--model", "test", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == {"label": "example", "priority": 1}


def test_quickstart_skill_is_strictly_valid():
    done = run(EXAMPLE, "skills", "check")
    assert done.returncode == 0, done.stdout + done.stderr
