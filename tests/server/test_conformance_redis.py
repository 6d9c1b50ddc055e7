"""The official Durable Streams conformance suite against a flue-py server on the Redis store.

Same server, same pinned suite and same expected pass count as the SQLite run in `test_conformance.py`
(whose helpers this reuses); only the store URL differs. Redis keys go under a fresh prefix that is
deleted afterwards. Skips without Redis (fails under FLUE_REQUIRE_REDIS=1, see tests/sessions/_redis.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.server.test_conformance import (
    CONFORMANCE,
    EXPECTED_FAILURES,
    EXPECTED_TOTAL,
    RETRIES,
    SUITE_PACKAGE,
    SUITE_VERSION,
    free_port,
    start_server,
    stop_server,
)
from tests.sessions._redis import delete_prefix, require_redis, unique_prefix


@pytest.mark.slow
def test_official_conformance_suite_on_redis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = require_redis()
    if not SUITE_PACKAGE.exists():
        pytest.fail("conformance/node_modules is missing: run `npm ci --prefix conformance` (needs Node 20+)")
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx is not on PATH: install Node 20+ and run `npm ci --prefix conformance`")
    installed = json.loads(SUITE_PACKAGE.read_text())["version"]
    assert installed == SUITE_VERSION, f"conformance suite {installed} installed, {SUITE_VERSION} pinned: npm ci"

    prefix = unique_prefix()
    sep = "&" if "?" in url else "?"
    port = free_port()
    server = start_server(f"{url}{sep}prefix={prefix}", port)
    results = tmp_path / "results.json"
    try:
        run = subprocess.run(
            [npx, "vitest", "run", "conformance.test.mjs", "--no-coverage", f"--retry={RETRIES}",
             "--reporter=json", f"--outputFile.json={results}"],
            check=False,
            cwd=CONFORMANCE,
            env={
                **os.environ,
                "CONFORMANCE_TEST_URL": f"http://127.0.0.1:{port}",
                "CONFORMANCE_SUBSCRIPTIONS": "1",
                "CONFORMANCE_LONG_POLL_MS": "500",
            },
            capture_output=True,
            timeout=600,
        )  # fmt: skip
    finally:
        server_log = stop_server(server)
        delete_prefix(url, prefix)

    assert results.exists(), f"vitest wrote no results (exit {run.returncode}):\n{run.stdout[-3000:]!r}"
    report = json.loads(results.read_text())
    cases = [case for suite in report["testResults"] for case in suite["assertionResults"]]
    failed = [case["fullName"] for case in cases if case["status"] != "passed"]
    why = [
        f"{case['fullName']}: {' '.join(case.get('failureMessages', []))[:600]}"
        for case in cases
        if case["status"] == "failed"
    ]
    # Retried like the SQLite run: only timing-sensitive tests (2 s SSE reads, 5 s budgets) miss on a
    # starved machine, and a real protocol failure fails every attempt. Retried passes are reported.
    retried = [case["fullName"] for case in cases if case["status"] == "passed" and case.get("failureMessages")]
    passed, total = report["numPassedTests"], report["numTotalTests"]
    note = f" ({len(retried)} on a retry: {'; '.join(retried)})" if retried else ""
    with capsys.disabled():  # the figure belongs in CI output, not in captured output
        print(f"\ndurable-streams conformance {SUITE_VERSION} on Redis: {passed}/{total} passed{note}")
    assert "Traceback" not in server_log, server_log[-5000:]
    assert total == EXPECTED_TOTAL
    assert set(failed) <= EXPECTED_FAILURES, "\n".join(why or failed)
    assert passed == EXPECTED_TOTAL - len(EXPECTED_FAILURES)  # the same count the SQLite run must reach
