"""Paired comparisons for golden sets: the same items scored by the baseline and the candidate.

Pass/fail flips are tested with the exact McNemar test (a binomial test on the discordant
pairs; McNemar 1947, exact form per Fagerland, Lydersen & Laake 2013). Scores are tested with
the Wilcoxon signed-rank test (scipy) and summarised by a paired bootstrap confidence interval
of the mean difference (Efron & Tibshirani 1993, percentile method, explicit rng).

The verdict is three-way: "regression" when the one-sided test rejects, "pass" only when the
confidence interval excludes a drop as large as the minimal meaningful effect (an equivalence-
style margin), and "inconclusive" otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from canaryflow.errors import StatsError
from canaryflow.stats._rates import Verdict
from canaryflow.stats._validate import count, finite_vector, positive_scalar, probability

__all__ = [
    "BootstrapCI",
    "McNemarResult",
    "PairedVerdict",
    "WilcoxonResult",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "paired_verdict",
    "wilcoxon_signed_rank",
]


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """Exact McNemar test on discordant pairs.

    Attributes:
        b: Pairs that passed on the baseline and fail on the candidate (regressions).
        c: Pairs that failed on the baseline and pass on the candidate (fixes).
        p_regression: One-sided p-value for "more regressions than fixes".
        p_two_sided: Two-sided p-value (reported for completeness).
    """

    b: int
    c: int
    p_regression: float
    p_two_sided: float

    @property
    def n_discordant(self) -> int:
        """Number of pairs that changed outcome."""
        return self.b + self.c


def mcnemar_exact(b: int, c: int) -> McNemarResult:
    """Exact McNemar test: under no change, b ~ Binomial(b + c, 1/2).

    Args:
        b: Pass -> fail flips (regressions).
        c: Fail -> pass flips (fixes).

    Returns:
        The :class:`McNemarResult` (p-values are 1 when nothing flipped).
    """
    b, c = count(b, "b"), count(c, "c")
    if b + c == 0:
        return McNemarResult(0, 0, 1.0, 1.0)
    one = stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue
    two = stats.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    return McNemarResult(b, c, float(one), float(two))


def _pairs(baseline: Any, candidate: Any) -> tuple[np.ndarray, np.ndarray]:
    x = finite_vector(baseline, "baseline", min_len=2)
    y = finite_vector(candidate, "candidate", min_len=2)
    if x.shape != y.shape:
        raise StatsError(
            f"paired samples must have the same length (same items): baseline has {x.size}, "
            f"candidate {y.size}"
        )
    return x, y


@dataclass(frozen=True, slots=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test of candidate - baseline.

    Attributes:
        statistic: scipy's statistic for the two-sided test.
        p_regression: One-sided p-value for "the candidate scores lower".
        p_two_sided: Two-sided p-value.
        n_nonzero: Pairs with a non-zero difference.
    """

    statistic: float
    p_regression: float
    p_two_sided: float
    n_nonzero: int


def wilcoxon_signed_rank(
    baseline: Any, candidate: Any, *, method: Literal["auto", "approx"] = "auto"
) -> WilcoxonResult:
    """Wilcoxon signed-rank test on paired scores (``scipy.stats.wilcoxon``, Pratt zeros).

    ``method="approx"`` uses the normal approximation with tie correction; with discrete 1-5
    scores (many ties and zeros) scipy's "auto" falls back to a permutation test, which is
    exact but costs ~0.3 s per call for small n; callers running thousands of tests (golden
    comparisons over many categories) pass "approx" and require enough items.
    """
    x, y = _pairs(baseline, candidate)
    d = y - x
    nz = int(np.count_nonzero(d))
    if nz == 0:
        return WilcoxonResult(0.0, 1.0, 1.0, 0)
    two = stats.wilcoxon(d, zero_method="pratt", alternative="two-sided", method=method)
    one = stats.wilcoxon(d, zero_method="pratt", alternative="less", method=method)
    return WilcoxonResult(float(two.statistic), float(one.pvalue), float(two.pvalue), nz)


@dataclass(frozen=True, slots=True)
class BootstrapCI:
    """Paired bootstrap confidence interval of the mean difference (candidate - baseline).

    Attributes:
        estimate: Observed mean difference.
        low: Lower bound.
        high: Upper bound.
        confidence: Confidence level.
        resamples: Bootstrap resamples.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    resamples: int


def paired_bootstrap_ci(
    baseline: Any,
    candidate: Any,
    *,
    rng: np.random.Generator,
    resamples: int = 5000,
    confidence: float = 0.95,
) -> BootstrapCI:
    """Percentile bootstrap CI of the mean paired difference, resampling items.

    Args:
        baseline: Baseline scores per item.
        candidate: Candidate scores for the same items, same order.
        rng: Random generator.
        resamples: Number of bootstrap resamples (>= 100).
        confidence: Confidence level.

    Returns:
        The :class:`BootstrapCI`.
    """
    x, y = _pairs(baseline, candidate)
    resamples = count(resamples, "resamples", minimum=100)
    confidence = probability(confidence, "confidence")
    d = y - x
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // d.size)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))
        means[start:stop] = d[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return BootstrapCI(float(d.mean()), float(low), float(high), confidence, resamples)


@dataclass(frozen=True, slots=True)
class PairedVerdict:
    """Paired comparison of a candidate with a baseline on the same items.

    Attributes:
        verdict: "regression", "pass" or "inconclusive".
        kind: "binary" (pass/fail per item) or "score".
        n: Number of paired items.
        baseline_mean: Baseline mean (pass rate for binary).
        candidate_mean: Candidate mean.
        effect: ``candidate_mean - baseline_mean``.
        ci: Bootstrap CI of the effect.
        test: "mcnemar_exact" or "wilcoxon".
        p_value: One-sided p-value for a regression.
        p_two_sided: Two-sided p-value.
        min_effect: Minimal meaningful drop (positive number, same unit as the scores).
        alpha: Significance level.
        regressions: Items that passed and now fail (binary), else None.
        fixes: Items that failed and now pass (binary), else None.
    """

    verdict: Verdict
    kind: Literal["binary", "score"]
    n: int
    baseline_mean: float
    candidate_mean: float
    effect: float
    ci: BootstrapCI
    test: Literal["mcnemar_exact", "wilcoxon"]
    p_value: float
    p_two_sided: float
    min_effect: float
    alpha: float
    regressions: int | None = None
    fixes: int | None = None


def paired_verdict(
    baseline: Any,
    candidate: Any,
    *,
    rng: np.random.Generator,
    kind: Literal["binary", "score"] | None = None,
    min_effect: float = 0.05,
    alpha: float = 0.05,
    resamples: int = 5000,
    wilcoxon_method: Literal["auto", "approx"] = "auto",
) -> PairedVerdict:
    """Decide whether a candidate regressed against the baseline on the same items.

    "regression" when the one-sided test (exact McNemar for pass/fail, Wilcoxon for scores)
    rejects at ``alpha``; "pass" when the (1 - 2 alpha) bootstrap interval's lower bound is above
    ``-min_effect`` (the drop is shown to be smaller than what matters); else "inconclusive".

    Args:
        baseline: Per-item baseline results (0/1 or bools for binary, numbers for scores).
        candidate: Per-item candidate results, same items in the same order.
        rng: Random generator for the bootstrap.
        kind: "binary" or "score"; None infers binary when every value is 0 or 1.
        min_effect: Smallest drop that matters (absolute: 0.05 = 5 points of pass rate).
        alpha: One-sided significance level.
        resamples: Bootstrap resamples.
        wilcoxon_method: Passed to :func:`wilcoxon_signed_rank` (scores only).

    Returns:
        The :class:`PairedVerdict`.
    """
    x, y = _pairs(baseline, candidate)
    min_effect = positive_scalar(min_effect, "min_effect")
    alpha = probability(alpha, "alpha")
    is_binary = bool(np.isin(x, (0, 1)).all() and np.isin(y, (0, 1)).all())
    kind = kind or ("binary" if is_binary else "score")
    if kind == "binary" and not is_binary:
        raise StatsError("kind='binary' needs every value to be 0/1 (or bool)")
    ci = paired_bootstrap_ci(x, y, rng=rng, resamples=resamples, confidence=1 - 2 * alpha)
    regressions = fixes = None
    test: Literal["mcnemar_exact", "wilcoxon"]
    if kind == "binary":
        regressions = int(((x == 1) & (y == 0)).sum())
        fixes = int(((x == 0) & (y == 1)).sum())
        mc = mcnemar_exact(regressions, fixes)
        test, p, p2 = "mcnemar_exact", mc.p_regression, mc.p_two_sided
    elif kind == "score":
        wx = wilcoxon_signed_rank(x, y, method=wilcoxon_method)
        test, p, p2 = "wilcoxon", wx.p_regression, wx.p_two_sided
    else:
        raise StatsError(f"kind must be 'binary' or 'score', got {kind!r}")
    if p < alpha:
        verdict: Verdict = "regression"
    elif ci.low > -min_effect:
        verdict = "pass"
    else:
        verdict = "inconclusive"
    return PairedVerdict(
        verdict, kind, int(x.size), float(x.mean()), float(y.mean()), float(y.mean() - x.mean()),
        ci, test, float(p), float(p2), min_effect, alpha, regressions, fixes,
    )  # fmt: skip
