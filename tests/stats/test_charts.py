"""Chart behaviour: frozen limits, change points, state round-trips, calibration, bad input."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from canaryflow.errors import StatsError
from canaryflow.stats import (
    CUSUMChart,
    EWMAChart,
    calibrate_ewma_L,
    ewma_L,
    simulate_run_lengths,
)


def test_ewma_limits_are_exact_time_varying() -> None:
    chart = EWMAChart(5.0, 2.0, lam=0.2, L=3.0)
    for i, x in enumerate([5.1, 4.0, 7.0], start=1):
        p = chart.update(x)
        hw = 3.0 * 2.0 * math.sqrt(0.2 / 1.8 * (1 - 0.8 ** (2 * i)))
        assert p.upper == pytest.approx(5.0 + hw) and p.lower == pytest.approx(5.0 - hw)
        assert p.center == 5.0


def test_limits_do_not_depend_on_monitored_data() -> None:
    rng = np.random.default_rng(1)
    calm, wild = EWMAChart(0.0, 1.0), EWMAChart(0.0, 1.0)
    a = calm.update_many(rng.normal(0, 1, 200))
    b = wild.update_many(rng.normal(3, 10, 200))
    assert [p.upper for p in a] == [p.upper for p in b]
    assert [p.lower for p in a] == [p.lower for p in b]
    assert calm.mean == wild.mean == 0.0 and calm.sd == wild.sd == 1.0


def test_ewma_change_point_reports_first_window_and_start() -> None:
    chart = EWMAChart(0.0, 1.0)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 1, 150), rng.normal(2.5, 1, 30)])
    points = [chart.update(v, label=t0 + timedelta(hours=i)) for i, v in enumerate(values)]
    first = next(p for p in points if p.alarm)
    cp = chart.change_point
    assert cp is not None and cp.direction == "up"
    assert cp.alarm_index == first.index >= 151
    assert cp.alarm_label == (t0 + timedelta(hours=first.index - 1)).isoformat()
    assert 130 <= cp.start_index <= cp.alarm_index
    assert points[-1].change_point == cp  # the first episode is kept


def test_cusum_change_start_is_after_last_zero() -> None:
    chart = CUSUMChart(0.0, 1.0, k=0.5, h=4.0)
    xs = [0.0] * 20 + [-0.6] * 3 + [3.0] * 5
    pts = chart.update_many(xs, labels=[f"w{i}" for i in range(1, len(xs) + 1)])
    cp = chart.change_point
    assert cp is not None and cp.direction == "up" and cp.start_index == 24
    assert cp.start_label == "w24" and cp.alarm_index == 25
    assert pts[24].alarm and pts[24].statistic == pytest.approx(5.0)
    assert pts[21].lower_statistic == pytest.approx(-0.2)


@pytest.mark.parametrize(
    "make", [lambda: EWMAChart(3.0, 0.5, baseline_n=400), lambda: CUSUMChart(3.0, 0.5)]
)
def test_state_round_trip_is_json_and_continues_identically(make) -> None:
    rng = np.random.default_rng(3)
    xs = rng.normal(3.4, 0.5, 80)
    a = make()
    a.update_many(xs[:40], labels=range(40))
    restored = type(a).from_state(json.loads(json.dumps(a.state())))
    assert restored.state() == a.state()
    assert [a.update(x) for x in xs[40:]] == [restored.update(x) for x in xs[40:]]


def test_from_state_rejects_other_kinds() -> None:
    with pytest.raises(StatsError):
        EWMAChart.from_state(CUSUMChart(0, 1).state())


def test_reset_clears_the_episode() -> None:
    chart = CUSUMChart(0, 1)
    chart.update_many([5, 5, 5])
    assert chart.change_point is not None
    chart.reset()
    assert chart.change_point is None and chart.index == 0


def test_calibration_labels() -> None:
    assert EWMAChart(0, 1).calibration == "known"
    assert EWMAChart(0, 1, baseline_n=1000).calibration == "known"
    assert EWMAChart(0, 1, L=3.0).calibration == "given"
    small = EWMAChart(0, 1, baseline_n=50)
    assert small.calibration == "widened_for_m"
    assert small.L > ewma_L(0.1, 500) and "m = 50" in small.calibration_note


def test_widened_L_protects_against_short_arl0_for_m_100() -> None:
    """Simulate charts built on 100-point baselines: few should have ARL0 below 250."""
    rng = np.random.default_rng(4)

    def true_process(g: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        return g.standard_normal(shape)  # the truth is N(0, 1); the chart only knows estimates

    short = []
    for _ in range(60):
        base = rng.normal(0, 1, 100)
        chart = EWMAChart(base.mean(), base.std(ddof=1), baseline_n=100)
        naive = EWMAChart(base.mean(), base.std(ddof=1), L=ewma_L(0.1, 500))
        runs = [
            simulate_run_lengths(c, 200, rng=rng, sampler=true_process, max_len=5000).mean()
            for c in (chart, naive)
        ]
        short.append([r < 250 for r in runs])
    widened, nominal = np.mean(short, axis=0)
    assert widened <= 0.2 and widened < nominal


def test_judge_score_calibration_hits_target_within_10_percent() -> None:
    p = np.array([0.02, 0.05, 0.12, 0.42, 0.39])
    baseline = np.repeat(np.arange(1.0, 6.0), (p * 1000).astype(int))
    chart = EWMAChart.calibrated(baseline, rng=np.random.default_rng(5), unit="score")
    assert chart.calibration == "simulated" and chart.unit == "score"
    assert 2.85 < chart.L < 2.95  # normal theory says 2.814

    def scores(g: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        return g.choice(5, size=shape, p=p) + 1.0

    check = np.random.default_rng(6)
    arl0 = simulate_run_lengths(chart, 4000, rng=check, sampler=scores).mean()
    assert arl0 == pytest.approx(500, rel=0.10)
    gaussian = EWMAChart(chart.mean, chart.sd, L=ewma_L(0.1, 500))
    assert simulate_run_lengths(gaussian, 4000, rng=check, sampler=scores).mean() < 450


def test_calibrate_rejects_constant_baseline() -> None:
    with pytest.raises(StatsError, match="all equal"):
        calibrate_ewma_L(np.full(50, 4.0), rng=np.random.default_rng(0))


@pytest.mark.parametrize("sd", [0.0, -1.0, float("nan")])
def test_zero_or_bad_sd_raises(sd: float) -> None:
    with pytest.raises(StatsError):
        EWMAChart(1.0, sd)
    with pytest.raises(StatsError):
        CUSUMChart(1.0, sd)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "x", None])
def test_bad_observation_raises_and_leaves_state(bad) -> None:
    chart = EWMAChart(0.0, 1.0)
    chart.update(0.5)
    before = chart.state()
    with pytest.raises(StatsError):
        chart.update(bad)
    assert chart.state() == before


def test_bad_label_and_mismatched_labels_raise() -> None:
    chart = CUSUMChart(0.0, 1.0)
    with pytest.raises(StatsError):
        chart.update(1.0, label=object())
    with pytest.raises(StatsError):
        chart.update_many([1.0, 2.0], labels=["a"])
