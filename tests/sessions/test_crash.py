"""Crash safety of the SQLite store behind a real server: SIGKILL while appends are in flight.

After the restart: every acknowledged append is there, no message is torn, offsets kept strictly
increasing, an idempotent producer's retry of an append that was in flight lands exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flue_py.sessions.base import parse_offset

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flue_py.server.streams", "--port", str(port), "--store", f"sqlite:///{db}"],
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


async def _writer(client: httpx.AsyncClient, url: str, writer: int, acked: list[tuple[int, int, str]]) -> None:
    n = 0
    while True:
        body = json.dumps({"w": writer, "n": n, "pad": "x" * (n % 50)})
        try:
            response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
        except httpx.TransportError:
            return  # the server died mid-request: this append is unacknowledged
        assert response.status_code == 204, response.text
        acked.append((writer, n, response.headers["Stream-Next-Offset"]))
        n += 1


async def _producer(client: httpx.AsyncClient, url: str, state: dict[str, int]) -> None:
    while True:
        seq = state["next"]
        headers = {
            "Content-Type": "application/json",
            "Producer-Id": "crash-producer",
            "Producer-Epoch": "0",
            "Producer-Seq": str(seq),
        }
        try:
            response = await client.post(url, content=json.dumps({"p": seq}), headers=headers)
        except httpx.TransportError:
            return
        assert response.status_code == 200, response.text
        state["next"] = seq + 1


@pytest.mark.slow
async def test_sigkill_during_appends_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    server, base = _start(db)
    url = f"{base}/crash-log"
    acked: list[tuple[int, int, str]] = []
    producer_state = {"next": 0}
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            created = await client.put(url, headers={"Content-Type": "application/json"})
            assert created.status_code == 201
            tasks = [asyncio.create_task(_writer(client, url, w, acked)) for w in range(WRITERS)]
            tasks.append(asyncio.create_task(_producer(client, url, producer_state)))
            while len(acked) < 300:  # let appends pile up, then kill mid-flight
                await asyncio.sleep(0.02)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
    assert len(acked) >= 300

    server, base = _start(db)
    url = f"{base}/crash-log"
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            # The producer's in-flight append may or may not have committed: resending it must land once.
            in_flight = producer_state["next"]
            retry_headers = {
                "Content-Type": "application/json",
                "Producer-Id": "crash-producer",
                "Producer-Epoch": "0",
                "Producer-Seq": str(in_flight),
            }
            retry = await client.post(url, content=json.dumps({"p": in_flight}), headers=retry_headers)
            assert retry.status_code in (200, 204)
            after = await client.post(url, content=b'{"after":"restart"}', headers={"Content-Type": "application/json"})
            assert after.status_code == 204
            messages: list[object] = []
            offset = "-1"
            while True:
                page = await client.get(url, params={"offset": offset})
                assert page.status_code == 200
                messages.extend(json.loads(page.content))  # a torn message would not parse
                offset = page.headers["Stream-Next-Offset"]
                if page.headers.get("Stream-Up-To-Date") == "true":
                    break
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)

    stored = {(m["w"], m["n"]) for m in messages if isinstance(m, dict) and "w" in m}
    missing = [(w, n) for w, n, _ in acked if (w, n) not in stored]
    assert missing == [], f"{len(missing)} acknowledged appends lost"
    for writer in range(WRITERS):  # each writer's appends keep their order
        ns = [m["n"] for m in messages if isinstance(m, dict) and m.get("w") == writer]
        assert ns == sorted(ns) and len(ns) == len(set(ns))
    produced = [m["p"] for m in messages if isinstance(m, dict) and "p" in m]
    assert produced == list(range(in_flight + 1)), "a producer append was lost or duplicated"
    acked_offsets = sorted(parse_offset(o) for _, _, o in acked)
    assert len(set(acked_offsets)) == len(acked_offsets)  # strictly increasing: no offset minted twice
    assert messages[-1] == {"after": "restart"}
    assert parse_offset(after.headers["Stream-Next-Offset"]) == len(messages) > acked_offsets[-1]
