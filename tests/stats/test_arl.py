"""Integral-equation ARLs against the published tables (statistics.md §1, §6.3)."""

from __future__ import annotations

import pytest

from canaryflow.errors import StatsError
from canaryflow.stats import cusum_arl, ewma_arl, ewma_L, ewma_L_for_baseline

SHIFTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)

# Lucas & Saccucci (1990) two-sided EWMA, ARL0 = 500 designs.
EWMA_TABLE = {
    (0.05, 2.615): (500, 28.8, 11.4, 7.1, 5.2, 3.5),
    (0.10, 2.814): (500, 31.3, 10.3, 6.1, 4.4, 2.9),
    (0.20, 2.962): (500, 41.8, 10.5, 5.5, 3.7, 2.4),
}
# Lucas & Crosier (1982) Table 1 (h = 4) and the textbook row (h = 5), two-sided, k = 0.5.
CUSUM_TABLE = {
    4.0: (168, 26.6, 8.38, 4.75, 3.34, 2.19),
    5.0: (465, 38.0, 10.4, 5.75, 4.01, 2.57),
}


@pytest.mark.parametrize(("design", "row"), EWMA_TABLE.items())
def test_ewma_arl_reproduces_lucas_saccucci(design: tuple[float, float], row: tuple) -> None:
    lam, L = design
    for shift, published in zip(SHIFTS, row, strict=True):
        # The table prints 2-3 significant digits: 1 % or half a unit of the last digit.
        tol = max(0.01 * published, 0.05 if published < 10 else 0.5)
        assert ewma_arl(lam, L, shift) == pytest.approx(published, abs=tol), (lam, shift)


@pytest.mark.parametrize(("h", "row"), CUSUM_TABLE.items())
def test_cusum_arl_reproduces_published_rows(h: float, row: tuple) -> None:
    for shift, published in zip(SHIFTS, row, strict=True):
        assert cusum_arl(0.5, h, shift) == pytest.approx(published, rel=0.01), (h, shift)


def test_cusum_one_sided_matches_nist() -> None:
    # Two-sided ARL0 is half the one-sided one when symmetric: 335.4 and 930.9 one-sided.
    assert 2 * cusum_arl(0.5, 4.0) == pytest.approx(335.4, abs=0.5)
    assert 2 * cusum_arl(0.5, 5.0) == pytest.approx(930.9, abs=0.5)


@pytest.mark.parametrize(("lam", "expected"), [(0.1, 2.814), (0.2, 2.962), (0.05, 2.615)])
def test_ewma_L_solves_for_arl0_500(lam: float, expected: float) -> None:
    assert ewma_L(lam, 500) == pytest.approx(expected, abs=0.002)


def test_ewma_L_for_arl0_370_matches_borror() -> None:
    # Borror, Montgomery & Runger (1999) used 2.492, 2.703, 2.86 for ARL0 = 370.
    assert ewma_L(0.05, 370) == pytest.approx(2.492, abs=0.003)
    assert ewma_L(0.1, 370) == pytest.approx(2.703, abs=0.003)
    assert ewma_L(0.2, 370) == pytest.approx(2.86, abs=0.003)


def test_arl_functions_are_cached() -> None:
    ewma_L.cache_clear()
    ewma_L(0.1, 500)
    ewma_L(0.1, 500)
    assert ewma_L.cache_info().hits >= 1


def test_widened_L_grows_as_the_baseline_shrinks() -> None:
    nominal = ewma_L(0.1, 500)
    l30, l100, l300 = (ewma_L_for_baseline(0.1, 500, m) for m in (30, 100, 300))
    assert l30 > l100 > nominal
    assert l300 == pytest.approx(nominal)
    assert 3.5 < l30 < 4.1  # m = 30 needs much wider limits


@pytest.mark.parametrize(
    "call",
    [
        lambda: ewma_arl(0.0, 2.8),
        lambda: ewma_arl(1.5, 2.8),
        lambda: ewma_arl(0.1, -1.0),
        lambda: ewma_arl(0.1, float("nan")),
        lambda: ewma_L(0.1, 1.0),
        lambda: cusum_arl(-0.5, 5.0),
        lambda: cusum_arl(0.5, 0.0),
        lambda: ewma_L_for_baseline(0.1, 500, 3),
    ],
)
def test_bad_designs_raise(call) -> None:
    with pytest.raises(StatsError):
        call()
