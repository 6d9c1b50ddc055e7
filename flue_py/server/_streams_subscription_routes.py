"""HTTP routes of the reserved subscriptions API, mounted before the catch-all stream route."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from flue_py.server import _streams_protocol as proto
from flue_py.server._streams_errors import error_response
from flue_py.server._streams_subscriptions import SubscriptionError, Subscriptions

Endpoint = Callable[[Request], Awaitable[Response]]


def _json(body: Any, status: int = 200, content_type: str = "application/json") -> Response:
    headers = {**proto.SECURITY_HEADERS, "Cache-Control": proto.NO_STORE, "Content-Type": content_type}
    return Response(json.dumps(body).encode(), status_code=status, headers=headers)


def _no_content() -> Response:
    return Response(status_code=204, headers={**proto.SECURITY_HEADERS, "Cache-Control": proto.NO_STORE})


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise SubscriptionError(400, "INVALID_REQUEST", "body is not valid JSON") from None


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _guard(endpoint: Endpoint) -> Endpoint:
    """Subscription errors as `{"error": {"code", "type", "message", "details", ...}}`."""

    async def guarded(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={**proto.SECURITY_HEADERS, **proto.PREFLIGHT_HEADERS})
        try:
            return await endpoint(request)
        except SubscriptionError as exc:
            return error_response(exc.status, exc.code.lower(), str(exc), code=exc.code, **exc.extra)

    return guarded


def subscription_routes(subs: Subscriptions) -> list[BaseRoute]:
    """Routes relative to `{root}/__ds` (mounted there: one prefix test per ordinary stream request)."""

    async def jwks(request: Request) -> Response:
        return _json(subs.signer.jwks(), content_type="application/jwk-set+json")

    async def subscription(request: Request) -> Response:
        sub_id = request.path_params["sub_id"]
        if request.method == "PUT":
            origin = f"{request.url.scheme}://{request.url.netloc}"
            sub, created = await subs.create(sub_id, await _body(request), origin)
            return _json(await subs.serialize(sub), 201 if created else 200)
        if request.method == "DELETE":
            subs.delete(sub_id)
            return _no_content()
        return _json(await subs.serialize(subs.get(sub_id)))

    async def add_streams(request: Request) -> Response:
        body = await _body(request)
        await subs.add_streams(request.path_params["sub_id"], body.get("streams") if isinstance(body, dict) else None)
        return _no_content()

    async def remove_stream(request: Request) -> Response:
        subs.remove_stream(request.path_params["sub_id"], request.path_params["stream"])
        return _no_content()

    async def callback(request: Request) -> Response:
        result = await subs.ack(request.path_params["sub_id"], _bearer(request), await _body(request), pull=False)
        return _json(result)

    async def ack(request: Request) -> Response:
        result = await subs.ack(request.path_params["sub_id"], _bearer(request), await _body(request), pull=True)
        return _json(result)

    async def claim(request: Request) -> Response:
        body = await _body(request)
        worker = body.get("worker") if isinstance(body, dict) else None
        return _json(await subs.claim(request.path_params["sub_id"], worker))

    async def release(request: Request) -> Response:
        await subs.release(request.path_params["sub_id"], _bearer(request), await _body(request))
        return _no_content()

    async def not_found(request: Request) -> Response:
        head = request.method == "HEAD"
        return error_response(404, "not_found", f"no reserved API at {request.url.path!r}", head=head)

    base = "/subscriptions/{sub_id}"
    post = ["POST", "OPTIONS"]
    return [
        Route("/jwks.json", _guard(jwks), methods=["GET", "OPTIONS"]),
        Route(base, _guard(subscription), methods=["GET", "PUT", "DELETE", "OPTIONS"]),
        Route(base + "/streams", _guard(add_streams), methods=post),
        Route(base + "/streams/{stream:path}", _guard(remove_stream), methods=["DELETE", "OPTIONS"]),
        Route(base + "/callback", _guard(callback), methods=post),
        Route(base + "/ack", _guard(ack), methods=post),
        Route(base + "/claim", _guard(claim), methods=post),
        Route(base + "/release", _guard(release), methods=post),
        Route("/{rest:path}", not_found, methods=["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"]),
    ]
