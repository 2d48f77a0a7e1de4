"""Production flow: the windows closed since the watermark -> metrics, judged sample, charts,
rate and drift tests -> incidents (``canaryflow.runs.production`` does the work).

The window aggregation can be split into chunks of files mapped over a task runner
(``chunks`` > 1; ``dask=True`` uses ``prefect_dask.DaskTaskRunner`` on a local cluster, or
``dask_address`` a running scheduler): only per-chunk partial aggregates travel, never records.

Run it: ``canaryflow run production``; schedule it with ``canaryflow serve`` or prefect.yaml.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from canaryflow.config import load_config
from canaryflow.flows._common import crash_stale_flow_runs, run_time
from canaryflow.flows._registry import FlowEntry
from canaryflow.flows.canary import outcome_row  # the same row for every flow
from canaryflow.runs import Workspace

__all__ = ["ENTRY", "outcome_row", "production_monitor"]


def _runner(chunks: int, dask: bool, dask_address: str | None) -> Any:
    if not (dask or dask_address):
        return None
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": max(1, min(chunks, 4)), "processes": True})


@flow(name="production-monitor")
def production_monitor(
    as_of: datetime | None = None,
    config_path: str | None = None,
    chunks: int = 1,
    dask: bool = False,
    dask_address: str | None = None,
) -> list[dict[str, Any]]:
    """Measure and judge the production windows closed since the watermark.

    Args:
        as_of: the time this run stands for; default: the scheduled start, or now.
        config_path: canaryflow.toml (default: ./canaryflow.toml or $CANARYFLOW_CONFIG).
        chunks: split the source's files into this many chunks mapped over a task runner.
        dask: map the chunks over a local Dask cluster (``prefect-dask``).
        dask_address: address of a running Dask scheduler (implies ``dask``).
    """
    from canaryflow.runs.production import run_production

    config = load_config(config_path)
    when = run_time(as_of)
    crash_stale_flow_runs(config, "production")
    outcome = run_production(
        Workspace(config), when, chunks=chunks, task_runner=_runner(chunks, dask, dask_address)
    )
    logger = get_run_logger()
    for change in outcome.incidents:
        logger.warning(
            "incident %s %s: %s", change.incident.incident_id, change.action, change.incident.title
        )
    return [outcome_row(outcome)]


def _headline(s: dict[str, Any]) -> str:
    text = f"{s.get('windows', 0)} windows, {s.get('records', 0)} records"
    if s.get("judged") or s.get("judge_errors"):
        text += f", {s.get('judged', 0)} judged"
        if s.get("judge_errors"):
            text += f" ({s['judge_errors']} judge errors)"
    return text


ENTRY = FlowEntry(
    name="production",
    entrypoint="canaryflow.flows.production:production_monitor",
    deployment="production-monitor",
    description="Production windows since the watermark: metrics, judged sample, drift.",
    cli="canaryflow.cli._production",
    headline=_headline,
    tags=("canaryflow", "production"),
)
