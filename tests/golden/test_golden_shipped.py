"""The shipped golden sets: their shape, and the simulator's answers to every item.

The baseline simulator must pass every item over both SDK protocols (the real anthropic and
openai clients against the local HTTP server); ``date_transposition`` must fail only day-first
dates; the shipped candidate ``support-bot-next`` must be a silently worse support-bot.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from canaryflow.config import ModelConfig, SimulatorConfig, load_config
from canaryflow.golden import GoldenSuite, collapse, compare, load_golden_sets, run_golden_set
from canaryflow.simulator import SimulatorServer

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC)
_SLASH = re.compile(r"(\d{2})/(\d{2})/(\d{4})")


@pytest.fixture(scope="module")
def suite() -> GoldenSuite:
    result = load_golden_sets(ROOT / "golden_sets")
    result.raise_for_errors()
    return result


def test_sizes_categories_and_rubrics(suite: GoldenSuite) -> None:
    sizes = {s.name: len(s) for s in suite}
    assert sizes["financial_extraction"] >= 40
    assert sizes["rag_qa"] >= 40
    assert sizes["support_bot"] >= 30
    fin = suite.get("financial_extraction")
    assert {"dates_eu", "dates_us", "amounts", "identifiers"} <= set(fin.categories())
    assert all(s.checks_for(i) for s in suite for i in s)
    assert suite.get("rag_qa").header.rubric == "faithfulness"
    assert suite.get("support_bot").header.rubric == "quality"
    for rag in suite.get("rag_qa"):
        assert rag.context and rag.reference_facts
        assert any(c.type == "contains" and c.text == rag.reference_facts[0] for c in rag.checks)


@pytest.mark.parametrize(
    ("category", "order"), [("dates_eu", "DD/MM/YYYY"), ("dates_us", "MM/DD/YYYY")]
)
def test_dates_are_ambiguous_day_at_most_12(suite: GoldenSuite, category: str, order: str) -> None:
    items = suite.get("financial_extraction").categories()[category]
    assert len(items) >= 10
    for item in items:
        assert item.inputs["date_order"] == order
        field = item.inputs["field"]
        line = next(
            ln for ln in item.inputs["document"].splitlines() if ln.lower().startswith(field)
        )
        a, b, _ = _SLASH.search(line).groups()  # type: ignore[union-attr]
        day, month = (int(a), int(b)) if order.startswith("DD") else (int(b), int(a))
        assert day <= 12 and day != month, item.id


def _run_all(suite: GoldenSuite, key: str, cfg: ModelConfig, sim: SimulatorConfig | None = None):
    results = []
    for gset in suite:
        results += run_golden_set(gset, key, cfg, sim, run_id=key, as_of=AS_OF)
    return results


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_every_item_passes_against_the_baseline_simulator(
    suite: GoldenSuite, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARYFLOW_TEST_GOLDEN_KEY", "sk-test")
    # noise 0.5: half the replies use an alternative wording, which must pass too
    with SimulatorServer(SimulatorConfig(seed=5, noise=0.5)) as sim:
        cfg = ModelConfig(
            provider=protocol,  # type: ignore[arg-type]
            model=f"sim-{protocol}",
            base_url=sim.url if protocol == "anthropic" else sim.openai_url,
            api_key_env="CANARYFLOW_TEST_GOLDEN_KEY",
            max_retries=0,
            timeout_s=10,
        )
        results = _run_all(suite, "golden", cfg)
        noisy = sim.state()["counts"].get("noisy", 0)
    expected = sum(len(s) * s.header.repetitions for s in suite)
    assert len(results) == expected
    problems = {
        r.item_id: r.error or [c.reason for c in r.checks if not c.passed]
        for r in results
        if not r.passed
    }
    assert problems == {}
    assert noisy > 0
    first = results[0]
    assert first.flow == "golden" and first.subject.startswith("financial_extraction/")
    assert first.extra["input"] and first.extra["expected"]
    assert first.input_tokens > 0 and first.output_tokens > 0 and first.latency_ms is not None


def test_date_transposition_fails_only_european_dates(suite: GoldenSuite, monkeypatch) -> None:
    monkeypatch.setenv("CANARYFLOW_TEST_GOLDEN_KEY", "sk-test")
    fin = suite.get("financial_extraction")
    with SimulatorServer(SimulatorConfig(seed=0, noise=0.0)) as sim:
        cfg = ModelConfig(
            provider="openai",
            model="sim",
            base_url=sim.openai_url,
            api_key_env="CANARYFLOW_TEST_GOLDEN_KEY",
            max_retries=0,
        )
        before = run_golden_set(fin, "x", cfg, run_id="a", as_of=AS_OF)
        sim.set_scenario("date_transposition", rate=0.3)
        after = run_golden_set(fin, "x", cfg, run_id="b", as_of=AS_OF)
    cmp = compare(collapse(before), collapse(after), rng=np.random.default_rng(1))
    flipped = {f.item_id for f in cmp.flips}
    eu = len(fin.categories()["dates_eu"])
    assert flipped and all("/fin-eu-" in i for i in flipped)
    assert 0.15 * eu <= len(flipped) <= 0.45 * eu
    # every repetition of a transposed item transposes (correlated, as a real model would)
    by_item = collapse(after)
    assert all(by_item[i].passes == 0 for i in flipped)
    assert cmp.verdict == "regression"
    assert cmp.group("financial_extraction", "dates_eu").verdict == "regression"
    assert cmp.group("financial_extraction", "dates_us").regressions == 0
    assert all("transposed" in f.reason for f in cmp.regressions)


def test_support_bot_next_is_a_silently_worse_candidate(suite: GoldenSuite) -> None:
    cfg = load_config(ROOT / "canaryflow.toml")
    assert cfg.models["support-bot-next"].scenario == "candidate_regression"
    assert cfg.models["support-bot-next"].model == cfg.models["support-bot"].model
    base = _run_all(suite, "support-bot", cfg.models["support-bot"], cfg.simulator)
    cand = _run_all(suite, "support-bot-next", cfg.models["support-bot-next"], cfg.simulator)
    assert all(r.passed for r in base)
    assert {r.model_returned for r in cand} == {r.model_returned for r in base}
    cmp = compare(
        collapse(base),
        collapse(cand),
        rng=np.random.default_rng(0),
        min_items={s.name: s.header.min_items for s in suite},
    )
    assert cmp.verdict == "regression"
    assert {s.name for s in cmp.sets if s.verdict == "regression"} == {
        "financial_extraction",
        "rag_qa",
        "support_bot",
    }
    assert all(f.direction == "regression" for f in cmp.flips)


def test_scenario_is_only_for_the_simulator() -> None:
    with pytest.raises(ValueError, match="only to provider"):
        ModelConfig(provider="openai", model="m", scenario="date_transposition")
    with pytest.raises(ValueError, match="unknown scenario"):
        ModelConfig(provider="simulator", model="m", scenario="nope")
    with pytest.raises(ValueError, match="no parameter"):
        ModelConfig(
            provider="simulator", model="m", scenario="date_transposition", scenario_params={"x": 1}
        )
