"""Project configuration: `flue.toml`, then `.env`, then the environment, checked by one Pydantic model.

```toml
[project]
name = "demo"
model = "anthropic/claude-sonnet-4-5"   # optional: overrides every agent's model when set

[store]
url = "sqlite:///.flue/flue.db"         # relative sqlite paths are relative to the project

[server]
host = "127.0.0.1"
port = 8000
token_env = "FLUE_AUTH_TOKEN"                # the environment variable holding the bearer token
cors_origins = ["http://localhost:5173"]
```

Precedence, highest first: command-line flags (applied by each command), the environment (`FLUE_MODEL`,
`FLUE_STORE`, `FLUE_HOST`, `FLUE_PORT` then `PORT`, `FLUE_CORS_ORIGINS` comma-separated), `.env` in the
project (which never overrides a variable already set), `flue.toml`, the defaults below.

Kept light on purpose: `flue --help` and `flue init` must not pay for litellm or starlette, and this module
is imported by both the CLI and the server.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flue_py.exceptions import ConfigError

__all__ = ["CONFIG_FILE", "DEFAULT_STORE", "FlueConfig", "ProjectConfig", "ServerConfig", "StoreConfig", "load_config"]

CONFIG_FILE = "flue.toml"
DEFAULT_STORE = "sqlite:///.flue/flue.db"


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ProjectConfig(_Section):
    name: str | None = None
    """The project's name; `flue build` names the artifact after it. Defaults to the directory's name."""
    model: str | None = None
    """When set, overrides every agent's model (a litellm `provider/model` string, or `test`)."""


class StoreConfig(_Section):
    url: str = DEFAULT_STORE
    """The session store: `sqlite:///relative/or/absolute.db`, `memory://` or `redis://host`."""


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    token_env: str = "FLUE_AUTH_TOKEN"
    """The name of the environment variable holding the bearer token; auth is off while it is unset."""
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # The environment gives one string: "https://a.example, https://b.example".
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class FlueConfig(_Section):
    """The resolved configuration of one project."""

    project: ProjectConfig = Field(default_factory=ProjectConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    root: Path = Path(".")
    """The project directory (not a key of flue.toml: set by `load_config`)."""

    @property
    def name(self) -> str:
        return self.project.name or self.root.resolve().name or "app"

    @property
    def model(self) -> str | None:
        return self.project.model

    @property
    def token(self) -> str | None:
        """The bearer token from the environment variable `server.token_env` names, or None (auth off)."""
        return os.environ.get(self.server.token_env) or None

    def store_url(self, base: Path | None = None) -> str:
        """The store URL with a relative sqlite path made absolute against `base` (default: the project root)."""
        return resolve_store_url(self.store.url, base or self.root)


def resolve_store_url(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


# Environment variable -> (section, key). FLUE_PORT comes after PORT so it wins when both are set:
# PORT is what hosting platforms set, FLUE_PORT is the user's explicit choice.
_ENV_KEYS: list[tuple[str, str, str]] = [
    ("FLUE_MODEL", "project", "model"),
    ("FLUE_STORE", "store", "url"),
    ("FLUE_HOST", "server", "host"),
    ("PORT", "server", "port"),
    ("FLUE_PORT", "server", "port"),
    ("FLUE_CORS_ORIGINS", "server", "cors_origins"),
]

_EXAMPLES = {
    ("project", "name"): 'a quoted string like "demo"',
    ("project", "model"): 'a quoted model string like "anthropic/claude-sonnet-4-5" or "test"',
    ("store", "url"): 'a quoted URL like "sqlite:///.flue/flue.db"',
    ("server", "host"): 'a quoted address like "127.0.0.1"',
    ("server", "port"): "a number like 8000",
    ("server", "token_env"): 'a quoted variable name like "FLUE_AUTH_TOKEN"',
    ("server", "cors_origins"): 'a list like ["http://localhost:5173"]',
}
_KNOWN = {
    (): "project, store, server",
    ("project",): "name, model",
    ("store",): "url",
    ("server",): "host, port, token_env, cors_origins",
}


def load_dotenv_file(root: Path) -> None:
    """Load `root/.env` into the environment without overriding variables that are already set."""
    path = root / ".env"
    if not path.is_file():
        return
    from dotenv import dotenv_values

    for key, value in dotenv_values(path).items():
        if value is not None and key not in os.environ:
            os.environ[key] = value


def load_config(root: Path, *, env: bool = True) -> FlueConfig:
    """Read `root/flue.toml` (optional), `root/.env` and the environment into a checked `FlueConfig`.

    Raises ConfigError with one line naming the file, the key and the fix.
    """
    root = Path(root).resolve()
    path = root / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{CONFIG_FILE}: not valid TOML ({exc}) — fix the syntax at that line") from None
        except OSError as exc:
            raise ConfigError(f"{CONFIG_FILE}: cannot be read ({exc.strerror}) — check its permissions") from None
    _check(data, CONFIG_FILE)
    if env:
        load_dotenv_file(root)
        overrides: dict[str, dict[str, Any]] = {}
        for var, section, key in _ENV_KEYS:
            value = os.environ.get(var)
            if value:
                overrides.setdefault(section, {})[key] = value
                _check({section: {key: value}}, f"environment variable {var}")
        for section, values in overrides.items():
            merged = data.get(section)
            data[section] = {**(merged if isinstance(merged, dict) else {}), **values}
    try:
        config = FlueConfig.model_validate({**data, "root": root})
    except ValidationError as exc:  # pragma: no cover - _check has already caught every problem
        raise ConfigError(_describe(exc, CONFIG_FILE)) from None
    return config


def _check(data: dict[str, Any], source: str) -> None:
    if "root" in data:
        raise ConfigError(f"{source}: unknown key 'root' — remove it (known sections: {_KNOWN[()]})")
    try:
        FlueConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str) -> str:
    """One line: where, which key, what is wrong, how to fix it (the first problem; fixing it reveals the next)."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(str(part) for part in error["loc"])
    section, key = loc[:-1], loc[-1] if loc else ""
    where = (f"[{'.'.join(section)}] " if section else "") + key
    if error["type"] == "extra_forbidden":
        if not section:
            return f"{source}: [{key}]: unknown section — remove it or fix the spelling (known: {_KNOWN[()]})"
        known = _KNOWN.get(section[:1], "")
        return f"{source}: {where}: unknown key — remove it or fix the spelling (known: {known})"
    if len(loc) == 1 and error["type"] in ("model_type", "model_attributes_type"):
        return f"{source}: [{key}]: should be a table — write it as a [{key}] section"
    # Pydantic's "..., unable to parse string as an integer" adds nothing the fix does not say.
    message = str(error["msg"]).split(", unable to", 1)[0]
    example = _EXAMPLES.get((loc[0], loc[1])) if len(loc) >= 2 else None
    fix = f"set it to {example}" if example else "fix the value"
    if source.startswith("environment"):
        # The environment has no sections; name the variable and the value only.
        return f"{source}: {message} (got {error.get('input')!r}) — {fix}"
    return f"{source}: {where}: {message} — {fix}"
