"""The hourly canary, as plain functions (the Prefect flow in flows/canary.py wraps these).

For each model: send every probe ``repetitions`` times, store every attempt, then either grow
the warm-up (the first ``alerts.warmup_runs`` runs build the model's baseline) or compare with
the frozen baseline, raise alerts, file or update incidents and write the report.

A run is identified by (model, as_of): rerunning the same hour after a crash overwrites its
items and does not apply its observations to the control charts twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from canaryflow.config import Config
from canaryflow.definitions import Probe
from canaryflow.errors import DataError
from canaryflow.incidents._runbook import (
    ConfigChange,
    RunbookContext,
    SubjectCount,
    group_examples,
)
from canaryflow.records import Alert, RunRecord, utcnow
from canaryflow.runs._canary_detect import (
    ALL,
    FLOW,
    CanaryEvaluation,
    build_baselines,
    evaluate_run,
    summarize,
)
from canaryflow.runs._probing import probe_model
from canaryflow.runs._workspace import Workspace

__all__ = [
    "CanaryOutcome",
    "canary_run_id",
    "finish_model_canary",
    "record_model_probes",
    "run_config_hash",
    "run_model_canary",
]


def canary_run_id(model: str, as_of: datetime) -> str:
    """Deterministic run id: the same model and hour is the same run."""
    return f"canary-{model}-{as_of:%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class CanaryOutcome:
    """One model's canary run: what was measured, decided and written."""

    run: RunRecord
    evaluation: CanaryEvaluation
    incidents: tuple[Any, ...] = ()
    """IncidentChange records (opened / updated)."""
    report_paths: Any = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def incident_opened_or_updated(self) -> bool:
        return bool(self.incidents)


def _warmup_runs(ws: Workspace, model: str) -> list[RunRecord]:
    """Completed warm-up runs since the model's last baseline change (oldest first)."""
    newest_baseline = max(
        (b.created_at for b in ws.store.list_baselines(FLOW, model, include_inactive=True)),
        default=None,
    )
    runs = [
        r
        for r in ws.store.list_runs(FLOW, model, status="completed", newest_first=False)
        if r.summary.get("phase") == "warmup"
        and (newest_baseline is None or r.started_at > newest_baseline)
    ]
    return runs


def run_model_canary(
    ws: Workspace,
    model_key: str,
    probes: Sequence[Probe],
    as_of: datetime,
    *,
    probe_errors: Sequence[DataError] = (),
) -> CanaryOutcome:
    """Probe one model, compare with its baseline, alert and report."""
    run = record_model_probes(ws, model_key, probes, as_of)
    return finish_model_canary(ws, run, probe_errors=probe_errors)


def run_config_hash(config_hash: str, probes: Sequence[Probe]) -> str:
    """Hash of everything a run's verdict depends on: canaryflow.toml *and* the probe set.

    The runbook's "isolate" step reads an unchanged hash as "prompts and probes did not
    change, suspect the model", so the probes must be in it.
    """
    payload = json.dumps(
        [config_hash, sorted(p.model_dump_json() for p in probes)], separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def record_model_probes(
    ws: Workspace, model_key: str, probes: Sequence[Probe], as_of: datetime
) -> RunRecord:
    """Send the probes to one model and store every attempt (no comparison yet)."""
    cfg = ws.config
    run = RunRecord(
        run_id=canary_run_id(model_key, as_of),
        flow="canary",
        model=model_key,
        config_hash=run_config_hash(cfg.config_hash(), probes),
        as_of=as_of,
        started_at=utcnow(),
    )
    ws.store.begin_run(run)
    items = probe_model(
        model_key,
        cfg.models[model_key],
        cfg.simulator,
        probes,
        run_id=run.run_id,
        as_of=as_of,
        client_factory=ws.client_factory,
    )
    ws.store.save_items(items)
    return run


def finish_model_canary(
    ws: Workspace, run: RunRecord, *, probe_errors: Sequence[DataError] = ()
) -> CanaryOutcome:
    """Compare a stored run with the baseline (or grow the warm-up), alert, report, finish."""
    cfg: Config = ws.config
    items = ws.store.items_for_runs([run.run_id])
    cur = summarize(items)
    degraded = cur.error_rate > cfg.alerts.max_error_rate
    active = {
        (b.subject, b.metric): b for b in ws.store.list_baselines(FLOW, run.model) if b.active
    }
    # Provider calls including retries: a 429 that a retry absorbed is not a lost result, but
    # it is still an error rate the report shows (DESIGN §8).
    calls = sum(max(int(i.extra.get("attempts") or 1), 1) for i in items)
    failed_calls = calls - (cur.attempts - cur.errors)
    summary: dict[str, Any] = {
        "attempts": cur.attempts,
        "errors": cur.errors,
        "error_rate": round(cur.error_rate, 4),
        "error_kinds": dict(cur.error_kinds),
        "provider_calls": calls,
        "failed_calls": failed_calls,
        "call_error_rate": round(failed_calls / calls, 4) if calls else 0.0,
        "passed": sum(cur.family_pass.values()),
        "evaluated": sum(cur.family_n.values()),
        "cost_usd": round(sum(i.cost_usd or 0.0 for i in items), 6),
        "probe_file_errors": [e.line() for e in probe_errors],
    }
    if not active:
        evaluation = _warmup(ws, run, degraded, summary)
    else:
        evaluation = evaluate_run(ws.store, cfg.alerts, run, items, active)
        summary["phase"] = "monitor"
    alerts = list(evaluation.alerts)
    if degraded:
        alerts.append(
            Alert(
                flow=FLOW,
                model=run.model,
                subject=ALL,
                metric="error_rate",
                metric_class="reliability",
                baseline_value=cfg.alerts.max_error_rate,
                current_value=cur.error_rate,
                test="limit",
                limit=cfg.alerts.max_error_rate,
                run_id=run.run_id,
                as_of=run.as_of,
                first_window=run.as_of,
                message=(
                    f"{cur.errors} of {cur.attempts} calls failed ({cur.error_rate:.0%}) after "
                    f"retries, above the limit {cfg.alerts.max_error_rate:.0%}: "
                    f"{dict(cur.error_kinds)}; this run's verdicts are not trusted"
                ),
            )
        )
        evaluation = CanaryEvaluation(**{**evaluation.__dict__, "alerts": tuple(alerts)})
    from canaryflow.runs._canary_report import make_charts

    charts = make_charts(ws, run, evaluation)
    base_context = _incident_context(ws, run, evaluation, charts)

    def context_for(incident: Any, *_: Any) -> RunbookContext:
        # Each incident links the chart of its own subject (pass rate for a family).
        chart = next((c for c in charts if c.title.startswith(f"{incident.subject} ")), None)
        if chart is None:
            return base_context
        return base_context.model_copy(update={"chart_path": chart.path, "chart_unit": chart.unit})

    changes = ws.incidents(context=context_for).handle(alerts)
    status = "degraded" if degraded else "completed"
    summary.update(
        {
            "alerts": len(alerts),
            "incidents": [c.incident.incident_id for c in changes],
            "fingerprint": evaluation.fingerprint.sentence() if evaluation.fingerprint else None,
        }
    )
    final_run = run.model_copy(
        update={"status": status, "summary": summary, "finished_at": utcnow()}
    )
    from canaryflow.runs._canary_report import write_canary_report

    paths = write_canary_report(ws, final_run, evaluation, changes, probe_errors, charts)
    summary["report"] = str(paths.markdown) if paths is not None else None
    ws.store.finish_run(run.run_id, status, summary)
    return CanaryOutcome(
        run=final_run.model_copy(update={"summary": summary}),
        evaluation=evaluation,
        incidents=tuple(changes),
        report_paths=paths,
        summary=summary,
    )


def _warmup(
    ws: Workspace, run: RunRecord, degraded: bool, summary: dict[str, Any]
) -> CanaryEvaluation:
    """Record a warm-up run; once enough have completed, freeze the model's first baseline."""
    need = ws.config.alerts.warmup_runs
    summary["phase"] = "warmup"
    if not degraded:
        # Mark this run complete so it counts; finish_run later overwrites with the full summary.
        ws.store.finish_run(run.run_id, "completed", summary)
    runs = _warmup_runs(ws, run.model)
    excluded = ws.open_incident_run_ids(FLOW, run.model)
    runs = [r for r in runs if r.run_id not in excluded][-need:]
    notes = [f"warm-up: {len(runs)} of {need} runs collected for the first baseline"]
    summary["warmup"] = f"{min(len(runs), need)}/{need}"
    if len(runs) >= need:
        items = ws.store.items_for_runs([r.run_id for r in runs])
        for b in build_baselines(run.model, runs, items, reason=f"warm-up ({need} runs)"):
            ws.store.save_baseline(b)
        notes.append(
            f"baseline frozen from {len(runs)} runs ({runs[0].as_of:%Y-%m-%d %H:%M} to "
            f"{runs[-1].as_of:%Y-%m-%d %H:%M} UTC); comparisons start with the next run"
        )
    return CanaryEvaluation(phase="warmup", notes=tuple(notes))


def _incident_context(
    ws: Workspace, run: RunRecord, ev: CanaryEvaluation, charts: Sequence[Any]
) -> RunbookContext:
    """Facts for the runbook: what the store and this evaluation know."""
    cfg = ws.config
    m = cfg.models[run.model]
    previous = ws.store.list_runs(FLOW, run.model, until=run.as_of, limit=72)[::-1]
    changes = [
        ConfigChange(before=a.config_hash, after=b.config_hash, at=b.as_of, run_id=b.run_id)
        for a, b in itertools.pairwise(previous)
        if a.config_hash != b.config_hash
    ]
    examples = group_examples(ev.failing_examples)  # one per probe: k of n repetitions
    counts = [
        SubjectCount(
            subject=f.family,
            kind="family",
            failed=f.n - f.successes,
            total=f.n,
            baseline_failed=f.baseline_n - f.baseline_successes,
            baseline_total=f.baseline_n,
        )
        for f in ev.families
        if f.n
    ]
    counts += [
        SubjectCount(
            subject=x["probe"],
            kind="probe",
            failed=int(x["current"].split("/")[1]) - int(x["current"].split("/")[0]),
            total=int(x["current"].split("/")[1]),
            baseline_failed=int(x["baseline"].split("/")[1]) - int(x["baseline"].split("/")[0]),
            baseline_total=int(x["baseline"].split("/")[1]),
        )
        for x in ev.newly_failing
    ]
    fp = ev.fingerprint
    baseline_fp = ws.store.active_baseline(FLOW, run.model, ALL, "fingerprint")
    return RunbookContext(
        examples=tuple(examples),
        failing_total=len(ev.failing_examples),
        counts=tuple(counts),
        fingerprint_changed_at=run.as_of if fp and fp.probes_changed else None,
        fingerprint_changed=len(fp.probes_changed) if fp else None,
        fingerprint_probes=fp.probes_total if fp else None,
        config_changes=tuple(changes),
        config_hashes=tuple(dict.fromkeys(r.config_hash for r in previous)),
        models_returned_before=tuple(
            baseline_fp.stats.get("model_names", []) if baseline_fp else ()
        ),
        models_returned_after=tuple(
            sorted(
                {
                    i.model_returned
                    for i in ws.store.items_for_runs([run.run_id])
                    if i.model_returned
                }
            )
        ),
        model_key=run.model,
        pinned_model=m.model,
        last_good_model=m.model,
        config_file=cfg.source_path or "canaryflow.toml",
        chart_path=charts[0].path if charts else None,
        chart_unit=charts[0].unit if charts else None,
        baseline_n=ev.baseline_n,
    )
