"""The flue-py server: a project's agents and workflows over HTTP, one Harness, one store.

```python
app = create_app(root=Path("."), store="sqlite:///.flue/flue.db", token="s3cret")
# uvicorn.run(app) — or `flue serve`
```

Routes: `/agents/{name}/{id}` (Flue v2 shapes, so `@flue/sdk` works against it), `/workflows/{name}`,
`/v1/stream/...` (every session's raw event log, over the Durable Streams protocol), and the session
viewer at `/`. On startup the harness recovers every unsettled submission left by a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from flue_py.cli._project import Project, load_project
from flue_py.exceptions import StoreError
from flue_py.harness import Harness
from flue_py.server._agents import abort_agent, get_agent, head_agent, post_agent
from flue_py.server._auth import BearerAuth
from flue_py.server._errors import ApiError, error_response, handle_api_error, handle_store_error, handle_unexpected
from flue_py.server._state import ServerState
from flue_py.server._viewer import viewer_routes
from flue_py.server._workflows import get_workflow, post_workflow
from flue_py.sessions import open_store
from flue_py.sessions.base import SessionStore

__all__ = ["create_app"]

log = logging.getLogger("flue_py.server")

_STATUS_TYPES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _STATUS_TYPES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, kind, str(exc.detail))


def _routes() -> list[BaseRoute]:
    return [
        Route("/agents/{name}/{id}", post_agent, methods=["POST"]),
        Route("/agents/{name}/{id}", get_agent, methods=["GET"]),
        Route("/agents/{name}/{id}", head_agent, methods=["HEAD"]),
        Route("/agents/{name}/{id}/abort", abort_agent, methods=["POST"]),
        Route("/workflows/{name}", post_workflow, methods=["POST"]),
        Route("/workflows/{name}/{id}", get_workflow, methods=["GET"]),
        *viewer_routes(),
    ]


def _env_origins() -> list[str]:
    raw = os.environ.get("FLUE_CORS_ORIGINS", "")
    return [o.strip() for o in raw.split(",") if o.strip()]


def create_app(
    *,
    root: Path | None = None,
    project: Project | None = None,
    store: SessionStore | str | None = None,
    token: str | None = None,
    cors_origins: list[str] | None = None,
    long_poll_timeout: float | None = None,
    model: str | None = None,
) -> Starlette:
    """Build the ASGI app. The store defaults to `sqlite:///.flue/flue.db` under the project root.

    `token` (else env FLUE_AUTH_TOKEN) makes every route require `Authorization: Bearer <token>`;
    `cors_origins` (else env FLUE_CORS_ORIGINS, comma-separated) allows browsers on those origins.
    """
    if project is None:
        project = load_project(root)
    if store is None:
        db = project.root.resolve() / ".flue" / "flue.db"  # the default URL, anchored at the project
        db.parent.mkdir(parents=True, exist_ok=True)
        store = f"sqlite:///{db}"
    owns_store = isinstance(store, str)
    the_store = open_store(store) if isinstance(store, str) else store
    harness = Harness(the_store, root=project.root, model=model)
    state = ServerState(project=project, store=the_store, harness=harness)
    if long_poll_timeout is None and os.environ.get("FLUE_LONG_POLL_TIMEOUT"):
        long_poll_timeout = float(os.environ["FLUE_LONG_POLL_TIMEOUT"])
    if long_poll_timeout is not None:
        state.long_poll_timeout = long_poll_timeout
    token = token if token is not None else (os.environ.get("FLUE_AUTH_TOKEN") or None)
    origins = cors_origins if cors_origins is not None else _env_origins()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        recovered = await harness.recover(project.agents, project.workflows)
        if recovered:
            log.info("recovering %d session(s): %s", len(recovered), ", ".join(recovered))
        sweeper = asyncio.create_task(harness.sweep(project.agents, project.workflows, every=harness.lease_ttl))
        try:
            yield
        finally:
            sweeper.cancel()
            # Live runs stay open and give their leases back: the next start (a reload, a rolling restart,
            # another worker) resumes them, so they still settle exactly once.
            await harness.shutdown()
            if owns_store:
                await the_store.close()

    routes = _routes()
    try:
        from flue_py.server.streams import stream_routes

        routes.append(stream_routes(the_store, long_poll_timeout=long_poll_timeout))
    except ImportError:  # the Durable Streams module is optional for the agent routes to work
        log.warning("flue_py.server.streams is not available: /v1/stream is not served")
    middleware = []
    if origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["Stream-Next-Offset", "Stream-Up-To-Date", "Stream-Cursor", "Location", "ETag"],
            )
        )
    if token:
        middleware.append(Middleware(BearerAuth, token=token))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            ApiError: handle_api_error,
            StoreError: handle_store_error,
            HTTPException: _http_error,
            Exception: handle_unexpected,
        },
    )
    app.state.flue = state
    return app
