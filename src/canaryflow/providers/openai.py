"""OpenAI Chat Completions through ``openai.AsyncOpenAI``: OpenAI or any compatible server.

vLLM, Ollama, llama.cpp and LiteLLM are this client with ``base_url`` (ending in ``/v1``).
"""

from __future__ import annotations

import json
from typing import Any

import openai

from canaryflow.config import ModelConfig
from canaryflow.providers._base import (
    MalformedResponse,
    ModelClient,
    RetryDecision,
    StreamTimer,
    classify_common,
    classify_sdk,
)
from canaryflow.records import Completion, CompletionRequest, FinishReason, ToolCall

__all__ = ["OpenAIClient", "normalize_finish_reason"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def normalize_finish_reason(finish_reason: str | None) -> FinishReason:
    """OpenAI ``finish_reason`` -> canaryflow finish reason (unknown values are malformed)."""
    if finish_reason not in _FINISH:
        raise MalformedResponse(f"unexpected finish_reason {finish_reason!r}")
    return _FINISH[finish_reason]


def parse_arguments(name: str, raw: str | None) -> dict[str, Any]:
    """Tool-call arguments from their JSON text (unparsable -> MalformedResponse)."""
    try:
        args = json.loads(raw or "{}")
    except json.JSONDecodeError as exc:
        raise MalformedResponse(f"tool call {name!r}: arguments are not JSON ({exc})") from None
    if not isinstance(args, dict):
        raise MalformedResponse(f"tool call {name!r}: arguments are not an object")
    return args


class OpenAIClient(ModelClient):
    """A model behind an OpenAI-compatible Chat Completions endpoint.

    Args:
        name: the configuration key.
        config: the model configuration (``base_url`` with ``/v1`` for other servers).
        api_key: the resolved API key.
        **options: passed to ``ModelClient`` (backoff settings).
    """

    provider = "openai"

    def __init__(self, name: str, config: ModelConfig, *, api_key: str, **options: Any) -> None:
        super().__init__(name, config, api_key=api_key, **options)
        self._api_key = api_key

    def _new_sdk(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.config.base_url,
            max_retries=0,
            timeout=self.config.timeout_s,
        )

    def should_retry(self, exc: BaseException) -> RetryDecision:
        """SDK errors first, then the shared classification."""
        return classify_sdk(exc, openai) or classify_common(exc)

    def _kwargs(self, request: CompletionRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
            if request.tool_choice:
                kwargs["tool_choice"] = {
                    "type": "function",
                    "function": {"name": request.tool_choice},
                }
        if request.response_format is not None:
            fmt = request.response_format
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": fmt.schema_, "strict": fmt.strict},
            }
        return kwargs

    async def _call(self, request: CompletionRequest, stream: bool) -> Completion:
        kwargs = self._kwargs(request)
        if not stream:
            response = await self._sdk().chat.completions.create(**kwargs)
            return self._normalize(response)
        return await self._stream(kwargs)

    def _normalize(self, response: Any) -> Completion:
        choices = getattr(response, "choices", None)
        if not choices:
            raise MalformedResponse("response has no choices")
        choice = choices[0]
        message = choice.message
        if message is None:
            raise MalformedResponse("response choice has no message")
        calls = tuple(
            ToolCall(
                name=c.function.name,
                arguments=parse_arguments(c.function.name, c.function.arguments),
            )
            for c in (message.tool_calls or ())
            if getattr(c, "function", None) is not None
        )
        refusal = getattr(message, "refusal", None)
        if message.content is None and not calls and not refusal:
            raise MalformedResponse("response message has no content")
        usage = response.usage
        if usage is None:
            raise MalformedResponse("response has no usage")
        finish = normalize_finish_reason(choice.finish_reason)
        return Completion(
            text=message.content or refusal or "",
            finish_reason="refusal" if refusal else finish,
            tool_calls=calls,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            model_returned=response.model,
            system_fingerprint=response.system_fingerprint,
            request_id=getattr(response, "_request_id", None),
        )

    async def _stream(self, kwargs: dict[str, Any]) -> Completion:
        timer = StreamTimer()
        stream = await self._sdk().chat.completions.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        text: list[str] = []
        refusal: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish: str | None = None
        usage = None
        model = fingerprint = None
        async with stream:
            async for chunk in stream:
                model = chunk.model or model
                fingerprint = chunk.system_fingerprint or fingerprint
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None:
                        got = False
                        if delta.content:
                            text.append(delta.content)
                            got = True
                        if getattr(delta, "refusal", None):
                            refusal.append(delta.refusal)
                            got = True
                        for tc in delta.tool_calls or ():
                            slot = calls.setdefault(tc.index, {"name": "", "arguments": ""})
                            if tc.function is not None:
                                slot["name"] += tc.function.name or ""
                                slot["arguments"] += tc.function.arguments or ""
                            got = True
                        if got:
                            timer.tick()
                    if choice.finish_reason is not None:
                        finish = choice.finish_reason
        request_id = stream.response.headers.get("x-request-id")
        if finish is None:
            raise MalformedResponse("stream ended without a finish_reason")
        if usage is None:
            raise MalformedResponse("stream carried no usage (stream_options.include_usage)")
        tool_calls = tuple(
            ToolCall(name=c["name"], arguments=parse_arguments(c["name"], c["arguments"]))
            for _, c in sorted(calls.items())
        )
        return Completion(
            text="".join(text) or "".join(refusal),
            finish_reason="refusal" if refusal else normalize_finish_reason(finish),
            tool_calls=tool_calls,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            model_returned=model,
            system_fingerprint=fingerprint,
            request_id=request_id,
            **timer.fields(),
        )
