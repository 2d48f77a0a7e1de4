"""FakeClient, the shared retry loop, pricing, retry-after parsing and the public API."""

from __future__ import annotations

import asyncio
import email.utils

import pytest

import canaryflow.providers as providers
from canaryflow.config import ModelConfig, Pricing
from canaryflow.errors import ProviderError
from canaryflow.providers import (
    FakeClient,
    MalformedResponse,
    ModelClient,
    complete_many,
    cost_usd,
    make_client,
    parse_retry_after,
)
from canaryflow.providers.openai import normalize_finish_reason, parse_arguments
from canaryflow.records import Completion, CompletionRequest
from canaryflow.simulator.testing import ask, run


def test_fake_list_records_calls_and_runs_out() -> None:
    fake = FakeClient(["one", "two words"])
    a = run(fake.complete(ask("first")))
    b = run(fake.complete(ask("second")))
    assert (a.text, b.text) == ("one", "two words")
    assert (a.finish_reason, a.input_tokens, b.output_tokens) == ("stop", 1, 2)
    assert [c.messages[0].content for c in fake.calls] == ["first", "second"]
    with pytest.raises(RuntimeError, match="fake replies ran out"):
        run(fake.complete(ask("third")))


def test_fake_generator_and_callable() -> None:
    gen = FakeClient(f"reply {i}" for i in range(2))
    assert run(gen.complete(ask("x"))).text == "reply 0"
    echo = FakeClient(lambda req: req.messages[-1].content.upper())
    assert run(echo.complete(ask("hello"))).text == "HELLO"
    assert len(echo.calls) == 1


def test_fake_completion_passthrough_and_max_tokens() -> None:
    given = Completion(text="x", finish_reason="refusal", latency_ms=123.0)
    fake = FakeClient([given, "a b c d e"])
    got = run(fake.complete(ask("q")))
    assert got.finish_reason == "refusal" and got.latency_ms == 123.0
    cut = run(fake.complete(ask("q", max_tokens=2)))
    assert (cut.text, cut.finish_reason, cut.output_tokens) == ("a b", "length", 2)


def test_fake_exception_replies_are_retried_and_recorded() -> None:
    busy = ProviderError("busy", status_code=429, headers={"retry-after": "0"})
    fake = FakeClient([busy, "ok"])
    c = run(fake.complete(ask("q")))
    assert c.ok and c.text == "ok" and c.attempts == 2

    bad = FakeClient([ProviderError("no", status_code=400)])
    c = run(bad.complete(ask("q")))
    assert (c.error_kind, c.status_code, c.attempts) == ("bad_request", 400, 1)

    always = FakeClient(lambda req: ProviderError("down", status_code=503))
    c = run(always.complete(ask("q")))
    assert (c.error_kind, c.attempts) == ("server", 3)  # default config: 2 retries

    weird = FakeClient([ValueError("boom")])
    c = run(weird.complete(ask("q")))
    assert (c.finish_reason, c.error_kind, c.error) == ("error", "error", "ValueError: boom")


def test_fake_via_make_client_and_pricing() -> None:
    cfg = ModelConfig(provider="simulator", model="m", pricing=Pricing(input=1, output=2))
    cfg = cfg.model_copy(update={"provider": "fake"})
    client = make_client("f", cfg, replies=["a b"])
    assert isinstance(client, FakeClient) and client.name == "f"
    c = run(client.complete(ask("one two three")))
    assert c.cost_usd == pytest.approx((3 * 1 + 2 * 2) / 1e6)


def test_secret_is_scrubbed_from_errors() -> None:
    secret = "my-very-secret-key-123"
    fake = FakeClient([RuntimeError(f"auth failed for key {secret}")], api_key=secret)
    c = run(fake.complete(ask("q")))
    assert secret not in (c.error or "") and "****" in (c.error or "")
    other = FakeClient([RuntimeError("bad key sk-abcdefghijklmnop1234")])
    assert "sk-abcdefghijklmnop1234" not in (run(other.complete(ask("q"))).error or "")


def test_malformed_and_timeout_classification() -> None:
    c = run(FakeClient([MalformedResponse("no content")]).complete(ask("q")))
    assert (c.error_kind, c.attempts) == ("malformed", 1)
    c = run(FakeClient([TimeoutError(), "ok"]).complete(ask("q")))
    assert c.ok and c.attempts == 2


def test_call_timeout_applies_to_slow_providers() -> None:
    cancelled: list[int] = []

    class Slow(FakeClient):
        async def _call(self, request: CompletionRequest, stream: bool) -> Completion:
            try:
                await asyncio.Event().wait()  # never answers
            except asyncio.CancelledError:
                cancelled.append(1)
                raise
            raise AssertionError("unreachable")

    cfg = ModelConfig(provider="simulator", model="m", timeout_s=0.05, max_retries=1)
    c = run(Slow([], config=cfg).complete(ask("q")))
    assert (c.error_kind, c.attempts) == ("timeout", 2)
    assert cancelled == [1, 1]  # each attempt was cut by the timeout, not left running


def test_complete_many_keeps_order_and_bounds_concurrency() -> None:
    class Tracking(ModelClient):
        in_flight = peak = 0

        async def _call(self, request: CompletionRequest, stream: bool) -> Completion:
            Tracking.in_flight += 1
            Tracking.peak = max(Tracking.peak, Tracking.in_flight)
            n = int(request.messages[0].content)
            await asyncio.sleep(0.02 * (5 - n % 5))
            Tracking.in_flight -= 1
            return Completion(text=str(n), finish_reason="stop")

    cfg = ModelConfig(provider="simulator", model="m", max_concurrency=3)
    results = run(complete_many(Tracking("t", cfg), [ask(str(i)) for i in range(10)]))
    assert [c.text for c in results] == [str(i) for i in range(10)]
    assert Tracking.peak == 3


def test_cost_usd() -> None:
    assert cost_usd(None, 10, 10) is None
    assert cost_usd(Pricing(input=3, output=15), 1000, 500) == pytest.approx(0.0105)


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None
    now = 1_800_000_000.0
    future = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": future}, now=now) == 30.0
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0


def test_openai_parsing_helpers() -> None:
    assert parse_arguments("f", '{"a": 1}') == {"a": 1}
    with pytest.raises(MalformedResponse):
        parse_arguments("f", '{"a": ')
    with pytest.raises(MalformedResponse):
        parse_arguments("f", "[1]")
    assert normalize_finish_reason("content_filter") == "refusal"
    assert normalize_finish_reason("tool_calls") == "tool_use"
    with pytest.raises(MalformedResponse):
        normalize_finish_reason(None)


def test_client_is_an_async_context_manager() -> None:
    async def go() -> str:
        async with FakeClient(["hi"]) as client:
            return (await client.complete(ask("q"))).text

    assert run(go()) == "hi"


def test_public_api_is_sorted_and_complete() -> None:
    assert providers.__all__ == sorted(providers.__all__)
    for name in providers.__all__:
        assert hasattr(providers, name), name
    assert set(providers.providers()) >= {"anthropic", "openai", "simulator", "fake"}
