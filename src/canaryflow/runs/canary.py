"""The hourly canary, as plain functions (the Prefect flow in flows/canary.py wraps these).

For each model: send every probe ``repetitions`` times, store every attempt, then either grow
the warm-up (the first ``alerts.warmup_runs`` runs build the model's baseline) or compare with
the frozen baseline, raise alerts, file or update incidents and write the report.

The lifecycle (begin, warm-up, incidents, finish, reruns, crashed runs) is the shared one of
``runs._lifecycle``; this module holds only what is the canary's own (``CanaryPlugin``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from canaryflow.config import AlertParams
from canaryflow.definitions import Probe
from canaryflow.errors import DataError
from canaryflow.incidents._runbook import (
    ConfigChange,
    RunbookContext,
    SubjectCount,
    group_examples,
)
from canaryflow.records import Alert, Baseline, ItemResult, RunFlow, RunRecord
from canaryflow.runs._canary_detect import (
    ALL,
    FLOW,
    CanaryEvaluation,
    build_baselines,
    evaluate_run,
    summarize,
)
from canaryflow.runs._lifecycle import (
    Reliability,
    RunOutcome,
    Warmup,
    begin,
    execute,
    finish,
    immutable,
)
from canaryflow.runs._probing import probe_model
from canaryflow.runs._workspace import Workspace

__all__ = [
    "CanaryOutcome",
    "CanaryPlugin",
    "canary_run_id",
    "finish_model_canary",
    "record_model_probes",
    "run_config_hash",
    "run_model_canary",
]


def canary_run_id(model: str, as_of: datetime) -> str:
    """Deterministic run id: the same model and hour is the same run."""
    return f"canary-{model}-{as_of:%Y%m%dT%H%M%SZ}"


CanaryOutcome = RunOutcome
"""One model's canary run (the shared lifecycle's outcome)."""


class CanaryPlugin:
    """The canary's own parts of the shared run lifecycle (``runs._lifecycle``)."""

    flow: RunFlow = FLOW

    def __init__(self, probes: Sequence[Probe], probe_errors: Sequence[DataError] = ()) -> None:
        self.probes = list(probes)
        self.probe_errors = list(probe_errors)

    def collect(self, ws: Workspace, run: RunRecord) -> Sequence[ItemResult]:
        cfg = ws.config
        return probe_model(
            run.model,
            cfg.models[run.model],
            cfg.simulator,
            self.probes,
            run_id=run.run_id,
            as_of=run.as_of,
            client_factory=ws.client_factory,
        )

    def reliability(
        self, ws: Workspace, run: RunRecord, items: Sequence[ItemResult], params: AlertParams
    ) -> Reliability:
        cur = summarize(items)
        # Provider calls including retries: a 429 that a retry absorbed is not a lost result,
        # but it is still an error rate the report shows (DESIGN §8).
        calls = sum(max(int(i.extra.get("attempts") or 1), 1) for i in items)
        failed_calls = calls - (cur.attempts - cur.errors)
        summary = {
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
            "probe_file_errors": [e.line() for e in self.probe_errors],
        }
        degraded = cur.error_rate > params.max_error_rate
        if not degraded:
            return Reliability(False, summary=summary)
        m = ws.config.models[run.model]
        endpoint = m.base_url or (
            "the bundled simulator" if m.provider == "simulator" else f"{m.provider}'s default API"
        )
        errors = list(dict.fromkeys(i.error for i in items if i.error))[:5]
        alert = Alert(
            flow=FLOW,
            model=run.model,
            subject=ALL,
            metric="error_rate",
            metric_class="reliability",
            baseline_value=params.max_error_rate,
            current_value=cur.error_rate,
            test="limit",
            limit=params.max_error_rate,
            run_id=run.run_id,
            as_of=run.as_of,
            first_window=run.as_of,
            message=(
                f"{cur.errors} of {cur.attempts} calls to {endpoint} failed "
                f"({cur.error_rate:.0%}) after retries, above the limit "
                f"{params.max_error_rate:.0%}: {dict(cur.error_kinds)}; this run's verdicts "
                "are not trusted"
            ),
            evidence={"endpoint": endpoint, "error_examples": errors},
        )
        return Reliability(True, (alert,), summary)

    def build_baselines(
        self, model: str, runs: Sequence[RunRecord], items: Sequence[ItemResult], reason: str
    ) -> tuple[list[Baseline], dict[tuple[str, str], dict[str, Any]]]:
        return build_baselines(model, runs, items, reason=reason), {}

    def warmed(self, warmup: Warmup) -> CanaryEvaluation:
        return CanaryEvaluation(phase="warmup", notes=warmup.notes)

    def evaluate(
        self,
        ws: Workspace,
        run: RunRecord,
        items: Sequence[ItemResult],
        baselines: Mapping[tuple[str, str], Baseline],
        params: AlertParams,
    ) -> CanaryEvaluation:
        return evaluate_run(ws.store, params, run, items, dict(baselines))

    def publish(
        self,
        ws: Workspace,
        run: RunRecord,
        evaluation: Any,
        alerts: Sequence[Alert],
        summary: dict[str, Any],
    ) -> tuple[Sequence[Any], Any]:
        from canaryflow.runs._canary_report import make_charts, write_canary_report

        ev: CanaryEvaluation = evaluation
        charts = make_charts(ws, run, ev)
        base_context = _incident_context(ws, run, ev, charts)

        def context_for(incident: Any, *_: Any) -> RunbookContext:
            # Each incident links the chart of its own subject (pass rate for a family).
            chart = next((c for c in charts if c.title.startswith(f"{incident.subject} ")), None)
            if chart is None:
                return base_context
            return base_context.model_copy(
                update={"chart_path": chart.path, "chart_unit": chart.unit}
            )

        changes = ws.incidents(context=context_for).handle(list(alerts))
        summary["fingerprint"] = ev.fingerprint.sentence() if ev.fingerprint else None
        final = run.model_copy(
            update={
                "summary": {
                    **summary,
                    "alerts": len(alerts),
                    "incidents": [c.incident.incident_id for c in changes],
                }
            }
        )
        paths = write_canary_report(ws, final, ev, changes, self.probe_errors, charts)
        return changes, paths


def run_model_canary(
    ws: Workspace,
    model_key: str,
    probes: Sequence[Probe],
    as_of: datetime,
    *,
    probe_errors: Sequence[DataError] = (),
) -> RunOutcome:
    """Probe one model, compare with its baseline, alert and report (the whole lifecycle)."""
    plugin = CanaryPlugin(probes, probe_errors)
    return execute(
        ws,
        plugin,
        run_id=canary_run_id(model_key, as_of),
        model=model_key,
        as_of=as_of,
        config_hash=run_config_hash(ws.config.config_hash(), probes),
    )


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
) -> RunRecord | RunOutcome:
    """Begin the run and store every attempt (the flow's first task); no comparison yet.

    Returns the skipped outcome instead when the run fed a frozen baseline (history).
    """
    plugin = CanaryPlugin(probes)
    run_id = canary_run_id(model_key, as_of)
    skipped = immutable(ws, FLOW, model_key, run_id)
    if skipped is not None:
        return skipped
    run = begin(
        ws,
        plugin,
        run_id=run_id,
        model=model_key,
        as_of=as_of,
        config_hash=run_config_hash(ws.config.config_hash(), probes),
    )
    ws.store.save_items(plugin.collect(ws, run))
    return run


def finish_model_canary(
    ws: Workspace,
    run: RunRecord | RunOutcome,
    *,
    probes: Sequence[Probe] = (),
    probe_errors: Sequence[DataError] = (),
) -> RunOutcome:
    """Compare a stored run with the baseline (or grow the warm-up), alert, report, finish."""
    if isinstance(run, RunOutcome):
        return run
    return finish(ws, CanaryPlugin(probes, probe_errors), run)


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
            subject=x.probe,
            kind="probe",
            failed=x.n - x.passed,
            total=x.n,
            baseline_failed=x.baseline_n - x.baseline_passed,
            baseline_total=x.baseline_n,
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
