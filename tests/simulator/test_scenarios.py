"""Determinism, natural noise and scenarios of the simulator's decision core (and over HTTP)."""

from __future__ import annotations

import json
from collections import Counter

import anthropic
import pytest

from canaryflow.config import SimulatorConfig
from canaryflow.simulator import SimAnswer, SimRequest, SimulatorCore, SimulatorServer, rule
from canaryflow.simulator.rules import answer, registered_rules
from canaryflow.simulator.scenarios import FILLER_SENTENCES, REFUSAL_TEXT


@rule("test-date", priority=10)
def _test_date(req: SimRequest) -> SimAnswer | None:
    """A date-reading rule used only by these tests (prompts start with TESTDATE)."""
    if not req.prompt.startswith("TESTDATE"):
        return None
    return SimAnswer(
        text="2024-03-04", alternatives=("4 March 2024",), transposed="2024-04-03", tag="date"
    )


def req(prompt: str, *, system: str = "", max_tokens: int = 100, tools=()) -> SimRequest:
    return SimRequest(
        system=system,
        messages=(("user", prompt),),
        model="m",
        max_tokens=max_tokens,
        temperature=0.0,
        tools=tools,
    )


def texts(core: SimulatorCore, prompts: list[str]) -> list[str]:
    return [core.plan(req(p)).text for p in prompts]


PROMPTS = [f"Tell me fact number {i} about owls" for i in range(300)]


def test_same_seed_same_outputs_other_seed_differs() -> None:
    a = texts(SimulatorCore(seed=3, noise=0.3), PROMPTS)
    b = texts(SimulatorCore(seed=3, noise=0.3), PROMPTS)
    c = texts(SimulatorCore(seed=4, noise=0.3), PROMPTS)
    assert a == b
    assert a != c


def test_request_order_does_not_matter() -> None:
    forward = dict(zip(PROMPTS, texts(SimulatorCore(seed=1, noise=0.5), PROMPTS), strict=True))
    back = list(reversed(PROMPTS))
    backward = dict(zip(back, texts(SimulatorCore(seed=1, noise=0.5), back), strict=True))
    assert forward == backward


def test_repeats_of_one_request_draw_independently_but_reproducibly() -> None:
    runs = [texts(SimulatorCore(seed=2, noise=0.5), ["say pong"] * 40) for _ in range(2)]
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"pong", "Pong!"}


@pytest.mark.parametrize("noise", [0.02, 0.1, 0.3])
def test_noise_rate_is_roughly_as_configured(noise: float) -> None:
    core = SimulatorCore(seed=0, noise=noise)
    prompts = [f"Summarize document {i} for me" for i in range(3000)]
    alt = sum(t.startswith("A brief answer") for t in texts(core, prompts))
    assert abs(alt / len(prompts) - noise) < 0.02 + noise * 0.25
    assert core.state()["counts"].get("noisy", 0) == alt


def test_date_transposition_hits_the_same_documents_at_the_rate() -> None:
    core = SimulatorCore(seed=5, noise=0.0, scenario="date_transposition", params={"rate": 0.3})
    prompts = [f"TESTDATE doc {i}" for i in range(1000)]
    first = texts(core, prompts)
    again = texts(core, prompts)
    assert first == again  # the same documents, every time
    share = first.count("2024-04-03") / len(prompts)
    assert 0.25 < share < 0.35
    assert set(first) == {"2024-03-04", "2024-04-03"}
    baseline = SimulatorCore(seed=5, noise=0.0)
    assert set(texts(baseline, prompts)) == {"2024-03-04"}


def test_verbosity_drift_grows_output_tokens() -> None:
    base = SimulatorCore(seed=0, noise=0.0)
    drift = SimulatorCore(seed=0, noise=0.0, scenario="verbosity_drift", params={"sentences": 2})
    p = req("Tell me about Rome")
    a, b = base.plan(p), drift.plan(p)
    assert b.text.startswith(a.text)
    assert b.output_tokens > a.output_tokens
    assert sum(s in b.text for s in FILLER_SENTENCES) == 2


def test_refusal_spike_rate() -> None:
    core = SimulatorCore(seed=0, noise=0.0, scenario="refusal_spike", params={"rate": 0.4})
    plans = [core.plan(req(p)) for p in PROMPTS]
    refused = [p for p in plans if p.finish == "refusal"]
    assert all(p.text == REFUSAL_TEXT for p in refused)
    assert 0.3 < len(refused) / len(plans) < 0.5


def test_silent_update_uses_first_alternative_and_new_fingerprint() -> None:
    base = SimulatorCore(seed=0, noise=0.0)
    upd = SimulatorCore(seed=0, noise=0.0, scenario="silent_update")
    a, b = base.plan(req("TESTDATE x")), upd.plan(req("TESTDATE x"))
    assert (a.text, b.text) == ("2024-03-04", "4 March 2024")
    assert a.fingerprint != b.fingerprint and a.model == b.model


def test_error_burst_kinds_and_fail_first() -> None:
    core = SimulatorCore(
        seed=0, scenario="error_burst", params={"fail_first": 2, "kinds": "429", "retry_after": 2}
    )
    outcomes = [core.plan(req("say pong")) for _ in range(3)]
    assert [p.status for p in outcomes] == [429, 429, 200]
    assert outcomes[0].headers == {"retry-after": "2"}
    mixed = SimulatorCore(seed=0, scenario="error_burst", params={"rate": 1.0})
    kinds = Counter(p.outcome for p in (mixed.plan(req(x)) for x in PROMPTS))
    assert set(kinds) == {"http_error", "timeout"}


def test_max_tokens_truncates_with_length() -> None:
    core = SimulatorCore(seed=0, noise=0.0)
    p = core.plan(req("Tell me about the history of Rome please", max_tokens=4))
    assert (p.finish, p.output_tokens, len(p.text.split())) == ("length", 4, 4)


def test_latency_regression_params() -> None:
    core = SimulatorCore(
        seed=0, scenario="latency_regression", params={"ttft_ms": 100, "per_token_ms": 5}
    )
    p = core.plan(req("say pong"))
    assert p.ttft_s == pytest.approx(0.102) and p.per_token_s == pytest.approx(0.0052)


def test_builtin_rules() -> None:
    assert answer(req("Reply with exactly: BLUE-42")).text == "BLUE-42"
    assert answer(req('Say exactly "hello there"')).text == "hello there"
    assert answer(req("Echo: the quick fox")).text == "the quick fox"
    assert answer(req("What is 12 * 3?")).text == "36"
    judged = answer(req("Answer: Paris", system="You are a judge. Give a score from 1 to 5."))
    assert json.loads(judged.text) == {
        "score": 4,
        "reasoning": "The response is correct and helpful.",
    }
    refusal = answer(req("Answer: I'm sorry, I can't help", system="Judge it; output a score."))
    assert json.loads(refusal.text)["score"] == 1
    tool = {
        "name": "lookup_order",
        "description": "",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "integer"}}},
    }
    call = answer(req("Please lookup order order_id: 1234", tools=(tool,))).tool_call
    assert call == {"name": "lookup_order", "arguments": {"order_id": 1234}}
    assert answer(req("no rule matches this")).tag == "fallback"
    assert "test-date" in registered_rules()


def test_transposition_over_http_is_consistent() -> None:
    cfg = SimulatorConfig(seed=9, noise=0.0, scenario="date_transposition")
    with SimulatorServer(cfg, params={"rate": 0.5}) as sim:
        client = anthropic.Anthropic(api_key="k", base_url=sim.url, max_retries=0)

        def ask(i: int) -> str:
            msg = client.messages.create(
                model="m", max_tokens=20, messages=[{"role": "user", "content": f"TESTDATE {i}"}]
            )
            return msg.content[0].text

        first = [ask(i) for i in range(20)]
        assert first == [ask(i) for i in range(20)]
        assert set(first) == {"2024-03-04", "2024-04-03"}
        assert sim.state()["counts"]["transposed"] == 2 * first.count("2024-04-03")
