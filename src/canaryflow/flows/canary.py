"""Hourly canary flow: probes -> models -> checks -> baseline comparison -> incidents -> report.

Thin Prefect composition of ``canaryflow.runs`` calls. Each model is probed in its own task
(concurrently, with retries); the comparison, incidents and report come in a second task per
model. Runs are keyed by (model, as_of): a retried or re-run hour reproduces its own results,
and an hour that fed a frozen baseline is history and is not rerun.

Run it: ``canaryflow run canary``; schedule it with ``canaryflow serve`` or prefect.yaml.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from canaryflow.config import Config, load_config
from canaryflow.flows._common import crash_stale_flow_runs, run_time
from canaryflow.flows._registry import FlowEntry
from canaryflow.records import RunRecord
from canaryflow.runs import Workspace, load_canary_probes
from canaryflow.runs._lifecycle import RunOutcome
from canaryflow.runs.canary import finish_model_canary, record_model_probes

__all__ = ["ENTRY", "hourly_canary"]


@task(name="probe-model", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5)
def probe_model(
    config: Config, model: str, probes: str | None, as_of: datetime
) -> RunRecord | RunOutcome:
    """Send every probe to one model and store every attempt."""
    ws = Workspace(config)
    probe_set = load_canary_probes(ws, probes)
    run = record_model_probes(ws, model, probe_set.probes, as_of)
    if isinstance(run, RunOutcome):
        get_run_logger().info("%s: %s", model, run.skipped)
    else:
        get_run_logger().info("%s: stored %s", model, run.run_id)
    return run


@task(name="compare-and-report", retries=1, retry_delay_seconds=5)
def compare_and_report(
    config: Config, run: RunRecord | RunOutcome, probes: str | None
) -> dict[str, Any]:
    """Compare with the frozen baseline, raise alerts, file incidents, write the report."""
    ws = Workspace(config)
    probe_set = load_canary_probes(ws, probes)
    outcome = finish_model_canary(ws, run, probes=probe_set.probes, probe_errors=probe_set.errors)
    from canaryflow.runs._canary_report import publish_canary_artifacts

    publish_canary_artifacts(outcome)
    logger = get_run_logger()
    for line in probe_set.errors:
        logger.warning("probe file problem: %s", line.line())
    for change in outcome.incidents:
        logger.warning(
            "incident %s %s: %s", change.incident.incident_id, change.action, change.incident.title
        )
    return outcome_row(outcome)


def outcome_row(outcome: RunOutcome) -> dict[str, Any]:
    """A JSON-able line of the run for the CLI's summary table and the flow's return value."""
    return {
        "model": outcome.run.model,
        "run_id": outcome.run.run_id,
        "status": outcome.run.status,
        "skipped": outcome.skipped,
        "phase": outcome.summary.get("phase"),
        "incidents": [c.incident.incident_id for c in outcome.incidents],
        "incident_actions": [c.action for c in outcome.incidents],
        "report": outcome.summary.get("report"),
        "summary": outcome.summary,
    }


# cast: flow() wants TaskRunner[PrefectFuture[Any]] but TaskRunner is invariant in its future
# type, so no concrete runner matches that annotation (prefect casts the same way internally)
@flow(
    name="hourly-canary",
    task_runner=cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=4)),
)
def hourly_canary(
    models: list[str] | None = None,
    probes: str | None = None,
    as_of: datetime | None = None,
    config_path: str | None = None,
) -> list[dict[str, Any]]:
    """Probe every configured model (or ``models``) and compare with its baseline.

    Args:
        models: keys of ``[models]`` to probe (default: ``[canary] models`` or all).
        probes: probe directory (default: ``[canary] probes_dir``).
        as_of: the time this run stands for (replays and backfills); default: the scheduled
            start of this flow run, or now.
        config_path: canaryflow.toml (default: ./canaryflow.toml or $CANARYFLOW_CONFIG).
    """
    config = load_config(config_path)
    when = run_time(as_of)
    crash_stale_flow_runs(config, "canary")
    keys = config.model_keys(models or config.canary.models)
    load_canary_probes(Workspace(config), probes)  # fail fast if no probe is valid
    runs = [probe_model.submit(config, key, probes, when) for key in keys]
    # prefect resolves a future argument to its result; submit()'s typed overload does not
    # model that, its untyped one (selected by the explicit default return_state=False) does
    results = [compare_and_report.submit(config, r, probes, return_state=False) for r in runs]
    return [r.result() for r in results]


def _headline(s: dict[str, Any]) -> str:
    text = f"{s.get('passed', 0)}/{s.get('evaluated', 0)} passed"
    if s.get("errors"):
        text += f", {s['errors']} errors ({s.get('error_rate', 0):.0%})"
    if s.get("fingerprint"):
        text += f"; {s['fingerprint']}"
    return text


ENTRY = FlowEntry(
    name="canary",
    entrypoint="canaryflow.flows.canary:hourly_canary",
    deployment="hourly-canary",
    description="Hourly canary probes against every configured model.",
    cli="canaryflow.cli._canary",
    headline=_headline,
    tags=("canaryflow", "canary"),
)
