"""Two server processes, one Redis: many processes serve one set of sessions.

Agents: two `flue serve` processes share a Redis store; a run admitted on A is watched live through B,
an abort sent to B stops the run on A, and when A is SIGKILLed mid-run B resumes that run once A's lease
expires, settling its submission exactly once with the session's seq gapless.

Streams: writers append through both processes at once, a live (long-poll) reader on B sees every
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flue_py.sessions import open_store
from flue_py.sessions.base import Submission, parse_offset
from tests.server._client import raw_events, send
from tests.server._project import ServerProcess, write_project
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


# -- agents: `flue serve` twice over one Redis --------------------------------------------------------


def _log_after(client: httpx.Client, base: str, session: str, offset: str) -> tuple[list[dict[str, Any]], str]:
    """One long-poll of a session's raw log through `base`: (events after `offset`, next offset)."""
    r = client.get(f"{base}/v1/stream/sessions/{session}", params={"offset": offset, "live": "long-poll"})
    assert r.status_code in (200, 204), r.text
    return (json.loads(r.content) if r.status_code == 200 else []), r.headers["stream-next-offset"]


def _tail_until(
    client: httpx.Client, base: str, session: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> list[tuple[float, dict[str, Any]]]:
    """Every event of `session` read live through `base`, with arrival times, up to the first `until(event)`."""
    seen: list[tuple[float, dict[str, Any]]] = []
    offset, deadline = "-1", time.monotonic() + timeout
    while time.monotonic() < deadline:
        events, offset = _log_after(client, base, session, offset)
        now = time.monotonic()
        for event in events:
            seen.append((now, event))
            if until(event):
                return seen
    raise AssertionError(f"not seen within {timeout} s; last kinds {[e['kind'] for _, e in seen][-10:]}")


def _kind(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["kind"] == kind and all(e.get(k) == v for k, v in fields.items())


def _assert_gapless(events: list[dict[str, Any]]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "seq not strictly increasing 1..N"


@pytest.mark.slow
def test_two_flue_servers_share_sessions_watch_abort_and_take_over(tmp_path: Path, redis_store_url: str) -> None:
    project = write_project(tmp_path / "proj")
    # Short leases so a takeover happens within seconds. A's model is slow (its runs outlast the first
    # part of the test, so A is surely mid-run when killed); B's is fast, so the resumed run ends soon.
    env = {"FLUE_LEASE_TTL": "2", "FLUE_LONG_POLL_TIMEOUT": "1"}
    a = ServerProcess(project, store=redis_store_url, env={**env, "E2E_DELAY": "0.05"}).start()
    b: ServerProcess | None = None
    try:
        with httpx.Client(timeout=30) as client:
            # Both processes are up before the doomed run is admitted on A, so B's startup recovery never
            # saw it: only B's periodic sweep (unsettled submission + lapsed lease) can take it over.
            b = ServerProcess(project, store=redis_store_url, env={**env, "E2E_DELAY": "0.005"}).start()
            doomed = send(client, a.url, "chat/takeover", "long 300")
            _tail_until(client, a.url, "chat/takeover", _kind("text_delta"))

            # 1. Admitted on A, watched live through B, aborted through B: the run on A stops.
            live = send(client, a.url, "chat/live", "long 300")
            first = _tail_until(client, b.url, "chat/live", _kind("text_delta"))
            assert not any(e["kind"] == "run_settled" for _, e in first)  # B saw it mid-run
            asked = time.monotonic()
            r = client.post(f"{b.url}/agents/chat/live/abort")
            assert r.status_code == 200 and r.json() == {"aborted": True}, r.text
            seen = _tail_until(client, b.url, "chat/live", _kind("run_settled", submission=live["submissionId"]))
            abort_latency = seen[-1][0] - asked
            settled = seen[-1][1]
            assert settled["outcome"] == "aborted", settled
            _assert_gapless([e for _, e in seen])

            # 2. A dies mid-run (SIGKILL); B takes the run over once A's lease expires.
            before = raw_events(client, b.url, "chat/takeover")
            assert [e["kind"] for e in before].count("text_delta") > 0
            assert not any(e["kind"] == "run_settled" for e in before), "A finished before it could be killed"
            a.kill()
            killed = time.monotonic()
            done = _tail_until(
                client, b.url, "chat/takeover", _kind("run_settled", submission=doomed["submissionId"]), timeout=90
            )
            events = [e for _, e in done]
            starts = [(t, e) for t, e in done if e["kind"] == "run_started"]
            assert [e["attempt"] for _, e in starts] == [1, 2] and starts[0][1]["run"] == starts[1][1]["run"]
            takeover = starts[1][0] - killed
            assert done[-1][1]["outcome"] == "completed", done[-1][1]
            _assert_gapless(events)
            time.sleep(1.0)  # anything written after the settlement would show up now
            everything = raw_events(client, b.url, "chat/takeover")
            _assert_gapless(everything)
            settlements = [
                e for e in everything if e["kind"] == "run_settled" and e["submission"] == doomed["submissionId"]
            ]
            assert len(settlements) == 1, "the submission settled more than once"
        record = asyncio.run(_submission(redis_store_url, doomed["submissionId"]))
        assert record is not None and record.state == "settled" and record.outcome == "completed"
        print(
            f"abort via B -> settled on A: {abort_latency * 1000:.0f} ms; "
            f"SIGKILL A -> B resumes the run: {takeover:.2f} s (lease TTL 2 s); "
            f"-> settled: {done[-1][0] - killed:.2f} s"
        )
    finally:
        a.stop()
        if b is not None:
            b.stop()


async def _submission(store_url: str, submission_id: str) -> Submission | None:
    async with open_store(store_url) as store:
        return await store.get_submission(submission_id)
