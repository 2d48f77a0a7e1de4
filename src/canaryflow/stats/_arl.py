"""Average run lengths of EWMA and CUSUM charts by the integral-equation method.

The in-control average run length (ARL0) of a chart is its false-alarm rate in "observations
between false alarms"; the out-of-control ARL1 is its detection delay. Both solve a Fredholm
integral equation of the second kind in the chart statistic's starting value, which we solve by
the Nyström method with Gauss–Legendre nodes (Crowder 1987, Technometrics 29:401–407; the method
behind the Lucas & Saccucci 1990 EWMA tables). For the tabular CUSUM the reflecting barrier at 0
adds a point mass, handled as one more unknown (Goel & Wu 1971; Lucas & Crosier 1982 Table 1).

All functions assume N(mu0 + shift*sigma, sigma^2) observations, fixed (asymptotic) limits and a
zero-state start, which is what the published tables assume. Results are cached: the flows ask
for the same designs on every run.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize, stats

from canaryflow.errors import StatsError
from canaryflow.stats._validate import finite_scalar, positive_scalar

__all__ = ["cusum_arl", "ewma_L", "ewma_arl"]

_NODES = 200


@lru_cache(maxsize=16)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return nodes, weights


def _ewma_arl_batch(
    lam: float, half_widths: np.ndarray, shifts: np.ndarray, nodes: int
) -> np.ndarray:
    """Zero-state ARLs of fixed-limit two-sided EWMA charts, one per (half_width, shift) pair.

    ``half_widths`` are the limits of the EWMA statistic in sigma units (L*sqrt(lam/(2-lam)) for
    the standard chart). The linear systems are solved as one batch, so estimated-parameter
    calibrations can evaluate hundreds of designs at once.
    """
    x, w = _gauss_legendre(nodes)
    c = np.asarray(half_widths, dtype=np.float64)[:, None]  # (B, 1)
    d = np.asarray(shifts, dtype=np.float64)[:, None, None]  # (B, 1, 1)
    y = c * x[None, :]  # nodes on [-c, c], (B, N)
    wy = c * w[None, :]
    # K[b, i, j] = w_j / lam * phi((y_j - (1 - lam) y_i) / lam - shift)
    arg = (y[:, None, :] - (1.0 - lam) * y[:, :, None]) / lam - d
    kern = wy[:, None, :] / lam * np.exp(-0.5 * arg * arg) / np.sqrt(2.0 * np.pi)
    eye = np.eye(nodes)[None, :, :]
    arl_nodes = np.linalg.solve(eye - kern, np.ones((len(c), nodes, 1)))[..., 0]
    arg0 = y / lam - d[:, :, 0]
    k0 = wy / lam * np.exp(-0.5 * arg0 * arg0) / np.sqrt(2.0 * np.pi)
    return 1.0 + np.sum(k0 * arl_nodes, axis=1)


def _check_lam(lam: float) -> float:
    lam = finite_scalar(lam, "lam")
    if not 0 < lam <= 1:
        raise StatsError(f"lam (the EWMA smoothing constant) must be in (0, 1], got {lam!r}")
    return lam


@lru_cache(maxsize=4096)
def ewma_arl(lam: float, L: float, shift: float = 0.0) -> float:  # noqa: N803
    """Zero-state ARL of a two-sided EWMA chart with fixed limits.

    The chart is ``z_i = (1 - lam) z_{i-1} + lam x_i``, ``z_0 = mu0``, signalling when
    ``|z_i - mu0| > L sigma sqrt(lam / (2 - lam))``. Solved by Gauss–Legendre Nyström (Crowder
    1987) with 200 nodes; this reproduces the Lucas & Saccucci (1990) tables to print precision.

    Args:
        lam: Smoothing constant in (0, 1].
        L: Limit width in asymptotic standard deviations of the EWMA statistic.
        shift: Mean shift in units of sigma (0 gives ARL0).

    Returns:
        The average number of observations until the first signal.
    """
    lam = _check_lam(lam)
    L = positive_scalar(L, "L")  # noqa: N806
    shift = finite_scalar(shift, "shift")
    c = L * np.sqrt(lam / (2.0 - lam))
    return float(_ewma_arl_batch(lam, np.array([c]), np.array([shift]), _NODES)[0])


@lru_cache(maxsize=256)
def ewma_L(lam: float, arl0: float = 500.0) -> float:  # noqa: N802
    """Limit width L giving a two-sided fixed-limit EWMA chart the in-control ARL ``arl0``.

    Solves ``ewma_arl(lam, L) = arl0`` by Brent's method (Lucas & Saccucci 1990 design
    procedure). Gives 2.814 at lam=0.1 and 2.962 at lam=0.2 for arl0=500.

    Args:
        lam: Smoothing constant in (0, 1].
        arl0: Target in-control average run length (> 1).

    Returns:
        L, in asymptotic standard deviations of the EWMA statistic.
    """
    lam = _check_lam(lam)
    arl0 = finite_scalar(arl0, "arl0")
    if arl0 <= 1.5:
        raise StatsError(f"arl0 must be > 1.5 observations, got {arl0!r}")
    if arl0 > 1e8:
        raise StatsError(f"arl0 must be <= 1e8 observations, got {arl0!r}")
    lo, hi = 0.05, 3.0
    while ewma_arl(lam, hi) < arl0:  # the ARL grows fast with L: 3, 4, 5, 6 bracket 1e8
        lo, hi = hi, hi + 1.0
    return float(optimize.brentq(lambda L: ewma_arl(lam, L) - arl0, lo, hi, xtol=1e-7))


def _cusum_one_sided(k: float, h: float, shift: float, nodes: int = _NODES) -> float:
    """Zero-state ARL of the upper CUSUM ``S_i = max(0, S_{i-1} + x_i - k)``, signal ``S_i > h``.

    ``L(s) = 1 + L(0) Phi(k - shift - s) + int_0^h L(y) phi(y + k - shift - s) dy``; the atom
    at 0 (the reflecting barrier) is the extra unknown ``L(0)``.
    """
    x, w = _gauss_legendre(nodes)
    y = 0.5 * h * (x + 1.0)
    wy = 0.5 * h * w
    s = np.concatenate(([0.0], y))  # equation points: 0 and the nodes
    a = np.empty((nodes + 1, nodes + 1))
    a[:, 0] = stats.norm.cdf(k - shift - s)
    a[:, 1:] = wy[None, :] * stats.norm.pdf(y[None, :] + k - shift - s[:, None])
    sol = np.linalg.solve(np.eye(nodes + 1) - a, np.ones(nodes + 1))
    return float(sol[0])


@lru_cache(maxsize=4096)
def cusum_arl(k: float, h: float, shift: float = 0.0) -> float:
    """Zero-state ARL of a two-sided tabular CUSUM (Page 1954) with reference k and limit h.

    The one-sided ARLs come from the integral equation (Nyström, Gauss–Legendre); the two-sided
    ARL combines them as ``1/ARL = 1/ARL+ + 1/ARL-`` (Lucas & Crosier 1982), which is how the
    published tables are computed: k=0.5, h=4 gives 168, h=5 gives 465.

    Args:
        k: Reference value (allowance) in sigma units, >= 0.
        h: Decision interval in sigma units, > 0.
        shift: Mean shift in sigma units.

    Returns:
        The average number of observations until the first signal.
    """
    k = finite_scalar(k, "k")
    if k < 0:
        raise StatsError(f"k must be >= 0, got {k!r}")
    h = positive_scalar(h, "h")
    shift = finite_scalar(shift, "shift")
    up = _cusum_one_sided(k, h, shift)
    down = _cusum_one_sided(k, h, -shift)
    return float(1.0 / (1.0 / up + 1.0 / down))


def conditional_ewma_arl0(
    lam: float,
    L: float,
    mean_errors: np.ndarray,
    sd_ratios: np.ndarray,  # noqa: N803
) -> np.ndarray:
    """In-control ARLs of a chart built on an estimated mean and sd (fixed limits).

    With baseline estimates ``mu_hat = mu + e sigma`` and ``sigma_hat = r sigma`` the chart is a
    known-parameter chart with limit ``L r`` facing a shift of ``-e`` (Jones, Champ & Rigdon 2001).

    Args:
        lam: Smoothing constant.
        L: Nominal limit width.
        mean_errors: Mean estimation errors ``e`` in sigma units.
        sd_ratios: Ratios ``sigma_hat / sigma``, same length.

    Returns:
        One conditional ARL0 per pair.
    """
    c = L * np.sqrt(lam / (2.0 - lam)) * np.asarray(sd_ratios, dtype=np.float64)
    return _ewma_arl_batch(lam, c, -np.asarray(mean_errors, dtype=np.float64), 80)


def _sd_ratio_quantiles(m: int, count: int) -> np.ndarray:
    """Midpoint quantiles of sigma_hat/sigma = sqrt(chi2_{m-1}/(m-1)) (sample sd, ddof=1)."""
    probs = (np.arange(count) + 0.5) / count
    return np.sqrt(stats.chi2.ppf(probs, m - 1) / (m - 1))


def prob_short_arl0(
    lam: float,
    L: float,
    m: int,
    *,
    fraction: float = 0.5,
    grid: int = 24,  # noqa: N803
) -> float:
    """P(conditional ARL0 < fraction * ARL0(L)) for a chart whose mean and sd come from m points.

    Integrates over the sampling distribution of the baseline estimates (mean error
    ~ N(0, 1/m), sd ratio ~ sqrt(chi2_{m-1}/(m-1))), following Jones, Champ & Rigdon (2001): for
    each sd-ratio quantile the conditional ARL0 is monotone in |mean error|, so the probability is
    ``E[2 Phi(-g(r) sqrt(m))]`` with ``g(r)`` the mean error at which the ARL0 falls to the
    threshold (found by interpolating log ARL0 on a grid of mean errors).
    """
    target = fraction * ewma_arl(lam, L)
    ratios = _sd_ratio_quantiles(m, grid)
    errors = np.linspace(0.0, 6.0 / np.sqrt(m), 25)
    rr, ee = np.meshgrid(ratios, errors, indexing="ij")
    arl = conditional_ewma_arl0(lam, L, ee.ravel(), rr.ravel()).reshape(rr.shape)
    log_arl, log_t = np.log(np.maximum(arl, 1.0)), np.log(target)
    probs = np.empty(grid)
    for j in range(grid):
        row = log_arl[j]  # decreasing in the mean error
        if row[0] <= log_t:
            probs[j] = 1.0
        elif row[-1] > log_t:
            probs[j] = 0.0
        else:
            g = float(np.interp(-log_t, -row, errors))
            probs[j] = 2.0 * stats.norm.sf(g * np.sqrt(m))
    return float(probs.mean())


@lru_cache(maxsize=256)
def ewma_L_for_baseline(  # noqa: N802
    lam: float, arl0: float, m: int, *, guarantee: float = 0.10, fraction: float = 0.5
) -> float:
    """L widened so a chart on an m-point baseline rarely has a short in-control ARL.

    Chooses the smallest L >= ``ewma_L(lam, arl0)`` such that
    ``P(conditional ARL0 < fraction * arl0) <= guarantee`` over the sampling distribution of the
    baseline mean and sd (Jones, Champ & Rigdon 2001, Technometrics 43:156–167; the same idea as
    the guaranteed-performance limits of Gandy & Kvaløy 2013). Computed on fixed limits with the
    integral equation; at m = 300 the nominal L already nearly meets the default guarantee.

    Args:
        lam: Smoothing constant.
        arl0: Target in-control ARL.
        m: Number of baseline observations the mean and sd were estimated from (>= 5).
        guarantee: Accepted probability of an ARL0 below ``fraction * arl0``.
        fraction: Fraction of the target that counts as a "short" ARL0.

    Returns:
        The widened limit width L.
    """
    if m < 5:
        raise StatsError(f"a baseline of {m} observations is too small to chart; need >= 5")
    nominal = ewma_L(lam, arl0)

    def excess(L: float) -> float:  # noqa: N803
        # The threshold is fraction * arl0 of the target, not of the widened design.
        return prob_short_arl0(lam, L, m, fraction=fraction * arl0 / ewma_arl(lam, L)) - guarantee

    if excess(nominal) <= 0:
        return nominal
    hi = nominal + 0.5
    while excess(hi) > 0:
        hi += 0.5
        if hi > nominal + 5:
            raise StatsError(f"cannot widen L enough for a baseline of m={m}")
    return float(optimize.brentq(excess, nominal, hi, xtol=1e-4))
