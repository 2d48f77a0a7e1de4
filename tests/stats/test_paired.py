"""Paired golden-set comparisons: exact McNemar, Wilcoxon, bootstrap, verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from canaryflow.errors import StatsError
from canaryflow.stats import (
    mcnemar_exact,
    paired_bootstrap_ci,
    paired_verdict,
    wilcoxon_signed_rank,
)


def test_mcnemar_exact_is_binomial_on_discordant_pairs() -> None:
    r = mcnemar_exact(9, 1)
    assert r.p_regression == pytest.approx(11 / 1024)
    assert r.p_two_sided == pytest.approx(22 / 1024)
    assert r.n_discordant == 10
    assert mcnemar_exact(0, 0).p_regression == 1.0
    assert mcnemar_exact(1, 9).p_regression > 0.99


def test_wilcoxon_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(4, 1, 40)
    y = x + rng.normal(-0.4, 0.5, 40)
    r = wilcoxon_signed_rank(x, y)
    assert r.p_two_sided == pytest.approx(stats.wilcoxon(y - x, zero_method="pratt").pvalue)
    assert r.p_regression < 0.01
    assert wilcoxon_signed_rank([1, 2, 3], [1, 2, 3]).p_regression == 1.0


def test_bootstrap_ci_is_reproducible_and_covers() -> None:
    x = np.arange(50.0)
    y = x + np.random.default_rng(0).normal(0.5, 1, 50)
    a = paired_bootstrap_ci(x, y, rng=np.random.default_rng(1))
    b = paired_bootstrap_ci(x, y, rng=np.random.default_rng(1))
    assert a == b and a.low < a.estimate < a.high and a.low < 0.5 < a.high + 0.3


def test_paired_verdicts_binary() -> None:
    base = np.ones(100, dtype=int)
    cand = base.copy()
    cand[:12] = 0  # 12 items flipped to fail
    v = paired_verdict(base, cand, rng=np.random.default_rng(2))
    assert v.kind == "binary" and v.verdict == "regression" and v.regressions == 12
    assert v.effect == pytest.approx(-0.12) and v.ci.high < 0
    same = paired_verdict(np.ones(400), np.ones(400), rng=np.random.default_rng(3))
    assert same.verdict == "pass"
    few = paired_verdict([1, 1, 0, 1, 1], [1, 0, 0, 1, 1], rng=np.random.default_rng(4))
    assert few.verdict == "inconclusive"


def test_paired_verdict_scores() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(3, 6, 200).astype(float)
    v = paired_verdict(x, x - (rng.random(200) < 0.3), rng=rng, min_effect=0.1)
    assert v.kind == "score" and v.test == "wilcoxon" and v.verdict == "regression"


@pytest.mark.parametrize(
    ("a", "b"), [([1.0, 2.0], [1.0]), ([1.0, np.nan], [1.0, 2.0]), ([], []), ([1.0], [1.0])]
)
def test_bad_pairs_raise(a, b) -> None:
    with pytest.raises(StatsError):
        paired_verdict(a, b, rng=np.random.default_rng(0))
