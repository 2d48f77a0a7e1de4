"""Rates: test vectors of statistics.md §5, Wilson equality, power, verdicts, BH."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from canaryflow.errors import StatsError
from canaryflow.stats import (
    bh_adjust,
    bh_reject,
    rate_drop_power,
    rate_drop_test,
    rate_verdict,
    wilson_interval,
)

VECTORS = [  # baseline -> current, Fisher, Boschloo, Wilson of current
    ((49, 50, 45, 50), 0.1022, 0.0557, (0.786, 0.957)),
    ((98, 100, 7, 10), 0.0050, 0.0020, (0.397, 0.892)),
    ((490, 500, 18, 20), 0.0736, 0.0472, (0.699, 0.972)),
]


@pytest.mark.parametrize(("counts", "fisher", "boschloo", "wilson"), VECTORS)
def test_published_vectors(counts, fisher, boschloo, wilson) -> None:
    f = rate_drop_test(*counts)
    assert f.p_value == pytest.approx(fisher, abs=5e-5)
    assert f.method == "fisher" and f.difference < 0
    assert rate_drop_test(*counts, method="boschloo").p_value == pytest.approx(boschloo, abs=5e-5)
    assert f.current_ci.low == pytest.approx(wilson[0], abs=5e-4)
    assert f.current_ci.high == pytest.approx(wilson[1], abs=5e-4)


@pytest.mark.parametrize(
    ("k", "n", "conf"), list(itertools.product([0, 1, 7, 19, 20], [20, 50], [0.8, 0.95, 0.99]))
)
def test_wilson_equals_scipy(k: int, n: int, conf: float) -> None:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
    ours = wilson_interval(k, n, conf)
    assert abs(ours.low - ci.low) <= 1e-12 and abs(ours.high - ci.high) <= 1e-12


def test_binomial_requires_a_fixed_target() -> None:
    with pytest.raises(StatsError, match="fixed target"):
        rate_drop_test(50, 50, 49, 50, method="binomial")
    r = rate_drop_test(None, None, 17, 20, method="binomial", p0=0.95)
    assert r.p_value == pytest.approx(stats.binomtest(17, 20, 0.95, alternative="less").pvalue)


def test_power_matches_statistics_md() -> None:
    # 0.95 -> 0.85, alpha 0.05: exact binomial 0.35 at n=20, 0.94 at n=100; Fisher vs 500: 0.37
    assert rate_drop_power(0.95, 0.85, None, 20, method="binomial") == pytest.approx(0.35, abs=0.01)
    assert rate_drop_power(0.95, 0.85, None, 100, method="binomial") == pytest.approx(
        0.94, abs=0.01
    )
    assert rate_drop_power(0.95, 0.85, 500, 20) == pytest.approx(0.37, abs=0.01)
    assert rate_drop_power(0.95, 0.85, 500, 100) == pytest.approx(0.91, abs=0.01)


def test_fisher_power_agrees_with_simulation_of_the_test() -> None:
    rng = np.random.default_rng(1)
    k0 = rng.binomial(200, 0.9, 400)
    k1 = rng.binomial(30, 0.75, 400)
    rejected = np.mean(
        [rate_drop_test(a, 200, b, 30).p_value <= 0.05 for a, b in zip(k0, k1, strict=True)]
    )
    assert rejected == pytest.approx(rate_drop_power(0.9, 0.75, 200, 30), abs=0.07)


def test_verdicts() -> None:
    assert rate_verdict(98, 100, 7, 10).verdict == "regression"
    small = rate_verdict(49, 50, 48, 50, min_drop=0.05)
    assert small.verdict == "inconclusive" and small.power < 0.8
    big = rate_verdict(4900, 5000, 1960, 2000, min_drop=0.05)
    assert big.verdict == "pass" and big.power >= 0.8


def test_bh_with_50_in_control_probes() -> None:
    """statistics.md §5: P(any alarm) 0.54 unadjusted, about 0.02 with BH."""
    rng = np.random.default_rng(2)
    any_raw, any_bh = [], []
    for _ in range(300):
        k0 = rng.binomial(200, 0.95, 50)
        k1 = rng.binomial(20, 0.95, 50)
        p = np.array([rate_drop_test(a, 200, b, 20).p_value for a, b in zip(k0, k1, strict=True)])
        any_raw.append((p < 0.05).any())
        any_bh.append(bh_reject(p, 0.05).any())
    assert np.mean(any_bh) <= 0.05
    assert np.mean(any_raw) > 0.3


def test_bh_adjust_equals_scipy_and_validates() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    assert np.allclose(bh_adjust(p), stats.false_discovery_control(p))
    assert bh_reject(p, 0.05).tolist() == [True, False, False, False]
    for bad in ([], [0.1, np.nan], [1.2], [[0.1]]):
        with pytest.raises(StatsError):
            bh_adjust(bad)


@pytest.mark.parametrize(
    "args", [(50, 50, 51, 50), (50, 0, 1, 10), (-1, 50, 1, 10), (10.5, 50, 1, 10), (1, 5, 1, 0)]
)
def test_bad_counts_raise(args) -> None:
    with pytest.raises(StatsError):
        rate_drop_test(*args)


def test_unknown_method_raises() -> None:
    with pytest.raises(StatsError):
        rate_drop_test(1, 2, 1, 2, method="chi2")  # type: ignore[arg-type]
