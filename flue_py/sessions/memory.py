"""An in-process `SessionStore`: for tests and throwaway runs. Nothing survives the process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from flue_py.exceptions import StreamGone, StreamNotFound
from flue_py.sessions import _rules
from flue_py.sessions.base import (
    AppendResult,
    ForkSpec,
    Lease,
    Message,
    Producer,
    ReadResult,
    SessionStore,
    StreamInfo,
    Submission,
    SubmissionState,
    format_offset,
)

__all__ = ["MemorySessionStore"]


@dataclass
class _Stream:
    info: StreamInfo
    messages: list[bytes] = field(default_factory=list)
    """Message i (1-based) is messages[i - 1]; a fork's inherited prefix is copied at fork time."""
    source: _Stream | None = None
    """The stream this one was forked from (kept referenced until this fork goes)."""
    deleted: bool = False
    """Soft-deleted: forks still reference it, so its path answers StreamGone until they go."""
    last_stream_seq: str | None = None
    producers: dict[str, tuple[int, int]] = field(default_factory=dict)
    """producer id -> (epoch, last seq)."""
    last_access: float = field(default_factory=time.time)


class MemorySessionStore(SessionStore):
    """Streams, submissions and leases in dictionaries, guarded by one asyncio lock."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._submissions: dict[str, Submission] = {}
        self._leases: dict[str, Lease] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._lock = asyncio.Lock()

    # -- streams -------------------------------------------------------------------------------

    def _live(self, path: str) -> _Stream | None:
        """The stream at `path` (None if missing or just expired); raises StreamGone if soft-deleted."""
        stream = self._streams.get(path)
        if stream is None:
            return None
        if stream.deleted:
            raise StreamGone(f"stream {path!r} was deleted", path=path)
        if _rules.expired(stream.info, stream.last_access):
            self._remove(stream)
            return self._live(path)
        return stream

    def _get(self, path: str) -> _Stream:
        stream = self._live(path)
        if stream is None:
            raise StreamNotFound(f"no stream at {path!r}", path=path)
        return stream

    def _has_refs(self, stream: _Stream) -> bool:
        for other in list(self._streams.values()):
            if other.source is stream and not other.deleted and _rules.expired(other.info, other.last_access):
                self._remove(other)
        return any(other.source is stream for other in self._streams.values())

    def _remove(self, stream: _Stream) -> None:
        """Soft-delete while forks reference `stream`; else drop it and cascade to soft-deleted sources."""
        if self._has_refs(stream):
            stream.deleted = True
            return
        current: _Stream | None = stream
        while current is not None:
            if self._streams.get(current.info.path) is current:
                del self._streams[current.info.path]
            self._wake(current.info.path)
            parent = current.source
            current.source = None
            if parent is None or not parent.deleted or self._has_refs(parent):
                return
            current = parent

    def _touch(self, stream: _Stream) -> None:
        stream.last_access = time.time()

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
        async with self._lock:
            existing = self._live(path)
            wanted = StreamInfo(
                path=path,
                content_type=content_type or ("" if fork else "application/octet-stream"),
                next_offset=format_offset(0),
                closed=closed,
                ttl_seconds=ttl_seconds,
                expires_at=expires_at,
                created_at=time.time(),
                forked_from=fork.source if fork else None,
                fork_offset=format_offset(_rules.to_index(fork.offset)) if fork and fork.offset else None,
                fork_sub_offset=fork.sub_offset if fork else 0,
            )
            if existing is not None:
                _rules.check_same_config(existing.info, wanted)
                return existing.info, False
            messages: list[bytes] = []
            source: _Stream | None = None
            if fork is not None:
                source = self._get(fork.source)
                point = _rules.fork_point(source.info, fork.offset)
                wanted = _rules.fork_info(wanted, source.info, point, fork.sub_offset)
                json_mode = _rules.is_json(source.info.content_type)
                messages = _rules.fork_prefix(source.messages, point, fork.sub_offset, json_mode=json_mode)
            messages.extend(initial)
            info = replace(wanted, next_offset=format_offset(len(messages)))
            stream = _Stream(info=info, messages=messages, source=source)
            self._streams[path] = stream
            self._wake(path)
            return stream.info, True

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
        async with self._lock:
            stream = self._live(path)
            if stream is None and create:
                info = StreamInfo(path, content_type or "application/json", format_offset(0), created_at=time.time())
                stream = self._streams[path] = _Stream(info=info)
            if stream is None:
                raise StreamNotFound(f"no stream at {path!r}", path=path)
            self._touch(stream)
            tail = len(stream.messages)
            verdict = _rules.check_append(
                stream.info,
                tail=tail,
                content_type=content_type,
                stream_seq=stream_seq,
                last_stream_seq=stream.last_stream_seq,
                producer=producer,
                producer_state=stream.producers.get(producer.id) if producer else None,
                has_messages=bool(messages),
                close=close,
            )
            if verdict is not None:  # an idempotent duplicate: acknowledge without writing
                return verdict
            stored = _rules.prepare(messages, first_index=tail + 1, stamp=stamp_seq)
            stream.messages.extend(stored)
            if stream_seq is not None:
                stream.last_stream_seq = stream_seq
            if producer is not None:
                stream.producers[producer.id] = (producer.epoch, producer.seq)
            new_tail = len(stream.messages)
            stream.info = replace(stream.info, next_offset=format_offset(new_tail), closed=stream.info.closed or close)
            self._wake(path)
            return AppendResult(
                next_offset=stream.info.next_offset,
                offsets=[format_offset(i) for i in range(tail + 1, new_tail + 1)],
                closed=stream.info.closed,
                producer_epoch=producer.epoch if producer else None,
                producer_seq=producer.seq if producer else None,
            )

    async def read(self, path: str, after: str | None = None, *, limit: int = 1000) -> ReadResult:
        stream = self._get(path)
        self._touch(stream)
        start = min(_rules.start_index(after, len(stream.messages)), len(stream.messages))
        end = min(len(stream.messages), start + limit)
        batch = [Message(format_offset(i + 1), stream.messages[i]) for i in range(start, end)]
        up_to_date = end >= len(stream.messages)
        return ReadResult(
            messages=batch,
            next_offset=format_offset(end),
            up_to_date=up_to_date,
            closed=up_to_date and stream.info.closed,
            info=stream.info,
        )

    async def wait(self, path: str, after: str | None, timeout: float) -> bool:
        stream = self._get(path)
        start = _rules.start_index(after, len(stream.messages))
        if start < len(stream.messages) or stream.info.closed:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(path, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            waiters = self._waiters.get(path, [])
            if waiter in waiters:
                waiters.remove(waiter)
        try:
            now = self._live(path)
        except StreamGone:
            return False
        return now is not None and (start < len(now.messages) or now.info.closed)

    def _wake(self, path: str) -> None:
        for waiter in self._waiters.pop(path, []):
            if not waiter.done():
                waiter.set_result(None)

    async def head(self, path: str) -> StreamInfo | None:
        """Metadata, or None when missing or expired; raises StreamGone for a soft-deleted fork source."""
        stream = self._live(path)
        return stream.info if stream else None

    async def touch(self, path: str) -> None:
        """Slide the TTL window of `path`."""
        stream = self._live(path)
        if stream is not None:
            self._touch(stream)

    async def delete(self, path: str) -> bool:
        async with self._lock:
            stream = self._live(path)
            if stream is None:
                return False
            self._remove(stream)
            return True

    async def list_streams(self, prefix: str = "", *, limit: int = 100) -> list[StreamInfo]:
        infos = [
            s.info
            for p, s in list(self._streams.items())
            if p.startswith(prefix) and not s.deleted and not _rules.expired(s.info, s.last_access)
        ]
        infos.sort(key=lambda info: info.created_at, reverse=True)
        return infos[:limit]

    # -- submissions ---------------------------------------------------------------------------

    async def put_submission(self, submission: Submission) -> tuple[Submission, bool]:
        async with self._lock:
            if submission.idempotency_key is not None:
                for existing in self._submissions.values():
                    if (existing.session, existing.idempotency_key) == (
                        submission.session,
                        submission.idempotency_key,
                    ):
                        return replace(existing), False
            if submission.id in self._submissions:
                return replace(self._submissions[submission.id]), False
            self._submissions[submission.id] = replace(submission)
            return replace(submission), True

    async def get_submission(self, submission_id: str) -> Submission | None:
        found = self._submissions.get(submission_id)
        return replace(found) if found else None

    async def update_submission(
        self, submission_id: str, *, state: SubmissionState, outcome: str | None = None, attempts: int | None = None
    ) -> None:
        async with self._lock:
            record = self._submissions.get(submission_id)
            if record is None or record.state == "settled":
                return
            record.state = state
            if outcome is not None:
                record.outcome = outcome
            if attempts is not None:
                record.attempts = attempts

    async def unsettled_submissions(self, session: str | None = None) -> list[Submission]:
        found = [
            replace(s)
            for s in self._submissions.values()
            if s.state != "settled" and (session is None or s.session == session)
        ]
        return sorted(found, key=lambda s: s.created_at)

    # -- leases --------------------------------------------------------------------------------

    async def acquire_lease(self, key: str, owner: str, ttl_seconds: float) -> bool:
        async with self._lock:
            now = time.time()
            current = self._leases.get(key)
            if current is not None and current.owner != owner and current.expires_at > now:
                return False
            self._leases[key] = Lease(key, owner, now + ttl_seconds)
            return True

    async def release_lease(self, key: str, owner: str) -> None:
        async with self._lock:
            current = self._leases.get(key)
            if current is not None and current.owner == owner:
                del self._leases[key]

    async def get_lease(self, key: str) -> Lease | None:
        current = self._leases.get(key)
        if current is None or current.expires_at <= time.time():
            return None
        return current
