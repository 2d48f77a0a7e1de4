"""Kernel two-sample test (MMD) for drift of embedded inputs or outputs.

Unbiased MMD²_u with a Gaussian kernel (Gretton et al. 2012, JMLR 13:723–773, Lemma 6), kernel
size by the median heuristic on the baseline, and a permutation test in which the pooled kernel
matrix is computed once and all B permutations are evaluated by one (B x N)(N x N) matrix
product: with indicator rows ``a`` of the first sample and ``K`` with a zeroed diagonal,
``a'Ka``, ``a'K1`` and ``1'K1`` give all three terms. The p-value is (1 + #{perm >= obs})/(1 + B),
never 0 (Phipson & Smyth 2010). Above ``max_n`` per side either a random subsample is tested or
the kernel is approximated by random Fourier features (Rahimi & Recht 2007).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from canaryflow.errors import StatsError
from canaryflow.stats._validate import count, finite_matrix, positive_scalar, probability

__all__ = ["MMDResult", "median_bandwidth", "mmd2_unbiased", "mmd_test"]

Method = Literal["exact", "subsampled", "rff"]


@dataclass(frozen=True, slots=True)
class MMDResult:
    """Result of :func:`mmd_test`.

    Attributes:
        mmd2: Unbiased MMD² between baseline and current.
        p_value: Permutation p-value, (1 + #{perm >= obs}) / (1 + permutations).
        bandwidth: Gaussian kernel sigma, k(x, y) = exp(-|x - y|² / (2 sigma²)).
        permutations: Number of permutations B.
        n: Baseline sample size used.
        m: Current sample size used.
        drift: ``p_value < alpha``.
        alpha: Significance level.
        method: "exact" (all points), "subsampled" (<= max_n per side) or "rff".
        centroid_cosine: Cosine similarity of the two sample means (context only).
        null_quantile: (1 - alpha) quantile of the permutation distribution.
        n_total: Baseline size before subsampling.
        m_total: Current size before subsampling.
    """

    mmd2: float
    p_value: float
    bandwidth: float
    permutations: int
    n: int
    m: int
    drift: bool
    alpha: float
    method: Method
    centroid_cosine: float
    null_quantile: float
    n_total: int
    m_total: int


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def median_bandwidth(baseline: np.ndarray) -> float:
    """Median heuristic: sigma = sqrt(median pairwise squared distance / 2) on the baseline.

    Then ``k = exp(-d² / median d²)`` (Gretton et al. 2012; alibi-detect uses the same sigma).
    Falls back to the mean non-zero squared distance when over half the pairs coincide.
    """
    x = finite_matrix(baseline, "baseline")
    d2 = _sq_dists(x, x)[np.triu_indices(x.shape[0], k=1)]
    med = float(np.median(d2))
    if med <= 0:
        nz = d2[d2 > 0]
        if nz.size == 0:
            raise StatsError("every baseline point is identical: the kernel size is undefined")
        med = float(nz.mean())
    return float(np.sqrt(med / 2.0))


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Unbiased MMD²_u with a Gaussian kernel (Gretton et al. 2012, eq. 3).

    Args:
        x: First sample, shape (n, d), n >= 2.
        y: Second sample, shape (m, d), m >= 2.
        bandwidth: Kernel sigma.

    Returns:
        ``sum_{i!=j} k(x_i,x_j)/(n(n-1)) + sum_{i!=j} k(y_i,y_j)/(m(m-1)) - 2 mean k(x_i,y_j)``.
    """
    x, y = _check_pair(x, y)
    gamma = 1.0 / (2.0 * positive_scalar(bandwidth, "bandwidth") ** 2)
    n, m = x.shape[0], y.shape[0]
    kxx, kyy = np.exp(-gamma * _sq_dists(x, x)), np.exp(-gamma * _sq_dists(y, y))
    kxy = np.exp(-gamma * _sq_dists(x, y))
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def _check_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = finite_matrix(x, "baseline")
    y = finite_matrix(y, "current")
    if x.shape[1] != y.shape[1]:
        raise StatsError(
            f"baseline and current have different dimensions ({x.shape[1]} vs {y.shape[1]}); "
            "were they embedded with the same embedder?"
        )
    return x, y


def _perm_stats(kern: np.ndarray, n: int, perms: np.ndarray) -> np.ndarray:
    """MMD²_u for each split; ``kern`` has a zero diagonal, ``perms`` is (B, N) 0/1 rows."""
    big_n = kern.shape[0]
    m = big_n - n
    row = kern.sum(axis=1)
    total = row.sum()
    ka = perms @ kern  # the one (B x N)(N x N) product
    aka = np.einsum("ij,ij->i", ka, perms)
    ak1 = perms @ row
    bkb = total - 2.0 * ak1 + aka
    akb = ak1 - aka
    return aka / (n * (n - 1)) + bkb / (m * (m - 1)) - 2.0 * akb / (n * m)


def _rff_stats(feats: np.ndarray, n: int, perms: np.ndarray) -> np.ndarray:
    """MMD²_u on random Fourier features: k(x,y) ~ phi(x).phi(y), O(B N D) with no N x N matrix."""
    big_n = feats.shape[0]
    m = big_n - n
    diag = (feats * feats).sum(1)  # phi(x).phi(x), removed as the unbiased estimator requires
    tot = feats.sum(0)
    sa = perms @ feats  # (B, D) sums over the first sample
    sb = tot[None, :] - sa
    da = perms @ diag
    db = diag.sum() - da
    xx = ((sa * sa).sum(1) - da) / (n * (n - 1))
    yy = ((sb * sb).sum(1) - db) / (m * (m - 1))
    return xx + yy - 2.0 * (sa * sb).sum(1) / (n * m)


def _indicator_rows(rng: np.random.Generator, big_n: int, n: int, b: int) -> np.ndarray:
    """(b + 1, N) 0/1 matrix; row 0 is the observed split, rows 1.. are random permutations."""
    keys = rng.random((b, big_n))
    chosen = np.argpartition(keys, n - 1, axis=1)[:, :n]
    rows = np.zeros((b + 1, big_n))
    rows[0, :n] = 1.0
    rows[np.arange(1, b + 1)[:, None], chosen] = 1.0
    return rows


def mmd_test(
    baseline: np.ndarray,
    current: np.ndarray,
    *,
    permutations: int = 1000,
    alpha: float = 0.01,
    rng: np.random.Generator | None = None,
    max_n: int = 1000,
    large: Literal["subsample", "rff"] = "subsample",
    rff_features: int = 512,
    bandwidth: float | None = None,
) -> MMDResult:
    """Permutation test of "baseline and current come from the same distribution".

    Args:
        baseline: Baseline sample, shape (n, d) (a 1-D array is one feature); n >= 2.
        current: Current sample, shape (m, d); m >= 2.
        permutations: Number of permutations B (>= 19).
        alpha: Significance level for ``drift`` (DESIGN default 0.01).
        rng: Random generator; None uses a fixed seed (0) so a report is reproducible.
        max_n: Per-side size above which ``large`` applies.
        large: "subsample" (test a random ``max_n`` per side) or "rff" (random Fourier
            features on all points).
        rff_features: Number of random Fourier features for "rff".
        bandwidth: Kernel sigma; None uses :func:`median_bandwidth` on the (used) baseline.

    Returns:
        The frozen :class:`MMDResult`.
    """
    x, y = _check_pair(baseline, current)
    b = count(permutations, "permutations", minimum=19)
    alpha = probability(alpha, "alpha")
    max_n = count(max_n, "max_n", minimum=2)
    rng = np.random.default_rng(0) if rng is None else rng
    n_total, m_total = x.shape[0], y.shape[0]
    method: Method = "exact"
    if max(n_total, m_total) > max_n:
        if large == "subsample":
            method = "subsampled"
            if n_total > max_n:
                x = x[rng.choice(n_total, max_n, replace=False)]
            if m_total > max_n:
                y = y[rng.choice(m_total, max_n, replace=False)]
        elif large == "rff":
            method = "rff"
        else:
            raise StatsError(f"large must be 'subsample' or 'rff', got {large!r}")
    sigma = (
        median_bandwidth(x[:max_n])
        if bandwidth is None
        else positive_scalar(bandwidth, "bandwidth")
    )
    n, m = x.shape[0], y.shape[0]
    z = np.vstack([x, y])
    rows = _indicator_rows(rng, n + m, n, b)
    if method == "rff":
        dim = count(rff_features, "rff_features", minimum=16)
        w = rng.standard_normal((z.shape[1], dim)) / sigma
        phase = rng.uniform(0.0, 2.0 * np.pi, dim)
        feats = np.sqrt(2.0 / dim) * np.cos(z @ w + phase)
        values = _rff_stats(feats, n, rows)
    else:
        kern = np.exp(-_sq_dists(z, z) / (2.0 * sigma * sigma))
        np.fill_diagonal(kern, 0.0)
        values = _perm_stats(kern, n, rows)
    obs, null = float(values[0]), values[1:]
    # Tolerance so that permutations equal to the observed split up to rounding count as ties.
    exceed = int(np.count_nonzero(null >= obs - 1e-12 * max(1.0, abs(obs))))
    p_value = (1 + exceed) / (1 + b)
    mx, my = x.mean(0), y.mean(0)
    denom = float(np.linalg.norm(mx) * np.linalg.norm(my))
    cosine = float(mx @ my / denom) if denom > 0 else float("nan")
    return MMDResult(
        mmd2=obs,
        p_value=p_value,
        bandwidth=sigma,
        permutations=b,
        n=n,
        m=m,
        drift=p_value < alpha,
        alpha=alpha,
        method=method,
        centroid_cosine=cosine,
        null_quantile=float(np.quantile(null, 1 - alpha)),
        n_total=n_total,
        m_total=m_total,
    )
