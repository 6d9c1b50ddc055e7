"""`flue --help` and `flue init` start fast: no model client, no web server, no template engine at CLI start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("litellm", "openai", "starlette", "uvicorn", "httpx", "aiohttp", "bashkit")

# Runs the real console entry point, then reports which top-level packages ended up imported.
WRAPPER = """
import json, sys
sys.argv = ["flue", *json.loads(sys.argv[1])]
from flue_py.cli import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nMODULES=" + json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def imported_by(args: list[str], cwd: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(args)],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


@pytest.mark.parametrize("args", [["--help"], ["init", "--help"], ["build", "--help"], ["run", "--help"]])
def test_help_imports_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    modules = imported_by(args, tmp_path)
    assert "typer" in modules  # the wrapper really ran the CLI
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "jinja2" not in modules


def test_init_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = imported_by(["init", str(tmp_path / "p"), "--json"], tmp_path)
    assert (tmp_path / "p" / "agents" / "hello.py").is_file()
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
