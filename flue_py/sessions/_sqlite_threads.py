"""Where the SQLite store's SQL runs: one writer thread that coalesces jobs, a few reader threads.

SQLite allows one writer at a time, and a commit costs a WAL write (and sometimes an fsync). So every
write goes through a queue to one thread, which takes *all* jobs waiting at that moment and runs them
in one transaction, each inside its own SAVEPOINT so one refused append does not undo its neighbours.
Under load (token deltas from many runs) appends therefore share commits instead of paying one each;
at rest a lone append commits immediately. The event loop never touches sqlite3.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from flue_py.sessions import _sqlite_ops

T = TypeVar("T")
State = tuple[int, bool]
"""A stream's (tail index, closed) as waiters compare it."""
KNOWN_LIMIT = 4096

MAX_BATCH = 512
"""Jobs per transaction, so one huge burst cannot hold the write lock for long."""


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    path: str | None


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled; the write still happened
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _post(job: _Job, result: Any, error: BaseException | None) -> None:
    try:
        job.loop.call_soon_threadsafe(_settle, job.future, result, error)
    except RuntimeError:  # that event loop is closed; nobody is waiting any more
        pass


class Writer:
    """The single writing connection, fed by a queue.

    After each commit `on_commit({path: (tail, closed) or None})` gets the new state of every path the
    transaction touched, read on the writer's own connection, so waiters need no read of their own.
    """

    def __init__(self, db_path: str, on_commit: Callable[[dict[str, State | None]], None]) -> None:
        self._db_path = db_path
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.commits = 0
        """Transactions committed so far (coalescing makes this much smaller than the jobs run)."""
        self.jobs = 0
        self._thread = threading.Thread(target=self._run, name="flue-sqlite-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def submit(self, fn: Callable[[sqlite3.Connection], T], path: str | None = None) -> asyncio.Future[T]:
        """Queue `fn(conn)`; the future resolves after the transaction holding it commits."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, loop, future, path))
        return future

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = _sqlite_ops.connect(self._db_path)
            _sqlite_ops.init_schema(conn)
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor's caller
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch, stop = self._drain(first)
                self._run_batch(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _drain(self, first: _Job) -> tuple[list[_Job], bool]:
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    result = job.fn(conn)
                except Exception as exc:  # noqa: BLE001 - a refused operation: undo just this job
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((job, None, exc))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((job, result, None))
            conn.execute("COMMIT")
            self.commits += 1
            self.jobs += len(batch)
        except sqlite3.Error as exc:
            # The transaction as a whole failed (disk full, locked too long): nothing was written.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                _post(job, None, exc)
            return
        for job, result, error in outcomes:
            _post(job, result, error)
        paths = {job.path for job in batch if job.path is not None}
        try:
            states = {path: _sqlite_ops.tail_state(conn, path) for path in paths}
        except sqlite3.Error:
            return  # waiters still have the file watcher
        self._on_commit(states)


class Readers:
    """A small pool of threads, each with its own read connection (WAL readers never block the writer)."""

    def __init__(self, db_path: str, workers: int = 3) -> None:
        self._db_path = db_path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flue-sqlite-read")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _sqlite_ops.connect(self._db_path)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(self._conn()))

    def stop(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


@dataclass(slots=True)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    seen: object = None
    """The stream state this waiter saw last; the file watcher rings when the file says otherwise."""


class Doorbell:
    """Wakes `wait()` callers in any event loop: at once for this store's own commits (`ring`), and
    through `stale_paths` for commits by other processes, which a single watcher polls for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, list[_Waiter]] = {}
        self._known: OrderedDict[str, State] = OrderedDict()
        """Latest state per path as committed here or seen by the watcher (bounded, most recent last).

        Never ahead of the file; behind it only for other processes' appends, which the watcher
        notices within one poll (it compares what waiters saw with the file and rings)."""

    def known(self, path: str) -> State | None:
        with self._lock:
            return self._known.get(path)

    def remember(self, path: str, state: State | None) -> None:
        with self._lock:
            self._remember(path, state)

    def _remember(self, path: str, state: State | None) -> None:
        if state is None:
            self._known.pop(path, None)
            return
        self._known[path] = state
        self._known.move_to_end(path)
        while len(self._known) > KNOWN_LIMIT:
            self._known.popitem(last=False)

    def register(self, path: str) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiters.setdefault(path, []).append(_Waiter(loop, future))
        return future

    def observe(self, path: str, future: asyncio.Future[None], seen: object) -> None:
        with self._lock:
            for waiter in self._waiters.get(path, []):
                if waiter.future is future:
                    waiter.seen = seen

    def unregister(self, path: str, future: asyncio.Future[None]) -> None:
        with self._lock:
            waiters = self._waiters.get(path)
            if waiters is None:
                return
            waiters[:] = [w for w in waiters if w.future is not future]
            if not waiters:
                del self._waiters[path]

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._waiters)

    def stale_paths(self, states: dict[str, object]) -> list[str]:
        """Watched paths where some waiter saw a state other than `states` (missing = None) now holds."""
        with self._lock:
            return [
                path
                for path, waiters in self._waiters.items()
                if any(w.seen is not None and w.seen != states.get(path) for w in waiters)
            ]

    def ring(self, states: dict[str, State | None]) -> None:
        """Record the new states and wake everyone waiting on those paths."""
        with self._lock:
            for path, state in states.items():
                self._remember(path, state)
            woken = [w for path in states for w in self._waiters.pop(path, [])]
        for waiter in woken:
            try:
                waiter.loop.call_soon_threadsafe(_settle, waiter.future, None, None)
            except RuntimeError:
                pass
