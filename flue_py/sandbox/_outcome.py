"""Name the limit behind a backend's message, so every limit hit becomes `ExecResult.limit_hit`.

bashkit reports fatal limits in `error` (and stderr) with a non-zero exit, but a few of its caps only
*warn* on stderr and exit 0 (`yes` and `seq` line caps, the sed branch-loop cap). Those are the silent
truncations the sandbox must never let through, so they are matched here too and turned into failures.
"""

from __future__ import annotations

import re

__all__ = ["classify", "limit_message"]

# Order matters: the first match names the limit.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("timeout", re.compile(r"execution timeout|deadline exceeded|execution timed out")),
    ("commands", re.compile(r"maximum command count exceeded|session command limit|maximum concurrent jobs")),
    (
        "loop_iterations",
        re.compile(r"maximum (total )?loop iterations exceeded|loop iteration limit|branch/label loop limit"),
    ),
    (
        "function_depth",
        re.compile(
            r"maximum (function|subshell|command substitution|source|trap nesting) depth|nesting depth exceeded|function call depth limit"
        ),
    ),
    (
        "memory",
        re.compile(
            r"variable byte limit|memory limit exceeded|array entry limit|environment variable (byte|count) limit|value size limit"
        ),
    ),
    (
        "expansion",
        re.compile(r"brace range too large|budget validation failed|format (width|precision) \d+ exceeds limit"),
    ),
    ("file_size", re.compile(r"file too large")),
    ("filesystem_bytes", re.compile(r"filesystem full|exceeds VFS limit")),
    ("output_bytes", re.compile(r"limit \(\d+[^)]*\) exceeded; output truncated|output limit exceeded")),
)


def classify(error: str | None, stderr: str) -> tuple[str, str] | None:
    """Return (limit name, the backend's line that says so) when a message reports a limit."""
    for text in (error or "", stderr):
        if not text:
            continue
        for name, pattern in _PATTERNS:
            match = pattern.search(text)
            if match:
                start = text.rfind("\n", 0, match.start()) + 1
                end = text.find("\n", match.end())
                return name, text[start : end if end >= 0 else len(text)].strip()
    return None


def limit_message(name: str, detail: str) -> str:
    """The line appended to stderr for every limit hit: it always names the limit."""
    return f"sandbox limit exceeded: {name}" + (f" ({detail})" if detail else "") + "\n"
