"""The public run API: admit inputs into sessions, run agents and workflows, and control live runs.

```python
harness = Harness(store=SQLiteSessionStore(".flue/flue.db"))
result = await harness.send(support, "Where is order A-1?", id="alice")
await harness.abort("support/alice")          # from anywhere that shares the store
```

Every input is a submission record and a logged event before anything runs; each run settles
exactly once with one `run_settled` event. Runs watch their own session, so an abort or a steering
message appended by any process reaches them.

Across processes sharing a store: a run holds the lease `run:<session>`. A message that arrives while
any process holds it is logged as a steering message and consumed by that run at its next turn
boundary (or by the next run, if that one ended first). After a crash, `recover()` (the server calls
it on start-up) settles or resumes every unsettled submission; a resumed run keeps its run id, gets
"interrupted" results for tool calls that never finished, and counts attempts against a budget
(`max_attempts`). A dead process's lease expires after `lease_ttl` seconds (env FLUE_LEASE_TTL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flue_py._runs import (
    LEASE_TTL,
    AgentRun,
    RunSettings,
    SessionRuntime,
    hold_lease,
    unanswered_calls,
    write_interrupted,
)
from flue_py._session_log import EventWriter, SessionLog
from flue_py.agent import Agent
from flue_py.events import (
    AbortRequested,
    Event,
    RunSettled,
    RunStarted,
    SteerMessage,
    SubmissionAdmitted,
    TurnStarted,
    Usage,
    UserMessage,
    WorkflowInput,
)
from flue_py.exceptions import RunAborted, RunError
from flue_py.models.base import Model
from flue_py.sessions.base import SessionStore, Submission
from flue_py.workflow import Context, Workflow

__all__ = ["Admission", "Harness", "RunResult", "WorkflowResult"]

log = logging.getLogger("flue_py.harness")


@dataclass(frozen=True)
class Admission:
    """The receipt for an admitted input: where to read what happens next."""

    session: str
    submission: str
    offset: str
    """The offset just before this input's events: read after it to see the whole run."""
    deduplicated: bool = False


@dataclass
class RunResult:
    outcome: str
    reply: str
    session: str
    run: str | None = None
    submission: str | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "completed"


@dataclass
class WorkflowResult:
    outcome: str
    result: Any
    session: str
    run: str
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    error_type: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "completed"


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class Harness:
    """Runs agents and workflows against one session store."""

    def __init__(
        self,
        store: SessionStore | None = None,
        *,
        root: Path | str | None = None,
        model: str | Model | None = None,
        lease_ttl: float | None = None,
        max_attempts: int = 3,
    ) -> None:
        if store is None:
            from flue_py.sessions.memory import MemorySessionStore

            store = MemorySessionStore()
        self.store = store
        self.log = SessionLog(store)
        self.root = Path(root) if root is not None else Path.cwd()
        self.model = model
        """Overrides every agent's model (the CLI's `--model`)."""
        self.owner = f"harness-{new_id()}"
        # A crashed process holds its sessions until its lease expires; FLUE_LEASE_TTL shortens that (tests).
        self.lease_ttl = lease_ttl if lease_ttl is not None else float(os.environ.get("FLUE_LEASE_TTL", LEASE_TTL))
        self.max_attempts = max_attempts
        self._workflow_tasks: dict[str, asyncio.Task[WorkflowResult]] = {}
        self._detaching = False
        self._runtimes: dict[str, SessionRuntime] = {}
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._waiters: dict[str, asyncio.Future[RunResult]] = {}

    # -- agents ----------------------------------------------------------------------------------

    async def admit(
        self,
        agent: Agent,
        message: str,
        *,
        id: str | None = None,
        idempotency_key: str | None = None,
        model: str | Model | None = None,
    ) -> Admission:
        """Record a message for `agent`'s conversation `id` and start (or steer) its run; returns at once."""
        session = f"{agent.name}/{id or new_id()}"
        record, created = await self.store.put_submission(
            Submission(
                id=f"sub_{new_id()}",
                session=session,
                target=f"agent:{agent.name}",
                payload={"text": message},
                idempotency_key=idempotency_key,
            )
        )
        head = await self.store.head(f"sessions/{session}")
        offset = head.next_offset if head else "-1"
        if not created:
            return Admission(session, record.id, offset, deduplicated=True)
        self._waiters[record.id] = asyncio.get_running_loop().create_future()
        writer = EventWriter(self.log, session, run=None, agent=agent.name)
        if await self.is_live(session):
            # A run is live (here, or in any process sharing the store): the message joins it at the next
            # turn boundary. Whoever holds the session lease consumes it; if that run ends first, it is
            # still a pending input and the next run (ours or theirs) takes it.
            await writer.emit(SteerMessage(text=message, submission=record.id))
        else:
            await writer.emit(SubmissionAdmitted(submission=record.id))
            await writer.emit(UserMessage(text=message, submission=record.id))
        self._ensure_driver(agent, session, model)
        return Admission(session, record.id, offset)

    async def send(
        self,
        agent: Agent,
        message: str,
        *,
        id: str | None = None,
        model: str | Model | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Send a message and wait until the run that answers it settles."""
        admission = await self.admit(agent, message, id=id, model=model, idempotency_key=idempotency_key)
        return await self.wait(admission)

    async def is_live(self, session: str, submissions: list[str] | None = None) -> bool:
        """Whether a run of `session` is going on, in this process or in another one that shares the store."""
        task = self._drivers.get(session)
        if task is not None and not task.done():
            return True
        if any((t := self._workflow_tasks.get(s)) is not None and not t.done() for s in submissions or ()):
            return True
        lease = await self.store.get_lease(f"run:{session}")
        return lease is not None and lease.expires_at > time.time()

    async def wait(self, admission: Admission) -> RunResult:
        """The result of the run that settled `admission` (whichever process ran it)."""
        waiter = self._waiters.get(admission.submission)
        if waiter is not None and waiter.done():
            return waiter.result()
        result = await self._settled_result(admission.session, admission.submission)
        # The log says "settled" a moment before the runner updates the submission record; return once
        # both agree, so a caller that reads the record next sees it settled.
        for _ in range(100):
            if waiter is not None and waiter.done():
                return waiter.result()
            record = await self.store.get_submission(admission.submission)
            if record is None or record.state == "settled":
                break
            await asyncio.sleep(0.02)
        return result

    async def stream(self, agent: Agent, message: str, **kwargs: Any) -> AsyncIterator[Event]:
        """Send a message and yield the session's events live until that run settles."""
        admission = await self.admit(agent, message, **kwargs)
        async for event in self.log.tail(admission.session, admission.offset if admission.offset != "-1" else None):
            yield event
            if isinstance(event, RunSettled) and event.submission == admission.submission:
                return

    async def abort(self, session: str, reason: str | None = None) -> bool:
        """Ask the live run of `session` to stop (through the log, so it works across processes).

        Returns False, and logs nothing, when the session has no unsettled submission.
        """
        if not await self.log.exists(session) or not await self.store.unsettled_submissions(session):
            return False  # nothing running or queued: an abort now must not stop the next message
        await EventWriter(self.log, session, run=None, agent=None).emit(AbortRequested(reason=reason))
        return True

    def _ensure_driver(self, agent: Agent, session: str, model: str | Model | None) -> None:
        task = self._drivers.get(session)
        if task is None or task.done():
            self._drivers[session] = asyncio.create_task(self._drive(agent, session, model))

    async def _drive(self, agent: Agent, session: str, model: str | Model | None) -> None:
        """Run the session until no input is waiting: one run per batch of pending messages."""
        runtime = self._runtime(session)
        while True:
            run = AgentRun(self._settings(model), runtime, agent)
            result = await run.execute()
            if result is None:
                return
            for submission in run.settled_submissions:
                waiter = self._waiters.pop(submission, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(result)

    def _runtime(self, session: str) -> SessionRuntime:
        runtime = self._runtimes.get(session)
        if runtime is None:
            runtime = self._runtimes[session] = SessionRuntime(self.store, self.log, session, root=self.root)
        return runtime

    def _settings(self, model: str | Model | None) -> RunSettings:
        return RunSettings(
            model=model or self.model,
            owner=self.owner,
            lease_ttl=self.lease_ttl,
            max_attempts=self.max_attempts,
            detaching=lambda: self._detaching,
        )

    async def _settled_result(self, session: str, submission: str) -> RunResult:
        """Read the log until `submission` settles: by its own run, or by the run its message joined."""
        seqs: set[int] = set()
        runs: set[str | None] = set()
        async for event in self.log.tail(session, poll=0.25):
            if isinstance(event, UserMessage | SteerMessage) and event.submission == submission:
                seqs.add(event.seq)
            elif isinstance(event, TurnStarted) and seqs & set(event.inputs):
                runs.add(event.run)
            elif isinstance(event, RunSettled) and (event.submission == submission or event.run in runs):
                return RunResult(
                    outcome=event.outcome,
                    reply=event.reply or "",
                    session=session,
                    run=event.run,
                    submission=submission,
                    usage=event.usage,
                    error=event.error,
                    error_type=event.error_type,
                )
        raise AssertionError("unreachable: tail never ends")

    # -- workflows -------------------------------------------------------------------------------

    async def run_workflow(
        self,
        workflow: Workflow,
        input: BaseModel | dict[str, Any] | str,
        *,
        id: str | None = None,
        model: str | Model | None = None,
    ) -> WorkflowResult:
        """Validate `input` (raises pydantic.ValidationError), run the workflow, settle it exactly once."""
        admission = await self.admit_workflow(workflow, input, id=id, model=model)
        return await self.wait_workflow(admission)

    async def admit_workflow(
        self,
        workflow: Workflow,
        input: BaseModel | dict[str, Any] | str,
        *,
        id: str | None = None,
        idempotency_key: str | None = None,
        model: str | Model | None = None,
    ) -> Admission:
        """Validate `input` (raises pydantic.ValidationError), record it and start the run; returns at once."""
        parsed = workflow.parse_input(input)
        session = f"{workflow.name}/{id or new_id()}"
        record, created = await self.store.put_submission(
            Submission(
                id=f"sub_{new_id()}",
                session=session,
                target=f"workflow:{workflow.name}",
                payload=parsed.model_dump(mode="json"),
                idempotency_key=idempotency_key,
            )
        )
        head = await self.store.head(f"sessions/{session}")
        offset = head.next_offset if head else "-1"
        if not created:
            return Admission(session, record.id, offset, deduplicated=True)
        run_id = f"run_{new_id()}"
        writer = EventWriter(self.log, session, run=run_id, agent=None)
        await writer.emit(SubmissionAdmitted(submission=record.id, submission_kind="workflow"))
        await writer.emit(
            WorkflowInput(workflow=workflow.name, input=parsed.model_dump(mode="json"), submission=record.id)
        )
        self._workflow_tasks[record.id] = asyncio.create_task(
            self._run_workflow(workflow, parsed, session, record.id, run_id, attempt=1, model=model)
        )
        return Admission(session, record.id, offset)

    async def wait_workflow(self, admission: Admission) -> WorkflowResult:
        task = self._workflow_tasks.get(admission.submission)
        if task is not None:
            return await asyncio.shield(task)
        event = await self._settled_event(admission.session, admission.submission)
        return WorkflowResult(
            outcome=event.outcome,
            result=event.result,
            session=admission.session,
            run=event.run or "",
            usage=event.usage,
            error=event.error,
            error_type=event.error_type,
        )

    async def _settled_event(self, session: str, submission: str) -> RunSettled:
        async for event in self.log.tail(session, poll=0.25):
            if isinstance(event, RunSettled) and event.submission == submission:
                return event
        raise AssertionError("unreachable: tail never ends")

    async def resume_workflow(self, workflow: Workflow, submission: Submission, run_id: str) -> WorkflowResult | None:
        """Run a workflow again whose process died mid-run (its body restarts; what it logged stays).

        Returns None when another process got there first and the submission is already settled.
        """
        parsed = workflow.parse_input(submission.payload)
        session = submission.session
        async with hold_lease(self.store, f"run:{session}", self.owner, self.lease_ttl):
            events = await self.log.read(session)
            if any(isinstance(e, RunSettled) and e.submission == submission.id for e in events):
                return None
            writer = EventWriter(self.log, session, run=run_id, agent=None)
            await write_interrupted(writer, unanswered_calls(events, run_id))
            await writer.close()
            record = await self.store.get_submission(submission.id)
            attempt = (record.attempts if record else submission.attempts) + 1
            task = asyncio.create_task(
                self._run_workflow(workflow, parsed, session, submission.id, run_id, attempt=attempt, leased=True)
            )
            self._workflow_tasks[submission.id] = task
            return await task

    async def _run_workflow(
        self,
        workflow: Workflow,
        parsed: BaseModel,
        session: str,
        submission: str,
        run_id: str,
        *,
        attempt: int,
        model: str | Model | None = None,
        leased: bool = False,
    ) -> WorkflowResult:
        if not leased:  # a workflow run owns its session like an agent run does (recovery relies on it)
            async with hold_lease(self.store, f"run:{session}", self.owner, self.lease_ttl):
                return await self._run_workflow(
                    workflow, parsed, session, submission, run_id, attempt=attempt, model=model, leased=True
                )
        runtime = self._runtime(session)
        writer = EventWriter(self.log, session, run=run_id, agent=None)
        runner = runtime.workflow_runner(self._settings(model), run_id)
        outcome, value, error, error_type, dumped = "completed", None, None, None, None
        if attempt > self.max_attempts:
            outcome, error = "failed", f"the run was interrupted {attempt - 1} times (retry budget {self.max_attempts})"
            error_type = "RetryBudgetExhausted"
        else:
            await writer.emit(RunStarted(submission=submission, attempt=attempt))
            await self.store.update_submission(submission, state="running", attempts=attempt)
            ctx = Context(runner, run=run_id, session=session, workflow=workflow.name)
            watcher = asyncio.create_task(runner.watch_abort())
            try:
                body = asyncio.ensure_future(workflow(ctx, parsed))
                try:
                    done, _ = await asyncio.wait({body, watcher}, return_when=asyncio.FIRST_COMPLETED)
                except asyncio.CancelledError:
                    body.cancel()  # shutting down: the run stays open (unsettled) for the next start
                    raise
                if body not in done:
                    body.cancel()
                    await asyncio.gather(body, return_exceptions=True)
                    raise RunAborted(runner.control.abort_reason or "aborted")
                value = body.result()
                dumped = workflow.dump_result(value)
            except RunAborted as exc:
                outcome, error, error_type = "aborted", str(exc), "RunAborted"
            except Exception as exc:
                outcome, error, error_type = "failed", f"{type(exc).__name__}: {exc}", type(exc).__name__
                if not isinstance(exc, RunError):
                    log.debug("workflow %r failed", workflow.name, exc_info=True)
            finally:
                watcher.cancel()
            await runtime.save_sandbox()
        await writer.emit(
            RunSettled(
                outcome=outcome,  # type: ignore[arg-type]
                submission=submission,
                result=dumped,
                error=error,
                error_type=error_type,
                usage=runner.usage,
            )
        )
        await writer.close()
        await self.store.update_submission(submission, state="settled", outcome=outcome)
        return WorkflowResult(
            outcome=outcome,
            result=value,
            session=session,
            run=run_id,
            usage=runner.usage,
            error=error,
            error_type=error_type,
        )

    # -- recovery --------------------------------------------------------------------------------

    async def recover(
        self, agents: dict[str, Agent], workflows: dict[str, Workflow], *, skip_live: bool = False
    ) -> list[str]:
        """Pick up every unsettled submission in the store (after a crash); returns the sessions touched."""
        from flue_py._recovery import recover

        return await recover(self, agents, workflows, skip_live=skip_live)

    async def sweep(self, agents: dict[str, Agent], workflows: dict[str, Workflow], *, every: float) -> None:
        """Forever: take over the sessions of processes that died (their lease lapsed) while this one runs.

        Startup recovery only sees what was unsettled when it started; a peer that crashes later leaves
        work that only a sweep finds.
        """
        while True:
            await asyncio.sleep(every)
            try:
                taken = await self.recover(agents, workflows, skip_live=True)
            except Exception:  # a store hiccup must not end the sweeping
                log.warning("recovery sweep failed; retrying in %.1fs", every, exc_info=True)
                continue
            if taken:
                log.info("took over %d session(s): %s", len(taken), ", ".join(taken))

    def drive(self, agent: Agent, session: str) -> None:
        """Make sure a driver runs `session` (pending inputs, or a run a dead process left open)."""
        self._ensure_driver(agent, session, None)

    async def shutdown(self, *, settle: bool = False) -> None:
        """Stop now (a server going down), without waiting for runs to finish.

        By default live runs are left open in the log and their leases given back, exactly as if the
        process had restarted: the next start (or another worker) resumes them, and they still settle
        exactly once. With `settle=True` they are cancelled and settle `aborted` here instead.
        """
        self._detaching = not settle
        tasks = [*self._drivers.values(), *self._workflow_tasks.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        for runtime in self._runtimes.values():
            with contextlib.suppress(Exception):
                await runtime.close()

    async def close(self) -> None:
        for task in [*self._drivers.values(), *self._workflow_tasks.values()]:
            with contextlib.suppress(BaseException):
                await task
        for runtime in self._runtimes.values():
            await runtime.close()
