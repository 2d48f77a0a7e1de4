"""Anthropic Messages API through ``anthropic.AsyncAnthropic`` (plain and streamed)."""

from __future__ import annotations

import functools
import inspect
from typing import Any

import anthropic

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

__all__ = ["AnthropicClient", "normalize_stop_reason"]

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_use",
    "refusal": "refusal",
}


def normalize_stop_reason(stop_reason: str | None) -> FinishReason:
    """Anthropic ``stop_reason`` -> canaryflow finish reason (unknown values are malformed)."""
    if stop_reason not in _STOP:
        raise MalformedResponse(f"unexpected stop_reason {stop_reason!r}")
    return _STOP[stop_reason]


@functools.cache
def _sdk_takes_temperature() -> bool:
    create = anthropic.AsyncAnthropic(api_key="unused").messages.create
    return "temperature" in inspect.signature(create).parameters


class AnthropicClient(ModelClient):
    """A model served by the Anthropic Messages API (or anything speaking it).

    Args:
        name: the configuration key.
        config: the model configuration (``base_url`` optional).
        api_key: the resolved API key.
        **options: passed to ``ModelClient`` (backoff settings).
    """

    provider = "anthropic"

    def __init__(self, name: str, config: ModelConfig, *, api_key: str, **options: Any) -> None:
        super().__init__(name, config, api_key=api_key, **options)
        self._api_key = api_key
        self._has_temperature = _sdk_takes_temperature()

    def _new_sdk(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.config.base_url,
            max_retries=0,
            timeout=self.config.timeout_s,
        )

    def should_retry(self, exc: BaseException) -> RetryDecision:
        """SDK errors first, then the shared classification."""
        return classify_sdk(exc, anthropic) or classify_common(exc)

    def _kwargs(self, request: CompletionRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if self._has_temperature:
            # anthropic 2.x dropped sampling parameters from messages.create; older SDKs take it.
            kwargs["temperature"] = request.temperature
        if request.system:
            kwargs["system"] = request.system
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        if request.tools:
            kwargs["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            if request.tool_choice:
                kwargs["tool_choice"] = {"type": "tool", "name": request.tool_choice}
        return kwargs

    async def _call(self, request: CompletionRequest, stream: bool) -> Completion:
        kwargs = self._kwargs(request)
        if not stream:
            message = await self._sdk().messages.create(**kwargs)
            return self._normalize(message, getattr(message, "_request_id", None), {})
        timer = StreamTimer()
        async with self._sdk().messages.stream(**kwargs) as s:
            async for event in s:
                if event.type == "content_block_delta":
                    timer.tick()
            message = await s.get_final_message()
            request_id = getattr(s, "request_id", None)
        return self._normalize(message, request_id, timer.fields())

    def _normalize(
        self, message: Any, request_id: str | None, timing: dict[str, Any]
    ) -> Completion:
        content = getattr(message, "content", None)
        usage = getattr(message, "usage", None)
        if content is None:
            raise MalformedResponse("response has no content")
        if usage is None or usage.input_tokens is None or usage.output_tokens is None:
            raise MalformedResponse("response has no usage")
        texts, calls = [], []
        for block in content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                if not isinstance(block.input, dict):
                    raise MalformedResponse(f"tool_use input is not an object: {block.input!r}")
                calls.append(ToolCall(name=block.name, arguments=block.input))
        return Completion(
            text="".join(texts),
            finish_reason=normalize_stop_reason(message.stop_reason),
            tool_calls=tuple(calls),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            model_returned=message.model,
            request_id=request_id,
            **timing,
        )
