"""Two server processes, one Redis: many processes serve one set of sessions.

Streams level: writers append through both processes at once, a live (long-poll) reader on B sees every
append made through A, an idempotent producer that fails over from A to B (after A is SIGKILLed
mid-append) lands each sequence number exactly once, and offsets stay gapless and strictly increasing.
Keys go under a fresh prefix, deleted at the end; skips without Redis (fails under FLUE_REQUIRE_REDIS=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flue_py.sessions.base import parse_offset
from tests.server.test_conformance import free_port
from tests.sessions._redis import delete_prefix, require_redis, unique_prefix

ROOT = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}


def _start_streams(store_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flue_py.server.streams", "--port", str(port), "--store", store_url],
        cwd=ROOT,
        env={**os.environ, "FLUE_LONG_POLL_TIMEOUT": "0.5"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1/stream"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited during startup"
        try:
            httpx.head(f"{base}/ping", timeout=1.0)
            return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("server did not start")


@pytest.fixture
def redis_store_url() -> Iterator[str]:
    """A store URL under a fresh key prefix; the prefix's keys are deleted afterwards."""
    url = require_redis()
    prefix = unique_prefix()
    try:
        yield f"{url}{'&' if '?' in url else '?'}prefix={prefix}"
    finally:
        delete_prefix(url, prefix)


async def _live_reader(client: httpx.AsyncClient, url: str, seen: list[tuple[float, object]]) -> None:
    """Long-poll `url` from the start until the stream closes, timestamping each message on arrival."""
    offset = "-1"
    while True:
        response = await client.get(url, params={"offset": offset, "live": "long-poll"})
        assert response.status_code in (200, 204), response.text
        if response.status_code == 200:
            now = time.monotonic()
            seen.extend((now, m) for m in json.loads(response.content))
        offset = response.headers["Stream-Next-Offset"]
        if response.headers.get("Stream-Closed") == "true":
            return


async def _writer(client: httpx.AsyncClient, urls: list[str], w: int, acked: list[tuple[int, int, str]]) -> None:
    """Plain appends, alternating between the servers; stops at the first one that fails (A killed)."""
    for n in range(10_000):
        url = urls[n % len(urls)]
        body = json.dumps({"w": w, "n": n, "sent": time.monotonic()})
        try:
            response = await client.post(url, content=body, headers=JSON)
        except httpx.TransportError:
            return
        assert response.status_code == 204, response.text
        acked.append((w, n, response.headers["Stream-Next-Offset"]))


async def _producer(client: httpx.AsyncClient, urls: list[str], stop: asyncio.Event, log: list[int]) -> None:
    """An idempotent producer that retries each append on the next server when one fails."""
    seq, server = 0, 0
    while not stop.is_set():
        headers = {**JSON, "Producer-Id": "p", "Producer-Epoch": "0", "Producer-Seq": str(seq)}
        try:
            response = await client.post(urls[server], content=json.dumps({"p": seq}), headers=headers)
        except httpx.TransportError:
            server = (server + 1) % len(urls)  # fail over and resend the same sequence number
            continue
        assert response.status_code in (200, 204), response.text
        log.append(response.status_code)
        seq += 1
        server = (server + 1) % len(urls)


@pytest.mark.slow
async def test_two_stream_servers_share_redis_and_survive_a_sigkill(redis_store_url: str) -> None:
    a, base_a = _start_streams(redis_store_url)
    b, base_b = _start_streams(redis_store_url)
    url_a, url_b = f"{base_a}/shared-log", f"{base_b}/shared-log"
    acked: list[tuple[int, int, str]] = []
    statuses: list[int] = []
    seen: list[tuple[float, object]] = []
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            assert (await client.put(url_a, headers=JSON)).status_code == 201
            assert (await client.put(url_b, headers=JSON)).status_code == 200  # B sees A's stream
            reader = asyncio.create_task(_live_reader(client, url_b, seen))
            stop = asyncio.Event()
            producer = asyncio.create_task(_producer(client, [url_a, url_b], stop, statuses))
            writers = [asyncio.create_task(_writer(client, [url_a, url_b], w, acked)) for w in range(4)]
            while len(acked) < 200:
                await asyncio.sleep(0.01)
            a.send_signal(signal.SIGKILL)  # mid-append: requests to A are in flight right now
            a.wait(timeout=10)
            await asyncio.wait_for(asyncio.gather(*writers), timeout=30)
            survivors = [asyncio.create_task(_writer(client, [url_b], 100 + w, acked)) for w in range(2)]
            await asyncio.sleep(0.3)
            stop.set()
            await producer
            for task in survivors:
                task.cancel()
            await asyncio.gather(*survivors, return_exceptions=True)
            closed = await client.post(url_b, content=b"", headers={**JSON, "Stream-Closed": "true"})
            assert closed.status_code == 204, closed.text
            await asyncio.wait_for(reader, timeout=10)
            final = await client.get(url_b, params={"offset": "-1"})
            messages = json.loads(final.content)
            tail = parse_offset(final.headers["Stream-Next-Offset"])
    finally:
        for process in (a, b):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)

    assert tail == len(messages)  # offsets 1..N with no gap: each append got the next index exactly once
    assert [m for _, m in seen] == messages  # B's live view is the durable log, in order
    stored = {(m["w"], m["n"]) for m in messages if "w" in m}
    assert {(w, n) for w, n, _ in acked} <= stored, "an acknowledged append is missing"
    offsets = [parse_offset(o) for _, _, o in acked]
    assert len(set(offsets)) == len(offsets)
    produced = [m["p"] for m in messages if "p" in m]
    assert produced == list(range(len(produced))) and len(produced) == len(statuses), "producer not exactly-once"
    assert any(m.get("w", 0) >= 100 for m in messages)  # B kept serving after A died
    # Cross-process live latency: appended through A or B, received by the long-poll on B.
    lags = sorted(arrived - m["sent"] for arrived, m in seen if isinstance(m, dict) and "sent" in m)
    print(f"live lag through B: p50 {lags[len(lags) // 2] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms, n={len(lags)}")
