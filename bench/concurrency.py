"""Concurrency: N agent runs at once in one process, each watched live by a subscriber.

Each run is two turns: one tool call, then an 80-character answer streamed in 4-character deltas,
with 5 ms between deltas (the scripted model sleeps before each one). Every run has one subscriber
that consumes its events as they happen; "delta latency" is the time from the model yielding a text
delta to that subscriber receiving it.

- flue-py: `harness.admit(...)` per run, subscriber = `harness.log.tail(session, offset)` over the
  SQLite session log (the deltas go through the batching `EventWriter` and the store, as in production).
- pydantic-ai: `agent.run_stream_events()` per run, subscriber = the consumer of that in-process iterator.
- openai-agents: `Runner.run_streamed()` per run, subscriber = `stream_events()`; its `ScriptedModel`
  stream is re-chunked into the same 4-character deltas with the same 5 ms pauses.

The peers hand events straight from the model to the caller in memory; flue-py persists every event
and the subscriber reads them back from the log, so any process could be the subscriber.
Each framework runs in its own subprocess; memory per run = (peak RSS - RSS before the runs) / N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._util import (
    current_rss_mb,
    emit,
    fmt,
    heading,
    installed,
    machine,
    peak_rss_mb,
    percentile,
    ratio,
    run_worker,
    table,
)

DELAY = 0.005
IDEAL_RUN_MS = 125
ANSWER = "Order A-1 shipped yesterday and should arrive by Friday. Anything else I can do?"[:80].ljust(80, ".")
PROMPT = "Where is order A-1?"
ARGS = {"order_id": "A-1"}


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


async def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its id."""
    return {"order_id": order_id, "status": "shipped"}


class Sample:
    """One run's measurements: when each text delta left the model and when the subscriber got it."""

    def __init__(self) -> None:
        self.produced: list[float] = []
        self.received: list[float] = []
        self.start = 0.0
        self.end = 0.0

    def latencies_ms(self) -> list[float]:
        return [(r - p) * 1000 for p, r in zip(self.produced, self.received, strict=False)]


# -- one "start a run and subscribe" coroutine per framework ----------------------------------------

RunOne = Callable[[int, Sample], Awaitable[None]]


def setup_flue() -> tuple[RunOne, Callable[[], None]]:
    from flue_py import Agent, Harness, tool
    from flue_py.events import RunSettled, TextDelta
    from flue_py.models.base import TextPart
    from flue_py.sessions.sqlite import SQLiteSessionStore
    from flue_py.testing import ScriptedModel, ToolCall

    class TimedModel(ScriptedModel):
        def __init__(self, sample: Sample) -> None:
            super().__init__([ToolCall("lookup_order", ARGS), ANSWER], delay=DELAY)
            self.sample = sample

        async def stream(self, request: Any) -> Any:
            async for part in super().stream(request):
                if isinstance(part, TextPart):
                    self.sample.produced.append(time.perf_counter())
                yield part

    tmp = tempfile.TemporaryDirectory(prefix="flue-conc-")
    harness = Harness(SQLiteSessionStore(os.path.join(tmp.name, "flue.db")))
    agent = Agent("conc", "test", tools=[tool(lookup_order)], sandbox=False, skills=[])

    async def run_one(i: int, sample: Sample) -> None:
        sample.start = time.perf_counter()
        admission = await harness.admit(agent, PROMPT, id=f"c{i}", model=TimedModel(sample))
        after = admission.offset if admission.offset != "-1" else None
        async for event in harness.log.tail(admission.session, after):
            if isinstance(event, TextDelta):
                sample.received.append(time.perf_counter())
            elif isinstance(event, RunSettled) and event.submission == admission.submission:
                assert event.outcome == "completed", event.error
                break
        sample.end = time.perf_counter()

    return run_one, tmp.cleanup


def setup_pydantic_ai() -> tuple[RunOne, Callable[[], None]]:
    from pydantic_ai import Agent
    from pydantic_ai.messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta
    from pydantic_ai.models.function import DeltaToolCall, FunctionModel

    agent = Agent()
    agent.tool_plain(lookup_order)

    def make_model(sample: Sample) -> FunctionModel:
        turn = iter(range(2))

        async def stream(messages: Any, info: Any) -> Any:
            if next(turn) == 0:
                await asyncio.sleep(DELAY)
                yield {0: DeltaToolCall(name="lookup_order", json_args="", tool_call_id="call_0")}
                for fragment in chunks(json.dumps(ARGS), 7):
                    await asyncio.sleep(DELAY)
                    yield {0: DeltaToolCall(json_args=fragment)}
                return
            for piece in chunks(ANSWER, 4):
                await asyncio.sleep(DELAY)
                sample.produced.append(time.perf_counter())
                yield piece

        return FunctionModel(stream_function=stream)

    async def run_one(i: int, sample: Sample) -> None:
        sample.start = time.perf_counter()
        async with agent.run_stream_events(PROMPT, model=make_model(sample)) as events:
            async for event in events:
                if (isinstance(event, PartStartEvent) and isinstance(event.part, TextPart)) or (
                    isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta)
                ):
                    sample.received.append(time.perf_counter())
        sample.end = time.perf_counter()

    return run_one, lambda: None


def setup_openai_agents() -> tuple[RunOne, Callable[[], None]]:
    from agents import Agent, RunConfig, Runner, function_tool, set_tracing_disabled
    from agents.testing import ScriptedModel, assistant_message, function_call
    from openai.types.responses import ResponseFunctionCallArgumentsDeltaEvent, ResponseTextDeltaEvent

    set_tracing_disabled(True)

    class PacedModel(ScriptedModel):
        """The SDK's scripted model, its deltas re-cut into 4-char text / 7-char argument pieces, 5 ms apart."""

        def __init__(self, sample: Sample) -> None:
            super().__init__([[function_call("lookup_order", ARGS, call_id="call_0")], [assistant_message(ANSWER)]])
            self.sample = sample

        async def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            async for event in super().stream_response(*args, **kwargs):
                if isinstance(event, ResponseTextDeltaEvent):
                    for piece in chunks(event.delta, 4):
                        await asyncio.sleep(DELAY)
                        self.sample.produced.append(time.perf_counter())
                        yield event.model_copy(update={"delta": piece})
                elif isinstance(event, ResponseFunctionCallArgumentsDeltaEvent):
                    for piece in chunks(event.delta, 7):
                        await asyncio.sleep(DELAY)
                        yield event.model_copy(update={"delta": piece})
                else:
                    yield event

    agent = Agent(name="conc", tools=[function_tool(lookup_order)])

    async def run_one(i: int, sample: Sample) -> None:
        sample.start = time.perf_counter()
        config = RunConfig(model=PacedModel(sample), tracing_disabled=True)
        result = Runner.run_streamed(agent, PROMPT, max_turns=5, run_config=config)
        async for event in result.stream_events():
            if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                sample.received.append(time.perf_counter())
        assert result.final_output == ANSWER, result.final_output
        sample.end = time.perf_counter()

    return run_one, lambda: None


ROWS: dict[str, tuple[str, str, Callable[[], tuple[RunOne, Callable[[], None]]]]] = {
    "flue": ("flue-py (SQLite log + log.tail subscriber)", "flue_py", setup_flue),
    "pydantic-ai": ("pydantic-ai run_stream_events()", "pydantic_ai", setup_pydantic_ai),
    "openai-agents": ("openai-agents run_streamed()", "agents", setup_openai_agents),
}


# -- worker ---------------------------------------------------------------------------------------


async def _measure(run_one: RunOne, n: int, deadline: float) -> dict[str, Any]:
    warm = Sample()
    await asyncio.wait_for(run_one(-1, warm), timeout=60)
    assert len(warm.received) == len(warm.produced) == len(chunks(ANSWER, 4)), (warm.produced, warm.received)
    rss_before = current_rss_mb()
    samples = [Sample() for _ in range(n)]
    t0, c0 = time.perf_counter(), time.process_time()
    tasks = [asyncio.ensure_future(run_one(i, s)) for i, s in enumerate(samples)]
    done, stuck = await asyncio.wait(tasks, timeout=deadline)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    for task in stuck:
        task.cancel()
    await asyncio.gather(*stuck, return_exceptions=True)
    failures = [repr(t.exception()) for t in done if t.exception() is not None]
    if stuck:
        failures.insert(0, f"{len(stuck)} of {n} runs had not settled after {deadline:.0f} s (cancelled)")
    latencies = [ms for s in samples for ms in s.latencies_ms()]
    run_ms = [(s.end - s.start) * 1000 for s in samples if s.end]
    return {
        "n": n,
        "wall_s": wall,
        "cpu_ms_per_run": cpu * 1000 / n,
        "failures": len(failures) + (len(stuck) - 1 if stuck else 0),
        "first_failure": failures[0][:200] if failures else None,
        "delta_p50_ms": percentile(latencies, 50),
        "delta_p99_ms": percentile(latencies, 99),
        "run_p50_ms": percentile(run_ms, 50),
        "run_p99_ms": percentile(run_ms, 99),
        "deltas": len(latencies),
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def worker(row: str, n: int) -> None:
    run_one, cleanup = ROWS[row][2]()
    try:
        # A run that never settles must show up as a failure, not hang the suite.
        result = asyncio.run(_measure(run_one, n, deadline=max(60.0, n * 0.5)))
    finally:
        cleanup()
    emit(result)


# -- parent -----------------------------------------------------------------------------------------


def main(quick: bool = False) -> dict[tuple[str, int], dict[str, Any]]:
    sizes = (200, 20) if quick else (1000, 50)
    heading(
        f"5. Concurrency: {sizes[0]} concurrent runs in one process, and {sizes[1]} for comparison "
        "(tool call + 20 text deltas, 5 ms apart)",
        f"{machine()}. One subprocess per framework and N, one subscriber per run.\n"
        "runs/s = N / wall time of all N; delta latency = model yields a text delta -> subscriber has it;\n"
        "run latency = start -> subscriber sees the end; cpu ms/run = process CPU time (all threads) / N;\n"
        "KiB/run = (peak RSS - RSS before) / N; ratio = row / flue-py at the same N. "
        f"Ideal run latency ~{IDEAL_RUN_MS} ms (25 pauses of 5 ms).",
    )
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for n in sizes:
        for key, (label, module, _) in ROWS.items():
            if installed(module) is None:
                results[key, n] = {"error": "not installed (pip install 'flue-py[bench]')"}
                continue
            results[key, n] = run_worker("bench.concurrency", ["--worker", key, "--n", str(n)], timeout=900)
            print(f"  measured {label}, N={n}", file=sys.stderr, flush=True)

    def rate(r: dict[str, Any]) -> float | None:
        return r["n"] / r["wall_s"] if "wall_s" in r else None

    def mem(r: dict[str, Any]) -> float | None:
        return (r["peak_rss_mb"] - r["rss_before_mb"]) * 1024 / r["n"] if "n" in r else None

    rows = []
    for n in sizes:
        base = results.get(("flue", n), {})
        for key, (label, module, _) in ROWS.items():
            r = results[key, n]
            if "error" in r:
                rows.append([label, str(n), f"error: {r['error']}"] + [""] * 10)
                continue
            rows.append(
                [
                    label,
                    str(n),
                    fmt(rate(r), 1),
                    ratio(rate(r), rate(base)),
                    fmt(r["delta_p50_ms"], 1),
                    fmt(r["delta_p99_ms"], 1),
                    ratio(r["delta_p99_ms"], base.get("delta_p99_ms")),
                    fmt(r["run_p50_ms"], 0),
                    fmt(r["run_p99_ms"], 0),
                    fmt(r["cpu_ms_per_run"], 1),
                    ratio(r["cpu_ms_per_run"], base.get("cpu_ms_per_run")),
                    fmt(mem(r), 1),
                    str(r["failures"]),
                ]
            )
    print(
        table(
            [
                "framework",
                "N",
                "runs/s",
                "vs flue-py",
                "delta p50 ms",
                "delta p99 ms",
                "p99 vs flue-py",
                "run p50 ms",
                "run p99 ms",
                "cpu ms/run",
                "cpu vs flue-py",
                "KiB/run",
                "failed",
            ],
            rows,
        )
    )
    versions = ", ".join(f"{label.split(' ')[0]} {installed(module) or '-'}" for label, module, _ in ROWS.values())
    print(f"\nVersions: {versions}.")
    slow = sorted({f"N={n}" for (_, n), r in results.items() if r.get("run_p50_ms", 0) > 4 * IDEAL_RUN_MS})
    if slow:
        print(
            f"Saturated at {', '.join(slow)}: runs took over 4x the ideal {IDEAL_RUN_MS} ms, so the process was"
            " CPU-bound;\nthere runs/s and cpu ms/run are throughput, and the latencies are mostly queueing."
        )
    for (key, n), r in results.items():
        if r.get("first_failure"):
            print(f"\n{ROWS[key][0]} (N={n}): first failure: {r['first_failure']}")
    return results


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=sorted(ROWS))
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.n)
    else:
        main(args.quick)


if __name__ == "__main__":
    _cli()
