"""Cold start: how long a fresh process takes to import flue-py's API, print `flue --help`, answer its first
HTTP request under `flue serve`; next to importing pydantic-ai's and openai-agents' API.

Every command is a new `python` process, timed from spawn to exit (wall clock, parent side). The
commands are interleaved round by round so a load spike hits all of them alike; the table shows the
median and the minimum. `modules` is `len(sys.modules)` after the import.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench._util import PYTHON, REPO, child_env, fmt, heading, installed, machine, median, ratio, table

FLUE = str(Path(PYTHON).with_name("flue"))

FLUE_API = "from flue_py import Agent, Harness, tool"
PAI_API = "from pydantic_ai import Agent"
OAI_API = "from agents import Agent, Runner, function_tool"
COMMANDS: list[tuple[str, list[str], str]] = [
    # (label, argv, module that must be installed)
    ("python -c pass (interpreter)", [PYTHON, "-c", "pass"], "flue_py"),
    ('python -c "import flue_py"', [PYTHON, "-c", "import flue_py"], "flue_py"),
    (f'python -c "{FLUE_API}"', [PYTHON, "-c", FLUE_API], "flue_py"),
    ("flue --help", [FLUE, "--help"], "flue_py"),
    (f'python -c "{PAI_API}"', [PYTHON, "-c", PAI_API], "pydantic_ai"),
    (f'python -c "{OAI_API}"', [PYTHON, "-c", OAI_API], "agents"),
]
BASE = f'python -c "{FLUE_API}"'
"""The ratio base: what a user imports to write an agent (a bare `import flue_py` loads its API lazily)."""
MODULES = {
    'python -c "import flue_py"': "import flue_py",
    BASE: FLUE_API,
    f'python -c "{PAI_API}"': PAI_API,
    f'python -c "{OAI_API}"': OAI_API,
}
SERVE_LABEL = "flue serve: spawn -> first answered request (GET /)"
POST_LABEL = "flue serve: spawn -> first agent message admitted (POST)"


def time_command(argv: list[str]) -> float:
    """Seconds from spawn to exit; raises if the command fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, cwd=REPO, env=child_env(), check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[-1]!r} exited {proc.returncode}: {proc.stderr.decode()[-200:]}")
    return elapsed


def module_count(statement: str) -> int | None:
    code = f"import sys; {statement}; print(len(sys.modules))"
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=child_env(), check=False)
    return int(proc.stdout.strip()) if proc.returncode == 0 else None


# -- flue serve ---------------------------------------------------------------------------------


def serve_available() -> str | None:
    """None when `flue serve` can be measured, else why not."""
    if not (REPO / "flue_py" / "server" / "app.py").exists():
        return "n/a (server not built: no flue_py/server/app.py)"
    proc = subprocess.run([FLUE, "serve", "--help"], capture_output=True, text=True, env=child_env(), check=False)
    if proc.returncode != 0:
        return "n/a (server not built: `flue serve --help` fails)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post_message(port: int) -> int:
    """POST one message to the `hello` agent of a `flue init` project; returns the HTTP status."""
    body = json.dumps({"kind": "user", "body": "hi"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/agents/hello/bench-{port}",
        data=body,
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def time_serve(project: Path, help_text: str, timeout: float = 60.0) -> tuple[float, float, int]:
    """Seconds from spawning `flue serve` to its first HTTP response (any status) on GET /, and to the
    receipt of a first agent message right after; plus that POST's status code."""
    port = _free_port()
    argv = [FLUE, "serve", "--log-level", "warning"] if "--log-level" in help_text else [FLUE, "serve"]
    if "--port" in help_text:
        argv += ["--port", str(port)]
    if "--host" in help_text:
        argv += ["--host", "127.0.0.1"]
    env = child_env(PORT=str(port), FLUE_PORT=str(port))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-200:] if proc.stderr else ""
                raise RuntimeError(f"flue serve exited {proc.returncode}: {err}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    pass
            except urllib.error.HTTPError:  # any status code is an answer
                pass
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.01)
                continue
            first = time.perf_counter() - t0
            status = _post_message(port)
            return first, time.perf_counter() - t0, status
        raise RuntimeError(f"flue serve did not answer within {timeout:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_project() -> Path:
    project = Path(tempfile.mkdtemp(prefix="flue-serve-bench-"))
    subprocess.run(
        [FLUE, "init", str(project), "--force", "--model", "test"], capture_output=True, env=child_env(), check=True
    )
    return project


# -- main -------------------------------------------------------------------------------------------


def main(quick: bool = False) -> dict[str, list[float]]:
    rounds = 3 if quick else 9
    heading(
        "2. Cold start (fresh process each time, wall clock from spawn to exit)",
        f"{machine()}. {rounds} interleaved rounds; median (min) in seconds; ratio = median / `{FLUE_API}`\n"
        "(the import a user needs to write an agent; a bare `import flue_py` loads that API lazily).",
    )
    commands = [c for c in COMMANDS if installed(c[2]) is not None]
    missing = [c[0] for c in COMMANDS if installed(c[2]) is None]
    serve_note = serve_available()
    project: Path | None = None
    serve_help = ""
    if serve_note is None:
        serve_help = subprocess.run([FLUE, "serve", "--help"], capture_output=True, text=True, check=False).stdout
        try:
            project = make_project()
        except subprocess.CalledProcessError as exc:
            serve_note = f"n/a (flue init failed: exit {exc.returncode})"
    times: dict[str, list[float]] = {label: [] for label, _, _ in commands}
    errors: dict[str, str] = {}
    post_status: set[int] = set()
    if project is not None:
        times[SERVE_LABEL] = []
        times[POST_LABEL] = []
    for n in range(rounds):
        for label, argv, _ in commands:
            if label in errors:
                continue
            try:
                times[label].append(time_command(argv))
            except RuntimeError as exc:
                errors[label] = str(exc)
        if project is not None and SERVE_LABEL not in errors:
            try:
                first, posted, status = time_serve(project, serve_help)
                times[SERVE_LABEL].append(first)
                times[POST_LABEL].append(posted)
                post_status.add(status)
            except RuntimeError as exc:
                errors[SERVE_LABEL] = str(exc)
        print(f"  round {n + 1}/{rounds}", file=sys.stderr, flush=True)
    if project is not None:
        shutil.rmtree(project, ignore_errors=True)

    base = median(times.get(BASE, []))
    rows = []
    order = [c[0] for c in commands[:4]] + [SERVE_LABEL, POST_LABEL] + [c[0] for c in commands[4:]]
    for label in order:
        if label in (SERVE_LABEL, POST_LABEL) and project is None:
            rows.append([label, serve_note or "n/a", "", "", ""])
            continue
        if label == POST_LABEL and SERVE_LABEL in errors:
            continue
        if label in errors:
            rows.append([label, f"error: {errors[label][:120]}", "", "", ""])
            continue
        values = times[label]
        mods = module_count(MODULES[label]) if label in MODULES else None
        rows.append([label, fmt(median(values), 3), fmt(min(values), 3), ratio(median(values), base), str(mods or "")])
    for label in missing:
        rows.append([label, "not installed (pip install 'flue-py[bench]')", "", "", ""])
    print(table(["command", "median s", "min s", "vs flue-py API import", "modules"], rows))
    if post_status:
        print(f"\nPOST /agents/hello/<id> answered HTTP {', '.join(map(str, sorted(post_status)))} (the receipt).")
    return times


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "0")
    _cli()
