"""Many devices on one session: concurrent SSE subscribers see identical ordered chunks, and one that
drops mid-run and reconnects with its last offset sees no gap and no duplicate (real HTTP, loopback)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.server._project import ServerProcess

pytestmark = pytest.mark.slow

SUBSCRIBERS = 6


async def _subscribe(
    client: httpx.AsyncClient, url: str, offset: str, submission: str, *, drop_after: int | None = None
) -> tuple[list[dict[str, Any]], str, bool]:
    """Read SSE from `offset`; a data frame counts only once its control frame (with the new offset) arrived,
    which is how a Durable Streams client checkpoints. Returns (chunks, last offset, finished)."""
    chunks: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    controls = 0
    event = None
    params = {"view": "updates", "offset": offset, "live": "sse"}
    async with client.stream("GET", url, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "data":
                pending += [c for c in json.loads(line[5:]) if c["type"] != "stream-checkpoint"]
            elif line.startswith("data:") and event == "control":
                offset = json.loads(line[5:])["streamNextOffset"]
                chunks += pending
                pending = []
                controls += 1
                if any(c["type"] == "submission-settled" and c["submissionId"] == submission for c in chunks):
                    return chunks, offset, True
                if drop_after is not None and controls >= drop_after:
                    return chunks, offset, False  # leaving the block closes the connection mid-run
    return chunks, offset, False


async def _device(client: httpx.AsyncClient, url: str, submission: str, drop_after: int | None) -> list[dict[str, Any]]:
    chunks, offset, done = await _subscribe(client, url, "-1", submission, drop_after=drop_after)
    reconnects = 0
    while not done:
        reconnects += 1
        await asyncio.sleep(0.2)  # the run goes on while this device is away
        more, offset, done = await _subscribe(client, url, offset, submission)
        chunks += more
    assert drop_after is None or reconnects == 1
    return chunks


async def test_concurrent_subscribers_see_the_same_ordered_chunks(server: ServerProcess) -> None:
    session = "chat/devices"
    url = f"{server.url}/agents/{session}"
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(url, json={"kind": "user", "body": "long 600"})
        assert r.status_code == 202
        submission = r.json()["submissionId"]
        devices = [_device(client, url, submission, drop_after=3 if i == 0 else None) for i in range(SUBSCRIBERS)]
        results = await asyncio.gather(*devices)
    reference = results[1]
    positions = [(c["position"]["batch"], c["position"]["index"]) for c in reference]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    deltas = "".join(c["delta"] for c in reference if c["type"] == "message-delta")
    assert deltas == " ".join(f"w{i}" for i in range(600))
    for chunks in results:
        assert chunks == reference  # identical, in the same order; the dropped device included
