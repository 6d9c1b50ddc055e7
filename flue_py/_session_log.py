"""Typed events on top of a store's JSON stream: append with seq stamping, read, tail, and a batching writer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from flue_py.events import (
    Event,
    MessageCompleted,
    ReasoningDelta,
    SandboxExec,
    SkillActivated,
    TextDelta,
    ToolCallDelta,
    ToolCalled,
    ToolCallStarted,
    ToolResult,
    TurnStarted,
    UsageReported,
    dump_event,
    load_event,
)
from flue_py.exceptions import StreamNotFound
from flue_py.sessions.base import SessionStore, parse_offset, session_path

__all__ = ["EventWriter", "SessionLog"]

# A turn in progress: batched, not awaited (see EventWriter).
_BATCHED = (
    TextDelta,
    ReasoningDelta,
    ToolCallDelta,
    ToolCallStarted,
    ToolCalled,
    ToolResult,
    TurnStarted,
    MessageCompleted,
    UsageReported,
    SandboxExec,
    SkillActivated,
)


class SessionLog:
    """A session's event log: `sessions/<id>` in the store, one JSON message per event."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    async def append(self, session: str, events: Sequence[Any]) -> list[Any]:
        """Append events atomically; returns them with `seq` and `offset` filled in."""
        if not events:
            return []
        result = await self.store.append(
            session_path(session), [dump_event(e) for e in events], stamp_seq=True, create=True
        )
        for event, offset in zip(events, result.offsets, strict=True):
            event.offset = offset
            event.seq = parse_offset(offset)
        return list(events)

    async def read(self, session: str, after: str | None = None, *, limit: int = 10_000) -> list[Event]:
        """Every event after `after` (all of them when None), following pages until the tail."""
        events: list[Event] = []
        path = session_path(session)
        if await self.store.head(path) is None:
            return events
        while True:
            page = await self.store.read(path, after, limit=min(limit - len(events), 1000))
            events.extend(load_event(m.data, m.offset) for m in page.messages)
            after = page.next_offset
            if page.up_to_date or not page.messages or len(events) >= limit:
                return events

    async def exists(self, session: str) -> bool:
        return await self.store.head(session_path(session)) is not None

    async def tail(self, session: str, after: str | None = None, *, poll: float = 1.0) -> AsyncIterator[Event]:
        """Yield events after `after` forever, waking on appends. Cancel the iteration to stop."""
        path = session_path(session)
        exists = False
        while True:
            # Ask whether the stream exists only until it does: a store round trip per wake-up adds up
            # (a run keeps two tails on its own session).
            if not exists:
                if await self.store.head(path) is None:
                    await asyncio.sleep(poll)
                    continue
                exists = True
            try:
                page = await self.store.read(path, after, limit=1000)
            except StreamNotFound:
                exists = False
                continue
            for message in page.messages:
                yield load_event(message.data, message.offset)
            after = page.next_offset
            if page.up_to_date:
                await self.store.wait(path, after, poll)


class EventWriter:
    """Fills in an event's envelope and appends it; one drain task writes, in emission order.

    The events of a turn in progress (deltas, tool calls and results, the completed message, usage)
    are batched: they wait up to `flush_interval` (or until `max_batch`) and go out in one append, so a
    fast turn costs a few store writes, not one per event. `emit` returns at once for those. Everything
    else (admission, user and steering messages, aborts, run start and settlement) is durable when
    `emit` returns, together with whatever was queued before it, so the log order is emission order.

    Writes happen in a task of the writer's own: cancelling the code that emitted an event (an abort
    cancels the model stream and running tools) never cancels, reorders or drops a write.
    """

    def __init__(
        self,
        log: SessionLog,
        session: str,
        *,
        run: str | None,
        agent: str | None,
        flush_interval: float = 0.015,
        max_batch: int = 64,
    ) -> None:
        self.log = log
        self.session = session
        self.run = run
        self.agent = agent
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._pending: list[Any] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._urgent = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    def _stamp(self, event: Any) -> Any:
        event.session = self.session
        if event.run is None:
            event.run = self.run
        if event.agent is None:
            event.agent = self.agent
        return event

    async def emit(self, event: Any) -> Any:
        """Queue an event; unless it is part of a turn in progress, wait until it is durable. Returns it."""
        self._stamp(event)
        self._pending.append(event)
        if isinstance(event, _BATCHED):
            self._kick(urgent=len(self._pending) >= self.max_batch)
            return event
        await self.flush()
        return event

    async def emit_all(self, *events: Any) -> None:
        """Queue several events together (they land in one append unless the batch is full)."""
        for event in events:
            await self.emit(event)

    def _kick(self, *, urgent: bool) -> None:
        if self._error is not None:
            raise self._error
        if urgent:
            self._urgent.set()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        # Runs while there is something to write, then ends (an idle writer holds no task).
        while self._pending or self._waiters:
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), self.flush_interval)
            self._urgent.clear()
            batch, self._pending = self._pending, []
            waiters, self._waiters = self._waiters, []
            try:
                if batch:
                    await self.log.append(self.session, batch)
            except Exception as exc:  # surfaced to whoever waits, and to the next emit
                self._error = exc
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                return
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def flush(self) -> None:
        """Wait until everything emitted so far is in the log."""
        if not self._pending and (self._drainer is None or self._drainer.done()):
            if self._error is not None:
                raise self._error
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._kick(urgent=True)
        # Shielded: an emitter cancelled now still gets its events written, in order.
        await asyncio.shield(waiter)

    async def close(self) -> None:
        await self.flush()
