"""Baselines (frozen, versioned) and control-chart states (rerun-safe)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from canaryflow.errors import StoreError
from canaryflow.records import Baseline, utcnow
from canaryflow.store import _convert as cv
from canaryflow.store._base import StoreBase
from canaryflow.store._tables import (
    baselines,
    chart_states,
    runs,
)

__all__ = ["ChartsMixin"]

_APPLIED_KEEP = 200
"""Run ids remembered per chart (older reruns are caught by ``last_as_of``)."""

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
