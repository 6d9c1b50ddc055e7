"""`python -m bench [--quick] [--only NAME ...]`: every benchmark, in order, each printing one table.

A benchmark that fails (or is not written yet) prints its error and the rest still run.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time
import traceback

from bench._util import installed, machine

BENCHMARKS: list[tuple[str, str, str]] = [
    # (name for --only, module, title)
    ("harness", "bench.harness_overhead", "1. Harness overhead per turn"),
    ("cold", "bench.cold_start", "2. Cold start"),
    ("streams", "bench.streams", "3. Session log (Durable Streams)"),
    ("sandbox", "bench.sandbox", "4. Sandbox"),
    ("concurrency", "bench.concurrency", "5. Concurrency"),
    ("redis", "bench.redis_store", "6. Redis store next to SQLite"),
]


def run_one(module: str, title: str, quick: bool) -> str:
    """Run one benchmark's `main(quick)`; returns "ok", "skipped" or "failed"."""
    if importlib.util.find_spec(module) is None:
        print(f"\n## {title}\n\nskipped: {module} does not exist yet.", flush=True)
        return "skipped"
    try:
        mod = importlib.import_module(module)
        entry = getattr(mod, "main", None)
        if entry is None:
            print(f"\n## {title}\n\nskipped: {module} has no main(quick).", flush=True)
            return "skipped"
        entry(quick)
        return "ok"
    except (Exception, SystemExit):  # noqa: BLE001 - one broken benchmark must not stop the others
        print(f"\n## {title}\n\nFAILED:\n```\n{traceback.format_exc().rstrip()}\n```", flush=True)
        return "failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs (under five minutes in all)")
    parser.add_argument("--only", nargs="+", choices=[b[0] for b in BENCHMARKS], help="run only these benchmarks")
    args = parser.parse_args(argv)
    peers = ", ".join(f"{m} {installed(m) or 'not installed'}" for m in ("flue_py", "pydantic_ai", "agents"))
    print(f"# flue-py benchmarks ({'quick' if args.quick else 'full'})\n\n{machine()}\n{peers}", flush=True)
    started = time.perf_counter()
    status: dict[str, tuple[str, float]] = {}
    for name, module, title in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        status[name] = (run_one(module, title, args.quick), time.perf_counter() - t0)
    summary = ", ".join(f"{name} {state} ({secs:.0f} s)" for name, (state, secs) in status.items())
    print(f"\n---\n{summary}; total {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if any(state == "failed" for state, _ in status.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
