"""A `SessionStore` on Redis, so many processes share one set of sessions.

One Redis Stream per stream path; message i is the entry `0-i`, so an offset maps to an entry id with
no lookup and `XREAD BLOCK` wakes a tail reader the moment an append lands. Appends (idempotent
producers, `stamp_seq`, `Stream-Seq`, close) run as one Lua script that mirrors `_rules.check_append`;
reads, deletes and expiry are scripts too (see `_redis_lua.py` for the key layout). Creating a stream
(forks included) is an optimistic WATCH/MULTI transaction, so it reuses `_rules` unchanged.

This is the only module that imports `redis`. Needs a standalone Redis (not Cluster): the scripts
follow fork links to keys they compute.

Durability is Redis's own: run it with `appendonly yes` (`appendfsync everysec` can lose the last second
on a Redis crash; `always` loses nothing) and `maxmemory-policy noeviction` (an evicting policy would
drop streams silently; the store logs a warning on first write when it sees one). Each blocked `wait()`
holds one pooled connection while it waits.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flue_py.exceptions import (
    ConfigError,
    InvalidOffset,
    MissingDependencyError,
    StoreError,
    StoreUnavailable,
    StreamGone,
    StreamNotFound,
)
from flue_py.sessions import _redis_lua, _rules
from flue_py.sessions._redis_batch import Batcher
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
    parse_offset,
)

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import NoScriptError, WatchError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("redis", "redis") from exc

__all__ = ["DEFAULT_PREFIX", "RedisSessionStore"]

log = logging.getLogger("flue_py.sessions.redis")

DEFAULT_PREFIX = "flue:"
_WAIT_SLICE = 2.0
"""Longest single XREAD BLOCK in `wait()`. Appends, closes and deletes all wake it at once; the slice
bounds how long a waiter could miss something no script announces (a TTL running out), and keeps the
block under the client's socket timeout with room to spare on a loaded host."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode_meta(path: str, raw: Any) -> tuple[StreamInfo, float, bool]:
    """A metadata hash (flat list or dict) as (info, last access, soft-deleted)."""
    if isinstance(raw, list):
        raw = dict(zip(raw[0::2], raw[1::2], strict=True))
    m = {_text(k): _text(v) for k, v in raw.items()}
    fofs = m.get("fofs")
    info = StreamInfo(
        path=path,
        content_type=m["ct"],
        next_offset=format_offset(int(m["tail"])),
        closed=m.get("closed") == "1",
        ttl_seconds=int(m["ttl"]) if "ttl" in m else None,
        expires_at=float(m["exp"]) if "exp" in m else None,
        created_at=float(m["created"]),
        forked_from=m.get("from"),
        fork_offset=fofs,
        fork_sub_offset=int(m.get("fsub", "0")),
    )
    return info, float(m["access"]), m.get("deleted") == "1"


def _status_error(status: bytes | str, path: str) -> StoreError:
    if _text(status) == "GONE":
        return StreamGone(f"stream {path!r} was deleted", path=path)
    return StreamNotFound(f"no stream at {path!r}", path=path)


def _split_url(url: str, prefix: str | None) -> tuple[str, str]:
    """Take our own `prefix` query parameter off the URL (redis-py would reject it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = [v for k, v in query if k == "prefix"]
    rest = [(k, v) for k, v in query if k != "prefix"]
    chosen = prefix if prefix is not None else (ours[-1] if ours else DEFAULT_PREFIX)
    if not chosen:
        raise ConfigError(f"store URL {url!r}: the key prefix must not be empty")
    return urlunsplit(parts._replace(query=urlencode(rest))), chosen


class RedisSessionStore(SessionStore):
    """Streams, submissions and leases in Redis.

    Args:
        url: `redis://host:port/db` (also `rediss://`, `unix://`); `?prefix=...` sets the key prefix.
        prefix: every key starts with this (default `flue:`); overrides the URL's.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str | None = None) -> None:
        client_url, self.prefix = _split_url(url, prefix)
        self.url = url
        self._redis: Any = aioredis.from_url(client_url, decode_responses=False)
        # A blocked XREAD must return well before the client's socket timeout (redis-py 8: 5 s) fires.
        socket_timeout = self._redis.connection_pool.connection_kwargs.get("socket_timeout")
        self._wait_slice = _WAIT_SLICE if not socket_timeout else min(_WAIT_SLICE, socket_timeout / 2)
        self._checked = False
        register = self._redis.register_script
        self._append = register(_redis_lua.APPEND)
        self._appends = Batcher(self._redis, self._append, noscript=NoScriptError)
        self._read = register(_redis_lua.READ)
        self._live = register(_redis_lua.LIVE)
        self._touch = register(_redis_lua.TOUCH)
        self._delete = register(_redis_lua.DELETE)
        self._put_submission = register(_redis_lua.PUT_SUBMISSION)
        self._update_submission = register(_redis_lua.UPDATE_SUBMISSION)
        self._acquire = register(_redis_lua.ACQUIRE_LEASE)
        self._release = register(_redis_lua.RELEASE_LEASE)

    async def _check_server(self) -> None:
        """Once per store: warn if Redis may evict keys (INFO, unlike CONFIG, works on managed Redis too)."""
        self._checked = True
        try:
            policy = str((await self._redis.info("memory")).get("maxmemory_policy", "noeviction"))
        except aioredis.RedisError:  # INFO renamed or denied: nothing to learn, nothing to block on
            return
        if policy.startswith("allkeys"):
            log.warning(
                "Redis at %s has maxmemory-policy %s: under memory pressure it will evict session streams;"
                " use noeviction",
                self._redis.connection_pool.connection_kwargs.get("host", "?"),
                policy,
            )

    def _key(self, kind: str, name: str | None = None) -> str:
        """`<prefix><kind>:<name>`, the layout the Lua scripts compute too (see `_redis_lua`)."""
        return f"{self.prefix}{kind}" if name is None else f"{self.prefix}{kind}:{name}"

    async def _script(self, script: Any, path: str, *args: Any) -> Any:
        return await script(keys=[self._key("m", path)], args=[self.prefix, path, repr(time.time()), *args])

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
        fork_offset = format_offset(_rules.to_index(fork.offset)) if fork and fork.offset else None
        while True:
            # Expire the path and the fork source first (a cascade is a script's job), then WATCH them:
            # anything that touches either metadata hash before EXEC makes us start over.
            await self._script(self._live, path)
            if fork is not None:
                await self._script(self._live, fork.source)
            now = time.time()
            wanted = StreamInfo(
                path=path,
                content_type=content_type or ("" if fork else "application/octet-stream"),
                next_offset=format_offset(0),
                closed=closed,
                ttl_seconds=ttl_seconds,
                expires_at=expires_at,
                created_at=now,
                forked_from=fork.source if fork else None,
                fork_offset=fork_offset,
                fork_sub_offset=fork.sub_offset if fork else 0,
            )
            try:
                return await self._create_once(path, wanted, fork, list(initial), now)
            except WatchError:
                continue
            except _Retry:
                continue

    async def _create_once(
        self, path: str, wanted: StreamInfo, fork: ForkSpec | None, initial: list[bytes], now: float
    ) -> tuple[StreamInfo, bool]:
        watched = [self._key("m", path)] + ([self._key("m", fork.source)] if fork else [])
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(*watched)
            raw = await pipe.hgetall(self._key("m", path))
            if raw:
                info, access, deleted = _decode_meta(path, raw)
                if deleted:
                    raise StreamGone(f"stream {path!r} was deleted", path=path)
                if _rules.expired(info, access, now):
                    raise _Retry
                _rules.check_same_config(info, wanted)
                return info, False
            prefix: list[bytes] = []
            if fork is not None:
                raw_source = await pipe.hgetall(self._key("m", fork.source))
                if not raw_source:
                    raise StreamNotFound(f"no stream at {fork.source!r}", path=fork.source)
                source, access, deleted = _decode_meta(fork.source, raw_source)
                if deleted:
                    raise StreamGone(f"stream {fork.source!r} was deleted", path=fork.source)
                if _rules.expired(source, access, now):
                    raise _Retry
                point = _rules.fork_point(source, fork.offset)
                wanted = _rules.fork_info(wanted, source, point, fork.sub_offset)
                json_mode = _rules.is_json(source.content_type)
                tail = parse_offset(source.next_offset)
                upto = min(tail, point + fork.sub_offset) if json_mode else min(tail, point + 1)
                entries = await pipe.xrange(self._key("x", fork.source), "0-1", f"0-{upto}") if upto else []
                prefix = _rules.fork_prefix(
                    [fields[b"d"] for _, fields in entries], point, fork.sub_offset, json_mode=json_mode
                )
            stored = prefix + initial
            info = replace(wanted, next_offset=format_offset(len(stored)))
            fields: dict[str, str] = {
                "ct": info.content_type,
                "media": _rules.media_type(info.content_type),
                "tail": str(len(stored)),
                "closed": "1" if info.closed else "0",
                "created": repr(now),
                "access": repr(now),
                "fsub": str(info.fork_sub_offset),
            }
            if info.ttl_seconds is not None:
                fields["ttl"] = str(info.ttl_seconds)
            if info.expires_at is not None:
                fields["exp"] = repr(info.expires_at)
            if info.forked_from is not None:
                fields["from"] = info.forked_from
            if info.fork_offset is not None:
                fields["fofs"] = info.fork_offset
            pipe.multi()
            # Leftovers of an earlier stream at this path would clash with the new entry ids.
            pipe.delete(self._key("x", path), self._key("p", path), self._key("c", path), self._key("k", path))
            pipe.hset(self._key("m", path), mapping=fields)
            for i, data in enumerate(stored, start=1):
                pipe.xadd(self._key("x", path), {b"d": data}, id=f"0-{i}")
            if info.closed:
                pipe.xadd(self._key("c", path), {b"closed": b"1"})
            pipe.zadd(self._key("index"), {path: now})
            if fork is not None:
                pipe.sadd(self._key("k", fork.source), path)
            await pipe.execute()
            return info, True

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
        if not self._checked:
            await self._check_server()
        batch = list(messages)
        create_ct = content_type or "application/json"
        args: list[Any] = [
            "0" if content_type is None else "1",
            _rules.media_type(content_type),
            "0" if stream_seq is None else "1",
            stream_seq or "",
            "0" if producer is None else "1",
            producer.id if producer else "",
            str(producer.epoch) if producer else "",
            str(producer.seq) if producer else "",
            str(producer.seq - 1) if producer else "",
            "1" if close else "0",
            "1" if stamp_seq else "0",
            "1" if create else "0",
            create_ct,
            _rules.media_type(create_ct),
            "" if producer else self._retry_token(),
            *batch,
        ]
        reply = await self._appends.call([self._key("m", path)], [self.prefix, path, repr(time.time()), *args])
        status = _text(reply[0])
        if status == "OK":
            first, new_tail, now_closed = int(reply[1]), int(reply[2]), bool(reply[3])
            return AppendResult(
                next_offset=format_offset(new_tail),
                offsets=[format_offset(i) for i in range(first + 1, new_tail + 1)],
                closed=now_closed,
                producer_epoch=producer.epoch if producer else None,
                producer_seq=producer.seq if producer else None,
            )
        if status == "NOTOBJECT":
            raise ValueError("stamp_seq needs each message to be a JSON object")  # as base.stamp_seq says
        if status != "CHECK":
            raise _status_error(status, path)
        # The script refused or found a duplicate; the shared rules, run on the same snapshot, say how.
        tail, was_closed, last_seq, epoch, seq, ct = reply[1:7]
        verdict = _rules.check_append(
            StreamInfo(path, _text(ct), format_offset(int(tail)), closed=bool(was_closed)),
            tail=int(tail),
            content_type=content_type,
            stream_seq=stream_seq,
            last_stream_seq=_text(last_seq) if last_seq is not None else None,
            producer=producer,
            producer_state=(int(epoch), int(seq)) if epoch is not None else None,
            has_messages=bool(batch),
            close=close,
        )
        if verdict is None:  # pragma: no cover - means the Lua script and _rules disagree
            raise StoreError(f"append to {path!r}: the Redis script refused what _rules.check_append allows")
        return verdict

    def _retry_token(self) -> str:
        """Unique per append() call. redis-py resends a command whose reply was lost (a dropped connection,
        a failover); the script recognises the resent token, so such a retry cannot append twice."""
        return uuid.uuid4().hex

    async def read(self, path: str, after: str | None = None, *, limit: int = 1000) -> ReadResult:
        # Validate the offset now but report it after existence, in the order the other backends do.
        bad: InvalidOffset | None = None
        start = "0"
        if after == "now":
            start = "now"
        elif after is not None and after != "-1":
            try:
                start = str(_rules.to_index(after))
            except InvalidOffset as exc:
                bad, start = exc, "bad"
        reply = await self._script(self._read, path, start, str(limit))
        status = _text(reply[0])
        if status == "BADOFFSET" and bad is not None:
            raise bad
        if status != "OK":
            raise _status_error(status, path)
        first, stop = int(reply[1]), int(reply[2])
        info, _, _ = _decode_meta(path, reply[3])
        tail = parse_offset(info.next_offset)
        messages = [Message(format_offset(first + 1 + i), fields[1]) for i, (_, fields) in enumerate(reply[4])]
        return ReadResult(
            messages=messages,
            next_offset=format_offset(stop),
            up_to_date=stop >= tail,
            closed=stop >= tail and info.closed,
            info=info,
        )

    async def _tail_state(self, path: str) -> tuple[int, bool] | None:
        tail, closed, deleted = await self._redis.hmget(self._key("m", path), "tail", "closed", "deleted")
        if tail is None or deleted == b"1":
            return None
        return int(tail), closed == b"1"

    async def wait(self, path: str, after: str | None, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        state = await self._tail_state(path)
        if state is None:
            raise StreamNotFound(f"no stream at {path!r}", path=path)
        start = _rules.start_index(after, state[0])  # resolve "now" once, against the first tail seen
        while True:
            if state is None:
                return False
            tail, closed = state
            if start < tail or closed:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            block_ms = max(1, math.ceil(min(remaining, self._wait_slice) * 1000))
            # Entries after `start` in the data stream, or any entry in the close doorbell. Explicit ids
            # (not `$`) mean an append that lands before the XREAD starts still wakes it at once.
            try:
                await self._redis.xread(
                    {self._key("x", path): f"0-{start}", self._key("c", path): "0-0"}, count=1, block=block_ms
                )
            except RedisTimeoutError:
                pass  # a reply slower than the socket timeout (an overloaded host): just look again
            state = await self._tail_state(path)

    async def head(self, path: str) -> StreamInfo | None:
        """Metadata, or None when missing or expired; raises StreamGone for a soft-deleted fork source."""
        reply = await self._script(self._live, path)
        status = _text(reply[0])
        if status == "GONE":
            raise _status_error(status, path)
        if status != "OK":
            return None
        return _decode_meta(path, reply[1])[0]

    async def touch(self, path: str) -> None:
        """Slide the TTL window of `path` (a no-op for streams without a TTL)."""
        await self._script(self._touch, path)

    async def delete(self, path: str) -> bool:
        status = _text(await self._script(self._delete, path))
        if status == "GONE":
            raise _status_error(status, path)
        return status == "OK"

    async def list_streams(self, prefix: str = "", *, limit: int = 100) -> list[StreamInfo]:
        found: list[StreamInfo] = []
        index, position, chunk, now = self._key("index"), 0, 500, time.time()
        while len(found) < limit:
            members = await self._redis.zrevrange(index, position, position + chunk - 1)
            if not members:
                break
            position += chunk
            paths = [p for p in map(_text, members) if p.startswith(prefix)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for p in paths:
                    pipe.hgetall(self._key("m", p))
                raws = await pipe.execute()
            for p, raw in zip(paths, raws, strict=True):
                if not raw:
                    continue
                info, access, deleted = _decode_meta(p, raw)
                if not deleted and not _rules.expired(info, access, now):
                    found.append(info)
        return found[:limit]

    # -- submissions ---------------------------------------------------------------------------

    def _unsettled(self, session: str | None = None) -> str:
        return self._key("unsettled", session) if session is not None else self._key("unsettled")

    async def put_submission(self, submission: Submission) -> tuple[Submission, bool]:
        sub = submission
        idem = (
            self._key("idem", f"{len(sub.session)}:{sub.session}:{sub.idempotency_key}")
            if (sub.idempotency_key is not None)
            else ""
        )
        fields: list[str] = [
            "id", sub.id, "session", sub.session, "target", sub.target, "payload", json.dumps(sub.payload),
            "state", sub.state, "attempts", str(sub.attempts), "created", repr(sub.created_at),
        ]  # fmt: skip
        if sub.idempotency_key is not None:
            fields += ["ikey", sub.idempotency_key]
        if sub.outcome is not None:
            fields += ["outcome", sub.outcome]
        reply = await self._put_submission(
            keys=[self._key("sub", sub.id), idem, self._unsettled(), self._unsettled(sub.session)],
            args=[self.prefix, sub.id, repr(sub.created_at), *fields],
        )
        if int(reply[0]) == 1:
            return replace(sub), True
        return _decode_submission(reply[1]), False

    async def get_submission(self, submission_id: str) -> Submission | None:
        raw = await self._redis.hgetall(self._key("sub", submission_id))
        return _decode_submission(raw) if raw else None

    async def update_submission(
        self, submission_id: str, *, state: SubmissionState, outcome: str | None = None, attempts: int | None = None
    ) -> None:
        session = await self._redis.hget(self._key("sub", submission_id), "session")
        if session is None:
            return
        await self._update_submission(
            keys=[self._key("sub", submission_id), self._unsettled(), self._unsettled(_text(session))],
            args=[
                submission_id,
                state,
                "0" if outcome is None else "1",
                outcome or "",
                "0" if attempts is None else "1",
                str(attempts or 0),
            ],
        )

    async def unsettled_submissions(self, session: str | None = None) -> list[Submission]:
        ids = await self._redis.zrange(self._unsettled(session), 0, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.hgetall(self._key("sub", _text(sid)))
            raws = await pipe.execute()
        found = [_decode_submission(raw) for raw in raws if raw]
        return sorted((s for s in found if s.state != "settled"), key=lambda s: s.created_at)

    # -- leases --------------------------------------------------------------------------------

    async def acquire_lease(self, key: str, owner: str, ttl_seconds: float) -> bool:
        ttl_ms = max(1, math.ceil(ttl_seconds * 1000))
        return bool(await self._acquire(keys=[self._key("lease", key)], args=[owner, ttl_ms]))

    async def release_lease(self, key: str, owner: str) -> None:
        await self._release(keys=[self._key("lease", key)], args=[owner])

    async def get_lease(self, key: str) -> Lease | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._key("lease", key))
            pipe.pttl(self._key("lease", key))
            owner, pttl = await pipe.execute()
        if owner is None or pttl < 0:
            return None
        return Lease(key, _text(owner), time.time() + pttl / 1000)

    # -- lifecycle -----------------------------------------------------------------------------

    async def close(self) -> None:
        await self._appends.close()
        await self._redis.aclose()


class _Retry(Exception):
    """A watched stream turned out to be expired: expire it through a script and start over."""


def _decode_submission(raw: Any) -> Submission:
    if isinstance(raw, list):
        raw = dict(zip(raw[0::2], raw[1::2], strict=True))
    m = {_text(k): _text(v) for k, v in raw.items()}
    state: SubmissionState = m["state"]  # type: ignore[assignment]
    return Submission(
        id=m["id"],
        session=m["session"],
        target=m["target"],
        payload=json.loads(m["payload"]),
        idempotency_key=m.get("ikey"),
        state=state,
        outcome=m.get("outcome"),
        attempts=int(m["attempts"]),
        created_at=float(m["created"]),
    )


def _unreachable_as_store_error(method: Any) -> Any:
    """Translate "cannot talk to Redis" into StoreUnavailable at this edge, like every other store refusal."""

    @functools.wraps(method)
    async def translated(self: RedisSessionStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailable(f"Redis is unreachable ({exc})", url=self.url) from exc

    return translated


for _name in (
    "create_stream", "append", "read", "wait", "head", "touch", "delete", "list_streams", "put_submission",
    "get_submission", "update_submission", "unsettled_submissions", "acquire_lease", "release_lease", "get_lease",
):  # fmt: skip
    setattr(RedisSessionStore, _name, _unreachable_as_store_error(getattr(RedisSessionStore, _name)))
