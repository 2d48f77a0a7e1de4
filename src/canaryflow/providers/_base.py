"""The provider-neutral client: concurrency, timeouts, retries, timing and error recording.

A provider subclass implements only ``_call`` (one attempt, returning a ``Completion`` with the
reply, tokens and ids) and ``should_retry`` (classify an exception). Everything else lives here:

* at most ``max_concurrency`` calls in flight per client (an ``asyncio.Semaphore``);
* each attempt bounded by ``timeout_s``;
* our own retry loop (the SDKs are built with ``max_retries=0``): 429, 5xx, timeouts and
  connection errors are retried up to ``max_retries`` times, waiting the server's
  ``retry-after`` / ``retry-after-ms`` capped at ``max_retry_after_s`` (the SDKs obey it
  uncapped, so a ``retry-after: 3600`` would stall a canary for an hour), else exponential
  backoff with jitter;
* a failure is returned as ``Completion(finish_reason="error", error=..., error_kind=...)``,
  never raised, with the API key scrubbed from the message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from pydantic import ValidationError

from canaryflow.config import ModelConfig
from canaryflow.errors import ProviderError
from canaryflow.providers.pricing import cost_usd
from canaryflow.records import Completion, CompletionRequest

__all__ = [
    "MalformedResponse",
    "ModelClient",
    "RetryDecision",
    "StreamTimer",
    "classify_common",
    "classify_sdk",
    "classify_status",
    "complete_many",
    "parse_retry_after",
]

_MAX_ERROR_CHARS = 500
_KEY_LIKE = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}|\bsk-ant-[A-Za-z0-9_\-]{8,}")


class RetryDecision(NamedTuple):
    """How to treat a failed attempt."""

    retry: bool
    kind: str
    """rate_limit, server, timeout, connection, bad_request, auth, malformed, error."""
    retry_after: float | None = None
    """Seconds the server asked us to wait (before capping), if it said."""
    status_code: int | None = None


class MalformedResponse(Exception):
    """The provider answered 2xx but the body is not a usable completion."""


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    ``now`` (a Unix time, default the clock) is what an HTTP date is counted from.
    """
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = lower.get("retry-after")
    if ra is None:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(status: int, headers: Mapping[str, str] | None = None) -> RetryDecision:
    """Classify an HTTP error status (``x-should-retry`` overrides the default decision)."""
    retry_after = parse_retry_after(headers)
    if status == 429:
        decision = RetryDecision(True, "rate_limit", retry_after, status)
    elif status == 408:
        decision = RetryDecision(True, "timeout", retry_after, status)
    elif status == 409 or status >= 500:
        decision = RetryDecision(True, "server", retry_after, status)
    elif status in (401, 403):
        decision = RetryDecision(False, "auth", None, status)
    else:
        decision = RetryDecision(False, "bad_request", None, status)
    should = {k.lower(): v for k, v in (headers or {}).items()}.get("x-should-retry")
    if should in ("true", "false"):
        decision = decision._replace(retry=should == "true")
    return decision


def classify_common(exc: BaseException) -> RetryDecision:
    """Classification shared by every provider (timeouts, our own errors, parse failures)."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return RetryDecision(True, "timeout")
    if isinstance(exc, MalformedResponse | json.JSONDecodeError | ValidationError):
        return RetryDecision(False, "malformed")
    if isinstance(exc, ProviderError):
        if exc.status_code is not None:
            d = classify_status(exc.status_code, exc.headers)
            return d if exc.kind in ("error", d.kind) else d._replace(kind=exc.kind)
        retryable = exc.kind in ("rate_limit", "server", "timeout", "connection")
        return RetryDecision(retryable, exc.kind, parse_retry_after(exc.headers))
    if isinstance(exc, ConnectionError | OSError):
        return RetryDecision(True, "connection")
    return RetryDecision(False, "error")


def classify_sdk(exc: BaseException, sdk: Any) -> RetryDecision | None:
    """Classify the exceptions of a Stainless-generated SDK (``anthropic``, ``openai``).

    Returns None when ``exc`` is not one of the SDK's own errors.
    """
    if isinstance(exc, sdk.APITimeoutError):
        return RetryDecision(True, "timeout")
    if isinstance(exc, sdk.APIConnectionError):
        return RetryDecision(True, "connection")
    if isinstance(exc, sdk.APIResponseValidationError):
        return RetryDecision(False, "malformed", None, getattr(exc, "status_code", None))
    if isinstance(exc, sdk.APIStatusError):
        return classify_status(exc.status_code, dict(exc.response.headers))
    return None


class StreamTimer:
    """Time to first chunk and the gaps between chunks of a streamed reply."""

    def __init__(self, start: float | None = None) -> None:
        self.start = time.perf_counter() if start is None else start
        self.first: float | None = None
        self.last: float | None = None
        self.gaps_ms: list[float] = []

    def tick(self) -> None:
        """Record the arrival of one content chunk."""
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        else:
            assert self.last is not None
            self.gaps_ms.append((now - self.last) * 1000)
        self.last = now

    def fields(self) -> dict[str, Any]:
        """``ttft_ms``, ``tbt_ms`` and ``token_gaps_ms`` for a Completion."""
        ttft = None if self.first is None else (self.first - self.start) * 1000
        tbt = sum(self.gaps_ms) / len(self.gaps_ms) if self.gaps_ms else None
        return {"ttft_ms": ttft, "tbt_ms": tbt, "token_gaps_ms": tuple(self.gaps_ms)}


@dataclass
class _LoopState:
    semaphore: asyncio.Semaphore
    sdk: Any = None


class ModelClient(ABC):
    """One configured model behind one provider SDK.

    Args:
        name: the configuration key (``[models.<name>]``).
        config: the model's configuration.
        api_key: the resolved key (kept only to scrub it from error messages).
        backoff_base_s: first backoff wait when the server gives no ``retry-after``.
        backoff_max_s: cap on a backoff wait.
        sleep: how a retry waits (default :func:`asyncio.sleep`); tests pass a recorder to
            check the waits chosen (backoff, capped ``retry-after``) without spending them.
    """

    provider: ClassVar[str] = ""
    _propagate: ClassVar[tuple[type[BaseException], ...]] = ()
    """Exceptions that are bugs in the caller, not provider failures: raised, not recorded."""

    def __init__(
        self,
        name: str,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        self.name = name
        self._sleep = sleep or asyncio.sleep
        self.config = config
        self._secret = api_key or ""
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model={self.config.model!r})"

    # -- per-event-loop state ----------------------------------------------------------------
    # SDK clients and semaphores belong to the event loop they were first used on; a client
    # object may be reused across loops (several asyncio.run calls, Prefect tasks), so each
    # loop gets its own.

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._per_loop.get(loop)
        if state is None:
            state = _LoopState(asyncio.Semaphore(self.config.max_concurrency))
            self._per_loop[loop] = state
        return state

    def _sdk(self) -> Any:
        """The SDK client for the running event loop (built on first use)."""
        state = self._state()
        if state.sdk is None:
            state.sdk = self._new_sdk()
        return state.sdk

    def _new_sdk(self) -> Any:
        """Build an SDK client (providers that use one override this)."""
        return None

    async def aclose(self) -> None:
        """Release the SDK client of the running event loop."""
        state = self._per_loop.pop(asyncio.get_running_loop(), None)
        if state is not None and state.sdk is not None:
            await state.sdk.close()

    # -- provider hooks ----------------------------------------------------------------------

    @abstractmethod
    async def _call(self, request: CompletionRequest, stream: bool) -> Completion:
        """One attempt: send the request, return the normalized reply (raise on failure)."""

    def should_retry(self, exc: BaseException) -> RetryDecision:
        """Classify a failed attempt; providers extend this for their SDK's exceptions."""
        return classify_common(exc)

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the shared loop ---------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """Remove the API key (and anything key-like) from a message."""
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "****")
        return _KEY_LIKE.sub("****", text)

    def _wait_s(self, decision: RetryDecision, attempt: int) -> float:
        if decision.retry_after is not None:
            return min(decision.retry_after, self.config.max_retry_after_s)
        backoff = self.backoff_base_s * 2 ** (attempt - 1) * self._rng.uniform(0.75, 1.0)
        return min(backoff, self.backoff_max_s)

    async def complete(self, request: CompletionRequest) -> Completion:
        """Send one request with retries; always returns a Completion (errors recorded)."""
        stream = request.stream or self.config.stream
        async with self._state().semaphore:
            attempt = 0
            while True:
                attempt += 1
                start = time.perf_counter()
                try:
                    async with asyncio.timeout(self.config.timeout_s):
                        result = await self._call(request, stream)
                except self._propagate:
                    raise
                except Exception as exc:  # noqa: BLE001 - every failure becomes data
                    latency_ms = (time.perf_counter() - start) * 1000
                    decision = self.should_retry(exc)
                    if decision.retry and attempt <= self.config.max_retries:
                        await self._sleep(self._wait_s(decision, attempt))
                        continue
                    return self._failure(exc, decision, attempt, latency_ms)
                return self._finish(result, attempt, (time.perf_counter() - start) * 1000)

    def _finish(self, result: Completion, attempts: int, latency_ms: float) -> Completion:
        update: dict[str, Any] = {"attempts": attempts}
        if not result.latency_ms:
            update["latency_ms"] = latency_ms
        if result.cost_usd is None and result.ok:
            update["cost_usd"] = cost_usd(
                self.config.pricing, result.input_tokens, result.output_tokens
            )
        return result.model_copy(update=update)

    def _failure(
        self, exc: BaseException, decision: RetryDecision, attempts: int, latency_ms: float
    ) -> Completion:
        detail = str(exc)
        if not detail:
            detail = (
                f"no reply within {self.config.timeout_s} s"
                if decision.kind == "timeout"
                else type(exc).__name__
            )
        message = self.scrub(f"{type(exc).__name__}: {detail}")
        if len(message) > _MAX_ERROR_CHARS:
            message = message[: _MAX_ERROR_CHARS - 3] + "..."
        return Completion(
            finish_reason="error",
            error=message,
            error_kind=decision.kind,
            status_code=decision.status_code,
            attempts=attempts,
            latency_ms=latency_ms,
        )


async def complete_many(
    client: ModelClient, requests: Iterable[CompletionRequest]
) -> list[Completion]:
    """Complete many requests concurrently (bounded by the client); results in input order."""
    reqs: Sequence[CompletionRequest] = list(requests)
    return list(await asyncio.gather(*(client.complete(r) for r in reqs)))
