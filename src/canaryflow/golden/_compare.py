"""Paired comparison of two runs of the same golden items: pure functions, a frozen result.

For every set, and every category inside it, the items present in both runs are paired by id:

- pass/fail: exact McNemar test on the items that flipped (pass -> fail vs fail -> pass);
- judge scores, per dimension: Wilcoxon signed-rank test on the item means;
- each with the effect (candidate - baseline) and a paired bootstrap interval (items
  resampled), via :func:`canaryflow.stats.paired_verdict`.

All p-values of one comparison (sets and categories, pass rates and scores) form one family,
adjusted with Benjamini–Hochberg (``stats.bh_adjust``): a test is a regression when its
adjusted one-sided p is below ``alpha``. Under no change BH controls the family-wise error, so
the chance that an unchanged model gets a "regression" verdict is at most ``alpha``
(checked by seeded simulation in ``tests/golden/test_golden_acceptance.py``).

The verdict is three-way and always says why:

- ``regression``: at least one adjusted test rejects; the flipped items are listed;
- ``inconclusive``: nothing rejects but the comparison cannot vouch for the candidate: too few
  paired items (below the set's ``min_items``), an unreliable baseline (too many items whose
  repetitions disagree), too many provider or judge errors, or a set whose confidence interval
  still allows a drop of ``min_effect`` or more;
- ``pass``: every set's interval excludes a meaningful drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from canaryflow.golden._outcomes import ItemOutcome
from canaryflow.stats import bh_adjust, paired_verdict

__all__ = [
    "COMPARISON_VERSION",
    "Comparison",
    "CompareSettings",
    "Flip",
    "GroupResult",
    "SetSummary",
    "compare",
]

COMPARISON_VERSION = 1

Verdict = Literal["pass", "regression", "inconclusive"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class CompareSettings(_Frozen):
    """The knobs of a comparison (stored with it, so a verdict can be reproduced)."""

    alpha: float = Field(default=0.05, gt=0, lt=1)
    """False-regression rate of the whole comparison (BH across all tests)."""
    min_effect: float = Field(default=0.10, gt=0, le=1)
    """Smallest drop in pass rate that matters (a ``pass`` needs the CI to exclude it)."""
    score_min_effect: float = Field(default=0.5, gt=0)
    """Smallest drop in mean judge score that matters (scores on the rubric's 1-5 scale)."""
    min_items: int = Field(default=20, ge=2)
    """Default minimum of paired items per set (a set header's ``min_items`` wins)."""
    max_error_rate: float = Field(default=0.10, ge=0, le=1)
    """Provider errors above this share of attempts (either run) make a set inconclusive."""
    max_judge_error_rate: float = Field(default=0.10, ge=0, le=1)
    """Judge errors above this share of judged attempts make a set's scores inconclusive."""
    max_flaky_share: float = Field(default=0.20, ge=0, le=1)
    """Baseline items whose repetitions disagree above this share: an unreliable baseline."""
    resamples: int = Field(default=2000, ge=100)
    """Bootstrap resamples per test."""
    min_score_items: int = Field(default=10, ge=2)
    """Fewest paired items a score test is made on (the Wilcoxon normal approximation, with
    tie correction, needs about 10; smaller categories are reported untested)."""


class _GroupKey(TypedDict):
    set: str
    category: str | None
    metric: str
    n: int


class GroupResult(_Frozen):
    """One paired test: a set or a category, on the pass rate or on one judge dimension."""

    set: str
    category: str | None
    """None for the whole set."""
    metric: str
    """``pass_rate`` or ``score:<dimension>``."""
    n: int
    """Paired items."""
    baseline_mean: float | None = None
    candidate_mean: float | None = None
    effect: float | None = None
    """candidate - baseline (pass-rate points as a fraction, or score units)."""
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float | None = None
    test: str = ""
    """``mcnemar_exact`` or ``wilcoxon`` (empty when not tested)."""
    p_value: float | None = None
    """One-sided p for a regression, unadjusted."""
    p_adjusted: float | None = None
    """Benjamini–Hochberg adjusted across the comparison's family."""
    regressions: int | None = None
    """Items pass -> fail (pass rate only)."""
    fixes: int | None = None
    """Items fail -> pass (pass rate only)."""
    verdict: Verdict = "inconclusive"
    reason: str = ""

    @property
    def label(self) -> str:
        """``set`` or ``set/category``, with the metric when it is a score."""
        where = self.set if self.category is None else f"{self.set}/{self.category}"
        return where if self.metric == "pass_rate" else f"{where} {self.metric}"


class Flip(_Frozen):
    """An item whose pass/fail changed, with what it said before and after."""

    item_id: str
    set: str
    category: str
    direction: Literal["regression", "fix"]
    before_share: float | None
    """Baseline share of passing repetitions."""
    after_share: float | None
    input: str = ""
    expected: Any = None
    before: str = ""
    """Baseline output."""
    after: str = ""
    """Candidate output."""
    reason: str = ""
    """The failing check (after, for a regression; before, for a fix)."""


class SetSummary(_Frozen):
    """What each run looked like for one set, and the set's own verdict."""

    name: str
    items_baseline: int
    items_candidate: int
    paired: int
    min_items: int
    baseline_pass_rate: float | None
    candidate_pass_rate: float | None
    baseline_error_rate: float
    candidate_error_rate: float
    judge_error_rate: float | None
    """Judge errors / attempts sent to the judge, both runs (None: the set is not judged)."""
    flaky_baseline_share: float
    verdict: Verdict
    reasons: tuple[str, ...] = ()


class Comparison(_Frozen):
    """The result of :func:`compare` (its JSON has a published schema)."""

    version: int = COMPARISON_VERSION
    baseline: str
    """What the baseline is (``support-bot``, ``support-bot @ run 2026-12-01``)."""
    candidate: str
    verdict: Verdict
    reasons: tuple[str, ...]
    """Why the verdict is what it is, most important first."""
    settings: CompareSettings
    sets: tuple[SetSummary, ...]
    groups: tuple[GroupResult, ...]
    flips: tuple[Flip, ...]
    """Regressions first, then fixes, each by set and item id."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Free context for reports (run ids, as_of, config hashes, set file hashes)."""

    @property
    def regressions(self) -> tuple[Flip, ...]:
        """Items that passed in the baseline and fail now."""
        return tuple(f for f in self.flips if f.direction == "regression")

    def group(
        self, set_name: str, category: str | None = None, metric: str = "pass_rate"
    ) -> GroupResult:
        """One test result (KeyError if it was not made)."""
        for g in self.groups:
            if (g.set, g.category, g.metric) == (set_name, category, metric):
                return g
        raise KeyError((set_name, category, metric))


def _rate(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _test(
    set_name: str,
    category: str | None,
    metric: str,
    x: list[float],
    y: list[float],
    settings: CompareSettings,
    rng: np.random.Generator,
) -> GroupResult:
    n = len(x)
    base = _GroupKey(set=set_name, category=category, metric=metric, n=n)
    binary = metric == "pass_rate"
    need = 2 if binary else settings.min_score_items
    if n < need:
        return GroupResult(**base, verdict="inconclusive", reason=f"too few items ({n}) to test")
    v = paired_verdict(
        x,
        y,
        rng=rng,
        kind="binary" if binary else "score",
        min_effect=settings.min_effect if binary else settings.score_min_effect,
        alpha=settings.alpha,
        resamples=settings.resamples,
        wilcoxon_method="approx",
    )
    return GroupResult(
        **base,
        baseline_mean=v.baseline_mean,
        candidate_mean=v.candidate_mean,
        effect=v.effect,
        ci_low=v.ci.low,
        ci_high=v.ci.high,
        confidence=v.ci.confidence,
        test=v.test,
        p_value=v.p_value,
        regressions=v.regressions,
        fixes=v.fixes,
    )


def _decide(g: GroupResult, p_adj: float, settings: CompareSettings) -> GroupResult:
    margin = settings.min_effect if g.metric == "pass_rate" else settings.score_min_effect
    if p_adj < settings.alpha:
        verdict: Verdict = "regression"
        reason = f"drop is significant (BH-adjusted p {p_adj:.4g} < {settings.alpha})"
    elif g.ci_low is not None and g.ci_low > -margin:
        verdict = "pass"
        reason = f"the interval excludes a drop of {margin:g} or more"
    else:
        verdict = "inconclusive"
        reason = f"no significant drop, but a drop of {margin:g} cannot be ruled out"
    return g.model_copy(update={"p_adjusted": p_adj, "verdict": verdict, "reason": reason})


def _flip(b: ItemOutcome, c: ItemOutcome) -> Flip | None:
    if b.passed is None or c.passed is None or b.passed == c.passed:
        return None
    regression = bool(b.passed and not c.passed)
    return Flip(
        item_id=c.item_id,
        set=c.set,
        category=c.category,
        direction="regression" if regression else "fix",
        before_share=b.pass_share,
        after_share=c.pass_share,
        input=c.input or b.input,
        expected=c.expected if c.expected is not None else b.expected,
        before=b.output,
        after=c.output,
        reason=c.failing if regression else b.failing,
    )


def _error_rate(outcomes: Sequence[ItemOutcome]) -> float:
    attempts = sum(o.attempts for o in outcomes)
    return sum(o.errors for o in outcomes) / attempts if attempts else 0.0


def compare(
    baseline: Mapping[str, ItemOutcome],
    candidate: Mapping[str, ItemOutcome],
    *,
    rng: np.random.Generator,
    settings: CompareSettings | None = None,
    min_items: Mapping[str, int] | None = None,
    baseline_label: str = "baseline",
    candidate_label: str = "candidate",
    meta: Mapping[str, Any] | None = None,
) -> Comparison:
    """Compare two runs of the same golden items, item by item.

    Args:
        baseline: Outcomes of the baseline run by item id (:func:`collapse`).
        candidate: Outcomes of the run under test, same ids.
        rng: Random generator for the bootstrap intervals.
        settings: Thresholds (:class:`CompareSettings` defaults).
        min_items: Minimum paired items per set name (the headers' ``min_items``).
        baseline_label: How the report names the baseline.
        candidate_label: How the report names the candidate.
        meta: Free context stored with the result.
    """
    settings = settings or CompareSettings()
    min_items = min_items or {}
    set_names = sorted({o.set for o in (*baseline.values(), *candidate.values())})
    raw: list[GroupResult] = []
    notes: dict[str, list[str]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    flips: list[Flip] = []
    for name in set_names:
        b_items = [o for o in baseline.values() if o.set == name]
        c_items = [o for o in candidate.values() if o.set == name]
        c_by_id = {o.item_id: o for o in c_items}
        pairs = [
            (b, c_by_id[b.item_id])
            for b in b_items
            if b.item_id in c_by_id
            and b.passed is not None
            and c_by_id[b.item_id].passed is not None
        ]
        reasons: list[str] = []
        need = min_items.get(name, settings.min_items)
        if len(pairs) < need:
            reasons.append(f"too few items: {len(pairs)} paired, at least {need} needed")
        b_err, c_err = _error_rate(b_items), _error_rate(c_items)
        for label, rate in (("baseline", b_err), ("candidate", c_err)):
            if rate > settings.max_error_rate:
                reasons.append(
                    f"too many provider errors in the {label}: {rate:.0%} of attempts "
                    f"(limit {settings.max_error_rate:.0%})"
                )
        done = [o for o in b_items if o.passed is not None]
        flaky = sum(o.flaky for o in done) / len(done) if done else 0.0
        if flaky > settings.max_flaky_share:
            reasons.append(
                f"unreliable baseline: {flaky:.0%} of items disagree between repetitions "
                f"(limit {settings.max_flaky_share:.0%})"
            )
        sent = sum(o.judged + o.judge_errors for o in (*b_items, *c_items))
        judge_rate = sum(o.judge_errors for o in (*b_items, *c_items)) / sent if sent else None
        judge_ok = judge_rate is None or judge_rate <= settings.max_judge_error_rate
        if not judge_ok:
            reasons.append(
                f"too many judge errors: {judge_rate:.0%} of judged attempts "
                f"(limit {settings.max_judge_error_rate:.0%}); scores not compared"
            )
        # pass rate: the set, then each category
        cats = sorted({b.category for b, _ in pairs})
        for cat in (None, *cats):
            sel = [(b, c) for b, c in pairs if cat is None or b.category == cat]
            raw.append(
                _test(
                    name,
                    cat,
                    "pass_rate",
                    [float(bool(b.passed)) for b, _ in sel],
                    [float(bool(c.passed)) for _, c in sel],
                    settings,
                    rng,
                )
            )
        # judge scores per dimension (items scored in both runs)
        dims = sorted({d for b, c in pairs for d in b.scores if d in c.scores}) if judge_ok else []
        for dim in dims:
            for cat in (None, *cats):
                sel = [
                    (b, c)
                    for b, c in pairs
                    if dim in b.scores and dim in c.scores and (cat is None or b.category == cat)
                ]
                raw.append(
                    _test(
                        name,
                        cat,
                        f"score:{dim}",
                        [b.scores[dim] for b, _ in sel],
                        [c.scores[dim] for _, c in sel],
                        settings,
                        rng,
                    )
                )
        flips.extend(f for b, c in pairs if (f := _flip(b, c)) is not None)
        notes[name] = reasons
        summaries[name] = {
            "name": name,
            "items_baseline": len(b_items),
            "items_candidate": len(c_items),
            "paired": len(pairs),
            "min_items": need,
            "baseline_pass_rate": _rate([bool(b.passed) for b, _ in pairs]),
            "candidate_pass_rate": _rate([bool(c.passed) for _, c in pairs]),
            "baseline_error_rate": b_err,
            "candidate_error_rate": c_err,
            "judge_error_rate": judge_rate,
            "flaky_baseline_share": flaky,
        }

    tested = [i for i, g in enumerate(raw) if g.p_value is not None]
    groups = list(raw)
    if tested:
        adjusted = bh_adjust([raw[i].p_value for i in tested])
        for i, p_adj in zip(tested, adjusted, strict=True):
            groups[i] = _decide(raw[i], float(p_adj), settings)

    sets: list[SetSummary] = []
    overall_reasons: list[str] = []
    regression_reasons: list[str] = []
    any_regression = False
    any_inconclusive = False
    for name in set_names:
        mine = [g for g in groups if g.set == name]
        regressed = [g for g in mine if g.verdict == "regression"]
        reasons = list(notes[name])
        if regressed:
            verdict: Verdict = "regression"
            reasons.insert(0, "regression in " + ", ".join(g.label for g in regressed))
        elif reasons:
            verdict = "inconclusive"
        elif any(g.verdict != "pass" for g in mine if g.category is None):
            verdict = "inconclusive"
            reasons.append(
                "a meaningful drop cannot be ruled out: "
                + ", ".join(g.label for g in mine if g.category is None and g.verdict != "pass")
            )
        else:
            verdict = "pass"
        any_regression |= verdict == "regression"
        any_inconclusive |= verdict == "inconclusive"
        first = overall_reasons if verdict != "regression" else regression_reasons
        first.extend(f"{name}: {r}" for r in reasons)
        sets.append(SetSummary(**summaries[name], verdict=verdict, reasons=tuple(reasons)))

    overall_reasons = regression_reasons + overall_reasons
    if not set_names:
        verdict_all: Verdict = "inconclusive"
        overall_reasons = ["no items to compare"]
    elif any_regression:
        verdict_all = "regression"
    elif any_inconclusive:
        verdict_all = "inconclusive"
    else:
        verdict_all = "pass"
        overall_reasons = [
            f"no significant drop in {len(groups)} paired tests (BH, alpha {settings.alpha}); "
            f"every set's interval excludes a meaningful drop"
        ]
    flips.sort(key=lambda f: (f.direction != "regression", f.set, f.item_id))
    return Comparison(
        baseline=baseline_label,
        candidate=candidate_label,
        verdict=verdict_all,
        reasons=tuple(overall_reasons),
        settings=settings,
        sets=tuple(sets),
        groups=tuple(groups),
        flips=tuple(flips),
        meta=dict(meta or {}),
    )
