"""`LiteLLMModel`: any provider litellm speaks, adapted to the `Model` stream of parts.

This is the only module in flue_py that imports litellm, and it does so on the first request, never at
import time: litellm takes seconds to import, and `flue --help`, `flue init` and test collection should
not pay for it. litellm's errors are translated into flue_py's error tree here and nowhere else.

A stream yields, in order: `TextPart` / `ReasoningPart` / `ToolCallPart` fragments as they arrive, then
exactly one `UsagePart` and exactly one `FinishPart`, which is always last.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from flue_py.events import Usage
from flue_py.exceptions import ModelAuthError, ModelError, ModelRateLimited, ModelUnavailable
from flue_py.models import base
from flue_py.models.base import (
    FinishPart,
    Model,
    ModelRequest,
    ModelRequestsBlocked,
    ReasoningPart,
    StreamPart,
    TextPart,
    ToolCallPart,
    UsagePart,
)

__all__ = ["LiteLLMModel"]

_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def _import_litellm() -> ModuleType:
    # Without this, importing litellm fetches the price map from GitHub on the main thread (up to a 5 s
    # timeout offline) and logs a warning when it fails; the bundled map is what we price with anyway.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    # Stops the "Provider List: …" / "Give Feedback" prints, which go to stdout and corrupt CLI output.
    litellm.suppress_debug_info = True
    for name in _LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:  # leave alone a level the application chose
            # Its warnings and errors repeat what we raise as flue_py exceptions.
            logger.setLevel(logging.ERROR)
    return litellm


_loaded: ModuleType | None = None


async def _litellm() -> ModuleType:
    """The litellm module, imported on first use in a worker thread so the event loop keeps serving."""
    global _loaded
    if _loaded is None:
        _loaded = await asyncio.to_thread(_import_litellm)
    return _loaded


def _is_loopback(api_base: str | None) -> bool:
    if not api_base:
        return False
    host = urlsplit(api_base if "://" in api_base else f"//{api_base}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_LITELLM_PREFIX = re.compile(r"^(?:litellm\.)?[A-Za-z]+(?:Error|Exception|Exceeded\w*|Timeout)\s*:\s*")


def _detail(exc: BaseException) -> str:
    """litellm's message without its `litellm.RateLimitError: RateLimitError: OpenAIException - ` prefixes."""
    text = str(getattr(exc, "message", None) or exc).strip()
    while (stripped := _LITELLM_PREFIX.sub("", text, count=1)) != text:
        text = stripped
    text = re.sub(r"^\w+Exception - ", "", text)
    return text.splitlines()[0] if text else type(exc).__name__


def _by_status(status: object, model: str, detail: str) -> ModelError:
    if status in (401, 403):
        return ModelAuthError(f"credentials rejected for {model!r}: {detail}")
    if status == 429:
        return ModelRateLimited(f"rate limited by the provider of {model!r}: {detail}")
    if isinstance(status, int) and status >= 500:
        return ModelUnavailable(f"{model!r} is unavailable: {detail}")
    return ModelError(f"{model!r} failed: {detail}")


@contextmanager
def _map_litellm_errors(litellm: ModuleType, model: str) -> Iterator[None]:
    """Re-raise litellm's exceptions as flue_py's, keeping the original as `__cause__`."""
    e = litellm.exceptions
    try:
        yield
    except (e.AuthenticationError, e.PermissionDeniedError) as exc:
        raise ModelAuthError(f"credentials rejected for {model!r}: {_detail(exc)}") from exc
    except e.RateLimitError as exc:
        raise ModelRateLimited(f"rate limited by the provider of {model!r}: {_detail(exc)}") from exc
    except e.ContextWindowExceededError as exc:
        raise ModelError(f"the conversation exceeds the context window of {model!r}: {_detail(exc)}") from exc
    except e.ContentPolicyViolationError as exc:
        raise ModelError(f"the provider of {model!r} refused the content: {_detail(exc)}") from exc
    except e.NotFoundError as exc:
        raise ModelError(f"model {model!r} not found at its provider: {_detail(exc)}") from exc
    except (e.BadRequestError, e.UnprocessableEntityError, e.UnsupportedParamsError) as exc:
        raise ModelError(f"the provider of {model!r} rejected the request: {_detail(exc)}") from exc
    except (
        e.APIConnectionError,  # includes Timeout
        e.ServiceUnavailableError,
        e.InternalServerError,
        e.BadGatewayError,
    ) as exc:
        raise ModelUnavailable(f"{model!r} is unavailable: {_detail(exc)}") from exc
    except e.APIError as exc:  # a status litellm did not classify (it leaves OpenAI's 403 as a bare APIError)
        raise _by_status(getattr(exc, "status_code", None), model, _detail(exc)) from exc
    except e.OpenAIError as exc:  # the root of litellm's mapped errors
        raise ModelError(f"{model!r} failed: {_detail(exc)}") from exc


def _cost(litellm: ModuleType, model: str, usage: Any) -> float:
    """US dollars for this usage by the requested model's price; 0.0 when litellm has no price for it."""
    # A fresh Usage on purpose: the one on the stream carries a `cost` litellm already computed from the
    # model name the *server* reported, and `completion_cost` would return that instead of pricing `model`.
    fresh = litellm.Usage(
        prompt_tokens=usage.prompt_tokens or 0,
        completion_tokens=usage.completion_tokens or 0,
        total_tokens=usage.total_tokens or 0,
        prompt_tokens_details=getattr(usage, "prompt_tokens_details", None),
        completion_tokens_details=getattr(usage, "completion_tokens_details", None),
    )
    try:
        cost = litellm.completion_cost(completion_response=litellm.ModelResponse(model=model, usage=fresh), model=model)
    except Exception:  # unknown model or provider: an unpriced model costs nothing rather than failing the run
        return 0.0
    return float(cost or 0.0)


class LiteLLMModel(Model):
    """A model reached through litellm, named the litellm way: `"anthropic/claude-sonnet-4-5"`, `"openai/gpt-4o"`.

    Args:
        model: the litellm model string.
        api_base: the provider's base URL, for proxies and local OpenAI-compatible servers.
        api_key: the key to send; by default litellm reads the provider's environment variable.
        **settings: passed to every `litellm.acompletion` call (`temperature`, `max_tokens`,
            `max_retries`, …); a request's own settings override them.
    """

    def __init__(self, model: str, *, api_base: str | None = None, api_key: str | None = None, **settings: Any) -> None:
        self.model = model
        self.name = model
        self.api_base = api_base
        self.api_key = api_key
        self.settings = settings

    def __repr__(self) -> str:
        return f"LiteLLMModel({self.model!r})"

    def _check_allowed(self) -> None:
        if not base.ALLOW_MODEL_REQUESTS and not _is_loopback(self.api_base):
            raise ModelRequestsBlocked(
                f"real model requests are blocked in tests (ALLOW_MODEL_REQUESTS is False): {self.model!r} was "
                "called; use a scripted model or an api_base on a loopback address"
            )

    def _check_credentials(self, litellm: ModuleType) -> None:
        if self.api_key or self.api_base:  # the caller chose where and how to connect
            return
        try:
            missing = litellm.validate_environment(self.model).get("missing_keys") or []
        except Exception:  # an unknown provider: let the request itself report it
            return
        # Only API keys: other names (AWS_*, VERTEXAI_*, OLLAMA_API_BASE) have fallbacks such as instance
        # roles, application-default credentials or a default local URL, so their absence is not an error.
        keys = [name for name in missing if name.endswith("_API_KEY")]
        if keys:
            raise ModelAuthError(f"missing API key for {self.model!r}: set {' or '.join(keys)}")

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamPart]:
        self._check_allowed()
        litellm = await _litellm()
        self._check_credentials(litellm)
        kwargs: dict[str, Any] = {**self.settings, **request.settings}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        if request.tools:  # an empty list is rejected by some providers
            kwargs["tools"] = request.tools
        with _map_litellm_errors(litellm, self.model):
            response = await litellm.acompletion(
                model=self.model,
                messages=request.messages,
                stream=True,
                stream_options={"include_usage": True},
                **kwargs,
            )
            try:
                async for part in self._parts(litellm, response):
                    yield part
            finally:
                # Runs on normal end, on an error, and when the consumer stops early or is cancelled, so
                # the HTTP response is released instead of streaming into nowhere.
                await response.aclose()

    async def _parts(self, litellm: ModuleType, response: Any) -> AsyncIterator[StreamPart]:
        finish_reason: str | None = None
        usage: Any = None
        started: set[int] = set()  # tool-call indexes whose first fragment (with id and name) was sent
        async for chunk in response:
            if getattr(chunk, "usage", None) is not None:
                usage = chunk.usage
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            delta = choice.delta
            if reasoning := getattr(delta, "reasoning_content", None):
                yield ReasoningPart(reasoning)
            if delta.content:
                yield TextPart(delta.content)
            for position, call in enumerate(delta.tool_calls or []):
                index = call.index if call.index is not None else position
                first = index not in started
                started.add(index)
                yield ToolCallPart(
                    index=index,
                    # Some providers repeat id and name on every fragment; the contract sends them once.
                    id=call.id if first else None,
                    name=call.function.name if first else None,
                    arguments=call.function.arguments or "",
                )
            if choice.finish_reason:
                finish_reason = choice.finish_reason
        if usage is None:  # a provider that ignores include_usage: report what we know, which is nothing
            yield UsagePart(Usage())
        else:
            yield UsagePart(
                Usage(
                    input_tokens=usage.prompt_tokens or 0,
                    output_tokens=usage.completion_tokens or 0,
                    cost=_cost(litellm, self.model, usage),
                )
            )
        yield FinishPart(finish_reason)
