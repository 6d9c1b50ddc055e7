"""Sandbox snapshots in the session store: round trip, latest wins, absent is None."""

from __future__ import annotations

from flue_py.sandbox import BashSandbox
from flue_py.sandbox.persistence import CONTENT_TYPE, load_snapshot, save_snapshot, snapshot_path
from flue_py.sessions.memory import MemorySessionStore


async def test_round_trip_through_the_store() -> None:
    store = MemorySessionStore()
    assert await load_snapshot(store, "s1") is None
    sandbox = BashSandbox({"notes.txt": "v1\n"})
    await sandbox.exec("mkdir -p out && echo built > out/result.txt && cd out")
    await save_snapshot(store, "s1", sandbox)
    info = await store.head(snapshot_path("s1"))
    assert info is not None and info.content_type == CONTENT_TYPE
    assert snapshot_path("s1") == "sandboxes/s1"

    await sandbox.exec("echo v2 > /workspace/notes.txt")
    await save_snapshot(store, "s1", sandbox)
    data = await load_snapshot(store, "s1")
    assert data is not None

    restored = BashSandbox()
    await restored.restore(data)
    result = await restored.exec("cat /workspace/notes.txt /workspace/out/result.txt; pwd")
    assert result.stdout == "v2\nbuilt\n/workspace/out\n"
    assert await load_snapshot(store, "other") is None


async def test_latest_of_many_saves() -> None:
    store = MemorySessionStore()
    sandbox = BashSandbox()
    for i in range(5):
        await sandbox.exec(f"echo {i} > counter")
        await save_snapshot(store, "s2", sandbox)
    restored = BashSandbox()
    await restored.restore(await load_snapshot(store, "s2") or b"")
    assert (await restored.read_file("counter")) == b"4\n"
