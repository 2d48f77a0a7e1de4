"""The comparison engine on hand-made item outcomes: each verdict and each reason."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from canaryflow.golden import CompareSettings, ItemOutcome, collapse, compare
from canaryflow.records import CheckResult, ItemResult

SETTINGS = CompareSettings(resamples=500)


def outcome(
    i: int,
    passed: bool | None = True,
    *,
    set_name: str = "s",
    category: str = "c",
    attempts: int = 3,
    passes: int | None = None,
    errors: int = 0,
    score: float | None = None,
    judge_errors: int = 0,
    output: str = "",
) -> ItemOutcome:
    if passes is None:
        passes = 0 if not passed else attempts - errors
    return ItemOutcome(
        item_id=f"{set_name}/i{i:03d}",
        set=set_name,
        category=category,
        attempts=attempts,
        passes=passes,
        errors=errors,
        passed=passed,
        scores={} if score is None else {"quality": score},
        judged=0 if score is None else attempts - judge_errors,
        judge_errors=judge_errors,
        output=output or f"out {i}",
    )


def run(outcomes: list[ItemOutcome]) -> dict[str, ItemOutcome]:
    return {o.item_id: o for o in outcomes}


def test_identical_runs_pass_with_a_reason() -> None:
    base = run([outcome(i, category="ab"[i % 2]) for i in range(40)])
    cmp = compare(base, base, rng=np.random.default_rng(0), settings=SETTINGS)
    assert cmp.verdict == "pass"
    assert cmp.flips == ()
    assert "no significant drop" in cmp.reasons[0]
    assert {(g.category, g.verdict) for g in cmp.groups} == {
        (None, "pass"),
        ("a", "pass"),
        ("b", "pass"),
    }


def test_flips_make_a_regression_naming_the_items_with_before_and_after() -> None:
    base = run([outcome(i, category="ab"[i % 2], output="2024-04-03") for i in range(40)])
    cur = dict(base)
    for i in (0, 2, 4, 6, 8, 10, 12, 14):  # category a
        cur[f"s/i{i:03d}"] = outcome(i, False, category="a", output="2024-03-04")
    cmp = compare(base, cur, rng=np.random.default_rng(0), settings=SETTINGS)
    assert cmp.verdict == "regression"
    whole, cat_a = cmp.group("s"), cmp.group("s", "a")
    assert (whole.regressions, whole.fixes, whole.test) == (8, 0, "mcnemar_exact")
    assert whole.p_value == pytest.approx(0.5**8)
    assert whole.p_adjusted is not None and whole.p_adjusted >= whole.p_value
    assert whole.effect == pytest.approx(-0.2) and whole.ci_high is not None and whole.ci_high < 0
    assert cat_a.verdict == "regression" and cmp.group("s", "b").regressions == 0
    assert [f.item_id for f in cmp.regressions] == [f"s/i{i:03d}" for i in range(0, 16, 2)]
    flip = cmp.flips[0]
    assert (flip.before, flip.after, flip.before_share, flip.after_share) == (
        "2024-04-03",
        "2024-03-04",
        1.0,
        0.0,
    )
    assert cmp.reasons[0].startswith("s: regression in s")


def test_fixes_are_not_regressions() -> None:
    base = run([outcome(i, i >= 8) for i in range(40)])
    cur = run([outcome(i) for i in range(40)])
    cmp = compare(base, cur, rng=np.random.default_rng(0), settings=SETTINGS)
    assert cmp.verdict == "pass"
    assert {f.direction for f in cmp.flips} == {"fix"}


def test_too_few_items_is_inconclusive() -> None:
    base = run([outcome(i) for i in range(8)])
    cmp = compare(base, base, rng=np.random.default_rng(0), settings=SETTINGS, min_items={"s": 20})
    assert cmp.verdict == "inconclusive"
    assert any("too few items: 8 paired, at least 20" in r for r in cmp.reasons)


def test_a_small_drop_that_cannot_be_ruled_out_is_inconclusive_not_pass() -> None:
    base = run([outcome(i) for i in range(30)])
    cur = dict(base)
    for i in range(3):
        cur[f"s/i{i:03d}"] = outcome(i, False)
    cmp = compare(base, cur, rng=np.random.default_rng(0), settings=SETTINGS)
    assert cmp.verdict == "inconclusive"
    assert "cannot be ruled out" in cmp.reasons[0]


def test_unreliable_baseline_is_inconclusive() -> None:
    base = run([outcome(i, i % 3 != 0, passes=2 if i % 3 else 1) for i in range(40)])
    cmp = compare(base, base, rng=np.random.default_rng(0), settings=SETTINGS)
    assert cmp.verdict == "inconclusive"
    assert any("unreliable baseline" in r for r in cmp.reasons)
    assert cmp.sets[0].flaky_baseline_share == pytest.approx(1.0)


def test_provider_errors_are_unpaired_and_reported() -> None:
    base = run([outcome(i) for i in range(40)])
    cur = run([outcome(i, None, errors=3, passes=0) if i < 10 else outcome(i) for i in range(40)])
    cmp = compare(base, cur, rng=np.random.default_rng(0), settings=SETTINGS)
    assert cmp.verdict == "inconclusive"
    assert cmp.sets[0].paired == 30
    assert cmp.sets[0].candidate_error_rate == pytest.approx(0.25)
    assert any("too many provider errors in the candidate: 25%" in r for r in cmp.reasons)
    assert cmp.flips == ()  # an error is not a failure


def test_too_many_judge_errors_skip_scores_and_say_so() -> None:
    base = run([outcome(i, score=4.0) for i in range(40)])
    cur = run([outcome(i, score=4.0, judge_errors=2 if i < 20 else 0) for i in range(40)])
    cmp = compare(base, cur, rng=np.random.default_rng(0), settings=SETTINGS)
    assert cmp.verdict == "inconclusive"
    assert any("too many judge errors" in r for r in cmp.reasons)
    assert all(g.metric == "pass_rate" for g in cmp.groups)


def test_score_drop_is_a_regression_by_wilcoxon() -> None:
    rng = np.random.default_rng(3)
    base_scores = rng.choice([3.0, 4.0, 5.0], size=40)
    base = run([outcome(i, score=float(base_scores[i])) for i in range(40)])
    cur = run([outcome(i, score=max(1.0, float(base_scores[i]) - (i % 2))) for i in range(40)])
    cmp = compare(base, cur, rng=np.random.default_rng(0), settings=SETTINGS)
    score = cmp.group("s", None, "score:quality")
    assert score.test == "wilcoxon" and score.verdict == "regression"
    assert score.effect == pytest.approx(-0.5)
    assert cmp.verdict == "regression" and cmp.flips == ()


def test_bh_spans_sets_and_categories() -> None:
    base = run(
        [
            outcome(i + 100 * (c == "q"), set_name=s, category=c)
            for s in "xyz"
            for c in "pq"
            for i in range(15)
        ]
    )
    cmp = compare(base, base, rng=np.random.default_rng(0), settings=SETTINGS)
    assert len(cmp.groups) == 9  # 3 sets + 6 categories, all adjusted together
    assert all(g.p_adjusted == 1.0 for g in cmp.groups)


def test_empty_comparison_is_inconclusive() -> None:
    cmp = compare({}, {}, rng=np.random.default_rng(0))
    assert (cmp.verdict, cmp.reasons) == ("inconclusive", ("no items to compare",))


def _attempt(item: str, attempt: int, passed: bool | None, output: str = "x") -> ItemResult:
    return ItemResult(
        run_id="r",
        item_id=item,
        attempt=attempt,
        flow="golden",
        model="m",
        subject="s/c",
        passed=passed,
        output=output,
        checks=(CheckResult(name="fact", passed=bool(passed), reason="why"),),
        error=None if passed is not None else "boom",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        extra={"set": "s", "category": "c", "input": "in", "expected": "exp"},
    )


def test_collapse_takes_the_majority_and_counts_judge_errors() -> None:
    results = [
        _attempt("s/a", 0, True),
        _attempt("s/a", 1, False),
        _attempt("s/a", 2, True),
        _attempt("s/b", 0, True),
        _attempt("s/b", 1, False),  # a tie (1 of 2 successful) is a failure
        _attempt("s/b", 2, None),
        _attempt("s/c", 0, None),
    ]
    judge = {
        ("s/a", 0): {"quality": 4.0},
        ("s/a", 1): {"quality": None},
        ("s/a", 2): {"quality": 2.0},
    }
    out = collapse(results, judge)
    a, b, c = out["s/a"], out["s/b"], out["s/c"]
    assert (a.passed, a.passes, a.pass_share, a.flaky) == (True, 2, pytest.approx(2 / 3), True)
    assert (a.scores, a.judged, a.judge_errors) == ({"quality": 3.0}, 2, 1)
    assert a.failing == "fact: why" and a.expected == "exp" and a.input == "in"
    assert (b.passed, b.errors, b.pass_share) == (False, 1, 0.5)
    assert (c.passed, c.pass_share, c.output) == (None, None, "boom")
