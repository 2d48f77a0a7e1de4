"""The production flow's statistics: window items, baselines, per-window charts, rate tests,
embedding drift and the alerts that need no baseline (cost, budget, monitor the monitor).

A production run stores one item per window x feature x model (its ops, signals and judged
means, plus a few embeddings of the judged sample) and one ``*`` item per window (totals). The
comparison with the frozen baseline is the shared pipeline (``canaryflow.detection``):

- every charted metric is an EWMA chart fed one point per window, keyed to its baseline
  version; a window mean of n requests is rescaled to the baseline's typical n
  (``mean + (x - mean) * sqrt(n / n_ref)``) so quiet night windows, whose means are noisier,
  do not page more often than busy ones;
- error / refusal / flag rates are one-sided exact tests of the run's pooled counts against
  the baseline's, Benjamini-Hochberg across features and metrics (one step per run);
- input and output embeddings of the judged sample are compared by an MMD permutation test
  with a frozen baseline sample (stored as a baseline payload) once per ``DRIFT_BLOCK``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from canaryflow.config import AlertParams
from canaryflow.detection import SubjectTest
from canaryflow.errors import StatsError
from canaryflow.records import Baseline, ItemResult, MetricClass, RunRecord
from canaryflow.runs._canary_charts import change_start
from canaryflow.stats import EWMAChart, mmd_test, rate_drop_test
from canaryflow.store import ChartKey, Store

__all__ = [
    "ALL",
    "CHARTED",
    "DRIFT_BLOCK",
    "FLOW",
    "RATES",
    "build_production_baselines",
    "chart_tests",
    "drift_tests",
    "rate_tests",
    "window_value",
]

FLOW: Final = "production"
ALL = "*"

ARL0_PER_CHART = 1_000_000.0
"""In-control ARL of one per-window chart, in windows. A source with 3 features has ~20
charts fed 96 points a day: the whole system then raises a false chart alarm about once in
1e6 / (20 x 96) = 520 days (``[alerts.production] arl0`` overrides it when set higher)."""

MIN_CHART_WINDOWS = 30
"""Fewest baseline windows a chart is built from: below it no widening of L holds ARL0 at
1e6 windows despite the estimated mean and sd (``stats.ewma_L_for_baseline``), so the metric
is not charted (rare judged windows, say) rather than crashing every later run."""

DRIFT_BLOCK = timedelta(hours=3)
"""Embedding drift is tested once per block of this length (not every window: repeated tests
on overlapping data would multiply the false alarms)."""
DRIFT_PERMUTATIONS = 999
DRIFT_P = 1e-3
"""A drift test signals only when the observed MMD beats every permutation (p = 1/1000); ~48
tests a day on 3 features give one false drift alarm in ~20 days."""
DRIFT_MIN = 20
"""Fewest sampled records of a block worth testing."""
BASELINE_VECTORS = 150
EMBED_DIM = 64
VECTORS_PER_WINDOW = 12


def _log(v: Any) -> float | None:
    return math.log(v) if v is not None and v > 0 else None


CHARTED: dict[str, tuple[Callable[[Mapping[str, Any]], float | None], str, str, MetricClass]] = {
    # metric: (value from the item's extra, weight key, unit, class)
    "ttft_p50": (lambda e: _log(e["ops"].get("ttft_ms_p50")), "n", "log(ms)", "latency"),
    "tbt_p50": (lambda e: _log(e["ops"].get("tbt_ms_p50")), "n", "log(ms)", "latency"),
    "latency_p95": (lambda e: _log(e["ops"].get("latency_ms_p95")), "n", "log(ms)", "latency"),
    "output_tokens_mean": (
        lambda e: _log(e["ops"].get("output_tokens_mean")),
        "n",
        "log(tokens)",
        "drift",
    ),
    "cost_per_request": (
        lambda e: _log(e["ops"].get("cost_per_request_usd")),
        "n",
        "log(USD)",
        "cost",
    ),
}
"""Per-window charted metrics (latency on a log scale). Judged correctness is a rate test
(``RATES``): single 1-5 judge scores are discrete and heavy-tailed, and a window holds a few of
them, so a normal-theory EWMA of their mean at ARL0 1e6 windows paged about once in 3.5
in-control days in the 21-day benchmark; an exact test of the share of low scores has a known
false-alarm rate whatever their distribution."""

RATES: dict[str, tuple[str, str, str, MetricClass]] = {
    "error_rate": ("ops", "n_error", "n", "reliability"),
    "refusal_rate": ("ops", "n_refusal", "n", "quality"),
    "flag_rate": ("ops", "n_flagged", "n", "safety"),
    "judge_low_correctness_rate": ("judge", "low", "judged", "correctness"),
}
"""Rate metrics tested per run against the baseline: (item section, events, trials, class).
A judged answer scoring <= 2 on correctness is a "low" event; judge errors are not trials."""


def window_value(metric: str, extra: Mapping[str, Any]) -> tuple[float | None, int]:
    """The window's value of a charted metric and the number of observations behind it."""
    get, weight, _, _ = CHARTED[metric]
    src = extra["judge"] if weight == "judged" else extra["ops"]
    n = int(src.get(weight) or 0)
    return (get(extra) if n else None), n


def _subject_items(items: Sequence[ItemResult]) -> dict[str, list[ItemResult]]:
    by: dict[str, list[ItemResult]] = defaultdict(list)
    for i in items:
        if i.subject != ALL:
            by[i.subject].append(i)
    for v in by.values():
        v.sort(key=lambda i: i.extra["window_start"])
    return by


def build_production_baselines(
    model: str, runs: Sequence[RunRecord], items: Sequence[ItemResult], reason: str
) -> tuple[list[Baseline], dict[tuple[str, str], dict[str, Any]]]:
    """Frozen statistics per feature x model x metric, and the embedding samples beside them."""
    run_ids = tuple(r.run_id for r in runs)
    window = (runs[0].as_of, runs[-1].as_of) if runs else (None, None)
    out: list[Baseline] = []
    payloads: dict[tuple[str, str], dict[str, Any]] = {}

    def add(subject: str, metric: str, n: int, stats: dict[str, Any]) -> None:
        out.append(
            Baseline(
                flow=FLOW,
                model=model,
                subject=subject,
                metric=metric,
                n=n,
                stats=stats,
                window_start=window[0],
                window_end=window[1],
                run_ids=run_ids,
                reason=reason,
            )
        )

    for subject, its in _subject_items(items).items():
        for metric, (_, _, unit, _) in CHARTED.items():
            pairs = [window_value(metric, i.extra) for i in its]
            xs = np.array([x for x, n in pairs if x is not None], dtype=float)
            ns = np.array([n for x, n in pairs if x is not None], dtype=float)
            if xs.size < MIN_CHART_WINDOWS:
                continue
            mean = float(np.average(xs, weights=ns))
            n_ref = float(ns.mean())
            ys = mean + (xs - mean) * np.sqrt(ns / n_ref)
            sd = float(ys.std(ddof=1))
            if sd > 0:
                add(
                    subject,
                    metric,
                    int(xs.size),
                    {"mean": mean, "sd": sd, "n_ref": n_ref, "unit": unit},
                )
        for metric, (sec, key, den, _) in RATES.items():
            trials = sum(int(i.extra.get(sec, {}).get(den) or 0) for i in its)
            events = sum(int(i.extra.get(sec, {}).get(key) or 0) for i in its)
            if trials:
                add(subject, metric, trials, {"events": events, "trials": trials})
        for side in ("input", "output"):
            vecs = [v for i in its for v in i.extra.get(f"emb_{side}", [])]
            if len(vecs) >= DRIFT_MIN:
                rng = np.random.default_rng(0)
                pick = rng.permutation(len(vecs))[:BASELINE_VECTORS]
                sample = [vecs[k] for k in sorted(pick)]
                metric = f"{side}_drift"
                add(subject, metric, len(sample), {"vectors": len(sample), "dim": len(sample[0])})
                payloads[(subject, metric)] = {"embeddings": sample}
    return out, payloads


def _chart_arl0(params: AlertParams) -> float:
    return max(params.arl0, ARL0_PER_CHART)


def chart_tests(
    store: Store,
    params: AlertParams,
    run: RunRecord,
    items: Sequence[ItemResult],
    baselines: Mapping[tuple[str, str], Baseline],
) -> list[SubjectTest]:
    """Feed each window into its charts (one point per window, keyed to the baseline version)."""
    tests: list[SubjectTest] = []
    for subject, its in _subject_items(items).items():
        for metric, (_, _, unit, klass) in CHARTED.items():
            b = baselines.get((subject, metric))
            if b is None:
                continue
            key = ChartKey.of(b, f"{metric}_ewma")
            mean, n_ref = b.stats["mean"], b.stats["n_ref"]

            def fold(
                state: dict[str, Any] | None,
                obs: dict[str, Any],
                when: datetime,
                b: Baseline = b,
            ) -> tuple[dict[str, Any], dict[str, Any]]:
                chart = (
                    EWMAChart.from_state(state)
                    if state
                    else EWMAChart(
                        b.stats["mean"],
                        b.stats["sd"],
                        lam=params.ewma_lambda,
                        arl0=_chart_arl0(params),
                        baseline_n=b.n,
                    )
                )
                pt = chart.update(obs["value"], label=when.isoformat())
                first = change_start(pt.change_point)
                if pt.alarm:
                    chart.reset()
                return chart.state(), {
                    "raw": obs["raw"],
                    "statistic": pt.statistic,
                    "lower": pt.lower,
                    "upper": pt.upper,
                    "alarm": bool(pt.alarm),
                    "first_window": first.isoformat() if first else None,
                    "calibration": chart.calibration_note,
                }

            alarm: dict[str, Any] | None = None
            last: dict[str, Any] | None = None
            values: list[float] = []
            for i in its:
                x, n = window_value(metric, i.extra)
                if x is None:
                    continue
                y = mean + (x - mean) * math.sqrt(n / n_ref)
                res = store.apply_chart_point(
                    key,
                    run_id=i.item_id,
                    as_of=datetime.fromisoformat(i.extra["window_end"]),
                    observation={"value": y, "raw": x},
                    fold=fold,
                )
                values.append(x)
                last = res
                if res["alarm"] and alarm is None:
                    alarm = {**res, "window_end": i.extra["window_end"]}
            if last is None:
                continue
            shown = alarm or last
            log_scale = unit.startswith("log")
            base_v = math.exp(mean) if log_scale else mean
            cur_v = math.exp(shown["raw"]) if log_scale else shown["raw"]
            first = shown.get("first_window")
            limit = shown["upper"] if shown["statistic"] > mean else shown["lower"]
            tests.append(
                SubjectTest(
                    subject=subject,
                    metric=metric,
                    metric_class=klass,
                    test=f"ewma(lambda={params.ewma_lambda:g}, ARL0={_chart_arl0(params):.0e} "
                    f"windows) on {unit} per window",
                    baseline_value=base_v,
                    current_value=cur_v,
                    n=len(values),
                    baseline_n=b.n,
                    statistic=shown["statistic"],
                    limit=limit,
                    signal=alarm is not None,
                    unit=unit.replace("log(", "").rstrip(")"),
                    first_window=datetime.fromisoformat(first) if first else None,
                    evidence={"calibration": shown.get("calibration"), "chart_key": str(key)},
                    message=(
                        f"{subject} {metric}: {cur_v:.4g} vs baseline {base_v:.4g} "
                        f"({unit.replace('log(', '').rstrip(')')}; EWMA out of limits in the "
                        f"window ending {shown.get('window_end', '?')})"
                    ),
                )
            )
    return tests


def rate_tests(
    params: AlertParams,
    items: Sequence[ItemResult],
    baselines: Mapping[tuple[str, str], Baseline],
) -> list[SubjectTest]:
    """One-sided exact tests of the run's pooled rates against the baseline's (BH later)."""
    tests = []
    for subject, its in _subject_items(items).items():
        for metric, (sec, key, den, klass) in RATES.items():
            n = sum(int(i.extra.get(sec, {}).get(den) or 0) for i in its)
            b = baselines.get((subject, metric))
            if b is None or not n:
                continue
            k = sum(int(i.extra.get(sec, {}).get(key) or 0) for i in its)
            be, bt = int(b.stats["events"]), int(b.stats["trials"])
            # "Rate went up" is "the rate of non-events dropped".
            r = rate_drop_test(bt - be, bt, n - k, n, params.rate_method)
            tests.append(
                SubjectTest(
                    subject=subject,
                    metric=metric,
                    metric_class=klass,
                    test=f"{params.rate_method}_one_sided",
                    baseline_value=be / bt,
                    current_value=k / n,
                    n=n,
                    baseline_n=bt,
                    p_value=r.p_value,
                    effect=k / n - be / bt,
                    first_window=datetime.fromisoformat(its[0].extra["window_start"]),
                    evidence={"events": k, "trials": n, "baseline_events": be},
                    message=f"{subject} {metric}: {k}/{n} ({k / n:.2%}) vs baseline "
                    f"{be}/{bt} ({be / bt:.2%})",
                )
            )
    return tests


def drift_tests(
    store: Store,
    run: RunRecord,
    items: Sequence[ItemResult],
    baselines: Mapping[tuple[str, str], Baseline],
) -> list[SubjectTest]:
    """MMD of the last completed drift block's embeddings against the frozen sample.

    Runs only in the run whose windows close a block, so each block is tested once.
    """
    ends = [datetime.fromisoformat(i.extra["window_end"]) for i in items if i.subject == ALL]
    block = DRIFT_BLOCK.total_seconds()
    closing = [e for e in ends if e.timestamp() % block == 0]
    if not closing:
        return []
    end = max(closing)
    start = end - DRIFT_BLOCK
    runs = store.list_runs(
        FLOW, run.model, since=start - timedelta(days=1), until=end + DRIFT_BLOCK
    )
    ids = [r.run_id for r in runs if r.run_id != run.run_id] + [run.run_id]
    block_items = [
        i
        for i in (*store.items_for_runs(ids), *items)
        if i.subject != ALL and start.isoformat() <= i.extra["window_start"] < end.isoformat()
    ]
    seen: set[str] = set()
    vecs: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    for i in block_items:
        if i.item_id in seen:
            continue
        seen.add(i.item_id)
        for side in ("input", "output"):
            vecs[(i.subject, side)].extend(i.extra.get(f"emb_{side}", []))
    tests = []
    for (subject, side), cur in sorted(vecs.items()):
        b = baselines.get((subject, f"{side}_drift"))
        if b is None or len(cur) < DRIFT_MIN:
            continue
        payload = store.load_baseline_payload(b, "embeddings")
        if not payload:
            continue
        rng = np.random.default_rng(int(end.timestamp()) + (side == "output"))
        try:
            res = mmd_test(
                np.asarray(payload, dtype=float),
                np.asarray(cur, dtype=float),
                permutations=DRIFT_PERMUTATIONS,
                alpha=DRIFT_P * 1.0001,
                rng=rng,
            )
        except StatsError:
            continue
        tests.append(
            SubjectTest(
                subject=subject,
                metric=f"{side}_drift",
                metric_class="drift",
                test=f"mmd_permutation(B={DRIFT_PERMUTATIONS}) on {side} embeddings",
                baseline_value=None,
                current_value=float(res.mmd2),
                n=len(cur),
                baseline_n=b.n,
                statistic=float(res.mmd2),
                limit=float(res.null_quantile),
                signal=bool(res.p_value <= DRIFT_P),
                first_window=start,
                evidence={
                    "p_value": res.p_value,
                    "centroid_cosine": res.centroid_cosine,
                    "block": f"{start.astimezone(UTC):%Y-%m-%d %H:%M} to {end:%H:%M} UTC",
                },
                message=(
                    f"{subject} {side} distribution moved: MMD² {res.mmd2:.4f} beats all "
                    f"{DRIFT_PERMUTATIONS} permutations (p = {res.p_value:.4f}); centroid "
                    f"cosine {res.centroid_cosine:.3f} (context)"
                ),
            )
        )
    return tests
