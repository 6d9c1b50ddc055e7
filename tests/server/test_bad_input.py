"""Bad input gets a typed JSON error with the right status — never a 500 or a stack trace.

Explicit cases first, then a hypothesis fuzz over every route of the app (methods, paths, queries,
content types and bodies) against a real server on loopback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server._project import ServerProcess

pytestmark = pytest.mark.slow

FUZZ_EXAMPLES = int(os.environ.get("FLUE_FUZZ_EXAMPLES", "600"))
fuzz_stats = {"requests": 0, "5xx": 0}


@pytest.fixture(scope="module")
def fuzz_server(server: ServerProcess) -> ServerProcess:
    return server  # the shared server: its long-polls give up after 0.2 s


def _error(r: httpx.Response, status: int, type_: str) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["type"] == type_ and isinstance(error["message"], str) and "details" in error
    assert "Traceback" not in r.text
    return error  # type: ignore[no-any-return]


def test_explicit_bad_requests(fuzz_server: ServerProcess) -> None:
    base = fuzz_server.url
    with httpx.Client(timeout=10) as c:
        _error(
            c.post(f"{base}/agents/chat/x", content=b"{nope", headers={"content-type": "application/json"}),
            400,
            "invalid_json",
        )
        _error(
            c.post(f"{base}/agents/chat/x", content=b"hi", headers={"content-type": "text/plain"}),
            415,
            "unsupported_media_type",
        )
        _error(c.post(f"{base}/agents/nobody/x", json={"kind": "user", "body": "hi"}), 404, "agent_not_found")
        _error(c.post(f"{base}/agents/chat/x", json="just a string"), 400, "invalid_request")
        _error(c.post(f"{base}/agents/chat/x", json={"kind": "user"}), 400, "invalid_request")
        _error(c.post(f"{base}/agents/chat/x", json={"kind": "user", "body": "x", "uid": 5}), 400, "invalid_request")
        _error(c.post(f"{base}/agents/chat/x?wait=result", json={"kind": "user", "body": "x"}), 400, "invalid_request")
        big = {"kind": "user", "body": "x" * (1024 * 1024 + 10)}
        _error(c.post(f"{base}/agents/chat/x", json=big), 413, "payload_too_large")
        _error(c.post(f"{base}/agents/chat/bad%20id", json={"kind": "user", "body": "x"}), 400, "invalid_request")
        _error(c.get(f"{base}/agents/chat/never-created"), 404, "agent_instance_not_found")
        assert c.post(f"{base}/agents/chat/x", json={"kind": "user", "body": "hello"}).status_code == 202
        _error(c.get(f"{base}/agents/chat/x", params={"view": "updates", "offset": "garbage"}), 400, "invalid_offset")
        _error(
            c.get(f"{base}/agents/chat/x", params={"view": "updates", "offset": "0000000000000000_9999999999999999"}),
            400,
            "invalid_offset",
        )
        _error(c.get(f"{base}/agents/chat/x", params={"view": "updates"}), 400, "invalid_request")
        _error(c.get(f"{base}/agents/chat/x", params={"view": "sideways"}), 400, "invalid_request")
        _error(c.delete(f"{base}/agents/chat/x"), 405, "method_not_allowed")
        _error(c.get(f"{base}/no/such/route"), 404, "not_found")
        _error(
            c.post(f"{base}/workflows/checkout", content=b"[1,", headers={"content-type": "application/json"}),
            400,
            "invalid_json",
        )


_names = st.one_of(st.sampled_from(["chat", "checkout", "nope", ""]), st.text(max_size=12))
_ids = st.one_of(st.sampled_from(["a", "fuzz-1", "x" * 200, "..", "%2F", "-1"]), st.text(max_size=20))
_paths = st.one_of(
    st.builds(lambda n, i: f"/agents/{quote(n, safe='')}/{quote(i, safe='')}", _names, _ids),
    st.builds(lambda n, i: f"/agents/{quote(n, safe='')}/{quote(i, safe='')}/abort", _names, _ids),
    st.builds(lambda n: f"/workflows/{quote(n, safe='')}", _names),
    st.builds(lambda n, i: f"/workflows/{quote(n, safe='')}/{quote(i, safe='')}", _names, _ids),
    st.sampled_from(["/", "/api/sessions", "/sessions/chat/a", "/static/viewer.js", "/static/../app.py"]),
)
_offsets = st.one_of(
    st.sampled_from(["-1", "now", "0000000000000000_0000000000000001", "0000000000000000_0000000000000000"]),
    st.text(max_size=40),
)
_queries = st.dictionaries(
    st.sampled_from(["view", "offset", "live", "wait", "id", "cursor"]),
    st.one_of(st.sampled_from(["history", "updates", "long-poll", "sse", "true", ""]), _offsets),
    max_size=4,
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_messages = st.fixed_dictionaries(
    {"kind": st.sampled_from(["user", "signal", "other"]), "body": st.one_of(st.text(max_size=30), st.integers())},
    optional={
        "uid": st.one_of(st.none(), st.text(max_size=10), st.integers()),
        "idempotencyKey": st.one_of(st.text(max_size=300), st.integers()),
        "type": st.text(max_size=10),
        "attributes": _json_values,
        "tagName": st.text(max_size=10),
        "attachments": _json_values,
        "order_id": st.text(max_size=10),
        "quantity": _json_values,
    },
)
_bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    _json_values.map(lambda v: json.dumps(v).encode()),
    _messages.map(lambda v: json.dumps(v).encode()),
)
_content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
        "application/x+json",
        "multipart/form-data",
    ]
)


_clients: list[httpx.Client] = []


@pytest.fixture(scope="module", autouse=True)
def _close_client() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def _client() -> httpx.Client:
    # One keep-alive connection for the whole fuzz run: hundreds of cases in seconds, not minutes.
    if not _clients:
        _clients.append(httpx.Client(timeout=10))
    return _clients[0]


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=_paths,
    query=_queries,
    body=_bodies,
    content_type=_content_types,
)
def test_fuzz_routes_never_answer_5xx(
    fuzz_server: ServerProcess, method: str, path: str, query: dict, body: bytes | None, content_type: str
) -> None:  # type: ignore[type-arg]
    headers = {"content-type": content_type} if content_type else {}
    client = _client()
    request = client.build_request(method, fuzz_server.url + path, params=query, content=body, headers=headers)
    response = client.send(request, stream=True)
    try:
        fuzz_stats["requests"] += 1
        if response.status_code >= 500:
            fuzz_stats["5xx"] += 1
        assert response.status_code < 500, (method, path, query, body, response.read())
        is_sse = response.headers.get("content-type", "").startswith("text/event-stream")
        if response.status_code >= 400 and method != "HEAD" and not is_sse:
            payload = json.loads(response.read())
            assert set(payload["error"]) >= {"type", "message", "details"}
    finally:
        response.close()


def test_fuzz_report(fuzz_server: ServerProcess) -> None:
    """Runs after the fuzz test (file order): prints the figure for the report."""
    print(f"\nfuzz: {fuzz_stats['requests']} requests, {fuzz_stats['5xx']} answered 5xx")
    assert fuzz_stats["5xx"] == 0
