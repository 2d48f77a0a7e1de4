"""Bernoulli (binomial) CUSUM for pass rates accumulated across runs.

A canary run has few probes, so one run has little power (0.95 -> 0.85 at n = 20 is detected
35 % of the time). Page's CUSUM of the log-likelihood ratio accumulates the evidence across
runs (Reynolds & Stoumbos 1999, JQT 31:87–108, for Bernoulli data; a run of n trials with f
failures contributes the sum of its n Bernoulli log-likelihood ratios).

To make the in-control ARL *exact* for the chart as implemented, the per-trial increments are
rounded to integers on a fine scale (a failure adds ``A``, a pass subtracts ``B``, with A about
100), so the statistic lives on the integer lattice 0..H and its run-length distribution is a
finite Markov chain (Brook & Evans 1972) solved exactly for runs of ``n_per_run`` trials.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import sparse, stats
from scipy.sparse import linalg as splinalg

from canaryflow.errors import StatsError
from canaryflow.stats._spc import ChangePoint, Label, _label
from canaryflow.stats._validate import count, positive_scalar, probability

__all__ = ["BernoulliCUSUM", "BernoulliPoint", "bernoulli_cusum_arl"]

_SCALE_FAILURE_STEP = 100
HOURLY_RUNS_PER_YEAR = 8760


def _steps(p0: float, p1: float) -> tuple[int, int]:
    """Integer LLR steps (failure adds A > 0, pass subtracts B > 0) for pass rates p0 > p1."""
    a = math.log((1 - p1) / (1 - p0))  # failure: more likely under the regression
    b = -math.log(p1 / p0)  # pass: less likely under the regression (b > 0)
    scale = _SCALE_FAILURE_STEP / a
    return _SCALE_FAILURE_STEP, max(1, round(b * scale))


@lru_cache(maxsize=512)
def _arl_lattice(a_step: int, b_step: int, big_h: int, n: int, p: float) -> float:
    """Zero-state ARL in runs of the lattice CUSUM with threshold H (signal when S > H)."""
    f = np.arange(n + 1)
    inc = f * a_step - (n - f) * b_step
    pmf = stats.binom.pmf(f, n, 1 - p)  # failures ~ Bin(n, 1 - pass rate)
    states = np.arange(big_h + 1)
    nxt = states[:, None] + inc[None, :]
    rows = np.repeat(states, n + 1)
    cols = np.clip(nxt, 0, None).ravel()
    w = np.tile(pmf, big_h + 1)
    keep = (cols <= big_h) & (w > 0)
    # Sparse: each state reaches at most n + 1 others, so (I - Q) is banded plus the column of
    # the reflecting zero; a sparse LU keeps large thresholds (H of several thousand) cheap.
    q = sparse.csc_matrix((w[keep], (rows[keep], cols[keep])), shape=(big_h + 1, big_h + 1))
    lhs = (sparse.identity(big_h + 1, format="csc") - q).tocsc()
    arl = float(splinalg.splu(lhs).solve(np.ones(big_h + 1))[0])
    # Beyond ~1e15 runs the solve loses all precision (it can even come out negative): such
    # an ARL is "never", which is what it means for every use here.
    return arl if 0 < arl < 1e15 else math.inf


def bernoulli_cusum_arl(p0: float, p1: float, h: float, n_per_run: int, p: float) -> float:
    """ARL, in runs, of :class:`BernoulliCUSUM` when the true pass rate is ``p``.

    Args:
        p0: In-control pass rate of the design.
        p1: Regressed pass rate the design targets (< p0).
        h: Decision interval in log-likelihood-ratio units.
        n_per_run: Trials (probe executions) per run.
        p: True pass rate.

    Returns:
        Average number of runs to the first signal (exact Markov chain on the lattice).
    """
    a_step, b_step = _steps(p0, p1)
    big_h = int(math.floor(h * a_step / math.log((1 - p1) / (1 - p0))))
    return _arl_lattice(a_step, b_step, big_h, n_per_run, p)


def _mixture(pairs: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """Validated (pass rate, weight) pairs, weights normalised; p = 1 is capped (ARL infinite)."""
    rates = [
        min(probability(p, "in_control rate", open_interval=False), 1 - 1e-9) for p, _ in pairs
    ]
    weights = [positive_scalar(w, "in_control weight") for _, w in pairs]
    total = sum(weights)
    return tuple(sorted((p, w / total) for p, w in zip(rates, weights, strict=True)))


@dataclass(frozen=True, slots=True)
class BernoulliPoint:
    """One run on the Bernoulli CUSUM.

    Attributes:
        index: 1-based run index.
        label: Run label (id or timestamp).
        failures: Failures in the run.
        n: Trials in the run.
        statistic: CUSUM of the log-likelihood ratio after this run (>= 0).
        h: Decision interval.
        alarm: True when ``statistic > h``.
        change_point: First out-of-control episode, once there is one.
    """

    index: int
    label: Label
    failures: int
    n: int
    statistic: float
    h: float
    alarm: bool
    change_point: ChangePoint | None = None


class BernoulliCUSUM:
    """Upper CUSUM of pass/fail evidence across runs (Reynolds & Stoumbos 1999).

    Each run contributes ``f ln((1-p1)/(1-p0)) + (n-f) ln(p1/p0)`` (rounded to a 1/100-failure
    lattice); the chart signals when the sum exceeds h. By default h gives an in-control ARL of
    8,760 runs: one false alarm per year when runs are hourly, while a drop from 0.95 to 0.85
    at n = 20 is signalled after about 6 runs.

    Args:
        p0: In-control (baseline) pass rate, in (0, 1).
        p1: Pass rate of the smallest regression worth catching quickly, in (0, p0).
        h: Decision interval in log-likelihood-ratio units; None solves it for ``arl0``.
        arl0: Target in-control ARL in runs (used when h is None).
        n_per_run: Trials per run assumed when solving h (runs may differ in practice).
        in_control: ``(pass rate, weight)`` pairs when the in-control rate is uncertain (p0
            estimated from a baseline): h is then solved so the *weighted mean alarm rate*
            ``sum(w / ARL(p))`` is ``1 / arl0``, the long-run false-alarm rate of a chart that
            restarts after each signal. None means the rate is exactly p0.
    """

    kind = "bernoulli_cusum"

    def __init__(
        self,
        p0: float,
        p1: float,
        h: float | None = None,
        arl0: float = HOURLY_RUNS_PER_YEAR,
        *,
        n_per_run: int = 20,
        in_control: tuple[tuple[float, float], ...] | None = None,
    ) -> None:
        self.p0 = probability(p0, "p0")
        self.p1 = probability(p1, "p1")
        if self.p1 >= self.p0:
            raise StatsError(
                f"p1={p1!r} must be below p0={p0!r}: both are pass rates and the chart looks "
                "for a drop"
            )
        self.arl0 = positive_scalar(arl0, "arl0")
        self.n_per_run = count(n_per_run, "n_per_run", minimum=1)
        self._a, self._b = _steps(self.p0, self.p1)
        self._unit = math.log((1 - self.p1) / (1 - self.p0)) / self._a  # LLR per lattice step
        self._in_control = _mixture(in_control) if in_control else ((self.p0, 1.0),)
        if h is None:
            self._big_h = self._solve_h()
        else:
            self._big_h = int(math.floor(positive_scalar(h, "h") / self._unit))
        self.reset()

    @property
    def h(self) -> float:
        """Decision interval in log-likelihood-ratio units."""
        return self._big_h * self._unit

    def _solve_h(self) -> int:
        """Smallest lattice threshold whose in-control ARL reaches ``arl0`` (bisection)."""

        def arl(big_h: int) -> float:
            # Rates ascend, so ARLs do: stop once the weight left, at the last node's alarm
            # rate, bounds the rest below 0.1 % of the sum (error bounded, not estimated).
            rate, left = 0.0, 1.0
            for p, w in self._in_control:
                node = 1 / _arl_lattice(self._a, self._b, big_h, self.n_per_run, p)
                rate += w * node
                left -= w
                if left * node <= 1e-3 * rate:
                    break
            return 1 / rate if rate > 0 else math.inf

        # A posterior mixture with mass where the chart drifts upwards may need any h: stop at
        # 64 failures' worth (each step is a dozen Markov chains) and say it is out of reach.
        limit = (400 if len(self._in_control) == 1 else 64) * self._a
        lo, hi = 0, self._a
        while arl(hi) < self.arl0:
            lo, hi = hi, 2 * hi
            if hi > limit:
                raise StatsError(f"arl0={self.arl0} is out of reach for this design")
        # A single in-control rate is solved to the lattice step; a posterior mixture (many
        # Markov chains per step) to 0.5 % of h, rounding up so the target is still met.
        tol = 1 if len(self._in_control) == 1 else max(1, hi // 200)
        while hi - lo > tol:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if arl(mid) < self.arl0 else (lo, mid)
        return hi

    def arl(self, p: float, n_per_run: int | None = None) -> float:
        """ARL in runs of this chart when the true pass rate is ``p`` (exact Markov chain)."""
        n = self.n_per_run if n_per_run is None else count(n_per_run, "n_per_run", minimum=1)
        return _arl_lattice(
            self._a, self._b, self._big_h, n, probability(p, "p", open_interval=False)
        )

    def reset(self) -> None:
        """Restart the sum (e.g. after an incident was resolved)."""
        self.index = 0
        self._s = 0
        self._start: tuple[int, Label] | None = None
        self.change_point: ChangePoint | None = None

    def update(self, failures: int, n: int, label: Any = None) -> BernoulliPoint:
        """Add one run's result.

        Args:
            failures: Number of failed trials in the run.
            n: Number of trials in the run (>= 1; a run with no trials is not evidence).
            label: Optional run id or timestamp.

        Returns:
            The :class:`BernoulliPoint`.
        """
        n = count(n, "n", minimum=1)
        failures = count(failures, "failures")
        if failures > n:
            raise StatsError(f"failures={failures} exceeds the number of trials n={n}")
        lab = _label(label)
        self.index += 1
        self._s = max(0, self._s + failures * self._a - (n - failures) * self._b)
        if self._s > 0 and self._start is None:
            self._start = (self.index, lab)
        elif self._s == 0:
            self._start = None
        alarm = self._s > self._big_h
        if alarm and self.change_point is None:
            start = self._start or (self.index, lab)
            self.change_point = ChangePoint(self.index, lab, start[0], start[1], "down")
        return BernoulliPoint(
            self.index, lab, failures, n, self._s * self._unit, self.h, alarm, self.change_point
        )

    def state(self) -> dict[str, Any]:
        """JSON-serialisable design and running state."""
        return {
            "version": 1,
            "kind": self.kind,
            "p0": self.p0,
            "p1": self.p1,
            "arl0": self.arl0,
            "n_per_run": self.n_per_run,
            "lattice_h": self._big_h,
            "index": self.index,
            "sum": self._s,
            "start": list(self._start) if self._start else None,
            "change_point": asdict(self.change_point) if self.change_point else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BernoulliCUSUM:
        """Rebuild a chart from :meth:`state` output without re-solving h."""
        if state.get("kind") != cls.kind or state.get("version") != 1:
            raise StatsError(f"not a version-1 {cls.kind} state: {state.get('kind')!r}")
        chart = cls.__new__(cls)
        chart.p0, chart.p1 = state["p0"], state["p1"]
        chart.arl0, chart.n_per_run = state["arl0"], state["n_per_run"]
        chart._a, chart._b = _steps(chart.p0, chart.p1)
        chart._unit = math.log((1 - chart.p1) / (1 - chart.p0)) / chart._a
        chart._big_h = count(state["lattice_h"], "lattice_h")
        chart.index = count(state["index"], "index")
        chart._s = count(state["sum"], "sum")
        chart._start = tuple(state["start"]) if state["start"] else None
        cp = state.get("change_point")
        chart.change_point = ChangePoint(**cp) if cp else None
        return chart
