"""Sandbox benchmark: memory per live sandbox, latency of a small pipeline, 100 agents exec'ing at once.

flue-py's `BashSandbox` (bashkit in process) is printed beside real `bash -c` run as a subprocess, the
anchor every agent framework without an in-process shell pays. Not a timed test: figures vary with load.

    python -m bench.sandbox [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._util import current_rss_mb, emit, fmt, heading, median, run_worker, table

PIPELINE = "echo a b c | tr ' ' '\\n' | sort | uniq -c"
AGENT_SCRIPT = "for i in $(seq 200); do echo $i; done | sort -rn | head -1; grep -c x notes.txt"


async def _heartbeat(gaps: list[float], stop: asyncio.Event) -> None:
    """Record the longest gap between 5 ms ticks: a blocked event loop shows up as a long gap."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


def _memory_worker(count: int) -> None:
    """Run in a fresh process: RSS growth divided across `count` live sandboxes, each holding one file."""
    from flue_py.sandbox import BashSandbox

    async def run() -> dict[str, Any]:
        warm = BashSandbox({"f.txt": "x\n"})
        await warm.exec("cat f.txt")
        gc.collect()
        before = current_rss_mb()
        started = time.perf_counter()
        boxes = [BashSandbox({"notes.txt": f"note {i}\n"}) for i in range(count)]
        construct = (time.perf_counter() - started) / count
        gc.collect()
        built = current_rss_mb()
        for box in boxes:
            await box.exec("cat notes.txt > /dev/null")
        gc.collect()
        after = current_rss_mb()
        return {
            "constructed_kib": (built - before) * 1024 / count,
            "after_exec_kib": (after - before) * 1024 / count,
            "construct_ms": construct * 1000,
        }

    emit(asyncio.run(run()))


def _bash_rss_kib() -> float:
    """RSS of one idle `bash` process (what a subprocess-per-agent design keeps alive per agent)."""
    proc = subprocess.Popen(["/bin/bash", "-c", "read -r line"], stdin=subprocess.PIPE)
    try:
        time.sleep(0.2)
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
        return float("nan")
    finally:
        proc.communicate(b"\n", timeout=5)


async def _latency(runs: int) -> dict[str, float]:
    from flue_py.sandbox import BashSandbox

    box = BashSandbox()
    expected = (await box.exec(PIPELINE)).stdout
    reused = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await box.exec(PIPELINE)
        reused.append(time.perf_counter() - t0)
        assert result.stdout == expected
    fresh = []
    for _ in range(max(runs // 5, 20)):
        t0 = time.perf_counter()
        await BashSandbox().exec(PIPELINE)
        fresh.append(time.perf_counter() - t0)
    real = []
    for _ in range(max(runs // 5, 20)):
        t0 = time.perf_counter()
        # Sequential on purpose: this times one fork/exec, the anchor for the in-process pipeline.
        out = subprocess.run(["/bin/bash", "-c", PIPELINE], capture_output=True, text=True, check=True).stdout  # noqa: ASYNC221
        real.append(time.perf_counter() - t0)
        assert out == expected
    return {"reused": median(reused) * 1000, "fresh": median(fresh) * 1000, "real": median(real) * 1000}


async def _concurrent(agents: int) -> dict[str, float]:
    from flue_py.sandbox import BashSandbox

    boxes = [BashSandbox({"notes.txt": "x\ny\nx\n"}) for _ in range(agents)]
    gaps: list[float] = []
    stop = asyncio.Event()
    beat = asyncio.create_task(_heartbeat(gaps, stop))
    t0 = time.perf_counter()
    results = await asyncio.gather(*(box.exec(AGENT_SCRIPT) for box in boxes))
    ours = time.perf_counter() - t0
    stop.set()
    await beat
    assert all(r.stdout == "200\n2\n" for r in results), results[0]
    ours_gap = max(gaps, default=0.0)

    gaps = []
    stop = asyncio.Event()
    beat = asyncio.create_task(_heartbeat(gaps, stop))
    root = Path(__import__("tempfile").mkdtemp(prefix="flue-bench-"))
    (root / "notes.txt").write_text("x\ny\nx\n")

    async def real_agent() -> str:
        proc = await asyncio.create_subprocess_exec(
            "/bin/bash", "-c", AGENT_SCRIPT, cwd=root, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return out.decode()

    t0 = time.perf_counter()
    outs = await asyncio.gather(*(real_agent() for _ in range(agents)))
    real = time.perf_counter() - t0
    stop.set()
    await beat
    assert all(o == "200\n2\n" for o in outs)
    return {"ours": ours * 1000, "ours_gap": ours_gap * 1000, "real": real * 1000, "real_gap": max(gaps) * 1000}


def main(quick: bool = False) -> None:
    """Print the sandbox table."""
    count = 200 if quick else 1000
    runs = 200 if quick else 1000
    agents = 100
    memory = run_worker("bench.sandbox", ["--memory-worker", str(count)])
    latency = asyncio.run(_latency(runs))
    concurrent = asyncio.run(_concurrent(agents))
    bash_kib = _bash_rss_kib()
    err = memory.get("error")
    heading(
        "Sandbox: flue-py BashSandbox (bashkit, in process) vs real bash (subprocess)",
        f"{count} live sandboxes; pipeline `{PIPELINE}` (median of {runs}); {agents} agents each running "
        f"`{AGENT_SCRIPT}` at once, with a 5 ms heartbeat on the event loop.",
    )
    rows = [
        [
            "memory per live sandbox (KiB, constructed)",
            "-" if err else fmt(memory["constructed_kib"], 1),
            f"{fmt(bash_kib, 0)} (RSS of one idle bash)",
        ],
        ["memory per live sandbox (KiB, after one exec)", "-" if err else fmt(memory["after_exec_kib"], 1), "-"],
        ["construct a sandbox (ms)", "-" if err else fmt(memory["construct_ms"], 3), "-"],
        ["small pipeline, reused instance (ms, median)", fmt(latency["reused"], 3), fmt(latency["real"], 3)],
        ["small pipeline, fresh instance (ms, median)", fmt(latency["fresh"], 3), "-"],
        [f"{agents} concurrent agents, wall time (ms)", fmt(concurrent["ours"], 1), fmt(concurrent["real"], 1)],
        [
            f"{agents} concurrent agents, longest event-loop gap (ms)",
            fmt(concurrent["ours_gap"], 1),
            fmt(concurrent["real_gap"], 1),
        ],
    ]
    print(table(["metric", "flue-py BashSandbox", "real bash -c"], rows), flush=True)
    if err:
        print(f"\nmemory worker failed: {err}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox")
    parser.add_argument("--quick", action="store_true", help="fewer instances and runs")
    parser.add_argument("--memory-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker:
        _memory_worker(args.memory_worker)
    else:
        main(quick=args.quick)
    sys.exit(0)
