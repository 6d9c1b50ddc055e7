"""Redis-specific tests: what the contract suite can't see (several clients, Lua vs `_rules`, key hygiene)."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from flue_py.exceptions import ProducerSequenceGap, SequenceConflict, StoreError
from flue_py.sessions import open_store
from flue_py.sessions.base import ForkSpec, Producer, SessionStore, Submission, format_offset, session_path, stamp_seq
from flue_py.sessions.memory import MemorySessionStore
from tests.sessions._redis import delete_prefix, require_redis, unique_prefix


@pytest.fixture
async def two_clients() -> AsyncIterator[tuple[SessionStore, SessionStore]]:
    """Two stores over one prefix with separate connection pools: as two processes would be."""
    url = require_redis()
    from flue_py.sessions.redis import RedisSessionStore

    prefix = unique_prefix()
    a, b = RedisSessionStore(url, prefix=prefix), RedisSessionStore(url, prefix=prefix)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
        delete_prefix(url, prefix)


async def _outcome(call: Callable[[], Awaitable[Any]]) -> Any:
    """A comparable summary of a call: its result, or its exception's type and details."""
    try:
        result = await call()
    except (StoreError, ValueError) as exc:
        return (type(exc).__name__, getattr(exc, "details", None))
    if hasattr(result, "messages"):
        return ([(m.offset, m.data) for m in result.messages], result.next_offset, result.up_to_date, result.closed)
    return result


async def test_lua_appends_match_the_memory_store_on_random_histories(
    two_clients: tuple[SessionStore, SessionStore],
) -> None:
    """Random appends (producers, Stream-Seq, close, content types, stamping) give identical outcomes."""
    redis_store, _ = two_clients
    memory = MemorySessionStore()
    rng = random.Random(7)
    generation = {"t": 0, "j": 0}
    kinds: dict[str, int] = {}
    for step in range(600):
        kind = rng.choice(["t", "j"])
        path = f"{kind}{generation[kind]}"
        if step == 0 or rng.random() < 0.02:  # a fresh stream now and then, so closing doesn't end the test
            generation[kind] += 1
            path = f"{kind}{generation[kind]}"
            for store in (memory, redis_store):
                await store.create_stream(path, content_type="text/plain" if kind == "t" else "application/json")
        producer = (
            Producer(rng.choice(["p", "q"]), rng.choice([0, 0, 1, 2]), rng.choice([0, 1, 2, 3, 4]))
            if rng.random() < 0.5
            else None
        )
        kwargs: dict[str, Any] = {
            "content_type": rng.choice([None, None, "text/plain", "application/json; charset=utf-8", "x/y"]),
            "stream_seq": rng.choice([None, None, f"{step:05d}", "00010", "zz"]),
            "producer": producer,
            "close": rng.random() < 0.03,
            "stamp_seq": kind == "j" and rng.random() < 0.5,
        }
        batch = [json.dumps({"step": step, "i": i}).encode() for i in range(rng.choice([0, 1, 1, 3]))]
        if rng.random() < 0.05:
            batch = [b"[1]"]  # not an object: stamping refuses it
        got = [await _outcome(functools.partial(s.append, path, batch, **kwargs)) for s in (memory, redis_store)]
        assert got[0] == got[1], f"step {step}: append({path!r}, {batch!r}, {kwargs}) differs"
        label = got[0][0] if isinstance(got[0], tuple) else "duplicate" if got[0].duplicate else "written"
        kinds[label] = kinds.get(label, 0) + 1
    for kind, last in generation.items():
        for path in (f"{kind}{n}" for n in range(1, last + 1)):
            assert await _outcome(functools.partial(memory.read, path)) == await _outcome(
                functools.partial(redis_store.read, path)
            )
    # The history must exercise every branch of check_append, or this test proves little.
    assert {"written", "duplicate", "StreamClosed", "ContentTypeMismatch", "SequenceConflict", "ProducerFenced",
            "ProducerSequenceGap", "ValueError"} <= set(kinds), kinds  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [b"{}", b"{ }", b' \t\n{"a":1}', b'{ \n "a": [1, {"b": 2}] }', b'{"\xc3\xa9":"\xe2\x82\xac"}', b"\x0b\x0c{\r}"],
)
async def test_lua_stamping_matches_base_stamp_seq(two_clients: tuple[SessionStore, SessionStore], data: bytes) -> None:
    store, _ = two_clients
    await store.append("s", [b"{}", data], stamp_seq=True, create=True)
    read = await store.read("s")
    assert read.messages[1].data == stamp_seq(data, 2)


async def test_wait_wakes_across_clients_on_append_and_on_close(
    two_clients: tuple[SessionStore, SessionStore],
) -> None:
    reader, writer = two_clients
    await reader.create_stream("s", content_type="text/plain")

    async def later(**kwargs: Any) -> None:
        await asyncio.sleep(0.05)
        await writer.append("s", **kwargs)

    for kwargs in ({"messages": [b"x"]}, {"messages": [], "close": True}):
        task = asyncio.create_task(later(**kwargs))
        after = (await reader.read("s")).next_offset
        started = time.monotonic()
        assert await reader.wait("s", after, 5.0) is True
        assert time.monotonic() - started < 0.5  # woken by XREAD, not by the 1 s re-check
        await task
    assert (await reader.read("s")).closed


async def test_wait_gives_up_when_the_stream_is_deleted(two_clients: tuple[SessionStore, SessionStore]) -> None:
    reader, writer = two_clients
    info, _ = await reader.create_stream("s", content_type="text/plain")
    task = asyncio.create_task(reader.wait("s", info.next_offset, 10.0))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    assert await writer.delete("s")
    assert await asyncio.wait_for(task, 3.0) is False
    assert time.monotonic() - started < 0.5  # the delete rang the doorbell

    # A soft-deleted fork source wakes its waiters too; recreating a path starts with a quiet doorbell.
    await writer.create_stream("src", content_type="text/plain", initial=[b"a"])
    await writer.create_stream("fork", content_type=None, fork=ForkSpec("src"))
    task = asyncio.create_task(reader.wait("src", format_offset(1), 10.0))
    await asyncio.sleep(0.05)
    assert await writer.delete("src")
    assert await asyncio.wait_for(task, 3.0) is False
    await writer.create_stream("s", content_type="text/plain")
    assert await reader.wait("s", None, 0.2) is False


async def test_stamp_seq_is_gapless_across_clients(two_clients: tuple[SessionStore, SessionStore]) -> None:
    path = session_path("multi")

    async def writer(store: SessionStore, n: int) -> None:
        for i in range(25):
            await store.append(path, [json.dumps({"w": n, "i": i}).encode()] * 2, stamp_seq=True, create=True)

    await asyncio.gather(*(writer(two_clients[n % 2], n) for n in range(6)))
    read = await two_clients[0].read(path)
    assert [json.loads(m.data)["seq"] for m in read.messages] == list(range(1, 301))


async def test_producer_numbers_beyond_double_precision_stay_exact(
    two_clients: tuple[SessionStore, SessionStore],
) -> None:
    store, _ = two_clients
    await store.create_stream("s", content_type="text/plain")
    big = 2**60
    await store.append("s", [b"a"], producer=Producer("p", big, 0))
    await store.append("s", [b"b"], producer=Producer("p", big, 1))
    with pytest.raises(ProducerSequenceGap) as gap:
        await store.append("s", [b"c"], producer=Producer("p", big, 3))
    assert gap.value.details == {"expected_seq": 2, "received_seq": 3}
    dup = await store.append("s", [b"b"], producer=Producer("p", big, 1))
    assert dup.duplicate and dup.producer_epoch == big
    with pytest.raises(ProducerSequenceGap):  # big + 1 is a new epoch (a double would round it to big)
        await store.append("s", [b"d"], producer=Producer("p", big + 1, 5))


async def test_stream_seq_compares_bytewise_not_by_locale(two_clients: tuple[SessionStore, SessionStore]) -> None:
    store, _ = two_clients
    await store.create_stream("s", content_type="text/plain")
    for seq in ("B", "a", "b", "é", "ö"):  # code-point order, which is UTF-8 byte order
        await store.append("s", [b"x"], stream_seq=seq)
    with pytest.raises(SequenceConflict):
        await store.append("s", [b"x"], stream_seq="z")


async def test_idempotent_submission_is_created_once_under_a_race(
    two_clients: tuple[SessionStore, SessionStore],
) -> None:
    def sub(i: int) -> Submission:
        return Submission(id=f"s{i}", session="x", target="agent:a", payload={"i": i}, idempotency_key="same")

    results = await asyncio.gather(*(two_clients[i % 2].put_submission(sub(i)) for i in range(10)))
    assert sum(created for _, created in results) == 1
    assert len({record.id for record, _ in results}) == 1
    assert [s.id for s in await two_clients[1].unsettled_submissions("x")] == [results[0][0].id]


async def test_lease_is_exclusive_across_clients_and_expires(two_clients: tuple[SessionStore, SessionStore]) -> None:
    a, b = two_clients
    results = await asyncio.gather(*(store.acquire_lease("run", name, 0.3) for store, name in ((a, "A"), (b, "B"))))
    assert sorted(results) == [False, True]
    owner, other = ("A", "B") if results[0] else ("B", "A")
    assert not await b.acquire_lease("run", other, 0.3)
    assert await a.acquire_lease("run", owner, 0.3)  # renewal by the owner
    lease = await b.get_lease("run")
    assert lease is not None and lease.owner == owner and 0 < lease.expires_at - time.time() <= 0.35
    await asyncio.sleep(0.4)
    assert await b.acquire_lease("run", other, 5)  # the owner stopped renewing: taken over


async def test_expired_streams_leave_no_keys(two_clients: tuple[SessionStore, SessionStore]) -> None:
    store, _ = two_clients
    await store.create_stream("gone", content_type="text/plain", ttl_seconds=1, initial=[b"a"])
    await store.append("gone", [b"b"], producer=Producer("p", 0, 0), close=True)
    await asyncio.sleep(1.05)
    assert await store.head("gone") is None
    prefix: str = store.prefix  # type: ignore[attr-defined]
    client: Any = store._redis  # type: ignore[attr-defined]
    # Only the doorbell that woke any waiters is left, and it expires by itself.
    assert [k async for k in client.scan_iter(match=prefix + "*")] == [f"{prefix}c:gone".encode()]
    assert 0 < await client.pttl(f"{prefix}c:gone") <= 60_000


async def test_url_prefix_isolates_stores() -> None:
    url = require_redis()
    prefix = unique_prefix()
    sep = "&" if "?" in url else "?"
    first, second = open_store(f"{url}{sep}prefix={prefix}"), open_store(f"{url}{sep}prefix={prefix}other:")
    try:
        await first.create_stream("s", content_type="text/plain", initial=[b"x"])
        assert await second.head("s") is None
        assert (await first.head("s")) is not None
        assert (await first.read("s")).next_offset == format_offset(1)
    finally:
        await first.close()
        await second.close()
        delete_prefix(url, prefix)


def test_redis_is_imported_lazily_and_named_when_missing() -> None:
    script = """
import sys
import flue_py.sessions
assert "redis" not in sys.modules, "importing flue_py.sessions imported redis"
sys.modules["redis"] = None  # as if the extra were not installed
from flue_py.exceptions import ConfigError, MissingDependencyError
try:
    import flue_py.sessions.redis
except MissingDependencyError as exc:
    assert "flue-py[redis]" in str(exc), exc
else:
    raise AssertionError("no MissingDependencyError")
try:
    flue_py.sessions.open_store("redis://127.0.0.1:6379/0")
except ConfigError as exc:
    assert "flue-py[redis]" in str(exc), exc
else:
    raise AssertionError("no ConfigError")
"""
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


async def test_a_resent_append_is_written_once(
    two_clients: tuple[SessionStore, SessionStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py resends a command when the connection drops before the reply: same token, one write."""
    store, other = two_clients
    await store.create_stream("s", content_type="application/json")
    monkeypatch.setattr(store, "_retry_token", lambda: "resent-token")
    first = await store.append("s", [b'{"a":1}', b'{"b":2}'], stamp_seq=True)
    await other.append("s", [b'{"c":3}'], stamp_seq=True)  # someone else appends in between
    again = await store.append("s", [b'{"a":1}', b'{"b":2}'], stamp_seq=True)
    assert again == first
    assert [m.data for m in (await store.read("s")).messages] == [b'{"seq":1,"a":1}', b'{"seq":2,"b":2}',
                                                                  b'{"seq":3,"c":3}']  # fmt: skip


async def test_a_long_wait_outlasts_the_socket_timeout() -> None:
    """XREAD BLOCK must not outlive redis-py's socket timeout (5 s by default; 0.4 s here), or wait() raises."""
    url = require_redis()
    prefix = unique_prefix()
    store = open_store(f"{url}{'&' if '?' in url else '?'}socket_timeout=0.4&prefix={prefix}")
    try:
        info, _ = await store.create_stream("s", content_type="text/plain")
        started = time.monotonic()
        assert await store.wait("s", info.next_offset, 1.2) is False
        assert time.monotonic() - started >= 1.1
    finally:
        await store.close()
        delete_prefix(url, prefix)


async def test_an_evicting_redis_is_reported_once(
    two_clients: tuple[SessionStore, SessionStore], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store, _ = two_clients
    client: Any = store._redis  # type: ignore[attr-defined]
    calls: list[str] = []

    async def info(section: str) -> dict[str, str]:
        calls.append(section)
        return {"maxmemory_policy": "allkeys-lru"}

    monkeypatch.setattr(client, "info", info)
    with caplog.at_level("WARNING", logger="flue_py.sessions.redis"):
        await store.append("s", [b"{}"], create=True)
        await store.append("s", [b"{}"])
    assert calls == ["memory"]
    assert [
        r.getMessage() for r in caplog.records if "allkeys-lru" in r.getMessage() and "noeviction" in r.getMessage()
    ]


async def test_concurrent_appends_share_round_trips_and_keep_their_own_outcomes(
    two_clients: tuple[SessionStore, SessionStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = two_clients
    await store.create_stream("ok", content_type="application/json")
    await store.create_stream("shut", content_type="application/json", closed=True)
    client: Any = store._redis  # type: ignore[attr-defined]
    pipelines = 0
    real_pipeline = client.pipeline

    def counting_pipeline(*args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return real_pipeline(*args, **kwargs)

    monkeypatch.setattr(client, "pipeline", counting_pipeline)

    async def one(i: int) -> object:
        path = ["ok", "shut", "missing"][i % 3]
        return await _outcome(functools.partial(store.append, path, [json.dumps({"i": i}).encode()], stamp_seq=True))

    outcomes = await asyncio.gather(*(one(i) for i in range(90)))
    assert pipelines > 0  # the backlog went out in batches
    assert all(o.closed is False and len(o.offsets) == 1 for o in outcomes[0::3])  # type: ignore[attr-defined]
    assert all(o[0] == "StreamClosed" for o in outcomes[1::3])  # type: ignore[index]
    assert all(o[0] == "StreamNotFound" for o in outcomes[2::3])  # type: ignore[index]
    read = await store.read("ok")
    assert sorted(json.loads(m.data)["i"] for m in read.messages) == list(range(0, 90, 3))
    assert [json.loads(m.data)["seq"] for m in read.messages] == list(range(1, 31))


async def test_batched_appends_survive_a_script_flush(two_clients: tuple[SessionStore, SessionStore]) -> None:
    """After SCRIPT FLUSH (or a Redis restart) a batch answers NOSCRIPT: those appends go again, once."""
    store, _ = two_clients
    client: Any = store._redis  # type: ignore[attr-defined]
    batcher: Any = store._appends  # type: ignore[attr-defined]
    await store.create_stream("s", content_type="application/json")
    await client.script_flush()
    batcher._busy = batcher._slots  # every slot taken: the appends below queue up as one backlog
    calls = [asyncio.ensure_future(store.append("s", [b"{}"], stamp_seq=True)) for _ in range(20)]
    await asyncio.sleep(0.05)
    assert len(batcher._queue) == 20
    batcher._busy = 0
    batcher._spawn_if_needed()
    await asyncio.gather(*calls)
    read = await store.read("s")
    assert [json.loads(m.data)["seq"] for m in read.messages] == list(range(1, 21))


async def test_an_unreachable_server_is_store_unavailable():
    """A dead Redis is a typed StoreUnavailable (the server answers 503), never a raw redis error."""
    import socket

    from flue_py.exceptions import StoreUnavailable
    from flue_py.sessions.redis import RedisSessionStore

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = RedisSessionStore(f"redis://127.0.0.1:{port}/0")
    try:
        with pytest.raises(StoreUnavailable, match="Redis is unreachable"):
            await store.head("sessions/x")
        with pytest.raises(StoreUnavailable):
            await store.append("sessions/x", [b"{}"], create=True)
    finally:
        await store.close()
