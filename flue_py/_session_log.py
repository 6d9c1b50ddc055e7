"""Typed events on top of a store's JSON stream: append with seq stamping, read, tail, and a batching writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from flue_py.events import Event, ReasoningDelta, TextDelta, ToolCallDelta, dump_event, load_event
from flue_py.sessions.base import SessionStore, parse_offset, session_path

__all__ = ["EventWriter", "SessionLog"]

_DELTAS = (TextDelta, ReasoningDelta, ToolCallDelta)


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
        while True:
            if await self.store.head(path) is None:
                await asyncio.sleep(poll)
                continue
            page = await self.store.read(path, after, limit=1000)
            for message in page.messages:
                yield load_event(message.data, message.offset)
            after = page.next_offset
            if page.up_to_date:
                await self.store.wait(path, after, poll)


class EventWriter:
    """Fills in an event's envelope and appends it, batching token deltas.

    Deltas wait up to `flush_interval` (or until `max_batch` of them) and go out in one append, so a
    fast stream costs one store write per batch, not per token. Any other event flushes the pending
    deltas first, in the same append, so order in the log is exactly emission order.
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
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    def _stamp(self, event: Any) -> Any:
        event.session = self.session
        if event.run is None:
            event.run = self.run
        if event.agent is None:
            event.agent = self.agent
        return event

    async def emit(self, event: Any) -> Any:
        """Queue a delta, or append an event (after any queued deltas). Returns the event."""
        self._stamp(event)
        if isinstance(event, _DELTAS):
            self._pending.append(event)
            if len(self._pending) >= self.max_batch:
                await self.flush()
            elif self._timer is None:
                self._timer = asyncio.create_task(self._flush_later())
            return event
        self._pending.append(event)
        await self.flush()
        return event

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_interval)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                await self.log.append(self.session, batch)

    async def close(self) -> None:
        # Never cancel the timer: it may be inside an append, and cancelling would drop its batch.
        if self._timer is not None:
            await asyncio.shield(self._timer)
        await self.flush()
