"""Redis store next to SQLite: append throughput and tail wake-up latency, same run, one table.

- Append throughput: session-log appends (`stamp_seq=True`, ~150-byte JSON events), counted in events/s:
  one event per append from one writer; one event per append from 16 concurrent writers (SQLite
  coalesces those into few commits; Redis runs one script each); 50 events per append from one writer.
- Tail wake-up: time from calling `append()` to a blocked `wait()` returning, p50/p99. "Same client":
  waiter and writer share one store object (SQLite rings an in-process doorbell). "Other client": the
  waiter has its own store object, as another process would (SQLite polls its file every 0.2 s;
  Redis wakes the waiter's XREAD BLOCK).

`python -m bench.redis_store [--quick]`. Redis: `FLUE_BENCH_REDIS_URL` (default redis://127.0.0.1:6379/0),
keys under a fresh prefix, deleted at the end. SQLite: a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench._util import fmt, heading, machine, percentile, table
from flue_py.sessions.base import SessionStore

REDIS_URL = os.environ.get("FLUE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
EVENT = {"kind": "text_delta", "run": "r1", "agent": "support", "text": "Order A-1 shipped yesterday.", "ts": 0.0}


def _event(i: int) -> bytes:
    return json.dumps({**EVENT, "i": i, "ts": time.time()}).encode()


async def _throughput(store: SessionStore, *, events: int, writers: int, batch: int) -> float:
    """Events per second appended to session logs (one log per writer)."""
    per_writer = events // writers

    async def writer(w: int) -> None:
        path = f"sessions/bench-{uuid.uuid4().hex}-{w}"
        for start in range(0, per_writer, batch):
            await store.append(path, [_event(start + i) for i in range(batch)], stamp_seq=True, create=True)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return per_writer * writers / (time.perf_counter() - started)


async def _wake_latency(writer: SessionStore, waiter: SessionStore, samples: int) -> list[float]:
    """Milliseconds from calling append() to the blocked wait() returning."""
    path = f"sessions/bench-wake-{uuid.uuid4().hex}"
    info = await writer.append(path, [_event(0)], stamp_seq=True, create=True)
    offset = info.next_offset
    found: list[float] = []
    for i in range(samples):
        woke = asyncio.get_running_loop().create_future()

        async def wait_once(after: str, done: asyncio.Future[float]) -> None:
            ok = await waiter.wait(path, after, 5.0)
            done.set_result(time.perf_counter() if ok else float("nan"))

        task = asyncio.create_task(wait_once(offset, woke))
        await asyncio.sleep(0.01)  # let the waiter block first
        sent = time.perf_counter()
        result = await writer.append(path, [_event(i + 1)], stamp_seq=True)
        found.append((await woke - sent) * 1000)
        await task
        offset = result.next_offset
    return found


async def _measure(make: Callable[[], SessionStore], quick: bool) -> dict[str, float]:
    n_single, n_batched, n_wake = (400, 2000, 60) if quick else (3000, 20000, 400)
    store, other = make(), make()
    try:
        out = {
            "single": await _throughput(store, events=n_single, writers=1, batch=1),
            "concurrent": await _throughput(store, events=n_single * 2, writers=16, batch=1),
            "batched": await _throughput(store, events=n_batched, writers=1, batch=50),
        }
        same = await _wake_latency(store, store, n_wake)
        cross = await _wake_latency(store, other, n_wake if quick else n_wake // 2)
        out |= {
            "same_p50": percentile(same, 50),
            "same_p99": percentile(same, 99),
            "cross_p50": percentile(cross, 50),
            "cross_p99": percentile(cross, 99),
        }
        return out
    finally:
        await store.close()
        await other.close()


def _redis_reason() -> str | None:
    try:
        import redis
    except ImportError:
        return "the 'redis' package is not installed"
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"no Redis at {REDIS_URL}: {exc}"
    return None


def _delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    finally:
        client.close()


async def _run(quick: bool) -> tuple[dict[str, float] | None, dict[str, float], str | None]:
    from flue_py.sessions.sqlite import SQLiteSessionStore

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        sqlite = await _measure(lambda: SQLiteSessionStore(db), quick)
    reason = _redis_reason()
    if reason is not None:
        return None, sqlite, reason
    from flue_py.sessions.redis import RedisSessionStore

    prefix = f"flue-bench:{uuid.uuid4().hex}:"
    try:
        redis_figures = await _measure(lambda: RedisSessionStore(REDIS_URL, prefix=prefix), quick)
    finally:
        _delete_prefix(prefix)
    return redis_figures, sqlite, None


ROWS = [
    ("single", "append, 1 event/call, 1 writer (events/s)", 0, True),
    ("concurrent", "append, 1 event/call, 16 writers (events/s)", 0, True),
    ("batched", "append, 50 events/call, 1 writer (events/s)", 0, True),
    ("same_p50", "tail wake-up, same client, p50 (ms)", 2, False),
    ("same_p99", "tail wake-up, same client, p99 (ms)", 2, False),
    ("cross_p50", "tail wake-up, other client, p50 (ms)", 2, False),
    ("cross_p99", "tail wake-up, other client, p99 (ms)", 2, False),
]


def main(quick: bool = False) -> None:
    heading(
        "Redis store vs SQLite store",
        f"{machine()}; {'quick' if quick else 'full'} run. Ratio = Redis / SQLite "
        "(above 1.00x is better for throughput, below 1.00x is better for latency).",
    )
    redis_figures, sqlite, reason = asyncio.run(_run(quick))
    rows = []
    for key, label, digits, _ in ROWS:
        r = redis_figures[key] if redis_figures else None
        s = sqlite[key]
        rows.append([label, fmt(r, digits), fmt(s, digits), f"{r / s:.2f}x" if r is not None and s else "-"])
    print(table(["metric", "redis", "sqlite", "redis / sqlite"], rows), flush=True)
    if reason:
        print(f"\nRedis skipped: {reason}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.redis_store", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer appends and samples")
    main(parser.parse_args().quick)
