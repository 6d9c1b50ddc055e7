"""`POST /workflows/{name}`: typed input (422 with Pydantic's errors), result in the log and over HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server._client import raw_events
from tests.server._project import ServerProcess, write_project

pytestmark = pytest.mark.slow


def _result(client: httpx.Client, url: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(url).json()
        if body.get("status") == "settled":
            return body
        time.sleep(0.1)
    raise AssertionError(f"workflow did not settle: {body}")


def test_workflow_runs_and_its_result_is_readable(server: ServerProcess) -> None:
    with httpx.Client(timeout=10) as client:
        r = client.post(
            f"{server.url}/workflows/checkout", params={"id": "wf1"}, json={"order_id": "A-1", "quantity": 2}
        )
        assert r.status_code == 202, r.text
        receipt = r.json()
        assert receipt["streamUrl"] == f"{server.url}/workflows/checkout/wf1"
        assert receipt["logUrl"] == f"{server.url}/v1/stream/sessions/checkout/wf1"
        body = _result(client, receipt["streamUrl"])
        assert body["outcome"] == "completed" and body["result"] == {"order_id": "A-1", "total": 6}
        assert body["submissionId"] == receipt["submissionId"]
        events = raw_events(client, server.url, "checkout/wf1")
    settles = [e for e in events if e["kind"] == "run_settled"]
    assert len(settles) == 1 and settles[0]["result"] == {"order_id": "A-1", "total": 6}


def test_invalid_workflow_input_is_422_with_pydantic_errors(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/workflows/checkout", json={"quantity": "many"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "invalid_input"
    assert {tuple(d["loc"]) for d in error["details"]} == {("order_id",), ("quantity",)}
    assert {d["type"] for d in error["details"]} == {"missing", "int_parsing"}
    r = httpx.post(f"{server.url}/workflows/nope", json={})
    assert r.status_code == 404 and r.json()["error"]["type"] == "workflow_not_found"


def test_idempotency_key_admits_a_workflow_once(server: ServerProcess) -> None:
    headers = {"Idempotency-Key": "order-7"}
    with httpx.Client(timeout=10) as client:
        a = client.post(
            f"{server.url}/workflows/checkout", params={"id": "wf7"}, json={"order_id": "B"}, headers=headers
        )
        b = client.post(
            f"{server.url}/workflows/checkout", params={"id": "wf7"}, json={"order_id": "B"}, headers=headers
        )
        assert a.status_code == b.status_code == 202
        assert b.json()["deduplicated"] is True and b.json()["submissionId"] == a.json()["submissionId"]
        _result(client, a.json()["streamUrl"])
        assert sum(e["kind"] == "run_settled" for e in raw_events(client, server.url, "checkout/wf7")) == 1


def test_a_workflow_killed_mid_run_is_rerun_after_restart_and_settles_once(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    server = ServerProcess(root, env={"E2E_WORKFLOW_SECONDS": "2"}).start()
    try:
        with httpx.Client(timeout=10) as client:
            r = client.post(
                f"{server.url}/workflows/checkout", params={"id": "crash"}, json={"order_id": "C", "quantity": 5}
            )
            assert r.status_code == 202
            time.sleep(0.5)
            server.kill()
            server.start()
            body = _result(client, r.json()["streamUrl"], timeout=30)
            events = raw_events(client, server.url, "checkout/crash")
    finally:
        server.stop()
    assert body["result"] == {"order_id": "C", "total": 15}
    assert [e["attempt"] for e in events if e["kind"] == "run_started"] == [1, 2]
    assert sum(e["kind"] == "run_settled" for e in events) == 1
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
