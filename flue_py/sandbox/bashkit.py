"""`BashSandbox`: the default sandbox, an in-process bash on a virtual filesystem (PyPI `bashkit`).

This is the only module that imports bashkit. It wraps the engine so that the promises of the `Sandbox` ABC
hold whatever bashkit's defaults are:

- Nothing of the host is visible: the filesystem is virtual, the environment is only what the caller
  passes, there are no processes, and there is no network unless an allow-list is given.
- Every exec runs under `SandboxLimits` (bashkit's `Interactive` profile lifts its per-instance caps; we set
  our own). A limit hit is a result with a non-zero exit, `limit_hit` and a stderr line naming it, never an
  exception and never a silent truncation. (Known gaps, kept as strict xfails in the conformance battery:
  bashkit's `/dev/zero` and `/dev/urandom` yield at most 1 MiB / 8 KiB per read without saying so. When a
  fatal limit ends a script, bashkit discards what it had printed; the result carries the limit message.)
- A script never blocks the event loop: bashkit runs it off the GIL, and `sleep` is an async builtin
  that also wakes up on timeout or abort.
- The instance is rebuilt from a snapshot every `recycle_after` execs, keeping files and shell state.

State rule: the filesystem and the shell state (cwd, variables, functions) persist across `exec` calls, as
in a terminal. A per-call `cwd`/`env` runs the script in a subshell, so it does not leak into later calls.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

# bashkit's interpreter recurses on the native stack for every nested `eval`, and a script can nest them
# without bound: on Rust's default 2 MiB thread stacks `s='eval "$s"'; eval "$s"` overflows the stack in
# about 200 levels and kills the whole process with a segfault. Rust sizes new threads from RUST_MIN_STACK
# (read once, then cached inside the engine), so the engine's threads get 1 GiB of lazily committed stack:
# the wall-time limit then ends such a script long before the stack runs out. The variable is set only
# around the engine's first threads (`_warm_up`), so child processes and other libraries never see it; a
# value the operator chose wins.
_SET_STACK = "RUST_MIN_STACK" not in os.environ
if _SET_STACK:
    os.environ["RUST_MIN_STACK"] = str(1 << 30)

import bashkit

from flue_py.exceptions import SandboxError
from flue_py.sandbox._braces import MAX_BRACE_WORDS, largest_brace_expansion
from flue_py.sandbox._limits import SandboxLimits
from flue_py.sandbox._ls import run_ls
from flue_py.sandbox._outcome import classify, limit_message
from flue_py.sandbox._paths import load_project, resolve, shell_quote
from flue_py.sandbox._seq import run_seq
from flue_py.sandbox.base import ExecResult, Sandbox

__all__ = ["BashSandbox"]


def _warm_up() -> None:
    """Start the engine's async threads now, while RUST_MIN_STACK is set, in a thread of our own."""

    async def run() -> None:
        await bashkit.Bash().execute("true")

    thread = threading.Thread(target=lambda: asyncio.run(run()), name="flue-sandbox-warm-up")
    thread.start()
    thread.join()


try:
    _warm_up()
finally:
    if _SET_STACK:
        os.environ.pop("RUST_MIN_STACK", None)

# bashkit's fixed ceilings; stricter SandboxLimits values are checked by this adapter after each exec.
_BACKEND_FILE_CAP = 10_000_000
_BACKEND_FS_CAP = 100_000_000
_STDIN_PATH = "/tmp/.flue-stdin"
_STDIN_REDIRECT = " < " + _STDIN_PATH
_SLEEP_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


# Python builtins are async on purpose: bashkit runs async callbacks on the caller's event loop, while a sync
# callback runs on an engine thread that must take the GIL. Registering any Python builtin has a price all the
# same: bashkit then takes the GIL on its own threads around every execute, about +0.7 ms per exec, and with
# 100 execs in flight at once the event loop's longest pause grew from ~20 ms to ~140 ms on a loaded 2-core
# machine (bench/sandbox.py). We pay it for loud `seq`, GNU `ls` and a `sleep` that stops on timeout/abort.
async def _ls_builtin(ctx: Any) -> Any:
    out, err, code = run_ls(ctx)
    return bashkit.BuiltinResult(stdout=out, stderr=err, exit_code=code)


class BashSandbox(Sandbox):
    """An isolated bash with a virtual filesystem, running in this process.

    Args:
        files: Initial files, `{path: content}`; relative paths are under `cwd`.
        cwd: The working directory scripts start in (created if missing).
        env: The whole environment scripts see (on top of bashkit's fixed HOME/USER/PATH); nothing is
            inherited from the host.
        limits: Budgets per exec; see `SandboxLimits`.
        network: URL prefixes `curl`/`wget` may reach. None (the default) means no network at all.
    """

    def __init__(
        self,
        files: Mapping[str, str | bytes] | None = None,
        *,
        cwd: str = "/workspace",
        env: Mapping[str, str] | None = None,
        limits: SandboxLimits | None = None,
        network: Iterable[str] | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self._cwd = cwd if cwd.startswith("/") else "/" + cwd
        self._env = dict(env or {})
        self._network = list(network) if network is not None else None
        self._hits: list[str] = []
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timed_out = False
        self._execs = 0
        self._lock = asyncio.Lock()
        self._bash = bashkit.Bash(cwd=self._cwd, env=self._env, **self._engine_kwargs())
        self._fs = self._bash.fs()
        self._fs.mkdir(self._cwd, recursive=True)
        for path, content in (files or {}).items():
            self._write(resolve(self._cwd, path), content)

    @classmethod
    def from_project(
        cls,
        root: str | os.PathLike[str],
        *,
        mount: str = "/project",
        exclude: Iterable[str] = (".git", ".venv", "node_modules", "__pycache__"),
        **kwargs: Any,
    ) -> BashSandbox:
        """A sandbox holding a copy of the host directory `root` at `mount`.

        Reads see the project; writes stay in the sandbox and never reach the host. Symlinks that lead
        out of `root` are not copied, and nothing outside `root` is ever opened. Files larger than the
        file-size limit are left out.
        """
        sandbox = cls(**kwargs)
        for path, data in load_project(root, mount, exclude=frozenset(exclude), max_file=sandbox.limits.file_size):
            sandbox._write(path, data)
        return sandbox

    # -- engine --------------------------------------------------------------------------------

    def _engine_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "profile": bashkit.ExecutionProfile.Interactive,
            "max_commands": self.limits.commands,
            "max_loop_iterations": self.limits.loop_iterations,
            "max_memory": self.limits.variable_bytes,
            "timeout_seconds": self.limits.wall_time,
            # Replacements for bashkit commands: `seq` fails loudly at the limit, `sleep` wakes on timeout
            # or abort, and `ls` prints GNU's format (see _ls.py).
            "custom_builtins": {"seq": self._seq_builtin, "sleep": self._sleep_builtin, "ls": _ls_builtin},
        }
        if self._network is not None:
            kwargs["network"] = {"allow": self._network}
        return kwargs

    async def _seq_builtin(self, ctx: Any) -> Any:
        out, err, code = run_seq(list(ctx.argv), self.limits.loop_iterations, self._hits.append)
        return bashkit.BuiltinResult(stdout=out, stderr=err, exit_code=code)

    async def _sleep_builtin(self, ctx: Any) -> Any:
        total = 0.0
        for arg in ctx.argv:
            number, unit = (arg[:-1], arg[-1]) if arg[-1:] in "smhd" else (arg, "")
            try:
                total += float(number) * _SLEEP_UNITS[unit]
            except ValueError:
                return bashkit.BuiltinResult(stderr=f"sleep: invalid time interval '{arg}'\n", exit_code=1)
        if not ctx.argv:
            return bashkit.BuiltinResult(stderr="sleep: missing operand\n", exit_code=1)
        wake = self._wake
        # Wait on the exec's wake event so a timeout or abort ends a sleep at once; bashkit's own deadline
        # (wall_time) also drops this coroutine.
        if wake is None:
            await asyncio.sleep(total)
        else:
            with suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=total)
        return bashkit.BuiltinResult()

    def _recycle(self) -> None:
        """Rebuild the engine from its own snapshot, ahead of any per-instance lifetime cap."""
        data = self._bash.snapshot()
        self._bash = bashkit.Bash.from_snapshot(data, **self._engine_kwargs())
        self._fs = self._bash.fs()
        self._execs = 0

    # -- exec ----------------------------------------------------------------------------------

    async def exec(
        self,
        script: str,
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run a bash script. Never raises for anything the script does; limits come back as results."""
        async with self._lock:
            if self._execs >= self.limits.recycle_after:
                self._recycle()
            self._execs += 1
            try:
                wrapped = self._wrap(script, cwd, env, stdin)
            except Exception as exc:  # noqa: BLE001 - a result, never an exception into the harness
                return ExecResult("", f"sandbox error: {exc}\n", 1)
            result = await self._exec_locked(wrapped, timeout)
            if result.limit_hit is None and (words := largest_brace_expansion(script)) > MAX_BRACE_WORDS:
                detail = f"a brace expansion makes {words} words; the sandbox makes at most {MAX_BRACE_WORDS}"
                stderr = result.stderr + limit_message("expansion", detail)
                return replace(result, stderr=stderr, exit_code=result.exit_code or 1, limit_hit="expansion")
            return result

    def _wrap(self, script: str, cwd: str | None, env: dict[str, str] | None, stdin: str | None) -> str:
        if cwd is not None or env:
            lines = [f"cd -- {shell_quote(cwd)} || exit 1"] if cwd is not None else []
            lines += [
                f"export {name}={shell_quote(value)}" for name, value in (env or {}).items() if name.isidentifier()
            ]
            script = "(\n" + "\n".join(lines) + "\n" + script + "\n)"
        if stdin is not None:
            self._fs.write_file(_STDIN_PATH, stdin.encode())
            script = "{\n" + script + "\n}" + _STDIN_REDIRECT
        return script

    async def _exec_locked(self, script: str, timeout: float | None) -> ExecResult:
        loop = self._loop = asyncio.get_running_loop()
        self._hits = []
        self._timed_out = False
        self._wake = asyncio.Event()
        bash = self._bash
        timer = None
        if timeout is not None and timeout < self.limits.wall_time:
            timer = loop.call_later(max(timeout, 0.0), self._expire)
        started = time.perf_counter()

        async def run() -> Any:
            # No `on_output` callback: it costs a GIL round trip per printed line (a chatty loop ran 5x slower).
            return await bash.execute(script)

        task = asyncio.ensure_future(run())
        try:
            raw = await asyncio.shield(task)
        except asyncio.CancelledError:
            # Abort: stop the engine at its next command boundary, wait for it, and leave it reusable.
            self._stop(bash)
            with suppress(BaseException):
                await task
            bash.clear_cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the engine raises must not escape into the harness
            bash.clear_cancel()
            return ExecResult("", f"sandbox error: {exc}\n", 1, duration=time.perf_counter() - started)
        finally:
            if timer is not None:
                timer.cancel()
            self._wake = None
            if script.endswith(_STDIN_REDIRECT):
                with suppress(Exception):
                    self._fs.remove(_STDIN_PATH)
        if self._timed_out:
            bash.clear_cancel()
        return self._result(raw, timeout, time.perf_counter() - started)

    def _expire(self) -> None:
        self._timed_out = True
        self._stop(self._bash)

    def _stop(self, bash: Any) -> None:
        """Cancel the engine (thread-safe) and wake a sleeping script; may run on an engine thread."""
        bash.cancel()
        wake, loop = self._wake, self._loop
        if wake is not None and loop is not None:
            loop.call_soon_threadsafe(wake.set)

    def _result(self, raw: Any, timeout: float | None, duration: float) -> ExecResult:
        stdout, stderr, code = raw.stdout, raw.stderr, raw.exit_code
        error = raw.error
        limit: str | None = None
        detail = ""
        if self._timed_out:
            limit, detail = "timeout", f"exec ran longer than {timeout:g}s"
        elif self._hits:
            limit, detail = self._hits[0], "see stderr"
        else:
            found = classify(error, stderr)
            if found:
                limit, detail = found
        truncated = bool(raw.stdout_truncated or raw.stderr_truncated)
        if stderr and not stderr.endswith("\n"):
            stderr += "\n"
        if error and error not in stderr:
            stderr += error + ("" if error.endswith("\n") else "\n")
        cap = self.limits.output_bytes
        out_bytes, err_bytes = stdout.encode(), stderr.encode()
        if len(out_bytes) + len(err_bytes) > cap or truncated:
            truncated = True
            limit = limit or "output_bytes"
            keep_err = min(len(err_bytes), cap // 4)
            keep_out = max(cap - keep_err, 0)
            dropped = max(len(out_bytes) - keep_out, 0) + max(len(err_bytes) - keep_err, 0)
            stdout = out_bytes[:keep_out].decode(errors="ignore")
            stderr = err_bytes[:keep_err].decode(errors="ignore")
            stdout += f"\n[sandbox: output truncated, {dropped} bytes dropped; limit output_bytes={cap}]\n"
            detail = detail or f"output longer than {cap} bytes"
        if limit is None:
            limit, detail = self._quota_hit()
        if limit is not None:
            stderr += limit_message(limit, detail)
            if code == 0:
                code = 1
        return ExecResult(stdout, stderr, code, truncated=truncated, limit_hit=limit, duration=duration)

    def _quota_hit(self) -> tuple[str | None, str]:
        """Stricter-than-backend filesystem quotas are checked after the fact (the backend enforces its own)."""
        if self.limits.file_size >= _BACKEND_FILE_CAP and self.limits.filesystem_bytes >= _BACKEND_FS_CAP:
            return None, ""
        total, biggest = self._usage()
        if biggest > self.limits.file_size:
            return "file_size", f"a file has {biggest} bytes, limit {self.limits.file_size}"
        if total > self.limits.filesystem_bytes:
            return "filesystem_bytes", f"files use {total} bytes, limit {self.limits.filesystem_bytes}"
        return None, ""

    def _usage(self) -> tuple[int, int]:
        total = biggest = 0
        stack = ["/"]
        while stack:
            directory = stack.pop()
            for entry in self._fs.read_dir(directory):
                meta, path = entry["metadata"], directory.rstrip("/") + "/" + entry["name"]
                if meta["file_type"] == "directory" and path not in ("/dev", "/proc"):
                    stack.append(path)
                elif meta["file_type"] == "file":
                    total += meta["size"]
                    biggest = max(biggest, meta["size"])
        return total, biggest

    # -- files ---------------------------------------------------------------------------------

    def _abs(self, path: str) -> str:
        return resolve(self._bash.shell_state().cwd if not path.startswith("/") else "/", path)

    def _write(self, path: str, content: str | bytes) -> None:
        data = content.encode() if isinstance(content, str) else bytes(content)
        if len(data) > min(self.limits.file_size, _BACKEND_FILE_CAP):
            raise SandboxError(f"{path!r} has {len(data)} bytes; sandbox limit file_size is {self.limits.file_size}")
        parent = path.rsplit("/", 1)[0] or "/"
        try:
            self._fs.mkdir(parent, recursive=True)
            self._fs.write_file(path, data)
        except Exception as exc:
            raise SandboxError(f"cannot write {path!r}: {exc}") from exc

    async def read_file(self, path: str) -> bytes:
        full = self._abs(path)
        if not self._fs.exists(full):
            raise FileNotFoundError(path)
        if self._fs.stat(full)["file_type"] == "directory":
            raise IsADirectoryError(path)
        return await asyncio.to_thread(self._fs.read_file, full)

    async def write_file(self, path: str, content: str | bytes) -> None:
        self._write(self._abs(path), content)

    async def list(self, path: str = ".") -> list[str]:
        full = self._abs(path)
        if not self._fs.exists(full):
            raise FileNotFoundError(path)
        if self._fs.stat(full)["file_type"] != "directory":
            raise NotADirectoryError(path)
        return sorted(entry["name"] for entry in self._fs.read_dir(full))

    async def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._abs(path)))

    async def remove(self, path: str, *, recursive: bool = False) -> None:
        full = self._abs(path)
        if not self._fs.exists(full):
            raise FileNotFoundError(path)
        try:
            self._fs.remove(full, recursive=recursive)
        except Exception as exc:
            raise SandboxError(f"cannot remove {path!r}: {exc}") from exc

    async def snapshot(self) -> bytes:
        async with self._lock:
            return bytes(await asyncio.to_thread(self._bash.snapshot))

    async def restore(self, data: bytes) -> None:
        async with self._lock:
            try:
                self._bash = bashkit.Bash.from_snapshot(bytes(data), **self._engine_kwargs())
            except Exception as exc:
                raise SandboxError(f"cannot restore sandbox snapshot: {exc}") from exc
            self._fs = self._bash.fs()
            self._execs = 0

    async def close(self) -> None:
        """Drop the engine; the sandbox holds nothing else."""
