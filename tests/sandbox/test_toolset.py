"""The built-in sandbox tools: what the model reads, the events they log, switching them off."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flue_py.events import SandboxExec
from flue_py.exceptions import ConfigError, SandboxError, ToolRetry
from flue_py.sandbox import BashSandbox
from flue_py.sandbox.toolset import MODEL_OUTPUT_CHARS, TOOL_NAMES, clip, sandbox_tools
from flue_py.tools import Tool, ToolContext

FILES = {"src/a.py": "def f():\n    return 1\n", "src/pkg/b.py": "x = 1  # TODO\n", "README.md": "# hi\nTODO: docs\n"}


def _ctx(sandbox: BashSandbox | None, events: list[Any] | None = None) -> ToolContext:
    async def emit(event: Any) -> None:
        assert events is not None
        events.append(event)

    return ToolContext(
        run="r1", session="s1", agent="coder", call_id="c1", sandbox=sandbox, emit=emit if events is not None else None
    )


def _tools(**kwargs: Any) -> dict[str, Tool]:
    return {t.name: t for t in sandbox_tools(**kwargs)}


def test_all_tools_with_schemas_and_disabling() -> None:
    tools = sandbox_tools()
    assert [t.name for t in tools] == list(TOOL_NAMES) == ["bash", "read", "write", "edit", "grep", "glob"]
    for tool in tools:
        spec = tool.spec()["function"]
        assert spec["description"]
        assert "ctx" not in spec["parameters"]["properties"]
    assert [t.name for t in sandbox_tools(disabled=["bash", "write"])] == ["read", "edit", "grep", "glob"]
    assert sandbox_tools(disabled=TOOL_NAMES) == []
    with pytest.raises(ConfigError, match="bsh"):
        sandbox_tools(disabled=["bsh"])


async def test_bash_tool_output_and_event() -> None:
    events: list[Any] = []
    ctx = _ctx(BashSandbox(FILES), events)
    out = await _tools()["bash"].call({"command": "ls src; echo oops >&2; exit 3"}, ctx)
    assert out == "a.py\npkg\noops\n[exit code 3]\n"
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, SandboxExec)
    assert (event.session, event.run, event.agent) == ("s1", "r1", "coder")
    assert event.command == "ls src; echo oops >&2; exit 3"
    assert (event.exit_code, event.stdout_bytes, event.stderr_bytes) == (3, 9, 5)
    assert event.limit_hit is None and not event.truncated


async def test_bash_tool_reports_limits_and_works_without_emit() -> None:
    ctx = _ctx(BashSandbox())
    out = await _tools()["bash"].call({"command": "sleep 10", "timeout": 0.3}, ctx)
    assert "[sandbox limit hit: timeout]" in out
    assert await _tools()["bash"].call({"command": "true"}, ctx) == "(no output)"


async def test_output_is_clipped_for_the_model_with_a_marker() -> None:
    events: list[Any] = []
    ctx = _ctx(BashSandbox(), events)
    out = await _tools()["bash"].call({"command": "seq 100000"}, ctx)
    assert len(out) < MODEL_OUTPUT_CHARS + 200
    assert out.startswith("1\n2\n3\n") and out.endswith("99999\n100000\n")
    assert "characters truncated ...]" in out
    assert events[0].stdout_bytes == len("".join(f"{i}\n" for i in range(1, 100001)))


def test_clip() -> None:
    assert clip("short") == "short"
    text = "".join(f"line {i}\n" for i in range(10_000))
    clipped = clip(text, 1000)
    cut = len(text) - 1000
    assert clipped.startswith(text[:600]) and clipped.endswith(text[-334:])
    assert f"[... {cut} characters truncated ...]" in clipped


async def test_read_write_edit() -> None:
    sandbox = BashSandbox(FILES)
    ctx = _ctx(sandbox)
    tools = _tools()
    assert await tools["read"].call({"path": "src/a.py"}, ctx) == "     1\tdef f():\n     2\t    return 1\n"
    numbered = "".join(f"l{i}\n" for i in range(1, 11))
    await tools["write"].call({"path": "deep/new/n.txt", "content": numbered}, ctx)
    assert (await sandbox.exec("cat deep/new/n.txt")).stdout == numbered
    page = await tools["read"].call({"path": "deep/new/n.txt", "offset": 3, "limit": 2}, ctx)
    assert page == "     3\tl3\n     4\tl4\n[6 more lines; read again with offset=5]\n"
    assert await tools["edit"].call({"path": "src/a.py", "old_string": "return 1", "new_string": "return 2"}, ctx)
    assert (await sandbox.read_file("src/a.py")) == b"def f():\n    return 2\n"
    await tools["write"].call({"path": "dup.txt", "content": "a a a"}, ctx)
    with pytest.raises(ToolRetry, match="3 times"):
        await tools["edit"].call({"path": "dup.txt", "old_string": "a", "new_string": "b"}, ctx)
    await tools["edit"].call({"path": "dup.txt", "old_string": "a", "new_string": "b", "replace_all": True}, ctx)
    assert (await sandbox.read_file("dup.txt")) == b"b b b"
    with pytest.raises(ToolRetry, match="not found"):
        await tools["edit"].call({"path": "dup.txt", "old_string": "zzz", "new_string": "y"}, ctx)
    with pytest.raises(ToolRetry, match="no such file"):
        await tools["read"].call({"path": "missing.txt"}, ctx)
    with pytest.raises(ToolRetry, match="directory"):
        await tools["read"].call({"path": "src"}, ctx)


async def test_grep_and_glob() -> None:
    events: list[Any] = []
    ctx = _ctx(BashSandbox(FILES), events)
    tools = _tools()
    out = await tools["grep"].call({"pattern": "TODO"}, ctx)
    assert sorted(out.splitlines()) == ["./README.md:2:TODO: docs", "./src/pkg/b.py:1:x = 1  # TODO"]
    assert await tools["grep"].call({"pattern": "todo", "include": "*.py", "ignore_case": True}, ctx) == (
        "./src/pkg/b.py:1:x = 1  # TODO\n"
    )
    assert await tools["grep"].call({"pattern": "nothing-here"}, ctx) == "no matches"
    assert await tools["glob"].call({"pattern": "**/*.py"}, ctx) == "src/a.py\nsrc/pkg/b.py\n"
    assert await tools["glob"].call({"pattern": "src/*.py"}, ctx) == "src/a.py\n"
    assert await tools["glob"].call({"pattern": "*.py", "path": "src/pkg"}, ctx) == "b.py\n"
    assert await tools["glob"].call({"pattern": "*.rs"}, ctx) == "no files match"
    # Tools never move the shell's working directory.
    assert (await ctx.sandbox.exec("pwd")).stdout == "/workspace\n"  # type: ignore[union-attr]
    assert all(isinstance(e, SandboxExec) for e in events) and len(events) == 7


async def test_abort_stops_a_running_command() -> None:
    sandbox = BashSandbox()
    ctx = _ctx(sandbox)
    call = asyncio.create_task(_tools()["bash"].call({"command": "while true; do :; done"}, ctx))
    await asyncio.sleep(0.2)
    ctx.abort.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(call, 3)
    assert (await sandbox.exec("echo ok")).stdout == "ok\n"


async def test_cancelling_the_tool_call_stops_the_command() -> None:
    sandbox = BashSandbox()
    call = asyncio.create_task(_tools()["bash"].call({"command": "while true; do :; done"}, _ctx(sandbox)))
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    result = await asyncio.wait_for(sandbox.exec("echo ok"), 3)
    assert result.stdout == "ok\n"


async def test_without_a_sandbox() -> None:
    with pytest.raises(SandboxError, match="no sandbox"):
        await _tools()["bash"].call({"command": "ls"}, _ctx(None))
