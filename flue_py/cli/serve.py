"""`flue serve` and `flue dev`: the project's agents and workflows over HTTP (uvicorn).

`flue serve [--host] [--port] [--store URL]` for production; `flue dev` is the same with a reload on
every file change. Settings come from flags, then the environment (`PORT`, `FLUE_PORT`, `FLUE_HOST`,
`FLUE_STORE`, `FLUE_AUTH_TOKEN`, `FLUE_CORS_ORIGINS`), then flue.toml, then defaults
(127.0.0.1:8000, `sqlite:///.flue/flue.db` in the project).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["dev", "serve"]

_APP_FACTORY = "flue_py.cli.serve:_app_from_env"


def _settings(project: Path | None, host: str | None, port: int | None, store: str | None) -> dict[str, Any]:
    from flue_py.cli._project import find_root
    from flue_py.config import load_config, resolve_store_url
    from flue_py.exceptions import UserError

    try:
        config = load_config(find_root(project))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return {
        "root": config.root,
        "host": host or config.server.host,
        "port": port if port is not None else config.server.port,
        "store": resolve_store_url(store, Path.cwd()) if store else config.store_url(),
        "token": os.environ.get("FLUE_AUTH_TOKEN") or config.token,
        "cors": config.server.cors_origins,
        "model": config.model,
    }


def _app_from_env() -> Any:
    """The app factory uvicorn imports (needed for reload, where the app is rebuilt in a child process)."""
    from flue_py.server.app import create_app

    root = Path(os.environ["FLUE_SERVE_ROOT"])
    cors = [o for o in os.environ.get("FLUE_SERVE_CORS", "").split(",") if o]
    return create_app(
        root=root,
        store=os.environ["FLUE_SERVE_STORE"],
        token=os.environ.get("FLUE_SERVE_TOKEN") or None,
        cors_origins=cors,
        model=os.environ.get("FLUE_SERVE_MODEL") or None,
    )


def _run(settings: dict[str, Any], *, reload: bool, log_level: str) -> None:
    import uvicorn

    # Hand the settings to the factory through the environment: with reload, uvicorn rebuilds the app
    # in a fresh process that never saw our arguments.
    os.environ["FLUE_SERVE_ROOT"] = str(settings["root"])
    os.environ["FLUE_SERVE_STORE"] = settings["store"]
    os.environ["FLUE_SERVE_TOKEN"] = settings["token"] or ""
    os.environ["FLUE_SERVE_CORS"] = ",".join(settings["cors"])
    os.environ["FLUE_SERVE_MODEL"] = settings["model"] or ""
    typer.echo(f"flue: serving {settings['root']} on http://{settings['host']}:{settings['port']}", err=True)
    uvicorn.run(
        _APP_FACTORY,
        factory=True,
        host=settings["host"],
        port=settings["port"],
        reload=reload,
        reload_dirs=[str(settings["root"])] if reload else None,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [default: $PORT or 8000].")] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Session store URL [default: sqlite:///.flue/flue.db].")
    ] = None,
    project: Annotated[Path | None, typer.Option("--project", help="Project directory [default: here].")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the project's agents and workflows over HTTP, with the session viewer at /."""
    _run(_settings(project, host, port, store), reload=False, log_level=log_level)


def dev(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port [default: $PORT or 8000].")] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Session store URL [default: sqlite:///.flue/flue.db].")
    ] = None,
    project: Annotated[Path | None, typer.Option("--project", help="Project directory [default: here].")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Like `flue serve`, restarting on every change in the project (runs in flight are recovered)."""
    _run(_settings(project, host, port, store), reload=True, log_level=log_level)
