"""`flue sessions list|show|tail`: read session logs straight from the store.

`tail` follows a session live (also when another process writes it: the SQLite store polls the file)
and resumes from any offset, so `flue sessions tail ID --from <last offset>` picks up exactly where a
previous tail stopped. Ctrl-C ends it cleanly. Events are rendered from their JSON, so this command
never needs the event classes, the harness, or the server.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["app"]

app = typer.Typer(help="List, show and follow session logs.", no_args_is_help=True)

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Session store URL [default: the project's, else sqlite:///.flue/flue.db]."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line (events carry `offset`).")]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="Start after this offset (or seq number); -1 = the beginning, now = only new."),
]
_PREFIX = "sessions/"


def _store_url(store: str | None) -> str:
    from flue_py.config import resolve_store_url

    if store:
        return resolve_store_url(store, Path.cwd())
    from flue_py.cli._project import find_root
    from flue_py.config import load_config

    return load_config(find_root(None)).store_url()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _start_offset(value: str | None) -> str | None:
    """`--from`: a minted offset, a sentinel, or a plain seq number (seq N is the offset after event N)."""
    from flue_py.sessions.base import format_offset, parse_offset

    if value is None or value in ("-1", "now"):
        return value
    if value.isdigit():
        return format_offset(int(value))
    try:
        parse_offset(value)
    except ValueError:
        raise _fail(f"--from {value!r} is not an offset, a seq number, -1 or now") from None
    return value


class _Printer:
    """Renders events: text deltas flow inline, everything else gets its own line."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.inline = False

    def event(self, data: bytes, offset: str) -> None:
        try:
            event: Any = json.loads(data)
        except ValueError:
            event = {"kind": "unreadable", "raw": data.decode("utf-8", "replace")}
        if not isinstance(event, dict):
            event = {"kind": "value", "value": event}
        if self.as_json:
            typer.echo(json.dumps({**event, "offset": offset}, ensure_ascii=False))
            return
        kind = event.get("kind", "?")
        if kind in ("text_delta", "reasoning_delta"):
            typer.echo(str(event.get("text", "")), nl=False)
            self.inline = True
            return
        if kind == "tool_call_delta":
            return  # the tool_called event shows the arguments once, validated
        self.end_line()
        typer.echo(f"[{event.get('seq', '?')}] {kind}{_summary(event)}")

    def end_line(self) -> None:
        if self.inline:
            typer.echo("")
            self.inline = False


def _summary(event: dict[str, Any]) -> str:
    kind = event.get("kind")
    agent = f" {event['agent']}" if event.get("agent") else ""
    if kind in ("user_message", "steer_message"):
        return f"{agent}: {event.get('text', '')}"
    if kind == "message_completed":
        calls = ", ".join(call.get("name", "?") for call in event.get("tool_calls", []))
        return f"{agent}" + (f" -> {calls}" if calls else "")
    if kind == "tool_called":
        return f" {event.get('name')}({json.dumps(event.get('args', {}), ensure_ascii=False)})"
    if kind == "tool_result":
        output = str(event.get("output", "")).replace("\n", " ")
        return f" {event.get('name')}{' ERROR' if event.get('is_error') else ''}: {output[:200]}"
    if kind == "run_settled":
        error = f" ({event.get('error')})" if event.get("error") else ""
        return f" {event.get('outcome')}{error}"
    if kind == "sandbox_exec":
        return f" exit={event.get('exit_code')} {str(event.get('command', ''))[:120]}"
    if kind in ("run_started", "turn_started"):
        return f"{agent} {event.get('model') or event.get('turn') or ''}".rstrip()
    return agent


async def _with_store(url: str, work: Any) -> Any:
    from flue_py.sessions import open_store

    store = open_store(url)
    try:
        return await work(store)
    finally:
        await store.close()


@app.command("list")
def list_sessions(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List sessions, newest first: id, events, state, created."""
    from flue_py.exceptions import FlueError
    from flue_py.sessions.base import parse_offset

    try:
        infos = asyncio.run(_with_store(_store_url(store), lambda s: s.list_streams(_PREFIX, limit=limit)))
    except FlueError as exc:
        raise _fail(str(exc)) from None
    for info in infos:
        row = {
            "session": info.path[len(_PREFIX) :],
            "events": parse_offset(info.next_offset),
            "closed": info.closed,
            "created_at": info.created_at,
            "next_offset": info.next_offset,
        }
        if as_json:
            typer.echo(json.dumps(row))
        else:
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.created_at))
            state = "closed" if info.closed else "open"
            typer.echo(f"{row['session']}\t{row['events']} events\t{state}\t{created}")
    if not infos and not as_json:
        typer.echo("no sessions", err=True)


async def _show(store: Any, session: str, after: str | None, printer: _Printer) -> bool:
    path = _PREFIX + session
    if await store.head(path) is None:
        return False
    while True:
        page = await store.read(path, after, limit=1000)
        for message in page.messages:
            printer.event(message.data, message.offset)
        after = page.next_offset
        if page.up_to_date:
            printer.end_line()
            return True


@app.command("show")
def show(
    session: Annotated[str, typer.Argument(help="The session id.")],
    store: StoreOption = None,
    start: FromOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a session's events (from the start, or after --from)."""
    from flue_py.exceptions import FlueError

    printer = _Printer(as_json)
    after = _start_offset(start)
    try:
        found = asyncio.run(_with_store(_store_url(store), lambda s: _show(s, session, after, printer)))
    except FlueError as exc:
        raise _fail(str(exc)) from None
    if not found:
        raise _fail(f"no session {session!r} in this store (see `flue sessions list`)")


async def _tail(store: Any, session: str, after: str | None, printer: _Printer) -> None:
    from flue_py.exceptions import StreamNotFound

    path = _PREFIX + session
    waiting = False
    while await store.head(path) is None:  # tail a session that has not started yet
        if not waiting:
            typer.echo(f"waiting for session {session!r}…", err=True)
            waiting = True
        await asyncio.sleep(0.25)
    try:
        while True:
            page = await store.read(path, after, limit=1000)
            for message in page.messages:
                printer.event(message.data, message.offset)
            after = page.next_offset
            if page.closed:
                printer.end_line()
                return
            if page.up_to_date:
                await store.wait(path, after, 10.0)
    except StreamNotFound:
        printer.end_line()
        typer.echo(f"session {session!r} was deleted", err=True)


@app.command("tail")
def tail(
    session: Annotated[str, typer.Argument(help="The session id.")],
    store: StoreOption = None,
    start: FromOption = None,
    as_json: JsonOption = False,
) -> None:
    """Follow a session live (Ctrl-C to stop); resume with --from <offset>."""
    from flue_py.exceptions import FlueError

    printer = _Printer(as_json)
    after = _start_offset(start)
    try:
        asyncio.run(_with_store(_store_url(store), lambda s: _tail(s, session, after, printer)))
    except KeyboardInterrupt:
        printer.end_line()
        raise typer.Exit(130) from None
    except FlueError as exc:
        raise _fail(str(exc)) from None
