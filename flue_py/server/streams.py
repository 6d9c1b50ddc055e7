"""The Durable Streams protocol over a `SessionStore`, under `/v1/stream/{path}`.

`stream_routes(store)` returns a Mount for the main app; `create_streams_app(store)` a standalone
Starlette app (tests, the conformance suite, `python -m flue_py.server.streams`). Every session's
event log is the JSON stream `sessions/<id>`, so any Durable Streams client can read a session.

Modules: `_streams_protocol` (wire rules), `_streams_write` (PUT/POST/DELETE/HEAD), `_streams_read`
(catch-up, long-poll), `_streams_sse`, `_streams_subscriptions` (the reserved `__ds` API),
`_streams_errors` (errors as JSON).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from flue_py.exceptions import StoreError
from flue_py.server import _streams_protocol as proto
from flue_py.server import _streams_read, _streams_write
from flue_py.server._streams_context import StreamsContext, long_poll_timeout_from_env
from flue_py.server._streams_errors import error_response, protocol_error_response, store_error_response
from flue_py.server._streams_subscription_routes import subscription_routes
from flue_py.server._streams_subscriptions import Subscriptions
from flue_py.sessions.base import SessionStore

__all__ = ["create_streams_app", "stream_routes"]

logger = logging.getLogger("flue_py.server.streams")

Handler = Callable[[StreamsContext, Request, str], Awaitable[Response]]
_HANDLERS: dict[str, Handler] = {
    "GET": _streams_read.get,
    "PUT": _streams_write.put,
    "POST": _streams_write.post,
    "DELETE": _streams_write.delete,
    "HEAD": _streams_write.head,
}
_RESERVED = "__ds"


def _preflight() -> Response:
    return Response(status_code=204, headers={**proto.SECURITY_HEADERS, **proto.PREFLIGHT_HEADERS})


def _endpoint(ctx: StreamsContext) -> Callable[[Request], Awaitable[Response]]:
    async def stream_endpoint(request: Request) -> Response:
        method = request.method
        if method == "OPTIONS":
            return _preflight()
        path: str = request.path_params["path"]
        if not path or path == _RESERVED or path.startswith(_RESERVED + "/"):
            return error_response(404, "not_found", f"no stream at {path!r}", head=method == "HEAD")
        handler = _HANDLERS.get(method)
        if handler is None:
            return error_response(405, "method_not_allowed", f"{method} is not supported on streams")
        try:
            return await handler(ctx, request, path)
        except StoreError as exc:
            return store_error_response(exc, method=method)
        except proto.ProtocolError as exc:
            return protocol_error_response(exc, method=method)
        except Exception:  # never a stack trace on the wire; the log keeps it
            logger.exception("streams: %s %s failed", method, path)
            return error_response(500, "internal_error", "the server failed to handle this request")

    return stream_endpoint


def _routes(ctx: StreamsContext, subscriptions: Subscriptions | None) -> list[BaseRoute]:
    methods = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]
    routes: list[BaseRoute] = []
    if subscriptions is not None:
        # One Mount: ordinary stream requests pay a single prefix check, not one per reserved route.
        routes.append(Mount("/" + _RESERVED, routes=subscription_routes(subscriptions)))
    routes.append(Route("/{path:path}", _endpoint(ctx), methods=methods))
    return routes


def _context(store: SessionStore, long_poll_timeout: float | None, prefix: str) -> tuple[StreamsContext, Subscriptions]:
    timeout = long_poll_timeout if long_poll_timeout is not None else long_poll_timeout_from_env()
    ctx = StreamsContext(store=store, long_poll_timeout=timeout, prefix=prefix)
    subscriptions = Subscriptions(ctx)
    return ctx, subscriptions


def stream_routes(store: SessionStore, *, long_poll_timeout: float | None = None) -> Mount:
    """The protocol's routes, to mount at `/v1/stream` in the main app.

    `long_poll_timeout` defaults to the env var FLUE_LONG_POLL_TIMEOUT (seconds), else 30 s.
    """
    ctx, subscriptions = _context(store, long_poll_timeout, "/v1/stream")
    return Mount("/v1/stream", routes=_routes(ctx, subscriptions))


def create_streams_app(
    store: SessionStore, *, long_poll_timeout: float | None = None, close_store: bool = False
) -> Starlette:
    """A standalone app serving only the protocol at `/v1/stream`; closes the store on shutdown if asked."""
    ctx, subscriptions = _context(store, long_poll_timeout, "/v1/stream")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await subscriptions.shutdown()
            if close_store:
                await store.close()

    app = Starlette(routes=[Mount("/v1/stream", routes=_routes(ctx, subscriptions))], lifespan=lifespan)
    app.state.streams = ctx
    return app


def main(argv: list[str] | None = None) -> None:
    """`python -m flue_py.server.streams --port 4437 --store sqlite:///streams.db`"""
    parser = argparse.ArgumentParser(prog="python -m flue_py.server.streams", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4437)
    parser.add_argument("--store", default="sqlite:///.flue/flue.db", help="memory://, sqlite:///path or redis://")
    parser.add_argument("--long-poll-timeout", type=float, default=None, help="seconds (env FLUE_LONG_POLL_TIMEOUT)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    import sys

    import uvicorn

    from flue_py.sessions import open_store

    # Store work runs on threads; a finished read waits for the GIL up to the switch interval
    # (5 ms by default) while the event loop runs. A shorter interval cuts that tail latency.
    sys.setswitchinterval(0.001)

    app = create_streams_app(open_store(args.store), long_poll_timeout=args.long_poll_timeout, close_store=True)
    # Keep idle connections longer than clients do (Node keeps 4 s, uvicorn would close at 5 s): a client
    # that reuses a socket the server just closed sees "fetch failed" under load.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, timeout_keep_alive=75)


if __name__ == "__main__":
    main()
