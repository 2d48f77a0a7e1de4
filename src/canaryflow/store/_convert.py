"""Rows to records and back; JSON columns hold ``model_dump(mode="json")`` forms."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from canaryflow.records import Alert, Baseline, CheckResult, Incident, ItemResult, RunRecord
from canaryflow.store._types import ReviewItem

__all__ = [
    "alert_row",
    "alert_run_key",
    "baseline_from_row",
    "baseline_row",
    "incident_from_row",
    "incident_row",
    "item_from_row",
    "item_row",
    "review_from_row",
    "run_from_row",
    "run_row",
]


def run_row(run: RunRecord) -> dict[str, Any]:
    """The ``runs`` row of a run record."""
    return {
        "run_id": run.run_id,
        "flow": run.flow,
        "model": run.model,
        "config_hash": run.config_hash,
        "as_of": run.as_of,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "status": run.status,
        "summary": run.model_dump(mode="json", include={"summary"})["summary"],
    }


def run_from_row(row: RowMapping) -> RunRecord:
    """A run record from its row."""
    return RunRecord(
        run_id=row["run_id"],
        flow=row["flow"],
        model=row["model"],
        config_hash=row["config_hash"],
        as_of=row["as_of"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        summary=row["summary"] or {},
    )


_ITEM_JSON = {"checks", "extra"}


def item_row(item: ItemResult) -> dict[str, Any]:
    """The ``item_results`` row of an item result."""
    row = item.model_dump(exclude=_ITEM_JSON)
    dumped = item.model_dump(mode="json", include=_ITEM_JSON)
    row["checks"] = dumped["checks"]
    row["extra"] = dumped["extra"]
    return row


def item_from_row(row: RowMapping) -> ItemResult:
    """An item result from its row."""
    data = {k: row[k] for k in ItemResult.model_fields}
    data["checks"] = tuple(CheckResult.model_validate(c) for c in row["checks"] or ())
    data["extra"] = row["extra"] or {}
    return ItemResult.model_validate(data)


def baseline_row(b: Baseline) -> dict[str, Any]:
    """The ``baselines`` row of a baseline (its version and active flag as given)."""
    dumped = b.model_dump(mode="json", include={"stats", "run_ids"})
    return {
        "flow": b.flow,
        "model": b.model,
        "subject": b.subject,
        "metric": b.metric,
        "baseline_version": b.baseline_version,
        "active": b.active,
        "n": b.n,
        "stats": dumped["stats"],
        "window_start": b.window_start,
        "window_end": b.window_end,
        "run_ids": dumped["run_ids"],
        "created_at": b.created_at,
        "reason": b.reason,
    }


def baseline_from_row(row: RowMapping) -> Baseline:
    """A baseline from its row."""
    return Baseline(
        flow=row["flow"],
        model=row["model"],
        subject=row["subject"],
        metric=row["metric"],
        baseline_version=row["baseline_version"],
        n=row["n"],
        stats=row["stats"] or {},
        window_start=row["window_start"],
        window_end=row["window_end"],
        run_ids=tuple(row["run_ids"] or ()),
        created_at=row["created_at"],
        reason=row["reason"],
        active=bool(row["active"]),
    )


def alert_run_key(alert: Alert) -> str:
    """The run part of an alert's natural key.

    An alert without a run (monitor-the-monitor alerts) is keyed by flow, model and ``as_of``,
    so raising it again for the same moment is still idempotent.
    """
    if alert.run_id:
        return alert.run_id
    return f"{alert.flow}/{alert.model}@{alert.as_of.isoformat()}"


def alert_row(alert: Alert, incident_id: str | None) -> dict[str, Any]:
    """The ``alerts`` row of an alert."""
    row = alert.model_dump(exclude={"evidence"})
    row["evidence"] = alert.model_dump(mode="json", include={"evidence"})["evidence"]
    row["run_key"] = alert_run_key(alert)
    row["incident_id"] = incident_id
    return row


def incident_row(incident: Incident) -> dict[str, Any]:
    """The ``incidents`` row of an incident (sink results and history are kept apart)."""
    row = incident.model_dump(exclude={"alerts", "run_ids", "version", "evidence", "history"})
    dumped = incident.model_dump(mode="json", include={"alerts", "run_ids", "evidence"})
    row["alerts"] = dumped["alerts"]
    row["run_ids"] = dumped["run_ids"]
    row["evidence"] = dumped["evidence"]
    return row


def incident_from_row(row: RowMapping) -> Incident:
    """An incident from its row."""
    data = {k: row[k] for k in Incident.model_fields if k != "version"}
    data["alerts"] = tuple(Alert.model_validate(a) for a in row["alerts"] or ())
    data["run_ids"] = tuple(row["run_ids"] or ())
    data["evidence"] = dict(row["evidence"] or {})
    data["history"] = tuple(row["history"] or ())
    return Incident.model_validate(data)


def review_from_row(row: RowMapping) -> ReviewItem:
    """A review item from its row."""
    return ReviewItem(
        source=row["source"],
        item_id=row["item_id"],
        reason=row["reason"],
        payload=row["payload"] or {},
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
