"""`flue run` as a user runs it: a real subprocess in a project directory, reply on stdout, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

FLUE = [sys.executable, "-m", "flue_py.cli"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "agents").mkdir()
    (tmp_path / "workflows").mkdir()
    (tmp_path / "agents" / "echo.py").write_text(
        textwrap.dedent(
            '''
            import asyncio
            from flue_py import Agent, tool
            from flue_py.testing import ScriptedModel

            @tool
            def shout(text: str) -> str:
                """Upper-case some text."""
                return text.upper()

            echo = Agent(name="echo", model="test", tools=[shout], sandbox=False, skills=[])
            slow = Agent(name="slow", model=ScriptedModel(["tick " * 2000], delay=0.01), sandbox=False, skills=[])
            paid = Agent(name="paid", model="anthropic/claude-sonnet-4-5", sandbox=False, skills=[])
            '''
        )
    )
    (tmp_path / "workflows" / "double.py").write_text(
        textwrap.dedent(
            '''
            from pydantic import BaseModel
            from flue_py import Context, workflow

            class In(BaseModel):
                n: int

            class Out(BaseModel):
                doubled: int

            @workflow
            async def double(ctx: Context, data: In) -> Out:
                return Out(doubled=data.n * 2)
            '''
        )
    )
    return tmp_path


def flue(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLUE, *args], cwd=project, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_agent_reply_on_stdout_and_session_in_sqlite(project):
    done = flue(project, "run", "echo", "-m", "hello there")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("(test model) You said: hello there")
    assert "shout returned: EXAMPLE" in done.stdout
    assert (project / ".flue" / "flue.db").exists()
    assert done.stderr == ""  # not a terminal: no live activity, no noise


def test_json_output_and_continuing_a_conversation(project):
    first = json.loads(flue(project, "run", "echo", "-m", "one", "--id", "c1", "--json").stdout)
    assert first["outcome"] == "completed" and first["session"] == "echo/c1"
    assert set(first) >= {"outcome", "reply", "session", "usage", "cost"}
    second = json.loads(flue(project, "run", "echo", "-m", "two", "--id", "c1", "--json").stdout)
    assert second["session"] == "echo/c1"
    assert second["reply"].startswith("(test model) You said: two")


def test_workflow_input_and_result(project):
    done = flue(project, "run", "double", "--input", '{"n": 21}', "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == {"doubled": 42}


def test_invalid_input_is_one_clear_line(project):
    done = flue(project, "run", "double", "--input", '{"n": "many"}')
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: invalid --input for workflow 'double': n: Input should be a valid integer, "
        "unable to parse string as an integer"
    )
    assert "Traceback" not in done.stderr


def test_unknown_name_lists_what_exists(project):
    done = flue(project, "run", "nobody", "-m", "hi")
    assert done.returncode == 2
    assert "no agent or workflow named 'nobody'" in done.stderr
    assert "found: double, echo, paid, slow" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_api_key_names_the_variable_and_fails(project):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run(
        [*FLUE, "run", "paid", "-m", "hi"], cwd=project, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 1
    assert "ANTHROPIC_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_model_override_runs_a_paid_agent_offline(project):
    done = flue(project, "run", "paid", "-m", "hi", "--model", "test")
    assert done.returncode == 0, done.stderr
    assert "You said: hi" in done.stdout


def _wait_for_streaming(project: Path, session: str, timeout: float = 60.0) -> None:
    """Block until the run has logged text (read from another process, as any client would)."""
    import asyncio

    from flue_py._session_log import SessionLog
    from flue_py.sessions.sqlite import SQLiteSessionStore

    async def poll() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (project / ".flue" / "flue.db").exists():
                store = SQLiteSessionStore(project / ".flue" / "flue.db")
                try:
                    if any(e.kind == "text_delta" for e in await SessionLog(store).read(session)):
                        return
                finally:
                    await store.close()
            await asyncio.sleep(0.1)
        raise AssertionError("the run never started streaming")

    asyncio.run(poll())


def test_ctrl_c_aborts_cleanly_with_exit_130(project):
    proc = subprocess.Popen(
        [*FLUE, "run", "slow", "-m", "go", "--id", "s1", "--json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_streaming(project, "slow/s1")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads(out)["outcome"] == "aborted"
    assert "Traceback" not in err


def test_help_does_not_import_litellm():
    code = "import sys; from flue_py.cli import app; import flue_py; print('litellm' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False"
