"""Column types and small value types of the store.

``UTCDateTime`` is why every timestamp read back is timezone-aware UTC: SQLite keeps no offset
and returns naive datetimes, PostgreSQL returns them in the session time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from canaryflow.records import utcnow

__all__ = ["ReviewItem", "ReviewStatus", "UTCDateTime", "as_utc"]

ReviewStatus = Literal["pending", "reviewed", "dismissed"]
"""A queued item's state: waiting for a human, looked at, or judged not worth a look."""


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; SQLite gets a naive UTC value (it would drop the offset silently)."""
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalize to aware UTC whatever the backend returned."""
        return None if value is None else as_utc(value)


@dataclass(frozen=True)
class ReviewItem:
    """A record queued for human review (a flagged production record, a judge disagreement).

    Keyed by ``(source, item_id)``: queuing the same item again updates its reason and payload
    but keeps the status a reviewer gave it.
    """

    source: str
    """Where the item comes from: ``production:<feature>``, ``golden:<set>``..."""
    item_id: str
    reason: str
    payload: dict[str, Any] = field(default_factory=dict)
    """What a reviewer needs to see (already redacted by the caller)."""
    status: ReviewStatus = "pending"
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
