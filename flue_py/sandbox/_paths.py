"""Path helpers for the sandbox: virtual path arithmetic and copying a host project in, safely.

`load_project` is the only code in the sandbox package that reads the host filesystem. It never opens
anything whose real path is outside the project root, so a symlink planted in the project cannot pull a
host secret into the sandbox.
"""

from __future__ import annotations

import os
import posixpath
import shlex
from collections.abc import Iterator

__all__ = ["load_project", "resolve", "shell_quote"]


def resolve(cwd: str, path: str) -> str:
    """An absolute, normalized virtual path (`..` never climbs above `/`)."""
    joined = path if path.startswith("/") else posixpath.join(cwd, path)
    normal = posixpath.normpath(joined)
    return "/" + normal.lstrip("/") if normal != "/" else "/"


def shell_quote(value: str) -> str:
    return shlex.quote(value)


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def load_project(
    root: str | os.PathLike[str], mount: str, *, exclude: frozenset[str], max_file: int
) -> Iterator[tuple[str, bytes]]:
    """Yield (virtual path, content) for every regular file under `root` that stays inside it."""
    real_root = os.path.realpath(root)
    if not os.path.isdir(real_root):
        raise NotADirectoryError(str(root))
    mount = resolve("/", mount)
    for directory, dirs, files in os.walk(real_root, followlinks=False):
        # Symlinked directories are never descended (they could loop or leave the root).
        dirs[:] = sorted(d for d in dirs if d not in exclude and not os.path.islink(os.path.join(directory, d)))
        for name in sorted(files):
            host = os.path.join(directory, name)
            real = os.path.realpath(host)
            if not _inside(real_root, real) or not os.path.isfile(real):
                continue
            try:
                fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(max_file + 1)
            if len(data) > max_file:
                continue
            relative = os.path.relpath(host, real_root).replace(os.sep, "/")
            yield resolve(mount, relative), data
