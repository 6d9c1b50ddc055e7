"""Session stores: durable offset-addressed streams (a session's event log is one of them).

`open_store(url)` picks a backend from a URL: `memory://`, `sqlite:///relative/path.db`,
`sqlite:////absolute/path.db`, `redis://host:port/db`.
"""

from __future__ import annotations

from pathlib import Path

from flue_py.exceptions import ConfigError
from flue_py.sessions.base import SessionStore
from flue_py.sessions.memory import MemorySessionStore

__all__ = ["DEFAULT_STORE_URL", "MemorySessionStore", "SessionStore", "open_store"]

DEFAULT_STORE_URL = "sqlite:///.flue/flue.db"
"""Relative to the current directory."""


def open_store(url: str) -> SessionStore:
    """Open the store a URL names. Raises ConfigError for an unknown scheme or a missing backend."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"store URL {url!r} has no scheme; use memory://, sqlite:///path.db or redis://host")
    scheme = scheme.lower()
    if scheme == "memory":
        return MemorySessionStore()
    if scheme == "sqlite":
        # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db" (the SQLAlchemy convention).
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"store URL {url!r} must look like sqlite:///path/to/file.db")
        path = rest[1:].split("?", 1)[0]
        if not path or path.endswith("/"):
            raise ConfigError(f"store URL {url!r} names no file")
        from flue_py.sessions.sqlite import SQLiteSessionStore

        return SQLiteSessionStore(Path(path))
    if scheme in ("redis", "rediss", "unix"):
        try:
            from flue_py.sessions.redis import RedisSessionStore  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ConfigError(
                f"store URL {url!r} needs the Redis backend (flue_py.sessions.redis and the 'redis' package;"
                f" pip install 'flue-py[redis]'): {exc}"
            ) from exc
        return RedisSessionStore(url)  # type: ignore[no-any-return,unused-ignore]
    raise ConfigError(f"unknown store URL scheme {scheme!r} in {url!r}; use memory://, sqlite:/// or redis://")
