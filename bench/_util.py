"""Shared helpers for the benchmarks: timing statistics, child processes, memory, and one table printer.

Every benchmark runs each framework in its own `python` subprocess (so import cost and peak RSS are
that framework's alone) and prints one table with flue-py and its peers side by side.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PYTHON = sys.executable
REPO = Path(__file__).resolve().parent.parent


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident set size now, in MiB (from /proc; falls back to the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Peers must never reach a network: openai-agents exports traces by default.
    env.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
    env.setdefault("OPENAI_API_KEY", "sk-bench-offline")
    env.setdefault("PYTHONHASHSEED", "0")
    env.update(extra)
    return env


def run_worker(module: str, args: Sequence[str], *, timeout: float = 600) -> dict[str, Any]:
    """Run `python -m module args...` and parse the JSON object on its last stdout line.

    A worker that fails returns {"error": "..."} instead of raising, so one framework's failure
    becomes a table cell, not a crashed benchmark.
    """
    try:
        proc = subprocess.run(
            [PYTHON, "-m", module, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env=child_env(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:160]}"}
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": f"bad worker output: {lines[-1][:160]}"}
    result.setdefault("stdout", "\n".join(lines[:-1]))
    return result


def emit(result: dict[str, Any]) -> None:
    """A worker's last act: print its result as one JSON line."""
    print(json.dumps(result), flush=True)


def installed(module: str) -> str | None:
    """The version of an installed distribution providing `module`, or None (without importing it)."""
    from importlib import metadata

    dist = {"pydantic_ai": "pydantic-ai-slim", "agents": "openai-agents", "flue_py": "flue-py"}.get(module, module)
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


def ratio(value: float | None, base: float | None) -> str:
    """`value / base` as "2.31x"; the flue-py row is the base (1.00x)."""
    if value is None or base is None or math.isnan(value) or math.isnan(base) or base == 0:
        return "-"
    return f"{value / base:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table, padded so it also reads well in a terminal."""
    cells = [list(map(str, headers)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def heading(title: str, note: str = "") -> None:
    print(f"\n## {title}\n", flush=True)
    if note:
        print(note + "\n", flush=True)


def machine() -> str:
    cpus = os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, {cpus} CPUs, load {load}"
