"""Abort latency over real HTTP: POST /agents/chat/<id>/abort → the run's `submission-settled` chunk.

Starts `flue serve` on loopback (SQLite store in a temp project), streams a long answer (or runs a
slow tool), aborts it mid-flight and times abort → settled as a client sees it. Prints p50/p99.

    .venv/bin/python bench/abort.py --runs 40 --mode stream
    .venv/bin/python bench/abort.py --runs 40 --mode tool
    .venv/bin/python bench/abort.py --runs 40 --mode stream --cross   # abort sent to a second process
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from tests.server._client import follow, outcome, send, settled
from tests.server._project import ServerProcess, write_project


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(runs: int, mode: str, cross: bool) -> list[float]:
    root = write_project(Path(tempfile.mkdtemp()) / "bench")
    server = ServerProcess(root, env={"E2E_TOOL_SECONDS": "30"}).start()
    # --cross: the abort goes to another process on the same SQLite file; the run's watcher must see it.
    other = ServerProcess(root, env={"E2E_TOOL_SECONDS": "30"}).start() if cross else server
    latencies: list[float] = []
    try:
        with httpx.Client(timeout=30) as client:
            for i in range(runs):
                session = f"chat/bench-{mode}-{i}"
                admission = send(client, server.url, session, "long 5000" if mode == "stream" else "tool now")
                started = (
                    (lambda c: c["type"] == "message-delta")
                    if mode == "stream"
                    else (lambda c: c["type"] == "tool-input")
                )
                _, offset = follow(client, server.url, session, admission["offset"], started)
                time.sleep(0.05)  # well inside the stream / the tool
                t0 = time.perf_counter()
                assert client.post(f"{other.url}/agents/{session}/abort").json() == {"aborted": True}
                chunks, _ = follow(client, server.url, session, offset, settled(admission["submissionId"]))
                latencies.append((time.perf_counter() - t0) * 1000)
                assert outcome(chunks, admission["submissionId"]) == "aborted"
    finally:
        server.stop()
        other.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--mode", choices=["stream", "tool"], default="stream")
    parser.add_argument("--cross", action="store_true", help="send the abort to a second server process")
    args = parser.parse_args()
    latencies = measure(args.runs, args.mode, args.cross)
    where = "other process" if args.cross else "same process"
    print(
        f"abort -> settled ({args.mode}, abort via {where}, {len(latencies)} runs, SQLite, loopback HTTP): "
        f"p50 {statistics.median(latencies):.1f} ms  p99 {percentile(latencies, 0.99):.1f} ms  "
        f"max {max(latencies):.1f} ms"
    )


if __name__ == "__main__":
    main()
