"""Harness overhead per turn: the same 20-turn, 3-tool conversation driven by a zero-latency scripted model.

Each row runs in its own subprocess (`python -m bench.harness_overhead --worker ROW`), so its peak
RSS is that framework's alone. The model is free, so what is timed is the framework: building the
request, parsing the answer, validating tool arguments, running the (trivial, async) tools, keeping
history, and, for flue-py, writing every event to the session log.

Rows:
- flue-py: `Harness(SQLiteSessionStore(tmp)).send(...)`, its `ScriptedModel` (streams: text in 4-char
  deltas, tool arguments in 7-char fragments; every event persisted). This is its only mode.
- flue-py (memory store): the same with `MemorySessionStore`, to separate the store's cost.
- pydantic-ai: `Agent(FunctionModel(...)).run()`, and `run_stream_events()` with a `stream_function`
  that streams the same fragments.
- openai-agents: `Runner.run()` / `Runner.run_streamed()` with `agents.testing.ScriptedModel`, tracing
  off; and `Runner.run()` with a `SQLiteSession`, its persistent history.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench._util import (
    current_rss_mb,
    emit,
    fmt,
    heading,
    installed,
    machine,
    median,
    peak_rss_mb,
    ratio,
    run_worker,
    table,
)

TURNS = 20
"""Model calls per run: 19 tool-call turns, then a text answer."""
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_weather", {"city": "Paris"}),
    ("add", {"a": 2, "b": 3}),
    ("lookup_order", {"order_id": "A-1"}),
]
FINAL = "All done: the weather in Paris is mild, 2 + 3 = 5, and order A-1 has shipped."
PROMPT = "Check the weather in Paris, add 2 and 3, and look up order A-1."
INSTRUCTIONS = "You are a benchmark agent. Use the tools."


def step(i: int) -> tuple[str, dict[str, Any]] | str:
    """Turn i of the script: a tool call (name, args) for the first TURNS-1 turns, then the answer."""
    return CALLS[i % len(CALLS)] if i < TURNS - 1 else FINAL


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# -- the three tools, identical in every framework (async, so no framework pays a thread hop) ------


async def get_weather(city: str) -> dict[str, Any]:
    """The current weather in a city."""
    return {"city": city, "temp_c": 21, "sky": "clear"}


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order by its id."""
    return {"order_id": order_id, "status": "shipped"}


TOOLS = [get_weather, add, lookup_order]

# -- one runner per row: setup() returns an async `run(i)` that performs one whole 20-turn run ----

Runner = Callable[[int], Any]
_flue_store: Any = None


def setup_flue(memory: bool) -> tuple[Runner, Callable[[], None]]:
    from flue_py import Agent, Harness, tool
    from flue_py.testing import ScriptedModel, ToolCall

    tmp = tempfile.TemporaryDirectory(prefix="flue-bench-")
    if memory:
        from flue_py.sessions.memory import MemorySessionStore

        store: Any = MemorySessionStore()
    else:
        from flue_py.sessions.sqlite import SQLiteSessionStore

        store = SQLiteSessionStore(os.path.join(tmp.name, "flue.db"))
    global _flue_store
    _flue_store = store
    harness = Harness(store)
    script = [s if isinstance(s, str) else ToolCall(s[0], s[1]) for s in map(step, range(TURNS))]
    agent = Agent(
        "bench",
        ScriptedModel(script),
        instructions=INSTRUCTIONS,
        tools=[tool(f) for f in TOOLS],
        sandbox=False,
        skills=[],
    )

    async def run(i: int) -> str:
        result = await harness.send(agent, PROMPT, id=f"run-{i}", model=ScriptedModel(script))
        assert result.ok, result.error
        return result.reply

    return run, tmp.cleanup


def setup_pydantic_ai(streamed: bool) -> tuple[Runner, Callable[[], None]]:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import DeltaToolCall, FunctionModel

    def make_model() -> FunctionModel:
        counter = iter(range(TURNS))

        def answer(messages: Any, info: Any) -> ModelResponse:
            i = next(counter)
            s = step(i)
            if isinstance(s, str):
                return ModelResponse(parts=[TextPart(s)])
            return ModelResponse(parts=[ToolCallPart(s[0], s[1], tool_call_id=f"call_{i}")])

        async def stream(messages: Any, info: Any) -> Any:
            i = next(counter)
            s = step(i)
            if isinstance(s, str):
                for piece in chunks(s, 4):
                    yield piece
                return
            yield {0: DeltaToolCall(name=s[0], json_args="", tool_call_id=f"call_{i}")}
            for fragment in chunks(json.dumps(s[1]), 7):
                yield {0: DeltaToolCall(json_args=fragment)}

        return FunctionModel(stream_function=stream) if streamed else FunctionModel(answer)

    agent = Agent(instructions=INSTRUCTIONS)
    for f in TOOLS:
        agent.tool_plain(f)

    async def run(i: int) -> str:
        if streamed:
            output = None
            async with agent.run_stream_events(PROMPT, model=make_model()) as events:
                async for event in events:
                    output = getattr(event, "result", output)
            assert output is not None
            return str(output.output)
        result = await agent.run(PROMPT, model=make_model())
        return str(result.output)

    return run, lambda: None


def setup_openai_agents(mode: str) -> tuple[Runner, Callable[[], None]]:
    from agents import Agent, RunConfig, function_tool, set_tracing_disabled
    from agents import Runner as AgentsRunner
    from agents.testing import ScriptedModel, assistant_message, function_call

    set_tracing_disabled(True)
    tmp = tempfile.TemporaryDirectory(prefix="oai-bench-")

    def make_model() -> ScriptedModel:
        steps = []
        for i in range(TURNS):
            s = step(i)
            steps.append([assistant_message(s)] if isinstance(s, str) else [function_call(*s, call_id=f"call_{i}")])
        return ScriptedModel(steps)

    agent = Agent(name="bench", instructions=INSTRUCTIONS, tools=[function_tool(f) for f in TOOLS])

    async def run(i: int) -> str:
        config = RunConfig(model=make_model(), tracing_disabled=True)
        if mode == "streamed":
            streamed = AgentsRunner.run_streamed(agent, PROMPT, max_turns=TURNS + 5, run_config=config)
            async for _ in streamed.stream_events():
                pass
            return str(streamed.final_output)
        session = None
        if mode == "sqlite":
            from agents import SQLiteSession

            session = SQLiteSession(f"run-{i}", os.path.join(tmp.name, "agents.db"))
        result = await AgentsRunner.run(agent, PROMPT, max_turns=TURNS + 5, run_config=config, session=session)
        return str(result.final_output)

    return run, tmp.cleanup


ROWS: dict[str, tuple[str, str, Callable[[], tuple[Runner, Callable[[], None]]]]] = {
    # key: (label, module whose version is shown, setup)
    "flue": ("flue-py (SQLite log, streamed)", "flue_py", lambda: setup_flue(memory=False)),
    "flue-memory": ("flue-py (memory store, streamed)", "flue_py", lambda: setup_flue(memory=True)),
    "pydantic-ai": ("pydantic-ai run()", "pydantic_ai", lambda: setup_pydantic_ai(streamed=False)),
    "pydantic-ai-stream": ("pydantic-ai run_stream_events()", "pydantic_ai", lambda: setup_pydantic_ai(streamed=True)),
    "openai-agents": ("openai-agents Runner.run()", "agents", lambda: setup_openai_agents("run")),
    "openai-agents-stream": ("openai-agents run_streamed()", "agents", lambda: setup_openai_agents("streamed")),
    "openai-agents-sqlite": ("openai-agents + SQLiteSession", "agents", lambda: setup_openai_agents("sqlite")),
}


# -- worker: one row, in its own process ------------------------------------------------------------


async def _measure(run: Runner, runs: int) -> dict[str, Any]:
    reply = await run(-1)  # warm-up: first-call caches, lazy imports, the database file
    assert reply.startswith("All done"), reply
    wall, cpu = [], []
    for i in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        await run(i)
        wall.append((time.perf_counter() - t0) * 1000 / TURNS)
        cpu.append((time.process_time() - c0) * 1000 / TURNS)
    return {"wall_ms": wall, "cpu_ms": cpu}


def worker(row: str, runs: int, profile: bool) -> None:
    t0 = time.perf_counter()
    run, cleanup = ROWS[row][2]()
    setup_s = time.perf_counter() - t0
    rss_setup = current_rss_mb()
    try:
        if profile:
            emit({"profile": _profile(run, runs)})
            return
        result = asyncio.run(_measure(run, runs))
    finally:
        cleanup()
    result.update(setup_s=setup_s, rss_setup_mb=rss_setup, peak_rss_mb=peak_rss_mb())
    emit(result)


def _profile(run: Runner, runs: int) -> str:
    """Where a flue-py turn goes: cProfile (main thread) plus a census of session-store calls per turn.

    cProfile sees only the event-loop thread; SQLite work happens on the store's writer and reader
    threads and shows up here as time waiting in `epoll`, so the census counts what is sent there.
    """
    import collections
    import cProfile
    import io
    import pstats

    census: collections.Counter[str] = collections.Counter()
    store = _flue_store
    if store is not None:
        for name in (
            "append",
            "read",
            "head",
            "wait",
            "acquire_lease",
            "release_lease",
            "put_submission",
            "get_submission",
            "update_submission",
            "get_lease",
        ):
            original = getattr(store, name, None)
            if original is None:
                continue

            def counted(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
                census[_name] += 1
                return _original(*args, **kwargs)

            setattr(store, name, counted)

    async def go() -> None:
        await run(-1)
        census.clear()
        for i in range(runs):
            await run(i)

    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(go())
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs()
    out.write(
        f"cProfile of the event-loop thread, {runs + 1} runs x {TURNS} turns; top cumulative, flue_py/pydantic:\n"
    )
    stats.sort_stats("cumulative").print_stats(r"flue_py|pydantic|_loop|_runs|_session_log|harness\.py|tools", 18)
    out.write("top by own time:\n")
    stats.sort_stats("tottime").print_stats(8)
    keep = [ln for ln in out.getvalue().splitlines() if ln.strip() and not ln.lstrip().startswith(("Ordered", "List"))]
    if census:
        turns = runs * TURNS
        keep.append(
            f"session-store calls per turn (over {runs} runs): "
            + ", ".join(f"{name} {count / turns:.1f}" for name, count in census.most_common())
        )
    return "\n".join(keep)


# -- parent: run every row, print one table ------------------------------------------------------


def main(quick: bool = False) -> dict[str, Any]:
    rounds, runs = (1, 6) if quick else (4, 8)
    heading(
        f"1. Harness overhead per turn ({TURNS} turns/run, 3 async tools, zero-latency scripted model)",
        f"{machine()}. Each row is its own subprocess (1 warm-up run + {runs} timed runs), repeated in {rounds}\n"
        f"interleaved rounds; medians over all {rounds * runs} runs.\n"
        "ms/turn = wall time of a whole run / 20; cpu = process CPU time / 20; ratio = row / flue-py (SQLite).\n"
        "Peak RSS includes the interpreter and the framework's imports ('after setup' = imported, agent built).",
    )
    results: dict[str, dict[str, Any]] = {}
    for n in range(rounds):
        for key, (label, module, _) in ROWS.items():
            if installed(module) is None:
                results[key] = {"error": "not installed (pip install 'flue-py[bench]')"}
                continue
            if "error" in results.get(key, {}):
                continue
            r = run_worker("bench.harness_overhead", ["--worker", key, "--runs", str(runs)])
            print(f"  round {n + 1}/{rounds}: {label}", file=sys.stderr, flush=True)
            merge(results.setdefault(key, {}), r)
    base = results["flue"]
    base_wall = median(base["wall_ms"]) if "wall_ms" in base else None
    base_cpu = median(base["cpu_ms"]) if "cpu_ms" in base else None
    rows = []
    for key, (label, module, _) in ROWS.items():
        r = results[key]
        version = installed(module) or "-"
        if "error" in r:
            rows.append([label, version, f"error: {r['error']}", "", "", "", "", ""])
            continue
        wall, cpu = median(r["wall_ms"]), median(r["cpu_ms"])
        rows.append(
            [
                label,
                version,
                fmt(wall, 3),
                f"{min(r['wall_ms']):.3f}-{max(r['wall_ms']):.3f}",
                ratio(wall, base_wall),
                fmt(cpu, 3),
                ratio(cpu, base_cpu),
                f"{r['peak_rss_mb']:.0f} ({r['rss_setup_mb']:.0f})",
            ]
        )
    print(
        table(
            [
                "framework",
                "version",
                "ms/turn (median)",
                "min-max",
                "vs flue-py",
                "cpu ms/turn",
                "cpu vs flue-py",
                "peak RSS MiB (after setup)",
            ],
            rows,
        )
    )
    verdict(results)
    return results


def merge(into: dict[str, Any], r: dict[str, Any]) -> None:
    """Fold one round of a row into its totals: all timings, the highest peak, the typical setup RSS."""
    if "error" in r:
        into.clear()
        into["error"] = r["error"]
        return
    for k in ("wall_ms", "cpu_ms"):
        into.setdefault(k, []).extend(r[k])
    into["peak_rss_mb"] = max(into.get("peak_rss_mb", 0.0), r["peak_rss_mb"])
    into["rss_setup_mb"] = r["rss_setup_mb"]


def verdict(results: dict[str, dict[str, Any]]) -> None:
    base = results.get("flue", {})
    if "wall_ms" not in base:
        print("\nflue-py row failed; no verdict.")
        return
    flue = median(base["wall_ms"])
    peers = {
        ROWS[k][0]: median(r["wall_ms"]) for k, r in results.items() if not k.startswith("flue") and "wall_ms" in r
    }
    faster = [name for name, ms in peers.items() if ms < flue]
    mem = results.get("flue-memory", {})
    if "wall_ms" in mem:
        m_wall, m_cpu = median(mem["wall_ms"]), median(mem["cpu_ms"])
        cpu = median(base["cpu_ms"])
        beats = [name for name, ms in peers.items() if m_wall <= ms]
        print(
            f"\nThe SQLite session log costs {flue - m_wall:.2f} ms/turn wall ({cpu - m_cpu:.2f} ms CPU): "
            f"the same loop on the memory store runs {m_wall:.3f} ms/turn"
            + (f", faster than {', '.join(beats)}." if beats else ".")
        )
    if not faster:
        print(f"\nflue-py is the fastest per turn ({flue:.3f} ms), events persisted to SQLite included.")
        return
    print(f"\nflue-py (SQLite) LOSES per turn to: {', '.join(faster)}. Profile of the flue-py row follows.")
    prof = run_worker("bench.harness_overhead", ["--worker", "flue", "--runs", "5", "--profile"])
    print("```\n" + prof.get("profile", prof.get("error", "")) + "\n```")


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=sorted(ROWS))
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.runs, args.profile)
    else:
        main(args.quick)


if __name__ == "__main__":
    _cli()
