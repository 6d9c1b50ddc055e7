"""A small flue-py project for server tests, written into a temp dir, and a real server subprocess to run it.

The agents use an offline model that streams slowly enough to be interrupted, so tests can abort,
steer, kill and reconnect mid-run. Knobs come from the environment of the server process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

AGENT = '''
import asyncio, json, os
from pydantic import BaseModel
from flue_py import Agent, tool
from flue_py.models.base import Model, TextPart, ToolCallPart, FinishPart, UsagePart
from flue_py.events import Usage

DELAY = float(os.environ.get("E2E_DELAY", "0.01"))
TOOL_SECONDS = float(os.environ.get("E2E_TOOL_SECONDS", "0.05"))


@tool
async def lookup_order(order_id: str) -> str:
    """Look up an order by its id."""
    await asyncio.sleep(TOOL_SECONDS)
    return f"order {order_id} shipped"


class Talker(Model):
    """Offline: 'tool ...' calls lookup_order first; 'long N' streams N words; else echoes. Steers are echoed."""

    name = "talker"

    async def stream(self, request):
        messages = request.messages
        last = messages[-1]
        users = [m["content"] for m in messages if m["role"] == "user"]
        text = users[-1] if users else ""
        if last["role"] == "user" and text.startswith("tool"):
            yield ToolCallPart(index=0, id=f"call_{len(messages)}", name="lookup_order", arguments="")
            yield ToolCallPart(index=0, arguments=json.dumps({"order_id": "A-1"}))
            yield FinishPart("tool_calls")
            return
        if text.startswith("long"):
            words = int(text.split()[1]) if len(text.split()) > 1 else 200
            answer = " ".join(f"w{i}" for i in range(words))
        elif last["role"] == "tool":
            answer = f"Done: {last['content']}."
        else:
            answer = f"You said: {text}"
        for i in range(0, len(answer), 6):
            await asyncio.sleep(DELAY)
            yield TextPart(answer[i : i + 6])
        yield UsagePart(Usage(input_tokens=10, output_tokens=len(answer) // 4 + 1))
        yield FinishPart("stop")


chat = Agent(name="chat", model=Talker(), tools=[lookup_order], sandbox=False, skills=[])
'''

WORKFLOW = """
import asyncio, os
from pydantic import BaseModel
from flue_py.workflow import Context, workflow  # the submodule shadows the name on the package


class Order(BaseModel):
    order_id: str
    quantity: int = 1


class Receipt(BaseModel):
    order_id: str
    total: int


@workflow
async def checkout(ctx: Context, order: Order) -> Receipt:
    await asyncio.sleep(float(os.environ.get("E2E_WORKFLOW_SECONDS", "0.05")))
    return Receipt(order_id=order.order_id, total=order.quantity * 3)
"""


SHARED_ENV = {
    "E2E_TOOL_SECONDS": "1.0",  # long enough to abort or steer a run while its tool is running
    "FLUE_LONG_POLL_TIMEOUT": "0.2",  # the fuzz reaches the tail often; do not hold each poll for 20 s
}


def write_project(root: Path) -> Path:
    (root / "agents").mkdir(parents=True, exist_ok=True)
    (root / "agents" / "chat.py").write_text(AGENT)
    (root / "workflows").mkdir(exist_ok=True)
    (root / "workflows" / "checkout.py").write_text(WORKFLOW)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`flue serve` on loopback in a subprocess; `kill()` is SIGKILL (a crash), `start()` again restarts it."""

    def __init__(self, root: Path, *, store: str | None = None, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.store = store or f"sqlite:///{root / '.flue' / 'flue.db'}"
        self.env = {**os.environ, "FLUE_LEASE_TTL": "1.5", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        command = [
            sys.executable,
            "-c",
            "from flue_py.cli import main; main()",
            "serve",
            "--project",
            str(self.root),
            "--port",
            str(self.port),
            "--store",
            self.store,
            "--log-level",
            "warning",
        ]
        with open(self.log, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/sessions", timeout=1.0, headers=self.headers()).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def headers(self) -> dict[str, str]:
        token = self.env.get("FLUE_AUTH_TOKEN")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
