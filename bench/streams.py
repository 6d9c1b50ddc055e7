"""Session log benchmark: flue-py's Durable Streams server (SQLite) against the Node reference server.

`python -m bench.streams [--quick]`. Both servers run as subprocesses on loopback and get the same
workload from the same client (this process):

- append throughput: W concurrent writers POST one JSON event each (token-delta sized), then batches
  of 20; events/s and per-request p50/p99.
- read-from-offset: resume reads from random recent offsets of a 10k-event stream (each returns the
  events after it, up to ~1000); p50/p99, plus an empty read at the tail.
- SSE fan-out: N subscribers follow one stream live while a writer appends at a fixed rate;
  append-to-delivery p50/p99 over every (event, subscriber) pair.

The reference server (`@durable-streams/server`, pinned in conformance/package.json) runs both
file-backed (LMDB, durable like SQLite) and in memory. Appends and reads use a minimal keep-alive
HTTP/1.1 client so the client costs little next to the servers; SSE uses httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench._util import REPO, fmt, heading, machine, percentile, table

CONFORMANCE = REPO / "conformance"
REFERENCE_PACKAGE = CONFORMANCE / "node_modules" / "@durable-streams" / "server" / "package.json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.command, *(["--port", str(self.port)] if self.command[0] == sys.executable else [])],
            cwd=self.cwd,
            env={**os.environ, **self.env, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during startup ({self.process.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Conn:
    """One keep-alive HTTP/1.1 connection: just enough client for POST and GET round trips."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        found = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                found[key.strip().lower()] = value.strip()
        data = b""
        if "content-length" in found:
            data = await self.reader.readexactly(int(found["content-length"]))
        elif found.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(p[:-2] for p in parts)
        return status, found, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


JSON = {"Content-Type": "application/json"}
DELTA = {"kind": "text_delta", "session": "bench", "run": "r1", "agent": "a", "text": "token "}


async def append_throughput(port: int, path: str, *, writers: int, seconds: float, batch: int) -> dict[str, float]:
    conns = [Conn(port) for _ in range(writers)]
    await conns[0].request("PUT", path, headers=JSON)
    latencies: list[float] = []
    count = 0
    body = json.dumps([DELTA] * batch if batch > 1 else DELTA).encode()
    deadline = time.perf_counter() + seconds

    async def writer(conn: Conn) -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status, _, _ = await conn.request("POST", path, body, JSON)
            latencies.append(time.perf_counter() - t0)
            if status not in (200, 204):
                raise RuntimeError(f"append answered {status}")
            count += batch

    started = time.perf_counter()
    await asyncio.gather(*(writer(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    return {
        "events_s": count / elapsed,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
    }


async def read_latency(port: int, path: str, *, reads: int) -> dict[str, float]:
    conn = Conn(port)
    await conn.request("PUT", path, headers=JSON)
    offsets = []
    for _ in range(100):  # 10,000 events in batches of 100; keep the offset after each batch
        _, headers, _ = await conn.request("POST", path, json.dumps([DELTA] * 100).encode(), JSON)
        offsets.append(headers["stream-next-offset"])
    recent = offsets[-10:]  # reads from here return at most ~1000 events on either server
    latencies, tail_latencies = [], []
    rng = random.Random(7)
    for _ in range(reads):
        t0 = time.perf_counter()
        status, _, body = await conn.request("GET", f"{path}?offset={rng.choice(recent)}")
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"read answered {status}")
        json.loads(body)
    for _ in range(reads):
        t0 = time.perf_counter()
        await conn.request("GET", f"{path}?offset={offsets[-1]}")
        tail_latencies.append(time.perf_counter() - t0)
    conn.close()
    return {
        "read_p50_ms": percentile(latencies, 50) * 1e3,
        "read_p99_ms": percentile(latencies, 99) * 1e3,
        "tail_p50_ms": percentile(tail_latencies, 50) * 1e3,
        "tail_p99_ms": percentile(tail_latencies, 99) * 1e3,
    }


async def sse_fanout(port: int, path: str, *, subscribers: int, events: int, rate: float) -> dict[str, float]:
    import httpx

    conn = Conn(port)
    await conn.request("PUT", path, headers=JSON)
    latencies: list[float] = []
    ready = asyncio.Event()
    connected = 0

    async def subscriber(client: httpx.AsyncClient) -> None:
        nonlocal connected
        seen = 0
        url = f"http://127.0.0.1:{port}{path}"
        async with client.stream("GET", url, params={"offset": "now", "live": "sse"}) as response:
            connected += 1
            if connected == subscribers:
                ready.set()
            event, data = "", []
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:])
                elif not line and event == "data":
                    now = time.perf_counter()
                    for item in json.loads("\n".join(data)):
                        latencies.append(now - item["t"])
                        seen += 1
                    event, data = "", []
                    if seen >= events:
                        return
                elif not line:
                    event, data = "", []

    limits = httpx.Limits(max_connections=subscribers + 5)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        tasks = [asyncio.create_task(subscriber(client)) for _ in range(subscribers)]
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(0.2)
        for i in range(events):
            body = json.dumps({**DELTA, "i": i, "t": time.perf_counter()}).encode()
            await conn.request("POST", path, body, JSON)
            await asyncio.sleep(1 / rate)
        _, pending = await asyncio.wait(tasks, timeout=30)
        for task in pending:
            task.cancel()
    conn.close()
    return {
        "delivered": len(latencies) / (events * subscribers),
        "sse_p50_ms": percentile(latencies, 50) * 1e3,
        "sse_p99_ms": percentile(latencies, 99) * 1e3,
    }


def phases(quick: bool) -> list[tuple[str, object]]:
    """(name, factory of a coroutine taking a port): one workload phase each."""
    seconds = 3.0 if quick else 8.0

    def path(kind: str) -> str:
        return f"/v1/stream/bench-{kind}-{time.time_ns()}"

    def prefixed(prefix: str, coro_fn: object) -> object:
        async def run(port: int) -> dict[str, float]:
            found = await coro_fn(port)  # type: ignore[operator]
            return {f"{prefix}{k}": v for k, v in found.items()}

        return run

    return [
        (
            "append x1",
            prefixed("a1_", lambda port: append_throughput(port, path("a1"), writers=8, seconds=seconds, batch=1)),
        ),
        (
            "append x20",
            prefixed("a20_", lambda port: append_throughput(port, path("a20"), writers=8, seconds=seconds, batch=20)),
        ),
        ("reads", prefixed("", lambda port: read_latency(port, path("r"), reads=200 if quick else 600))),
        (
            "sse",
            prefixed(
                "",
                lambda port: sse_fanout(
                    port, path("sse"), subscribers=20 if quick else 100, events=50 if quick else 150, rate=100
                ),
            ),
        ),
    ]


def _median_merge(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for r in rounds for k in r}
    return {k: sorted(r[k] for r in rounds if k in r)[len([r for r in rounds if k in r]) // 2] for k in keys}


ROWS = [
    ("append 1 event/POST, 8 writers (events/s)", "a1_events_s", 0, True),
    ("  per-append p50 (ms)", "a1_p50_ms", 2, False),
    ("  per-append p99 (ms)", "a1_p99_ms", 2, False),
    ("append 20 events/POST, 8 writers (events/s)", "a20_events_s", 0, True),
    ("  per-append p99 (ms)", "a20_p99_ms", 2, False),
    ("read from offset (<=1000 events) p50 (ms)", "read_p50_ms", 2, False),
    ("read from offset p99 (ms)", "read_p99_ms", 2, False),
    ("read at tail (empty) p99 (ms)", "tail_p99_ms", 2, False),
    ("SSE fan-out delivery p50 (ms)", "sse_p50_ms", 2, False),
    ("SSE fan-out delivery p99 (ms)", "sse_p99_ms", 2, False),
    ("SSE events delivered (fraction)", "delivered", 3, True),
]


def _ratio(ours: float | None, theirs: float | None, higher_is_better: bool) -> str:
    """How flue-py compares: >1.00x means flue-py is better on this row."""
    if not ours or not theirs:
        return "-"
    return f"{(ours / theirs) if higher_is_better else (theirs / ours):.2f}x"


def main(quick: bool = False) -> None:
    """Run the workload on flue-py and the reference server(s); print one table."""
    scratch = Path(tempfile.mkdtemp(prefix="flue-bench-streams-"))
    servers = [
        Server(
            "flue-py (SQLite)",
            [sys.executable, "-m", "flue_py.server.streams", "--store", f"sqlite:///{scratch}/flue.db"],
            {"FLUE_LONG_POLL_TIMEOUT": "0.5"},
            REPO,
        )
    ]
    node = shutil.which("node")
    if node and REFERENCE_PACKAGE.exists():
        version = json.loads(REFERENCE_PACKAGE.read_text())["version"]
        servers.append(
            Server(
                f"reference {version} (file)",
                [node, "reference-server.mjs"],
                {"DATA_DIR": str(scratch / "ref")},
                CONFORMANCE,
            )
        )
        servers.append(Server(f"reference {version} (memory)", [node, "reference-server.mjs"], {}, CONFORMANCE))
    # All servers up at once, each phase run on each server in turn, several rounds, medians kept:
    # on a shared, noisy machine this keeps load drift from favouring whichever server ran first.
    rounds = 1 if quick else 3
    samples: dict[str, list[dict[str, float]]] = {server.name: [] for server in servers}
    try:
        for server in servers:
            server.start()
        for _ in range(rounds):
            merged: dict[str, dict[str, float]] = {server.name: {} for server in servers}
            for _name, phase in phases(quick):
                for server in servers:
                    merged[server.name].update(asyncio.run(phase(server.port)))  # type: ignore[operator]
            for server in servers:
                samples[server.name].append(merged[server.name])
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    results = {name: _median_merge(rounds_) for name, rounds_ in samples.items()}
    heading(
        "Session log: Durable Streams server throughput and latency",
        f"{machine()}. {'Quick' if quick else 'Full'} run (median of {rounds} round(s), phases interleaved); ratio columns: >1.00x means flue-py is better."
        + ("" if len(servers) > 1 else " Reference server not installed: run `npm ci --prefix conformance`."),
    )
    names = list(results)
    ours = results[names[0]]
    headers = ["metric", *names, *[f"flue-py vs {n}" for n in names[1:]]]
    rows = []
    for label, key, digits, higher in ROWS:
        cells = [fmt(results[n].get(key), digits) for n in names]
        ratios = [_ratio(ours.get(key), results[n].get(key), higher) for n in names[1:]]
        rows.append([label, *cells, *ratios])
    print(table(headers, rows), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer subscribers")
    main(parser.parse_args().quick)
