"""Probe-run pass rates under correlated flakiness: the stated false-alarm figures, by simulation.

The data model is the canary's at temperature 0 (the simulator's ``flaky_probes`` scenario): a
family of probes, each repeated in every run; a flaky probe fails *all* its repetitions in the
runs where it fails (its own per-run probability), a steady probe fails repetitions at a fixed
rate, so the baseline pass rate is below 100 %. The claims checked:

* Fisher one-sided + BH on probe-run counts alarms in at most ``q`` of in-control runs; counting
  repetitions (the previous statistics) exceeds ``q`` several-fold on the same data;
* the calibrated Bernoulli CUSUM's false-alarm rate, averaged over baselines of m = 24 runs, is
  at most 1 / ARL0 (exact Markov chain per baseline, and end to end on simulated runs); the
  design at the point estimate, and the repetition count, exceed it;
* a real drop (one family's probe pass rate 0.95 -> 0.75) is still signalled within hours.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from canaryflow.errors import StatsError
from canaryflow.stats import (
    BernoulliCUSUM,
    bh_adjust,
    calibrated_pass_cusum,
    posterior_nodes,
    probe_failed,
    probe_run_counts,
    rate_drop_test,
    simulate_baseline_alarm_rates,
)

REPS = 3
BASELINE_RUNS = 24


@cache
def _fisher(bs: int, bn: int, s: int, n: int) -> float:
    return rate_drop_test(bs, bn, s, n).p_value


class FlakyFamily:
    """One family: per-probe kind and rates, drawn once (seeded), then run after run."""

    def __init__(
        self, rng: np.random.Generator, probes: int, flaky: float = 0.04, steady: float = 0.03
    ) -> None:
        self.rng = rng
        self.probes = probes
        kind = rng.random(probes)
        self.flaky_rate = np.where(kind < flaky, rng.uniform(0.0, 0.2, probes), 0.0)
        self.steady_rate = np.where((kind >= flaky) & (kind < flaky + steady), 0.3, 0.0)

    def run(self, extra_fail: float = 0.0) -> np.ndarray:
        """Failed repetitions per probe in one run (``extra_fail``: a real drop, per probe)."""
        down = self.rng.random(self.probes) < self.flaky_rate
        broken = self.rng.random(self.probes) < extra_fail
        steady = self.rng.binomial(REPS, self.steady_rate)
        return np.where(down | broken, REPS, steady)


def _probe_counts(failures: np.ndarray) -> tuple[int, int]:
    return probe_run_counts((int(f), REPS) for f in failures)


def _rep_counts(failures: np.ndarray) -> tuple[int, int]:
    return int(REPS * failures.size - failures.sum()), REPS * failures.size


def test_a_probe_fails_in_a_run_when_at_least_half_its_repetitions_fail() -> None:
    assert not probe_failed(1, 3)
    assert probe_failed(2, 3)
    assert probe_failed(1, 2)  # a tie fails: a 2-repetition probe failing once is not a pass
    assert not probe_failed(0, 1)
    assert probe_run_counts([(0, 3), (3, 3), (1, 3), (0, 0)]) == (2, 3)  # (0, 0): no evidence
    with pytest.raises(StatsError, match="exceed"):
        probe_failed(4, 3)


def test_posterior_nodes_are_a_distribution_dense_in_the_low_tail() -> None:
    nodes = posterior_nodes(140, 144)
    assert sum(w for _, w in nodes) == pytest.approx(1.0)
    rates = [p for p, _ in nodes]
    assert rates == sorted(rates) and rates[0] < 0.93 < 0.98 < rates[-1]


def _systems(seed: int, families: int, runs: int) -> tuple[list[float], list[float]]:
    """Per-run alarm indicators (probe unit, repetition unit) of Fisher + BH across families."""
    rng = np.random.default_rng(seed)
    probe_alarm, rep_alarm = [], []
    fams = [FlakyFamily(rng, probes=6) for _ in range(families)]
    base = [[f.run() for _ in range(BASELINE_RUNS)] for f in fams]
    bp = [tuple(map(sum, zip(*(_probe_counts(r) for r in b), strict=True))) for b in base]
    br = [tuple(map(sum, zip(*(_rep_counts(r) for r in b), strict=True))) for b in base]
    for _ in range(runs):
        now = [f.run() for f in fams]
        pp = [_fisher(*bp[i], *_probe_counts(now[i])) for i in range(families)]
        pr = [_fisher(*br[i], *_rep_counts(now[i])) for i in range(families)]
        probe_alarm.append(float(bh_adjust(pp).min()))
        rep_alarm.append(float(bh_adjust(pr).min()))
    return probe_alarm, rep_alarm


def test_fisher_bh_on_probe_runs_keeps_its_per_run_false_alarm_rate_under_flakiness() -> None:
    q = 0.001  # the shipped alerts.fdr_q
    probe, rep = [], []
    for seed in range(8):  # eight systems (baselines) of 10 families, 1,500 runs each
        p, r = _systems(seed, families=10, runs=1500)
        probe += p
        rep += r
    probe_rate = float(np.mean(np.asarray(probe) < q))
    rep_rate = float(np.mean(np.asarray(rep) < q))
    print(f"P(alarm per run) at q={q}: probe-run unit {probe_rate:.4f}, repetitions {rep_rate:.4f}")
    assert probe_rate <= 1.5 * q  # the claim (12,000 runs: 12 alarms expected at exactly q)
    assert rep_rate > 3 * q  # the previous statistics, on the same runs


def test_calibrated_cusum_alarm_rate_over_estimated_baselines_meets_arl0_exactly() -> None:
    """Exact ARL per simulated baseline: mean false-alarm rate <= 1/ARL0 (the design claim)."""
    arl0, drop, n = 8760.0, 0.10, 6
    rng = np.random.default_rng(11)
    rates = simulate_baseline_alarm_rates(
        0.97, runs=BASELINE_RUNS, n_per_run=n, min_drop=drop, arl0=arl0, replicates=300, rng=rng
    )
    naive = []
    for s in np.random.default_rng(11).binomial(BASELINE_RUNS * n, 0.97, 300).tolist():
        p0 = (s + 0.5) / (BASELINE_RUNS * n + 1)
        naive.append(1 / BernoulliCUSUM(p0, p0 - drop, arl0=arl0, n_per_run=n).arl(0.97))
    print(f"false alarms per {arl0:g} runs: calibrated {rates.mean() * arl0:.2f}, "
          f"point-estimate design {np.mean(naive) * arl0:.2f}")  # fmt: skip
    assert rates.mean() * arl0 <= 1.1
    assert np.mean(naive) * arl0 > 3  # designing at p0-hat misses the claim several-fold


def _cusum_alarms(fam: FlakyFamily, arl0: float, runs: int, unit: str) -> int:
    base = [fam.run() for _ in range(BASELINE_RUNS)]
    counts = _probe_counts if unit == "probe" else _rep_counts
    s, n = map(sum, zip(*(counts(r) for r in base), strict=True))
    per_run = fam.probes * (1 if unit == "probe" else REPS)
    if unit == "probe":
        chart = calibrated_pass_cusum(s, n, n_per_run=per_run, min_drop=0.1, arl0=arl0)
    else:  # the previous design: repetitions as trials, p0 the floored point estimate
        p0 = (s + 0.5) / (n + 1)
        chart = BernoulliCUSUM(p0, p0 - 0.1, arl0=arl0, n_per_run=per_run)
    assert chart is not None
    alarms = 0
    for _ in range(runs):
        ok, total = counts(fam.run())
        if chart.update(total - ok, total).alarm:
            chart.reset()
            alarms += 1
    return alarms


def test_calibrated_cusum_end_to_end_on_flaky_runs_meets_its_arl0() -> None:
    """Simulated runs (flaky probes fail all repetitions) against charts from m = 24 baselines."""
    arl0, runs, systems = 200.0, 2000, 40
    rng = np.random.default_rng(5)
    probe = rep = 0
    for _ in range(systems):
        fam = FlakyFamily(rng, probes=6)
        probe += _cusum_alarms(fam, arl0, runs, "probe")
        rep += _cusum_alarms(fam, arl0, runs, "rep")
    expected = systems * runs / arl0  # 400 false alarms if the claim held with equality
    print(f"CUSUM false alarms, {systems * runs} runs, ARL0 {arl0:g}: probe-run unit {probe}, "
          f"repetitions {rep}, claim <= {expected:g}")  # fmt: skip
    assert probe <= 1.15 * expected
    assert rep > 3 * expected


def test_a_real_drop_is_still_detected_and_a_longer_baseline_detects_it_sooner() -> None:
    """One family's probe pass rate 0.95 -> 0.75 (6 probes): signalled, the delay set by m.

    The price of an honest ARL0 with p0 estimated from few runs: after a 24-run warm-up (144
    probe-runs) the chart cannot tell 0.90 from 0.95, so it waits about a day; after a week of
    baseline it is within 10 % of the chart that knows p0 exactly.
    """
    delays: dict[int, float] = {}
    for m in (24, 168):
        n = 6 * m
        chart = calibrated_pass_cusum(round(0.95 * n), n, n_per_run=6, min_drop=0.1)
        assert chart is not None
        assert chart.arl(0.95) > 8760  # in control at the baseline's own rate
        delays[m] = chart.arl(0.75)
        rng = np.random.default_rng(3)
        sim = []
        for _ in range(300):
            c = BernoulliCUSUM.from_state(chart.state())
            t = 0
            while not c.update(int(rng.binomial(6, 0.25)), 6).alarm:
                t += 1
            sim.append(t + 1)
        p95 = float(np.quantile(sim, 0.95))
        print(f"m={m}: 0.95 -> 0.75 over 6 probes, ARL1 {delays[m]:.1f} runs (exact), "
              f"simulated mean {np.mean(sim):.1f}, 95th percentile {p95:.0f}")  # fmt: skip
        assert np.mean(sim) == pytest.approx(delays[m], rel=0.15)
        assert p95 <= (72 if m == 24 else 24)
    known = BernoulliCUSUM(0.95, 0.85, n_per_run=6).arl(0.75)
    assert delays[24] < 30
    assert delays[168] < 1.15 * known
