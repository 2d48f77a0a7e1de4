"""Baselines (frozen, versioned), their payloads and warm-up requests, and their charts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, func, insert, literal, select, tuple_, update
from sqlalchemy.engine import Connection

from canaryflow.errors import StoreError
from canaryflow.records import Baseline, utcnow
from canaryflow.store import _convert as cv
from canaryflow.store._base import StoreBase, upsert
from canaryflow.store._tables import (
    baseline_payloads,
    baselines,
    chart_heads,
    chart_points,
    warmups,
)
from canaryflow.store._types import UTCDateTime

__all__ = ["ChartFold", "ChartKey", "ChartsMixin"]

_KEY = ("flow", "model", "subject", "metric", "baseline_version")


class ChartKey(NamedTuple):
    """A chart belongs to one version of its baseline: a new version starts a new chart."""

    flow: str
    model: str
    subject: str
    metric: str
    baseline_version: int

    @classmethod
    def of(cls, b: Baseline, metric: str | None = None) -> ChartKey:
        """The chart (or payload) key of baseline ``b`` (``metric`` names the chart)."""
        return cls(b.flow, b.model, b.subject, metric or b.metric, b.baseline_version)


ChartFold = Callable[
    [dict[str, Any] | None, dict[str, Any], datetime], tuple[dict[str, Any], dict[str, Any]]
]
"""``fold(state_before, observation, as_of) -> (state_after, result)``: pure, deterministic."""

_BASELINE_RETRIES = 5


class ChartsMixin(StoreBase):
    """Baselines and chart states."""

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
        conn: Connection | None = None,
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
        if conn is not None:
            return [cv.baseline_from_row(r) for r in conn.execute(stmt).mappings()]
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

    def frozen_run_ids(self, flow: str, model: str) -> set[str]:
        """Runs that fed any baseline version (active or not) of a flow and model.

        Such a run is history: rerunning it must not rewrite what a frozen baseline was built on.
        """
        stmt = select(baselines.c.run_ids).where(
            baselines.c.flow == flow, baselines.c.model == model
        )
        with self._read() as c:
            return {rid for (ids,) in c.execute(stmt) for rid in (ids or ())}

    # -- warm-up requests --------------------------------------------------------------------

    def set_warmup(
        self,
        flow: str,
        model: str,
        *,
        reason: str,
        since_as_of: datetime | None = None,
        since_started: datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Ask for the next baseline of (flow, model) to be built from runs since a time."""
        row = {
            "flow": flow,
            "model": model,
            "since_as_of": since_as_of,
            "since_started": since_started,
            "reason": reason,
            "created_at": utcnow(),
        }
        with self._tx(conn) as c:
            upsert(c, warmups, [row], ["flow", "model"])

    def get_warmup(self, flow: str, model: str) -> dict[str, Any] | None:
        """The pending warm-up request of (flow, model), or None."""
        stmt = select(warmups).where(warmups.c.flow == flow, warmups.c.model == model)
        with self._read() as c:
            row = c.execute(stmt).mappings().first()
        return None if row is None else dict(row)

    def clear_warmup(self, flow: str, model: str, *, conn: Connection | None = None) -> None:
        with self._tx(conn) as c:
            c.execute(delete(warmups).where(warmups.c.flow == flow, warmups.c.model == model))

    # -- baseline payloads -------------------------------------------------------------------

    def save_baseline_payload(
        self, b: Baseline, name: str, payload: Any, *, conn: Connection | None = None
    ) -> None:
        """Store large frozen data (per-item results, an embedding sample) beside ``b``."""
        row = {
            "flow": b.flow,
            "model": b.model,
            "subject": b.subject,
            "metric": b.metric,
            "baseline_version": b.baseline_version,
            "name": name,
            "payload": payload,
            "created_at": utcnow(),
        }
        with self._tx(conn) as c:
            upsert(c, baseline_payloads, [row], [*_KEY, "name"])

    def load_baseline_payload(self, b: Baseline, name: str) -> Any | None:
        stmt = select(baseline_payloads.c.payload).where(
            _key(baseline_payloads, ChartKey.of(b)), baseline_payloads.c.name == name
        )
        with self._read() as c:
            return c.execute(stmt).scalar()

    # -- charts (one per baseline version) -----------------------------------------------------

    def apply_chart_point(
        self,
        key: ChartKey,
        *,
        run_id: str,
        as_of: datetime,
        observation: Mapping[str, Any],
        fold: ChartFold,
    ) -> dict[str, Any]:
        """Add (or replace) ``run_id``'s observation and return the result the chart gave it.

        The chart is the fold of its points in ``as_of`` order: ``fold(state_before,
        observation, as_of) -> (state_after, result)`` where the state before the first point
        is None. Everything happens in one transaction holding the chart's head row, so
        concurrent runs of different hours are serialized and none is lost (SQLite: BEGIN
        IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE). A rerun replaces its own point and
        recomputes from the state before it, so it reproduces the same result (and the same
        alert); a late point is folded in at its place and the points after it are recomputed.
        """
        head_key = _key(chart_heads, key)
        pts = chart_points
        with self.transaction() as c:
            upsert(
                c,
                chart_heads,
                [{**key._asdict(), "state": None, "points": 0, "updated_at": utcnow()}],
                list(_KEY),
                update_cols=[],
            )
            c.execute(select(chart_heads.c.points).where(head_key).with_for_update()).first()
            upsert(
                c,
                pts,
                [
                    {
                        **key._asdict(),
                        "run_id": run_id,
                        "as_of": as_of,
                        "observation": dict(observation),
                        "result": {},
                        "state_after": None,
                        "created_at": utcnow(),
                    }
                ],
                [*_KEY, "run_id"],
                update_cols=["as_of", "observation"],
            )
            order = (pts.c.as_of, pts.c.run_id)
            this = tuple_(*order) >= tuple_(literal(as_of, UTCDateTime()), literal(run_id))
            prev = c.execute(
                select(pts.c.state_after)
                .where(_key(pts, key), ~this)
                .order_by(pts.c.as_of.desc(), pts.c.run_id.desc())
                .limit(1)
            ).first()
            state = None if prev is None else prev[0]
            later = c.execute(
                select(pts.c.run_id, pts.c.as_of, pts.c.observation)
                .where(_key(pts, key), this)
                .order_by(*order)
            ).all()
            mine: dict[str, Any] = {}
            for rid, when, obs in later:
                state, result = fold(state, obs, when)
                c.execute(
                    update(pts)
                    .where(_key(pts, key), pts.c.run_id == rid)
                    .values(result=result, state_after=state)
                )
                if rid == run_id:
                    mine = result
            count = c.execute(select(func.count()).select_from(pts).where(_key(pts, key))).scalar()
            c.execute(
                update(chart_heads)
                .where(head_key)
                .values(
                    state=state,
                    last_run_id=later[-1][0],
                    last_as_of=later[-1][1],
                    points=int(count or 0),
                    updated_at=utcnow(),
                )
            )
        return mine

    def chart_history(self, key: ChartKey, *, limit: int = 240) -> list[dict[str, Any]]:
        """The newest ``limit`` results of a chart, oldest first (for plots and reports)."""
        pts = chart_points
        stmt = (
            select(pts.c.as_of, pts.c.run_id, pts.c.result)
            .where(_key(pts, key))
            .order_by(pts.c.as_of.desc(), pts.c.run_id.desc())
            .limit(limit)
        )
        with self._read() as c:
            rows = c.execute(stmt).all()
        return [{"as_of": a.isoformat(), "run_id": r, **res} for a, r, res in reversed(rows)]

    def chart_state(self, key: ChartKey) -> dict[str, Any] | None:
        """The state after a chart's newest point, or None before its first."""
        with self._read() as c:
            return c.execute(select(chart_heads.c.state).where(_key(chart_heads, key))).scalar()

    def chart_point(self, key: ChartKey, run_id: str) -> dict[str, Any] | None:
        """The stored result of one run's point on a chart, or None."""
        pts = chart_points
        stmt = select(pts.c.result).where(_key(pts, key), pts.c.run_id == run_id)
        with self._read() as c:
            return c.execute(stmt).scalar()


def _baseline_key(flow: str, model: str, subject: str, metric: str) -> Any:
    return and_(
        baselines.c.flow == flow,
        baselines.c.model == model,
        baselines.c.subject == subject,
        baselines.c.metric == metric,
    )


def _key(table: Any, key: ChartKey) -> Any:
    return and_(*(table.c[name] == value for name, value in key._asdict().items()))
