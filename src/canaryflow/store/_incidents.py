"""Alerts and incidents: idempotent alert rows, one open incident per key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Connection

from canaryflow.records import Alert, Incident, utcnow
from canaryflow.store import _convert as cv
from canaryflow.store._base import StoreBase, upsert
from canaryflow.store._tables import (
    OPEN_STATES,
    alerts,
    incidents,
)

__all__ = ["IncidentsMixin"]


class IncidentsMixin(StoreBase):
    """Alerts, incidents, their sink results and history."""

    # -- alerts and incidents ----------------------------------------------------------------

    def save_alert(
        self, alert: Alert, incident_id: str | None = None, *, conn: Connection | None = None
    ) -> None:
        """Upsert an alert on ``(run, subject, metric)``; incident_id None keeps the stored one."""
        row = cv.alert_row(alert, incident_id)
        cols = [c for c in row if c not in ("run_key", "subject", "metric", "incident_id")]
        with self._tx(conn) as c:
            upsert(c, alerts, [row], ["run_key", "subject", "metric"], update_cols=cols)
            if incident_id is not None:
                c.execute(update(alerts).where(_alert_key(alert)).values(incident_id=incident_id))

    def alert_incident_id(self, alert: Alert, *, conn: Connection | None = None) -> str | None:
        """The incident a stored copy of ``alert`` was filed under (None if new or unfiled)."""
        stmt = select(alerts.c.incident_id).where(_alert_key(alert))
        if conn is not None:
            return conn.execute(stmt).scalar()
        with self._read() as c:
            return c.execute(stmt).scalar()

    def list_alerts(
        self,
        *,
        run_id: str | None = None,
        incident_id: str | None = None,
        flow: str | None = None,
        model: str | None = None,
    ) -> list[Alert]:
        """Stored alerts, oldest first."""
        stmt = select(alerts)
        for col, value in (
            ("run_id", run_id),
            ("incident_id", incident_id),
            ("flow", flow),
            ("model", model),
        ):
            if value is not None:
                stmt = stmt.where(alerts.c[col] == value)
        stmt = stmt.order_by(alerts.c.as_of, alerts.c.id)
        fields = set(Alert.model_fields)
        with self._read() as c:
            return [
                Alert.model_validate({k: v for k, v in r.items() if k in fields})
                for r in c.execute(stmt).mappings()
            ]

    def save_incident(self, incident: Incident, *, conn: Connection | None = None) -> None:
        """Upsert an incident on its id.

        Raises:
            StoreError: another open incident exists for the same key.
        """
        with self._tx(conn) as c:
            upsert(c, incidents, [cv.incident_row(incident)], ["incident_id"])

    def create_incident(self, incident: Incident, *, conn: Connection | None = None) -> None:
        """Insert a new incident; unlike ``save_incident`` it never overwrites one.

        Raises:
            StoreError: the id is taken, or another incident is open for the same key (two
                workers raced to open it: the loser retries and finds the winner's).
        """
        with self._tx(conn) as c:
            c.execute(insert(incidents).values(**cv.incident_row(incident)))

    def get_incident(
        self, incident_id: str, *, conn: Connection | None = None, for_update: bool = False
    ) -> Incident | None:
        """The incident ``incident_id``, or None.

        ``for_update`` (with ``conn``) locks the row until the transaction ends (PostgreSQL;
        SQLite write transactions are already exclusive).
        """
        stmt = select(incidents).where(incidents.c.incident_id == incident_id)
        if for_update:
            stmt = stmt.with_for_update()
        if conn is not None:
            row = conn.execute(stmt).mappings().first()
        else:
            with self._read() as c:
                row = c.execute(stmt).mappings().first()
        return None if row is None else cv.incident_from_row(row)

    def open_incident(
        self,
        flow: str,
        model: str,
        subject: str,
        metric_class: str,
        *,
        conn: Connection | None = None,
        for_update: bool = False,
    ) -> Incident | None:
        """The open or acknowledged incident for a key, or None (``for_update``: lock it)."""
        stmt = (
            select(incidents)
            .where(
                incidents.c.flow == flow,
                incidents.c.model == model,
                incidents.c.subject == subject,
                incidents.c.metric_class == metric_class,
                incidents.c.state.in_(OPEN_STATES),
            )
            .order_by(incidents.c.opened_at.desc())
            .limit(1)
        )
        if for_update:
            stmt = stmt.with_for_update()
        if conn is not None:
            row = conn.execute(stmt).mappings().first()
        else:
            with self._read() as c:
                row = c.execute(stmt).mappings().first()
        return None if row is None else cv.incident_from_row(row)

    def list_incidents(
        self,
        state: str | Sequence[str] | None = None,
        flow: str | None = None,
        model: str | None = None,
    ) -> list[Incident]:
        """Incidents, newest opened first; ``state`` may be one state or several."""
        stmt = select(incidents)
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            stmt = stmt.where(incidents.c.state.in_(states))
        if flow is not None:
            stmt = stmt.where(incidents.c.flow == flow)
        if model is not None:
            stmt = stmt.where(incidents.c.model == model)
        stmt = stmt.order_by(incidents.c.opened_at.desc(), incidents.c.incident_id)
        with self._read() as c:
            return [cv.incident_from_row(r) for r in c.execute(stmt).mappings()]

    def incident_ids(self, prefix: str, *, conn: Connection | None = None) -> set[str]:
        """Ids of incidents starting with ``prefix`` (to pick a free deterministic id)."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = select(incidents.c.incident_id).where(
            incidents.c.incident_id.like(like, escape="\\")
        )
        if conn is not None:
            return {r[0] for r in conn.execute(stmt)}
        with self._read() as c:
            return {r[0] for r in c.execute(stmt)}

    def open_incident_run_ids(
        self, flow: str, model: str, *, exclude_incidents: Iterable[str] = ()
    ) -> set[str]:
        """Run ids that contributed to open/acknowledged incidents of a flow and model."""
        skip = set(exclude_incidents)
        stmt = select(incidents.c.incident_id, incidents.c.run_ids).where(
            incidents.c.flow == flow,
            incidents.c.model == model,
            incidents.c.state.in_(OPEN_STATES),
        )
        out: set[str] = set()
        with self._read() as c:
            for incident_id, run_ids in c.execute(stmt):
                if incident_id not in skip:
                    out.update(run_ids or ())
        return out

    def record_sink_result(
        self,
        incident_id: str,
        sink: str,
        *,
        location: str | None = None,
        error: str | None = None,
        attempts: int = 1,
        incident_version: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Record what a sink did with an incident (its location, or its last error).

        ``incident_version`` names the state of the incident that was published (its
        ``updated_at``), so a rerun can tell whether a sink already has the latest.
        """
        entry = {
            "ok": error is None,
            "location": location,
            "error": error,
            "attempts": attempts,
            "incident_version": incident_version,
            "at": utcnow().isoformat(),
        }
        key = incidents.c.incident_id == incident_id
        with self._tx(conn) as c:
            current = c.execute(select(incidents.c.sink_results).where(key).with_for_update())
            results = dict(current.scalar() or {})
            results[sink] = entry
            c.execute(update(incidents).where(key).values(sink_results=results))

    def sink_results(self, incident_id: str) -> dict[str, dict[str, Any]]:
        """Per sink: ``ok``, ``location``, ``error``, ``attempts``, ``incident_version``, ``at``."""
        stmt = select(incidents.c.sink_results).where(incidents.c.incident_id == incident_id)
        with self._read() as c:
            return dict(c.execute(stmt).scalar() or {})

    def add_incident_event(
        self,
        incident_id: str,
        action: str,
        note: str = "",
        *,
        at: datetime | None = None,
        by: str = "",
        conn: Connection | None = None,
    ) -> None:
        """Append an entry (opened, updated, acknowledged, resolved...) to an incident's history."""
        key = incidents.c.incident_id == incident_id
        entry = {"at": (at or utcnow()).isoformat(), "action": action, "note": note}
        if by:
            entry["by"] = by
        with self._tx(conn) as c:
            current = c.execute(select(incidents.c.history).where(key).with_for_update())
            history = [*(current.scalar() or []), entry]
            c.execute(update(incidents).where(key).values(history=history))

    def incident_history(self, incident_id: str) -> list[dict[str, Any]]:
        """An incident's history entries, oldest first."""
        stmt = select(incidents.c.history).where(incidents.c.incident_id == incident_id)
        with self._read() as c:
            return list(c.execute(stmt).scalar() or [])


def _alert_key(alert: Alert) -> Any:
    return and_(
        alerts.c.run_key == cv.alert_run_key(alert),
        alerts.c.subject == alert.subject,
        alerts.c.metric == alert.metric,
    )
