"""Running the node clients in e2e/ from pytest. Missing node_modules is a failure with the fix, never a skip."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

E2E = Path(__file__).resolve().parents[2] / "e2e"


def require_node_modules(*packages: str) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: install Node 20+ (apt-get install -y nodejs npm)")
    for package in packages:
        if not (E2E / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"e2e/node_modules/{package} is missing: run `npm ci --prefix e2e`")
    return node


def require_chromium() -> str:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: run `apt-get install -y chromium`")
    return found


def run_node(
    script: str, *args: str, timeout: float = 120, packages: tuple[str, ...] = ("@flue/sdk",)
) -> dict[str, Any]:
    node = require_node_modules(*packages)
    proc = subprocess.run(
        [node, str(E2E / script), *args], capture_output=True, text=True, timeout=timeout, cwd=E2E, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{script} printed no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert proc.returncode == 0 and "error" not in result, f"{script} failed: {result.get('error')}\n{proc.stderr}"
    return result
