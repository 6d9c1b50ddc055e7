"""The built-in tools an agent gets when a sandbox is attached: bash, read, write, edit, grep, glob.

Each is a plain `Tool` whose function takes a `ToolContext` and acts on `ctx.sandbox`. What reaches the
model is clipped (head and tail kept, a visible marker in between) whatever the sandbox returned, and every
shell command a tool runs is summarized in the session as a `SandboxExec` event.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import shlex
from collections.abc import Iterable

from flue_py.events import SandboxExec
from flue_py.exceptions import ConfigError, SandboxError, ToolRetry
from flue_py.sandbox.base import ExecResult, Sandbox
from flue_py.tools import Tool, ToolContext

__all__ = ["TOOL_NAMES", "clip", "sandbox_tools"]

TOOL_NAMES = ("bash", "read", "write", "edit", "grep", "glob")
MODEL_OUTPUT_CHARS = 30_000
"""How much of one tool result the model reads; longer output keeps its head and tail."""


def clip(text: str, limit: int = MODEL_OUTPUT_CHARS) -> str:
    """Keep the first and last parts of `text` with a marker that says how much was cut."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters truncated ...]\n{text[-tail:]}"


def _sandbox(ctx: ToolContext) -> Sandbox:
    if ctx.sandbox is None:
        raise SandboxError("this agent has no sandbox attached")
    return ctx.sandbox


async def _run(ctx: ToolContext, command: str, *, timeout: float | None = None) -> ExecResult:
    """Exec in the sandbox, stop promptly if the run is aborted, and log a `SandboxExec` summary."""
    sandbox = _sandbox(ctx)
    task = asyncio.ensure_future(sandbox.exec(command, timeout=timeout))
    abort = asyncio.ensure_future(ctx.abort.wait())
    try:
        await asyncio.wait({task, abort}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # The tool call itself was cancelled: stop the script before letting the cancellation through.
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    finally:
        abort.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise asyncio.CancelledError("run aborted")
    result = task.result()
    if ctx.emit is not None:
        await ctx.emit(
            SandboxExec(
                session=ctx.session,
                run=ctx.run,
                agent=ctx.agent,
                command=command,
                exit_code=result.exit_code,
                stdout_bytes=len(result.stdout.encode()),
                stderr_bytes=len(result.stderr.encode()),
                truncated=result.truncated,
                limit_hit=result.limit_hit,
                duration=result.duration,
            )
        )
    return result


def _render(result: ExecResult) -> str:
    parts = [result.stdout]
    if result.stderr:
        parts.append(("" if not result.stdout or result.stdout.endswith("\n") else "\n") + result.stderr)
    if result.exit_code != 0:
        parts.append(f"[exit code {result.exit_code}]")
    if result.limit_hit:
        parts.append(f"[sandbox limit hit: {result.limit_hit}]")
    return clip("".join(p if p.endswith("\n") or not p else p + "\n" for p in parts)) or "(no output)"


async def bash(ctx: ToolContext, command: str, timeout: float | None = None) -> str:
    """Run a bash script in the sandbox and return its output.

    Files persist between calls, and so do the working directory and variables. There is no network and
    no real programs: commands are a built-in bash (coreutils, grep, sed, awk, jq, find, tar, ...).

    Args:
        command: The script to run, as you would type it into bash.
        timeout: Seconds before the script is stopped (it can only be shorter than the sandbox's limit).
    """
    return _render(await _run(ctx, command, timeout=timeout))


async def read(ctx: ToolContext, path: str, offset: int = 1, limit: int = 2000) -> str:
    """Read a text file, with line numbers.

    Args:
        path: File to read.
        offset: First line to show (1-based).
        limit: Most lines to show.
    """
    data = await _read_text(ctx, path)
    lines = data.splitlines()
    start = max(offset, 1)
    shown = lines[start - 1 : start - 1 + max(limit, 0)]
    body = "".join(f"{n:6}\t{line}\n" for n, line in enumerate(shown, start))
    rest = len(lines) - (start - 1 + len(shown))
    if rest > 0:
        body += f"[{rest} more lines; read again with offset={start + len(shown)}]\n"
    return clip(body) or "(empty file)"


async def _read_text(ctx: ToolContext, path: str) -> str:
    try:
        data = await _sandbox(ctx).read_file(path)
    except FileNotFoundError:
        raise ToolRetry(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ToolRetry(f"{path} is a directory; use glob or bash `ls` to list it") from None
    return data.decode(errors="replace")


async def write(ctx: ToolContext, path: str, content: str) -> str:
    """Create or overwrite a file (parent directories are created).

    Args:
        path: File to write.
        content: The complete new content.
    """
    await _sandbox(ctx).write_file(path, content)
    return f"wrote {len(content.encode())} bytes to {path}"


async def edit(ctx: ToolContext, path: str, old_string: str, new_string: str, replace_all: bool = False) -> str:
    """Replace exact text in a file.

    Args:
        path: File to edit.
        old_string: Text to find, exactly as it appears (include enough context to make it unique).
        new_string: Replacement text.
        replace_all: Replace every occurrence instead of requiring exactly one.
    """
    text = await _read_text(ctx, path)
    count = text.count(old_string) if old_string else 0
    if count == 0:
        raise ToolRetry(f"old_string was not found in {path}; read the file and copy the text exactly")
    if count > 1 and not replace_all:
        raise ToolRetry(f"old_string occurs {count} times in {path}; add context or set replace_all")
    await _sandbox(ctx).write_file(path, text.replace(old_string, new_string))
    return f"replaced {count if replace_all else 1} occurrence(s) in {path}"


async def grep(
    ctx: ToolContext, pattern: str, path: str = ".", include: str | None = None, ignore_case: bool = False
) -> str:
    """Search file contents with an extended regular expression; prints file:line:text for each match.

    Args:
        pattern: Extended regex (grep -E).
        path: File or directory to search (recursively).
        include: Only search files whose name matches this glob, e.g. "*.py".
        ignore_case: Match case-insensitively.
    """
    flags = "-rnE" + ("i" if ignore_case else "")
    command = f"grep {flags}"
    if include:
        command += f" --include={shlex.quote(include)}"
    command += f" -e {shlex.quote(pattern)} -- {shlex.quote(path)}"
    result = await _run(ctx, command)
    if result.exit_code == 1 and not result.stderr:
        return "no matches"
    return _render(result)


async def glob(ctx: ToolContext, pattern: str, path: str = ".") -> str:
    """List files whose path (relative to `path`) matches a glob; `**` matches any number of directories.

    Args:
        pattern: Glob such as "**/*.py" or "src/*.txt".
        path: Directory to search from.
    """
    # `find` from the given path, not `cd` into it: the shell's working directory persists between calls.
    result = await _run(ctx, f"find {shlex.quote(path)} -type f")
    if result.exit_code != 0:
        return _render(result)
    regex = _glob_regex(pattern)
    relative = (posixpath.relpath(line, path) for line in result.stdout.splitlines() if line)
    found = sorted(p for p in relative if regex.fullmatch(p))
    return clip("\n".join(found) + "\n") if found else "no files match"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """`**/` matches zero or more directories; `*` and `?` never cross `/`."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            parts.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


_FUNCS = {"bash": bash, "read": read, "write": write, "edit": edit, "grep": grep, "glob": glob}


def sandbox_tools(*, disabled: Iterable[str] = ()) -> list[Tool]:
    """The built-in sandbox tools, minus any named in `disabled`."""
    off = set(disabled)
    unknown = off - set(TOOL_NAMES)
    if unknown:
        raise ConfigError(f"unknown sandbox tool(s) {sorted(unknown)!r}; the names are {list(TOOL_NAMES)!r}")
    return [Tool(_FUNCS[name], name=name) for name in TOOL_NAMES if name not in off]
