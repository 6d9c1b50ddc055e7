"""The Durable Streams server in-process: what the official suite does not pin down for flue-py.

(The full protocol is covered by tests/server/test_conformance.py against a real server.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from flue_py.exceptions import ConfigError
from flue_py.server._streams_context import long_poll_timeout_from_env
from flue_py.server._streams_sse import control_frame, data_frame
from flue_py.server.streams import create_streams_app, stream_routes
from flue_py.sessions import MemorySessionStore
from flue_py.sessions.base import SessionStore, format_offset, session_path


@pytest.fixture
def store() -> SessionStore:
    return MemorySessionStore()


@pytest.fixture
async def client(store: SessionStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_streams_app(store, long_poll_timeout=0.2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/v1/stream") as http:
        yield http


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body["error"]) >= {"type", "message", "details"}
    return body["error"]  # type: ignore[no-any-return]


async def test_session_log_is_a_json_stream(store: SessionStore, client: httpx.AsyncClient) -> None:
    await store.append(session_path("abc"), [b'{"kind":"a"}', b'{"kind":"b"}'], stamp_seq=True, create=True)
    response = await client.get("/sessions/abc", params={"offset": "-1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [{"seq": 1, "kind": "a"}, {"seq": 2, "kind": "b"}]
    assert response.headers["Stream-Next-Offset"] == format_offset(2)
    resumed = await client.get("/sessions/abc", params={"offset": format_offset(1)})
    assert resumed.json() == [{"seq": 2, "kind": "b"}]


async def test_bad_input_is_a_typed_4xx_json_error(client: httpx.AsyncClient) -> None:
    await client.put("/s", headers={"Content-Type": "application/json"})
    cases = [
        (await client.get("/s", params={"offset": "../etc"}), 400),
        (await client.get("/s", params={"offset": "-1", "live": "forever"}), 400),
        (await client.put("/t", headers={"Stream-TTL": "1.5"}), 400),
        (await client.put("/t", headers={"Stream-Expires-At": "tomorrow"}), 400),
        (await client.post("/s", content=b"{", headers={"Content-Type": "application/json"}), 400),
        (await client.post("/s", content=b"x", headers={"Content-Type": "text/plain"}), 409),
        (await client.post("/missing", content=b"1", headers={"Content-Type": "application/json"}), 404),
        (await client.request("PATCH", "/s"), 405),
        (await client.get("/__ds/anything"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        error = _error(response)
        assert isinstance(error["message"], str) and error["message"]
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_producer_errors_carry_their_headers(client: httpx.AsyncClient) -> None:
    await client.put("/p", headers={"Content-Type": "text/plain"})

    def producer(epoch: int, seq: int) -> dict[str, str]:
        return {
            "Content-Type": "text/plain",
            "Producer-Id": "w",
            "Producer-Epoch": str(epoch),
            "Producer-Seq": str(seq),
        }

    assert (await client.post("/p", content=b"a", headers=producer(1, 0))).status_code == 200
    stale = await client.post("/p", content=b"b", headers=producer(0, 1))
    assert stale.status_code == 403 and stale.headers["Producer-Epoch"] == "1"
    assert _error(stale)["type"] == "producer_fenced"
    gap = await client.post("/p", content=b"c", headers=producer(1, 5))
    assert gap.status_code == 409
    assert (gap.headers["Producer-Expected-Seq"], gap.headers["Producer-Received-Seq"]) == ("1", "5")


async def test_long_poll_times_out_with_configured_timeout(client: httpx.AsyncClient) -> None:
    created = await client.put("/lp", headers={"Content-Type": "text/plain"})
    tail = created.headers["Stream-Next-Offset"]
    response = await client.get("/lp", params={"offset": tail, "live": "long-poll"})
    assert response.status_code == 204
    assert response.headers["Stream-Up-To-Date"] == "true" and response.headers["Stream-Cursor"].isdigit()


def test_long_poll_timeout_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUE_LONG_POLL_TIMEOUT", "0.5")
    assert long_poll_timeout_from_env() == 0.5
    monkeypatch.setenv("FLUE_LONG_POLL_TIMEOUT", "soon")
    with pytest.raises(ConfigError):
        long_poll_timeout_from_env()
    monkeypatch.delenv("FLUE_LONG_POLL_TIMEOUT")
    assert long_poll_timeout_from_env() == 30.0


def test_sse_frames_cannot_be_injected() -> None:
    frame = data_frame("a\r\n\r\nevent: control\rdata: x\nz").decode()
    assert frame == "event: data\ndata:a\ndata:\ndata:event: control\ndata:data: x\ndata:z\n\n"
    open_control = json.loads(control_frame("o", "7", up_to_date=False, closed=False).decode().split("data:", 1)[1])
    assert open_control == {"streamNextOffset": "o", "streamCursor": "7"}
    closed = json.loads(control_frame("o", "7", up_to_date=True, closed=True).decode().split("data:", 1)[1])
    assert closed == {"streamNextOffset": "o", "streamClosed": True, "upToDate": True}


async def test_stream_routes_mount_in_another_app(store: SessionStore) -> None:
    app = Starlette(routes=[stream_routes(store, long_poll_timeout=0.1)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
        created = await http.put("/v1/stream/x", headers={"Content-Type": "text/plain"}, content=b"hi")
        assert created.status_code == 201 and created.headers["Location"] == "http://app/v1/stream/x"
        fork = await http.put("/v1/stream/y", headers={"Stream-Forked-From": "/v1/stream/x"})
        assert fork.status_code == 201 and fork.headers["content-type"] == "text/plain"
        assert (await http.get("/v1/stream/y")).text == "hi"


async def test_subscription_rejects_unsafe_webhooks(client: httpx.AsyncClient) -> None:
    for url in ("http://10.0.0.1/hook", "https://192.168.1.1/x", "ftp://example.com", "https://[::1]/x"):
        body = {"type": "webhook", "pattern": "a/*", "webhook": {"url": url}}
        response = await client.put("/__ds/subscriptions/s1", json=body)
        assert response.status_code == 400, url
        assert response.json()["error"]["code"] == "WEBHOOK_URL_REJECTED"
    ok = await client.put("/__ds/subscriptions/s1", json={"type": "pull-wake", "streams": ["a/b"], "wake_stream": "w"})
    assert ok.status_code == 201 and ok.json()["streams"][0]["path"] == "a/b"
    clash = await client.put("/__ds/subscriptions/s1", json={"type": "pull-wake", "streams": ["z"], "wake_stream": "w"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "SUBSCRIPTION_ALREADY_EXISTS"
    assert (await client.get("/__ds/subscriptions/none")).status_code == 404


async def test_sse_sends_each_data_event_with_its_control_in_one_chunk(store: SessionStore) -> None:
    from flue_py.server._streams_context import StreamsContext
    from flue_py.server._streams_sse import _events

    await store.create_stream("t", content_type="text/plain", initial=[b"x\r\revent: control\r\rdata: {}"])
    await store.append("t", [b"!"], close=True)
    first = await store.read("t", "-1")
    chunks = [chunk async for chunk in _events(StreamsContext(store=store), "t", first, "1")]
    assert len(chunks) == 1  # a reader that stops at the injected-looking blank line still has the control
    text = chunks[0].decode()
    assert text.startswith("event: data\n") and text.count("\nevent: control\n") == 1
    assert text.endswith('"streamClosed":true,"upToDate":true}\n\n')
