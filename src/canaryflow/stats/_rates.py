"""Pass/error/refusal rates: Wilson intervals, one-sided drop tests, power, verdicts and FDR.

When the baseline rate is itself a sample, compare two binomial samples with a one-sided exact
test: Fisher's (conditional) or Boschloo's (unconditional, uniformly more powerful), both from
scipy. The exact binomial test is offered only against a *fixed* target rate: using an estimated
p0 = 50/50 = 1.0 makes any single failure significant. Small canary sets have little power, so
the verdict is "inconclusive", not "pass", when a meaningful drop could have gone unnoticed.

References: Brown, Cai & DasGupta (2001) for Wilson intervals; Fisher (1935); Boschloo (1970);
Benjamini & Hochberg (1995) for the false discovery rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from scipy import stats

from canaryflow.errors import StatsError
from canaryflow.stats._validate import count, probability

__all__ = [
    "Interval",
    "RateTestResult",
    "RateVerdict",
    "bh_adjust",
    "bh_reject",
    "rate_drop_power",
    "rate_drop_test",
    "rate_verdict",
    "wilson_interval",
]

RateMethod = Literal["fisher", "boschloo", "binomial"]
Verdict = Literal["regression", "pass", "inconclusive"]


class Interval(NamedTuple):
    """A confidence interval."""

    low: float
    high: float
    confidence: float


def _successes(successes: int, n: int, what: str) -> tuple[int, int]:
    n = count(n, f"{what}_n" if what else "n", minimum=1)
    k = count(successes, f"{what}_successes" if what else "successes")
    if k > n:
        raise StatsError(f"{what or 'current'} successes={k} exceed n={n}")
    return k, n


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion (Brown, Cai & DasGupta 2001).

    Identical to ``scipy.stats.binomtest(successes, n).proportion_ci(confidence, "wilson")``.

    Args:
        successes: Number of successes.
        n: Number of trials (>= 1).
        confidence: Confidence level in (0, 1).

    Returns:
        The :class:`Interval`.
    """
    k, n = _successes(successes, n, "")
    confidence = probability(confidence, "confidence")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(float(ci.low), float(ci.high), confidence)


@dataclass(frozen=True, slots=True)
class RateTestResult:
    """One-sided test that the current rate dropped below the baseline (or a fixed target).

    Attributes:
        method: ``"fisher"``, ``"boschloo"`` or ``"binomial"``.
        p_value: One-sided p-value for "the current rate is lower".
        baseline_rate: Baseline rate (sample estimate, or the fixed target for "binomial").
        current_rate: Current sample rate.
        difference: ``current_rate - baseline_rate``.
        baseline_successes: Baseline successes (None for "binomial").
        baseline_n: Baseline trials (None for "binomial").
        successes: Current successes.
        n: Current trials.
        current_ci: 95 % Wilson interval of the current rate.
        baseline_ci: 95 % Wilson interval of the baseline rate (None for "binomial").
    """

    method: RateMethod
    p_value: float
    baseline_rate: float
    current_rate: float
    difference: float
    baseline_successes: int | None
    baseline_n: int | None
    successes: int
    n: int
    current_ci: Interval
    baseline_ci: Interval | None


def rate_drop_test(
    baseline_successes: int | None,
    baseline_n: int | None,
    successes: int,
    n: int,
    method: RateMethod = "fisher",
    *,
    p0: float | None = None,
) -> RateTestResult:
    """One-sided exact test that a success rate dropped.

    Args:
        baseline_successes: Successes in the baseline sample (ignored for "binomial").
        baseline_n: Trials in the baseline sample (ignored for "binomial").
        successes: Successes now.
        n: Trials now.
        method: "fisher" (default), "boschloo" (more powerful, slower) or "binomial" (only
            against a fixed target ``p0``).
        p0: Fixed target rate for "binomial".

    Returns:
        The :class:`RateTestResult`; e.g. 49/50 -> 45/50 gives Fisher p = 0.1022.
    """
    k, n = _successes(successes, n, "current")
    if method == "binomial":
        if p0 is None:
            raise StatsError(
                "method='binomial' tests against a fixed target rate: pass p0=. When the "
                "baseline rate is itself a sample use method='fisher' or 'boschloo'"
            )
        target = probability(p0, "p0", open_interval=False)
        p = stats.binomtest(k, n, target, alternative="less").pvalue
        return RateTestResult(
            "binomial", float(p), target, k / n, k / n - target, None, None, k, n,
            wilson_interval(k, n), None,
        )  # fmt: skip
    if method not in ("fisher", "boschloo"):
        raise StatsError(f"method must be 'fisher', 'boschloo' or 'binomial', got {method!r}")
    if baseline_successes is None or baseline_n is None:
        raise StatsError(f"method={method!r} needs baseline_successes and baseline_n")
    k0, n0 = _successes(baseline_successes, baseline_n, "baseline")
    table = np.array([[k, n - k], [k0, n0 - k0]])
    if method == "fisher":
        p = stats.fisher_exact(table, alternative="less").pvalue
    else:
        p = stats.boschloo_exact(table, alternative="less").pvalue
    return RateTestResult(
        method, float(min(1.0, p)), k0 / n0, k / n, k / n - k0 / n0, k0, n0, k, n,
        wilson_interval(k, n), wilson_interval(k0, n0),
    )  # fmt: skip


def _support(n: int, p: float, tail: float = 1e-12) -> np.ndarray:
    lo, hi = stats.binom.ppf(tail, n, p), stats.binom.ppf(1 - tail, n, p)
    return np.arange(int(max(lo - 1, 0)), int(min(hi + 1, n)) + 1)


def rate_drop_power(
    p0: float,
    p1: float,
    baseline_n: int | None,
    n: int,
    alpha: float = 0.05,
    method: RateMethod = "fisher",
) -> float:
    """Exact power of :func:`rate_drop_test` to detect a drop from ``p0`` to ``p1``.

    For "fisher" the baseline is a Bin(baseline_n, p0) sample and the current a Bin(n, p1)
    sample; power sums their joint probability over the outcomes the one-sided Fisher test
    rejects (vectorised through the hypergeometric cdf). For "binomial" p0 is a fixed target.
    "boschloo" is uniformly more powerful than Fisher; its power is reported as Fisher's, a
    lower bound (computing it exactly is too slow for a per-run report).

    Args:
        p0: Baseline (or target) rate.
        p1: Rate after the drop.
        baseline_n: Baseline trials (not used for "binomial").
        n: Current trials.
        alpha: One-sided significance level.
        method: As in :func:`rate_drop_test`.

    Returns:
        The probability of a significant result.
    """
    p0 = probability(p0, "p0", open_interval=False)
    p1 = probability(p1, "p1", open_interval=False)
    alpha = probability(alpha, "alpha")
    n = count(n, "n", minimum=1)
    if method == "binomial":
        ks = np.arange(n + 1)
        reject = stats.binom.cdf(ks, n, p0) <= alpha
        return float(stats.binom.pmf(ks[reject], n, p1).sum())
    if method not in ("fisher", "boschloo"):
        raise StatsError(f"method must be 'fisher', 'boschloo' or 'binomial', got {method!r}")
    if baseline_n is None:
        raise StatsError(f"method={method!r} needs baseline_n")
    n0 = count(baseline_n, "baseline_n", minimum=1)
    k0 = _support(n0, p0)[:, None]
    k1 = _support(n, p1)[None, :]
    # Fisher 'less' p-value: P(X <= k1) with X ~ Hypergeom(n0 + n, k0 + k1, n).
    pvals = stats.hypergeom.cdf(k1, n0 + n, k0 + k1, n)
    weight = stats.binom.pmf(k0, n0, p0) * stats.binom.pmf(k1, n, p1)
    return float(min(1.0, weight[pvals <= alpha].sum()))


@dataclass(frozen=True, slots=True)
class RateVerdict:
    """Decision on a rate: regression, pass, or inconclusive when power is too low.

    Attributes:
        verdict: "regression" (significant drop), "pass" (no drop and enough power to have seen
            a ``min_drop``), or "inconclusive" (no significant drop, but too little power).
        test: The underlying :class:`RateTestResult`.
        power: Power to detect a drop of ``min_drop`` from the baseline rate at ``alpha``.
        min_drop: The smallest drop that matters (absolute rate).
        alpha: Significance level.
        min_power: Power required for "pass".
    """

    verdict: Verdict
    test: RateTestResult
    power: float
    min_drop: float
    alpha: float
    min_power: float


def rate_verdict(
    baseline_successes: int,
    baseline_n: int,
    successes: int,
    n: int,
    *,
    min_drop: float = 0.05,
    alpha: float = 0.05,
    min_power: float = 0.8,
    method: RateMethod = "fisher",
    p0: float | None = None,
) -> RateVerdict:
    """Test a rate drop and say whether "no significant drop" means anything.

    Args:
        baseline_successes: Baseline successes.
        baseline_n: Baseline trials.
        successes: Current successes.
        n: Current trials.
        min_drop: Minimal meaningful drop (absolute, e.g. 0.05 = five points).
        alpha: One-sided significance level.
        min_power: Power needed to call a non-significant result a "pass".
        method: As in :func:`rate_drop_test`.
        p0: Fixed target for method "binomial".

    Returns:
        The :class:`RateVerdict`.
    """
    if not 0 < min_drop < 1:
        raise StatsError(f"min_drop must be in (0, 1), got {min_drop!r}")
    test = rate_drop_test(baseline_successes, baseline_n, successes, n, method, p0=p0)
    base = test.baseline_rate
    power = rate_drop_power(base, max(0.0, base - min_drop), test.baseline_n, n, alpha, method)
    if test.p_value < alpha:
        verdict: Verdict = "regression"
    elif power < min_power:
        verdict = "inconclusive"
    else:
        verdict = "pass"
    return RateVerdict(verdict, test, power, min_drop, alpha, min_power)


def bh_adjust(pvalues: object) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``).

    Args:
        pvalues: One p-value per subject (probe, feature...), each in [0, 1].

    Returns:
        Adjusted p-values in the input order.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise StatsError(f"pvalues must be a non-empty 1-D sequence, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise StatsError("pvalues must all be finite and in [0, 1]")
    return np.asarray(stats.false_discovery_control(p, method="bh"))


def bh_reject(pvalues: object, q: float = 0.05) -> np.ndarray:
    """Which hypotheses the Benjamini–Hochberg procedure rejects at false discovery rate q."""
    q = probability(q, "q")
    return bh_adjust(pvalues) <= q
