"""Bernoulli CUSUM across runs (Reynolds & Stoumbos 1999)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from canaryflow.errors import StatsError
from canaryflow.stats import BernoulliCUSUM


def test_default_h_gives_a_year_of_hourly_runs() -> None:
    chart = BernoulliCUSUM(0.95, 0.85)
    assert 8760 <= chart.arl(0.95) < 8760 * 1.05
    assert chart.arl(0.85) < 8  # detected within a working day
    assert chart.arl(0.95) > chart.arl(0.90) > chart.arl(0.85)


def test_markov_chain_arl_matches_simulation() -> None:
    chart = BernoulliCUSUM(0.95, 0.8, arl0=200, n_per_run=10)
    rng = np.random.default_rng(1)
    lengths = []
    for _ in range(1000):
        c = BernoulliCUSUM.from_state(chart.state())
        t = 0
        while True:
            t += 1
            if c.update(rng.binomial(10, 0.05), 10).alarm:
                break
        lengths.append(t)
    assert np.mean(lengths) == pytest.approx(chart.arl(0.95), rel=0.1)


def test_change_point_and_state_round_trip() -> None:
    chart = BernoulliCUSUM(0.95, 0.85, n_per_run=20)
    for i in range(10):
        chart.update(0 if i % 2 else 1, 20, label=f"run{i}")
    saved = json.loads(json.dumps(chart.state()))
    for i in range(10, 40):
        p = chart.update(6, 20, label=f"run{i}")
        if p.alarm:
            break
    assert p.alarm and chart.change_point is not None
    assert chart.change_point.start_label == "run10"
    restored = BernoulliCUSUM.from_state(saved)
    assert restored.h == pytest.approx(chart.h)
    replay = [restored.update(6, 20, label=f"run{i}") for i in range(10, p.index)]
    assert replay[-1] == p


@pytest.mark.parametrize(
    ("args", "update"),
    [((0.85, 0.95), None), ((1.0, 0.9), None), ((0.95, 0.85), (3, 2)), ((0.95, 0.85), (1, 0))],
)
def test_bad_input_raises(args, update) -> None:
    with pytest.raises(StatsError):
        chart = BernoulliCUSUM(*args, arl0=100)
        chart.update(*update)
