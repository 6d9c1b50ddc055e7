"""The escape and limits battery: every attempt must end contained.

Contained means: `exec` returns a result (never raises), within a bounded time; no host secret (file or
environment) appears in the output; the host scratch tree is byte-for-byte unchanged and no marker file
appears on the host; nothing connects to a listening host socket; and the sandbox still works afterwards.
Runaway scripts must also end loudly: a non-zero exit and `limit_hit` naming the limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flue_py.sandbox import BashSandbox, SandboxLimits

SECRET = "flue-host-secret-7f3a9c"
ENV_SECRET = "flue-env-secret-c41d22"
LIMITS = SandboxLimits(wall_time=1.5, commands=100_000, loop_iterations=100_000)
MAX_SECONDS = 6.0


def _tree_digest(root: Path) -> dict[str, str]:
    digest: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            digest[key] = "link:" + os.readlink(path)
        elif path.is_file():
            digest[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            digest[key] = "dir"
    return digest


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A host scratch tree: a secret file and dir beside a project whose symlinks point out of it."""
    monkeypatch.setenv("FLUE_TEST_SECRET", ENV_SECRET)
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    (tmp_path / "secretdir").mkdir()
    (tmp_path / "secretdir" / "inner.txt").write_text(SECRET + "\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "ok.txt").write_text("fine\n")
    (project / "rel_link").symlink_to("../secret.txt")
    (project / "abs_link").symlink_to(tmp_path / "secret.txt")
    (project / "dir_link").symlink_to("../secretdir")
    yield tmp_path


def _listener() -> tuple[socket.socket, list[object]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[object] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, accepted


# (id, script, runaway). Placeholders: {host} = the host scratch dir, {port} = a listening host port.
ATTEMPTS: list[tuple[str, str, bool]] = [
    # host files and /proc
    ("host_abs_path", "cat {host}/secret.txt; ls {host}; cat {host}/secretdir/inner.txt", False),
    ("host_dotdot", "cd /; cat ../../../..{host}/secret.txt; cd /workspace/../../..; ls", False),
    ("etc_passwd", "cat /etc/passwd /etc/shadow /etc/hostname; ls /root /home", False),
    ("proc_self", "cat /proc/self/environ /proc/self/cmdline /proc/1/environ /proc/self/maps; ls /proc", False),
    ("dev_files", "cat /dev/mem /dev/sda 2>&1 | head -c 100; ls /dev", False),
    # environment
    ("env_dump", "env; set; declare -p; printenv; export -p; echo $FLUE_TEST_SECRET", False),
    ("env_indirect", 'for v in $(compgen -v); do echo "$v=${!v}"; done; echo ${!FLUE*}', False),
    # mounts: `..` and symlinks out of the project copy
    ("mount_dotdot", "cat /project/../secret.txt /project/../../{host}/secret.txt; ls /project/..", False),
    ("mount_symlinks", "cat /project/rel_link /project/abs_link /project/dir_link/inner.txt; ls -la /project", False),
    (
        "new_symlink_out",
        "ln -s {host}/secret.txt /workspace/l; cat /workspace/l; ln -s ../../../..{host} d; ls d",
        False,
    ),
    (
        "write_host_path",
        "echo pwned > {host}/pwned.txt; mkdir -p {host}/newdir; rm -rf {host}/secretdir; ls {host}",
        False,
    ),
    (
        "write_via_mount_dotdot",
        "echo pwned > /project/../pwned.txt; echo pwned > /project/rel_link; ls /project/..",
        False,
    ),
    # network
    ("curl_wget", "curl -s http://127.0.0.1:{port}/; wget -q -O- http://127.0.0.1:{port}/; echo done", False),
    ("dev_tcp", "exec 3<>/dev/tcp/127.0.0.1/{port}; echo hi >&3; cat < /dev/tcp/127.0.0.1/{port}", False),
    ("nc_ssh", "nc 127.0.0.1 {port} </dev/null; ssh -p {port} 127.0.0.1 true; telnet 127.0.0.1 {port}", False),
    # processes and interpreters
    ("python", "python3 -c \"open('{host}/py_marker', 'w').write('x')\"; python -c 'print(1)'", False),
    ("other_interpreters", "perl -e 'print 1'; node -e 'console.log(1)'; ruby -e 'p 1'; php -r 'echo 1;'", False),
    (
        "absolute_binaries",
        "/usr/bin/touch {host}/bin_marker; /bin/sh -c 'id > {host}/sh_marker'; exec /usr/bin/id",
        False,
    ),
    (
        "env_exec",
        "env touch {host}/env_marker; command touch {host}/cmd_marker; xargs touch <<< {host}/x_marker",
        False,
    ),
    (
        "sqlite_attach",
        "sqlite3 :memory: \"ATTACH '{host}/x.db' AS x; CREATE TABLE x.t(a); INSERT INTO x.t VALUES(1);\"",
        False,
    ),
    (
        "sqlite_read",
        "sqlite3 {host}/secret.txt 'select 1'; sqlite3 :memory: \"ATTACH '{host}/secret.txt' AS s\"",
        False,
    ),
    # bombs
    ("string_bomb", "s=xxxxxxxxxx; while true; do s=$s$s; done", True),
    ("printf_bomb", "printf '%0100000000d' 0 | wc -c", True),
    ("brace_bomb", "echo {1..100000000}", True),
    (
        "brace_product_bomb",
        "echo {a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b} | wc -c",
        True,
    ),
    ("output_bomb_yes", "yes", True),
    ("output_bomb_loop", "while true; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done", True),
    ("file_bomb_doubling", "echo seed > f; while true; do cat f f > g; mv g f; done", True),
    ("file_bomb_count", "i=0; while true; do i=$((i+1)); echo $i > file_$i; done", True),
    ("seq_bomb", "seq 1 100000000000 > /dev/null", True),
    # infinite loops
    ("loop_while", "while :; do :; done", True),
    ("loop_for_c", "for ((;;)); do :; done", True),
    ("loop_until", "until false; do :; done", True),
    ("loop_awk", "awk 'BEGIN { while (1) { n++ } }'", True),
    ("loop_awk_getline", "awk 'BEGIN { while ((getline line < \"/dev/zero\") > 0) n++ }'", False),  # one long record
    ("loop_sed", "echo x | sed ':a;s/x/xx/;ba'", True),
    ("loop_jq", "jq -n '[range(1e12)] | length'", True),
    ("loop_sleep", "sleep 100000", True),
    ("loop_read_forever", "while read -r l < /dev/zero; do :; done", False),  # /dev/zero has no newline: read fails
    # recursion
    ("recursion_function", "f() { f; }; f", True),
    ("recursion_subst", "f() { echo $(f); }; f", True),
    ("recursion_source", "echo 'source /workspace/r.sh' > r.sh; source r.sh", True),
    ("recursion_bash_c", "echo 'bash /workspace/b.sh' > b.sh; bash b.sh", True),
    ("recursion_awk", "awk 'function f(n) { return f(n + 1) } BEGIN { f(1) }'", True),
    ("recursion_jq", "jq -n 'def f: f; f'", True),
    ("recursion_eval", 's=\'eval "$s"\'; eval "$s"', True),
    # fork bombs
    ("fork_bomb_classic", ":(){ :|:& };:", True),
    ("fork_bomb_background", "while true; do (sleep 10) & done", True),
    ("fork_bomb_subshells", "f() { (f) | (f); }; f", True),
]


@pytest.mark.parametrize(("script", "runaway"), [pytest.param(s, r, id=i) for i, s, r in ATTEMPTS])
async def test_attempt_is_contained(host: Path, script: str, runaway: bool) -> None:
    server, accepted = _listener()
    port = server.getsockname()[1]
    before = _tree_digest(host)
    sandbox = BashSandbox.from_project(host / "project", limits=LIMITS)
    started = time.monotonic()
    try:
        result = await sandbox.exec(script.replace("{host}", str(host)).replace("{port}", str(port)))
    finally:
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.05)  # give a (forbidden) connection the chance to be seen
        server.close()
    output = result.stdout + result.stderr
    assert elapsed < MAX_SECONDS
    assert SECRET not in output
    assert ENV_SECRET not in output
    assert _tree_digest(host) == before
    assert accepted == []
    assert len(result.stdout.encode()) <= LIMITS.output_bytes + 200
    if runaway:
        assert result.exit_code != 0, output[-500:]
        assert result.limit_hit is not None, output[-500:]
        assert f"sandbox limit exceeded: {result.limit_hit}" in result.stderr
    after = await sandbox.exec("echo alive; cat /project/ok.txt")
    assert after.stdout == "alive\nfine\n"


def test_eval_recursion_does_not_crash_the_process() -> None:
    # On bashkit's default thread stacks this script segfaults the host process (see bashkit.py).
    code = (
        "import asyncio, os\n"
        "from flue_py.sandbox import BashSandbox, SandboxLimits\n"
        "assert 'RUST_MIN_STACK' not in os.environ\n"
        "sandbox = BashSandbox(limits=SandboxLimits(wall_time=2))\n"
        "r = asyncio.run(sandbox.exec('s=\\'eval \"$s\"\\'; eval \"$s\"'))\n"
        "print(r.limit_hit, r.exit_code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RUST_MIN_STACK"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.split()[0] in {"timeout", "commands", "function_depth"}


def test_the_battery_is_broad() -> None:
    assert len(ATTEMPTS) >= 40
    assert len({i for i, _, _ in ATTEMPTS}) == len(ATTEMPTS)


async def test_project_copy_skips_links_that_leave_the_root(host: Path) -> None:
    sandbox = BashSandbox.from_project(host / "project")
    assert sorted(await sandbox.list("/project")) == ["ok.txt"]


async def test_network_allow_list_blocks_everything_else(host: Path) -> None:
    server, accepted = _listener()
    port = server.getsockname()[1]
    sandbox = BashSandbox(network=["https://example.invalid/"], limits=LIMITS)
    try:
        result = await sandbox.exec(f"curl -s http://127.0.0.1:{port}/; echo rc=$?")
    finally:
        await asyncio.sleep(0.05)
        server.close()
    assert accepted == []
    assert "rc=0" not in result.stdout
