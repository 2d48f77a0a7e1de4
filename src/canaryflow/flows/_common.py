"""What every canaryflow Prefect flow does the same way (kept out of the engine modules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import get_run_logger

from canaryflow.config import Config
from canaryflow.records import utcnow

__all__ = ["crash_stale_flow_runs", "run_time"]


def run_time(as_of: datetime | None) -> datetime:
    """The time this run stands for: ``as_of``, else the scheduled start of this flow run (a
    retried scheduled run keeps its identity), else now; truncated to the minute."""
    when = as_of.astimezone(UTC) if as_of else _scheduled_time()
    when = when or datetime.now(UTC)
    return when.astimezone(UTC).replace(second=0, microsecond=0)


def _scheduled_time() -> datetime | None:
    try:
        from prefect.runtime import flow_run

        ts = flow_run.scheduled_start_time
    except Exception:  # pragma: no cover - outside a run
        return None
    return None if ts is None else datetime.fromisoformat(str(ts)).astimezone(UTC)


def crash_stale_flow_runs(config: Config, flow: str) -> list[str]:
    """Mark this flow's Prefect runs stuck in RUNNING (a killed process) as Crashed.

    A process killed with SIGKILL never reports its end, so its flow run would show RUNNING in
    the UI forever. Runs older than ``[alerts.<flow>] stale_run_minutes`` are forced to Crashed
    with a message naming the run that found them; younger ones may be legitimately running.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.runtime import flow_run
    from prefect.states import Crashed

    cutoff = utcnow() - timedelta(minutes=config.alerts.for_flow(flow).stale_run_minutes)
    me = flow_run.id
    crashed: list[str] = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_run.flow_name])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            ),
        )
        for fr in runs:
            started = fr.start_time or fr.expected_start_time
            if str(fr.id) == str(me) or started is None or started > cutoff:
                continue
            client.set_flow_run_state(
                fr.id,
                Crashed(
                    message=f"still RUNNING since {started:%Y-%m-%d %H:%M} UTC; "
                    f"finished as crashed by flow run {me}"
                ),
                force=True,
            )
            crashed.append(str(fr.name))
    if crashed:
        get_run_logger().warning("finished stale flow runs as Crashed: %s", crashed)
    return crashed
