"""One run, start to settlement: read the log, fold, watch the session for control, loop, settle once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flue_py._history import INTERRUPTED, fold, pending_inputs
from flue_py._loop import Control, LoopOutcome, ResultSpec, TurnLoop
from flue_py._session_log import EventWriter, SessionLog
from flue_py.agent import Agent
from flue_py.events import (
    AbortRequested,
    Event,
    MessageCompleted,
    RunSettled,
    RunStarted,
    SteerMessage,
    ToolResult,
    TurnStarted,
    Usage,
    UserMessage,
)
from flue_py.exceptions import RunAborted, RunError
from flue_py.models.base import Model, resolve_model
from flue_py.sessions.base import SessionStore
from flue_py.tools import Tool, ToolContext

if TYPE_CHECKING:
    from flue_py.sandbox.base import Sandbox

__all__ = ["AgentRun", "RunSettings", "SessionRuntime", "WorkflowRunner", "hold_lease", "open_run", "unanswered_calls"]

log = logging.getLogger("flue_py.runs")

LEASE_TTL = 15.0


@dataclass(frozen=True)
class RunSettings:
    model: str | Model | None
    """Overrides the agent's model when set."""
    owner: str
    """Who holds the session lease while running (one harness instance)."""
    lease_ttl: float = LEASE_TTL
    """Seconds a dead process keeps a session locked before another may recover its run."""
    max_attempts: int = 3
    """How many times one submission may start (the first run plus recoveries) before it settles failed."""
    detaching: Callable[[], bool] | None = None
    """True while the process is going down for a restart: a cancelled run then stays open (unsettled)
    and gives its lease back, so the next process resumes it at once instead of it settling `aborted`."""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def open_run(events: list[Event], agent: str | None) -> RunStarted | None:
    """The latest `run_started` of `agent` with no `run_settled`: a run whose process died (when we hold the lease)."""
    settled = {e.run for e in events if isinstance(e, RunSettled)}
    started = [e for e in events if isinstance(e, RunStarted) and e.agent == agent and e.run not in settled]
    return started[-1] if started else None


def unanswered_calls(events: list[Event], run: str | None) -> list[tuple[str, str]]:
    """(call id, tool name) of `run`'s tool calls that never got a result, in call order."""
    calls: dict[str, str] = {}
    for event in events:
        if event.run != run:
            continue
        if isinstance(event, MessageCompleted):
            calls.update({c.id: c.name for c in event.tool_calls})
        elif isinstance(event, ToolResult):
            calls.pop(event.call_id, None)
    return list(calls.items())


async def write_interrupted(writer: EventWriter, calls: list[tuple[str, str]]) -> None:
    """Give each unanswered call a real result, so the log itself (not only fold) says what happened."""
    for call_id, name in calls:
        await writer.emit(
            ToolResult(call_id=call_id, name=name, output=INTERRUPTED, is_error=True, error_type="interrupted")
        )
    await writer.flush()  # the caller reads the log next: these must be in it


@contextlib.asynccontextmanager
async def hold_lease(store: SessionStore, key: str, owner: str, ttl: float) -> AsyncIterator[None]:
    """Wait for the lease, renew it while the body runs, give it up after (one live owner per session)."""
    while not await store.acquire_lease(key, owner, ttl):
        await asyncio.sleep(0.25)

    async def renew() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            await store.acquire_lease(key, owner, ttl)

    renewer = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewer.cancel()
        await store.release_lease(key, owner)


class SessionRuntime:
    """What lives as long as a session in this process: its sandbox and the skills found for it."""

    def __init__(self, store: SessionStore, log: SessionLog, session: str, *, root: Path) -> None:
        self.store = store
        self.log = log
        self.session = session
        self.root = root
        self.sandbox: Sandbox | None = None

    async def get_sandbox(self, agent: Agent | None = None) -> Sandbox:
        if self.sandbox is None:
            factory = agent.sandbox if agent is not None and callable(agent.sandbox) else None
            if factory is not None:
                self.sandbox = factory()
            else:
                from flue_py.sandbox.bashkit import BashSandbox

                self.sandbox = BashSandbox()
            from flue_py.sandbox.persistence import load_snapshot

            snapshot = await load_snapshot(self.store, self.session)
            if snapshot is not None:
                await self.sandbox.restore(snapshot)
        return self.sandbox

    async def save_sandbox(self) -> None:
        if self.sandbox is not None:
            from flue_py.sandbox.persistence import save_snapshot

            await save_snapshot(self.store, self.session, self.sandbox)

    async def tools_for(self, agent: Agent) -> tuple[list[Tool], str]:
        """The agent's tools plus sandbox and skill tools, and the system prompt with the skills catalog."""
        tools: list[Tool] = list(agent.tools)  # type: ignore[arg-type]
        prompt = agent.system_prompt()
        if agent.sandbox:
            from flue_py.sandbox.toolset import TOOL_NAMES as BUILTIN_TOOL_NAMES
            from flue_py.sandbox.toolset import sandbox_tools

            await self.get_sandbox(agent)
            enabled = set(agent.builtin_tools) if agent.builtin_tools is not None else set(BUILTIN_TOOL_NAMES)
            tools += sandbox_tools(disabled=[n for n in BUILTIN_TOOL_NAMES if n not in enabled])
        skills = agent.skills
        if skills is None:
            from flue_py.skills import discover_skills

            skills = discover_skills(agent.project_root or self.root)
        if skills:
            from flue_py.skills import render_catalog, skill_tools

            tools += skill_tools(skills)
            prompt = f"{prompt}\n\n{render_catalog(skills)}".strip()
        return tools, prompt

    def workflow_runner(self, settings: RunSettings, run: str) -> WorkflowRunner:
        return WorkflowRunner(self, settings, run)

    async def close(self) -> None:
        if self.sandbox is not None:
            await self.sandbox.close()


def _context_factory(run: str, runtime: SessionRuntime, agent: str, control: Control, writer: EventWriter):  # type: ignore[no-untyped-def]
    def make(call_id: str) -> ToolContext:
        return ToolContext(
            run=run,
            session=runtime.session,
            agent=agent,
            call_id=call_id,
            sandbox=runtime.sandbox,
            abort=control.abort,
            emit=writer.emit,
        )

    return make


async def watch_control(log: SessionLog, session: str, after: str | None, control: Control, agent: str | None) -> None:
    """Feed aborts and steering messages appended to the session (by any process) into `control`."""
    async for event in log.tail(session, after, poll=0.5):
        if isinstance(event, AbortRequested):
            control.request_abort(event.reason)
        elif isinstance(event, SteerMessage) and event.agent in (agent, None):
            control.add_steer(event.seq, event.text, event.submission)


class AgentRun:
    """One run of an agent in its session: takes every waiting input, settles exactly once."""

    def __init__(self, settings: RunSettings, runtime: SessionRuntime, agent: Agent) -> None:
        self.settings = settings
        self.runtime = runtime
        self.agent = agent
        self.run_id = _new_id("run")
        self.settled_submissions: list[str] = []

    async def _acquire_lease(self, key: str) -> None:
        while not await self.runtime.store.acquire_lease(key, self.settings.owner, self.settings.lease_ttl):
            await asyncio.sleep(0.25)

    async def _renew_lease(self, key: str) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ttl / 3)
            await self.runtime.store.acquire_lease(key, self.settings.owner, self.settings.lease_ttl)

    async def execute(self) -> Any:
        """Run once if an input is waiting (or a dead process left a run open); returns the RunResult, or None."""
        session, agent = self.runtime.session, self.agent
        # Cheap check first, so an idle session never takes (and then holds) the lease.
        events = await self.runtime.log.read(session)
        if not pending_inputs(events, agent=agent.name) and open_run(events, agent.name) is None:
            return None
        lease = f"run:{session}"
        await self._acquire_lease(lease)
        renewer = asyncio.create_task(self._renew_lease(lease))
        try:
            # Under the lease nobody else runs this session, so an open run here belongs to a dead process.
            events = await self.runtime.log.read(session)
            pending = pending_inputs(events, agent=agent.name)
            resumed = open_run(events, agent.name)
            if resumed is None and not pending:
                return None
            return await self._execute(events, pending, resumed)
        finally:
            renewer.cancel()
            await self.runtime.store.release_lease(lease, self.settings.owner)

    async def _execute(
        self, events: list[Event], pending: list[UserMessage | SteerMessage], resumed: RunStarted | None
    ) -> Any:
        from flue_py.harness import RunResult

        store, session, agent = self.runtime.store, self.runtime.session, self.agent
        submissions: dict[int, str | None] = {m.seq: m.submission for m in pending}
        consumed_before: list[int] = []
        if resumed is not None:
            # Continue the dead run under its own id, so it settles exactly once (one run_settled per run).
            self.run_id = resumed.run or self.run_id
            owner = resumed.submission
            for event in events:
                if isinstance(event, UserMessage | SteerMessage):
                    submissions.setdefault(event.seq, event.submission)
                elif isinstance(event, TurnStarted) and event.run == self.run_id:
                    consumed_before += event.inputs
        else:
            owner = pending[0].submission
        writer = EventWriter(self.runtime.log, session, run=self.run_id, agent=agent.name)
        control = Control()
        control.submissions.update(submissions)  # inputs already taken: the watcher must not add them again
        record = await store.get_submission(owner) if owner else None
        attempts = (record.attempts if record else 0) + 1
        if resumed is not None:
            await write_interrupted(writer, unanswered_calls(events, self.run_id))
            events = await self.runtime.log.read(session)
            if attempts > self.settings.max_attempts:
                outcome = LoopOutcome(
                    "failed",
                    error=f"the run was interrupted {attempts - 1} times (retry budget {self.settings.max_attempts})",
                    error_type="RetryBudgetExhausted",
                )
                await self._settle(writer, owner, outcome, consumed_before, submissions)
                return RunResult(
                    outcome="failed",
                    reply="",
                    session=session,
                    run=self.run_id,
                    submission=owner,
                    error=outcome.error,
                    error_type=outcome.error_type,
                )
        model = resolve_model(self.settings.model or agent.model)
        await writer.emit(RunStarted(submission=owner, model=model.name, attempt=attempts))
        if owner:
            await store.update_submission(owner, state="running", attempts=attempts)
        # Watch from the run's start: an abort logged before a crash still stops the recovered run.
        start = resumed.offset if resumed is not None else (pending[0].offset or None)
        watcher = asyncio.create_task(watch_control(self.runtime.log, session, start, control, agent.name))
        try:
            outcome, consumed = await self._loop(model, writer, control, events, pending, submissions)
        except asyncio.CancelledError:
            if self.settings.detaching is not None and self.settings.detaching():
                await asyncio.shield(writer.close())  # keep every delta already produced; leave the run open
                raise
            outcome, consumed = LoopOutcome("aborted", error="cancelled"), []
            await asyncio.shield(self._settle(writer, owner, outcome, consumed_before + consumed, submissions))
            raise
        finally:
            watcher.cancel()
        await self._settle(writer, owner, outcome, consumed_before + consumed, submissions)
        return RunResult(
            outcome=outcome.outcome,
            reply=outcome.reply,
            session=session,
            run=self.run_id,
            submission=owner,
            usage=outcome.usage,
            error=outcome.error,
            error_type=outcome.error_type,
        )

    async def _loop(
        self,
        model: Model,
        writer: EventWriter,
        control: Control,
        events: list[Any],
        pending: list[UserMessage | SteerMessage],
        submissions: dict[int, str | None],
    ) -> tuple[LoopOutcome, list[int]]:
        agent = self.agent
        try:
            tools, prompt = await self.runtime.tools_for(agent)
        except Exception as exc:
            log.debug("could not prepare agent %r", agent.name, exc_info=True)
            return LoopOutcome("failed", error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__), []
        loop = TurnLoop(
            model=model,
            system_prompt=prompt,
            tools=tools,
            limits=agent.limits,
            writer=writer,
            control=control,
            make_context=_context_factory(self.run_id, self.runtime, agent.name, control, writer),
            parallel_tool_calls=agent.parallel_tool_calls,
            settings=agent.settings,
        )
        try:
            outcome = await loop.run(fold(events, agent=agent.name), [(m.seq, m.text) for m in pending])
            submissions.update(control.submissions)
        except Exception as exc:  # a bug or an unexpected provider error must still settle the run
            log.debug("run %s of agent %r failed", self.run_id, agent.name, exc_info=True)
            outcome = LoopOutcome("failed", error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__)
        await self.runtime.save_sandbox()
        return outcome, loop.consumed

    async def _settle(
        self,
        writer: EventWriter,
        owner: str | None,
        outcome: LoopOutcome,
        consumed: list[int],
        submissions: dict[int, str | None],
    ) -> None:
        await writer.emit(
            RunSettled(
                outcome=outcome.outcome,  # type: ignore[arg-type]
                submission=owner,
                reply=outcome.reply,
                result=outcome.result,
                error=outcome.error,
                error_type=outcome.error_type,
                usage=outcome.usage,
            )
        )
        await writer.close()
        # Every input this run consumed (the first message and any steering ones) settles with it.
        settled = [owner] if owner else []
        settled += [s for seq in consumed if (s := submissions.get(seq)) and s not in settled]
        for submission in settled:
            await self.runtime.store.update_submission(submission, state="settled", outcome=outcome.outcome)
        self.settled_submissions = settled


class WorkflowRunner:
    """What `Context` delegates to: prompts run as agent loops inside the workflow's session."""

    def __init__(self, runtime: SessionRuntime, settings: RunSettings, run: str) -> None:
        self.runtime = runtime
        self.settings = settings
        self.run = run
        self.control = Control()
        self.usage = Usage()

    async def watch_abort(self) -> None:
        async for event in self.runtime.log.tail(self.runtime.session, poll=0.5):
            if isinstance(event, AbortRequested):
                self.control.request_abort(event.reason)
                return

    async def get_sandbox(self) -> Sandbox:
        return await self.runtime.get_sandbox()

    async def prompt(self, text: str, *, agent: Agent | None, result: type[Any] | None, model: Any) -> Any:
        workflow = self.runtime.session.split("/", 1)[0]
        agent = agent or Agent(name=workflow, skills=[])
        writer = EventWriter(self.runtime.log, self.runtime.session, run=self.run, agent=agent.name)
        events = await self.runtime.log.read(self.runtime.session)
        message = await writer.emit(UserMessage(text=text))
        tools, prompt = await self.runtime.tools_for(agent)
        loop = TurnLoop(
            model=resolve_model(model or self.settings.model or agent.model),
            system_prompt=prompt,
            tools=tools,
            limits=agent.limits,
            writer=writer,
            control=self.control,
            make_context=_context_factory(self.run, self.runtime, agent.name, self.control, writer),
            parallel_tool_calls=agent.parallel_tool_calls,
            settings=agent.settings,
            result=ResultSpec(result) if result is not None else None,
        )
        try:
            outcome = await loop.run(fold(events, agent=agent.name), [(message.seq, text)])
        finally:
            await writer.close()
        self.usage = self.usage + outcome.usage
        if outcome.outcome == "aborted":
            raise RunAborted(outcome.error or "aborted")
        if outcome.outcome == "failed":
            raise RunError(outcome.error or "the prompt failed")
        return outcome.result if result is not None else outcome.reply
