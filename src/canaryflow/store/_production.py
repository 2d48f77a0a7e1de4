"""Production window aggregates and quarantined rows (written with the watermark, atomically)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from canaryflow.records import utcnow
from canaryflow.store._base import StoreBase, upsert
from canaryflow.store._tables import production_quarantine, production_windows

__all__ = ["ProductionMixin"]


class ProductionMixin(StoreBase):
    """Per-window production aggregates: one row per window x feature x model x metric set."""

    def replace_production_window(
        self,
        source: str,
        window_start: datetime,
        window_end: datetime,
        rows: Sequence[Mapping[str, Any]],
        *,
        conn: Connection | None = None,
    ) -> None:
        """Replace every stored row of one window by ``rows``.

        Each row has ``feature_id``, ``model_id``, ``metric_set``, ``n`` and ``values``. Delete
        and insert in one transaction: recomputing a window (a rerun after a kill, a backfill)
        leaves exactly the new rows, never a mix.
        """
        now = utcnow()
        with self._tx(conn) as c:
            c.execute(
                delete(production_windows).where(
                    production_windows.c.source == source,
                    production_windows.c.window_start == window_start,
                )
            )
            if rows:
                c.execute(
                    production_windows.insert(),
                    [
                        {
                            "source": source,
                            "window_start": window_start,
                            "window_end": window_end,
                            "feature_id": r["feature_id"],
                            "model_id": r["model_id"],
                            "metric_set": r["metric_set"],
                            "n": int(r["n"]),
                            "values": dict(r["values"]),
                            "computed_at": now,
                        }
                        for r in rows
                    ],
                )

    def production_windows(
        self,
        source: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        metric_set: str | None = None,
        conn: Connection | None = None,
    ) -> list[dict[str, Any]]:
        """Stored window rows of ``source`` in ``[start, end)``, oldest first."""
        t = production_windows
        stmt = select(t).where(t.c.source == source)
        if start is not None:
            stmt = stmt.where(t.c.window_start >= start)
        if end is not None:
            stmt = stmt.where(t.c.window_start < end)
        if metric_set is not None:
            stmt = stmt.where(t.c.metric_set == metric_set)
        stmt = stmt.order_by(t.c.window_start, t.c.feature_id, t.c.model_id, t.c.metric_set)
        if conn is not None:
            return [dict(r._mapping) for r in conn.execute(stmt)]
        with self._read() as c:
            return [dict(r._mapping) for r in c.execute(stmt)]

    def add_quarantined(
        self,
        source: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        conn: Connection | None = None,
    ) -> None:
        """Record invalid rows (``location``, ``reason``, ``window_start``); upsert by location."""
        now = utcnow()
        data = [
            {
                "source": source,
                "location": str(r["location"])[:1000],
                "window_start": r.get("window_start"),
                "reason": str(r["reason"]),
                "seen_at": now,
            }
            for r in rows
        ]
        with self._tx(conn) as c:
            upsert(c, production_quarantine, data, ["source", "location"])

    def quarantined(self, source: str, *, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """How many rows of ``source`` are quarantined, and the first ``limit`` of them."""
        t = production_quarantine
        with self._read() as c:
            count = c.execute(select(func.count()).where(t.c.source == source)).scalar() or 0
            rows = c.execute(
                select(t.c.location, t.c.reason, t.c.window_start)
                .where(t.c.source == source)
                .order_by(t.c.location)
                .limit(limit)
            )
            return int(count), [dict(r._mapping) for r in rows]
