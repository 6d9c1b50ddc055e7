"""Recovery decisions, in process: every way a crash can leave a submission gets exactly one settlement."""

from __future__ import annotations

from flue_py import Agent, Harness
from flue_py._session_log import EventWriter
from flue_py.events import MessageCompleted, RunSettled, RunStarted, ToolCallRecord, TurnStarted, UserMessage
from flue_py.sessions.base import Submission
from flue_py.sessions.memory import MemorySessionStore
from flue_py.testing import ScriptedModel


def _agent(model: ScriptedModel) -> Agent:
    return Agent(name="calc", model=model, sandbox=False, skills=[])


async def _open_run(harness: Harness, session: str, sub: str, attempts: int, *, with_call: bool) -> None:
    """What a process that died mid-run leaves behind."""
    await harness.store.put_submission(Submission(id=sub, session=session, target="agent:calc", payload={"text": "hi"}))
    await harness.store.update_submission(sub, state="running", attempts=attempts)
    user = EventWriter(harness.log, session, run=None, agent="calc")
    message = await user.emit(UserMessage(text="hi", submission=sub))
    run = EventWriter(harness.log, session, run="run_dead", agent="calc")
    await run.emit(RunStarted(submission=sub, attempt=attempts))
    await run.emit(TurnStarted(turn=1, inputs=[message.seq]))
    if with_call:
        await run.emit(MessageCompleted(tool_calls=[ToolCallRecord(id="c1", name="lookup", arguments="{}")]))
    await run.close()


async def test_an_open_run_resumes_under_its_own_id_with_interrupted_results() -> None:
    harness = Harness(MemorySessionStore(), lease_ttl=1.0)
    await _open_run(harness, "calc/r1", "sub_1", 1, with_call=True)
    agent = _agent(ScriptedModel(["Recovered."]))
    assert await harness.recover({"calc": agent}, {}) == ["calc/r1"]
    await harness.close()
    events = await harness.log.read("calc/r1")
    settles = [e for e in events if isinstance(e, RunSettled)]
    assert len(settles) == 1 and settles[0].run == "run_dead" and settles[0].outcome == "completed"
    assert [e.attempt for e in events if isinstance(e, RunStarted)] == [1, 2]
    request = agent.model.requests[0]  # type: ignore[union-attr]
    assert request.messages[-1]["role"] == "tool" and "Interrupted" in request.messages[-1]["content"]
    assert (await harness.store.get_submission("sub_1")).state == "settled"  # type: ignore[union-attr]


async def test_the_retry_budget_settles_a_run_that_keeps_crashing_as_failed() -> None:
    harness = Harness(MemorySessionStore(), lease_ttl=1.0, max_attempts=3)
    await _open_run(harness, "calc/r2", "sub_2", 3, with_call=False)
    model = ScriptedModel(["never asked"])
    await harness.recover({"calc": _agent(model)}, {})
    await harness.close()
    settles = [e for e in await harness.log.read("calc/r2") if isinstance(e, RunSettled)]
    assert [(s.outcome, s.error_type) for s in settles] == [("failed", "RetryBudgetExhausted")]
    assert model.requests == []


async def test_an_input_recorded_but_never_logged_is_logged_and_run() -> None:
    harness = Harness(MemorySessionStore())
    await harness.store.put_submission(
        Submission(id="sub_3", session="calc/r3", target="agent:calc", payload={"text": "late"})
    )
    await harness.recover({"calc": _agent(ScriptedModel(["Answered."]))}, {})
    await harness.close()
    events = await harness.log.read("calc/r3")
    assert [e.text for e in events if isinstance(e, UserMessage)] == ["late"]
    assert [s.reply for s in events if isinstance(s, RunSettled)] == ["Answered."]


async def test_a_settlement_already_in_the_log_only_updates_the_record() -> None:
    harness = Harness(MemorySessionStore())
    await harness.store.put_submission(
        Submission(id="sub_4", session="calc/r4", target="agent:calc", payload={"text": "x"})
    )
    writer = EventWriter(harness.log, "calc/r4", run="run_x", agent="calc")
    await writer.emit(UserMessage(text="x", submission="sub_4"))
    await writer.emit(RunSettled(outcome="completed", submission="sub_4", reply="done"))
    model = ScriptedModel([])
    assert await harness.recover({"calc": _agent(model)}, {}) == []
    assert (await harness.store.get_submission("sub_4")).state == "settled"  # type: ignore[union-attr]
    assert sum(isinstance(e, RunSettled) for e in await harness.log.read("calc/r4")) == 1


async def test_a_submission_for_an_agent_that_no_longer_exists_settles_failed() -> None:
    harness = Harness(MemorySessionStore())
    await harness.store.put_submission(
        Submission(id="sub_5", session="gone/r5", target="agent:gone", payload={"text": "x"})
    )
    await harness.recover({}, {})
    settles = [e for e in await harness.log.read("gone/r5") if isinstance(e, RunSettled)]
    assert [(s.outcome, s.submission) for s in settles] == [("failed", "sub_5")]


async def test_wait_resolves_a_message_that_another_harness_consumed_as_a_steer() -> None:
    import asyncio

    from flue_py import tool

    @tool
    async def pause() -> str:
        """Takes a moment."""
        await asyncio.sleep(0.4)
        return "paused"

    from flue_py.testing import ToolCall

    store = MemorySessionStore()
    first, second = Harness(store), Harness(store)  # two processes sharing one store
    agent = Agent(
        name="calc", model=ScriptedModel([ToolCall("pause"), "Both answered."]), tools=[pause], sandbox=False, skills=[]
    )
    a = await first.admit(agent, "start", id="x")
    await asyncio.sleep(0.15)
    b = await second.admit(agent, "also this", id="x")  # first's run is live: this joins it
    one, two = await asyncio.wait_for(asyncio.gather(first.wait(a), second.wait(b)), 5)
    assert one.run == two.run and two.reply == "Both answered."
    await first.close()
    await second.close()
