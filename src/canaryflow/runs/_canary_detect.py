"""Canary detection: summarise a run, build baselines, compare a run with them.

Three signals, each with a known false-alarm rate (DESIGN.md §4):

* per-family pass rates: one-sided Fisher exact against the frozen baseline sample,
  Benjamini–Hochberg across families at ``alerts.fdr_q``; a power check turns a quiet result on
  a small family into "inconclusive" rather than "pass";
* a Bernoulli CUSUM per family across runs (Reynolds & Stoumbos 1999), which accumulates the
  small per-run evidence of modest drops;
* the behaviour fingerprint: at temperature 0 each probe has a modal output in the baseline;
  the share of attempts that leave it is tested (one-sided Fisher) so a silent model update is
  caught even when every check still passes. New provider model names are facts, not statistics.

Latency is charted (EWMA on log p50 per run) with limits from the frozen baseline.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from canaryflow.config import AlertsConfig
from canaryflow.records import Alert, Baseline, ItemResult, MetricClass, RunRecord
from canaryflow.stats import (
    BernoulliCUSUM,
    EWMAChart,
    bh_adjust,
    rate_drop_power,
    rate_drop_test,
    wilson_interval,
)
from canaryflow.store import Store

__all__ = [
    "ALL",
    "CanaryEvaluation",
    "FamilyResult",
    "FingerprintResult",
    "RunSummary",
    "build_baselines",
    "canary_stats",
    "evaluate_run",
    "summarize",
]

ALL = "all_probes"
"""Subject of model-wide baselines (fingerprint, latency)."""
FLOW = "canary"
SAFETY_FAMILIES = frozenset({"safety_refusal"})
HISTORY = 240
"""Chart points kept in the stored chart state for plots (10 days of hourly runs)."""
MIN_LATENCY_BASELINE_RUNS = 5
"""The latency EWMA needs a baseline of at least this many runs (``ewma_L_for_baseline``)."""


def family_class(family: str) -> MetricClass:
    """Safety families rank above correctness ones."""
    return "safety" if family in SAFETY_FAMILIES else "correctness"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class RunSummary:
    """Counts of one run (or a pool of runs) for one model."""

    family_pass: Counter[str] = field(default_factory=Counter)
    family_n: Counter[str] = field(default_factory=Counter)
    family_errors: Counter[str] = field(default_factory=Counter)
    probe_pass: Counter[str] = field(default_factory=Counter)
    probe_n: Counter[str] = field(default_factory=Counter)
    probe_family: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[str, str] = field(default_factory=dict)
    """Output digest -> one raw output with that digest."""
    system_fingerprints: Counter[str] = field(default_factory=Counter)
    model_names: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    attempts: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def error_rate(self) -> float:
        return self.errors / self.attempts if self.attempts else 0.0


def summarize(items: Sequence[ItemResult]) -> RunSummary:
    """Pool the attempts of one or several runs."""
    s = RunSummary()
    for it in items:
        s.attempts += 1
        s.probe_family[it.item_id] = it.subject
        if it.passed is None:
            s.errors += 1
            s.family_errors[it.subject] += 1
            s.error_kinds[it.error_kind or "error"] += 1
            continue
        s.family_n[it.subject] += 1
        s.probe_n[it.item_id] += 1
        if it.passed:
            s.family_pass[it.subject] += 1
            s.probe_pass[it.item_id] += 1
        d = _digest(it.normalized_output)
        s.outputs[it.item_id][d] += 1
        s.examples.setdefault(d, it.output)
        if it.system_fingerprint:
            s.system_fingerprints[it.system_fingerprint] += 1
        if it.model_returned:
            s.model_names[it.model_returned] += 1
        if it.latency_ms is not None and it.latency_ms > 0:
            s.latencies.append(it.latency_ms)
    return s


def _log_p50(latencies: Sequence[float]) -> float | None:
    return math.log(float(np.median(latencies))) if latencies else None


def build_baselines(
    model: str,
    runs: Sequence[RunRecord],
    items: Sequence[ItemResult],
    *,
    reason: str,
) -> list[Baseline]:
    """Frozen baselines for one model from a window of runs (pass rates, fingerprint, latency)."""
    pooled = summarize(items)
    run_ids = tuple(r.run_id for r in runs)
    window = {
        "window_start": min(r.as_of for r in runs),
        "window_end": max(r.as_of for r in runs),
        "run_ids": run_ids,
        "reason": reason,
    }
    out = []
    for fam in sorted(pooled.family_n):
        out.append(
            Baseline(
                flow=FLOW,
                model=model,
                subject=fam,
                metric="pass_rate",
                n=pooled.family_n[fam],
                stats={
                    "successes": pooled.family_pass[fam],
                    "trials": pooled.family_n[fam],
                    "rate": pooled.family_pass[fam] / pooled.family_n[fam],
                },
                **window,
            )
        )
    modal = {pid: c.most_common(1)[0][0] for pid, c in pooled.outputs.items()}
    modal_hits = sum(pooled.outputs[pid][modal[pid]] for pid in modal)
    attempts = sum(sum(c.values()) for c in pooled.outputs.values())
    out.append(
        Baseline(
            flow=FLOW,
            model=model,
            subject=ALL,
            metric="fingerprint",
            n=attempts,
            stats={
                "modal": modal,
                "modal_examples": {pid: pooled.examples[d] for pid, d in modal.items()},
                "modal_hits": modal_hits,
                "attempts": attempts,
                "probes": {
                    pid: {
                        "successes": pooled.probe_pass[pid],
                        "trials": pooled.probe_n[pid],
                        "family": pooled.probe_family.get(pid, ""),
                    }
                    for pid in sorted(pooled.probe_n)
                },
                "system_fingerprints": sorted(pooled.system_fingerprints),
                "model_names": sorted(pooled.model_names),
            },
            **window,
        )
    )
    per_run = defaultdict(list)
    for it in items:
        if it.passed is not None and it.latency_ms:
            per_run[it.run_id].append(it.latency_ms)
    logs = [v for v in (_log_p50(x) for x in per_run.values()) if v is not None]
    if len(logs) >= 2:
        sd = float(np.std(logs, ddof=1))
        out.append(
            Baseline(
                flow=FLOW,
                model=model,
                subject=ALL,
                metric="latency_log_p50",
                n=len(logs),
                stats={"mean": float(np.mean(logs)), "sd": sd, "unit": "log(ms), per-run median"},
                **window,
            )
        )
    return out


@dataclass(frozen=True)
class FamilyResult:
    """One family's pass rate against its baseline."""

    family: str
    successes: int
    n: int
    errors: int
    baseline_successes: int
    baseline_n: int
    ci_low: float
    ci_high: float
    p_value: float | None
    p_adjusted: float | None
    power: float | None
    verdict: str
    """regression / pass / inconclusive / no-data."""
    cusum_statistic: float | None = None
    cusum_limit: float | None = None
    cusum_alarm: bool = False

    @property
    def rate(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline_successes / self.baseline_n if self.baseline_n else None


@dataclass(frozen=True)
class FingerprintResult:
    """How far outputs moved from the baseline's modal outputs."""

    probes_total: int
    probes_changed: tuple[str, ...]
    modal_hits: int
    attempts: int
    baseline_modal_hits: int
    baseline_attempts: int
    p_value: float | None
    alarm: bool
    new_system_fingerprints: tuple[str, ...] = ()
    new_model_names: tuple[str, ...] = ()
    examples: tuple[dict[str, str], ...] = ()

    def sentence(self) -> str:
        """The one-line fingerprint finding for summaries."""
        return (
            f"{len(self.probes_changed)} of {self.probes_total} probes changed output "
            f"(modal-output share {self.modal_hits}/{self.attempts} vs baseline "
            f"{self.baseline_modal_hits}/{self.baseline_attempts}"
            + (f", p={self.p_value:.2g}" if self.p_value is not None else "")
            + ")"
        )


@dataclass(frozen=True)
class CanaryEvaluation:
    """Everything the report and the incident need about one model's run."""

    phase: str
    """warmup / monitor."""
    families: tuple[FamilyResult, ...] = ()
    fingerprint: FingerprintResult | None = None
    latency: dict[str, Any] | None = None
    alerts: tuple[Alert, ...] = ()
    known_failures: tuple[dict[str, Any], ...] = ()
    newly_failing: tuple[dict[str, Any], ...] = ()
    failing_examples: tuple[dict[str, Any], ...] = ()
    baseline_n: int | None = None
    notes: tuple[str, ...] = ()
    pass_history: tuple[dict[str, Any], ...] = ()
    latency_history: tuple[dict[str, Any], ...] = ()


def _change_start(cp: Any) -> datetime | None:
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


def evaluate_run(
    store: Store,
    alerts_cfg: AlertsConfig,
    run: RunRecord,
    items: Sequence[ItemResult],
    baselines: dict[tuple[str, str], Baseline],
) -> CanaryEvaluation:
    """Compare one run with the model's frozen baselines; update the across-run charts."""
    model = run.model
    cur = summarize(items)
    fam_results: list[FamilyResult] = []
    pvals: list[float] = []
    tested: list[str] = []
    for fam in sorted(set(cur.family_n) | set(cur.family_errors)):
        b = baselines.get((fam, "pass_rate"))
        if b is None:
            continue
        bs, bn = int(b.stats["successes"]), int(b.stats["trials"])
        s, n = cur.family_pass[fam], cur.family_n[fam]
        if n == 0:
            fam_results.append(
                FamilyResult(
                    fam, 0, 0, cur.family_errors[fam], bs, bn, 0.0, 1.0, None, None, None, "no-data"
                )
            )
            continue
        ci = wilson_interval(s, n)
        p = rate_drop_test(bs, bn, s, n, method=alerts_cfg.rate_method).p_value
        pvals.append(p)
        tested.append(fam)
        fam_results.append(
            FamilyResult(
                fam, s, n, cur.family_errors[fam], bs, bn, ci.low, ci.high, p, None, None, "pending"
            )
        )
    adjusted = dict(zip(tested, bh_adjust(pvals), strict=True)) if pvals else {}

    alerts: list[Alert] = []
    history_pass = []
    final: list[FamilyResult] = []
    for fr in fam_results:
        if fr.verdict == "no-data":
            final.append(fr)
            continue
        p_adj = float(adjusted[fr.family])
        p0 = fr.baseline_rate or 0.0
        p1 = max(p0 - alerts_cfg.min_detectable_drop, 0.0)
        power = rate_drop_power(p0, p1, fr.baseline_n, fr.n, alerts_cfg.fdr_q)
        if p_adj < alerts_cfg.fdr_q:
            verdict = "regression"
        elif power < 0.8:
            verdict = "inconclusive"
        else:
            verdict = "pass"
        # Across-run evidence: Bernoulli CUSUM on failures, p0 from the baseline with a floor
        # so a perfect baseline does not make one failure infinitely surprising.
        pass0 = (fr.baseline_successes + 0.5) / (fr.baseline_n + 1)
        state, applied = _chart_update(store, model, fr.family, "bernoulli_cusum", run)
        chart: BernoulliCUSUM | None = None
        if state and "chart" in state:
            chart = BernoulliCUSUM.from_state(state["chart"])
        elif pass0 - alerts_cfg.min_detectable_drop > 0.01:
            chart = BernoulliCUSUM(
                p0=pass0,
                p1=pass0 - alerts_cfg.min_detectable_drop,
                arl0=alerts_cfg.bernoulli_cusum_arl0_runs,
                n_per_run=fr.n,
            )
        # else: the family already fails in the baseline; there is no drop left to chart.
        point = None
        if not applied:
            if chart is not None:
                point = chart.update(fr.n - fr.successes, fr.n, label=run.as_of.isoformat())
                if point.alarm:
                    # Restart after a signal (the alert carries the change point); a change
                    # that persists signals again and updates the open incident.
                    chart.reset()
            new_state = dict(state or {})
            if chart is not None:
                new_state["chart"] = chart.state()
            hist = list(new_state.get("history", []))
            hist.append(
                {
                    "as_of": run.as_of.isoformat(),
                    "rate": fr.rate,
                    "passed": fr.successes,
                    "n": fr.n,
                    "statistic": point.statistic if point else None,
                    "limit": point.h if point else None,
                    "alarm": bool(point and point.alarm),
                }
            )
            new_state["history"] = hist[-HISTORY:]
            _save_chart(store, model, fr.family, "bernoulli_cusum", run, new_state)
            history_pass.append({"family": fr.family, "history": new_state["history"]})
        else:
            history_pass.append({"family": fr.family, "history": (state or {}).get("history", [])})
        cusum_alarm = bool(point and point.alarm)
        fr = FamilyResult(
            fr.family,
            fr.successes,
            fr.n,
            fr.errors,
            fr.baseline_successes,
            fr.baseline_n,
            fr.ci_low,
            fr.ci_high,
            fr.p_value,
            p_adj,
            power,
            "regression" if cusum_alarm else verdict,
            point.statistic if point else None,
            point.h if point else None,
            cusum_alarm,
        )
        final.append(fr)
        examples = [
            {
                "item_id": it.item_id,
                "attempt": it.attempt,
                "output": it.output,
                "reason": "; ".join(c.reason for c in it.checks if not c.passed),
            }
            for it in items
            if it.subject == fr.family and it.passed is False
        ][:20]
        if verdict == "regression":
            alerts.append(
                Alert(
                    flow=FLOW,
                    model=model,
                    subject=fr.family,
                    metric="pass_rate",
                    metric_class=family_class(fr.family),
                    baseline_value=fr.baseline_rate,
                    current_value=fr.rate,
                    test=f"{alerts_cfg.rate_method}_one_sided+BH(q={alerts_cfg.fdr_q:g})",
                    statistic=fr.rate,
                    p_value=p_adj,
                    baseline_n=fr.baseline_n,
                    first_window=run.as_of,
                    run_id=run.run_id,
                    as_of=run.as_of,
                    message=(
                        f"{fr.family} pass rate dropped from {fr.baseline_rate:.3f} "
                        f"(n={fr.baseline_n}) to {fr.rate:.3f} ({fr.successes}/{fr.n}), "
                        f"BH-adjusted p={p_adj:.2g}"
                    ),
                    evidence={"failing_examples": examples},
                )
            )
        elif cusum_alarm and point is not None:
            alerts.append(
                Alert(
                    flow=FLOW,
                    model=model,
                    subject=fr.family,
                    metric="pass_rate",
                    metric_class=family_class(fr.family),
                    baseline_value=fr.baseline_rate,
                    current_value=fr.rate,
                    test="bernoulli_cusum",
                    statistic=point.statistic,
                    limit=point.h,
                    baseline_n=fr.baseline_n,
                    first_window=_change_start(point.change_point) or run.as_of,
                    run_id=run.run_id,
                    as_of=run.as_of,
                    message=(
                        f"{fr.family}: failures accumulated across runs beyond the Bernoulli "
                        f"CUSUM limit ({point.statistic:.2f} > {point.h:.2f})"
                    ),
                    evidence={"failing_examples": examples},
                )
            )

    # Fingerprint.
    fp = baselines.get((ALL, "fingerprint"))
    fingerprint = None
    known_failures: list[dict[str, Any]] = []
    newly_failing: list[dict[str, Any]] = []
    if fp is not None:
        modal: dict[str, str] = fp.stats["modal"]
        hits = attempts = 0
        changed: list[str] = []
        examples: list[dict[str, str]] = []
        for pid, outs in sorted(cur.outputs.items()):
            if pid not in modal:
                continue
            n_p = sum(outs.values())
            hits += outs.get(modal[pid], 0)
            attempts += n_p
            top = outs.most_common(1)[0][0]
            # Changed = most attempts left the baseline's modal output. A tie (one noisy
            # wording of two repetitions) is natural noise, not a changed probe.
            if 2 * outs.get(modal[pid], 0) < n_p:
                changed.append(pid)
                if len(examples) < 10:
                    examples.append(
                        {
                            "probe": pid,
                            "before": fp.stats.get("modal_examples", {}).get(pid, ""),
                            "after": cur.examples[top],
                        }
                    )
        b_hits, b_att = int(fp.stats["modal_hits"]), int(fp.stats["attempts"])
        p_fp = rate_drop_test(b_hits, b_att, hits, attempts).p_value if attempts else None
        new_sys = tuple(sorted(set(cur.system_fingerprints) - set(fp.stats["system_fingerprints"])))
        new_names = tuple(sorted(set(cur.model_names) - set(fp.stats["model_names"])))
        alarm = bool(
            (
                p_fp is not None
                and p_fp < alerts_cfg.fdr_q
                and len(changed) >= alerts_cfg.fingerprint_min_changed
            )
            or new_names
        )
        fingerprint = FingerprintResult(
            probes_total=len([p for p in cur.outputs if p in modal]),
            probes_changed=tuple(changed),
            modal_hits=hits,
            attempts=attempts,
            baseline_modal_hits=b_hits,
            baseline_attempts=b_att,
            p_value=p_fp,
            alarm=alarm,
            new_system_fingerprints=new_sys,
            new_model_names=new_names,
            examples=tuple(examples),
        )
        for pid, st in fp.stats.get("probes", {}).items():
            trials, succ = int(st["trials"]), int(st["successes"])
            cur_n, cur_s = cur.probe_n.get(pid, 0), cur.probe_pass.get(pid, 0)
            if trials and succ < trials:
                known_failures.append(
                    {
                        "probe": pid,
                        "family": st.get("family", ""),
                        "baseline_rate": succ / trials,
                        "baseline_n": trials,
                        "current": f"{cur_s}/{cur_n}",
                    }
                )
            elif trials and cur_n and cur_s < cur_n:
                newly_failing.append(
                    {
                        "probe": pid,
                        "family": st.get("family", ""),
                        "baseline": f"{succ}/{trials}",
                        "current": f"{cur_s}/{cur_n}",
                    }
                )
        check_alert = bool(alerts)
        if alarm and not check_alert:
            alerts.append(
                Alert(
                    flow=FLOW,
                    model=model,
                    subject=ALL,
                    metric="behaviour_fingerprint",
                    metric_class="fingerprint",
                    baseline_value=b_hits / b_att if b_att else None,
                    current_value=hits / attempts if attempts else None,
                    test=f"fisher_one_sided(modal-output share, q={alerts_cfg.fdr_q:g})"
                    + (" + new provider model name" if new_names else ""),
                    statistic=float(len(changed)),
                    p_value=p_fp,
                    baseline_n=b_att,
                    first_window=run.as_of,
                    run_id=run.run_id,
                    as_of=run.as_of,
                    message=fingerprint.sentence()
                    + ("; checks still pass" if not newly_failing else "")
                    + (f"; new model name(s) {list(new_names)}" if new_names else ""),
                    evidence={
                        "changed_examples": list(examples),
                        "new_system_fingerprints": list(new_sys),
                        "new_model_names": list(new_names),
                    },
                )
            )
        elif alarm and check_alert:
            # The fingerprint explains the check alerts; attach it rather than file a second
            # incident for the same change.
            alerts = [
                a.model_copy(
                    update={
                        "evidence": {
                            **a.evidence,
                            "fingerprint": fingerprint.sentence(),
                            "changed_examples": list(examples),
                        }
                    }
                )
                for a in alerts
            ]

    # Latency chart (EWMA on the log of the run's median latency).
    latency = None
    latency_history: list[dict[str, Any]] = []
    lb = baselines.get((ALL, "latency_log_p50"))
    x = _log_p50(cur.latencies)
    if (
        lb is not None
        and x is not None
        and lb.stats["sd"] > 0
        and lb.n >= MIN_LATENCY_BASELINE_RUNS
    ):
        state, applied = _chart_update(store, model, ALL, "latency_ewma", run)
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
        hist = list((state or {}).get("history", []))
        if not applied:
            pt = chart.update(x, label=run.as_of.isoformat())
            if pt.alarm:
                chart.reset()
            hist.append(
                {
                    "as_of": run.as_of.isoformat(),
                    "value": pt.value,
                    "statistic": pt.statistic,
                    "lower": pt.lower,
                    "upper": pt.upper,
                    "alarm": pt.alarm,
                }
            )
            _save_chart(
                store,
                model,
                ALL,
                "latency_ewma",
                run,
                {"chart": chart.state(), "history": hist[-HISTORY:]},
            )
            latency = {
                "p50_ms": math.exp(x),
                "baseline_p50_ms": math.exp(lb.stats["mean"]),
                "statistic": pt.statistic,
                "lower": pt.lower,
                "upper": pt.upper,
                "alarm": pt.alarm,
                "calibration": getattr(chart, "calibration_note", ""),
                "unit": lb.stats.get("unit", "log(ms)"),
            }
            if pt.alarm and alerts_cfg.canary_latency_alerts:
                alerts.append(
                    Alert(
                        flow=FLOW,
                        model=model,
                        subject=ALL,
                        metric="latency_p50",
                        metric_class="latency",
                        baseline_value=math.exp(lb.stats["mean"]),
                        current_value=math.exp(x),
                        test=f"ewma(lambda={alerts_cfg.ewma_lambda:g}, ARL0={alerts_cfg.arl0:g})"
                        " on log per-run median latency",
                        statistic=pt.statistic,
                        limit=pt.upper if pt.statistic > 0 else pt.lower,
                        baseline_n=lb.n,
                        first_window=_change_start(pt.change_point) or run.as_of,
                        run_id=run.run_id,
                        as_of=run.as_of,
                        message=f"median latency {math.exp(x):.0f} ms vs baseline "
                        f"{math.exp(lb.stats['mean']):.0f} ms (EWMA out of limits)",
                    )
                )
        latency_history = hist

    failing = [
        {
            "item_id": it.item_id,
            "family": it.subject,
            "attempt": it.attempt,
            "output": it.output,
            "reason": "; ".join(c.reason for c in it.checks if not c.passed),
        }
        for it in items
        if it.passed is False
    ][:50]
    notes = []
    pr = baselines.get((ALL, "fingerprint"))
    new_families = sorted(f for f in cur.family_n if (f, "pass_rate") not in baselines)
    new_probes = sorted(p for p in cur.probe_n if pr is None or p not in pr.stats["modal"])
    if new_families or new_probes:
        notes.append(
            f"not compared (added after the baseline was frozen): families {new_families or '-'}"
            f", probes {new_probes[:20] or '-'}; include them with `canaryflow baseline promote "
            f"--model {model} --since <time> --reason ...`"
        )
    if pr is not None:
        notes.append(
            f"baseline: {len(pr.run_ids)} runs from {pr.window_start:%Y-%m-%d %H:%M} to "
            f"{pr.window_end:%Y-%m-%d %H:%M} UTC, version {pr.baseline_version}"
        )
    if lb is not None and lb.n < MIN_LATENCY_BASELINE_RUNS:
        notes.append(
            f"latency not charted: its baseline has m={lb.n} runs, fewer than "
            f"{MIN_LATENCY_BASELINE_RUNS} (raise alerts.warmup_runs)"
        )
    elif lb is not None and lb.n < 300:
        notes.append(
            f"latency chart baseline has m={lb.n} runs (< 300): control limits were adjusted "
            "for the estimated baseline (see the chart's calibration note)"
        )
    return CanaryEvaluation(
        phase="monitor",
        families=tuple(final),
        fingerprint=fingerprint,
        latency=latency,
        alerts=tuple(alerts),
        known_failures=tuple(known_failures),
        newly_failing=tuple(newly_failing),
        failing_examples=tuple(failing),
        baseline_n=pr.n if pr else None,
        notes=tuple(notes),
        pass_history=tuple(history_pass),
        latency_history=tuple(latency_history),
    )


def canary_stats(
    runs: Sequence[RunRecord], items: Sequence[ItemResult]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Stats function for ``canaryflow.baselines.promote``: every canary baseline of a model."""
    if not runs:
        return {}
    model = runs[0].model
    return {
        (b.subject, b.metric): {"n": b.n, **b.stats}
        for b in build_baselines(model, runs, items, reason="promote")
    }
