"""Statistical acceptance of the comparison engine, by seeded simulation sized for CI.

The full figures (more seeds, the power table) are printed by ``benchmarks/golden.py``.
Simulated runs have solid, broken and flaky items; flakiness is correlated across repetitions
and, per day and category, across items (``canaryflow.golden._simulate``).
"""

from __future__ import annotations

import numpy as np

from canaryflow.golden import CompareSettings, compare
from canaryflow.golden._simulate import SimulatedSet, simulate_run

SETTINGS = CompareSettings(resamples=200)
ALPHA = SETTINGS.alpha


def _sets(rng: np.random.Generator) -> list[SimulatedSet]:
    return [
        SimulatedSet.draw("financial_extraction", 60, rng),
        SimulatedSet.draw("support_bot", 32, rng, flaky_share=0.15),
    ]


def test_thirty_daily_runs_of_an_unchanged_model_give_false_regressions_within_alpha() -> None:
    verdicts = []
    for seed in range(4):
        rng = np.random.default_rng(100 + seed)
        sets = _sets(rng)
        baseline = simulate_run(sets, rng, judged=True, day_sd=0.7)
        for _day in range(30):
            current = simulate_run(sets, rng, judged=True, day_sd=0.7)
            verdicts.append(compare(baseline, current, rng=rng, settings=SETTINGS).verdict)
    false_rate = verdicts.count("regression") / len(verdicts)
    assert false_rate <= ALPHA
    # the noise is real: flaky items do flip, so a "pass" is not automatic
    assert verdicts.count("pass") < len(verdicts)


def test_a_model_compared_with_itself_fifty_times_regresses_at_most_alpha() -> None:
    regressions = 0
    flips = 0
    for seed in range(50):
        rng = np.random.default_rng(500 + seed)
        sets = _sets(rng)
        a, b = simulate_run(sets, rng, judged=True), simulate_run(sets, rng, judged=True)
        cmp = compare(a, b, rng=rng, settings=SETTINGS)
        regressions += cmp.verdict == "regression"
        flips += len(cmp.flips)
    assert regressions <= ALPHA * 50
    assert flips > 0


def test_counting_repetitions_as_items_would_not_be_calibrated() -> None:
    """Why the item is the unit: treating 3 correlated repetitions as 3 items triples the
    evidence, and the same noise then reads as regressions far more often than alpha."""
    regressions_items = regressions_attempts = 0
    for seed in range(40):
        rng = np.random.default_rng(900 + seed)
        sets = [SimulatedSet.draw("s", 60, rng, flaky_share=0.3)]
        a, b = simulate_run(sets, rng, day_sd=1.0), simulate_run(sets, rng, day_sd=1.0)
        regressions_items += compare(a, b, rng=rng, settings=SETTINGS).verdict == "regression"

        # the naive variant: each repetition its own "item"
        def expand(run):  # type: ignore[no-untyped-def]
            out = {}
            for o in run.values():
                for r in range(o.attempts):
                    ok = r < o.passes
                    out[f"{o.item_id}#{r}"] = o.model_copy(
                        update={"item_id": f"{o.item_id}#{r}", "attempts": 1,
                                "passes": int(ok), "passed": ok}
                    )  # fmt: skip
            return out

        naive = compare(expand(a), expand(b), rng=rng, settings=SETTINGS)
        regressions_attempts += naive.verdict == "regression"
    assert regressions_items <= ALPHA * 40
    assert regressions_attempts > regressions_items


def test_thirty_percent_transposition_is_a_regression_naming_the_transposed_items() -> None:
    detected = 0
    for seed in range(10):
        rng = np.random.default_rng(700 + seed)
        fin = SimulatedSet.draw(
            "financial_extraction",
            60,
            rng,
            categories=("dates_eu",) * 8 + ("dates_us", "amounts", "identifiers") * 2,
            flaky_share=0.0,
            broken_share=0.0,
        )
        eu = [i for i, c in zip(fin.item_ids, fin.categories, strict=True) if c == "dates_eu"]
        base = simulate_run([fin], rng)
        current = simulate_run([fin], rng, flip_items=eu, flip_rate=0.3)
        transposed = {i for i in eu if not current[i].passed}
        cmp = compare(base, current, rng=rng, settings=SETTINGS)
        assert {f.item_id for f in cmp.regressions} == transposed
        assert all(f.category == "dates_eu" for f in cmp.flips)
        if cmp.verdict == "regression":
            detected += 1
            assert cmp.group("financial_extraction", "dates_us").regressions == 0
        else:
            assert cmp.verdict == "inconclusive"  # never "pass" with items transposed
    assert detected >= 8
