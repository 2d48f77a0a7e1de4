"""Alert -> incident lifecycle: dedupe by key, persist, publish to sinks, ack and resolve.

An incident is keyed by (flow, model, subject, metric class) (DESIGN.md §5): a second alert for
the same key updates the open or acknowledged incident instead of filing another. Alerts and
incidents are written in one transaction *before* any sink is called, so a sink that fails (or
a process killed mid-publish) never loses an incident; each sink's outcome is recorded on the
incident and a rerun publishes again only where the latest state has not been delivered.

Incident ids are deterministic and readable (``INC-20261124-canary-support-bot-dates-eu-
correctness``): rerunning the same run finds its alerts already filed and updates the same
incident. Timestamps of opened/updated follow the alerts' ``as_of`` so replays and backfills
tell a consistent story; acknowledgements and resolutions use the wall clock.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from canaryflow.errors import CanaryflowError, StoreError
from canaryflow.incidents._runbook import RunbookContext, merge_context, runbook_context
from canaryflow.incidents._sinks import _context_for
from canaryflow.records import (
    SEVERITY_BY_CLASS,
    Alert,
    Incident,
    IncidentResolution,
    utcnow,
)
from canaryflow.store import Store, alert_run_key

__all__ = ["IncidentChange", "IncidentManager", "Sink", "incident_id_for"]

logger = logging.getLogger("canaryflow.incidents")

MAX_ALERTS_KEPT = 100
"""Alerts embedded in an incident: the first and the most recent (all stay in the alerts table)."""

_ID_PART_MAX = 40


@runtime_checkable
class Sink(Protocol):
    """Where incidents are published (files, a webhook, GitHub issues).

    ``publish`` is called after the incident is stored: when it is opened or updated (with the
    alerts of that call) and when it is acknowledged or resolved (with no alerts; read
    ``incident.state``). It returns a location (a file path, an issue URL) or None, and raises
    on failure; the manager retries and records the failure on the incident. Publishing the
    same incident state twice must be harmless (a rerun may do it).
    """

    name: str

    def publish(self, incident: Incident, alerts: Sequence[Alert]) -> str | None:
        """Publish ``incident``; return where it went, or None."""
        ...


@dataclass(frozen=True)
class IncidentChange:
    """What ``handle`` did to one incident."""

    incident: Incident
    action: Literal["opened", "updated"]
    alerts: tuple[Alert, ...] = ()
    """The alerts of this call that went into the incident."""
    sink_errors: tuple[str, ...] = ()
    """``"<sink>: <error>"`` for each sink that still failed after its retries."""


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
    if len(slug) > _ID_PART_MAX:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        slug = f"{slug[: _ID_PART_MAX - 7].rstrip('-')}-{digest}"
    return slug


def incident_id_for(alert: Alert) -> str:
    """The readable base id of the incident an alert would open."""
    day = alert.as_of.astimezone(UTC).strftime("%Y%m%d")
    parts = (alert.flow, alert.model, alert.subject, alert.metric_class)
    return "INC-" + day + "-" + "-".join(_slug(p) for p in parts)


def _alert_id(alert: Alert) -> tuple[str, str, str]:
    return (alert_run_key(alert), alert.subject, alert.metric)


def _merge_alerts(existing: Sequence[Alert], new: Sequence[Alert]) -> tuple[Alert, ...]:
    by_id = {_alert_id(a): a for a in existing}
    for a in new:
        by_id[_alert_id(a)] = a  # a rerun replaces its own alert, in place
    merged = list(by_id.values())
    if len(merged) > MAX_ALERTS_KEPT:
        merged = [merged[0], *merged[-(MAX_ALERTS_KEPT - 1) :]]
    return tuple(merged)


def _evidence_json(ctx: RunbookContext) -> dict[str, Any]:
    return ctx.model_dump(mode="json", exclude_defaults=True)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _title(alert: Alert) -> str:
    return (
        f"{alert.subject}: {alert.metric} {_fmt(alert.baseline_value)} -> "
        f"{_fmt(alert.current_value)} on {alert.model} ({alert.flow}, {alert.metric_class})"
    )


def _describe(result: Any) -> str:
    baselines = getattr(result, "baselines", None)
    if baselines:
        return "new baselines: " + ", ".join(
            f"{b.subject}/{b.metric} v{b.baseline_version}" for b in baselines
        )
    return "" if result is None else str(result)[:200]


class IncidentManager:
    """Files alerts as incidents, publishes them, and moves them through their lifecycle.

    Holds no state of its own: everything is in the store, so any worker can handle any alert.
    """

    def __init__(
        self,
        store: Store,
        sinks: Sequence[Sink] = (),
        *,
        attempts: int = 3,
        backoff_s: Sequence[float] = (0.5, 2.0),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
        context: Any = None,
    ) -> None:
        """Manage incidents in ``store``, publishing to ``sinks`` with retries.

        Args:
            store: the results store.
            sinks: where incidents are published, in order (the file sink first, normally).
            attempts: tries per sink and publication (>= 1).
            backoff_s: pauses between tries; the last value repeats.
            sleep: how to pause (tests pass a no-op).
            clock: the wall clock used for acknowledgements and resolutions.
            context: what the caller knows about the alerts it files (a RunbookContext, a
                mapping, or ``provider(incident[, alerts])`` returning one): stored with the
                incident as its evidence, so every later rendering shows it.
        """
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise CanaryflowError(f"sink names must be unique, got {names!r}")
        self.store = store
        self.sinks = tuple(sinks)
        self._attempts = attempts
        self._backoff = tuple(backoff_s) or (0.0,)
        self._sleep = sleep
        self._clock = clock
        self._context = context

    # -- alerts ------------------------------------------------------------------------------

    def handle(self, alerts: Sequence[Alert]) -> list[IncidentChange]:
        """File ``alerts``: open an incident per new key, update the open one otherwise.

        Alerts and incidents are committed (one transaction per incident) before any sink is
        called. Handling the same alerts again (a rerun) updates the same incidents and
        publishes only to sinks that do not already have the latest state.

        Returns:
            One change per incident touched, in the order of the alerts.
        """
        groups: dict[tuple[str, str, str, str], list[Alert]] = {}
        for a in alerts:
            groups.setdefault(a.key, []).append(a)
        changes: list[IncidentChange] = []
        for group in groups.values():
            change = self._file(group)
            if change is not None:
                changes.append(change)
        return [self._publish_change(c) for c in changes]

    def _file(self, group: Sequence[Alert]) -> IncidentChange | None:
        for attempt in (1, 2):
            try:
                return self._file_once(group)
            except StoreError:
                # Another worker opened the same key between our read and write: retry once,
                # this time finding its incident.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _evidence_now(self, group: Sequence[Alert]) -> RunbookContext:
        """What the caller knows about ``group``, asked before the store transaction opens."""
        if self._context is None:
            return RunbookContext()
        if not callable(self._context):
            return runbook_context(self._context)
        first = group[0]
        provisional = Incident(
            incident_id=incident_id_for(first),
            flow=first.flow,
            model=first.model,
            subject=first.subject,
            metric_class=first.metric_class,
            severity=SEVERITY_BY_CLASS[first.metric_class],
            title=_title(first),
            opened_at=min(a.as_of for a in group),
            updated_at=max(a.as_of for a in group),
            alerts=tuple(group),
        )
        ctx = _context_for(self._context, provisional, group)
        path = ctx.chart_path
        if path and not path.startswith(("http://", "https://")):
            # Stored absolute: a later ack runs from another directory.
            ctx = ctx.model_copy(update={"chart_path": str(Path(path).resolve())})
        return ctx

    def _file_once(self, group: Sequence[Alert]) -> IncidentChange | None:
        first = group[0]
        fresh = self._evidence_now(group)
        with self.store.transaction() as conn:
            current = None
            for a in group:
                filed = self.store.alert_incident_id(a, conn=conn)
                if filed is not None:
                    current = self.store.get_incident(filed, conn=conn, for_update=True)
                    break
            if current is not None and current.state == "resolved":
                # These alerts were filed under an incident that has since been resolved:
                # a rerun of an old run must not reopen it or file a duplicate.
                logger.info("alerts already filed under resolved %s", current.incident_id)
                return None
            if current is None:
                current = self.store.open_incident(*first.key, conn=conn, for_update=True)
            latest = max(a.as_of for a in group)
            run_ids = [a.run_id for a in group if a.run_id]
            if current is None:
                action: Literal["opened", "updated"] = "opened"
                incident = Incident(
                    incident_id=self._free_id(incident_id_for(first), conn),
                    flow=first.flow,
                    model=first.model,
                    subject=first.subject,
                    metric_class=first.metric_class,
                    severity=SEVERITY_BY_CLASS[first.metric_class],
                    title=_title(first),
                    opened_at=min(a.as_of for a in group),
                    updated_at=latest,
                    alerts=_merge_alerts((), group),
                    run_ids=tuple(dict.fromkeys(run_ids)),
                    evidence=_evidence_json(merge_context(None, fresh)),
                )
            else:
                action = "updated"
                incident = current.model_copy(
                    update={
                        "severity": SEVERITY_BY_CLASS[first.metric_class],
                        "alerts": _merge_alerts(current.alerts, group),
                        "run_ids": tuple(dict.fromkeys([*current.run_ids, *run_ids])),
                        "evidence": _evidence_json(merge_context(current.evidence, fresh)),
                    }
                )
                if incident != current:
                    incident = incident.model_copy(
                        update={"updated_at": max(current.updated_at, latest)}
                    )
            if action == "opened":
                self.store.create_incident(incident, conn=conn)
            else:
                self.store.save_incident(incident, conn=conn)
            for a in group:
                self.store.save_alert(a, incident.incident_id, conn=conn)
            if action == "opened" or incident != current:
                note = "; ".join(a.message or f"{a.metric} via {a.test}" for a in group)
                self.store.add_incident_event(
                    incident.incident_id, action, note[:1000], at=latest, conn=conn
                )
            incident = self.store.get_incident(incident.incident_id, conn=conn) or incident
        return IncidentChange(incident, action, tuple(group))

    def _free_id(self, base: str, conn: Any) -> str:
        taken = self.store.incident_ids(base, conn=conn)
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    # -- sinks -------------------------------------------------------------------------------

    def _publish_change(self, change: IncidentChange) -> IncidentChange:
        incident, errors = self._publish(change.incident, change.alerts, only_stale=True)
        return IncidentChange(incident, change.action, change.alerts, errors)

    def _publish(
        self, incident: Incident, alerts: Sequence[Alert], *, only_stale: bool
    ) -> tuple[Incident, tuple[str, ...]]:
        version = incident.updated_at.isoformat()
        delivered = self.store.sink_results(incident.incident_id) if only_stale else {}
        errors: list[str] = []
        locations: dict[str, str] = {}
        for sink in self.sinks:
            done = delivered.get(sink.name, {})
            if done.get("ok") and done.get("incident_version") == version:
                if done.get("location"):
                    locations[sink.name] = done["location"]
                continue
            location, error, tries = self._try_sink(sink, incident, alerts)
            self.store.record_sink_result(
                incident.incident_id,
                sink.name,
                location=location,
                error=error,
                attempts=tries,
                incident_version=version,
            )
            if error is not None:
                errors.append(f"{sink.name}: {error}")
            elif location:
                locations[sink.name] = location
        report = locations.get("file") or next(iter(locations.values()), None)
        if report and report != incident.report_path:
            incident = incident.model_copy(update={"report_path": report})
            self.store.save_incident(incident)
        return incident, tuple(errors)

    def _try_sink(
        self, sink: Sink, incident: Incident, alerts: Sequence[Alert]
    ) -> tuple[str | None, str | None, int]:
        error = None
        for attempt in range(1, self._attempts + 1):
            try:
                return sink.publish(incident, alerts), None, attempt
            except Exception as exc:  # any sink failure: recorded, never fatal
                error = f"{type(exc).__name__}: {exc}"[:500]
                logger.warning(
                    "sink %s failed for %s (attempt %d/%d): %s",
                    sink.name,
                    incident.incident_id,
                    attempt,
                    self._attempts,
                    error,
                )
                if attempt < self._attempts:
                    self._sleep(self._backoff[min(attempt - 1, len(self._backoff) - 1)])
        return None, error, self._attempts

    def republish(self, incident_id: str) -> tuple[str, ...]:
        """Publish an incident again to the sinks that do not have its latest state.

        Returns:
            The errors of sinks that still failed (empty when all delivered).
        """
        incident = self._get(incident_id)
        _, errors = self._publish(incident, incident.alerts, only_stale=True)
        return errors

    # -- lifecycle ---------------------------------------------------------------------------

    def _get(self, incident_id: str) -> Incident:
        incident = self.store.get_incident(incident_id)
        if incident is None:
            raise CanaryflowError(f"no incident {incident_id!r} in the store {self.store.url!r}")
        return incident

    def ack(
        self, incident_id: str, note: str = "", *, by: str = "", notify: bool = True
    ) -> Incident:
        """Acknowledge an open incident (someone is on it); it still blocks a duplicate.

        Raises:
            CanaryflowError: the incident does not exist, or is already acknowledged or
                resolved.
        """
        incident = self._get(incident_id)
        if incident.state != "open":
            raise CanaryflowError(
                f"cannot acknowledge {incident_id!r}: it is {self._state_text(incident)}; "
                "only an open incident can be acknowledged"
            )
        now = self._clock()
        updated = incident.model_copy(update={"state": "acknowledged", "updated_at": now})
        with self.store.transaction() as conn:
            self.store.save_incident(updated, conn=conn)
            self.store.add_incident_event(
                incident_id, "acknowledged", note, at=now, by=by, conn=conn
            )
        updated = self._get(incident_id)  # with its history, for the report
        if notify:
            updated, _ = self._publish(updated, (), only_stale=False)
        return updated

    def resolve(
        self,
        incident_id: str,
        resolution: IncidentResolution,
        note: str = "",
        *,
        promote: Callable[[Incident], Any] | None = None,
        by: str = "",
        notify: bool = True,
    ) -> Incident:
        """Resolve an open or acknowledged incident.

        ``accepted_change`` means the new behaviour is the new normal: ``promote(incident)``
        is called first to build new baselines from the incident's runs (see
        ``canaryflow.baselines.incident_promoter``); if it raises, the incident stays open.

        Raises:
            CanaryflowError: unknown incident or resolution, already resolved, or
                ``accepted_change`` without a ``promote`` callback.
        """
        allowed = get_args(IncidentResolution)
        if resolution not in allowed:
            raise CanaryflowError(
                f"unknown resolution {resolution!r}; expected one of {list(allowed)!r}"
            )
        incident = self._get(incident_id)
        if incident.state == "resolved":
            raise CanaryflowError(
                f"cannot resolve {incident_id!r}: it is already {self._state_text(incident)}"
            )
        detail = ""
        if resolution == "accepted_change":
            if promote is None:
                raise CanaryflowError(
                    f"resolving {incident_id!r} as accepted_change builds new baselines from "
                    "its runs: pass promote= (canaryflow.baselines.incident_promoter)"
                )
            detail = _describe(promote(incident))
        now = self._clock()
        updated = incident.model_copy(
            update={
                "state": "resolved",
                "resolution": resolution,
                "resolution_note": note,
                "resolved_at": now,
                "updated_at": now,
            }
        )
        event_note = " | ".join(p for p in (note, detail) if p)
        with self.store.transaction() as conn:
            self.store.save_incident(updated, conn=conn)
            self.store.add_incident_event(
                incident_id, f"resolved:{resolution}", event_note, at=now, by=by, conn=conn
            )
        updated = self._get(incident_id)  # with its history, for the report
        if notify:
            updated, _ = self._publish(updated, (), only_stale=False)
        return updated

    @staticmethod
    def _state_text(incident: Incident) -> str:
        if incident.state == "resolved":
            when = incident.resolved_at.isoformat() if incident.resolved_at else "?"
            return f"resolved ({incident.resolution}) at {when}"
        return incident.state
