"""Stream rules every backend applies the same way: expiry, config equality, append checks, offsets.

Backends differ in how they store and lock; what an append may do is decided here, once, so the
memory, SQLite and Redis stores cannot drift apart (the Redis Lua script mirrors `check_append`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from flue_py.exceptions import (
    ContentTypeMismatch,
    ProducerFenced,
    ProducerSequenceGap,
    SequenceConflict,
    StreamClosed,
    StreamExists,
)
from flue_py.sessions.base import AppendResult, Producer, StreamInfo, format_offset, parse_offset, stamp_seq


def media_type(content_type: str | None) -> str:
    """`Application/JSON; charset=utf-8` -> `application/json` (content types compare without parameters)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def expired(info: StreamInfo, last_access: float, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    if info.expires_at is not None and now >= info.expires_at:
        return True
    return info.ttl_seconds is not None and now >= last_access + info.ttl_seconds


def check_same_config(existing: StreamInfo, wanted: StreamInfo) -> None:
    same = (
        media_type(existing.content_type) == media_type(wanted.content_type)
        and existing.ttl_seconds == wanted.ttl_seconds
        and existing.expires_at == wanted.expires_at
        and existing.closed == wanted.closed
        and existing.forked_from == wanted.forked_from
    )
    if not same:
        raise StreamExists(f"stream {existing.path!r} exists with a different configuration", path=existing.path)


def fork_point(source: StreamInfo, offset: str | None) -> int:
    tail = parse_offset(source.next_offset)
    if offset is None:
        return tail
    point = parse_offset(offset)
    if point > tail:
        raise ValueError(f"fork offset {offset!r} is beyond the tail of {source.path!r}")
    return point


def start_index(after: str | None, tail: int) -> int:
    """0-based index of the first message to return for a read after `after`."""
    if after is None or after == "-1":
        return 0
    if after == "now":
        return tail
    return parse_offset(after)


def check_append(
    info: StreamInfo,
    *,
    tail: int,
    content_type: str | None,
    stream_seq: str | None,
    last_stream_seq: str | None,
    producer: Producer | None,
    producer_state: tuple[int, int] | None,
    has_messages: bool,
    close: bool,
) -> AppendResult | None:
    """Raise if the append is not allowed; return an AppendResult for an idempotent duplicate; else None.

    Precedence follows the protocol: closed, then content type, then producer, then Stream-Seq.
    """
    if producer is not None and producer_state is not None:
        epoch, last_seq = producer_state
        if producer.epoch == epoch and producer.seq <= last_seq:
            # A retry of something already written, even on a stream closed since: acknowledge it.
            return AppendResult(
                next_offset=format_offset(tail),
                duplicate=True,
                closed=info.closed,
                producer_epoch=epoch,
                producer_seq=last_seq,
            )
    if info.closed:
        if close and not has_messages:
            return AppendResult(next_offset=format_offset(tail), closed=True)
        raise StreamClosed(f"stream {info.path!r} is closed", path=info.path, next_offset=format_offset(tail))
    if has_messages and content_type is not None and media_type(content_type) != media_type(info.content_type):
        raise ContentTypeMismatch(
            f"stream {info.path!r} holds {info.content_type!r}, not {content_type!r}", path=info.path
        )
    if producer is not None:
        if producer_state is None:
            if producer.seq != 0:
                raise ProducerSequenceGap(
                    "a new producer must start at sequence 0", expected_seq=0, received_seq=producer.seq
                )
        else:
            epoch, last_seq = producer_state
            if producer.epoch < epoch:
                raise ProducerFenced(f"producer epoch {producer.epoch} is stale", current_epoch=epoch)
            if producer.epoch > epoch and producer.seq != 0:
                raise ProducerSequenceGap(
                    "a new producer epoch must start at sequence 0", expected_seq=0, received_seq=producer.seq
                )
            if producer.epoch == epoch and producer.seq != last_seq + 1:
                raise ProducerSequenceGap(
                    f"expected producer sequence {last_seq + 1}, got {producer.seq}",
                    expected_seq=last_seq + 1,
                    received_seq=producer.seq,
                )
    if stream_seq is not None and last_stream_seq is not None and stream_seq <= last_stream_seq:
        raise SequenceConflict(
            f"Stream-Seq {stream_seq!r} does not follow {last_stream_seq!r}", last_seq=last_stream_seq
        )
    return None


def prepare(messages: Sequence[bytes], *, first_index: int, stamp: bool) -> list[bytes]:
    if not stamp:
        return list(messages)
    return [stamp_seq(data, first_index + i) for i, data in enumerate(messages)]
