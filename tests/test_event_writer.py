"""EventWriter: turn events are batched, control events are durable on return, order is emission order."""

from __future__ import annotations

import asyncio

from flue_py._session_log import EventWriter, SessionLog
from flue_py.events import RunSettled, TextDelta, ToolCalled, UserMessage
from flue_py.sessions.memory import MemorySessionStore


class CountingStore(MemorySessionStore):
    def __init__(self) -> None:
        super().__init__()
        self.appends = 0

    async def append(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.appends += 1
        return await super().append(*args, **kwargs)


async def test_turn_events_batch_into_few_appends_and_settlement_flushes_them_in_order():
    store = CountingStore()
    log = SessionLog(store)
    writer = EventWriter(log, "s/1", run="r", agent="a", flush_interval=0.05)
    for i in range(30):
        await writer.emit(TextDelta(text=str(i)))
    await writer.emit(ToolCalled(call_id="c", name="t", args={}))
    assert await log.read("s/1") == []  # nothing awaited durability yet
    await writer.emit(RunSettled(outcome="completed"))
    events = await log.read("s/1")
    assert [e.seq for e in events] == list(range(1, 33))
    assert [getattr(e, "text", None) for e in events[:30]] == [str(i) for i in range(30)]
    assert events[-1].kind == "run_settled" and store.appends == 1


async def test_batched_events_are_written_within_the_window():
    log = SessionLog(MemorySessionStore())
    writer = EventWriter(log, "s/2", run=None, agent=None, flush_interval=0.02)
    await writer.emit(TextDelta(text="hi"))
    await asyncio.sleep(0.2)
    assert [e.kind for e in await log.read("s/2")] == ["text_delta"]


async def test_a_cancelled_emitter_still_gets_its_events_written():
    log = SessionLog(MemorySessionStore())
    writer = EventWriter(log, "s/3", run=None, agent=None)

    async def emitter() -> None:
        await writer.emit(TextDelta(text="before"))
        await writer.emit(UserMessage(text="control"))  # awaits durability: cancelled while waiting

    task = asyncio.create_task(emitter())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await writer.close()
    assert [e.kind for e in await log.read("s/3")] == ["text_delta", "user_message"]


async def test_a_full_batch_goes_out_without_waiting_for_the_window():
    log = SessionLog(MemorySessionStore())
    writer = EventWriter(log, "s/4", run=None, agent=None, flush_interval=10.0, max_batch=8)
    for i in range(8):
        await writer.emit(TextDelta(text=str(i)))
    await asyncio.sleep(0.05)
    assert len(await log.read("s/4")) == 8
