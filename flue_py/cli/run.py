"""`flue run NAME -m MESSAGE | --input JSON`: run an agent or a workflow of the project in this directory.

The reply goes to stdout; live activity (streaming text, tool calls and results) to stderr when it is
a terminal. Exit codes: 0 completed, 1 failed, 130 aborted (Ctrl-C aborts the run cleanly), 2 bad usage.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from flue_py.events import Event

__all__ = ["run"]

EXIT_CODES = {"completed": 0, "failed": 1, "aborted": 130}
DEFAULT_STORE = "sqlite:///.flue/flue.db"


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def run(
    name: Annotated[str, typer.Argument(help="The agent or workflow to run.")],
    message: Annotated[str | None, typer.Option("-m", "--message", help="Message for an agent.")] = None,
    input: Annotated[str | None, typer.Option("--input", help="JSON input for a workflow.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="Continue this conversation (agent) or name the run.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Override the model ('test' runs offline).")] = None,
    store: Annotated[str | None, typer.Option("--store", help=f"Session store URL [default: {DEFAULT_STORE}].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object with the outcome.")] = False,
    project: Annotated[Path | None, typer.Option("--project", help="Project directory [default: here].")] = None,
) -> None:
    """Run an agent (`-m`) or a workflow (`--input`) from this project and print its reply."""
    from flue_py.cli._project import find_root, load_project
    from flue_py.config import load_config, resolve_store_url
    from flue_py.exceptions import UserError
    from flue_py.workflow import Workflow

    try:
        # Configuration first: .env must be in the environment before the agents' modules are imported.
        config = load_config(find_root(project))
        proj = load_project(config.root)
        target = proj.get(name)
    except UserError as exc:
        raise _fail(str(exc)) from None
    if isinstance(target, Workflow):
        if message is not None:
            raise _fail(f"{name!r} is a workflow: pass --input '{{...}}' instead of -m")
        payload: Any = input if input is not None else "{}"
    else:
        if input is not None:
            raise _fail(f"{name!r} is an agent: pass -m 'your message' instead of --input")
        if message is None:
            raise _fail(f"agent {name!r} needs a message: flue run {name} -m 'hello'")
        payload = message
    # --model > FLUE_MODEL > flue.toml [project] model > the agent's own; a --store path is relative to here.
    model = model or config.model
    store = resolve_store_url(store, Path.cwd()) if store else config.store_url()
    try:
        code = asyncio.run(_execute(proj.root, target, payload, id=id, model=model, store_url=store, as_json=as_json))
    except KeyboardInterrupt:  # Ctrl-C before the run had started (or a second Ctrl-C): nothing to settle
        typer.echo("aborted", err=True)
        code = EXIT_CODES["aborted"]
    raise typer.Exit(code)


async def _execute(
    root: Path, target: Any, payload: Any, *, id: str | None, model: str | None, store_url: str | None, as_json: bool
) -> int:
    from pydantic import ValidationError

    from flue_py.exceptions import UserError
    from flue_py.harness import Harness, new_id
    from flue_py.sessions import open_store
    from flue_py.workflow import Workflow

    url = store_url or f"sqlite:///{root / '.flue' / 'flue.db'}"
    try:
        store = open_store(url)
    except UserError as exc:
        raise _fail(str(exc)) from None
    harness = Harness(store, root=root, model=model)
    console = _live_console()
    try:
        if isinstance(target, Workflow):
            try:
                parsed = target.parse_input(payload)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors(include_url=False)
                )
                raise _fail(f"invalid --input for workflow {target.name!r}: {problems}") from None
            session_id = id or new_id()
            session = f"{target.name}/{session_id}"
            task = asyncio.create_task(harness.run_workflow(target, parsed, id=session_id))
            outcome = await _follow(harness, session, task, console)
            result = outcome.result
            reply_field: dict[str, Any] = {"result": target.dump_result(result) if outcome.ok else None}
            text = json.dumps(reply_field["result"], indent=2) if outcome.ok else ""
        else:
            session_id = id or new_id()
            session = f"{target.name}/{session_id}"
            task = asyncio.create_task(harness.send(target, payload, id=session_id))
            outcome = await _follow(harness, session, task, console)
            reply_field = {"reply": outcome.reply}
            text = outcome.reply
        if as_json:
            document = {
                "outcome": outcome.outcome,
                **reply_field,
                "session": outcome.session,
                "usage": outcome.usage.model_dump(),
                "cost": outcome.usage.cost,
                "error": outcome.error,
            }
            sys.stdout.write(json.dumps(document) + "\n")
        else:
            if text:
                sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
            if outcome.outcome == "failed":
                typer.echo(f"error: {outcome.error}", err=True)
            elif outcome.outcome == "aborted":
                typer.echo("aborted", err=True)
        return EXIT_CODES[outcome.outcome]
    finally:
        await harness.close()
        await store.close()


def _live_console() -> Console | None:
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    return Console(stderr=True, highlight=False)


async def _follow(harness: Any, session: str, task: asyncio.Task[Any], console: Console | None) -> Any:
    """Wait for the run, rendering its events live; Ctrl-C appends an abort to the session instead of killing."""
    loop = asyncio.get_running_loop()
    aborting = False

    def on_interrupt() -> None:
        nonlocal aborting
        if aborting:  # a second Ctrl-C: stop waiting
            task.cancel()
            return
        aborting = True
        asyncio.ensure_future(harness.abort(session, "interrupted from the terminal"))

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    renderer = asyncio.create_task(_render(harness, session, console)) if console is not None else None
    try:
        return await task
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if renderer is not None:
            await asyncio.sleep(0.05)  # let the last batch of events render
            renderer.cancel()


async def _render(harness: Any, session: str, console: Console) -> None:
    from flue_py.events import RunSettled, TextDelta, ToolCalled, ToolResult, TurnStarted

    event: Event
    async for event in harness.log.tail(session, poll=0.2):
        if isinstance(event, TextDelta):
            console.print(event.text, end="", style="dim", markup=False)
        elif isinstance(event, TurnStarted) and event.turn > 1:
            console.print()
        elif isinstance(event, ToolCalled):
            console.print(f"\n→ {event.name}({json.dumps(event.args)[:200]})", style="cyan", markup=False)
        elif isinstance(event, ToolResult):
            style = "red" if event.is_error else "green"
            console.print(f"← {event.name}: {event.output[:300]}", style=style, markup=False)
        elif isinstance(event, RunSettled):
            console.print()
