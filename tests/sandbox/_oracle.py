"""Run one script two ways, under real `/bin/bash` in a temp directory and in a `BashSandbox`, with the same files."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from dataclasses import dataclass

from flue_py.sandbox import BashSandbox

ENV = {"LC_ALL": "C", "TZ": "UTC"}


@dataclass(frozen=True)
class Outcome:
    stdout: str
    exit_code: int


def seed(root: str, files: dict[str, str]) -> None:
    for path, content in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(content)


def run_real(script: str, files: dict[str, str]) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="flue-oracle-") as root:
        seed(root, files)
        env = {**ENV, "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": root}
        proc = subprocess.run(
            ["/bin/bash", "-c", script],
            cwd=root,
            env=env,
            capture_output=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return Outcome(proc.stdout.decode(errors="replace"), proc.returncode)


async def run_sandbox(script: str, files: dict[str, str]) -> Outcome:
    sandbox = BashSandbox(files, env=ENV)
    result = await sandbox.exec(script)
    return Outcome(result.stdout, result.exit_code)


def run_both(cases: list[tuple[str, str]], files: dict[str, str]) -> dict[str, tuple[Outcome, Outcome]]:
    """{case id: (real bash, sandbox)} for every case."""

    async def sandbox_all() -> list[Outcome]:
        return [await run_sandbox(script, files) for _, script in cases]

    ours = asyncio.run(sandbox_all())
    return {cid: (run_real(script, files), mine) for (cid, script), mine in zip(cases, ours, strict=True)}
