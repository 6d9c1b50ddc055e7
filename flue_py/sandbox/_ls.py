"""A GNU-format `ls` for the sandbox, because agents parse `ls` output.

bashkit's `ls -a` leaves out `.` and `..`, and its `ls -l` prints `mode size date time name` (five
columns) where GNU prints `mode links owner group size month day time name` plus a `total` line, so
`ls -l | awk '{print $5, $9}'` reads the wrong fields. This builtin reproduces GNU's non-terminal output for
the options agents use: -a -A -l -1 -d -R -r -t -S -h -F -p (sorting in the C locale).
"""

from __future__ import annotations

import math
import posixpath
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["run_ls"]

_SHORT = set("aAl1dRrtShFpC")
_LONG = {
    "--all": "a",
    "--almost-all": "A",
    "--directory": "d",
    "--recursive": "R",
    "--reverse": "r",
    "--human-readable": "h",
    "--classify": "F",
}
_SIX_MONTHS = 182 * 86400
_FS_ERRORS = (RuntimeError, OSError, ValueError)
"""What the engine's filesystem handle raises for a missing or unreadable path."""


@dataclass
class _Entry:
    name: str
    path: str
    kind: str  # file | directory | symlink
    size: int
    mode: int
    mtime: float
    target: str = ""


def _mode_string(entry: _Entry) -> str:
    kind = {"directory": "d", "symlink": "l"}.get(entry.kind, "-")
    bits = "".join(ch if entry.mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    return kind + bits


def _human(size: int) -> str:
    if size < 1024:
        return str(size)
    value = float(size)
    for unit in "KMGTPE":
        value /= 1024
        if value < 1024 or unit == "E":
            if value < 10:
                return f"{math.ceil(value * 10) / 10:.1f}{unit}"
            return f"{math.ceil(value)}{unit}"
    return str(size)  # pragma: no cover


def _suffix(entry: _Entry, flags: set[str]) -> str:
    if "F" in flags:
        if entry.kind == "directory":
            return "/"
        if entry.kind == "symlink":
            return "@"
        return "*" if entry.mode & 0o111 else ""
    return "/" if "p" in flags and entry.kind == "directory" else ""


class _Lister:
    def __init__(self, ctx: Any, flags: set[str]) -> None:
        self.fs = ctx.fs
        self.cwd = ctx.cwd
        self.flags = flags
        self.owner = ctx.env.get("USER", "sandbox")
        self.now = time.time()
        self.out: list[str] = []
        self.err: list[str] = []

    def abspath(self, name: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd, name))

    def entry(self, name: str, path: str, meta: dict[str, Any]) -> _Entry:
        entry = _Entry(name, path, meta["file_type"], meta["size"], meta["mode"], meta["modified"])
        if entry.kind == "symlink":
            try:
                entry.target = self.fs.read_link(path)
            except _FS_ERRORS:
                entry.target = "?"
            entry.size = len(entry.target)
        elif entry.kind == "directory":
            entry.size = 4096
        return entry

    def operand(self, name: str) -> _Entry | None:
        path = self.abspath(name)
        try:
            meta = self.fs.stat(path)
        except _FS_ERRORS:
            meta = None
        if meta is None:
            self.err.append(f"ls: cannot access '{name}': No such file or directory\n")
            return None
        link = self._symlink_meta(path)
        if link is not None and ("l" in self.flags or "d" in self.flags or meta["file_type"] != "directory"):
            return self.entry(name, path, link)
        return self.entry(name, path, meta)

    def _symlink_meta(self, path: str) -> dict[str, Any] | None:
        parent, base = posixpath.split(path)
        if not base:
            return None
        try:
            for item in self.fs.read_dir(parent or "/"):
                if item["name"] == base and item["metadata"]["file_type"] == "symlink":
                    return dict(item["metadata"])
        except _FS_ERRORS:
            return None
        return None

    def children(self, directory: _Entry) -> list[_Entry]:
        items = [
            self.entry(i["name"], posixpath.join(directory.path, i["name"]), i["metadata"])
            for i in self.fs.read_dir(directory.path)
        ]
        if "a" not in self.flags and "A" not in self.flags:
            items = [e for e in items if not e.name.startswith(".")]
        if "a" in self.flags:
            here = self.fs.stat(directory.path)
            parent = self.fs.stat(posixpath.dirname(directory.path) or "/")
            items += [self.entry(".", directory.path, here), self.entry("..", directory.path, parent)]
        return self.sort(items)

    def sort(self, items: list[_Entry]) -> list[_Entry]:
        items.sort(key=lambda e: e.name.encode())
        if "t" in self.flags:
            items.sort(key=lambda e: -e.mtime)
        elif "S" in self.flags:
            items.sort(key=lambda e: -e.size)
        if "r" in self.flags:
            items.reverse()
        return items

    def render(self, items: list[_Entry], *, total: bool) -> None:
        if "l" not in self.flags:
            self.out.extend(e.name + _suffix(e, self.flags) + "\n" for e in items)
            return
        if total:
            blocks = sum(
                4 if e.kind == "directory" else 4 * math.ceil(e.size / 4096) if e.kind == "file" else 0 for e in items
            )
            self.out.append(f"total {_human(blocks * 1024) if 'h' in self.flags and blocks else blocks}\n")
        sizes = [_human(e.size) if "h" in self.flags else str(e.size) for e in items]
        links = [str(self.links(e)) for e in items]
        size_w = max((len(s) for s in sizes), default=0)
        link_w = max((len(s) for s in links), default=0)
        for e, size, nlink in zip(items, sizes, links, strict=True):
            stamp = time.gmtime(e.mtime)
            recent = 0 <= self.now - e.mtime < _SIX_MONTHS
            when = time.strftime("%b %e %H:%M", stamp) if recent else time.strftime("%b %e  %Y", stamp)
            name = e.name + (f" -> {e.target}" if e.kind == "symlink" else _suffix(e, self.flags))
            self.out.append(
                f"{_mode_string(e)} {nlink:>{link_w}} {self.owner} {self.owner} {size:>{size_w}} {when} {name}\n"
            )

    def links(self, entry: _Entry) -> int:
        if entry.kind != "directory":
            return 1
        try:
            return 2 + sum(1 for i in self.fs.read_dir(entry.path) if i["metadata"]["file_type"] == "directory")
        except _FS_ERRORS:
            return 2

    def listing(self, directory: _Entry, header: bool, first: bool) -> None:
        if header:
            self.out.append(("" if first else "\n") + f"{directory.name}:\n")
        try:
            items = self.children(directory)
        except _FS_ERRORS:
            self.err.append(f"ls: cannot open directory '{directory.name}': Permission denied\n")
            return
        self.render(items, total=True)
        if "R" in self.flags:
            for child in items:
                if child.kind == "directory" and child.name not in (".", ".."):
                    child.name = posixpath.join(directory.name, child.name)
                    self.listing(child, True, False)


def _parse(argv: list[str]) -> tuple[set[str], list[str]] | str:
    flags: set[str] = set()
    operands: list[str] = []
    done = False
    for arg in argv:
        if done or arg == "-" or not arg.startswith("-"):
            operands.append(arg)
        elif arg == "--":
            done = True
        elif arg.startswith("--"):
            if arg.startswith("--color") or arg == "--group-directories-first":
                continue
            if arg not in _LONG:
                return f"ls: unrecognized option '{arg}'\n"
            flags.add(_LONG[arg])
        else:
            for ch in arg[1:]:
                if ch not in _SHORT:
                    return f"ls: invalid option -- '{ch}'\n"
                flags.add(ch)
    if "a" in flags and "A" in flags:
        flags.discard("A")
    return flags, operands


def run_ls(ctx: Any) -> tuple[str, str, int]:
    """Run `ls` with the builtin's context; returns (stdout, stderr, exit code)."""
    parsed = _parse(list(ctx.argv))
    if isinstance(parsed, str):
        return "", parsed + "Try 'ls --help' for more information.\n", 2
    flags, names = parsed
    lister = _Lister(ctx, flags)
    entries = [e for e in (lister.operand(n) for n in (names or ["."])) if e is not None]
    if "d" in flags:
        lister.render(lister.sort(entries), total=False)
    else:
        files = lister.sort([e for e in entries if e.kind != "directory"])
        dirs = lister.sort([e for e in entries if e.kind == "directory"])
        lister.render(files, total=False)
        header = len(names) > 1 or "R" in flags
        for i, directory in enumerate(dirs):
            lister.listing(directory, header, first=(i == 0 and not files))
    code = 2 if lister.err else 0
    return "".join(lister.out), "".join(lister.err), code
