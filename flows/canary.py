"""Hourly canary flow: probes -> models -> checks -> baseline comparison -> incidents -> report.

Thin Prefect composition of ``canaryflow.runs`` calls. Each model is probed in its own task
(concurrently, with retries); the comparison, incidents and report come in a second task per
model. Runs are keyed by (model, as_of): a retried or re-run hour overwrites its own results.

Run it: ``canaryflow run canary`` (or ``python flows/canary.py``); schedule it with
``canaryflow serve`` or the deployments in prefect.yaml.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from canaryflow.config import Config, load_config
from canaryflow.records import RunRecord
from canaryflow.runs import Workspace, load_canary_probes
from canaryflow.runs._lifecycle import RunOutcome
from canaryflow.runs.canary import finish_model_canary, record_model_probes
from canaryflow.runs.canary_batch import default_as_of


def _scheduled_time() -> datetime | None:
    """The scheduled start of this flow run, so a retried scheduled run keeps its identity."""
    try:
        from prefect.runtime import flow_run

        ts = flow_run.scheduled_start_time
    except Exception:  # pragma: no cover - outside a run
        return None
    if ts is None:
        return None
    return datetime.fromisoformat(str(ts)).astimezone(UTC)


@task(name="probe-model", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5)
def probe_model(
    config: Config, model: str, probes: str | None, as_of: datetime
) -> RunRecord | RunOutcome:
    """Send every probe to one model and store every attempt."""
    ws = Workspace(config)
    probe_set = load_canary_probes(ws, probes)
    run = record_model_probes(ws, model, probe_set.probes, as_of)
    get_run_logger().info(
        "%s: stored %s", model, run.run.run_id if isinstance(run, RunOutcome) else run.run_id
    )
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
    return {
        "model": outcome.run.model,
        "run_id": outcome.run.run_id,
        "skipped": outcome.skipped,
        "status": outcome.run.status,
        "phase": outcome.summary.get("phase"),
        "incidents": [c.incident.incident_id for c in outcome.incidents],
        "incident_actions": [c.action for c in outcome.incidents],
        "report": outcome.summary.get("report"),
        "summary": outcome.summary,
    }


@flow(name="hourly-canary", task_runner=ThreadPoolTaskRunner(max_workers=4))
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
    when = as_of.astimezone(UTC) if as_of else (_scheduled_time() or default_as_of())
    when = default_as_of(when)
    keys = config.model_keys(models or config.canary.models)
    load_canary_probes(Workspace(config), probes)  # fail fast if no probe is valid
    runs = [probe_model.submit(config, key, probes, when) for key in keys]
    results = [compare_and_report.submit(config, r, probes) for r in runs]
    return [r.result() for r in results]


if __name__ == "__main__":
    import json

    print(
        json.dumps(hourly_canary(config_path=str(Path("canaryflow.toml"))), indent=2, default=str)
    )
