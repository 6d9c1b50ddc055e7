"""The default `SessionStore`: one SQLite file in WAL mode, shared safely by several processes.

Writes are coalesced by a single writer thread (see `_sqlite_threads.py`), so a burst of token-delta
appends costs a handful of commits, not one each. Reads run on reader threads. `wait()` wakes at once
for appends made through this store object and polls the file (every `poll_interval` seconds) to
notice appends made by other processes.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from flue_py.exceptions import StreamGone, StreamNotFound
from flue_py.sessions import _rules, _sqlite_ops
from flue_py.sessions._sqlite_threads import Doorbell, Readers, Writer
from flue_py.sessions.base import (
    AppendResult,
    ForkSpec,
    Lease,
    Producer,
    ReadResult,
    SessionStore,
    StreamInfo,
    Submission,
    SubmissionState,
)

__all__ = ["SQLiteSessionStore"]


class SQLiteSessionStore(SessionStore):
    """Streams, submissions and leases in one SQLite file.

    Args:
        path: the database file (created with its parent directories if missing).
        poll_interval: how often `wait()` re-reads the file to see other processes' appends.
    """

    def __init__(self, path: str | Path, *, poll_interval: float = 0.2) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.poll_interval = poll_interval
        self._doorbell = Doorbell()
        self._writer = Writer(str(self.path), self._doorbell.ring)
        self._readers = Readers(str(self.path))
        self._closed = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def write_stats(self) -> tuple[int, int]:
        """(write jobs run, transactions committed): how well concurrent writes were coalesced."""
        return self._writer.jobs, self._writer.commits

    # -- streams -------------------------------------------------------------------------------

    async def create_stream(
        self,
        path: str,
        *,
        content_type: str | None = "application/json",
        ttl_seconds: int | None = None,
        expires_at: float | None = None,
        closed: bool = False,
        fork: ForkSpec | None = None,
        initial: Sequence[bytes] = (),
    ) -> tuple[StreamInfo, bool]:
        def op(conn: sqlite3.Connection) -> tuple[StreamInfo, bool]:
            return _sqlite_ops.create(
                conn,
                path,
                content_type=content_type,
                ttl_seconds=ttl_seconds,
                expires_at=expires_at,
                closed=closed,
                fork=fork,
                initial=list(initial),
                now=time.time(),
            )

        return await self._writer.submit(op, path)

    async def append(
        self,
        path: str,
        messages: Sequence[bytes],
        *,
        content_type: str | None = None,
        stream_seq: str | None = None,
        producer: Producer | None = None,
        close: bool = False,
        stamp_seq: bool = False,
        create: bool = False,
    ) -> AppendResult:
        batch = list(messages)

        def op(conn: sqlite3.Connection) -> AppendResult:
            return _sqlite_ops.append(
                conn,
                path,
                batch,
                content_type=content_type,
                stream_seq=stream_seq,
                producer=producer,
                close=close,
                stamp_seq=stamp_seq,
                create_missing=create,
                now=time.time(),
            )

        return await self._writer.submit(op, path)

    async def _expire(self, path: str) -> None:
        """Let the writer remove an expired stream, then report it the way a later access would see it."""
        await self._writer.submit(lambda conn: _sqlite_ops.expire(conn, path, time.time()), path)
        state = await self._readers.run(lambda conn: _sqlite_ops.fetch_row(conn, path))
        if state is not None and state.deleted:
            raise StreamGone(f"stream {path!r} was deleted", path=path)
        raise StreamNotFound(f"no stream at {path!r}", path=path)

    async def read(self, path: str, after: str | None = None, *, limit: int = 1000) -> ReadResult:
        found = await self._readers.run(lambda conn: _sqlite_ops.read(conn, path, after, limit, time.time()))
        if isinstance(found, str):
            await self._expire(path)  # always raises: the stream is gone now
        assert not isinstance(found, str)
        result, has_ttl = found
        if has_ttl:
            await self.touch(path)
        return result

    async def touch(self, path: str) -> None:
        """Slide the TTL window of `path` (a no-op for streams without a TTL)."""
        await self._writer.submit(lambda conn: _sqlite_ops.touch(conn, path, time.time()))

    async def wait(self, path: str, after: str | None, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        start: int | None = None
        while True:
            # Register before looking, so a commit between the look and the sleep still rings.
            doorbell = self._doorbell.register(path)
            try:
                # What this process committed (or the watcher saw) is known without a read; only an
                # unknown path, or resolving "now", needs the file.
                state = None if start is None and after == "now" else self._doorbell.known(path)
                if state is None:
                    state = await self._readers.run(lambda conn: _sqlite_ops.tail_state(conn, path))
                    self._doorbell.remember(path, state)
                if state is None:
                    if start is None:
                        raise StreamNotFound(f"no stream at {path!r}", path=path)
                    return False
                if start is None:
                    start = _rules.start_index(after, state[0])  # "now" means the tail seen first
                if start < state[0] or state[1]:
                    return True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                self._doorbell.observe(path, doorbell, state)
                self._ensure_watcher(loop)
                try:
                    await asyncio.wait_for(doorbell, remaining)
                except TimeoutError:
                    return False
            finally:
                self._doorbell.unregister(path, doorbell)

    def _ensure_watcher(self, loop: asyncio.AbstractEventLoop) -> None:
        task = self._watcher
        if task is None or task.done() or task.get_loop() is not loop:
            self._watcher = loop.create_task(self._watch())

    async def _watch(self) -> None:
        """One poll of the file per interval for every waiter: notices other processes' appends."""
        while not self._closed:
            await asyncio.sleep(self.poll_interval)
            paths = self._doorbell.watched()
            if not paths:
                return
            poll = functools.partial(_sqlite_ops.tail_states, paths=paths)
            try:
                states = await self._readers.run(poll)
            except RuntimeError:  # the store closed under us
                return
            stale = self._doorbell.stale_paths(dict(states))
            if stale:
                self._doorbell.ring({path: states.get(path) for path in stale})

    async def head(self, path: str) -> StreamInfo | None:
        """Metadata, or None when missing or expired; raises StreamGone for a soft-deleted fork source."""
        try:
            row = await self._readers.run(lambda conn: _sqlite_ops.read_row(conn, path, time.time()))
        except StreamNotFound:
            return None
        if isinstance(row, str):
            try:
                await self._expire(path)
            except StreamNotFound:
                return None
            raise AssertionError("unreachable")  # pragma: no cover - _expire always raises
        return row.info

    async def delete(self, path: str) -> bool:
        return await self._writer.submit(lambda conn: _sqlite_ops.delete(conn, path, time.time()), path)

    async def list_streams(self, prefix: str = "", *, limit: int = 100) -> list[StreamInfo]:
        return await self._readers.run(lambda conn: _sqlite_ops.list_streams(conn, prefix, limit, time.time()))

    # -- submissions ---------------------------------------------------------------------------

    async def put_submission(self, submission: Submission) -> tuple[Submission, bool]:
        return await self._writer.submit(lambda conn: _sqlite_ops.put_submission(conn, submission))

    async def get_submission(self, submission_id: str) -> Submission | None:
        return await self._readers.run(lambda conn: _sqlite_ops.get_submission(conn, submission_id))

    async def update_submission(
        self, submission_id: str, *, state: SubmissionState, outcome: str | None = None, attempts: int | None = None
    ) -> None:
        await self._writer.submit(
            lambda conn: _sqlite_ops.update_submission(conn, submission_id, state, outcome, attempts)
        )

    async def unsettled_submissions(self, session: str | None = None) -> list[Submission]:
        return await self._readers.run(lambda conn: _sqlite_ops.unsettled_submissions(conn, session))

    # -- leases --------------------------------------------------------------------------------

    async def acquire_lease(self, key: str, owner: str, ttl_seconds: float) -> bool:
        return await self._writer.submit(
            lambda conn: _sqlite_ops.acquire_lease(conn, key, owner, ttl_seconds, time.time())
        )

    async def release_lease(self, key: str, owner: str) -> None:
        await self._writer.submit(lambda conn: _sqlite_ops.release_lease(conn, key, owner))

    async def get_lease(self, key: str) -> Lease | None:
        return await self._readers.run(lambda conn: _sqlite_ops.get_lease(conn, key, time.time()))

    # -- lifecycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None and not self._watcher.done():
            self._watcher.cancel()
        await asyncio.to_thread(self._writer.stop)
        await asyncio.to_thread(self._readers.stop)
