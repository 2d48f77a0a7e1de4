"""The results store: SQLAlchemy tables and the queries flows need (SQLite default, PostgreSQL).

``Store.open(url)`` creates or upgrades the schema (Alembic migrations shipped in the package,
run in code) and returns a store whose every write is an idempotent upsert on a natural key.
"""

from canaryflow.store._charts import ChartFold, ChartKey
from canaryflow.store._convert import alert_run_key
from canaryflow.store._engine import redact_url
from canaryflow.store._store import Store
from canaryflow.store._tables import HEAD_REVISION
from canaryflow.store._types import ReviewItem, ReviewStatus

__all__ = [
    "ChartFold",
    "ChartKey",
    "HEAD_REVISION",
    "ReviewItem",
    "ReviewStatus",
    "Store",
    "alert_run_key",
    "redact_url",
]
