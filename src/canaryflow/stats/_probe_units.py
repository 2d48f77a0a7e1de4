"""Pass rates counted per probe and run, with a CUSUM that survives an estimated baseline.

Why the probe is the unit. At temperature 0 the repetitions of one probe in one run are not
independent trials: a probe that is flaky fails *all* its repetitions together in the runs where
it fails. Counting repetitions as Bernoulli trials then multiplies each flaky event by the
number of repetitions, the per-run failure count is overdispersed, and a Fisher test or a
Bernoulli CUSUM calibrated for independent trials alarms far more often than claimed (with 2 %
of probes flaky: ~2 % of runs instead of 0.1 %, a family CUSUM every few days instead of once a
year). One probe in one run is one trial here: it *fails* when at least half of its valid
repetitions fail (:func:`probe_failed`). Majority, not "any", because a single odd repetition
(natural noise) should not flip the unit, while a genuine regression at temperature 0 shows in
most repetitions; ties fail so a two-repetition probe that fails once is not silently a pass.
Probe-run outcomes of different probes are independent given their per-probe rates, so a
family's failing-probe count is a Poisson-binomial, whose variance never exceeds the binomial
one at the pooled rate: Fisher on probe-run counts is valid (conservative) even when probes
differ in their failure rates, and it already accounts for the baseline being a sample.

Why the CUSUM needs a correction. A Bernoulli CUSUM designed at the *estimated* baseline pass
rate p0-hat has its in-control ARL only when p0-hat is the truth. From m = 24 hourly runs of a
6-probe family (144 probe-runs) p0-hat is uncertain by a few points, and the false-alarm rate is
very convex in the error: when p0-hat comes out high the chart alarms many times more often
than designed, which the lucky baselines do not compensate. :func:`calibrated_pass_cusum` keeps
the chart's reference at the posterior mean of the pass rate (Jeffreys prior, Beta(s + 1/2,
f + 1/2) on the baseline's probe-run counts) and solves h so that the false-alarm rate averaged
over that posterior, ``E[1 / ARL0(p)]``, is ``1 / arl0``: the posterior-predictive false-alarm
rate of this baseline, with each ARL0(p) exact (Markov chain on the chart's lattice,
:mod:`canaryflow.stats._bernoulli`) and the posterior integrated on equal-probability nodes.
Because the chart restarts after each signal, ``1 / ARL0`` is its long-run false-alarm rate, so
the target is what a user counts: false alarms per year of hourly runs. It is the estimated-
parameter correction of Jones, Champ & Rigdon (2001) for EWMA limits, done exactly for the
Bernoulli CUSUM; the seeded tests draw baselines from a known rate and check the realised mean
alarm rate against ``1 / arl0`` (the naive design at p0-hat exceeds it several-fold).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import stats

from canaryflow.errors import StatsError
from canaryflow.stats._bernoulli import HOURLY_RUNS_PER_YEAR, BernoulliCUSUM
from canaryflow.stats._validate import count, probability

__all__ = [
    "POSTERIOR_EDGES",
    "calibrated_pass_cusum",
    "posterior_nodes",
    "probe_failed",
    "probe_run_counts",
    "simulate_baseline_alarm_rates",
]

POSTERIOR_EDGES = (0.0, 0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0)
"""Posterior probability intervals whose midpoint quantiles integrate the false-alarm rate.

Dense in the low tail of the pass rate: the alarm rate is steeply convex there, so a
low-probability pessimistic rate weighs more than many likely ones."""

MIN_CHART_RATE = 0.01
"""Below this regressed pass rate a drop is no longer chartable (the design degenerates)."""


def probe_failed(failures: int, trials: int) -> bool:
    """Whether one probe failed in one run: at least half of its valid repetitions failed."""
    trials = count(trials, "trials", minimum=1)
    failures = count(failures, "failures")
    if failures > trials:
        raise StatsError(f"failures={failures} exceed trials={trials}")
    return 2 * failures >= trials


def probe_run_counts(outcomes: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """(passing probe-runs, probe-runs) from ``(failures, trials)`` pairs, one per probe-run.

    Pairs with no valid repetition (every call errored) are not evidence and are skipped.
    """
    passed = total = 0
    for failures, trials in outcomes:
        if trials == 0:
            continue
        total += 1
        passed += not probe_failed(failures, trials)
    return passed, total


def posterior_nodes(successes: int, trials: int) -> tuple[tuple[float, float], ...]:
    """(pass rate, weight) nodes of the Jeffreys posterior of a baseline pass rate."""
    trials = count(trials, "trials", minimum=1)
    successes = count(successes, "successes")
    if successes > trials:
        raise StatsError(f"successes={successes} exceed trials={trials}")
    post = stats.beta(successes + 0.5, trials - successes + 0.5)
    edges = np.asarray(POSTERIOR_EDGES)
    mids = (edges[:-1] + edges[1:]) / 2
    return tuple((float(p), float(w)) for p, w in zip(post.ppf(mids), np.diff(edges), strict=True))


def calibrated_pass_cusum(
    successes: int,
    trials: int,
    *,
    n_per_run: int,
    min_drop: float,
    arl0: float = HOURLY_RUNS_PER_YEAR,
) -> BernoulliCUSUM | None:
    """A Bernoulli CUSUM of probe-run outcomes whose false-alarm rate holds for an estimated p0.

    Args:
        successes: Passing probe-runs in the baseline.
        trials: Probe-runs in the baseline (m runs x probes per run).
        n_per_run: Probes per run (the chart's trials per run).
        min_drop: Absolute drop of the pass rate the chart is tuned to catch quickly.
        arl0: In-control ARL in runs: h makes the posterior-mean alarm rate ``1 / arl0``.

    Returns:
        The chart with reference p0 = posterior mean, p1 = p0 - ``min_drop``; None when p1
        would fall below 1 % (a family failing that much has no drop left to chart) or when the
        baseline is too small for any limit to hold ``arl0`` (e.g. 4 runs of 2 probes: the
        posterior cannot rule out the drop itself). The per-run test still runs then; a longer
        baseline brings the chart back.
    """
    trials = count(trials, "trials", minimum=1)
    p0 = (count(successes, "successes") + 0.5) / (trials + 1)
    if p0 - min_drop <= MIN_CHART_RATE:
        return None
    try:
        return BernoulliCUSUM(
            p0=p0,
            p1=p0 - min_drop,
            arl0=arl0,
            n_per_run=n_per_run,
            in_control=posterior_nodes(successes, trials),
        )
    except StatsError:
        return None


def simulate_baseline_alarm_rates(
    true_pass: float,
    *,
    runs: int,
    n_per_run: int,
    min_drop: float,
    arl0: float,
    replicates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Exact false-alarm rates (1 / ARL0) of calibrated charts from simulated baselines.

    Each replicate draws a baseline of ``runs`` x ``n_per_run`` probe-runs at ``true_pass``,
    designs :func:`calibrated_pass_cusum` from it and returns ``1 / ARL`` at the true rate (0
    when no chart is built). Their mean is the false-alarm rate a user meets across baselines.
    """
    trials = count(runs, "runs", minimum=1) * count(n_per_run, "n_per_run", minimum=1)
    successes = rng.binomial(trials, probability(true_pass, "true_pass"), size=replicates)
    cache: dict[int, float] = {}
    out = np.empty(replicates)
    for i, s in enumerate(successes.tolist()):
        if s not in cache:
            chart = calibrated_pass_cusum(
                s, trials, n_per_run=n_per_run, min_drop=min_drop, arl0=arl0
            )
            cache[s] = 0.0 if chart is None else 1 / chart.arl(true_pass)
        out[i] = cache[s]
    return out
