"""The entry point of a `flue build` artifact: `python app.pyz [--host H] [--port P] [--check]`.

shiv has already extracted the bundled site-packages and put it first on sys.path; the project sits
beside the packages as `_flue_project/`. Settings come from the bundled flue.toml, then a `.env` in the
directory the artifact is started from, then the environment (FLUE_HOST, FLUE_PORT or PORT, FLUE_STORE,
FLUE_CORS_ORIGINS, the token variable), then these flags. A relative sqlite store is relative to that
starting directory: the extracted tree is a cache, not a place for data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["bundled_project", "main"]

PROJECT_DIR = "_flue_project"


def bundled_project() -> Path:
    """`site-packages/_flue_project`, next to this package in the extracted artifact."""
    return Path(__file__).resolve().parent.parent / PROJECT_DIR


def _parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{name}.pyz", description=f"Serve the flue-py project {name!r}.")
    parser.add_argument("--host", help="Interface to listen on [default: flue.toml, FLUE_HOST, 127.0.0.1].")
    parser.add_argument("--port", type=int, help="Port [default: flue.toml, FLUE_PORT, PORT, 8000].")
    parser.add_argument("--check", action="store_true", help="Load the project, print what it serves, and exit.")
    return parser


def main(argv: list[str] | None = None) -> None:
    from flue_py.config import load_config, load_dotenv_file
    from flue_py.exceptions import UserError

    root = bundled_project()
    if not (root / "agents").is_dir() and not (root / "workflows").is_dir():
        sys.exit(f"error: no project inside this artifact ({root}) — rebuild it with flue build")
    here = Path.cwd()
    try:
        load_dotenv_file(here)  # the deployment's .env; the project's own .env is never bundled
        config = load_config(root)
    except UserError as exc:
        sys.exit(f"error: {exc}")
    args = _parser(config.name).parse_args(argv)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    store = config.store_url(base=here)

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # agents/ and workflows/ import each other as top-level packages
    if args.check:
        from flue_py.cli._project import load_project

        try:
            project = load_project(root)
        except UserError as exc:
            sys.exit(f"error: {exc}")
        print(f"{config.name}: {', '.join(project.names()) or 'nothing'} on http://{host}:{port} (store {store})")
        return

    try:
        import uvicorn

        from flue_py.server.app import create_app
    except ImportError as exc:
        sys.exit(f"error: this artifact cannot serve ({exc}) — rebuild it with a flue-py that has flue serve")

    try:
        app = create_app(
            root=root, store=store, token=config.token, cors_origins=config.server.cors_origins, model=config.model
        )
    except UserError as exc:
        sys.exit(f"error: {exc}")
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    main()
