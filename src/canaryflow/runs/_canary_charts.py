"""The canary's across-run charts, whose state lives in the store between runs.

* a Bernoulli CUSUM per probe family (Reynolds & Stoumbos 1999) accumulates failures across
  hourly runs, catching drops too small for one run's test;
* an EWMA chart of the log per-run median latency, with limits from the frozen baseline (L
  widened for small baselines, see ``EWMAChart``).

Each chart belongs to one baseline version and is the fold of its points (one per run) in
``as_of`` order, kept in the store (``Store.apply_chart_point``): a rerun of the same hour
reproduces the same point and alert, concurrent runs lose nothing, and a new baseline version
starts a new chart. A chart restarts after a signal: the alert carries the change point, a
persisting change signals again and updates the open incident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from canaryflow.config import MIN_BASELINE_RUNS, AlertParams
from canaryflow.records import Alert, Baseline, RunRecord
from canaryflow.runs._canary_baseline import ALL, FLOW, RunSummary, log_p50
from canaryflow.stats import BernoulliCUSUM, EWMAChart, calibrated_pass_cusum
from canaryflow.store import ChartKey, Store

if TYPE_CHECKING:  # the result type lives with the evaluation, which imports this module
    from canaryflow.runs._canary_detect import FamilyResult

__all__ = ["HISTORY", "ChartResult", "change_start", "family_cusum", "latency_chart"]

HISTORY = 240
"""Chart points kept in the stored chart state for plots (10 days of hourly runs)."""


def change_start(cp: Any) -> datetime | None:
    """The estimated first out-of-control window of a chart's change point."""
    if cp is None:
        return None
    label = cp.start_label if cp.start_label is not None else cp.alarm_label
    try:
        return datetime.fromisoformat(str(label))
    except ValueError:
        return None


@dataclass(frozen=True)
class ChartResult:
    """What a chart said about one run's observation (as stored with the point)."""

    statistic: float
    limit: float
    alarm: bool
    first_window: datetime | None

    @classmethod
    def of(cls, result: dict[str, Any]) -> ChartResult:
        first = result.get("first_window")
        return cls(
            float(result["statistic"]),
            float(result["limit"]),
            bool(result["alarm"]),
            datetime.fromisoformat(first) if first else None,
        )


def family_cusum(
    store: Store, alerts_cfg: AlertParams, run: RunRecord, f: FamilyResult, b: Baseline
) -> tuple[ChartResult | None, list[dict[str, Any]]]:
    """Feed this run into the family's Bernoulli CUSUM; return its point and history.

    The chart belongs to the family's baseline version ``b`` (a promote or accepted change
    starts a new one). The trials are the family's probes in this run (``f.n``), not their
    repetitions, which fail together. The design comes from the baseline's probe-run counts
    through ``calibrated_pass_cusum``: reference at the posterior mean pass rate, h solved so
    the false-alarm rate averaged over the rate's posterior is 1 / ``bernoulli_cusum_arl0_runs``
    (p0 is an estimate from m baseline runs); it is designed once, for the chart's first point.
    A family that already fails in the baseline has no drop left to chart (None). A rerun of
    the same hour recomputes the same point (same alarm).
    """
    key = ChartKey.of(b, "bernoulli_cusum")
    designed: list[BernoulliCUSUM | None] = []

    def design() -> BernoulliCUSUM | None:
        if not designed:
            designed.append(
                calibrated_pass_cusum(
                    f.baseline_successes,
                    f.baseline_n,
                    n_per_run=f.n,
                    min_drop=alerts_cfg.min_detectable_drop,
                    arl0=alerts_cfg.bernoulli_cusum_arl0_runs,
                )
            )
        return designed[0]

    if store.chart_state(key) is None and design() is None:
        return None, []

    def fold(
        state: dict[str, Any] | None, obs: dict[str, Any], when: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if state is None:
            initial = design()
            assert initial is not None  # checked before the first point
            state = initial.state()
        chart = BernoulliCUSUM.from_state(state)
        pt = chart.update(obs["failed"], obs["n"], label=when.isoformat())
        first = change_start(pt.change_point)
        if pt.alarm:
            # Restart after a signal (the alert carries the change point); a change that
            # persists signals again and updates the open incident.
            chart.reset()
        return chart.state(), {
            "rate": obs["passed"] / obs["n"] if obs["n"] else None,
            "passed": obs["passed"],
            "n": obs["n"],
            "statistic": pt.statistic,
            "limit": pt.h,
            "alarm": bool(pt.alarm),
            "first_window": first.isoformat() if first else None,
        }

    result = store.apply_chart_point(
        key,
        run_id=run.run_id,
        as_of=run.as_of,
        observation={"failed": f.n - f.successes, "passed": f.successes, "n": f.n},
        fold=fold,
    )
    return ChartResult.of(result), store.chart_history(key, limit=HISTORY)


def latency_chart(
    store: Store,
    alerts_cfg: AlertParams,
    run: RunRecord,
    cur: RunSummary,
    lb: Baseline | None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], Alert | None]:
    """EWMA chart of the log per-run median latency: (this point, history, alert or None)."""
    x = log_p50(cur.latencies)
    if lb is None or x is None or lb.stats["sd"] <= 0 or lb.n < MIN_BASELINE_RUNS[FLOW]:
        return None, [], None
    key = ChartKey.of(lb, "latency_ewma")

    def fold(
        state: dict[str, Any] | None, obs: dict[str, Any], when: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        chart = (
            EWMAChart.from_state(state)
            if state
            else EWMAChart(
                lb.stats["mean"],
                lb.stats["sd"],
                lam=alerts_cfg.ewma_lambda,
                arl0=alerts_cfg.arl0,
                baseline_n=lb.n,
            )
        )
        pt = chart.update(obs["value"], label=when.isoformat())
        first = change_start(pt.change_point)
        if pt.alarm:
            chart.reset()
        return chart.state(), {
            "value": pt.value,
            "statistic": pt.statistic,
            "lower": pt.lower,
            "upper": pt.upper,
            "limit": pt.upper if pt.statistic > lb.stats["mean"] else pt.lower,
            "alarm": bool(pt.alarm),
            "first_window": first.isoformat() if first else None,
            "calibration": chart.calibration_note,
        }

    res = store.apply_chart_point(
        key, run_id=run.run_id, as_of=run.as_of, observation={"value": x}, fold=fold
    )
    history = store.chart_history(key, limit=HISTORY)
    pt = ChartResult.of(res)
    base_ms, now_ms = math.exp(lb.stats["mean"]), math.exp(x)
    point = {
        "p50_ms": now_ms,
        "baseline_p50_ms": base_ms,
        "statistic": pt.statistic,
        "lower": res["lower"],
        "upper": res["upper"],
        "alarm": pt.alarm,
        "calibration": res["calibration"],
        "unit": lb.stats.get("unit", "log(ms)"),
    }
    alert = None
    if pt.alarm and alerts_cfg.canary_latency_alerts:
        alert = Alert(
            flow=FLOW,
            model=run.model,
            subject=ALL,
            metric="latency_p50",
            metric_class="latency",
            baseline_value=base_ms,
            current_value=now_ms,
            test=f"ewma(lambda={alerts_cfg.ewma_lambda:g}, ARL0={alerts_cfg.arl0:g})"
            " on log per-run median latency",
            statistic=pt.statistic,
            limit=pt.limit,
            baseline_n=lb.n,
            first_window=pt.first_window or run.as_of,
            run_id=run.run_id,
            as_of=run.as_of,
            message=f"median latency {now_ms:.0f} ms vs baseline {base_ms:.0f} ms "
            "(EWMA out of limits)",
        )
    return point, history, alert
