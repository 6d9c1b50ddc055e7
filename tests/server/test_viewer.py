"""The session viewer in real headless Chromium (playwright-core driving the system chromium)."""

from __future__ import annotations

import httpx
import pytest

from tests.server._node import require_chromium, run_node
from tests.server._project import ServerProcess

pytestmark = pytest.mark.slow


def test_viewer_renders_live_resumes_after_a_drop_and_stops(server: ServerProcess) -> None:
    chromium = require_chromium()
    out = run_node("viewer.mjs", server.url, chromium, packages=("playwright-core",))
    assert out["pageErrors"] == []
    assert out["liveBeforeSettled"] is True  # text appeared while the run was still streaming
    assert out["statusWhileDown"] == "reconnecting…"
    # After the drop the page resumed from its offset (not from the start), and the text is exact:
    # a duplicated or missing delta would change it.
    assert out["textExact"] is True
    resumed = [o for o in out["connects"] if o != "-1"]
    assert resumed, out["connects"]
    assert out["userMessages"] == 1
    assert out["steerShown"] == "also this"  # Send during a live run steers it
    assert out["aborted"] is True and out["settledCount"] == 3  # completed; aborted run; aborted queued steer
    assert out["index"]["agents"] == ["chat"] and out["index"]["workflows"] == ["checkout"]
    assert "chat/viewer-1" in out["index"]["sessions"]


def test_viewer_pages_are_served(server: ServerProcess) -> None:
    page = httpx.get(f"{server.url}/sessions/chat/some-id")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '"chat/some-id"' in page.text.replace("&quot;", '"')
    assert httpx.get(f"{server.url}/sessions/not-a-session").status_code == 404
    assert httpx.get(f"{server.url}/static/viewer.js").headers["content-type"].startswith("text/javascript")
