"""The session viewer: `GET /` lists agents, workflows and recent sessions; a session page renders live.

Plain HTML and JavaScript served from `static/`, no build step. The page reads the session's raw
event log over SSE at `/v1/stream/sessions/<session>` and resumes from its last offset after a drop.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from flue_py.server._errors import ApiError
from flue_py.server._state import state_of

__all__ = ["viewer_routes"]

STATIC = Path(__file__).parent / "static"


async def list_sessions(request: Request) -> Response:
    state = state_of(request)
    streams = await state.store.list_streams("sessions/", limit=50)
    sessions = [
        {"session": s.path.removeprefix("sessions/"), "created_at": s.created_at, "offset": s.next_offset}
        for s in streams
    ]
    return JSONResponse(
        {"agents": sorted(state.project.agents), "workflows": sorted(state.project.workflows), "sessions": sessions}
    )


async def index(request: Request) -> Response:
    return HTMLResponse((STATIC / "index.html").read_text())


async def session_page(request: Request) -> Response:
    session = request.path_params["session"]
    if session.count("/") != 1:
        raise ApiError(404, "not_found", f"no session {session!r}")
    page = (STATIC / "session.html").read_text()
    page = page.replace("__SESSION_JSON__", html.escape(json.dumps(session), quote=True))
    return HTMLResponse(page)


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ("viewer.js", "viewer.css"):
        raise ApiError(404, "not_found", f"no file {name!r}")
    media = "text/javascript" if name.endswith(".js") else "text/css"
    return Response((STATIC / name).read_text(), media_type=media, headers={"Cache-Control": "no-cache"})


def viewer_routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/api/sessions", list_sessions, methods=["GET"]),
        Route("/sessions/{session:path}", session_page, methods=["GET"]),
        Route("/static/{name}", static_file, methods=["GET"]),
    ]
