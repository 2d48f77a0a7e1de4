"""The results store: runs, item results, baselines, chart states, alerts, incidents.

One ``Store`` per process, holding only an engine: every piece of state lives in the database,
so any number of workers can share one store (DESIGN.md §10). Every write is an upsert on a
natural key, so a rerun overwrites instead of duplicating (§8).

Write methods take ``conn=``: pass the connection of ``store.transaction()`` to make several
writes atomic (items and the production watermark, an alert and its incident). Without it each
call is its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from canaryflow.errors import StoreError
from canaryflow.records import Alert, Baseline, Incident, ItemResult, RunRecord, RunStatus, utcnow
from canaryflow.store import _convert as cv
from canaryflow.store._engine import WRITE_OPTION, create_store_engine, migrate, redact_url
from canaryflow.store._tables import (
    OPEN_STATES,
    alerts,
    baselines,
    chart_states,
    incidents,
    item_results,
    review_items,
    runs,
    watermarks,
)
from canaryflow.store._types import ReviewItem, ReviewStatus

__all__ = ["Store"]

_IN_CHUNK = 500
"""Ids per ``IN (...)``: SQLite caps bound parameters per statement."""

_APPLIED_KEEP = 200
"""Run ids remembered per chart (older reruns are caught by ``last_as_of``)."""

_BASELINE_RETRIES = 5


def _upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    *,
    update_cols: Sequence[str] | None = None,
) -> None:
    """Insert ``rows``, or update the listed columns of the row with the same ``keys``."""
    if not rows:
        return
    cols = list(update_cols) if update_cols is not None else [c for c in rows[0] if c not in keys]
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        stmt = (sqlite.insert if name == "sqlite" else postgresql.insert)(table)
        if cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, list(rows))
        return
    # Other dialects: portable, correct inside a transaction, slower.
    for row in rows:
        where = and_(*(table.c[k] == row[k] for k in keys))
        if conn.execute(select(table.c[keys[0]]).where(where)).first() is None:
            conn.execute(insert(table).values(**row))
        elif cols:
            conn.execute(update(table).where(where).values(**{c: row[c] for c in cols}))


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _IN_CHUNK):
        yield unique[start : start + _IN_CHUNK]


class Store:
    """The results store (SQLite by default, PostgreSQL or any SQLAlchemy URL by configuration).

    Open it with ``Store.open(url)``; it is a context manager that disposes its engine.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        """Wrap an engine whose database is already at the head schema (use ``open``)."""
        self.engine = engine
        self.url = redact_url(url)
        """The store URL without its password (for messages and reports)."""
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """Open the store at ``url``, creating or upgrading its schema to the newest version.

        A SQLite file's directory is created (the default is ``.canaryflow/canaryflow.db``).

        Raises:
            StoreError: the URL is invalid, its driver is missing, the database cannot be
                reached or its schema is newer than this canaryflow (the URL in the message has
                its password redacted).
        """
        engine = create_store_engine(url)
        try:
            migrate(engine, url)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url)

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: commit when the block ends, roll back if it raises.

        Pass the yielded connection as ``conn=`` to the write methods to make them atomic.

        Raises:
            StoreError: the database refused the writes (the transaction was rolled back).
        """
        try:
            with self._writer.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise StoreError(f"store {self.url!r}: write rejected: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.url!r}: {exc}") from exc

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.transaction() as own:
                yield own

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.url!r}: {exc}") from exc

    # -- runs and items --------------------------------------------------------------------

    def begin_run(self, run: RunRecord, *, conn: Connection | None = None) -> None:
        """Record a run (upsert: rerunning a run id overwrites its row, keeps its items)."""
        with self._tx(conn) as c:
            _upsert(c, runs, [cv.run_row(run)], ["run_id"])

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        summary: Mapping[str, Any],
        finished_at: datetime | None = None,
        *,
        conn: Connection | None = None,
    ) -> None:
        """Mark a run finished with its status and one-screen summary.

        Raises:
            StoreError: no run ``run_id`` was begun.
        """
        with self._tx(conn) as c:
            result = c.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(status=status, summary=dict(summary), finished_at=finished_at or utcnow())
            )
            if result.rowcount == 0:
                raise StoreError(f"finish_run: no run {run_id!r} (call begin_run first)")

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run ``run_id``, or None."""
        with self._read() as c:
            row = c.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
        return None if row is None else cv.run_from_row(row)

    def list_runs(
        self,
        flow: str | None = None,
        model: str | None = None,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[RunRecord]:
        """Runs ordered by ``as_of``, filtered; the window is half-open: since <= as_of < until."""
        stmt = select(runs)
        if flow is not None:
            stmt = stmt.where(runs.c.flow == flow)
        if model is not None:
            stmt = stmt.where(runs.c.model == model)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            stmt = stmt.where(runs.c.status.in_(statuses))
        if since is not None:
            stmt = stmt.where(runs.c.as_of >= since)
        if until is not None:
            stmt = stmt.where(runs.c.as_of < until)
        order = (
            (runs.c.as_of.desc(), runs.c.run_id.desc())
            if newest_first
            else (
                runs.c.as_of.asc(),
                runs.c.run_id.asc(),
            )
        )
        stmt = stmt.order_by(*order)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as c:
            return [cv.run_from_row(r) for r in c.execute(stmt).mappings()]

    def save_items(self, items: Sequence[ItemResult], *, conn: Connection | None = None) -> int:
        """Upsert item results on ``(run_id, item_id, attempt)``; returns how many were given.

        Raises:
            StoreError: an item names a run that was never begun.
        """
        rows = [cv.item_row(i) for i in items]
        try:
            with self._tx(conn) as c:
                _upsert(c, item_results, rows, ["run_id", "item_id", "attempt"])
        except (IntegrityError, StoreError) as exc:
            missing = sorted({i.run_id for i in items} - self._existing_runs(items, conn))
            if missing:
                raise StoreError(
                    f"save_items: no run {missing[0]!r} (call begin_run before saving its items)"
                ) from exc
            raise
        return len(rows)

    def _existing_runs(self, items: Sequence[ItemResult], conn: Connection | None) -> set[str]:
        ids = sorted({i.run_id for i in items})
        try:
            if conn is not None and conn.in_transaction() and not conn.invalidated:
                rows = conn.execute(select(runs.c.run_id).where(runs.c.run_id.in_(ids)))
                return {r[0] for r in rows}
        except SQLAlchemyError:
            pass  # the caller's transaction is failed on PostgreSQL: ask outside it
        with self._read() as c:
            return {r[0] for r in c.execute(select(runs.c.run_id).where(runs.c.run_id.in_(ids)))}

    def items_for_runs(self, run_ids: Sequence[str]) -> list[ItemResult]:
        """Item results of the given runs, ordered by run id, item id, attempt."""
        out: list[ItemResult] = []
        with self._read() as c:
            for chunk in _chunks(run_ids):
                stmt = (
                    select(item_results)
                    .where(item_results.c.run_id.in_(chunk))
                    .order_by(item_results.c.run_id, item_results.c.item_id, item_results.c.attempt)
                )
                out.extend(cv.item_from_row(r) for r in c.execute(stmt).mappings())
        out.sort(key=lambda i: (i.run_id, i.item_id, i.attempt))
        return out

    # -- baselines ---------------------------------------------------------------------------

    def save_baseline(self, b: Baseline, *, conn: Connection | None = None) -> Baseline:
        """Store ``b`` as the next version of its key and make it the only active one.

        Baselines are frozen: this always adds a version, it never edits one.

        Returns:
            The stored baseline, with its assigned ``baseline_version`` and ``active=True``.

        Raises:
            StoreError: ``b`` already has a version (it was stored before).
        """
        if b.baseline_version != 0:
            raise StoreError(
                f"save_baseline: {b.subject!r}/{b.metric!r} already has version "
                f"{b.baseline_version}; baselines are frozen, build a new one (version 0)"
            )
        if conn is not None:
            return self._insert_baseline(conn, b)
        for attempt in range(_BASELINE_RETRIES):
            try:
                with self.transaction() as c:
                    return self._insert_baseline(c, b)
            except StoreError:
                # Another writer took the same version number (PostgreSQL): take the next.
                if attempt == _BASELINE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _insert_baseline(self, conn: Connection, b: Baseline) -> Baseline:
        key = _baseline_key(b.flow, b.model, b.subject, b.metric)
        latest = conn.execute(select(func.max(baselines.c.baseline_version)).where(key)).scalar()
        now = utcnow()
        conn.execute(
            update(baselines)
            .where(key, baselines.c.active.is_(True))
            .values(active=False, deactivated_at=now, deactivated_reason=f"replaced: {b.reason}")
        )
        stored = b.model_copy(update={"baseline_version": (latest or 0) + 1, "active": True})
        conn.execute(insert(baselines).values(**cv.baseline_row(stored)))
        return stored

    def active_baseline(self, flow: str, model: str, subject: str, metric: str) -> Baseline | None:
        """The active baseline of a key, or None (no baseline yet, or reset)."""
        stmt = (
            select(baselines)
            .where(_baseline_key(flow, model, subject, metric), baselines.c.active.is_(True))
            .order_by(baselines.c.baseline_version.desc())
            .limit(1)
        )
        with self._read() as c:
            row = c.execute(stmt).mappings().first()
        return None if row is None else cv.baseline_from_row(row)

    def get_baseline(
        self, flow: str, model: str, subject: str, metric: str, baseline_version: int
    ) -> Baseline | None:
        """One version of a baseline (active or not), or None."""
        stmt = select(baselines).where(
            _baseline_key(flow, model, subject, metric),
            baselines.c.baseline_version == baseline_version,
        )
        with self._read() as c:
            row = c.execute(stmt).mappings().first()
        return None if row is None else cv.baseline_from_row(row)

    def list_baselines(
        self,
        flow: str | None = None,
        model: str | None = None,
        *,
        include_inactive: bool = False,
        subject: str | None = None,
        metric: str | None = None,
    ) -> list[Baseline]:
        """Baselines ordered by flow, model, subject, metric and version."""
        stmt = select(baselines)
        for col, value in (
            ("flow", flow),
            ("model", model),
            ("subject", subject),
            ("metric", metric),
        ):
            if value is not None:
                stmt = stmt.where(baselines.c[col] == value)
        if not include_inactive:
            stmt = stmt.where(baselines.c.active.is_(True))
        stmt = stmt.order_by(
            baselines.c.flow,
            baselines.c.model,
            baselines.c.subject,
            baselines.c.metric,
            baselines.c.baseline_version,
        )
        with self._read() as c:
            return [cv.baseline_from_row(r) for r in c.execute(stmt).mappings()]

    def deactivate_baselines(
        self,
        flow: str,
        model: str,
        subject: str | None = None,
        metric: str | None = None,
        *,
        reason: str = "",
        conn: Connection | None = None,
    ) -> int:
        """Deactivate the active baselines of a flow and model (``baseline reset``).

        Returns:
            How many baselines were deactivated (they stay stored, inactive).
        """
        stmt = update(baselines).where(
            baselines.c.flow == flow, baselines.c.model == model, baselines.c.active.is_(True)
        )
        if subject is not None:
            stmt = stmt.where(baselines.c.subject == subject)
        if metric is not None:
            stmt = stmt.where(baselines.c.metric == metric)
        stmt = stmt.values(active=False, deactivated_at=utcnow(), deactivated_reason=reason)
        with self._tx(conn) as c:
            return int(c.execute(stmt).rowcount)

    # -- chart states ------------------------------------------------------------------------

    def load_chart_state(
        self,
        flow: str,
        model: str,
        subject: str,
        metric: str,
        *,
        for_run: str | None = None,
    ) -> dict[str, Any] | None:
        """The chart state of a key, or None before its first observation.

        With ``for_run``: when that run is the last one applied (a rerun after a crash), the
        state from *before* it is returned, so the rerun recomputes the same update instead of
        applying its observation twice.
        """
        stmt = select(chart_states).where(_chart_key(flow, model, subject, metric))
        with self._read() as c:
            row = c.execute(stmt).mappings().first()
        if row is None:
            return None
        if for_run is not None and row["last_run_id"] == for_run:
            return None if row["prev_state"] is None else dict(row["prev_state"])
        return dict(row["state"])

    def chart_state_applied(
        self, flow: str, model: str, subject: str, metric: str, run_id: str
    ) -> bool:
        """Whether ``run_id``'s observation is already in the chart state of a key."""
        with self._read() as c:
            row = (
                c.execute(select(chart_states).where(_chart_key(flow, model, subject, metric)))
                .mappings()
                .first()
            )
            if row is None:
                return False
            return self._applied(c, row, run_id)

    @staticmethod
    def _applied(conn: Connection, row: Mapping[str, Any], run_id: str) -> bool:
        if run_id == row["last_run_id"] or run_id in (row["applied_run_ids"] or ()):
            return True
        if row["last_as_of"] is None:
            return False
        as_of = conn.execute(select(runs.c.as_of).where(runs.c.run_id == run_id)).scalar()
        return as_of is not None and as_of < row["last_as_of"]

    def save_chart_state(
        self,
        flow: str,
        model: str,
        subject: str,
        metric: str,
        state: Mapping[str, Any],
        *,
        run_id: str,
        conn: Connection | None = None,
    ) -> bool:
        """Store the chart state after applying ``run_id``'s observation.

        Saving again for the last applied run overwrites (a rerun recomputed it from the same
        prior state); saving for a run applied before that, or older than the last applied
        ``as_of``, changes nothing.

        Returns:
            False when the run was already applied earlier and nothing was written.
        """
        key = _chart_key(flow, model, subject, metric)
        with self._tx(conn) as c:
            row = c.execute(select(chart_states).where(key).with_for_update()).mappings().first()
            as_of = c.execute(select(runs.c.as_of).where(runs.c.run_id == run_id)).scalar()
            now = utcnow()
            if row is None:
                c.execute(
                    insert(chart_states).values(
                        flow=flow,
                        model=model,
                        subject=subject,
                        metric=metric,
                        state=dict(state),
                        prev_state=None,
                        last_run_id=run_id,
                        last_as_of=as_of,
                        applied_run_ids=[run_id],
                        updated_at=now,
                    )
                )
                return True
            if row["last_run_id"] == run_id:
                c.execute(update(chart_states).where(key).values(state=dict(state), updated_at=now))
                return True
            if self._applied(c, row, run_id):
                return False
            applied = [*(row["applied_run_ids"] or ()), run_id][-_APPLIED_KEEP:]
            c.execute(
                update(chart_states)
                .where(key)
                .values(
                    state=dict(state),
                    prev_state=row["state"],
                    last_run_id=run_id,
                    last_as_of=as_of if as_of is not None else row["last_as_of"],
                    applied_run_ids=applied,
                    updated_at=now,
                )
            )
            return True

    # -- alerts and incidents ----------------------------------------------------------------

    def save_alert(
        self, alert: Alert, incident_id: str | None = None, *, conn: Connection | None = None
    ) -> None:
        """Upsert an alert on ``(run, subject, metric)``; incident_id None keeps the stored one."""
        row = cv.alert_row(alert, incident_id)
        cols = [c for c in row if c not in ("run_key", "subject", "metric", "incident_id")]
        with self._tx(conn) as c:
            _upsert(c, alerts, [row], ["run_key", "subject", "metric"], update_cols=cols)
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
            _upsert(c, incidents, [cv.incident_row(incident)], ["incident_id"])

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
        conn: Connection | None = None,
    ) -> None:
        """Append an entry (opened, updated, acknowledged, resolved...) to an incident's history."""
        key = incidents.c.incident_id == incident_id
        entry = {"at": (at or utcnow()).isoformat(), "action": action, "note": note}
        with self._tx(conn) as c:
            current = c.execute(select(incidents.c.history).where(key).with_for_update())
            history = [*(current.scalar() or []), entry]
            c.execute(update(incidents).where(key).values(history=history))

    def incident_history(self, incident_id: str) -> list[dict[str, Any]]:
        """An incident's history entries, oldest first."""
        stmt = select(incidents.c.history).where(incidents.c.incident_id == incident_id)
        with self._read() as c:
            return list(c.execute(stmt).scalar() or [])

    # -- watermarks and review queue ---------------------------------------------------------

    def get_watermark(self, source: str, *, conn: Connection | None = None) -> str | None:
        """The last processed position of a production source, or None."""
        stmt = select(watermarks.c.value).where(watermarks.c.source == source)
        if conn is not None:
            return conn.execute(stmt).scalar()
        with self._read() as c:
            return c.execute(stmt).scalar()

    def set_watermark(self, source: str, value: str, *, conn: Connection | None = None) -> None:
        """Advance a source's watermark; call it with the ``conn`` that saves the items."""
        row = {"source": source, "value": value, "updated_at": utcnow()}
        with self._tx(conn) as c:
            _upsert(c, watermarks, [row], ["source"])

    def add_review_items(
        self, items: Sequence[ReviewItem], *, conn: Connection | None = None
    ) -> int:
        """Queue items for human review (upsert on ``(source, item_id)``).

        Queuing an item again updates its reason and payload; its status is kept, so a rerun
        does not bring back an item a reviewer already dismissed.
        """
        rows = [
            {
                "source": i.source,
                "item_id": i.item_id,
                "reason": i.reason,
                "payload": dict(i.payload),
                "status": i.status,
                "created_at": i.created_at,
                "updated_at": i.updated_at,
            }
            for i in items
        ]
        with self._tx(conn) as c:
            _upsert(
                c,
                review_items,
                rows,
                ["source", "item_id"],
                update_cols=["reason", "payload", "updated_at"],
            )
        return len(rows)

    def list_review_items(
        self,
        source: str | None = None,
        *,
        status: ReviewStatus | None = None,
        limit: int | None = None,
    ) -> list[ReviewItem]:
        """Queued items, oldest first."""
        stmt = select(review_items)
        if source is not None:
            stmt = stmt.where(review_items.c.source == source)
        if status is not None:
            stmt = stmt.where(review_items.c.status == status)
        stmt = stmt.order_by(review_items.c.created_at, review_items.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as c:
            return [cv.review_from_row(r) for r in c.execute(stmt).mappings()]

    def set_review_status(
        self, source: str, item_id: str, status: ReviewStatus, *, conn: Connection | None = None
    ) -> bool:
        """Set a queued item's status; False if there is no such item."""
        stmt = (
            update(review_items)
            .where(review_items.c.source == source, review_items.c.item_id == item_id)
            .values(status=status, updated_at=utcnow())
        )
        with self._tx(conn) as c:
            return bool(c.execute(stmt).rowcount)

    # -- maintenance -------------------------------------------------------------------------

    def delete_run(self, run_id: str, *, conn: Connection | None = None) -> bool:
        """Delete a run and its item results; False if there was no such run."""
        with self._tx(conn) as c:
            c.execute(delete(item_results).where(item_results.c.run_id == run_id))
            return bool(c.execute(delete(runs).where(runs.c.run_id == run_id)).rowcount)


def _baseline_key(flow: str, model: str, subject: str, metric: str) -> Any:
    return and_(
        baselines.c.flow == flow,
        baselines.c.model == model,
        baselines.c.subject == subject,
        baselines.c.metric == metric,
    )


def _chart_key(flow: str, model: str, subject: str, metric: str) -> Any:
    return and_(
        chart_states.c.flow == flow,
        chart_states.c.model == model,
        chart_states.c.subject == subject,
        chart_states.c.metric == metric,
    )


def _alert_key(alert: Alert) -> Any:
    return and_(
        alerts.c.run_key == cv.alert_run_key(alert),
        alerts.c.subject == alert.subject,
        alerts.c.metric == alert.metric,
    )
