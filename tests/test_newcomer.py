"""The newcomer's path, end to end: install, flue init, the project's own tests, flue run, flue build, and
the artifact serving HTTP from somewhere else with a clean environment and a Python that has nothing installed.

How the fresh venv gets its dependencies (kept fast and honest): flue-py itself is a real, non-editable
`pip install --no-deps` of this checkout (so the wheel's packaged templates and skills are what is tested).
Its dependencies are the already-resolved set of this checkout's environment, made visible to the new venv
by a path line in a `.pth` file. Only the path is added: the dev environment's own `.pth` hooks (its
editable flue-py among them) are not processed, so `import flue_py` resolves to the fresh install.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[1]
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def run(command: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(c) for c in command], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def newcomer_env(venv: Path) -> dict[str, str]:
    """What a newcomer's shell looks like after `source .venv/bin/activate`: no API keys, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith(("FLUE_", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(method: str, url: str, body: dict[str, object] | None = None) -> tuple[int, str, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read()


def test_newcomer_path(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([BASE_PYTHON, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).strip())
    (site / "_flue_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([python, "-m", "pip", "install", "-q", "--no-deps", CHECKOUT], cwd=tmp_path, timeout=600)
    env = newcomer_env(venv)
    where = run([python, "-c", "import flue_py; print(flue_py.__file__)"], cwd=tmp_path, env=env)
    assert where.startswith(str(site)), f"flue_py must come from the fresh install, not {where}"

    # flue init, then the project's own tests, offline.
    flue = venv / "bin" / "flue"
    run([flue, "init", "demo"], cwd=tmp_path, env=env)
    demo = tmp_path / "demo"
    run([flue, "skills", "check"], cwd=demo, env=env)
    tests = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"], cwd=demo, env=env)
    assert " passed" in tests and "failed" not in tests

    # flue run prints a reply.
    reply = run([flue, "run", "hello", "-m", "hi", "--model", "test"], cwd=demo, env=env)
    assert "(test model) You said: hi" in reply

    # flue build: one file. Move it away and hide the project: the artifact must not need either.
    built = json.loads(run([flue, "build", "--json"], cwd=demo, env=env, timeout=900))
    assert built["ok"] and built["artifact"] == str(demo / "dist" / "demo.pyz")
    elsewhere = tmp_path / "deploy"
    elsewhere.mkdir()
    artifact = Path(shutil.move(built["artifact"], elsewhere / "demo.pyz"))
    demo.rename(tmp_path / "demo-hidden")

    # "A machine with only the same Python": a venv without pip or site packages, and an empty environment.
    bare = tmp_path / "bare"
    run([BASE_PYTHON, "-m", "venv", "--without-pip", bare], cwd=tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(home), "FLUE_MODEL": "test"}  # the test model keeps it offline
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(bare / "bin" / "python"), str(artifact), "--port", str(port)],
        cwd=elsewhere,
        env=clean,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        status, kind, body = 0, "", b""
        deadline = time.monotonic() + 180  # the first start unpacks the artifact
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                status, kind, body = request("GET", f"http://127.0.0.1:{port}/")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert status == 200, (status, body[:300], (tmp_path / "server.log").read_text()[-2000:])
        assert kind.startswith("text/html") and b"<!doctype html" in body.lower()
        status, kind, body = request("POST", f"http://127.0.0.1:{port}/agents/hello/x", {"kind": "user", "body": "hi"})
        assert status == 202, (status, body[:500])
        # The run really happens inside the artifact (the offline model answers): the snapshot shows the reply.
        deadline = time.monotonic() + 60
        while b"You said: hi" not in body and time.monotonic() < deadline:
            time.sleep(0.5)
            status, kind, body = request("GET", f"http://127.0.0.1:{port}/agents/hello/x")
        assert b"You said: hi" in body, (status, body[:1000])
        # Data goes where the artifact was started, not into the unpacked cache.
        assert (elsewhere / ".flue" / "flue.db").exists()
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
