"""``FakeClient``: a scripted model for fast unit tests (registered as provider ``fake``).

Replies come from a list, an iterator/generator or a callable ``request -> reply``; a reply is a
``str`` (a normal completion), a ``Completion`` (returned as is) or an ``Exception`` (treated as a
failed attempt: retried or recorded exactly like a provider error, e.g.
``ProviderError("busy", status_code=429, headers={"retry-after": "0"})``). Every request is
recorded in ``.calls``; a script that runs out raises ``RuntimeError("fake replies ran out")``
into the test rather than being recorded as a provider failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from canaryflow.config import ModelConfig
from canaryflow.providers._base import ModelClient
from canaryflow.records import Completion, CompletionRequest, FinishReason

__all__ = ["FakeClient", "FakeRepliesExhausted", "Reply"]

Reply = str | Completion | BaseException
"""One scripted reply."""


class FakeRepliesExhausted(RuntimeError):
    """The FakeClient's script ran out (a test bug, so it is raised, not recorded)."""


def _fake_config(model: str) -> ModelConfig:
    cfg = ModelConfig(provider="simulator", model=model, max_retries=2, timeout_s=10.0)
    return cfg.model_copy(update={"provider": "fake"})


class FakeClient(ModelClient):
    """A client that answers from a script and records every request.

    Args:
        replies: a list, an iterator/generator, or a callable ``request -> reply``.
        name: the configuration key it pretends to be.
        config: a model configuration (default: model ``fake-model``, 2 retries).
        **options: passed to ``ModelClient`` (backoff defaults to 0 s so retries are instant).
    """

    provider = "fake"
    _propagate = (FakeRepliesExhausted,)

    def __init__(
        self,
        replies: Iterable[Reply] | Callable[[CompletionRequest], Reply],
        *,
        name: str = "fake",
        config: ModelConfig | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("backoff_base_s", 0.0)
        super().__init__(name, config or _fake_config("fake-model"), **options)
        self.calls: list[CompletionRequest] = []
        self._fn: Callable[[CompletionRequest], Reply] | None = None
        self._it: Iterator[Reply] | None = None
        if callable(replies) and not isinstance(replies, Iterable):
            self._fn = replies
        else:
            self._it = iter(replies)

    def _next(self, request: CompletionRequest) -> Reply:
        if self._fn is not None:
            return self._fn(request)
        assert self._it is not None
        try:
            return next(self._it)
        except StopIteration:
            raise FakeRepliesExhausted("fake replies ran out") from None

    async def _call(self, request: CompletionRequest, stream: bool) -> Completion:
        self.calls.append(request)
        reply = self._next(request)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        if not isinstance(reply, str):
            raise TypeError(f"a fake reply must be str, Completion or Exception, got {reply!r}")
        words_in = sum(len(m.content.split()) for m in request.messages)
        words_out = reply.split()
        finish: FinishReason = "stop"
        if len(words_out) > request.max_tokens:
            reply, finish = " ".join(words_out[: request.max_tokens]), "length"
        return Completion(
            text=reply,
            finish_reason=finish,
            input_tokens=words_in,
            output_tokens=min(len(words_out), request.max_tokens),
            model_returned=self.config.model,
            ttft_ms=0.0 if stream else None,
        )
