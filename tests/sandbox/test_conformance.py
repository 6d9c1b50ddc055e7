"""The conformance battery: agent-style scripts, each compared with real `/bin/bash` on the same files.

A case passes when stdout and the exit code are identical. Known differences are strict xfails with the
reason, so a backend upgrade that fixes one turns the suite red until the mark is removed.
`test_pass_rate` prints the overall figure and holds it at 95% or better.
"""

from __future__ import annotations

import shutil

import pytest

from tests.sandbox._cases import CASES, SEED_FILES
from tests.sandbox._oracle import Outcome, run_both

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="the real-bash oracle needs jq installed")

KNOWN_DIFFERENCES: dict[str, str] = {
    "set_u": "bash -c exits 127 on an unbound variable under set -u; bashkit exits 1 (same output)",
    "ls_multi": "with 2>&1 a builtin's stderr lands after its stdout; GNU ls reports missing operands first",
    "function_deep_recursion": "bashkit caps function depth at 16 (a loud function_depth limit hit, exit 1)",
    "dev_zero_big": "bashkit's /dev/zero yields at most 1 MiB per read, silently (known gap, see report)",
    "urandom_big": "bashkit's /dev/urandom yields at most 8 KiB per read, silently (known gap, see report)",
    "printf_wide": "bashkit caps printf field width at 10000 (a loud expansion limit hit, exit 1)",
}

MIN_PASS_RATE = 0.95


@pytest.fixture(scope="module")
def outcomes() -> dict[str, tuple[Outcome, Outcome]]:
    return run_both(CASES, SEED_FILES)


@pytest.mark.parametrize(
    "case_id",
    [
        pytest.param(cid, marks=pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[cid]))
        if cid in KNOWN_DIFFERENCES
        else cid
        for cid, _ in CASES
    ],
)
def test_case_matches_bash(case_id: str, outcomes: dict[str, tuple[Outcome, Outcome]]) -> None:
    real, ours = outcomes[case_id]
    assert ours.stdout == real.stdout
    assert ours.exit_code == real.exit_code


def test_pass_rate(outcomes: dict[str, tuple[Outcome, Outcome]], capsys: pytest.CaptureFixture[str]) -> None:
    identical = sum(real == ours for real, ours in outcomes.values())
    total = len(outcomes)
    with capsys.disabled():
        print(f"\nsandbox conformance: {identical}/{total} identical to bash ({identical / total:.1%})")
    assert total >= 150
    assert identical / total >= MIN_PASS_RATE
    # Every known difference must really differ (the xfail marks are strict, this keeps the list honest too).
    assert all(outcomes[cid][0] != outcomes[cid][1] for cid in KNOWN_DIFFERENCES)


def test_cases_are_unique() -> None:
    ids = [cid for cid, _ in CASES]
    assert len(ids) == len(set(ids))
    assert set(KNOWN_DIFFERENCES) <= set(ids)
