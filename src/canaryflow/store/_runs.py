"""Runs, item results, production watermarks and the human review queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from canaryflow.errors import StoreError
from canaryflow.records import ItemResult, RunRecord, RunStatus, utcnow
from canaryflow.store import _convert as cv
from canaryflow.store._base import StoreBase, chunks, upsert
from canaryflow.store._tables import (
    item_results,
    review_items,
    runs,
    watermarks,
)
from canaryflow.store._types import ReviewItem, ReviewStatus

__all__ = ["RunsMixin"]


class RunsMixin(StoreBase):
    """Runs and what they produced; watermarks and review items."""

    # -- runs and items --------------------------------------------------------------------

    def begin_run(self, run: RunRecord, *, conn: Connection | None = None) -> None:
        """Record a run (upsert: rerunning a run id overwrites its row, keeps its items)."""
        with self._tx(conn) as c:
            upsert(c, runs, [cv.run_row(run)], ["run_id"])

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
                upsert(c, item_results, rows, ["run_id", "item_id", "attempt"])
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
            for chunk in chunks(run_ids):
                stmt = (
                    select(item_results)
                    .where(item_results.c.run_id.in_(chunk))
                    .order_by(item_results.c.run_id, item_results.c.item_id, item_results.c.attempt)
                )
                out.extend(cv.item_from_row(r) for r in c.execute(stmt).mappings())
        out.sort(key=lambda i: (i.run_id, i.item_id, i.attempt))
        return out

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
            upsert(c, watermarks, [row], ["source"])

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
            upsert(
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
