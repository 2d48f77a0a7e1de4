"""The canary's across-run charts, whose state lives in the store between runs.

* a Bernoulli CUSUM per probe family (Reynolds & Stoumbos 1999) accumulates failures across
  hourly runs, catching drops too small for one run's test;
* an EWMA chart of the log per-run median latency, with limits from the frozen baseline (L
  widened for small baselines, see ``EWMAChart``).

Each run is applied at most once (a rerun of the same hour finds its id in the state), and a
chart restarts after a signal: the alert carries the change point, a persisting change signals
again and updates the open incident.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from canaryflow.config import AlertsConfig
from canaryflow.records import Alert, Baseline, RunRecord
from canaryflow.runs._canary_baseline import ALL, FLOW, RunSummary, log_p50
from canaryflow.stats import BernoulliCUSUM, EWMAChart, calibrated_pass_cusum
from canaryflow.store import Store

if TYPE_CHECKING:  # the result type lives with the evaluation, which imports this module
    from canaryflow.runs._canary_detect import FamilyResult

__all__ = ["HISTORY", "MIN_LATENCY_BASELINE_RUNS", "change_start", "family_cusum", "latency_chart"]

HISTORY = 240
"""Chart points kept in the stored chart state for plots (10 days of hourly runs)."""
MIN_LATENCY_BASELINE_RUNS = 5
"""The latency EWMA needs a baseline of at least this many runs (``ewma_L_for_baseline``)."""


def change_start(cp: Any) -> datetime | None:
    """The estimated first out-of-control window of a chart's change point."""
    if cp is None:
        return None
    label = cp.start_label if cp.start_label is not None else cp.alarm_label
    try:
        return datetime.fromisoformat(str(label))
    except ValueError:
        return None


def _chart_update(
    store: Store, model: str, subject: str, metric: str, run: RunRecord
) -> tuple[dict[str, Any] | None, bool]:
    """Load a chart state and tell whether this run was already applied (idempotent reruns)."""
    state = store.load_chart_state(FLOW, model, subject, metric)
    applied = bool(state and run.run_id in state.get("applied", []))
    return state, applied


def _save_chart(
    store: Store, model: str, subject: str, metric: str, run: RunRecord, state: dict[str, Any]
) -> None:
    applied = list(state.get("applied", []))[-HISTORY:] + [run.run_id]
    state["applied"] = applied
    store.save_chart_state(FLOW, model, subject, metric, state, run_id=run.run_id)


def family_cusum(
    store: Store, alerts_cfg: AlertsConfig, run: RunRecord, f: FamilyResult
) -> tuple[Any, list[dict[str, Any]]]:
    """Feed this run into the family's Bernoulli CUSUM; return its point and history.

    The trials are the family's probes in this run (``f.n``), not their repetitions, which fail
    together. The design comes from the baseline's probe-run counts through
    ``calibrated_pass_cusum``: reference at the posterior mean pass rate, h solved so the
    false-alarm rate averaged over the rate's posterior is 1 / ``bernoulli_cusum_arl0_runs``
    (p0 is an estimate from m baseline runs). A family that already fails in the baseline has
    no drop left to chart. Reruns of an applied run change nothing.
    """
    state, applied = _chart_update(store, run.model, f.family, "bernoulli_cusum", run)
    if applied:
        return None, list((state or {}).get("history", []))
    chart: BernoulliCUSUM | None = None
    if state and "chart" in state:
        chart = BernoulliCUSUM.from_state(state["chart"])
    else:
        chart = calibrated_pass_cusum(
            f.baseline_successes,
            f.baseline_n,
            n_per_run=f.n,
            min_drop=alerts_cfg.min_detectable_drop,
            arl0=alerts_cfg.bernoulli_cusum_arl0_runs,
        )
    point = None
    new_state = dict(state or {})
    if chart is not None:
        point = chart.update(f.n - f.successes, f.n, label=run.as_of.isoformat())
        if point.alarm:
            # Restart after a signal (the alert carries the change point); a change that
            # persists signals again and updates the open incident.
            chart.reset()
        new_state["chart"] = chart.state()
    history = list(new_state.get("history", []))
    history.append(
        {
            "as_of": run.as_of.isoformat(),
            "rate": f.rate,
            "passed": f.successes,
            "n": f.n,
            "statistic": point.statistic if point else None,
            "limit": point.h if point else None,
            "alarm": bool(point and point.alarm),
        }
    )
    new_state["history"] = history[-HISTORY:]
    _save_chart(store, run.model, f.family, "bernoulli_cusum", run, new_state)
    return point, new_state["history"]


def latency_chart(
    store: Store,
    alerts_cfg: AlertsConfig,
    run: RunRecord,
    cur: RunSummary,
    lb: Baseline | None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], Alert | None]:
    """EWMA chart of the log per-run median latency: (this point, history, alert or None)."""
    x = log_p50(cur.latencies)
    if lb is None or x is None or lb.stats["sd"] <= 0 or lb.n < MIN_LATENCY_BASELINE_RUNS:
        return None, [], None
    state, applied = _chart_update(store, run.model, ALL, "latency_ewma", run)
    history = list((state or {}).get("history", []))
    if applied:
        return None, history, None
    chart = (
        EWMAChart.from_state(state["chart"])
        if state and "chart" in state
        else EWMAChart(
            lb.stats["mean"],
            lb.stats["sd"],
            lam=alerts_cfg.ewma_lambda,
            arl0=alerts_cfg.arl0,
            baseline_n=lb.n,
        )
    )
    pt = chart.update(x, label=run.as_of.isoformat())
    if pt.alarm:
        chart.reset()
    history.append(
        {
            "as_of": run.as_of.isoformat(),
            "value": pt.value,
            "statistic": pt.statistic,
            "lower": pt.lower,
            "upper": pt.upper,
            "alarm": pt.alarm,
        }
    )
    history = history[-HISTORY:]
    _save_chart(
        store, run.model, ALL, "latency_ewma", run, {"chart": chart.state(), "history": history}
    )
    base_ms, now_ms = math.exp(lb.stats["mean"]), math.exp(x)
    point = {
        "p50_ms": now_ms,
        "baseline_p50_ms": base_ms,
        "statistic": pt.statistic,
        "lower": pt.lower,
        "upper": pt.upper,
        "alarm": pt.alarm,
        "calibration": getattr(chart, "calibration_note", ""),
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
            limit=pt.upper if pt.statistic > 0 else pt.lower,
            baseline_n=lb.n,
            first_window=change_start(pt.change_point) or run.as_of,
            run_id=run.run_id,
            as_of=run.as_of,
            message=f"median latency {now_ms:.0f} ms vs baseline {base_ms:.0f} ms "
            "(EWMA out of limits)",
        )
    return point, history, alert
