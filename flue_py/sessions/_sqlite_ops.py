"""The SQL of the SQLite store: synchronous functions that run on one connection inside a transaction.

`_sqlite_threads.py` decides *where* they run (the writer thread or a reader thread); this module
decides *what* they do. Append rules come from `_rules.py`, shared with every backend.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flue_py.exceptions import StreamGone, StreamNotFound
from flue_py.sessions import _rules
from flue_py.sessions.base import (
    AppendResult,
    ForkSpec,
    Lease,
    Message,
    Producer,
    ReadResult,
    StreamInfo,
    Submission,
    format_offset,
    offsets_between,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    content_type TEXT NOT NULL,
    tail INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 0,
    ttl_seconds INTEGER,
    expires_at REAL,
    created_at REAL NOT NULL,
    last_access REAL NOT NULL,
    forked_from TEXT,
    forked_from_id INTEGER,
    fork_offset TEXT,
    fork_sub_offset INTEGER NOT NULL DEFAULT 0,
    last_stream_seq TEXT,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS streams_forked_from ON streams (forked_from_id);
CREATE TABLE IF NOT EXISTS messages (
    stream_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (stream_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS producers (
    stream_id INTEGER NOT NULL,
    producer_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (stream_id, producer_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    session TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    idempotency_key TEXT,
    state TEXT NOT NULL,
    outcome TEXT,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS submissions_idempotency ON submissions (session, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS submissions_state ON submissions (state, created_at);
CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

_STREAM_COLUMNS = (
    "id, path, content_type, tail, closed, ttl_seconds, expires_at, created_at, last_access, forked_from,"
    " forked_from_id, fork_offset, fork_sub_offset, last_stream_seq, deleted"
)


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, waiting on other processes' locks."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a process crash (the kill -9 case); only an OS crash or power
    # loss can drop the last commits. That trade buys one fsync per checkpoint instead of per commit.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def init_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


# -- stream rows -------------------------------------------------------------------------------


class Row:
    """One `streams` row, typed."""

    __slots__ = ("deleted", "forked_from_id", "id", "info", "last_access", "last_stream_seq", "tail")

    def __init__(self, raw: tuple[Any, ...]) -> None:
        (rid, path, ctype, tail, closed, ttl, expires, created, access, forked_from, forked_id, fork_offset,
         fork_sub, last_seq, deleted) = raw  # fmt: skip
        self.id: int = rid
        self.tail: int = tail
        self.last_access: float = access
        self.forked_from_id: int | None = forked_id
        self.last_stream_seq: str | None = last_seq
        self.deleted = bool(deleted)
        self.info = StreamInfo(
            path=path,
            content_type=ctype,
            next_offset=format_offset(tail),
            closed=bool(closed),
            ttl_seconds=ttl,
            expires_at=expires,
            created_at=created,
            forked_from=forked_from,
            fork_offset=fork_offset,
            fork_sub_offset=fork_sub,
        )

    def expired(self, now: float) -> bool:
        return _rules.expired(self.info, self.last_access, now)


def fetch_row(conn: sqlite3.Connection, path: str) -> Row | None:
    raw = conn.execute(f"SELECT {_STREAM_COLUMNS} FROM streams WHERE path = ?", (path,)).fetchone()
    return Row(raw) if raw else None


def _fetch_row_by_id(conn: sqlite3.Connection, rid: int) -> Row | None:
    raw = conn.execute(f"SELECT {_STREAM_COLUMNS} FROM streams WHERE id = ?", (rid,)).fetchone()
    return Row(raw) if raw else None


def _has_live_refs(conn: sqlite3.Connection, rid: int, now: float) -> bool:
    """Whether any fork still references stream `rid`; forks found expired are removed on the way."""
    referenced = False
    for (child_id,) in conn.execute("SELECT id FROM streams WHERE forked_from_id = ?", (rid,)).fetchall():
        child = _fetch_row_by_id(conn, child_id)
        if child is None:
            continue
        if not child.deleted and child.expired(now):
            _delete_row(conn, child, now)
            if _fetch_row_by_id(conn, child_id) is None:
                continue
        referenced = True
    return referenced


def _delete_row(conn: sqlite3.Connection, row: Row, now: float) -> None:
    """Soft-delete while forks reference the stream, else remove it and cascade to soft-deleted ancestors."""
    if _has_live_refs(conn, row.id, now):
        conn.execute("UPDATE streams SET deleted = 1 WHERE id = ?", (row.id,))
        return
    current: Row | None = row
    while current is not None:
        conn.execute("DELETE FROM messages WHERE stream_id = ?", (current.id,))
        conn.execute("DELETE FROM producers WHERE stream_id = ?", (current.id,))
        conn.execute("DELETE FROM streams WHERE id = ?", (current.id,))
        parent = _fetch_row_by_id(conn, current.forked_from_id) if current.forked_from_id is not None else None
        if parent is None or not parent.deleted or _has_live_refs(conn, parent.id, now):
            return
        current = parent


def live_row(conn: sqlite3.Connection, path: str, now: float) -> Row:
    """The stream at `path` for a write; expires it on the way if its time is up."""
    row = fetch_row(conn, path)
    if row is not None and not row.deleted and row.expired(now):
        _delete_row(conn, row, now)
        row = fetch_row(conn, path)
    if row is None:
        raise StreamNotFound(f"no stream at {path!r}", path=path)
    if row.deleted:
        raise StreamGone(f"stream {path!r} was deleted", path=path)
    return row


def expire(conn: sqlite3.Connection, path: str, now: float) -> None:
    """Writer-side follow-up of a read that found the stream expired."""
    row = fetch_row(conn, path)
    if row is not None and not row.deleted and row.expired(now):
        _delete_row(conn, row, now)


def touch(conn: sqlite3.Connection, path: str, now: float) -> None:
    """Slide a TTL stream's window (reads and writes keep it alive; HEAD does not)."""
    conn.execute("UPDATE streams SET last_access = ? WHERE path = ? AND ttl_seconds IS NOT NULL", (now, path))


def _messages(conn: sqlite3.Connection, rid: int, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        "SELECT data FROM messages WHERE stream_id = ? AND idx > ? AND idx <= ? ORDER BY idx", (rid, start, end)
    ).fetchall()
    return [bytes(data) for (data,) in rows]


def create(
    conn: sqlite3.Connection,
    path: str,
    *,
    content_type: str | None,
    ttl_seconds: int | None,
    expires_at: float | None,
    closed: bool,
    fork: ForkSpec | None,
    initial: Sequence[bytes],
    now: float,
) -> tuple[StreamInfo, bool]:
    wanted = StreamInfo(
        path=path,
        content_type=content_type or ("" if fork else "application/octet-stream"),
        next_offset=format_offset(0),
        closed=closed,
        ttl_seconds=ttl_seconds,
        expires_at=expires_at,
        created_at=now,
        forked_from=fork.source if fork else None,
        fork_offset=format_offset(_rules.to_index(fork.offset)) if fork and fork.offset else None,
        fork_sub_offset=fork.sub_offset if fork else 0,
    )
    try:
        existing: Row | None = live_row(conn, path, now)
    except StreamNotFound:
        existing = None
    if existing is not None:
        _rules.check_same_config(existing.info, wanted)
        return existing.info, False
    prefix: list[bytes] = []
    source_id: int | None = None
    if fork is not None:
        source = live_row(conn, fork.source, now)
        point = _rules.fork_point(source.info, fork.offset)
        wanted = _rules.fork_info(wanted, source.info, point, fork.sub_offset)
        upto = min(source.tail, point + fork.sub_offset) if _rules.is_json(source.info.content_type) else point + 1
        prefix = _rules.fork_prefix(
            _messages(conn, source.id, 0, min(upto, source.tail)),
            point,
            fork.sub_offset,
            json_mode=_rules.is_json(source.info.content_type),
        )
        source_id = source.id
    stored = prefix + list(initial)
    cursor = conn.execute(
        "INSERT INTO streams (path, content_type, tail, closed, ttl_seconds, expires_at, created_at, last_access,"
        " forked_from, forked_from_id, fork_offset, fork_sub_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            path,
            wanted.content_type,
            len(stored),
            int(closed),
            wanted.ttl_seconds,
            wanted.expires_at,
            now,
            now,
            wanted.forked_from,
            source_id,
            wanted.fork_offset,
            wanted.fork_sub_offset,
        ),
    )
    rid = cursor.lastrowid
    conn.executemany(
        "INSERT INTO messages (stream_id, idx, data) VALUES (?, ?, ?)",
        [(rid, i + 1, data) for i, data in enumerate(stored)],
    )
    return replace(wanted, next_offset=format_offset(len(stored))), True


def append(
    conn: sqlite3.Connection,
    path: str,
    messages: Sequence[bytes],
    *,
    content_type: str | None,
    stream_seq: str | None,
    producer: Producer | None,
    close: bool,
    stamp_seq: bool,
    create_missing: bool,
    now: float,
) -> AppendResult:
    try:
        row = live_row(conn, path, now)
    except StreamNotFound:
        if not create_missing:
            raise
        create(
            conn,
            path,
            content_type=content_type or "application/json",
            ttl_seconds=None,
            expires_at=None,
            closed=False,
            fork=None,
            initial=(),
            now=now,
        )
        row = live_row(conn, path, now)
    producer_state: tuple[int, int] | None = None
    if producer is not None:
        found = conn.execute(
            "SELECT epoch, seq FROM producers WHERE stream_id = ? AND producer_id = ?", (row.id, producer.id)
        ).fetchone()
        producer_state = (found[0], found[1]) if found else None
    verdict = _rules.check_append(
        row.info,
        tail=row.tail,
        content_type=content_type,
        stream_seq=stream_seq,
        last_stream_seq=row.last_stream_seq,
        producer=producer,
        producer_state=producer_state,
        has_messages=bool(messages),
        close=close,
    )
    if verdict is not None:
        if row.info.ttl_seconds is not None:
            touch(conn, path, now)  # a duplicate or close-only append still counts as use
        return verdict
    stored = _rules.prepare(messages, first_index=row.tail + 1, stamp=stamp_seq)
    conn.executemany(
        "INSERT INTO messages (stream_id, idx, data) VALUES (?, ?, ?)",
        [(row.id, row.tail + 1 + i, data) for i, data in enumerate(stored)],
    )
    new_tail = row.tail + len(stored)
    closed = row.info.closed or close
    conn.execute(
        "UPDATE streams SET tail = ?, closed = ?, last_stream_seq = COALESCE(?, last_stream_seq), last_access = ?"
        " WHERE id = ?",
        (new_tail, int(closed), stream_seq, now, row.id),
    )
    if producer is not None:
        # Same transaction as the messages: a crash can never keep one without the other (§5.2.1).
        conn.execute(
            "INSERT OR REPLACE INTO producers (stream_id, producer_id, epoch, seq) VALUES (?, ?, ?, ?)",
            (row.id, producer.id, producer.epoch, producer.seq),
        )
    return AppendResult(
        next_offset=format_offset(new_tail),
        offsets=[format_offset(i) for i in range(row.tail + 1, new_tail + 1)],
        closed=closed,
        producer_epoch=producer.epoch if producer else None,
        producer_seq=producer.seq if producer else None,
    )


def delete(conn: sqlite3.Connection, path: str, now: float) -> bool:
    try:
        row = live_row(conn, path, now)
    except StreamNotFound:
        return False
    _delete_row(conn, row, now)
    return True


# -- reads (reader threads; never write) ---------------------------------------------------------

EXPIRED = "expired"


def read_row(conn: sqlite3.Connection, path: str, now: float) -> Row | str:
    """The row for a read, or EXPIRED when the writer must expire it first."""
    row = fetch_row(conn, path)
    if row is None:
        raise StreamNotFound(f"no stream at {path!r}", path=path)
    if row.deleted:
        raise StreamGone(f"stream {path!r} was deleted", path=path)
    if row.expired(now):
        return EXPIRED
    return row


def read(
    conn: sqlite3.Connection, path: str, after: str | None, limit: int, now: float
) -> tuple[ReadResult, bool] | str:
    """Messages after `after`, and whether the stream has a TTL (so the caller slides it); or EXPIRED."""
    conn.execute("BEGIN")  # one snapshot for the row and its messages
    try:
        row = read_row(conn, path, now)
        if isinstance(row, str):
            return row
        start = _rules.start_index(after, row.tail)
        start = min(start, row.tail)
        end = min(row.tail, start + limit)
        data = _messages(conn, row.id, start, end)
    finally:
        conn.execute("COMMIT")
    result = ReadResult(
        messages=[Message(offset, d) for offset, d in zip(offsets_between(start, end), data, strict=True)],
        next_offset=format_offset(end),
        up_to_date=end >= row.tail,
        closed=end >= row.tail and row.info.closed,
        info=row.info,
    )
    return result, row.info.ttl_seconds is not None


def tail_state(conn: sqlite3.Connection, path: str) -> tuple[int, bool] | None:
    found = conn.execute("SELECT tail, closed FROM streams WHERE path = ? AND deleted = 0", (path,)).fetchone()
    return (found[0], bool(found[1])) if found else None


def tail_states(conn: sqlite3.Connection, paths: list[str]) -> dict[str, tuple[int, bool]]:
    """`tail_state` for many paths in one query per 500 (the file watcher's poll)."""
    found: dict[str, tuple[int, bool]] = {}
    for i in range(0, len(paths), 500):
        chunk = paths[i : i + 500]
        marks = ",".join("?" * len(chunk))
        query = f"SELECT path, tail, closed FROM streams WHERE deleted = 0 AND path IN ({marks})"
        for path, tail, closed in conn.execute(query, chunk):
            found[path] = (tail, bool(closed))
    return found


def list_streams(conn: sqlite3.Connection, prefix: str, limit: int, now: float) -> list[StreamInfo]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        f"SELECT {_STREAM_COLUMNS} FROM streams WHERE deleted = 0 AND path LIKE ? ESCAPE '\\'"
        " ORDER BY created_at DESC, id DESC",
        (escaped + "%",),
    )
    found: list[StreamInfo] = []
    for raw in rows:
        row = Row(raw)
        # LIKE is case-insensitive for ASCII; startswith keeps the prefix exact.
        if row.info.path.startswith(prefix) and not row.expired(now):
            found.append(row.info)
            if len(found) >= limit:
                break
    return found


# -- submissions and leases ----------------------------------------------------------------------

_SUBMISSION_COLUMNS = "id, session, target, payload, idempotency_key, state, outcome, attempts, created_at"


def _submission(raw: tuple[Any, ...]) -> Submission:
    sid, session, target, payload, key, state, outcome, attempts, created = raw
    return Submission(
        id=sid,
        session=session,
        target=target,
        payload=json.loads(payload),
        idempotency_key=key,
        state=state,
        outcome=outcome,
        attempts=attempts,
        created_at=created,
    )


def put_submission(conn: sqlite3.Connection, sub: Submission) -> tuple[Submission, bool]:
    if sub.idempotency_key is not None:
        raw = conn.execute(
            f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE session = ? AND idempotency_key = ?",
            (sub.session, sub.idempotency_key),
        ).fetchone()
        if raw:
            return _submission(raw), False
    raw = conn.execute(f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE id = ?", (sub.id,)).fetchone()
    if raw:
        return _submission(raw), False
    conn.execute(
        f"INSERT INTO submissions ({_SUBMISSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sub.id,
            sub.session,
            sub.target,
            json.dumps(sub.payload),
            sub.idempotency_key,
            sub.state,
            sub.outcome,
            sub.attempts,
            sub.created_at,
        ),
    )
    return replace(sub), True


def get_submission(conn: sqlite3.Connection, submission_id: str) -> Submission | None:
    raw = conn.execute(f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE id = ?", (submission_id,)).fetchone()
    return _submission(raw) if raw else None


def update_submission(
    conn: sqlite3.Connection, submission_id: str, state: str, outcome: str | None, attempts: int | None
) -> None:
    conn.execute(
        "UPDATE submissions SET state = ?, outcome = COALESCE(?, outcome), attempts = COALESCE(?, attempts)"
        " WHERE id = ? AND state != 'settled'",
        (state, outcome, attempts, submission_id),
    )


def unsettled_submissions(conn: sqlite3.Connection, session: str | None) -> list[Submission]:
    query = f"SELECT {_SUBMISSION_COLUMNS} FROM submissions WHERE state != 'settled'"
    params: tuple[Any, ...] = ()
    if session is not None:
        query += " AND session = ?"
        params = (session,)
    return [_submission(raw) for raw in conn.execute(query + " ORDER BY created_at, rowid", params)]


def acquire_lease(conn: sqlite3.Connection, key: str, owner: str, ttl: float, now: float) -> bool:
    found = conn.execute("SELECT owner, expires_at FROM leases WHERE key = ?", (key,)).fetchone()
    if found is not None and found[0] != owner and found[1] > now:
        return False
    conn.execute("INSERT OR REPLACE INTO leases (key, owner, expires_at) VALUES (?, ?, ?)", (key, owner, now + ttl))
    return True


def release_lease(conn: sqlite3.Connection, key: str, owner: str) -> None:
    conn.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (key, owner))


def get_lease(conn: sqlite3.Connection, key: str, now: float) -> Lease | None:
    found = conn.execute("SELECT owner, expires_at FROM leases WHERE key = ?", (key,)).fetchone()
    if found is None or found[1] <= now:
        return None
    return Lease(key, found[0], found[1])
