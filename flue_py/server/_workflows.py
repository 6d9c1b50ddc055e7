"""Workflow routes: `POST /workflows/{name}` admits a typed input; `GET /workflows/{name}/{id}` reads the result.

The input is validated by the workflow's Pydantic model before anything is recorded (422 with
Pydantic's errors). The result is the `run_settled` event of the run, read back from the log.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from flue_py.events import RunSettled, RunStarted, WorkflowInput
from flue_py.harness import new_id
from flue_py.server._body import read_json
from flue_py.server._errors import ApiError
from flue_py.server._state import ServerState, check_id, state_of
from flue_py.server._updates import EXPOSE
from flue_py.sessions.base import ZERO_OFFSET, session_path
from flue_py.workflow import Workflow

__all__ = ["get_workflow", "post_workflow"]


def _workflow(state: ServerState, name: str) -> Workflow:
    workflow = state.project.workflows.get(name)
    if workflow is None:
        known = ", ".join(sorted(state.project.workflows)) or "none"
        raise ApiError(
            404, "workflow_not_found", f"no workflow named {name!r} (workflows: {known})", details={"workflow": name}
        )
    return workflow


async def post_workflow(request: Request) -> Response:
    state = state_of(request)
    workflow = _workflow(state, request.path_params["name"])
    instance = check_id(request.query_params.get("id") or new_id())
    key = request.headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= 256:
        raise ApiError(400, "invalid_request", "Idempotency-Key must be 1-256 characters")
    body = await read_json(request)
    try:
        admission = await state.harness.admit_workflow(workflow, body, id=instance, idempotency_key=key)
    except ValidationError as exc:
        raise ApiError(
            422,
            "invalid_input",
            f"the input does not match workflow {workflow.name!r}",
            details=exc.errors(include_url=False, include_context=False),
        ) from None
    session = admission.session
    base = str(request.base_url).rstrip("/")
    url = f"{base}/workflows/{session}"
    info = await state.stream_info(session)
    offset = "-1" if admission.deduplicated or admission.offset == ZERO_OFFSET else admission.offset
    receipt: dict[str, Any] = {
        "streamUrl": url,
        "offset": offset,
        "submissionId": admission.submission,
        "uid": state.uid(session, info) if info is not None else None,
        "logUrl": f"{base}/v1/stream/{session_path(session)}",
    }
    if admission.deduplicated:
        receipt["deduplicated"] = True
    return JSONResponse(receipt, status_code=202, headers={**EXPOSE, "Location": url})


async def get_workflow(request: Request) -> Response:
    state = state_of(request)
    workflow = _workflow(state, request.path_params["name"])
    session = f"{workflow.name}/{check_id(request.path_params['id'])}"
    events = await state.harness.log.read(session)
    if not events:
        raise ApiError(404, "workflow_run_not_found", f"no workflow run {session!r}")
    body: dict[str, Any] = {"session": session, "status": "pending", "offset": events[-1].offset}
    for event in events:
        if isinstance(event, WorkflowInput):
            body.update(input=event.input, submissionId=event.submission, runId=event.run)
        elif isinstance(event, RunStarted):
            body.update(status="running", attempt=event.attempt)
        elif isinstance(event, RunSettled):
            body.update(
                status="settled",
                outcome=event.outcome,
                result=event.result,
                error=event.error,
                errorType=event.error_type,
                usage=event.usage.model_dump(),
            )
    return JSONResponse(body, headers=EXPOSE)
