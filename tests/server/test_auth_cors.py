"""Bearer-token auth on every route (401 JSON without it) and configurable CORS, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server._node import run_node
from tests.server._project import ServerProcess

pytestmark = pytest.mark.slow

ROUTES = [
    ("GET", "/"),
    ("GET", "/api/sessions"),
    ("GET", "/sessions/chat/a"),
    ("GET", "/static/viewer.js"),
    ("POST", "/agents/chat/a"),
    ("GET", "/agents/chat/a"),
    ("POST", "/agents/chat/a/abort"),
    ("POST", "/workflows/checkout"),
    ("GET", "/workflows/checkout/a"),
    ("GET", "/v1/stream/sessions/chat/a?offset=-1"),
    ("PUT", "/v1/stream/anything"),
]


@pytest.fixture(scope="module")
def secured(project: Path) -> Iterator[ServerProcess]:
    env = {"FLUE_AUTH_TOKEN": "s3cret", "FLUE_CORS_ORIGINS": "https://app.example, http://localhost:5173"}
    proc = ServerProcess(project, env=env).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_needs_the_token(secured: ServerProcess, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
        r = httpx.request(method, secured.url + path, headers=headers)
        assert r.status_code == 401, (method, path, headers, r.status_code)
        assert r.json()["error"]["type"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_the_token_opens_the_routes(secured: ServerProcess) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    r = httpx.post(f"{secured.url}/agents/chat/authed", json={"kind": "user", "body": "hi"}, headers=auth)
    assert r.status_code == 202
    assert httpx.get(f"{secured.url}/agents/chat/authed", headers=auth).status_code == 200
    assert (
        httpx.get(f"{secured.url}/api/sessions", params={"access_token": "s3cret"}).status_code == 200
    )  # EventSource form


def test_cors_allows_configured_origins_only(secured: ServerProcess) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    r = httpx.options(f"{secured.url}/agents/chat/a", headers=preflight)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
    r = httpx.get(
        f"{secured.url}/api/sessions", headers={"Origin": "http://localhost:5173", "Authorization": "Bearer s3cret"}
    )
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "Stream-Next-Offset" in r.headers["access-control-expose-headers"]
    r = httpx.options(f"{secured.url}/agents/chat/a", headers={**preflight, "Origin": "https://evil.example"})
    assert r.headers.get("access-control-allow-origin") != "https://evil.example"
    # A 401 still carries CORS headers, so a browser app can read the error.
    r = httpx.get(f"{secured.url}/api/sessions", headers={"Origin": "https://app.example"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "https://app.example"


def test_flue_sdk_with_a_bearer_token(secured: ServerProcess) -> None:
    out = run_node("sdk.mjs", secured.url, "s3cret")
    assert out["reply"]["text"] == "Done: order A-1 shipped."
    assert out["abortedOutcome"] == "aborted"
