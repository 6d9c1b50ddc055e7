"""The turn loop end to end with the scripted model: tools, validation, parallelism, limits, control."""

from __future__ import annotations

import asyncio
import time

import pytest

from flue_py import Agent, Harness, Limits, ToolContext, ToolRetry, tool
from flue_py._history import fold
from flue_py.events import RunSettled, ToolResult, TurnStarted
from flue_py.exceptions import ModelRateLimited
from flue_py.testing import ScriptedModel, ToolCall


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def make_agent(model, tools=(add,), **kwargs) -> Agent:
    return Agent(name="calc", model=model, tools=list(tools), sandbox=False, skills=[], **kwargs)


async def events_of(harness: Harness, session: str):
    return await harness.log.read(session)


async def test_tool_call_and_final_answer(harness):
    model = ScriptedModel([ToolCall("add", {"a": 2, "b": 3}), "It is 5."])
    result = await harness.send(make_agent(model), "2+3?")
    assert result.outcome == "completed"
    assert result.reply == "It is 5."
    tool_messages = [m for m in model.requests[1].messages if m["role"] == "tool"]
    assert tool_messages == [{"role": "tool", "tool_call_id": "call_1_0", "name": "add", "content": "5"}]


async def test_schema_comes_from_signature_and_docstring():
    spec = add.spec()["function"]
    assert spec["description"] == "Add two integers."
    assert spec["parameters"]["required"] == ["a", "b"]
    assert spec["parameters"]["properties"]["a"] == {"description": "The first number.", "title": "A", "type": "integer"}


async def test_validation_error_reaches_the_model_with_path_message_and_arguments(harness):
    model = ScriptedModel([ToolCall("add", {"a": "seven"}), ToolCall("add", {"a": 7, "b": 1}), "8"])
    result = await harness.send(make_agent(model), "7+1?")
    assert result.outcome == "completed"
    error = next(m for m in model.requests[1].messages if m["role"] == "tool")["content"]
    assert "a: Input should be a valid integer" in error
    assert "b: Field required" in error
    assert 'Received: {"a": "seven"}' in error


async def test_malformed_json_arguments_are_an_error_result(harness):
    model = ScriptedModel([ToolCall("add", '{"a": 1, "b": '), "gave up"])
    result = await harness.send(make_agent(model), "x")
    assert result.outcome == "completed"
    error = next(m for m in model.requests[1].messages if m["role"] == "tool")["content"]
    assert error.startswith("Invalid arguments: not valid JSON")


async def test_unknown_tool_and_exception_become_error_results(harness):
    @tool
    def explode() -> str:
        """Always fails."""
        raise RuntimeError("kaboom")

    model = ScriptedModel([[ToolCall("nope"), ToolCall("explode")], "sorry"])
    result = await harness.send(make_agent(model, tools=[add, explode]), "x")
    assert result.outcome == "completed"
    contents = [m["content"] for m in model.requests[1].messages if m["role"] == "tool"]
    assert contents[0] == "Unknown tool 'nope'. Available tools: add, explode."
    assert contents[1] == "Tool 'explode' raised RuntimeError: kaboom"
    results = [e for e in await events_of(harness, result.session) if isinstance(e, ToolResult)]
    assert [r.error_type for r in results] == ["unknown_tool", "exception"]


async def test_retry_budget_per_tool_ends_the_run(harness):
    @tool(retries=1)
    def picky(x: int) -> int:
        """Rejects everything."""
        raise ToolRetry("try another x")

    model = ScriptedModel([ToolCall("picky", {"x": 1}), ToolCall("picky", {"x": 2}), "never reached"])
    result = await harness.send(make_agent(model, tools=[picky]), "go")
    assert result.outcome == "failed"
    assert "'picky' failed 2 times (retry budget 1)" in result.error


async def test_parallel_tool_calls_run_concurrently(harness):
    @tool
    async def slow(n: int) -> int:
        """Sleeps a while."""
        await asyncio.sleep(0.3)
        return n

    model = ScriptedModel([[ToolCall("slow", {"n": i}) for i in range(4)], "done"])
    started = time.monotonic()
    result = await harness.send(make_agent(model, tools=[slow]), "go")
    elapsed = time.monotonic() - started
    assert result.outcome == "completed"
    assert elapsed < 0.9, f"4 x 0.3 s calls took {elapsed:.2f}s: they did not overlap"
    contents = [m["content"] for m in model.requests[1].messages if m["role"] == "tool"]
    assert contents == ["0", "1", "2", "3"]  # in call order, whatever order they finished in


async def test_sequential_tool_opts_out_of_concurrency(harness):
    running = 0
    peak = 0

    @tool(sequential=True)
    async def exclusive(n: int) -> int:
        """One at a time."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return n

    model = ScriptedModel([[ToolCall("exclusive", {"n": i}) for i in range(3)], "done"])
    await harness.send(make_agent(model, tools=[exclusive]), "go")
    assert peak == 1


async def test_sync_tools_run_off_the_event_loop(harness):
    @tool
    def blocking(seconds: float) -> str:
        """Blocks its thread."""
        time.sleep(seconds)
        return "ok"

    ticks = 0

    async def heartbeat():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    model = ScriptedModel([ToolCall("blocking", {"seconds": 0.4}), "done"])
    await harness.send(make_agent(model, tools=[blocking]), "go")
    beat.cancel()
    assert ticks >= 10


async def test_tool_context_is_injected_and_hidden_from_the_schema(harness):
    seen = {}

    @tool
    def whoami(ctx: ToolContext, note: str) -> str:
        """Reports where it runs."""
        seen.update(session=ctx.session, agent=ctx.agent, call=ctx.call_id)
        return note

    assert list(whoami.spec()["function"]["parameters"]["properties"]) == ["note"]
    model = ScriptedModel([ToolCall("whoami", {"note": "hi"}), "ok"])
    result = await harness.send(make_agent(model, tools=[whoami]), "go")
    assert seen == {"session": result.session, "agent": "calc", "call": "call_1_0"}


@pytest.mark.parametrize(
    ("limits", "limit_name"),
    [
        (Limits(max_turns=2), "max_turns"),
        (Limits(max_tokens=20), "max_tokens"),
        (Limits(max_cost=0.0000001), "max_cost"),
    ],
)
async def test_each_limit_ends_the_run_with_a_clear_outcome(harness, limits, limit_name):
    class PricedModel(ScriptedModel):
        async def stream(self, request):
            from flue_py.events import Usage
            from flue_py.models.base import UsagePart

            async for part in super().stream(request):
                if isinstance(part, UsagePart):
                    part = UsagePart(Usage(input_tokens=30, output_tokens=5, cost=0.001))
                yield part

    model = PricedModel([ToolCall("add", {"a": 1, "b": 1})] * 5 + ["done"])
    result = await harness.send(make_agent(model, limits=limits), "loop")
    assert result.outcome == "failed"
    assert result.error_type == f"limit:{limit_name}"
    assert limit_name in result.error
    settled = [e for e in await events_of(harness, result.session) if isinstance(e, RunSettled)]
    assert len(settled) == 1 and settled[0].outcome == "failed"


async def test_model_error_fails_the_run_once(harness):
    model = ScriptedModel([ModelRateLimited("slow down")])
    result = await harness.send(make_agent(model), "x")
    assert result.outcome == "failed"
    assert result.error == "slow down"
    assert result.error_type == "ModelRateLimited"


async def test_seq_is_strictly_increasing_from_one(harness):
    model = ScriptedModel([[ToolCall("add", {"a": 1, "b": 2}), ToolCall("add", {"a": 3, "b": 4})], "3 and 7"])
    result = await harness.send(make_agent(model), "x")
    events = await events_of(harness, result.session)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.session == result.session for e in events)
    assert [e.kind for e in events][-1] == "run_settled"


async def test_fold_of_the_log_reproduces_every_request(harness):
    model = ScriptedModel(
        [[ToolCall("add", {"a": 1, "b": 2}), ToolCall("add", {"a": "x"})], ToolCall("add", {"a": 5, "b": 5}), "ok"]
    )
    agent = make_agent(model, instructions="Be exact.")
    first = await harness.send(agent, "first question", id="conv")
    model.turns += ["second answer"]
    await harness.send(agent, "second question", id="conv")
    events = await events_of(harness, first.session)
    # Each request must equal the fold of the log as it stood when that turn started.
    turn_starts = [i for i, e in enumerate(events) if isinstance(e, TurnStarted)]
    assert len(turn_starts) == len(model.requests) == 4
    for index, request in zip(turn_starts, model.requests, strict=True):
        assert request.messages[0] == {"role": "system", "content": "Be exact."}
        assert request.messages[1:] == fold(events[: index + 1], agent="calc")
    assert [m["content"] for m in fold(events) if m["role"] == "user"] == ["first question", "second question"]


async def test_abort_through_the_session_stops_a_streaming_run(harness):
    model = ScriptedModel(["word " * 400], delay=0.01)
    agent = make_agent(model)
    admission = await harness.admit(agent, "talk a lot", id="a1")
    await asyncio.sleep(0.2)
    started = time.monotonic()
    assert await harness.abort(admission.session, "user pressed stop")
    result = await harness.wait(admission)
    assert time.monotonic() - started < 1.0
    assert result.outcome == "aborted"
    events = await events_of(harness, admission.session)
    assert sum(isinstance(e, RunSettled) for e in events) == 1


async def test_abort_cancels_a_running_tool_and_still_records_its_result(harness):
    cancelled = asyncio.Event()

    @tool
    async def forever() -> str:
        """Never returns."""
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "impossible"

    agent = make_agent(ScriptedModel([ToolCall("forever")]), tools=[forever])
    admission = await harness.admit(agent, "go", id="t1")
    await asyncio.sleep(0.2)
    await harness.abort(admission.session)
    result = await harness.wait(admission)
    assert result.outcome == "aborted"
    assert cancelled.is_set()
    events = await events_of(harness, admission.session)
    aborted = [e for e in events if isinstance(e, ToolResult)]
    assert [r.error_type for r in aborted] == ["aborted"]
    assert fold(events)[-1]["content"] == "Aborted."


async def test_a_message_sent_while_live_steers_the_run_at_the_next_turn(harness):
    @tool
    async def wait_a_bit() -> str:
        """Takes a moment."""
        await asyncio.sleep(0.3)
        return "waited"

    model = ScriptedModel([ToolCall("wait_a_bit"), "Understood, switching to French."])
    agent = make_agent(model, tools=[wait_a_bit])
    first = await harness.admit(agent, "start", id="s1")
    await asyncio.sleep(0.1)
    second = await harness.admit(agent, "answer in French please", id="s1")
    one, two = await asyncio.gather(harness.wait(first), harness.wait(second))
    assert one.run == two.run  # the steering message joined the live run instead of starting another
    assert model.requests[1].messages[-1] == {"role": "user", "content": "answer in French please"}
    events = await events_of(harness, first.session)
    assert sum(isinstance(e, RunSettled) for e in events) == 1
    for sub in (first.submission, second.submission):
        assert (await harness.store.get_submission(sub)).state == "settled"


async def test_idempotency_key_deduplicates_admission(harness):
    agent = make_agent(ScriptedModel(["once"]))
    a = await harness.admit(agent, "hi", id="k", idempotency_key="same")
    b = await harness.admit(agent, "hi", id="k", idempotency_key="same")
    assert b.deduplicated and b.submission == a.submission
    assert (await harness.wait(a)).reply == "once"


async def test_conversation_continues_across_harnesses_on_one_store(tmp_path):
    from flue_py.sessions.sqlite import SQLiteSessionStore

    path = tmp_path / "flue.db"
    store = SQLiteSessionStore(path)
    first = ScriptedModel(["Nice to meet you, Ada."])
    harness = Harness(store)
    await harness.send(make_agent(first), "I am Ada", id="ada")
    await harness.close()
    await store.close()
    store = SQLiteSessionStore(path)
    second = ScriptedModel(["You are Ada."])
    harness = Harness(store)
    result = await harness.send(make_agent(second), "Who am I?", id="ada")
    await harness.close()
    await store.close()
    assert result.reply == "You are Ada."
    assert [m["content"] for m in second.requests[0].messages] == ["I am Ada", "Nice to meet you, Ada.", "Who am I?"]
