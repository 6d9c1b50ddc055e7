"""An unreachable store is a 503 with a typed JSON error on every surface, never a 500."""

from __future__ import annotations

import socket

import httpx

from flue_py.server.streams import create_streams_app
from flue_py.sessions.redis import RedisSessionStore


def dead_redis() -> RedisSessionStore:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return RedisSessionStore(f"redis://127.0.0.1:{port}/0")


async def test_durable_streams_routes_answer_503_when_the_store_is_down():
    store = dead_redis()
    transport = httpx.ASGITransport(app=create_streams_app(store))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for method, body in (("GET", None), ("POST", b"[1]"), ("PUT", None)):
                response = await client.request(
                    method, "/v1/stream/sessions/x", content=body, headers={"Content-Type": "application/json"}
                )
                assert response.status_code == 503, (method, response.text)
                assert response.json()["error"]["type"] == "store_unavailable"
    finally:
        await store.close()
