"""`LiteLLMModel` through litellm's real code path, against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flue_py.exceptions import FlueError, ModelAuthError, ModelError, ModelRateLimited, ModelUnavailable
from flue_py.messages import ChatMessage, ToolSpec
from flue_py.models import base
from flue_py.models.base import (
    FinishPart,
    ModelRequest,
    ModelRequestsBlocked,
    ReasoningPart,
    StreamPart,
    TextPart,
    ToolCallPart,
    UsagePart,
)
from flue_py.models.litellm import LiteLLMModel, _is_loopback
from tests.models._fake_openai import Call, Fail, FakeOpenAIServer, Reply

# litellm 1.110's stream handler reads `model_fields` on instances; under warnings-as-errors that
# PydanticDeprecatedSince211 is raised inside the stream and surfaces as a ModelUnavailable. Not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm")

ROOT = Path(__file__).resolve().parents[2]
HELLO = ModelRequest(messages=[{"role": "user", "content": "hi"}])
WEATHER_TOOL: ToolSpec = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# gpt-4o-mini in litellm's bundled price map: $0.15 per million input tokens, $0.60 per million output.
GPT_4O_MINI_IN, GPT_4O_MINI_OUT = 0.15e-6, 0.60e-6


@pytest.fixture(autouse=True)
def _allow_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests only reach 127.0.0.1, but some check the guard itself, so start every test from "allowed".
    monkeypatch.setattr(base, "ALLOW_MODEL_REQUESTS", True)


def fake_model(url: str, model: str = "openai/gpt-4o-mini", **settings: object) -> LiteLLMModel:
    # max_retries=0: the OpenAI client otherwise retries 429 and 5xx twice, consuming further script items.
    return LiteLLMModel(model, api_base=url, api_key="test-key", max_retries=0, **settings)


async def collect(model: LiteLLMModel, request: ModelRequest = HELLO) -> list[StreamPart]:
    return [part async for part in model.stream(request)]


def assemble(parts: list[StreamPart]) -> dict[int, dict[str, str | None]]:
    """Tool calls by index, merged from their fragments the way the turn loop does."""
    calls: dict[int, dict[str, str | None]] = {}
    for part in parts:
        if isinstance(part, ToolCallPart):
            call = calls.setdefault(part.index, {"id": None, "name": None, "arguments": ""})
            call["id"] = call["id"] or part.id
            call["name"] = call["name"] or part.name
            call["arguments"] = f"{call['arguments']}{part.arguments}"
    return calls


# -- streaming ---------------------------------------------------------------------------------------


async def test_text_arrives_in_several_deltas_then_usage_then_finish() -> None:
    with FakeOpenAIServer(["The sky is blue today."]) as url:
        parts = await collect(fake_model(url))

    texts = [p.text for p in parts if isinstance(p, TextPart)]
    assert len(texts) >= 3
    assert "".join(texts) == "The sky is blue today."
    assert isinstance(parts[-2], UsagePart)
    assert parts[-1] == FinishPart("stop")
    assert sum(isinstance(p, (UsagePart, FinishPart)) for p in parts) == 2


async def test_tool_call_arguments_arrive_in_fragments() -> None:
    call = Call("get_weather", {"city": "Paris", "unit": "celsius"}, id="call_abc", fragments=4)
    with FakeOpenAIServer([call]) as url:
        parts = await collect(fake_model(url))

    fragments = [p for p in parts if isinstance(p, ToolCallPart)]
    assert len(fragments) >= 4
    assert (fragments[0].id, fragments[0].name) == ("call_abc", "get_weather")
    assert all(f.id is None and f.name is None for f in fragments[1:])
    assert sum(bool(f.arguments) for f in fragments) >= 3  # really fragmented, not one blob
    assert assemble(parts) == {
        0: {"id": "call_abc", "name": "get_weather", "arguments": json.dumps({"city": "Paris", "unit": "celsius"})}
    }
    assert parts[-1] == FinishPart("tool_calls")
    assert not any(isinstance(p, TextPart) for p in parts)


async def test_parallel_tool_calls_are_kept_apart_by_index() -> None:
    with FakeOpenAIServer([[Call("get_weather", {"city": "Paris"}), Call("get_time", {"tz": "Europe/Paris"})]]) as url:
        parts = await collect(fake_model(url))

    calls = assemble(parts)
    assert calls == {
        0: {"id": "call_0", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "call_1", "name": "get_time", "arguments": '{"tz": "Europe/Paris"}'},
    }
    assert parts[-1] == FinishPart("tool_calls")


async def test_text_before_tool_call_and_reasoning() -> None:
    call = Call("get_weather", {"city": "Oslo"})
    reply = Reply(text="Let me check.", reasoning="The user wants weather.", tool_calls=[call])
    with FakeOpenAIServer([reply]) as url:
        parts = await collect(fake_model(url))

    assert "".join(p.text for p in parts if isinstance(p, ReasoningPart)) == "The user wants weather."
    assert "".join(p.text for p in parts if isinstance(p, TextPart)) == "Let me check."
    assert assemble(parts)[0]["arguments"] == '{"city": "Oslo"}'
    first_text = next(i for i, p in enumerate(parts) if isinstance(p, TextPart))
    last_reasoning = max(i for i, p in enumerate(parts) if isinstance(p, ReasoningPart))
    assert last_reasoning < first_text


# -- usage and cost ----------------------------------------------------------------------------------


async def test_usage_reports_tokens_and_cost_from_the_price_map() -> None:
    with FakeOpenAIServer([Reply(text="ok", prompt_tokens=1000, completion_tokens=200)]) as url:
        parts = await collect(fake_model(url))

    usage = next(p.usage for p in parts if isinstance(p, UsagePart))
    assert (usage.input_tokens, usage.output_tokens) == (1000, 200)
    assert usage.cost > 0
    assert usage.cost == pytest.approx(1000 * GPT_4O_MINI_IN + 200 * GPT_4O_MINI_OUT)


async def test_unpriced_model_costs_zero_instead_of_failing() -> None:
    with FakeOpenAIServer([Reply(text="ok", model="my-local-model")]) as url:
        parts = await collect(fake_model(url, model="openai/my-local-model"))

    usage = next(p.usage for p in parts if isinstance(p, UsagePart))
    assert (usage.input_tokens, usage.output_tokens, usage.cost) == (12, 7, 0.0)


async def test_cost_uses_the_requested_model_not_the_name_the_server_reports() -> None:
    # litellm prices the stream's usage by the model name in the response; a local server claiming to be
    # gpt-4o-mini must not make an unpriced model look priced (and vice versa).
    with FakeOpenAIServer([Reply(text="ok", model="gpt-4o-mini"), Reply(text="ok", model="my-local-model")]) as url:
        unpriced = await collect(fake_model(url, model="openai/my-local-model"))
        priced = await collect(fake_model(url))

    assert next(p.usage.cost for p in unpriced if isinstance(p, UsagePart)) == 0.0
    assert next(p.usage.cost for p in priced if isinstance(p, UsagePart)) > 0


# -- what is sent ------------------------------------------------------------------------------------


async def test_request_body_as_the_server_saw_it() -> None:
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Rome?"},
    ]
    request = ModelRequest(messages=messages, tools=[WEATHER_TOOL], settings={"temperature": 0.2})
    server = FakeOpenAIServer(["Sunny.", "Again."])
    with server as url:
        model = fake_model(url, max_tokens=50)
        await collect(model, request)
        await collect(model)

    first, second = server.requests
    assert first["model"] == "gpt-4o-mini"
    assert first["messages"] == messages
    assert first["tools"] == [WEATHER_TOOL]
    assert first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert (first["temperature"], first["max_tokens"]) == (0.2, 50)
    assert "tools" not in second
    assert server.headers[0]["authorization"] == "Bearer test-key"


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail", "error", "words"),
    [
        (Fail(401, "Incorrect API key provided"), ModelAuthError, "credentials rejected"),
        (Fail(403, "Your key lacks access"), ModelAuthError, "credentials rejected"),
        (Fail(429, "Rate limit reached for requests"), ModelRateLimited, "rate limited"),
        (Fail(500, "The server had an error"), ModelUnavailable, "unavailable"),
        (Fail(503, "The engine is overloaded"), ModelUnavailable, "unavailable"),
        (
            Fail(400, "This model's maximum context length is 128000 tokens.", code="context_length_exceeded"),
            ModelError,
            "context window",
        ),
        (Fail(400, "Invalid value for 'temperature'"), ModelError, "rejected the request"),
        (Fail(404, "The model does not exist"), ModelError, "not found"),
    ],
    ids=["401", "403", "429", "500", "503", "400-context", "400", "404"],
)
async def test_error_status_maps_to_flue_error(fail: Fail, error: type[ModelError], words: str) -> None:
    server = FakeOpenAIServer([fail])
    with server as url, pytest.raises(ModelError) as info:
        await collect(fake_model(url))

    assert type(info.value) is error
    message = str(info.value)
    assert words in message
    assert fail.message in message
    assert "'openai/gpt-4o-mini'" in message
    assert "litellm." not in message and "\n" not in message  # litellm's prefixes are stripped
    assert info.value.__cause__ is not None  # the original stays reachable for debugging
    assert len(server.requests) == 1


async def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ModelUnavailable, match="unavailable"):
        await collect(fake_model(f"http://127.0.0.1:{port}/v1"))


async def test_unknown_provider_is_a_clear_error_and_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAIServer(["unused"]) as url, pytest.raises(ModelError, match="'nosuchprovider/x'"):
        await collect(LiteLLMModel("nosuchprovider/x", api_base=url, api_key="test-key"))

    out, _ = capfd.readouterr()
    assert "Provider List" not in out  # litellm prints this to stdout unless suppress_debug_info is set


# -- credentials -------------------------------------------------------------------------------------


async def test_missing_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelAuthError) as info:
        await collect(LiteLLMModel("anthropic/claude-sonnet-4-5"))

    assert str(info.value) == "missing API key for 'anthropic/claude-sonnet-4-5': set ANTHROPIC_API_KEY"


async def test_missing_key_offers_each_alternative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    either = r"set (GOOGLE_API_KEY or GEMINI_API_KEY|GEMINI_API_KEY or GOOGLE_API_KEY)$"
    with pytest.raises(ModelAuthError, match=either):
        await collect(LiteLLMModel("gemini/gemini-2.0-flash"))


async def test_key_check_is_skipped_when_the_caller_says_where_to_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(["fine"]) as url:
        parts = await collect(fake_model(url))
    assert "".join(p.text for p in parts if isinstance(p, TextPart)) == "fine"


# -- the offline guard -------------------------------------------------------------------------------


async def test_guard_blocks_remote_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "ALLOW_MODEL_REQUESTS", False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-would-be-real")
    remote = [LiteLLMModel("anthropic/claude-sonnet-4-5"), LiteLLMModel("openai/x", api_base="https://api.example.com/v1")]
    for model in remote:
        with pytest.raises(ModelRequestsBlocked, match="real model requests are blocked in tests") as info:
            await collect(model)
        assert isinstance(info.value, FlueError) and isinstance(info.value, RuntimeError)


async def test_guard_allows_loopback_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "ALLOW_MODEL_REQUESTS", False)
    with FakeOpenAIServer(["local is fine"]) as url:
        parts = await collect(fake_model(url))
    assert "".join(p.text for p in parts if isinstance(p, TextPart)) == "local is fine"


@pytest.mark.parametrize(
    ("api_base", "loopback"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.8.9.10/v1", True),
        ("http://localhost:11434", True),
        ("http://[::1]:8000/v1", True),
        ("localhost:8000", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.1/v1", False),
        ("http://127.0.0.1.example.com/v1", False),
        ("http://localhost.example.com/v1", False),
        (None, False),
        ("", False),
    ],
)
def test_loopback_detection(api_base: str | None, loopback: bool) -> None:
    assert _is_loopback(api_base) is loopback


# -- cancellation ------------------------------------------------------------------------------------


async def test_stopping_early_closes_the_stream() -> None:
    server = FakeOpenAIServer([Reply(text="x" * 400, chunk_size=1, delay=0.02)])
    with server as url:
        stream = fake_model(url).stream(HELLO)
        first = await anext(stream)
        await stream.aclose()  # what `break` out of `async for` does
        closed = await asyncio.to_thread(server.disconnected.wait, 5)

    assert first == TextPart("x")
    assert closed, "the server kept streaming after the consumer stopped"


async def test_cancelling_the_task_closes_the_stream() -> None:
    server = FakeOpenAIServer([Reply(text="y" * 400, chunk_size=1, delay=0.02)])
    received: list[StreamPart] = []

    async def consume(model: LiteLLMModel) -> None:
        async for part in model.stream(HELLO):
            received.append(part)

    with server as url:
        task = asyncio.create_task(consume(fake_model(url)))
        while not received:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        closed = await asyncio.to_thread(server.disconnected.wait, 5)

    assert closed, "the server kept streaming after the task was cancelled"
    assert len(received) < 100


# -- import cost -------------------------------------------------------------------------------------


def test_importing_flue_py_does_not_import_litellm() -> None:
    code = (
        "import sys, flue_py, flue_py.models, flue_py.models.litellm\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported eagerly'\n"
        "import os; assert 'LITELLM_LOCAL_MODEL_COST_MAP' not in os.environ\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
