"""Keep a sandbox's latest snapshot in the session store, so an agent finds its files after a restart.

The snapshot of session `s` lives in the binary stream `sandboxes/<s>`; each save appends one message and
the latest message is the current state. (Older messages stay until the stream is compacted or deleted:
the log is append-only like every stream in the store.)
"""

from __future__ import annotations

from flue_py.sandbox.base import Sandbox
from flue_py.sessions.base import ZERO_OFFSET, SessionStore, format_offset, parse_offset

__all__ = ["CONTENT_TYPE", "load_snapshot", "save_snapshot", "snapshot_path"]

CONTENT_TYPE = "application/octet-stream"


def snapshot_path(session: str) -> str:
    """The stream that holds a session's sandbox snapshots."""
    return f"sandboxes/{session}"


async def save_snapshot(store: SessionStore, session: str, sandbox: Sandbox) -> str:
    """Append the sandbox's current snapshot; returns the offset it was stored at."""
    data = await sandbox.snapshot()
    path = snapshot_path(session)
    if await store.head(path) is None:
        await store.create_stream(path, content_type=CONTENT_TYPE)
    result = await store.append(path, [data], content_type=CONTENT_TYPE)
    return result.offsets[-1] if result.offsets else result.next_offset


async def load_snapshot(store: SessionStore, session: str) -> bytes | None:
    """The latest saved snapshot of the session's sandbox, or None if it never saved one."""
    path = snapshot_path(session)
    info = await store.head(path)
    if info is None or info.next_offset == ZERO_OFFSET:
        return None
    try:
        # Read only the last message: start right after the one before it.
        before: str | None = format_offset(parse_offset(info.next_offset) - 1)
    except ValueError:
        before = None  # an offset shape this module cannot do arithmetic on: scan instead
    latest: bytes | None = None
    while True:
        result = await store.read(path, after=before, limit=100)
        if result.messages:
            latest = result.messages[-1].data
        if result.up_to_date or not result.messages:
            return latest
        before = result.next_offset
