"""The judge's verdict cache and the human labels used to measure the judge against people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from canaryflow.records import utcnow
from canaryflow.store._base import StoreBase, chunks, upsert
from canaryflow.store._tables import judge_cache, judge_labels

__all__ = ["JudgeMixin"]


class JudgeMixin(StoreBase):
    """Judge cache rows (one per judge call outcome) and human labels."""

    def get_judge_cache(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Cached call outcomes by cache key (keys not cached are absent)."""
        out: dict[str, dict[str, Any]] = {}
        with self._read() as c:
            for chunk in chunks(list(keys)):
                stmt = select(judge_cache).where(judge_cache.c.cache_key.in_(chunk))
                out.update({r["cache_key"]: dict(r) for r in c.execute(stmt).mappings()})
        return out

    def put_judge_cache(
        self, rows: Sequence[Mapping[str, Any]], *, conn: Connection | None = None
    ) -> int:
        """Store call outcomes (upsert on the cache key: a retried error is overwritten)."""
        now = utcnow()
        full = [{"created_at": now, **r} for r in rows]
        with self._tx(conn) as c:
            upsert(c, judge_cache, full, ["cache_key"])
        return len(full)

    def count_judge_cache(self, rubric: str | None = None) -> int:
        """How many call outcomes are cached (for one rubric, or all)."""
        stmt = select(judge_cache.c.cache_key)
        if rubric is not None:
            stmt = stmt.where(judge_cache.c.rubric == rubric)
        with self._read() as c:
            return len(c.execute(stmt).all())

    def add_judge_label(
        self,
        *,
        source: str,
        item_id: str,
        rubric: str,
        rubric_version: int,
        labeller: str,
        human_scores: Mapping[str, int],
        judge_scores: Mapping[str, float],
        note: str = "",
        conn: Connection | None = None,
    ) -> None:
        """Record (or replace) one labeller's scores for one item under one rubric."""
        row = {
            "source": source,
            "item_id": item_id,
            "rubric": rubric,
            "rubric_version": rubric_version,
            "labeller": labeller,
            "human_scores": dict(human_scores),
            "judge_scores": dict(judge_scores),
            "note": note,
            "created_at": utcnow(),
        }
        with self._tx(conn) as c:
            upsert(c, judge_labels, [row], ["source", "item_id", "rubric", "labeller"])

    def list_judge_labels(self, rubric: str | None = None) -> list[dict[str, Any]]:
        """Human labels (with the judge's scores at labelling time), oldest first."""
        stmt = select(judge_labels).order_by(judge_labels.c.created_at, judge_labels.c.id)
        if rubric is not None:
            stmt = stmt.where(judge_labels.c.rubric == rubric)
        with self._read() as c:
            return [dict(r) for r in c.execute(stmt).mappings()]
