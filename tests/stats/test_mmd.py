"""MMD permutation test: exactness, validity (FPR), power and input checks (statistics.md §6.7)."""

from __future__ import annotations

import numpy as np
import pytest

from canaryflow.embeddings import TopicClusters
from canaryflow.errors import StatsError
from canaryflow.stats import median_bandwidth, mmd2_unbiased, mmd_test


def _naive_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * sigma * sigma))

    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return sxx + syy - 2 * sxy


def test_mmd2_unbiased_equals_naive_loop() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 5)), rng.normal(0.3, 1.0, size=(25, 5))
    sigma = median_bandwidth(x)
    naive = _naive_mmd2(x, y, sigma)
    assert abs(mmd2_unbiased(x, y, sigma) - naive) < 1e-12
    res = mmd_test(x, y, permutations=99, rng=rng, alpha=0.05)
    assert abs(res.mmd2 - naive) < 1e-12 and res.bandwidth == sigma


def test_permutation_matrix_statistics_equal_direct_computation() -> None:
    from canaryflow.stats._mmd import _indicator_rows, _perm_stats, _sq_dists

    rng = np.random.default_rng(2)
    z = rng.normal(size=(20, 3))
    kern = np.exp(-_sq_dists(z, z) / 2.0)
    np.fill_diagonal(kern, 0.0)
    rows = _indicator_rows(rng, 20, 8, 5)
    fast = _perm_stats(kern, 8, rows)
    for row, value in zip(rows, fast, strict=True):
        a = row.astype(bool)
        assert value == pytest.approx(mmd2_unbiased(z[a], z[~a], 1.0), abs=1e-12)


def test_p_value_is_never_zero_and_result_is_complete() -> None:
    rng = np.random.default_rng(3)
    res = mmd_test(rng.normal(size=(50, 4)), rng.normal(3.0, 1.0, size=(60, 4)),
                   permutations=200, rng=rng)  # fmt: skip
    assert res.p_value == pytest.approx(1 / 201) and res.drift
    assert (res.n, res.m, res.permutations, res.method) == (50, 60, 200, "exact")
    assert res.mmd2 > res.null_quantile and -1 <= res.centroid_cosine <= 1
    with pytest.raises(AttributeError):
        res.p_value = 0.5  # type: ignore[misc]


def test_default_rng_is_reproducible() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    assert mmd_test(x, y) == mmd_test(x, y)


def test_large_inputs_are_subsampled_or_use_rff() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(1500, 8)), rng.normal(0.2, 1.0, size=(1200, 8))
    sub = mmd_test(x, y, permutations=100, rng=rng, max_n=400)
    assert sub.method == "subsampled" and (sub.n, sub.m) == (400, 400)
    assert (sub.n_total, sub.m_total) == (1500, 1200)
    rff = mmd_test(x, y, permutations=100, rng=rng, max_n=400, large="rff")
    assert rff.method == "rff" and (rff.n, rff.m) == (1500, 1200) and rff.drift


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), "different dimensions"),
        (np.ones((1, 3)), np.zeros((5, 3)), "at least 2"),
        (np.array([[0.0, np.nan], [1, 1]]), np.zeros((5, 2)), "NaN"),
        (np.zeros((5, 2)), np.full((5, 2), np.inf), "NaN"),
        (np.zeros((4, 2)), np.ones((4, 2)), "identical"),
        (np.zeros((2, 2, 2)), np.zeros((4, 2)), "2-D"),
    ],
)
def test_bad_input_raises(x, y, match) -> None:
    with pytest.raises(StatsError, match=match):
        mmd_test(x, y, permutations=50)


def _rejection_rate(n: int, reps: int, new_style: float, seed: int, b: int = 200) -> float:
    rng = np.random.default_rng(seed)
    gen = TopicClusters(np.random.default_rng(20240611))
    hits = 0
    for _ in range(reps):
        res = mmd_test(gen.sample(n, rng), gen.sample(n, rng, new_style=new_style),
                       permutations=b, alpha=0.05, rng=rng)  # fmt: skip
        hits += res.drift
    return hits / reps


@pytest.mark.parametrize("n", [100, 200])
def test_false_positive_rate_at_alpha_005(n: int) -> None:
    assert 0.025 <= _rejection_rate(n, 400, 0.0, seed=n) <= 0.08


@pytest.mark.slow
def test_false_positive_rate_at_alpha_005_n500() -> None:
    assert 0.025 <= _rejection_rate(500, 400, 0.0, seed=500) <= 0.08


@pytest.mark.slow
def test_power_for_ten_percent_new_style_at_n500() -> None:
    assert _rejection_rate(500, 60, 0.10, seed=9) >= 0.9
