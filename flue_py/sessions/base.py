"""The `SessionStore` ABC: durable, offset-addressed streams plus the records that make runs recoverable.

A store holds *streams*: append-only sequences of messages at a path, with a content type fixed at
creation. Each message has an offset: an opaque, strictly increasing, lexicographically sortable
string. Reading "after" an offset returns exactly the messages that follow it, which is what makes
every reader resumable. This is the storage model of the Durable Streams protocol, so the HTTP server
can expose any stream unchanged, and a session's event log is simply the JSON stream
`sessions/<session id>` with one message per event.

Beside streams a store keeps two small kinds of record that coordinate runs across processes:
submissions (every input, settled exactly once) and leases (one live owner per session).

Backends: `memory.py`, `sqlite.py` (the default), `redis.py`. One contract suite tests them all.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ZERO_OFFSET",
    "AppendResult",
    "ForkSpec",
    "Lease",
    "Message",
    "Producer",
    "ReadResult",
    "SessionStore",
    "StreamInfo",
    "Submission",
    "format_offset",
    "offsets_between",
    "parse_offset",
    "session_path",
    "stamp_seq",
]

OFFSET_WIDTH = 16
"""Digits in each of the two parts of an offset."""
_EPOCH_PART = "0" * OFFSET_WIDTH
ZERO_OFFSET = f"{_EPOCH_PART}_{'0' * OFFSET_WIDTH}"
"""The offset before the first message of every stream."""


def format_offset(index: int) -> str:
    """The offset after the `index`-th message (1-based); 0 is the position before the first message.

    The shape `<16 digits>_<16 digits>` is the one the Durable Streams reference server mints (and
    the conformance suite hard-codes its zero value). The first part is reserved (always zero here);
    the second is the message index, so a session event's `seq` is `parse_offset(offset)`.
    Fixed width keeps offsets lexicographically sortable.
    """
    return f"{_EPOCH_PART}_{index:0{OFFSET_WIDTH}d}"


def offsets_between(start: int, end: int) -> list[str]:
    """`[format_offset(i) for i in range(start + 1, end + 1)]`, without a call per offset (hot in reads)."""
    head = f"{_EPOCH_PART}_"
    return [f"{head}{i:0{OFFSET_WIDTH}d}" for i in range(start + 1, end + 1)]


def parse_offset(offset: str) -> int:
    """Invert `format_offset`; raises ValueError for anything a store did not mint."""
    head, sep, tail = offset.partition("_")
    if sep != "_" or head != _EPOCH_PART or len(tail) != OFFSET_WIDTH or not tail.isascii() or not tail.isdigit():
        raise ValueError(f"invalid offset {offset!r}")
    return int(tail)


def session_path(session: str) -> str:
    """The stream path that holds a session's event log."""
    return f"sessions/{session}"


@dataclass(frozen=True, slots=True)
class Message:
    offset: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Producer:
    """Idempotent-producer identity of an append (Durable Streams §5.2.1)."""

    id: str
    epoch: int
    seq: int


@dataclass(frozen=True, slots=True)
class ForkSpec:
    """Create a stream that starts as a copy-free branch of `source` up to `offset`."""

    source: str
    offset: str | None = None
    """None forks at the source's current tail."""
    sub_offset: int = 0
    """Also take this much of the message that follows `offset`: bytes of it in a byte stream (the
    fork gets that prefix as one message), or further messages in a JSON stream."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    path: str
    content_type: str
    next_offset: str
    """The offset of the last message (ZERO_OFFSET when empty); a reader resumes after it."""
    closed: bool = False
    ttl_seconds: int | None = None
    expires_at: float | None = None
    """Unix time after which the stream is gone."""
    created_at: float = 0.0
    forked_from: str | None = None
    fork_offset: str | None = None
    fork_sub_offset: int = 0


@dataclass(frozen=True, slots=True)
class AppendResult:
    next_offset: str
    offsets: list[str] = field(default_factory=list)
    """Offsets minted for this append, one per message (empty for a duplicate or a close-only append)."""
    duplicate: bool = False
    """True when an idempotent producer re-sent an append the store already has."""
    closed: bool = False
    producer_epoch: int | None = None
    producer_seq: int | None = None


@dataclass(frozen=True, slots=True)
class ReadResult:
    messages: list[Message]
    next_offset: str
    """Resume after this offset to continue where this read stopped."""
    up_to_date: bool
    """The read reached the tail of the stream."""
    closed: bool
    """The stream is closed and this read reached its final offset."""
    info: StreamInfo | None = None
    """The stream's metadata as of this read (saves the HTTP layer a `head` round trip)."""


SubmissionState = Literal["pending", "running", "settled"]


@dataclass(slots=True)
class Submission:
    """One input to a session: a message for an agent, or an input for a workflow."""

    id: str
    session: str
    target: str
    """`agent:<name>` or `workflow:<name>`."""
    payload: dict[str, Any]
    idempotency_key: str | None = None
    state: SubmissionState = "pending"
    outcome: str | None = None
    attempts: int = 0
    created_at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    owner: str
    expires_at: float


class SessionStore(ABC):
    """Durable streams, submissions and leases. Every method is safe to call concurrently."""

    # -- streams -------------------------------------------------------------------------------

    @abstractmethod
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
        """Create a stream; returns (info, created). Same config again is a no-op (created=False).

        A fork copies the source's messages up to the fork point and inherits its content type
        (when `content_type` is None) and its TTL / expiry (when neither is given); it never inherits
        producer state or the closed flag. Raises StreamExists when a stream with a different
        configuration is already there, StreamGone when the path (or the fork source) is soft-deleted,
        StreamNotFound for a missing fork source, InvalidOffset for a fork point beyond the source.
        """

    @abstractmethod
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
        """Append messages atomically (all or none) and return their offsets.

        `stamp_seq`: each message is a JSON object and the store inserts `"seq": <index>` as its first
        key, under the same lock or transaction that assigns the index, so concurrent writers from
        different processes still get 1, 2, 3… with no gap. `create`: create a JSON stream if missing.
        Raises StreamNotFound, StreamClosed, ContentTypeMismatch, SequenceConflict, ProducerFenced,
        ProducerSequenceGap.
        """

    @abstractmethod
    async def read(self, path: str, after: str | None = None, *, limit: int = 1000) -> ReadResult:
        """Messages after `after` (None = from the start), at most `limit` of them."""

    @abstractmethod
    async def wait(self, path: str, after: str | None, timeout: float) -> bool:
        """Block until a message after `after` exists or the stream closes; False on timeout."""

    @abstractmethod
    async def head(self, path: str) -> StreamInfo | None:
        """The stream's metadata, or None if there is no such stream (or it expired).

        Raises StreamGone for a soft-deleted stream (see `delete`). Does not slide a TTL window.
        """

    async def touch(self, path: str) -> None:
        """Slide the TTL window of `path` as a read would (no-op for streams without a TTL)."""

    @abstractmethod
    async def delete(self, path: str) -> bool:
        """Remove a stream; False if there was none.

        A stream that live forks still reference is soft-deleted instead: its path answers StreamGone
        until the last fork goes, and then it is removed too (cascading up a fork chain).
        """

    @abstractmethod
    async def list_streams(self, prefix: str = "", *, limit: int = 100) -> list[StreamInfo]:
        """Streams whose path starts with `prefix`, most recently created first."""

    # -- submissions ---------------------------------------------------------------------------

    @abstractmethod
    async def put_submission(self, submission: Submission) -> tuple[Submission, bool]:
        """Record a submission; returns (record, created).

        If one with the same session and idempotency key exists, that one is returned with created=False.
        """

    @abstractmethod
    async def get_submission(self, submission_id: str) -> Submission | None: ...

    @abstractmethod
    async def update_submission(
        self, submission_id: str, *, state: SubmissionState, outcome: str | None = None, attempts: int | None = None
    ) -> None:
        """Move a submission along pending -> running -> settled. Settling twice is a no-op."""

    @abstractmethod
    async def unsettled_submissions(self, session: str | None = None) -> list[Submission]:
        """Submissions not yet settled, oldest first (all sessions when `session` is None)."""

    # -- leases --------------------------------------------------------------------------------

    @abstractmethod
    async def acquire_lease(self, key: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lease if it is free, expired or already `owner`'s (which renews it)."""

    @abstractmethod
    async def release_lease(self, key: str, owner: str) -> None:
        """Give the lease up if `owner` holds it."""

    @abstractmethod
    async def get_lease(self, key: str) -> Lease | None: ...

    # -- lifecycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        """Release connections and files."""

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def stamp_seq(data: bytes, index: int) -> bytes:
    """Insert `"seq": index` as the first key of a JSON object message (see `append(stamp_seq=True)`)."""
    body = data.lstrip()
    if not body.startswith(b"{"):
        raise ValueError("stamp_seq needs each message to be a JSON object")
    rest = body[1:].lstrip()
    separator = b"" if rest.startswith(b"}") else b","
    return b'{"seq":%d%s%s' % (index, separator, rest)
