"""Turn one model's canary evaluation into a Report (Markdown + JSON + charts + artifacts)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from canaryflow.errors import DataError
from canaryflow.incidents._runbook import group_examples
from canaryflow.records import RunRecord
from canaryflow.reports import (
    Chart,
    ErrorInfo,
    Example,
    KnownFailure,
    Report,
    ReportVerdict,
    SubjectResult,
    write_report,
)
from canaryflow.runs._canary_detect import ALL, CanaryEvaluation
from canaryflow.runs._workspace import Workspace

__all__ = [
    "build_canary_report",
    "make_charts",
    "publish_canary_artifacts",
    "write_canary_report",
]

log = logging.getLogger("canaryflow")


def _verdict(run: RunRecord, ev: CanaryEvaluation, changes: Sequence[Any]) -> ReportVerdict:
    if run.status == "degraded":
        return "degraded"
    if ev.phase == "warmup":
        return "warmup"
    if ev.alerts or changes:
        return "alert"
    return "healthy"


def make_charts(ws: Workspace, run: RunRecord, ev: CanaryEvaluation) -> list[Chart]:
    """Charts of this run: for each alerted family its pass rate per run and its Bernoulli
    CUSUM (first, so incidents link them), then the latency EWMA chart."""
    if ev.phase != "monitor":
        return []
    from canaryflow.reports import plot_control_chart, plot_pass_rate

    out_dir = ws.reports_dir / "canary" / "charts"
    out: list[Chart] = []
    stamp = f"{run.as_of:%Y%m%dT%H%M}"
    alarmed = {a.subject for a in ev.alerts}
    baseline_rates = {f.family: f.baseline_rate for f in ev.families}
    try:
        for fam in ev.pass_history:
            name, hist = fam["family"], [h for h in fam["history"] if "n" in h]
            if name not in alarmed or not hist:
                continue
            path = out_dir / f"{run.model}-{stamp}-{name}-pass-rate.png"
            plot_pass_rate(
                [
                    {
                        "x": datetime.fromisoformat(h["as_of"]),
                        "passed": h["passed"],
                        "total": h["n"],
                    }
                    for h in hist
                ],
                title=f"{run.model}: {name} pass rate per run",
                baseline_rate=baseline_rates.get(name),
                out_path=path,
            )
            out.append(
                Chart(
                    title=f"{name} pass rate per run",
                    path=str(path),
                    unit="pass rate (share of probes passing)",
                )
            )
            path = out_dir / f"{run.model}-{stamp}-{name}-cusum.png"
            plot_control_chart(
                [
                    {
                        "x": datetime.fromisoformat(h["as_of"]),
                        "value": h["statistic"],
                        "upper": h["limit"],
                        "lower": None,
                        "alarm": h["alarm"],
                    }
                    for h in hist
                ],
                title=f"{run.model}: {name} failures, Bernoulli CUSUM",
                unit="cumulative log-likelihood ratio (failures vs baseline)",
                baseline_mean=0.0,
                out_path=path,
            )
            out.append(
                Chart(title=f"{name} Bernoulli CUSUM", path=str(path), unit="log-likelihood ratio")
            )
        # The latency chart is in every run's JSON history; draw it only when this run
        # alerted (hourly PNGs of a quiet chart would only fill the disk).
        if len(ev.latency_history) >= 2 and ev.alerts:
            path = out_dir / f"{run.model}-{stamp}-latency.png"
            plot_control_chart(
                [
                    {
                        "x": datetime.fromisoformat(h["as_of"]),
                        "value": h["statistic"],
                        "lower": h["lower"],
                        "upper": h["upper"],
                        "alarm": h["alarm"],
                    }
                    for h in ev.latency_history
                ],
                title=f"{run.model}: median latency (EWMA)",
                unit="log(ms) of the per-run median latency",
                baseline_mean=None,
                out_path=path,
            )
            out.append(Chart(title=f"{ALL} median latency, EWMA", path=str(path), unit="log(ms)"))
    except Exception as exc:  # a plot must never sink a run's report
        log.warning("chart rendering failed: %s", exc)
    return out


def build_canary_report(
    ws: Workspace,
    run: RunRecord,
    ev: CanaryEvaluation,
    changes: Sequence[Any],
    probe_errors: Sequence[DataError] = (),
    charts: Sequence[Chart] = (),
) -> Report:
    """The report of one model's canary run."""
    s = run.summary
    lines = [
        f"model {run.model} ({ws.config.models[run.model].model}), run {run.run_id}, "
        f"as of {run.as_of:%Y-%m-%d %H:%M} UTC",
        f"{s.get('passed', 0)}/{s.get('evaluated', 0)} probe attempts passed; "
        f"{s.get('errors', 0)} call errors ({s.get('error_rate', 0):.1%}); "
        f"cost ${s.get('cost_usd', 0):.4f}",
    ]
    if s.get("failed_calls"):
        lines.append(
            f"provider calls: {s['failed_calls']} of {s.get('provider_calls')} failed "
            f"({s.get('call_error_rate', 0):.1%}) and were retried; "
            f"{s.get('errors', 0)} attempts still failed after retries"
        )
    if ev.phase == "warmup":
        lines.extend(ev.notes)
    if ev.fingerprint is not None:
        still = not ev.newly_failing and not any(a.metric == "pass_rate" for a in ev.alerts)
        lines.append(
            "fingerprint: "
            + ev.fingerprint.sentence()
            + ("; every check still passes" if still and ev.fingerprint.probes_changed else "")
        )
    for c in changes:
        lines.append(f"incident {c.incident.incident_id} {c.action}: {c.incident.title}")
    drop = ws.config.alerts.for_flow("canary").min_detectable_drop
    results = [
        SubjectResult(
            subject=f.family,
            metric="pass_rate",
            unit="share of probes passing (>= half of repetitions)",
            baseline_value=f.baseline_rate,
            current_value=f.rate,
            ci_low=f.ci_low,
            ci_high=f.ci_high,
            test="fisher one-sided + BH; Bernoulli CUSUM across runs",
            p_value=f.p_adjusted,
            verdict=f.verdict if f.verdict != "pending" else "inconclusive",
            n=f.n,
            baseline_n=f.baseline_n,
            detail=(f"power {f.power:.2f} to see a {drop:.0%} drop" if f.power is not None else "")
            + (
                f"; CUSUM {f.cusum_statistic:.2f}/{f.cusum_limit:.2f}"
                if f.cusum_statistic is not None and f.cusum_limit is not None
                else ""
            ),
        )
        for f in ev.families
    ]
    fp_text = ""
    if ev.fingerprint is not None:
        fp = ev.fingerprint
        checks_pass = not ev.newly_failing and not any(a.metric == "pass_rate" for a in ev.alerts)
        fp_text = fp.sentence() + ("; every check still passes" if checks_pass else "")
        if fp.new_system_fingerprints:
            fp_text += f"; new system_fingerprint(s): {', '.join(fp.new_system_fingerprints)}"
        if fp.new_model_names:
            fp_text += f"; new returned model name(s): {', '.join(fp.new_model_names)}"
        if fp.probes_changed:
            fp_text += f". Changed probes: {', '.join(fp.probes_changed[:20])}"
    examples = list(group_examples(ev.failing_examples)[:20])  # one per probe, k of n
    if ev.fingerprint is not None:
        examples.extend(
            Example(
                item_id=x["probe"],
                subject="fingerprint",
                output=x["after"],
                before=x["before"],
                reason="output left the baseline's modal output",
            )
            for x in ev.fingerprint.examples[:10]
        )
    errors = []
    if s.get("errors"):
        for kind, count in sorted(s.get("error_kinds", {}).items()):
            errors.append(
                ErrorInfo(
                    kind=kind,
                    count=count,
                    rate=count / max(s.get("attempts", 1), 1),
                    limit=ws.config.alerts.for_flow("canary").max_error_rate,
                )
            )
    for line in probe_errors:
        errors.append(ErrorInfo(kind="probe_file", count=1, message=line.line()))
    notes = list(ev.notes if ev.phase == "monitor" else ())
    quiet = [f for f in ev.families if f.verdict == "inconclusive"]
    if quiet:
        a = ws.config.alerts.for_flow("canary")
        notes.append(
            f"inconclusive ({len(quiet)} families): one run of these sizes cannot show a "
            f"{a.min_detectable_drop:.0%} pass-rate drop at q={a.fdr_q:g} with 80% power; "
            "the Bernoulli CUSUM accumulates their evidence across runs (all below its limit)"
        )
    if ev.latency and ev.latency.get("calibration"):
        notes.append(f"latency chart: {ev.latency['calibration']}")
    return Report(
        kind="canary",
        title=f"Canary: {run.model} at {run.as_of:%Y-%m-%d %H:%M} UTC",
        run=run,
        verdict=_verdict(run, ev, changes),
        summary=tuple(lines),
        results=tuple(results),
        alerts=ev.alerts,
        fingerprint=fp_text,
        known_failures=tuple(
            KnownFailure(
                item_id=k.probe,
                subject=k.family,
                reason=f"fails in the baseline ({k.baseline_rate:.0%} pass over "
                f"{k.baseline_n}); now {k.passed}/{k.n}",
            )
            for k in ev.known_failures
        ),
        errors=tuple(errors),
        degraded_reason=(
            f"{s.get('errors')} of {s.get('attempts')} calls failed after retries"
            if run.status == "degraded"
            else ""
        ),
        charts=tuple(charts),
        examples=tuple(examples),
        notes=tuple(notes),
    )


def write_canary_report(
    ws: Workspace,
    run: RunRecord,
    ev: CanaryEvaluation,
    changes: Sequence[Any],
    probe_errors: Sequence[DataError] = (),
    charts: Sequence[Chart] = (),
) -> Any:
    """Build and write the report under ``reports/canary/``; returns its paths."""
    report = build_canary_report(ws, run, ev, changes, probe_errors, charts)
    return write_report(report, ws.reports_dir, junit=ws.config.reports.junit)


def publish_canary_artifacts(outcome: Any) -> None:
    """Publish the written report as Prefect artifacts (inside a flow run only)."""
    from canaryflow.reports import Report, publish_artifacts

    paths = outcome.report_paths
    if paths is None or os.environ.get("CANARYFLOW_NO_ARTIFACTS"):
        return
    report = Report.model_validate_json(Path(paths.json).read_text(encoding="utf-8"))
    publish_artifacts(report, paths)
