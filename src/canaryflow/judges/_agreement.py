"""How well the judge agrees with people, per dimension, with bootstrap confidence intervals.

Statistics (on items a human labelled, paired with the judge's score at labelling time):

* quadratic-weighted Cohen's kappa (``sklearn.metrics.cohen_kappa_score``; Cohen 1968): chance-
  corrected agreement that counts a 4-vs-5 disagreement as smaller than 1-vs-5;
* Spearman's rho (``scipy.stats.spearmanr``): do judge and human rank items the same way;
* exact agreement: share of items with the same score.

Intervals are percentile bootstrap intervals over items (``scipy.stats.bootstrap``, paired,
seeded). A judge median of an even number of samples can be a half score; it is rounded half up
for kappa and exact agreement, which need categories. Statistics that are undefined (fewer than
two items, a constant column) are None rather than a number that looks like one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from sklearn.metrics import cohen_kappa_score

__all__ = ["DimensionAgreement", "agreement"]


@dataclass(frozen=True)
class DimensionAgreement:
    """Judge-human agreement on one dimension."""

    dimension: str
    n: int
    exact: float | None
    exact_ci: tuple[float, float] | None
    kappa: float | None
    """Quadratic-weighted Cohen's kappa."""
    kappa_ci: tuple[float, float] | None
    spearman: float | None
    spearman_ci: tuple[float, float] | None


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def _kappa(judge: np.ndarray, human: np.ndarray) -> float:
    labels = sorted(set(judge.tolist()) | set(human.tolist()))
    if len(labels) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(judge, human, weights="quadratic", labels=labels))


def _spearman(judge: np.ndarray, human: np.ndarray) -> float:
    if len(set(judge.tolist())) < 2 or len(set(human.tolist())) < 2:
        return float("nan")
    return float(stats.spearmanr(judge, human).statistic)


def _exact(judge: np.ndarray, human: np.ndarray) -> float:
    return float(np.mean(judge == human))


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _ci(
    fn: Any, judge: np.ndarray, human: np.ndarray, seed: int, n: int
) -> tuple[float, float] | None:
    if len(judge) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap(
            (judge, human),
            lambda a, b: fn(a, b),
            paired=True,
            vectorized=False,
            n_resamples=n,
            method="percentile",
            confidence_level=0.95,
            rng=np.random.default_rng(seed),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return (low, high)


def agreement(
    labels: Sequence[Mapping[str, Any]],
    *,
    dimensions: Sequence[str] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> list[DimensionAgreement]:
    """Agreement per dimension over labelled items.

    Args:
        labels: rows with ``human_scores`` and ``judge_scores`` dicts (``Store.list_judge_labels``).
        dimensions: which dimensions (default: every one a human scored).
        n_resamples: bootstrap resamples.
        seed: bootstrap seed (the intervals are reproducible).
    """
    names = list(dimensions or dict.fromkeys(d for r in labels for d in r["human_scores"]))
    out = []
    for d in names:
        pairs = [
            (_round(float(r["judge_scores"][d])), int(r["human_scores"][d]))
            for r in labels
            if d in r["human_scores"] and r["judge_scores"].get(d) is not None
        ]
        judge = np.array([p[0] for p in pairs], dtype=int)
        human = np.array([p[1] for p in pairs], dtype=int)
        if len(pairs) == 0:
            out.append(DimensionAgreement(d, 0, None, None, None, None, None, None))
            continue
        out.append(
            DimensionAgreement(
                dimension=d,
                n=len(pairs),
                exact=_exact(judge, human),
                exact_ci=_ci(_exact, judge, human, seed, n_resamples),
                kappa=_finite(_kappa(judge, human)) if len(pairs) > 1 else None,
                kappa_ci=_ci(_kappa, judge, human, seed, n_resamples),
                spearman=_finite(_spearman(judge, human)) if len(pairs) > 2 else None,
                spearman_ci=_ci(_spearman, judge, human, seed, n_resamples),
            )
        )
    return out
