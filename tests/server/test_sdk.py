"""Flue's own client, `@flue/sdk@2.0.3`, against a real flue-py server on loopback (send, read, observe, abort)."""

from __future__ import annotations

import pytest

from tests.server._node import run_node
from tests.server._project import ServerProcess

pytestmark = pytest.mark.slow


def test_flue_sdk_sends_reads_observes_and_aborts(server: ServerProcess) -> None:
    out = run_node("sdk.mjs", server.url)
    # send + read: the reply is the run's final text, after a tool call.
    assert out["reply"]["text"] == "Done: order A-1 shipped."
    assert out["first"]["logUrl"].endswith(f"/v1/stream/sessions/chat/{out['first']['streamUrl'].rsplit('/', 1)[1]}")
    # idempotency key: one submission, answered once; uid conditions.
    assert out["dedupe"] == {"same": True, "deduplicated": True, "offset": "-1"}
    assert out["onceReply"] == "You said: hello once"
    assert out["createOnly"] == {"status": 409, "type": "agent_instance_exists", "uid": out["first"]["uid"]}
    assert out["continueOnly"] == {"status": 404, "type": "agent_instance_not_found"}
    assert out["continued"] == "You said: same instance"
    # observe (SSE and long-poll) saw live text, abort stopped it, and read() reports the abort.
    assert out["liveText"].startswith("w0 w1 w2")
    assert out["abort"] == {"aborted": True}
    assert out["abortedOutcome"] == out["pollSawAbort"] == out["readAborted"] == "aborted"
    assert out["idleAbort"] == {"aborted": False}
    assert out["history"]["settlements"] == ["completed", "completed", "completed", "aborted"]
    assert out["sameAsLive"] is True
