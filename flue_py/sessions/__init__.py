"""Session stores: durable offset-addressed streams (a session's event log is one of them)."""

from flue_py.sessions.base import SessionStore
from flue_py.sessions.memory import MemorySessionStore

__all__ = ["MemorySessionStore", "SessionStore"]
