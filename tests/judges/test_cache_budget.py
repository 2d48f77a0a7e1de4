"""Cache, repeats, budget, cost estimate, bounded concurrency and pairwise judging."""

from __future__ import annotations

import asyncio

import pytest
from tests.judges.conftest import PROTOCOLS

from canaryflow.config import Config
from canaryflow.errors import ConfigError
from canaryflow.judges import Budget, Judge, JudgeItem, PairItem
from canaryflow.simulator import SimulatorServer
from canaryflow.store import Store

REF = "Paid on 2024-07-19: 315 EUR."


def items(n: int, start: int = 0) -> list[JudgeItem]:
    return [
        JudgeItem(
            item_id=f"i{k}",
            input=f"When was payment {k} made?",
            output=f"Payment {k}: paid on 2024-07-19, 315 EUR.",
            reference=REF,
        )
        for k in range(start, start + n)
    ]


def requests(sim: SimulatorServer) -> int:
    return int(sim.state()["requests"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_rerun_pays_no_new_calls(make_judge, sim, judge_store: Store, protocol) -> None:
    judge = make_judge(protocol, store=judge_store)
    first = judge.score_many_sync(items(5))
    assert requests(sim) == 5 and sum(r.calls for r in first) == 5
    again = make_judge(protocol, store=judge_store).score_many_sync(items(5))
    assert requests(sim) == 5  # nothing sent
    assert [r.scores for r in again] == [r.scores for r in first]
    assert all(r.calls == 0 and r.cached == 1 and r.cost_usd == 0 for r in again)
    summary = judge.summarise(again)
    assert summary.calls == 0 and summary.cached == 5 and summary.judge_cost_usd == 0


def test_cache_key_covers_what_decides_the_verdict(make_judge, judge_store) -> None:
    judge = make_judge("anthropic", store=judge_store)
    (base,) = items(1)
    key = judge.cache_key(base, 0)
    changed = [
        base.model_copy(update={"output": base.output + "!"}),
        base.model_copy(update={"input": base.input + "?"}),
        base.model_copy(update={"reference": "other"}),
        base.model_copy(update={"context": "ctx"}),
    ]
    assert len({key, *(judge.cache_key(c, 0) for c in changed)}) == 5
    assert judge.cache_key(base, 1) != key  # repeats are separate calls
    assert judge.cache_key(base.model_copy(update={"item_id": "other-id"}), 0) == key
    other = make_judge("anthropic", store=judge_store, temperature=0.7)
    assert other.cache_key(base, 0) != key
    faith = make_judge("anthropic", rubric="faithfulness", store=judge_store)
    assert faith.cache_key(base, 0) != key


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_samples_are_independent_calls_with_a_median(make_judge, sim, judge_store, protocol):
    judge = make_judge(protocol, store=judge_store, samples=5)
    results = judge.score_many_sync(items(40))
    assert requests(sim) == 200
    assert all(len(r.samples) == 5 and r.calls == 5 for r in results)
    summary = judge.summarise(results)
    # the simulator judge's clean correctness for these answers is 5; noise moves 10 % of
    # single samples one step: the median of 5 recovers the clean score far more often
    single = [s["correctness"] == 5 for r in results for s in r.samples]
    median = [r.scores["correctness"] == 5 for r in results]
    assert sum(median) / len(median) >= 0.95
    assert sum(median) / len(median) >= sum(single) / len(single)
    disagreeing = sum(len({s["correctness"] for s in r.samples}) > 1 for r in results)
    assert summary.dimensions["correctness"].disagreement_rate == pytest.approx(disagreeing / 40)
    assert disagreeing > 0  # the repeats really were independent draws
    # a rerun serves all 200 samples from the cache
    make_judge(protocol, store=judge_store, samples=5).score_many_sync(items(40))
    assert requests(sim) == 200


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_call_budget_stops_judging_cleanly(make_judge, sim, protocol) -> None:
    judge = make_judge(protocol)
    results = judge.score_many_sync(items(6), budget=Budget(calls=3))
    assert requests(sim) == 3
    assert [r.status for r in results] == ["ok"] * 3 + ["unjudged"] * 3
    for r in results[3:]:
        assert r.scores == {} and r.calls == 0 and r.error_kind == "budget"
        assert "budget" in (r.reason or "")
    summary = judge.summarise(results)
    assert summary.unjudged == 3 and summary.budget_exhausted
    assert summary.error_rate == 0.0 and summary.dimensions["correctness"].n == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_usd_budget_is_never_exceeded(make_judge, sim, protocol) -> None:
    judge = make_judge(protocol)
    _, worst = judge._worst_usd(judge.request(items(1)[0]))
    limit = worst * 2.5
    results = judge.score_many_sync(items(6), budget=Budget(usd=limit))
    judged = [r for r in results if r.status == "ok"]
    assert len(judged) == 2 and requests(sim) == 2
    assert sum(r.cost_usd or 0 for r in judged) <= limit
    assert all(r.status == "unjudged" for r in results[2:])


def test_identical_items_in_one_batch_are_judged_once(make_judge, sim) -> None:
    twice = items(3) + items(3)
    results = make_judge("anthropic").score_many_sync(twice)
    assert requests(sim) == 3
    assert [r.scores for r in results[:3]] == [r.scores for r in results[3:]]
    assert [r.calls for r in results] == [1, 1, 1, 0, 0, 0]
    assert make_judge("anthropic").summarise(results).calls == 3


def test_cached_items_are_served_after_the_budget_runs_out(make_judge, sim, judge_store):
    make_judge("openai", store=judge_store).score_many_sync(items(2))
    results = make_judge("openai", store=judge_store).score_many_sync(
        items(4), budget=Budget(calls=0)
    )
    assert [r.status for r in results] == ["ok", "ok", "unjudged", "unjudged"]
    assert requests(sim) == 2


def test_cost_estimate_counts_only_new_calls(make_judge, judge_store) -> None:
    judge = make_judge("anthropic", store=judge_store, samples=2)
    before = judge.estimate_cost(items(4))
    assert before.calls == 8 and before.cached_calls == 0
    assert before.usd_max is not None and before.usd_expected is not None
    assert 0 < before.usd_expected < before.usd_max
    results = judge.score_many_sync(items(4))
    spent = sum(r.cost_usd or 0 for r in results)
    assert spent <= before.usd_max
    after = judge.estimate_cost(items(4))
    assert after.calls == 0 and after.cached_calls == 8 and after.usd_max == 0
    assert "0 new call(s), 8 cached" in after.line()


def test_transport_errors_are_retried_next_run_but_bad_verdicts_are_not(
    make_judge, sim, judge_store
) -> None:
    sim.set_scenario("error_burst", rate=1.0, kinds="500")
    (failed,) = make_judge("anthropic", store=judge_store).score_many_sync(items(1))
    assert failed.status == "error" and failed.error_kind == "server"
    sim.set_scenario("baseline")
    (retried,) = make_judge("anthropic", store=judge_store).score_many_sync(items(1))
    assert retried.status == "ok" and retried.calls == 1
    sim.set_scenario("judge_faults", rate=1.0, kinds="out_of_range")
    (bad,) = make_judge("anthropic", store=judge_store).score_many_sync(items(1, start=7))
    sim.set_scenario("baseline")
    before = requests(sim)
    (again,) = make_judge("anthropic", store=judge_store).score_many_sync(items(1, start=7))
    assert requests(sim) == before  # the recorded error is the verdict for these inputs
    assert again.status == "error" and again.error_kind == "out_of_range" and again.calls == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_concurrency_is_bounded_per_provider(make_judge, sim, protocol) -> None:
    sim.set_scenario("latency_regression", ttft_ms=30.0, per_token_ms=0.0)
    judge = make_judge(protocol, max_concurrency=3)
    inner = judge.client.complete
    flight = {"now": 0, "max": 0}

    async def counting(request):
        flight["now"] += 1
        flight["max"] = max(flight["max"], flight["now"])
        try:
            return await inner(request)
        finally:
            flight["now"] -= 1

    judge.client.complete = counting  # type: ignore[method-assign]
    results = judge.score_many_sync(items(12))
    assert all(r.ok for r in results)
    assert flight["max"] == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pairwise_asks_both_orders_and_cancels_position_bias(make_judge, sim, protocol):
    judge = make_judge(protocol)
    right = "Paid on 2024-07-19, 315 EUR."
    wrong = "Paid on 2024-09-17, 513 EUR."
    better_a, better_b, same = judge.pairwise_sync(
        [
            PairItem("a", "When?", right, wrong, reference=REF),
            PairItem("b", "When?", wrong, right, reference=REF),
            PairItem("same", "When?", right, right, reference=REF),
        ]
    )
    # pairs a and b ask the same two questions (each in both orders) and "same" shows one
    # answer twice: three distinct requests, each made once
    assert requests(sim) == 3
    assert better_a.preferences["correctness"] == "A"
    assert better_b.preferences["correctness"] == "B"
    # both answers are equally polite: the judge's first-position preference cancels to a tie
    assert better_a.preferences["tone"] == "tie" and better_a.order_disagreements == ("tone",)
    # the simulated judge prefers whatever is shown first on a tie: both orders disagree
    assert same.preferences == {"correctness": "tie", "completeness": "tie", "tone": "tie"}
    assert set(same.order_disagreements) == {"correctness", "completeness", "tone"}
    assert better_a.cost_usd is not None and better_a.calls == 2
    assert better_b.calls == 0  # served by the calls made for pair a


def test_from_config_uses_the_judge_model_and_its_pricing(judge_store) -> None:
    cfg = Config.model_validate(
        {
            "models": {
                "app": {"provider": "simulator", "model": "sim-app"},
                "grader": {
                    "provider": "simulator",
                    "model": "sim-grader",
                    "protocol": "openai",
                    "pricing": {"input": 1.0, "output": 2.0},
                },
            },
            "judge": {"model": "grader", "rubric": "safety", "samples": 2, "budget_calls": 3},
            "simulator": {"seed": 3, "noise": 0.0},
        }
    )
    judge = Judge.from_config(cfg, judge_store)
    assert judge.rubric.name == "safety" and judge.samples == 2 and judge.mode == "json_schema"
    results = judge.score_many_sync(
        [JudgeItem(item_id=str(k), input="hi", output=f"Hello {k}!") for k in range(3)],
        budget=Judge.budget_from_config(cfg),
    )
    assert [r.status for r in results] == ["ok", "unjudged", "unjudged"]
    assert results[0].cost_usd == pytest.approx(
        (results[0].input_tokens * 1.0 + results[0].output_tokens * 2.0) / 1e6
    )
    no_price = cfg.model_copy(
        update={
            "judge": cfg.judge.model_copy(update={"budget_usd": 1.0, "model": "app"}),
        }
    )
    with pytest.raises(ConfigError, match="judge.budget_usd"):
        Judge.from_config(no_price)
    with pytest.raises(ConfigError, match="unknown rubric"):
        Judge.from_config(cfg, rubric="nope")


def test_sync_wrapper_can_be_called_repeatedly(make_judge) -> None:
    judge = make_judge("openai")
    for _ in range(2):
        assert judge.score_many_sync(items(1))[0].ok
    assert asyncio.run(judge.score_many(items(1)))[0].ok


def test_pairwise_samples_take_the_majority_and_are_cached(make_judge, sim, judge_store) -> None:
    judge = make_judge("openai", store=judge_store, samples=3)
    right, wrong = "Paid on 2024-07-19, 315 EUR.", "Paid on 2024-09-17, 513 EUR."
    (res,) = judge.pairwise_sync([PairItem("p", "When?", right, wrong, reference=REF)])
    assert requests(sim) == 6 and res.calls == 6
    assert res.preferences["correctness"] == "A"
    (again,) = make_judge("openai", store=judge_store, samples=3).pairwise_sync(
        [PairItem("p", "When?", right, wrong, reference=REF)]
    )
    assert requests(sim) == 6 and again.calls == 0 and again.preferences == res.preferences


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pairwise_broken_replies_are_errors(make_judge, sim, protocol) -> None:
    sim.set_scenario("judge_faults", rate=1.0, kinds="out_of_range")
    (res,) = make_judge(protocol).pairwise_sync([PairItem("p", "q", "a", "b", reference=REF)])
    assert res.status == "error" and res.preferences == {} and "preferences" in (res.reason or "")
