"""`flue sessions list|show|tail` through typer's CliRunner, plus one real `tail` process and Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flue_py.cli.sessions import app
from flue_py.sessions import open_store
from flue_py.sessions.base import format_offset, session_path

runner = CliRunner()


def _seed(url: str, session: str, events: list[dict[str, object]], *, close: bool = False) -> None:
    async def go() -> None:
        store = open_store(url)
        try:
            await store.append(
                session_path(session), [json.dumps(e).encode() for e in events], stamp_seq=True, create=True
            )
            if close:
                await store.append(session_path(session), [], close=True)
        finally:
            await store.close()

    asyncio.run(go())


EVENTS: list[dict[str, object]] = [
    {"kind": "user_message", "agent": "support", "text": "hi"},
    {"kind": "text_delta", "text": "Hel"},
    {"kind": "text_delta", "text": "lo!"},
    {"kind": "run_settled", "outcome": "completed"},
]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/flue.db"


def test_list_and_show(url: str) -> None:
    _seed(url, "s1", EVENTS)
    _seed(url, "s2", EVENTS[:1], close=True)
    listed = runner.invoke(app, ["list", "--store", url])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.strip().splitlines()
    assert lines[0].startswith("s2\t1 events\tclosed") and lines[1].startswith("s1\t4 events\topen")
    as_json = runner.invoke(app, ["list", "--store", url, "--json"])
    assert [json.loads(line)["session"] for line in as_json.stdout.splitlines()] == ["s2", "s1"]

    shown = runner.invoke(app, ["show", "s1", "--store", url])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines() == [
        "[1] user_message support: hi",
        "Hello!",
        "[4] run_settled completed",
    ]
    resumed = runner.invoke(app, ["show", "s1", "--store", url, "--json", "--from", "2"])
    rows = [json.loads(line) for line in resumed.stdout.splitlines()]
    assert [(r["seq"], r["offset"]) for r in rows] == [(3, format_offset(3)), (4, format_offset(4))]
    by_offset = runner.invoke(app, ["show", "s1", "--store", url, "--json", "--from", format_offset(3)])
    assert [json.loads(line)["seq"] for line in by_offset.stdout.splitlines()] == [4]


def test_errors_are_one_line(url: str) -> None:
    missing = runner.invoke(app, ["show", "nope", "--store", url])
    assert missing.exit_code == 1 and "no session 'nope'" in missing.output
    bad = runner.invoke(app, ["show", "nope", "--store", url, "--from", "x,y"])
    assert bad.exit_code == 1 and "--from" in bad.output
    scheme = runner.invoke(app, ["list", "--store", "ftp://x"])
    assert scheme.exit_code == 1 and "unknown store URL scheme" in scheme.output
    assert "Traceback" not in missing.output + bad.output + scheme.output


def test_tail_stops_at_the_end_of_a_closed_session(url: str) -> None:
    _seed(url, "done", EVENTS, close=True)
    result = runner.invoke(app, ["tail", "done", "--store", url, "--json", "--from", "3"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["kind"] for line in result.stdout.splitlines()] == ["run_settled"]


def test_default_store_is_relative_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLUE_STORE", raising=False)
    _seed(f"sqlite:///{tmp_path}/.flue/flue.db", "here", EVENTS[:1])
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and result.stdout.startswith("here\t1 events")


@pytest.mark.slow
def test_tail_follows_another_process_and_exits_cleanly_on_ctrl_c(url: str) -> None:
    _seed(url, "live", EVENTS[:1])
    process = subprocess.Popen(
        [sys.executable, "-c", "from flue_py.cli.sessions import app; app()", "tail", "live", "--store", url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["seq"] == 1
        started = time.monotonic()
        _seed(url, "live", [{"kind": "user_message", "text": "from another process"}])
        second = json.loads(process.stdout.readline())
        assert second["seq"] == 2 and second["text"] == "from another process"
        assert time.monotonic() - started < 5  # the poll fallback noticed the other process's append
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert code in (0, 130), stderr
    assert "Traceback" not in stderr
