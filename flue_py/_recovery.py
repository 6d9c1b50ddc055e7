"""Startup recovery: find every unsettled submission and see it through to exactly one settlement.

A submission can be left unsettled at any point of a crash. Each case has one answer:

- its `run_settled` is in the log (the crash came between the event and the record update): mark it settled;
- its message was consumed by a turn of a run that settled (a steering message): settled with that run;
- its input never reached the log (the crash came right after the record): log it now, then run it;
- its run started but never settled: the agent driver resumes it under the same run id (see
  `AgentRun.execute`), writing "interrupted" results for tool calls that never finished, within the
  retry budget counted on the submission;
- a workflow run restarts its body (a workflow cannot resume mid-function), again within the budget.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from flue_py._session_log import EventWriter
from flue_py.events import (
    Event,
    RunSettled,
    RunStarted,
    SteerMessage,
    SubmissionAdmitted,
    TurnStarted,
    UserMessage,
    WorkflowInput,
)
from flue_py.sessions.base import Submission

if TYPE_CHECKING:
    from flue_py.agent import Agent
    from flue_py.harness import Harness
    from flue_py.workflow import Workflow

__all__ = ["recover", "settled_outcome"]

log = logging.getLogger("flue_py.recovery")


def settled_outcome(events: list[Event], submission: str) -> str | None:
    """The outcome the log already records for `submission`, or None if it is still open."""
    settled_runs = {e.run: e.outcome for e in events if isinstance(e, RunSettled)}
    for event in events:
        if isinstance(event, RunSettled) and event.submission == submission:
            return event.outcome
    seqs = {e.seq for e in events if isinstance(e, UserMessage | SteerMessage) and e.submission == submission}
    for event in events:
        if isinstance(event, TurnStarted) and seqs & set(event.inputs) and event.run in settled_runs:
            return settled_runs[event.run]
    return None


async def recover(
    harness: Harness, agents: dict[str, Agent], workflows: dict[str, Workflow], *, skip_live: bool = False
) -> list[str]:
    """See every unsettled submission through. `skip_live` (the periodic sweep) leaves alone sessions
    that a run holds, here or in another process, so only work whose owner died is taken over."""
    by_session: dict[str, list[Submission]] = {}
    for submission in await harness.store.unsettled_submissions():
        by_session.setdefault(submission.session, []).append(submission)
    touched: list[str] = []
    for session, submissions in by_session.items():
        if skip_live and await harness.is_live(session, [s.id for s in submissions]):
            continue
        events = await harness.log.read(session)
        for submission in submissions:
            outcome = settled_outcome(events, submission.id)
            if outcome is not None:
                await harness.store.update_submission(submission.id, state="settled", outcome=outcome)
                continue
            kind, _, name = submission.target.partition(":")
            if kind == "agent" and name in agents:
                await _recover_agent_input(harness, events, submission, name)
                harness.drive(agents[name], session)
            elif kind == "workflow" and name in workflows:
                _recover_workflow(harness, events, submission, workflows[name])
            else:
                await _settle_orphan(harness, submission, f"{kind} {name!r} no longer exists in this project")
            touched.append(session)
    return sorted(set(touched))


async def _recover_agent_input(harness: Harness, events: list[Event], submission: Submission, agent: str) -> None:
    if any(isinstance(e, UserMessage | SteerMessage) and e.submission == submission.id for e in events):
        return
    writer = EventWriter(harness.log, submission.session, run=None, agent=agent)
    await writer.emit(SubmissionAdmitted(submission=submission.id))
    await writer.emit(UserMessage(text=str(submission.payload.get("text", "")), submission=submission.id))


def _recover_workflow(harness: Harness, events: list[Event], submission: Submission, workflow: Workflow) -> None:
    started = [e for e in events if isinstance(e, RunStarted) and e.submission == submission.id]
    inputs = [e for e in events if isinstance(e, WorkflowInput) and e.submission == submission.id]
    run_id = started[-1].run if started else (inputs[-1].run if inputs else None)

    async def resume() -> None:
        nonlocal run_id
        if run_id is None:
            from flue_py.harness import new_id

            run_id = f"run_{new_id()}"
            writer = EventWriter(harness.log, submission.session, run=run_id, agent=None)
            await writer.emit(SubmissionAdmitted(submission=submission.id, submission_kind="workflow"))
            await writer.emit(WorkflowInput(workflow=workflow.name, input=submission.payload, submission=submission.id))
        try:
            await harness.resume_workflow(workflow, submission, run_id)
        except Exception:  # never let one bad record stop the server
            log.exception("could not recover workflow submission %s", submission.id)

    asyncio.get_running_loop().create_task(resume())


async def _settle_orphan(harness: Harness, submission: Submission, reason: str) -> None:
    writer = EventWriter(harness.log, submission.session, run=None, agent=None)
    await writer.emit(RunSettled(outcome="failed", submission=submission.id, error=reason, error_type="NotFoundError"))
    await writer.close()
    await harness.store.update_submission(submission.id, state="settled", outcome="failed")
