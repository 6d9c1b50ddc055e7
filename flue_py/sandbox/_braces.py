"""Spot brace expansions bigger than bashkit will produce, because it cuts them short without a word.

bashkit refuses a single huge range (`{1..3000000}`) loudly, but a product of groups in one word
(`{a,b}{a,b}...`, `{1..100}{1..100}{1..10}`) is silently cut to a few thousand words with exit 0. The
sandbox cannot see inside the expansion, so it estimates each word's size from the script text; a word
that would exceed `MAX_BRACE_WORDS` turns the exec into a loud `expansion` limit hit. Quoted text and
`${...}` are ignored, as bash ignores them.
"""

from __future__ import annotations

import re

__all__ = ["MAX_BRACE_WORDS", "largest_brace_expansion"]

MAX_BRACE_WORDS = 8192
"""bashkit's silent cap on a brace-product expansion (measured with bashkit 0.20.1)."""

_QUOTED = re.compile(r"'[^']*'|\"(?:\\.|[^\"\\])*\"|\$\{[^}]*\}")
_GROUP = re.compile(r"\{([^{}\s]*)\}")
_RANGE = re.compile(r"^(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?$")


def _group_size(body: str) -> int:
    match = _RANGE.match(body)
    if match:
        start, end, step = match.groups()
        if start.lstrip("-").isdigit() and end.lstrip("-").isdigit():
            span = abs(int(end) - int(start))
        else:
            span = abs(ord(end) - ord(start))
        return span // max(abs(int(step or 1)), 1) + 1
    return body.count(",") + 1 if "," in body else 1


def largest_brace_expansion(script: str) -> int:
    """The most words any single word of `script` brace-expands to (1 when there are no braces)."""
    text = _QUOTED.sub(" ", script)
    largest = 1
    for word in text.split():
        groups = _GROUP.findall(word)
        if len(groups) < 2:
            continue
        product = 1
        for body in groups:
            product *= _group_size(body)
        largest = max(largest, product)
    return largest
