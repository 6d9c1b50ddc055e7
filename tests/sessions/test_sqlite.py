"""What only the SQLite store promises: coalesced commits, cross-process wake-ups, durability on reopen."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flue_py.exceptions import ConfigError
from flue_py.sessions import MemorySessionStore, open_store
from flue_py.sessions.sqlite import SQLiteSessionStore


async def test_concurrent_appends_share_transactions(tmp_path: Path) -> None:
    store = SQLiteSessionStore(tmp_path / "s.db")
    try:
        await store.create_stream("s", content_type="application/json")
        jobs_before, commits_before = store.write_stats
        await asyncio.gather(*(store.append("s", [b"{}"]) for _ in range(300)))
        jobs, commits = store.write_stats
        assert jobs - jobs_before == 300
        assert commits - commits_before < 100  # one transaction carries many appends
        assert len((await store.read("s")).messages) == 300
    finally:
        await store.close()


async def test_wait_notices_appends_from_another_process(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    store = SQLiteSessionStore(db, poll_interval=0.1)
    try:
        info, _ = await store.create_stream("s", content_type="text/plain")
        script = (
            "import asyncio, time\n"
            "from flue_py.sessions.sqlite import SQLiteSessionStore\n"
            "async def main():\n"
            f"    s = SQLiteSessionStore({str(db)!r})\n"
            "    await asyncio.sleep(0.4)\n"
            "    await s.append('s', [b'from elsewhere'])\n"
            "    await s.close()\n"
            "asyncio.run(main())\n"
        )
        other = subprocess.Popen([sys.executable, "-c", script])  # noqa: ASYNC220 - must run beside the loop
        started = time.monotonic()
        assert await store.wait("s", info.next_offset, 10.0) is True
        assert time.monotonic() - started < 5.0
        assert [m.data for m in (await store.read("s")).messages] == [b"from elsewhere"]
        assert other.wait(timeout=10) == 0
    finally:
        await store.close()


async def test_data_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    first = SQLiteSessionStore(db)
    await first.append("sessions/x", [b'{"a":1}'], stamp_seq=True, create=True)
    await first.close()
    second = SQLiteSessionStore(db)
    try:
        assert [m.data for m in (await second.read("sessions/x")).messages] == [b'{"seq":1,"a":1}']
        result = await second.append("sessions/x", [b'{"a":2}'], stamp_seq=True)
        assert result.offsets == [(await second.read("sessions/x")).messages[-1].offset]
    finally:
        await second.close()


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_store("memory://"), MemorySessionStore)
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///nested/dir/rel.db")
    assert isinstance(relative, SQLiteSessionStore) and relative.path == Path("nested/dir/rel.db")
    assert (tmp_path / "nested" / "dir").is_dir()
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert isinstance(absolute, SQLiteSessionStore) and absolute.path == tmp_path / "abs.db"
    asyncio.run(relative.close())
    asyncio.run(absolute.close())
    for bad in ("nothing", "ftp://x", "sqlite://", "sqlite:///", "sqlite:///dir/"):
        with pytest.raises(ConfigError):
            open_store(bad)


def test_redis_url_needs_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if the 'redis' extra were not installed: importing the adapter fails.
    monkeypatch.setitem(sys.modules, "flue_py.sessions.redis", None)
    with pytest.raises(ConfigError, match="Redis backend"):
        open_store("redis://127.0.0.1:1/0")
