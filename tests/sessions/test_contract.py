"""The `SessionStore` contract: every backend must pass every test here (see conftest.BACKENDS)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from flue_py.exceptions import (
    ContentTypeMismatch,
    InvalidOffset,
    ProducerFenced,
    ProducerSequenceGap,
    SequenceConflict,
    StreamClosed,
    StreamExists,
    StreamGone,
    StreamNotFound,
)
from flue_py.sessions.base import (
    ZERO_OFFSET,
    ForkSpec,
    Producer,
    SessionStore,
    Submission,
    format_offset,
    parse_offset,
    session_path,
)


def _texts(result: object) -> list[bytes]:
    return [m.data for m in result.messages]  # type: ignore[attr-defined]


# -- offsets ---------------------------------------------------------------------------------------


def test_offsets_sort_like_their_indexes() -> None:
    offsets = [format_offset(i) for i in (0, 1, 9, 10, 99, 100, 12345678)]
    assert offsets == sorted(offsets)
    assert [parse_offset(o) for o in offsets] == [0, 1, 9, 10, 99, 100, 12345678]
    assert format_offset(0) == ZERO_OFFSET
    for bad in ("-1", "now", "", "0", "x" * 33, ZERO_OFFSET.replace("_", "-"), "1" * 16 + "_" + "0" * 16):
        with pytest.raises(ValueError):
            parse_offset(bad)
    for reserved in (",", "&", "=", "?", "/"):
        assert reserved not in format_offset(123)


# -- create / append / read --------------------------------------------------------------------------


async def test_create_is_idempotent_and_config_checked(session_store: SessionStore) -> None:
    info, created = await session_store.create_stream("a", content_type="text/plain")
    assert created and info.next_offset == ZERO_OFFSET and info.content_type == "text/plain"
    again, created = await session_store.create_stream("a", content_type="text/plain; charset=utf-8")
    assert not created and again.path == "a"
    with pytest.raises(StreamExists):
        await session_store.create_stream("a", content_type="application/json")
    with pytest.raises(StreamExists):
        await session_store.create_stream("a", content_type="text/plain", ttl_seconds=60)


async def test_append_read_resume_exactly(session_store: SessionStore) -> None:
    await session_store.create_stream("s", content_type="text/plain", initial=[b"a"])
    first = await session_store.append("s", [b"b", b"c"])
    assert [parse_offset(o) for o in first.offsets] == [2, 3]
    assert first.next_offset == format_offset(3)
    everything = await session_store.read("s")
    assert _texts(everything) == [b"a", b"b", b"c"]
    assert everything.up_to_date and not everything.closed
    assert [m.offset for m in everything.messages] == [format_offset(i) for i in (1, 2, 3)]
    resumed = await session_store.read("s", everything.messages[0].offset)
    assert _texts(resumed) == [b"b", b"c"]
    page = await session_store.read("s", None, limit=2)
    assert _texts(page) == [b"a", b"b"] and not page.up_to_date
    rest = await session_store.read("s", page.next_offset)
    assert _texts(rest) == [b"c"] and rest.up_to_date
    assert _texts(await session_store.read("s", "-1")) == [b"a", b"b", b"c"]
    now = await session_store.read("s", "now")
    assert now.messages == [] and now.next_offset == format_offset(3) and now.up_to_date


async def test_missing_and_malformed(session_store: SessionStore) -> None:
    with pytest.raises(StreamNotFound):
        await session_store.read("nope")
    with pytest.raises(StreamNotFound):
        await session_store.append("nope", [b"x"])
    assert await session_store.head("nope") is None
    assert await session_store.delete("nope") is False
    await session_store.create_stream("s", content_type="text/plain")
    with pytest.raises(InvalidOffset):
        await session_store.read("s", "garbage")


async def test_append_checks(session_store: SessionStore) -> None:
    await session_store.create_stream("s", content_type="application/json")
    with pytest.raises(ContentTypeMismatch):
        await session_store.append("s", [b"{}"], content_type="text/plain")
    await session_store.append("s", [b"{}"], stream_seq="b")
    with pytest.raises(SequenceConflict):
        await session_store.append("s", [b"{}"], stream_seq="a")
    with pytest.raises(SequenceConflict):
        await session_store.append("s", [b"{}"], stream_seq="b")
    await session_store.append("s", [b"{}"], stream_seq="c")
    assert len((await session_store.read("s")).messages) == 2


async def test_refused_append_writes_nothing(session_store: SessionStore) -> None:
    await session_store.create_stream("s", content_type="application/json")
    await session_store.append("s", [b"1"], stream_seq="5")
    results = await asyncio.gather(
        session_store.append("s", [b"2"], stream_seq="1"),  # refused
        session_store.append("s", [b"3"], stream_seq="6"),  # accepted, maybe in the same transaction
        return_exceptions=True,
    )
    assert isinstance(results[0], SequenceConflict)
    assert _texts(await session_store.read("s")) == [b"1", b"3"]


async def test_close(session_store: SessionStore) -> None:
    await session_store.create_stream("s", content_type="text/plain")
    closed = await session_store.append("s", [b"last"], close=True)
    assert closed.closed
    with pytest.raises(StreamClosed) as info:
        await session_store.append("s", [b"more"])
    assert info.value.details["next_offset"] == format_offset(1)
    again = await session_store.append("s", [], close=True)  # closing twice is fine
    assert again.closed and again.next_offset == format_offset(1)
    read = await session_store.read("s")
    assert read.closed and read.up_to_date
    head = await session_store.head("s")
    assert head is not None and head.closed
    assert await session_store.wait("s", read.next_offset, 5.0) is True  # closed: no waiting


async def test_idempotent_producer(session_store: SessionStore) -> None:
    await session_store.create_stream("s", content_type="text/plain")
    a = await session_store.append("s", [b"a"], producer=Producer("p", 0, 0))
    assert not a.duplicate and a.producer_seq == 0
    retry = await session_store.append("s", [b"a"], producer=Producer("p", 0, 0))
    assert retry.duplicate and retry.next_offset == a.next_offset
    with pytest.raises(ProducerSequenceGap) as gap:
        await session_store.append("s", [b"c"], producer=Producer("p", 0, 2))
    assert gap.value.details == {"expected_seq": 1, "received_seq": 2}
    await session_store.append("s", [b"b"], producer=Producer("p", 0, 1))
    await session_store.append("s", [b"x"], producer=Producer("p", 1, 0))  # new epoch fences the old one
    with pytest.raises(ProducerFenced) as fenced:
        await session_store.append("s", [b"zombie"], producer=Producer("p", 0, 2))
    assert fenced.value.details["current_epoch"] == 1
    with pytest.raises(ProducerSequenceGap):
        await session_store.append("s", [b"y"], producer=Producer("q", 0, 1))  # a new producer starts at 0
    assert _texts(await session_store.read("s")) == [b"a", b"b", b"x"]


async def test_stamp_seq_is_gapless_under_concurrency(session_store: SessionStore) -> None:
    path = session_path("s1")

    async def writer(n: int) -> None:
        for i in range(20):
            await session_store.append(path, [json.dumps({"w": n, "i": i}).encode()], stamp_seq=True, create=True)

    await asyncio.gather(*(writer(n) for n in range(5)))
    read = await session_store.read(path)
    seqs = [json.loads(m.data)["seq"] for m in read.messages]
    assert seqs == list(range(1, 101))
    assert all(parse_offset(m.offset) == json.loads(m.data)["seq"] for m in read.messages)
    first = json.loads(read.messages[0].data)
    assert list(first) == ["seq", "w", "i"]


async def test_stamp_seq_rejects_non_objects(session_store: SessionStore) -> None:
    with pytest.raises(ValueError):
        await session_store.append("sessions/x", [b"[1]"], stamp_seq=True, create=True)


async def test_wait_wakes_on_append_and_times_out(session_store: SessionStore) -> None:
    info, _ = await session_store.create_stream("s", content_type="text/plain")
    started = time.monotonic()
    assert await session_store.wait("s", info.next_offset, 0.2) is False
    assert time.monotonic() - started >= 0.15

    async def later() -> None:
        await asyncio.sleep(0.05)
        await session_store.append("s", [b"x"])

    task = asyncio.create_task(later())
    started = time.monotonic()
    assert await session_store.wait("s", info.next_offset, 5.0) is True
    assert time.monotonic() - started < 1.0
    await task
    assert await session_store.wait("s", None, 0.01) is True  # data already there
    with pytest.raises(StreamNotFound):
        await session_store.wait("nope", None, 0.01)


async def test_wait_now_waits_for_the_next_append(session_store: SessionStore) -> None:
    await session_store.create_stream("s", content_type="text/plain", initial=[b"old"])
    assert await session_store.wait("s", "now", 0.05) is False

    async def later() -> None:
        await asyncio.sleep(0.05)
        await session_store.append("s", [b"new"])

    task = asyncio.create_task(later())
    assert await session_store.wait("s", "now", 5.0) is True
    await task


async def test_delete_and_list(session_store: SessionStore) -> None:
    await session_store.create_stream("sessions/a")
    await asyncio.sleep(0.01)
    await session_store.create_stream("sessions/b")
    await session_store.create_stream("other")
    listed = [info.path for info in await session_store.list_streams("sessions/")]
    assert listed == ["sessions/b", "sessions/a"]
    assert [i.path for i in await session_store.list_streams("sessions/", limit=1)] == ["sessions/b"]
    assert await session_store.list_streams("Sessions/") == []
    assert await session_store.delete("sessions/a") is True
    assert await session_store.head("sessions/a") is None
    info, created = await session_store.create_stream("sessions/a")  # the path is free again
    assert created and info.next_offset == ZERO_OFFSET


async def test_ttl_expires_on_access_and_reads_slide_it(session_store: SessionStore) -> None:
    await session_store.create_stream("ttl", content_type="text/plain", ttl_seconds=1)
    await session_store.create_stream("abs", content_type="text/plain", expires_at=time.time() + 0.5)
    await asyncio.sleep(0.6)
    await session_store.read("ttl")  # slides the window
    assert await session_store.head("abs") is None
    with pytest.raises(StreamNotFound):
        await session_store.read("abs")
    await asyncio.sleep(0.6)
    assert await session_store.head("ttl") is not None  # 1.2 s after creation, 0.6 s after the read
    await asyncio.sleep(1.1)
    assert await session_store.head("ttl") is None
    assert await session_store.list_streams("ttl") == []


# -- forks -----------------------------------------------------------------------------------------


async def test_fork_copies_prefix_and_inherits(session_store: SessionStore) -> None:
    await session_store.create_stream("src", content_type="text/plain", ttl_seconds=3600, initial=[b"a", b"b"])
    await session_store.append("src", [b"c"], producer=Producer("p", 0, 0))
    info, created = await session_store.create_stream("f", content_type=None, fork=ForkSpec("src", format_offset(2)))
    assert created and info.content_type == "text/plain" and info.ttl_seconds == 3600
    assert info.forked_from == "src" and info.fork_offset == format_offset(2)
    assert _texts(await session_store.read("f")) == [b"a", b"b"]
    await session_store.append("f", [b"X"], producer=Producer("p", 0, 0))  # producer state is not inherited
    assert _texts(await session_store.read("f")) == [b"a", b"b", b"X"]
    assert _texts(await session_store.read("src")) == [b"a", b"b", b"c"]
    whole, _ = await session_store.create_stream("g", content_type="text/plain", fork=ForkSpec("src"))
    assert whole.next_offset == format_offset(3)
    with pytest.raises(StreamNotFound):
        await session_store.create_stream("h", fork=ForkSpec("missing"))
    with pytest.raises(InvalidOffset):
        await session_store.create_stream("h", content_type=None, fork=ForkSpec("src", format_offset(9)))
    with pytest.raises(ContentTypeMismatch):
        await session_store.create_stream("h", content_type="application/json", fork=ForkSpec("src"))
    assert await session_store.head("h") is None


async def test_fork_sub_offsets(session_store: SessionStore) -> None:
    await session_store.create_stream("bin", content_type="text/plain", initial=[b"first", b"second"])
    await session_store.create_stream("b1", content_type=None, fork=ForkSpec("bin", format_offset(1), 3))
    assert _texts(await session_store.read("b1")) == [b"first", b"sec"]
    with pytest.raises(InvalidOffset):
        await session_store.create_stream("b2", content_type=None, fork=ForkSpec("bin", format_offset(1), 7))
    _, created = await session_store.create_stream("b1", content_type=None, fork=ForkSpec("bin", format_offset(1), 3))
    assert not created
    with pytest.raises(StreamExists):
        await session_store.create_stream("b1", content_type=None, fork=ForkSpec("bin", format_offset(1), 2))
    await session_store.create_stream("js", content_type="application/json", initial=[b"1", b"2", b"3"])
    await session_store.create_stream("j1", content_type=None, fork=ForkSpec("js", ZERO_OFFSET, 2))
    assert _texts(await session_store.read("j1")) == [b"1", b"2"]
    with pytest.raises(InvalidOffset):
        await session_store.create_stream("j2", content_type=None, fork=ForkSpec("js", ZERO_OFFSET, 4))


async def test_delete_with_forks_soft_deletes_then_cascades(session_store: SessionStore) -> None:
    await session_store.create_stream("l0", content_type="text/plain", initial=[b"A"])
    await session_store.create_stream("l1", content_type=None, fork=ForkSpec("l0"))
    await session_store.create_stream("l2", content_type=None, fork=ForkSpec("l1"))
    assert await session_store.delete("l0") is True
    with pytest.raises(StreamGone):
        await session_store.head("l0")
    with pytest.raises(StreamGone):
        await session_store.read("l0")
    with pytest.raises(StreamGone):
        await session_store.append("l0", [b"x"])
    with pytest.raises(StreamGone):
        await session_store.create_stream("l0", content_type="text/plain")
    with pytest.raises(StreamGone):
        await session_store.create_stream("l9", content_type=None, fork=ForkSpec("l0"))
    assert _texts(await session_store.read("l2")) == [b"A"]
    await session_store.delete("l1")
    with pytest.raises(StreamGone):
        await session_store.head("l1")
    assert await session_store.delete("l2") is True
    for path in ("l2", "l1", "l0"):
        assert await session_store.head(path) is None


# -- submissions and leases ------------------------------------------------------------------------


async def test_submissions(session_store: SessionStore) -> None:
    first = Submission(id="s1", session="x", target="agent:a", payload={"m": "hi"}, idempotency_key="k")
    record, created = await session_store.put_submission(first)
    assert created and record.payload == {"m": "hi"}
    dup, created = await session_store.put_submission(
        Submission(id="s2", session="x", target="agent:a", payload={}, idempotency_key="k")
    )
    assert not created and dup.id == "s1"
    await asyncio.sleep(0.01)
    await session_store.put_submission(Submission(id="s3", session="y", target="workflow:w", payload={"n": 1}))
    assert [s.id for s in await session_store.unsettled_submissions()] == ["s1", "s3"]
    assert [s.id for s in await session_store.unsettled_submissions("y")] == ["s3"]
    await session_store.update_submission("s1", state="running", attempts=1)
    got = await session_store.get_submission("s1")
    assert got is not None and got.state == "running" and got.attempts == 1
    await session_store.update_submission("s1", state="settled", outcome="completed")
    await session_store.update_submission("s1", state="settled", outcome="failed")  # settles once
    got = await session_store.get_submission("s1")
    assert got is not None and got.outcome == "completed" and got.state == "settled"
    assert [s.id for s in await session_store.unsettled_submissions()] == ["s3"]
    assert await session_store.get_submission("missing") is None


async def test_leases(session_store: SessionStore) -> None:
    assert await session_store.acquire_lease("k", "a", 0.3)
    assert not await session_store.acquire_lease("k", "b", 0.3)
    assert await session_store.acquire_lease("k", "a", 0.3)  # renew
    lease = await session_store.get_lease("k")
    assert lease is not None and lease.owner == "a"
    await session_store.release_lease("k", "b")  # not b's to release
    assert (await session_store.get_lease("k")) is not None
    await asyncio.sleep(0.35)
    assert await session_store.get_lease("k") is None
    assert await session_store.acquire_lease("k", "b", 5)
    await session_store.release_lease("k", "b")
    assert await session_store.get_lease("k") is None
