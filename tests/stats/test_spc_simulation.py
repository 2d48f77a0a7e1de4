"""Seeded run-length simulations of the shipped charts (DESIGN §9, statistics.md §6.1-6.5).

``simulate_run_lengths`` advances many runs through the chart's own recursion, and
``test_batch_simulation_equals_update`` checks it against ``update()`` run by run, so these
acceptance figures are figures of the shipped code.
"""

from __future__ import annotations

import numpy as np
import pytest

from canaryflow.stats import CUSUMChart, EWMAChart, simulate_run_lengths

RUNS = 2000
TAU = 100


def _arl1_after_tau(chart, rng, shift: float = 0.0, drift: float = 0.0, max_len: int = 2000):
    rl = simulate_run_lengths(chart, RUNS, rng=rng, shift=shift, drift=drift, change_at=TAU,
                              max_len=max_len)  # fmt: skip
    kept = rl[(rl >= TAU) | (rl == 0)]  # runs that alarmed before the change are discarded
    return kept


@pytest.mark.parametrize("chart", [EWMAChart(0, 1, L=2.814), CUSUMChart(0, 1, h=4.0)])
def test_batch_simulation_equals_update(chart) -> None:
    blocks: list[np.ndarray] = []

    def sampler(g: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        blocks.append(g.standard_normal(shape))
        return blocks[-1]

    rl = simulate_run_lengths(chart, 60, rng=np.random.default_rng(5), shift=0.8,
                              sampler=sampler, max_len=200, block=200)  # fmt: skip
    assert len(blocks) == 1
    for r in range(60):
        fresh = type(chart).from_state(chart.state())
        first = 0
        for t, x in enumerate(blocks[0][r] + 0.8, start=1):
            if fresh.update(x).alarm:
                first = t
                break
        assert first == rl[r]


def test_ewma_lambda_01_acceptance() -> None:
    rng = np.random.default_rng(20240611)
    chart = EWMAChart(10.0, 2.0, lam=0.1, L=2.814)
    arl0 = simulate_run_lengths(chart, RUNS, rng=rng)
    assert (arl0 > 0).all()
    assert 450 <= arl0.mean() <= 550
    one = _arl1_after_tau(chart, rng, shift=1.0)
    assert 8.8 <= (one - TAU + 1).mean() <= 11.9
    two = _arl1_after_tau(chart, rng, shift=2.0)
    assert 3.7 <= (two - TAU + 1).mean() <= 5.0
    zero_state = simulate_run_lengths(chart, RUNS, rng=rng, shift=1.0)
    assert zero_state.mean() < 9.0  # the time-varying limits are in use (table: 10.3)


def test_ewma_lambda_02_acceptance() -> None:
    rng = np.random.default_rng(7)
    chart = EWMAChart(0.0, 1.0, lam=0.2, L=2.962)
    assert 450 <= simulate_run_lengths(chart, RUNS, rng=rng).mean() <= 550
    one = _arl1_after_tau(chart, rng, shift=1.0)
    assert (one - TAU + 1).mean() == pytest.approx(10.5, rel=0.15)


def test_fixed_limit_mode_reproduces_table() -> None:
    rng = np.random.default_rng(11)
    chart = EWMAChart(0.0, 1.0, lam=0.1, L=2.814, time_varying=False)
    assert simulate_run_lengths(chart, RUNS, rng=rng).mean() == pytest.approx(500, rel=0.10)
    assert simulate_run_lengths(chart, RUNS, rng=rng, shift=1.0).mean() == pytest.approx(
        10.3, rel=0.05
    )


@pytest.mark.parametrize(("h", "arl0_band", "arl1_band"), [
    (4.0, (151, 185), (7.1, 9.6)),
    (5.0, (419, 512), (8.8, 12.0)),
])  # fmt: skip
def test_cusum_acceptance(h, arl0_band, arl1_band) -> None:
    rng = np.random.default_rng(int(h * 100))
    chart = CUSUMChart(0.0, 1.0, k=0.5, h=h)
    arl0 = simulate_run_lengths(chart, RUNS, rng=rng).mean()
    arl1 = simulate_run_lengths(chart, RUNS, rng=rng, shift=1.0).mean()
    assert arl0_band[0] <= arl0 <= arl0_band[1]
    assert arl1_band[0] <= arl1 <= arl1_band[1]


@pytest.mark.parametrize("chart", [EWMAChart(0, 1), CUSUMChart(0, 1)], ids=["ewma", "cusum"])
def test_two_sigma_step_signalled_within_ten_points(chart) -> None:
    kept = _arl1_after_tau(chart, np.random.default_rng(3), shift=2.0, max_len=TAU + 50)
    assert np.mean((kept > 0) & (kept - TAU + 1 <= 10)) >= 0.95


@pytest.mark.parametrize("chart", [EWMAChart(0, 1), CUSUMChart(0, 1)], ids=["ewma", "cusum"])
def test_slow_drift_signalled_before_400(chart) -> None:
    kept = _arl1_after_tau(chart, np.random.default_rng(4), drift=0.02, max_len=399)
    assert np.mean(kept > 0) >= 0.99


def test_downward_shift_detected_too() -> None:
    rl = simulate_run_lengths(EWMAChart(0, 1), RUNS, rng=np.random.default_rng(8), shift=-2.0)
    assert rl.mean() < 4.0
