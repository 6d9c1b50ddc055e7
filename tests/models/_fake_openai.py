"""A scripted OpenAI-compatible chat server on 127.0.0.1, for driving litellm's real code path offline.

Each `POST /v1/chat/completions` answers with the next item of the script, streamed as SSE chunks the
way OpenAI streams them (text in small deltas, tool-call arguments in fragments, a usage chunk at the
end when the client asks for it). Requests are recorded so tests can check what was sent.

```python
with FakeOpenAIServer(script=["Hello there", Call("get_weather", {"city": "Paris"}), Fail(429)]) as url:
    model = LiteLLMModel("openai/gpt-4o-mini", api_base=url, api_key="test-key")
```

Script items: a `str` (a text reply), a `Call` (one tool call), a `list[Call]` (parallel calls), a
`Reply` (full control: text, reasoning, calls, chunking, usage) or a `Fail` (an HTTP error status).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["Call", "Fail", "FakeOpenAIServer", "Reply", "ScriptItem"]


@dataclass
class Call:
    """One tool call; its JSON arguments are streamed in `fragments` roughly equal pieces."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    fragments: int = 3

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


@dataclass
class Reply:
    """A complete streamed assistant message."""

    text: str = ""
    tool_calls: list[Call] = field(default_factory=list)
    reasoning: str = ""
    """Sent as `reasoning_content` deltas, as DeepSeek and vLLM do."""
    chunk_size: int = 4
    """Characters of text (and reasoning) per delta."""
    prompt_tokens: int = 12
    completion_tokens: int = 7
    finish_reason: str | None = None
    """Defaults to `tool_calls` when there are calls, else `stop`."""
    model: str = "gpt-4o-mini"
    delay: float = 0.0
    """Seconds to sleep between chunks (for cancellation tests)."""


@dataclass
class Fail:
    """Answer with an HTTP error status and an OpenAI-style error body."""

    status: int
    message: str = "scripted failure"
    code: str | None = None


ScriptItem = str | Call | list[Call] | Reply | Fail


def _as_reply(item: ScriptItem) -> Reply | Fail:
    if isinstance(item, (Reply, Fail)):
        return item
    if isinstance(item, str):
        return Reply(text=item)
    if isinstance(item, Call):
        return Reply(tool_calls=[item])
    return Reply(tool_calls=list(item))


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(size, 1))]


def _split(text: str, parts: int) -> list[str]:
    if not text:
        return [""]
    size = -(-len(text) // max(parts, 1))  # ceiling division, so there are at most `parts` pieces
    return _pieces(text, size)


class FakeOpenAIServer:
    """Serve `script` on an ephemeral loopback port; use as a context manager that yields the base URL.

    The base URL ends in `/v1`, ready for `api_base=`. `requests` holds every request body received, in
    order; `headers` the matching request headers. When the script runs out, the server answers 500.
    """

    def __init__(self, script: Sequence[ScriptItem] = ()) -> None:
        self.script: list[ScriptItem] = list(script)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.disconnected = threading.Event()
        """Set when a client stops reading a streamed reply before its end."""
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # the OS picks a free port; no race between choosing and binding
        port = sock.getsockname()[1]
        app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # -- the endpoint ------------------------------------------------------------------------------

    def _next(self) -> Reply | Fail:
        with self._lock:
            if not self.script:
                return Fail(500, "fake OpenAI server: script exhausted")
            return _as_reply(self.script.pop(0))

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        item = self._next()
        if isinstance(item, Fail):
            error = {"message": item.message, "type": "fake_error", "param": None, "code": item.code}
            return JSONResponse({"error": error}, status_code=item.status)
        if not body.get("stream"):
            return JSONResponse(self._whole(item))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(self._sse(item, include_usage), media_type="text/event-stream")

    # -- response bodies ---------------------------------------------------------------------------

    @staticmethod
    def _finish(reply: Reply) -> str:
        return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")

    @staticmethod
    def _usage(reply: Reply) -> dict[str, int]:
        total = reply.prompt_tokens + reply.completion_tokens
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": total,
        }

    def _deltas(self, reply: Reply) -> Iterator[dict[str, Any]]:
        yield {"role": "assistant", "content": ""}
        for piece in _pieces(reply.reasoning, reply.chunk_size):
            yield {"reasoning_content": piece}
        for piece in _pieces(reply.text, reply.chunk_size):
            yield {"content": piece}
        for index, call in enumerate(reply.tool_calls):
            call_id = call.id or f"call_{index}"
            head = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            yield {"tool_calls": [head]}
            for piece in _split(call.arguments_json, call.fragments):
                yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}

    async def _sse(self, reply: Reply, include_usage: bool) -> AsyncIterator[bytes]:
        created = int(time.time())
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": reply.model}
        chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in self._deltas(reply)]
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": self._finish(reply)}]})
        if include_usage:  # OpenAI sends usage last, in a chunk with no choices
            chunks.append({**base, "choices": [], "usage": self._usage(reply)})
        finished = False
        try:
            for chunk in chunks:
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:
                self.disconnected.set()

    def _whole(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id or f"call_{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json},
                }
                for i, c in enumerate(reply.tool_calls)
            ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish(reply)}],
            "usage": self._usage(reply),
        }
