"""The fake OpenAI server itself: what other tests rely on when they script a provider."""

from __future__ import annotations

import json

import httpx

from tests.models._fake_openai import Call, Fail, FakeOpenAIServer, Reply


def _events(body: str) -> list[dict[str, object]]:
    lines = [line.removeprefix("data: ") for line in body.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def test_streams_sse_chunks_with_usage_last_and_records_requests() -> None:
    server = FakeOpenAIServer([Reply(text="abcdef", chunk_size=2)])
    with server as url:
        body = {"model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
        response = httpx.post(f"{url}/chat/completions", json=body, headers={"Authorization": "Bearer k"})

    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = _events(response.text)
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]  # type: ignore[index]
    assert [c for c in contents if c] == ["ab", "cd", "ef"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 19  # type: ignore[index]
    assert server.requests == [body]
    assert server.headers[0]["authorization"] == "Bearer k"


def test_without_include_usage_no_usage_chunk_is_sent() -> None:
    with FakeOpenAIServer([Call("f", {"a": 1})]) as url:
        response = httpx.post(f"{url}/chat/completions", json={"messages": [], "stream": True})

    chunks = _events(response.text)
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"  # type: ignore[index]


def test_non_streaming_reply_and_failures_and_exhaustion() -> None:
    with FakeOpenAIServer([[Call("f", {"a": 1}, id="c1")], Fail(429, "slow down")]) as url:
        whole = httpx.post(f"{url}/chat/completions", json={"messages": []}).json()
        failed = httpx.post(f"{url}/chat/completions", json={"messages": []})
        exhausted = httpx.post(f"{url}/chat/completions", json={"messages": []})

    call = whole["choices"][0]["message"]["tool_calls"][0]
    assert call == {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    assert (failed.status_code, failed.json()["error"]["message"]) == (429, "slow down")
    assert exhausted.status_code == 500 and "script exhausted" in exhausted.text
