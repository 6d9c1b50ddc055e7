"""Optional bearer-token auth for every route: `Authorization: Bearer <token>`, else 401 JSON.

Browsers cannot put headers on an EventSource, so the viewer may pass the token as `?access_token=`
instead. CORS preflights (OPTIONS) pass without a token, as browsers send them without credentials.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from flue_py.server._errors import error_response

__all__ = ["BearerAuth"]


class BearerAuth:
    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _presented(self, scope: Scope) -> bytes | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return bytes(credentials).strip()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "access_token" in query:
            return str(query["access_token"][0]).encode()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        presented = self._presented(scope)
        if presented is not None and hmac.compare_digest(presented, self.token):
            await self.app(scope, receive, send)
            return
        message = "missing bearer token" if presented is None else "invalid bearer token"
        response = error_response(401, "unauthorized", message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="flue"'
        await response(scope, receive, send)
