"""A GNU-compatible `seq` that fails loudly at the sandbox's limit.

bashkit's own `seq` stops at 100,000 lines and only says so on stderr, so `seq 1 200000 | tail -1` prints a
wrong answer with exit 0 (and with `2>/dev/null` nobody ever learns). This replacement runs as a custom
builtin: it produces the exact GNU output up to `loop_iterations` elements and, beyond that, prints nothing,
exits 1 and reports the hit to the sandbox so the exec result carries `limit_hit` even when stderr is
discarded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

__all__ = ["run_seq"]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_USAGE = "Try 'seq --help' for more information.\n"


def _decimals(text: str) -> int:
    """Digits after the point as written (GNU seq's output precision comes from the arguments)."""
    mantissa = text.lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def _parse_args(argv: list[str]) -> tuple[str, bool, str | None, list[str]] | str:
    """Split options from operands; a string return is an error message."""
    sep, width, fmt, operands = "\n", False, None, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if operands or arg == "-" or _NUMBER.match(arg) or not arg.startswith("-"):
            operands.append(arg)
        elif arg == "--":
            operands.extend(argv[i + 1 :])
            break
        elif arg in ("-s", "--separator", "-f", "--format"):
            if i + 1 >= len(argv):
                return f"seq: option requires an argument -- '{arg.lstrip('-')[0]}'\n"
            if arg in ("-s", "--separator"):
                sep = argv[i + 1]
            else:
                fmt = argv[i + 1]
            i += 1
        elif arg.startswith("--separator="):
            sep = arg.split("=", 1)[1]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg.startswith("-s"):
            sep = arg[2:]
        elif arg.startswith("-f"):
            fmt = arg[2:]
        elif arg in ("-w", "--equal-width"):
            width = True
        else:
            return f"seq: invalid option -- '{arg.lstrip('-')[:1]}'\n"
        i += 1
    return sep, width, fmt, operands


def run_seq(argv: list[str], max_elements: int, on_limit: Callable[[str], None]) -> tuple[str, str, int]:
    """Run `seq argv`; returns (stdout, stderr, exit_code)."""
    parsed = _parse_args(argv)
    if isinstance(parsed, str):
        return "", parsed + _USAGE, 1
    sep, width, fmt, operands = parsed
    if not 1 <= len(operands) <= 3:
        return "", ("seq: missing operand\n" if not operands else f"seq: extra operand '{operands[3]}'\n") + _USAGE, 1
    for op in operands:
        if not _NUMBER.match(op):
            return "", f"seq: invalid floating point argument: '{op}'\n" + _USAGE, 1
    try:
        values = [Decimal(op) for op in operands]
    except InvalidOperation:  # pragma: no cover - the regex above admits only valid decimals
        return "", f"seq: invalid floating point argument: '{operands[0]}'\n", 1
    first, step, last = Decimal(1), Decimal(1), values[-1]
    if len(values) >= 2:
        first = values[0]
    if len(values) == 3:
        step = values[1]
    if step == 0:
        return "", f"seq: invalid Zero increment value: '{operands[1]}'\n" + _USAGE, 1
    count = int((last - first) / step) + 1 if (last - first) * step >= 0 or first == last else 0
    if count > max_elements:
        on_limit("loop_iterations")
        return "", f"seq: sandbox limit loop_iterations exceeded: {count} numbers requested (max {max_elements})\n", 1
    if count <= 0:
        return "", "", 0
    precision = max(
        _decimals(operands[0]) if len(operands) >= 2 else 0, _decimals(operands[1]) if len(operands) == 3 else 0
    )
    if fmt is None and precision == 0 and all(v == v.to_integral_value() for v in (first, step)):
        start, inc = int(first), int(step)
        items = [str(n) for n in range(start, start + inc * count, inc)]
    elif fmt is not None:
        try:
            items = [fmt % float(first + step * k) for k in range(count)]
        except (TypeError, ValueError):
            return "", f"seq: invalid format string: '{fmt}'\n", 1
    else:
        items = [f"{first + step * k:.{precision}f}" for k in range(count)]
    if width and fmt is None:
        size = max(len(s) for s in items)
        items = [("-" + s[1:].rjust(size - 1, "0")) if s.startswith("-") else s.rjust(size, "0") for s in items]
    return sep.join(items) + "\n", "", 0
