"""Stream rules every backend applies the same way: expiry, config equality, append checks, offsets.

Backends differ in how they store and lock; what an append may do is decided here, once, so the
memory, SQLite and Redis stores cannot drift apart (the Redis Lua script mirrors `check_append`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from flue_py.exceptions import (
    ContentTypeMismatch,
    InvalidOffset,
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
    """A re-create must match: content type (unless inherited), TTL, expiry, closed, fork source and point."""
    same = (
        (wanted.content_type == "" or media_type(existing.content_type) == media_type(wanted.content_type))
        and existing.ttl_seconds == wanted.ttl_seconds
        and existing.expires_at == wanted.expires_at
        and existing.closed == wanted.closed
        and existing.forked_from == wanted.forked_from
        and (wanted.fork_offset is None or existing.fork_offset == wanted.fork_offset)
        and existing.fork_sub_offset == wanted.fork_sub_offset
    )
    if not same:
        raise StreamExists(f"stream {existing.path!r} exists with a different configuration", path=existing.path)


def to_index(offset: str) -> int:
    """`parse_offset` raising InvalidOffset (a 400 at the HTTP edge) instead of ValueError."""
    try:
        return parse_offset(offset)
    except ValueError:
        raise InvalidOffset(f"invalid offset {offset!r}", offset=offset) from None


def fork_point(source: StreamInfo, offset: str | None) -> int:
    tail = parse_offset(source.next_offset)
    if offset is None:
        return tail
    point = to_index(offset)
    if point > tail:
        raise InvalidOffset(f"fork offset {offset!r} is beyond the tail of {source.path!r}", offset=offset)
    return point


def fork_prefix(messages: Sequence[bytes], point: int, sub_offset: int, *, json_mode: bool) -> list[bytes]:
    """The messages a fork starts with: all before `point`, plus `sub_offset` more of what follows it.

    JSON streams count the sub-offset in messages; byte streams in bytes of the next message (which
    the fork gets as one shorter message). Raises InvalidOffset when the sub-offset overshoots.
    """
    prefix = list(messages[:point])
    if sub_offset == 0:
        return prefix
    rest = messages[point:]
    if json_mode:
        if sub_offset > len(rest):
            raise InvalidOffset(f"sub-offset {sub_offset} overshoots the {len(rest)} messages after the fork point")
        return prefix + list(rest[:sub_offset])
    if not rest or sub_offset > len(rest[0]):
        size = len(rest[0]) if rest else 0
        raise InvalidOffset(f"sub-offset {sub_offset} overshoots the {size}-byte message after the fork point")
    return prefix + [rest[0][:sub_offset]]


def fork_info(wanted: StreamInfo, source: StreamInfo, point: int, sub_offset: int) -> StreamInfo:
    """Fill what a fork inherits from its source: content type when not given, TTL/expiry when neither is."""
    if wanted.content_type and media_type(wanted.content_type) != media_type(source.content_type):
        raise ContentTypeMismatch(
            f"fork {wanted.path!r} wants {wanted.content_type!r} but {source.path!r} holds {source.content_type!r}",
            path=wanted.path,
        )
    ttl, expires = wanted.ttl_seconds, wanted.expires_at
    if ttl is None and expires is None:
        ttl, expires = source.ttl_seconds, source.expires_at
    return replace(
        wanted,
        content_type=wanted.content_type or source.content_type,
        ttl_seconds=ttl,
        expires_at=expires,
        fork_offset=format_offset(point),
        fork_sub_offset=sub_offset,
    )


def is_json(content_type: str) -> bool:
    return media_type(content_type) == "application/json"


def start_index(after: str | None, tail: int) -> int:
    """0-based index of the first message to return for a read after `after`."""
    if after is None or after == "-1":
        return 0
    if after == "now":
        return tail
    return to_index(after)


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
                # `new_epoch` lets the HTTP edge answer 400 (a malformed epoch bump), not 409 (a gap).
                raise ProducerSequenceGap(
                    "a new producer epoch must start at sequence 0",
                    expected_seq=0,
                    received_seq=producer.seq,
                    new_epoch=True,
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
