"""The adapter's fidelity fixes, each against the real GNU tool: `seq`, `ls`, and the brace-expansion guard."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from flue_py.sandbox import BashSandbox
from flue_py.sandbox._braces import MAX_BRACE_WORDS, largest_brace_expansion
from tests.sandbox._oracle import run_real

SEQ_ARGS = [
    "5",
    "3 7",
    "10 -3 1",
    "1 2 10",
    "-3 2",
    "0 0.25 1",
    "1.5 3",
    "0.1 0.1 0.5",
    "-w 8 11",
    "-w -5 5",
    "-s, 4",
    "-s ' | ' 1 3",
    "-f %03g 1 3",
    "-f 'n=%.1f' 1 0.5 2",
    "5 1",
    "1 1",
    "1e2 1e2",
    "--separator=: 3",
    "-- 2 4",
    "x",
    "1 0 5",
    "",
    "1 2 3 4",
]


@pytest.mark.skipif(shutil.which("seq") is None, reason="needs GNU seq as the oracle")
@pytest.mark.parametrize("args", SEQ_ARGS)
async def test_seq_matches_gnu(args: str) -> None:
    script = f"seq {args}; echo rc=$?"
    real = await asyncio.to_thread(
        subprocess.run, ["/bin/bash", "-c", script], capture_output=True, text=True, env={"LC_ALL": "C"}, check=False
    )
    ours = await BashSandbox().exec(script)
    assert ours.stdout == real.stdout
    assert bool(ours.stderr) == bool(real.stderr)


@pytest.mark.parametrize(
    "script",
    [
        "mkdir -p d/sub; touch d/.h d/f; ls -a d",
        "mkdir -p t/d/sub; touch t/d/.h t/d/f; ls -la t/d | awk '{print $1, $NF}'",
        "mkdir -p d; printf 'abc' > d/f; ls -l d/f | awk '{print $1, $2, $5, $9}'",
        "mkdir -p d/x/y; touch d/x/y/z; ls -R d",
        "touch b a c; ls -r; ls -1 a b",
    ],
)
async def test_ls_matches_gnu(script: str) -> None:
    real = run_real(script, {})
    ours = await BashSandbox().exec(script)
    assert (ours.stdout, ours.exit_code) == (real.stdout, real.exit_code)


def test_brace_estimate() -> None:
    assert largest_brace_expansion("echo {a,b}") == 1  # single groups are bashkit's own business
    assert largest_brace_expansion("echo {a,b}{1..3}") == 6
    assert largest_brace_expansion("echo {1..100}{1..100}{1..10}") == 100_000
    assert largest_brace_expansion("echo x{a..e..2}{0..9}") == 30
    assert largest_brace_expansion("echo '{a,b}{a,b}' \"{1..9}{1..9}\" ${x}{1..3}") == 1
    assert largest_brace_expansion("echo " + "{a,b}" * 13) == MAX_BRACE_WORDS


async def test_brace_product_over_the_cap_is_loud_not_truncated() -> None:
    sandbox = BashSandbox()
    small = await sandbox.exec("echo " + "{a,b}" * 13 + " | wc -w")
    assert small.stdout == "8192\n" and small.limit_hit is None
    big = await sandbox.exec("echo " + "{a,b}" * 14 + " | wc -w")
    assert big.limit_hit == "expansion" and big.exit_code != 0
    assert "sandbox limit exceeded: expansion" in big.stderr
