"""Every error flue-py raises, in one tree.

```text
FlueError
├── UserError                  a developer mistake: bad declaration, bad config, unknown name
│   ├── ConfigError            flue.toml / environment / constructor arguments are invalid
│   ├── NotFoundError          no agent, workflow, session or skill by that name
│   ├── SkillLoadError         a SKILL.md cannot be used (path:line: message)
│   ├── ModelRequestsBlocked   a real model was called while the test guard is on
│   └── MissingDependencyError an optional extra is not installed (names the pip command)
├── RunError                   a run could not complete
│   ├── LimitExceeded          max turns / tokens / cost reached (carries which limit)
│   ├── RunAborted             the run was aborted through its session
│   ├── ResultValidationError  the model never produced a valid structured result
│   └── ModelError             the model provider failed
│       ├── ModelAuthError     missing or rejected credentials
│       ├── ModelRateLimited   the provider throttled us
│       └── ModelUnavailable   network / 5xx / timeout
├── StoreError                 the session store refused an operation
│   ├── StreamNotFound
│   ├── StreamExists           PUT with a different configuration
│   ├── StreamClosed           append to a closed stream
│   ├── StreamGone             offset before retention, or deleted
│   ├── InvalidOffset          an offset the stream never minted, or beyond its tail
│   ├── ContentTypeMismatch
│   ├── SequenceConflict       Stream-Seq regression
│   ├── ProducerFenced         stale producer epoch
│   ├── ProducerSequenceGap    producer sequence skipped ahead
│   └── StoreUnavailable       the backend (e.g. the Redis server) cannot be reached; retry later
└── SandboxError               the sandbox backend failed (limits are results, not errors)
```

Signals to the model (a tool's bad arguments, a tool that raised) are not exceptions that escape a
run: they become error results the model reads. `ToolRetry` lets a tool ask the model to try again.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "ContentTypeMismatch",
    "FlueError",
    "InvalidOffset",
    "LimitExceeded",
    "MissingDependencyError",
    "ModelAuthError",
    "ModelError",
    "ModelRateLimited",
    "ModelRequestsBlocked",
    "ModelUnavailable",
    "NotFoundError",
    "ProducerFenced",
    "ProducerSequenceGap",
    "ResultValidationError",
    "RunAborted",
    "RunError",
    "SandboxError",
    "SequenceConflict",
    "SkillLoadError",
    "StoreError",
    "StoreUnavailable",
    "StreamClosed",
    "StreamExists",
    "StreamGone",
    "StreamNotFound",
    "ToolRetry",
    "UserError",
]


class FlueError(Exception):
    """Base class of every flue-py error."""


class UserError(FlueError):
    """A usage mistake by the application developer."""


class ConfigError(UserError):
    """Configuration (flue.toml, environment, constructor arguments) is invalid."""


class NotFoundError(UserError):
    """Nothing by that name exists."""


class SkillLoadError(UserError):
    """A SKILL.md cannot be used (no frontmatter, bad YAML, no description)."""

    def __init__(self, path: Any, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


class ModelRequestsBlocked(UserError, RuntimeError):
    """A request to a real (non-loopback) model was made while `flue_py.testing.block_model_requests()` is on."""


class MissingDependencyError(UserError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package!r} is not installed; run: pip install 'flue-py[{extra}]'")
        self.package = package
        self.extra = extra


class RunError(FlueError):
    """A run could not complete."""


class LimitExceeded(RunError):
    """A run limit (turns, tokens, cost) was reached."""

    def __init__(self, limit: str, value: float, maximum: float) -> None:
        super().__init__(f"limit {limit!r} exceeded: {value:g} > {maximum:g}")
        self.limit = limit
        self.value = value
        self.maximum = maximum


class RunAborted(RunError):
    """The run was aborted through its session."""


class ResultValidationError(RunError):
    """The model did not produce a valid structured result within the retry budget."""


class ModelError(RunError):
    """The model provider failed."""


class ModelAuthError(ModelError):
    """Credentials are missing or were rejected."""


class ModelRateLimited(ModelError):
    """The provider throttled the request."""


class ModelUnavailable(ModelError):
    """The provider could not be reached, timed out or failed on its side."""


class StoreError(FlueError):
    """The session store refused an operation."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class StreamNotFound(StoreError):
    """No stream exists at that path."""


class StreamExists(StoreError):
    """A stream exists at that path with a different configuration."""


class StreamClosed(StoreError):
    """The stream is closed; nothing more can be appended."""


class StreamGone(StoreError):
    """The offset is before the retained range, or the stream was deleted."""


class InvalidOffset(StoreError):
    """The offset (or fork sub-offset) is malformed or lies beyond the stream's tail."""


class ContentTypeMismatch(StoreError):
    """The append's content type differs from the stream's."""


class SequenceConflict(StoreError):
    """A `Stream-Seq` value did not increase."""


class ProducerFenced(StoreError):
    """A producer wrote with an epoch older than the current one."""


class ProducerSequenceGap(StoreError):
    """A producer skipped sequence numbers."""


class StoreUnavailable(StoreError):
    """The store's backend cannot be reached right now (HTTP 503); retry, idempotently when writing."""


class SandboxError(FlueError):
    """The sandbox backend failed in a way that is not a limit or a script error."""


class ToolRetry(Exception):
    """Raised inside a tool to send `message` back to the model and let it try again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
