"""BashSandbox: the Sandbox contract, limits as results, responsiveness, recycling, snapshots, project copies."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flue_py.exceptions import SandboxError
from flue_py.sandbox import BashSandbox, ExecResult, Sandbox, SandboxLimits
from flue_py.sandbox._limits import LIMIT_NAMES


async def test_is_a_sandbox_with_seeded_files_in_cwd() -> None:
    sandbox = BashSandbox({"a.txt": "hello\n", "/etc/app.conf": "x=1\n", "dir/b.bin": b"\x00\x01"})
    assert isinstance(sandbox, Sandbox)
    result = await sandbox.exec("pwd; cat a.txt /etc/app.conf; wc -c < dir/b.bin")
    assert result == ExecResult("/workspace\nhello\nx=1\n2\n", "", 0, duration=result.duration)
    assert result.ok and result.limit_hit is None and not result.truncated
    assert result.duration > 0


def test_importing_the_package_does_not_load_bashkit() -> None:
    code = "import sys, flue_py.sandbox as s; assert 'bashkit' not in sys.modules; s.BashSandbox; assert 'bashkit' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_file_api_round_trip() -> None:
    sandbox = BashSandbox()
    await sandbox.write_file("notes/a.txt", "one\n")
    await sandbox.write_file("/data/blob.bin", bytes(range(256)))
    assert await sandbox.read_file("/workspace/notes/a.txt") == b"one\n"
    assert await sandbox.read_file("/data/blob.bin") == bytes(range(256))
    assert await sandbox.exists("notes/a.txt") and not await sandbox.exists("nope")
    assert await sandbox.list() == ["notes"]
    assert await sandbox.list("notes") == ["a.txt"]
    result = await sandbox.exec("cat notes/a.txt; echo two >> notes/a.txt")
    assert result.stdout == "one\n"
    assert await sandbox.read_file("notes/a.txt") == b"one\ntwo\n"
    await sandbox.remove("notes/a.txt")
    assert not await sandbox.exists("notes/a.txt")
    await sandbox.remove("notes", recursive=True)
    assert await sandbox.list() == []
    with pytest.raises(FileNotFoundError):
        await sandbox.read_file("missing.txt")
    with pytest.raises(FileNotFoundError):
        await sandbox.remove("missing.txt")
    with pytest.raises(IsADirectoryError):
        await sandbox.read_file("/data")
    with pytest.raises(NotADirectoryError):
        await sandbox.list("/data/blob.bin")


async def test_write_file_respects_file_size_limit() -> None:
    sandbox = BashSandbox(limits=SandboxLimits(file_size=100))
    with pytest.raises(SandboxError, match="file_size"):
        await sandbox.write_file("big.txt", "x" * 101)
    assert not await sandbox.exists("big.txt")


async def test_shell_state_persists_but_per_call_cwd_and_env_do_not_leak() -> None:
    sandbox = BashSandbox()
    await sandbox.exec("mkdir -p sub; cd sub; export KEEP=1; f() { echo fn; }")
    assert (await sandbox.exec("pwd; echo $KEEP; f")).stdout == "/workspace/sub\n1\nfn\n"
    once = await sandbox.exec("pwd; echo $ONLY", cwd="/tmp", env={"ONLY": "a b"})
    assert once.stdout == "/tmp\na b\n"
    after = await sandbox.exec('pwd; echo "[$ONLY]"')
    assert after.stdout == "/workspace/sub\n[]\n"
    missing = await sandbox.exec("echo unreachable", cwd="/no/such/dir")
    assert missing.exit_code != 0 and "unreachable" not in missing.stdout


async def test_stdin() -> None:
    sandbox = BashSandbox()
    result = await sandbox.exec("tr a-z A-Z; echo done", stdin="abc\nno newline")
    assert result.stdout == "ABC\nNO NEWLINEdone\n"  # stdin is passed byte for byte
    assert (await sandbox.exec("ls -A /tmp")).stdout == ""  # the stdin file is gone


async def test_nothing_of_the_host_environment_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUE_FAKE_SECRET", "s3cr3t-value-123")
    sandbox = BashSandbox(env={"VISIBLE": "yes"})
    result = await sandbox.exec("env; set; echo $FLUE_FAKE_SECRET; echo $VISIBLE")
    assert "s3cr3t-value-123" not in result.stdout + result.stderr
    assert "FLUE_FAKE_SECRET" not in result.stdout
    assert result.stdout.endswith("yes\n")


# -- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "limit"),
    [
        ("while true; do :; done", "commands"),
        ("f() { f; }; f", "function_depth"),
        ("awk 'BEGIN { while (1) { x++ } }'", "loop_iterations"),
        ("seq 1 3000000 2>/dev/null | tail -1", "loop_iterations"),
        ("echo x | sed ':a;ba'", "loop_iterations"),
        ("s=x; while true; do s=$s$s; done", "memory"),
        ("echo {1..3000000} | wc -c", "expansion"),
        ("yes | head -c 100000000 | wc -c", "output_bytes"),
    ],
)
async def test_each_limit_is_a_loud_result(script: str, limit: str) -> None:
    sandbox = BashSandbox(limits=SandboxLimits(commands=100_000, loop_iterations=100_000, wall_time=10))
    started = time.monotonic()
    result = await sandbox.exec(script)
    assert time.monotonic() - started < 8
    assert result.limit_hit == limit
    assert limit in LIMIT_NAMES
    assert result.exit_code != 0
    assert f"sandbox limit exceeded: {limit}" in result.stderr
    # The sandbox is still usable afterwards.
    assert (await sandbox.exec("echo ok")).stdout == "ok\n"


async def test_ordinary_agent_work_fits_the_default_limits() -> None:
    sandbox = BashSandbox()
    result = await sandbox.exec(
        "seq 50000 | tail -1; n=0; for i in $(seq 30000); do n=$((n+i)); done; echo $n;"
        " i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i;"
        " awk 'BEGIN { for (i = 0; i < 200000; i++) s += i; print s }'"
    )
    assert result.stdout == "50000\n450015000\n20000\n19999900000\n"
    assert result.exit_code == 0 and result.limit_hit is None


async def test_timeout_limit_ends_sleep_and_loops() -> None:
    sandbox = BashSandbox(limits=SandboxLimits(wall_time=1.0))
    started = time.monotonic()
    result = await sandbox.exec("echo before; sleep 30; echo after")
    assert time.monotonic() - started < 3
    assert result.limit_hit == "timeout" and result.exit_code != 0
    assert "sandbox limit exceeded: timeout" in result.stderr


async def test_per_call_timeout_is_tighter_than_the_limit() -> None:
    sandbox = BashSandbox()
    for script in ("sleep 20", "while true; do echo x > /dev/null; done"):
        started = time.monotonic()
        result = await sandbox.exec(script, timeout=0.5)
        assert time.monotonic() - started < 2.5
        assert result.limit_hit == "timeout" and result.exit_code != 0
    assert (await sandbox.exec("echo still-works")).stdout == "still-works\n"
    builtin = await sandbox.exec("timeout 0.2 sleep 5; echo rc=$?")
    assert builtin.stdout == "rc=124\n" and builtin.limit_hit is None


async def test_output_limit_truncates_with_a_marker_and_fails() -> None:
    sandbox = BashSandbox(limits=SandboxLimits(output_bytes=10_000))
    result = await sandbox.exec("seq 100000")
    assert result.truncated and result.limit_hit == "output_bytes" and result.exit_code != 0
    assert result.stdout.startswith("1\n2\n3\n")
    assert "[sandbox: output truncated" in result.stdout
    assert len(result.stdout.encode()) + len(result.stderr.encode()) < 10_000 + 500


async def test_filesystem_quotas_stricter_than_the_backend() -> None:
    sandbox = BashSandbox(limits=SandboxLimits(filesystem_bytes=200_000, file_size=50_000))
    big_file = await sandbox.exec("head -c 60000 /dev/zero > one.bin")
    assert big_file.limit_hit == "file_size" and big_file.exit_code != 0
    await sandbox.exec("rm one.bin")
    many = await sandbox.exec("for i in 1 2 3 4 5; do head -c 45000 /dev/zero > f$i.bin; done")
    assert many.limit_hit == "filesystem_bytes" and many.exit_code != 0
    await sandbox.exec("rm f*.bin")
    assert (await sandbox.exec("echo fine > small.txt")).limit_hit is None


async def test_backend_file_and_filesystem_ceilings_are_loud() -> None:
    sandbox = BashSandbox()
    result = await sandbox.exec(
        "x=$(head -c 1000000 /dev/zero | tr '\\0' x); for i in $(seq 12); do echo $x >> big; done"
    )
    assert result.limit_hit == "file_size" and result.exit_code != 0


# -- responsiveness ----------------------------------------------------------------------------


async def test_concurrent_scripts_never_block_the_event_loop() -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    sandboxes = [BashSandbox() for _ in range(6)]
    beat = asyncio.create_task(heartbeat())
    started = time.monotonic()
    results = await asyncio.gather(
        *(sb.exec("i=0; while [ $i -lt 15000 ]; do i=$((i+1)); done; echo $i") for sb in sandboxes),
        sandboxes[0].exec("sleep 0.3; echo slept"),
    )
    elapsed = time.monotonic() - started
    beat.cancel()
    assert [r.stdout for r in results[:6]] == ["15000\n"] * 6
    assert results[6].stdout == "slept\n"
    # A 10 ms heartbeat kept ticking through the whole run (a blocked loop would give ~0).
    assert ticks >= 0.3 * elapsed / 0.01


async def test_one_sandbox_runs_its_execs_one_at_a_time() -> None:
    sandbox = BashSandbox()
    results = await asyncio.gather(*(sandbox.exec(f"echo {i} >> log; wc -l < log") for i in range(20)))
    assert sorted(int(r.stdout) for r in results) == list(range(1, 21))


async def test_cancelling_an_exec_stops_the_script_and_keeps_the_sandbox() -> None:
    sandbox = BashSandbox()
    task = asyncio.create_task(sandbox.exec("echo started > mark; while true; do :; done"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    result = await sandbox.exec("cat mark")
    assert result.stdout == "started\n" and result.exit_code == 0


# -- lifetime, snapshots, projects ------------------------------------------------------------------


async def test_recycling_keeps_files_and_shell_state(monkeypatch: pytest.MonkeyPatch) -> None:
    rebuilt = []
    original = BashSandbox._recycle

    def counting(self: BashSandbox) -> None:
        rebuilt.append(self._bash)
        original(self)

    monkeypatch.setattr(BashSandbox, "_recycle", counting)
    sandbox = BashSandbox(limits=SandboxLimits(recycle_after=3))
    await sandbox.exec("export KEPT=yes; cd /tmp")
    for i in range(10):
        result = await sandbox.exec(f"echo {i} >> /workspace/log")
        assert result.ok
    assert len(rebuilt) == 3 and sandbox._bash not in rebuilt
    result = await sandbox.exec("wc -l < /workspace/log; echo $KEPT; pwd")
    assert result.stdout == "10\nyes\n/tmp\n"


async def test_more_execs_than_bashkit_standard_session_cap() -> None:
    # bashkit's Standard profile refuses the 1,001st execute() of an instance.
    sandbox = BashSandbox()
    for _ in range(1_050):
        result = await sandbox.exec("true")
    assert result.ok


async def test_snapshot_restore_into_another_sandbox() -> None:
    source = BashSandbox({"a.txt": "alpha\n"})
    await source.exec("mkdir -p deep/er && echo beta > deep/er/b.txt && ln -s a.txt link")
    data = await source.snapshot()
    assert isinstance(data, bytes) and data
    target = BashSandbox()
    await target.restore(data)
    result = await target.exec("cat /workspace/a.txt /workspace/deep/er/b.txt /workspace/link")
    assert result.stdout == "alpha\nbeta\nalpha\n"
    await target.exec("echo changed > /workspace/a.txt")
    assert (await source.read_file("a.txt")) == b"alpha\n"
    with pytest.raises(SandboxError):
        await target.restore(b"not a snapshot")


async def test_from_project_copies_files_and_writes_never_reach_the_host(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('hi')\n")
    (project / "README.md").write_text("# readme\n")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("git stuff\n")
    sandbox = BashSandbox.from_project(project)
    result = await sandbox.exec("cd /project && find . -type f | sort && cat src/main.py")
    assert result.stdout == "./README.md\n./src/main.py\nprint('hi')\n"
    write = await sandbox.exec(
        "echo changed > /project/README.md; echo new > /project/new.txt; rm /project/src/main.py"
    )
    assert write.ok
    assert (await sandbox.read_file("/project/README.md")) == b"changed\n"
    assert (project / "README.md").read_text() == "# readme\n"
    assert (project / "src" / "main.py").exists()
    assert not (project / "new.txt").exists()
    assert sorted(os.listdir(project)) == [".git", "README.md", "src"]


async def test_network_is_off_by_default() -> None:
    sandbox = BashSandbox()
    result = await sandbox.exec("curl -s https://example.com; echo rc=$?")
    assert "rc=0" not in result.stdout
    assert "network access not configured" in result.stderr


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="wall_time"):
        SandboxLimits(wall_time=0)
    with pytest.raises(ValueError, match="recycle_after"):
        SandboxLimits(recycle_after=0)
