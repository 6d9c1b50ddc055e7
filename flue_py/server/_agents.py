"""Agent routes, in Flue v2's shapes: admit a message, read the conversation, abort.

`POST /agents/{name}/{id}` → 202 `{streamUrl, offset, submissionId, uid, logUrl}`;
`GET /agents/{name}/{id}` → the snapshot (`view=history`) or chunks (`view=updates`);
`POST /agents/{name}/{id}/abort` → `{aborted}`.

The instance `uid` is derived from the session stream's creation time, so it needs no record of its
own and changes when a session is deleted and started again (which is what continue-only guards).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from flue_py.agent import Agent
from flue_py.server._body import read_json
from flue_py.server._chunks import Snapshot
from flue_py.server._errors import ApiError
from flue_py.server._state import ServerState, check_id, state_of
from flue_py.server._updates import EXPOSE, updates
from flue_py.sessions.base import ZERO_OFFSET, session_path

__all__ = ["abort_agent", "get_agent", "head_agent", "post_agent"]


def _agent(state: ServerState, name: str) -> Agent:
    agent = state.project.agents.get(name)
    if agent is None:
        known = ", ".join(sorted(state.project.agents)) or "none"
        raise ApiError(404, "agent_not_found", f"no agent named {name!r} (agents: {known})", details={"agent": name})
    return agent


def _target(request: Request) -> tuple[ServerState, Agent, str]:
    state = state_of(request)
    agent = _agent(state, request.path_params["name"])
    instance = check_id(request.path_params["id"])
    return state, agent, f"{agent.name}/{instance}"


def _conversation_url(request: Request, session: str) -> str:
    return str(request.base_url).rstrip("/") + f"/agents/{session}"


def _log_url(request: Request, session: str) -> str:
    return str(request.base_url).rstrip("/") + f"/v1/stream/{session_path(session)}"


def _message_text(body: dict[str, Any]) -> str:
    kind = body.get("kind")
    text = body.get("body")
    if not isinstance(text, str):
        raise ApiError(
            400, "invalid_request", "the message needs a string `body`", details={"body": type(text).__name__}
        )
    if body.get("attachments"):
        raise ApiError(400, "invalid_request", "attachments are not supported by this server yet")
    if kind == "user":
        return text
    if kind == "signal":
        signal_type = body.get("type")
        if not isinstance(signal_type, str) or not signal_type:
            raise ApiError(400, "invalid_request", "a signal needs a string `type`")
        attributes = body.get("attributes") or {}
        if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
            raise ApiError(400, "invalid_request", "signal `attributes` must map strings to strings")
        tag = body.get("tagName") or "signal"
        if not isinstance(tag, str) or not tag.isidentifier():
            raise ApiError(400, "invalid_request", "signal `tagName` must be an identifier")
        attrs = "".join(f' {k}="{v}"' for k, v in {"type": signal_type, **attributes}.items())
        return f"<{tag}{attrs}>{text}</{tag}>"
    raise ApiError(400, "invalid_request", "`kind` must be 'user' or 'signal'", details={"kind": kind})


async def post_agent(request: Request) -> Response:
    state, agent, session = _target(request)
    if "wait" in request.query_params:
        raise ApiError(400, "invalid_request", "?wait is not supported: read the reply from streamUrl")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", 'the body must be a JSON object like {"kind": "user", "body": "..."}')
    text = _message_text(body)
    key = body.get("idempotencyKey")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 256):
        raise ApiError(400, "invalid_request", "idempotencyKey must be a string of 1-256 characters")
    path = session_path(session)
    if "uid" in body:
        uid = body["uid"]
        if uid is None:  # create-only
            info, created = await state.store.create_stream(path, content_type="application/json")
            if not created:
                raise ApiError(
                    409,
                    "agent_instance_exists",
                    f"agent instance {session!r} already exists",
                    meta={"uid": state.uid(session, info)},
                )
        elif isinstance(uid, str):  # continue-only
            existing = await state.stream_info(session)
            if existing is None or state.uid(session, existing) != uid:
                raise ApiError(404, "agent_instance_not_found", f"no agent instance {session!r} with uid {uid!r}")
        else:
            raise ApiError(400, "invalid_request", "uid must be a string or null")
    instance = session.split("/", 1)[1]
    admission = await state.harness.admit(agent, text, id=instance, idempotency_key=key)
    if admission.deduplicated:
        record = await state.store.get_submission(admission.submission)
        if record is not None and record.payload.get("text") != text:
            raise ApiError(
                409,
                "submission_conflict",
                "this idempotencyKey was used for a different message",
                meta={"submissionId": admission.submission},
            )
    current = await state.stream_info(session)
    assert current is not None  # admit logged into it
    url = _conversation_url(request, session)
    offset = "-1" if admission.deduplicated or admission.offset == ZERO_OFFSET else admission.offset
    receipt: dict[str, Any] = {
        "streamUrl": url,
        "offset": offset,
        "submissionId": admission.submission,
        "uid": state.uid(session, current),
        "logUrl": _log_url(request, session),
    }
    if admission.deduplicated:
        receipt["deduplicated"] = True
    headers = {**EXPOSE, "Location": url, "Stream-Next-Offset": offset}
    return JSONResponse(receipt, status_code=202, headers=headers)


async def get_agent(request: Request) -> Response:
    state, _, session = _target(request)
    info = await state.stream_info(session)
    if info is None:
        raise ApiError(404, "agent_instance_not_found", f"no agent instance {session!r}")
    view = request.query_params.get("view", "history")
    if view == "updates":
        return await updates(state, request, session, info)
    if view != "history":
        raise ApiError(400, "invalid_request", f"view must be history or updates, got {view!r}")
    cached = await state.projection(session, info)
    snapshot = Snapshot(session)
    for _, _, chunks in cached.chunks:
        for chunk in chunks:
            snapshot.apply(json.loads(json.dumps(chunk)))  # a copy: the snapshot mutates its messages
    offset = cached.chunks[-1][1] if cached.chunks else ZERO_OFFSET
    return JSONResponse(snapshot.to_json(offset, state.uid(session, info)), headers=EXPOSE)


async def head_agent(request: Request) -> Response:
    state, _, session = _target(request)
    info = await state.stream_info(session)
    if info is None:
        return Response(status_code=404)
    return Response(headers={**EXPOSE, "Stream-Next-Offset": info.next_offset, "Stream-Up-To-Date": "true"})


async def abort_agent(request: Request) -> Response:
    state, _, session = _target(request)
    aborted = await state.harness.abort(session, "aborted over HTTP")
    return JSONResponse({"aborted": aborted})
