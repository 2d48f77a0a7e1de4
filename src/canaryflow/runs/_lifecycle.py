"""The run lifecycle every flow shares: begin, collect, store, degraded check, warm-up or
compare, incidents, report, finish.

A flow supplies only what is its own through a :class:`FlowPlugin` (how to collect items, how
to build its baselines, how to compare a run with them, its runbook facts and its report); the
lifecycle owns everything that must behave the same in every flow and that went wrong when each
flow did it by hand:

- a run is identified by a natural id (flow, model, as_of): a rerun overwrites its own items
  and reproduces the same chart points and alerts (charts are point logs, see
  ``Store.apply_chart_point``);
- a run that fed a frozen baseline is history: rerunning it is a no-op that says so;
- a run left ``running`` by a killed process is finished as ``crashed`` by the next run of the
  same flow and model, and reported there;
- warm-up follows one policy (``baselines.warmup_runs``) and freezes every subject of a model
  in one transaction (``baselines.freeze``);
- a degraded run (too many failed calls) raises its own reliability alert and is never green.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from canaryflow.baselines import freeze, warmup_runs
from canaryflow.config import AlertParams
from canaryflow.records import Alert, Baseline, ItemResult, RunFlow, RunRecord, RunStatus, utcnow
from canaryflow.runs._workspace import Workspace

__all__ = [
    "Evaluation",
    "FlowPlugin",
    "Reliability",
    "RunOutcome",
    "Warmup",
    "begin",
    "execute",
    "finish",
    "finish_stale_runs",
    "immutable",
]


class Evaluation(Protocol):
    """What the lifecycle needs of a flow's evaluation: a frozen dataclass with at least these
    fields (flows add their own detail); the lifecycle adds reliability alerts and notes."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # a dataclass: ``replace`` works on it

    @property
    def phase(self) -> str: ...
    @property
    def alerts(self) -> tuple[Alert, ...]: ...
    @property
    def notes(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Warmup:
    """A run spent building the baseline: how far along, and whether it froze one now."""

    collected: int
    needed: int
    frozen: tuple[Baseline, ...] = ()
    phase: str = "warmup"
    alerts: tuple[Alert, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reliability:
    """Whether a run's own measurements can be trusted (DESIGN §8, monitor the monitor)."""

    degraded: bool
    alerts: tuple[Alert, ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)


class FlowPlugin(Protocol):
    """The parts of a run that belong to one flow."""

    flow: RunFlow

    def collect(self, ws: Workspace, run: RunRecord) -> Sequence[ItemResult]:
        """Produce this run's items (probe attempts, golden items, production windows)."""
        ...

    def reliability(
        self, ws: Workspace, run: RunRecord, items: Sequence[ItemResult], params: AlertParams
    ) -> Reliability: ...

    def build_baselines(
        self, model: str, runs: Sequence[RunRecord], items: Sequence[ItemResult], reason: str
    ) -> tuple[list[Baseline], Mapping[tuple[str, str], Mapping[str, Any]]]:
        """New baseline versions of every subject, and payloads stored beside them."""
        ...

    def warmed(self, warmup: Warmup) -> Evaluation:
        """This flow's evaluation of a warm-up run (``warmup`` itself is a valid one)."""
        ...

    def evaluate(
        self,
        ws: Workspace,
        run: RunRecord,
        items: Sequence[ItemResult],
        baselines: Mapping[tuple[str, str], Baseline],
        params: AlertParams,
    ) -> Evaluation: ...

    def publish(
        self,
        ws: Workspace,
        run: RunRecord,
        evaluation: Evaluation,
        alerts: Sequence[Alert],
        summary: dict[str, Any],
    ) -> tuple[Sequence[Any], Any]:
        """File incidents for ``alerts`` (with the flow's runbook facts) and write the report.

        Returns:
            (incident changes, report paths or None).
        """
        ...


@dataclass(frozen=True)
class RunOutcome:
    """One flow run for one model: what was measured, decided and written."""

    run: RunRecord
    evaluation: Any
    incidents: tuple[Any, ...] = ()
    """IncidentChange records (opened / updated)."""
    report_paths: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    """Why nothing was done (a rerun of a run that fed a frozen baseline), else None."""

    @property
    def incident_opened_or_updated(self) -> bool:
        return bool(self.incidents)


def finish_stale_runs(
    ws: Workspace, flow: str, model: str, *, keep: str, stale_after: timedelta
) -> list[str]:
    """Finish as ``crashed`` the runs of (flow, model) still ``running`` long after they began.

    A run killed mid-way (kill -9, a lost worker) never finishes itself. Another process may
    legitimately be running a different hour right now, so only runs older than
    ``stale_after`` are touched.
    """
    cutoff = utcnow() - stale_after
    crashed = []
    for r in ws.store.list_runs(flow, model, status="running"):
        if r.run_id != keep and r.started_at < cutoff:
            ws.store.finish_run(
                r.run_id,
                "crashed",
                {**r.summary, "crashed": f"still running {utcnow() - r.started_at} after start"},
            )
            crashed.append(r.run_id)
    return crashed


def execute(
    ws: Workspace,
    plugin: FlowPlugin,
    *,
    run_id: str,
    model: str,
    as_of: datetime,
    config_hash: str,
    collect: Callable[[RunRecord], Sequence[ItemResult]] | None = None,
    notes: Sequence[str] = (),
) -> RunOutcome:
    """Run one flow for one model through the whole lifecycle.

    ``collect`` overrides ``plugin.collect`` (the Prefect flow collects in its own task and
    then calls :func:`finish`).
    """
    skipped = immutable(ws, plugin.flow, model, run_id)
    if skipped is not None:
        return skipped
    run = begin(ws, plugin, run_id=run_id, model=model, as_of=as_of, config_hash=config_hash)
    items = (collect or (lambda r: plugin.collect(ws, r)))(run)
    ws.store.save_items(items)
    return finish(ws, plugin, run, notes=notes)


def immutable(ws: Workspace, flow: str, model: str, run_id: str) -> RunOutcome | None:
    """The no-op outcome of rerunning a run that fed a frozen baseline, else None."""
    existing = ws.store.get_run(run_id)
    if existing is None or run_id not in ws.store.frozen_run_ids(flow, model):
        return None
    reason = (
        f"{run_id} fed a frozen baseline, so it is history: not rerun "
        "(use `canaryflow baseline reset` to rebuild the baseline from new runs)"
    )
    return RunOutcome(existing, None, summary=dict(existing.summary), skipped=reason)


def begin(
    ws: Workspace,
    plugin: FlowPlugin,
    *,
    run_id: str,
    model: str,
    as_of: datetime,
    config_hash: str,
) -> RunRecord:
    """Record the run as ``running`` (idempotent by id) after finishing stale ones."""
    params = ws.config.alerts.for_flow(plugin.flow)
    crashed = finish_stale_runs(
        ws,
        plugin.flow,
        model,
        keep=run_id,
        stale_after=timedelta(minutes=params.stale_run_minutes),
    )
    run = RunRecord(
        run_id=run_id,
        flow=plugin.flow,
        model=model,
        config_hash=config_hash,
        as_of=as_of,
        started_at=utcnow(),
        summary={"crashed_runs": crashed} if crashed else {},
    )
    ws.store.begin_run(run)
    return run


def finish(
    ws: Workspace, plugin: FlowPlugin, run: RunRecord, *, notes: Sequence[str] = ()
) -> RunOutcome:
    """Compare a stored run with its baselines (or grow the warm-up), alert, report, finish."""
    skipped = immutable(ws, plugin.flow, run.model, run.run_id)
    if skipped is not None:
        return skipped
    params = ws.config.alerts.for_flow(plugin.flow)
    items = ws.store.items_for_runs([run.run_id])
    rel = plugin.reliability(ws, run, items, params)
    summary: dict[str, Any] = {**run.summary, **rel.summary}
    extra_notes = list(notes)
    if run.summary.get("crashed_runs"):
        extra_notes.append(
            f"finished as crashed (left running by a killed process): {run.summary['crashed_runs']}"
        )
    active = {(b.subject, b.metric): b for b in ws.store.list_baselines(plugin.flow, run.model)}
    evaluation: Evaluation
    if not active:
        evaluation = plugin.warmed(_warm_up(ws, plugin, run, rel.degraded, params, summary))
    else:
        evaluation = plugin.evaluate(ws, run, items, active, params)
    alerts = [*evaluation.alerts, *rel.alerts]
    evaluation = replace(evaluation, alerts=tuple(alerts), notes=(*evaluation.notes, *extra_notes))
    summary["phase"] = evaluation.phase
    summary["notes"] = list(evaluation.notes)
    status: RunStatus = "degraded" if rel.degraded else "completed"
    final = run.model_copy(update={"status": status, "finished_at": utcnow()})
    changes, paths = plugin.publish(ws, final, evaluation, alerts, summary)
    summary.update(
        {
            "alerts": len(alerts),
            "incidents": [c.incident.incident_id for c in changes],
            "report": str(paths.markdown) if paths is not None else None,
        }
    )
    ws.store.finish_run(run.run_id, status, summary)
    return RunOutcome(
        run=final.model_copy(update={"summary": summary}),
        evaluation=evaluation,
        incidents=tuple(changes),
        report_paths=paths,
        summary=summary,
    )


def _warm_up(
    ws: Workspace,
    plugin: FlowPlugin,
    run: RunRecord,
    degraded: bool,
    params: AlertParams,
    summary: dict[str, Any],
) -> Warmup:
    """Count this run towards the warm-up; freeze the baseline once enough runs exist."""
    need = params.warmup_runs
    if not degraded:
        # Completed before freezing so that this run counts; the final finish_run of the
        # lifecycle overwrites the summary.
        ws.store.finish_run(run.run_id, "completed", {**summary, "phase": "warmup"})
    selection = warmup_runs(ws.store, plugin.flow, run.model, need)
    runs = selection.runs
    summary["warmup"] = f"{min(len(runs), need)}/{need}"
    notes = [f"warm-up: {len(runs)} of {need} runs collected for the baseline"]
    if len(runs) < need:
        return Warmup(len(runs), need, notes=tuple(notes))
    items = ws.store.items_for_runs([r.run_id for r in runs])
    reason = ws.store.get_warmup(plugin.flow, run.model)
    why = reason["reason"] if reason else f"warm-up ({need} runs)"
    new, payloads = plugin.build_baselines(run.model, runs, items, why)
    frozen = freeze(ws.store, plugin.flow, run.model, new, payloads=payloads)
    if not frozen:
        notes.append("another run froze the baseline first; comparisons start with the next run")
        return Warmup(len(runs), need, notes=tuple(notes))
    notes.append(
        f"baseline frozen from {len(runs)} runs ({runs[0].as_of:%Y-%m-%d %H:%M} to "
        f"{runs[-1].as_of:%Y-%m-%d %H:%M} UTC; {why}); comparisons start with the next run"
    )
    return Warmup(len(runs), need, frozen=tuple(frozen), notes=tuple(notes))
