"""`flue serve` honours PORT and defaults its store into the project; `flue dev` reloads on file changes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server._project import free_port, write_project

pytestmark = pytest.mark.slow


def _wait_for(url: str, predicate, timeout: float = 30.0) -> httpx.Response:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2)
            if predicate(last):
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never satisfied the condition (last: {last and last.text})")


def _flue(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from flue_py.cli import main; main()", *args]
    return subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def test_serve_uses_port_env_and_the_project_store(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    port = free_port()
    proc = _flue("serve", cwd=root, env={"PORT": str(port)})
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(f"{url}/api/sessions", lambda r: r.status_code == 200)
        r = httpx.post(f"{url}/agents/chat/cli", json={"kind": "user", "body": "hi"})
        assert r.status_code == 202
    finally:
        proc.terminate()
        proc.wait(15)
    assert (root / ".flue" / "flue.db").is_file()


def test_dev_reloads_when_an_agent_changes(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    port = free_port()
    proc = _flue("dev", "--port", str(port), cwd=root, env={})
    try:
        url = f"http://127.0.0.1:{port}/api/sessions"
        _wait_for(url, lambda r: r.status_code == 200 and r.json()["agents"] == ["chat"])
        (root / "agents" / "helper.py").write_text(
            'from flue_py import Agent\nhelper = Agent(name="helper", model="test", sandbox=False, skills=[])\n'
        )
        _wait_for(url, lambda r: r.status_code == 200 and r.json()["agents"] == ["chat", "helper"])
    finally:
        proc.terminate()
        proc.wait(15)
