"""The store's tables at the head schema version (SQLAlchemy Core).

Every table has a natural key so that every write is an idempotent upsert: rerunning a run, or
replaying a killed one, overwrites rows instead of adding them (DESIGN.md §8).

The migrations in ``migrations/versions`` create exactly this schema; ``tests/store`` checks that
the two agree, so change both together (a new revision, never an edited one).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from canaryflow.store._types import UTCDateTime

__all__ = [
    "HEAD_REVISION",
    "OPEN_STATES",
    "VERSION_TABLE",
    "alerts",
    "baselines",
    "baseline_payloads",
    "chart_heads",
    "chart_points",
    "incidents",
    "item_results",
    "judge_cache",
    "judge_labels",
    "metadata",
    "production_quarantine",
    "production_windows",
    "review_items",
    "runs",
    "warmups",
    "watermarks",
]

VERSION_TABLE = "schema_version"
"""Alembic's version table, under the name the design gives it."""

HEAD_REVISION = "0006_prodengine"
"""The newest migration; ``Store.open`` upgrades every database to it."""

OPEN_STATES = ("open", "acknowledged")
"""Incident states that still block a new incident for the same key."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(200), primary_key=True),
    Column("flow", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("as_of", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("status", String(16), nullable=False),
    Column("summary", JSON, nullable=False),
    # 0002: list_runs and baseline windows filter by (flow, model) and order by as_of.
    Index("ix_runs_flow_model_as_of", "flow", "model", "as_of"),
)

item_results = Table(
    "item_results",
    metadata,
    Column(
        "run_id",
        String(200),
        ForeignKey("runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("item_id", String(300), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("flow", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("passed", Boolean),
    Column("score", Float),
    Column("output", Text, nullable=False),
    Column("normalized_output", Text, nullable=False),
    Column("checks", JSON, nullable=False),
    Column("finish_reason", String(16), nullable=False),
    Column("error", Text),
    Column("error_kind", String(32)),
    Column("latency_ms", Float),
    Column("ttft_ms", Float),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float),
    Column("model_returned", String(200)),
    Column("system_fingerprint", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    # 0002: free per-item context (judge scores per dimension, feature id, category...).
    Column("extra", JSON, nullable=False, server_default=text("'{}'")),
)

baselines = Table(
    "baselines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("metric", String(200), nullable=False),
    Column("baseline_version", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("n", Integer, nullable=False),
    Column("stats", JSON, nullable=False),
    Column("window_start", UTCDateTime()),
    Column("window_end", UTCDateTime()),
    Column("run_ids", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("deactivated_at", UTCDateTime()),
    Column("deactivated_reason", Text),
    UniqueConstraint("flow", "model", "subject", "metric", "baseline_version"),
    Index("ix_baselines_flow_model_active", "flow", "model", "active"),
)


def _chart_key() -> list[Column]:
    """(flow, model, subject, metric, baseline_version): a chart belongs to one baseline version."""
    return [
        Column("flow", String(32), primary_key=True),
        Column("model", String(200), primary_key=True),
        Column("subject", String(200), primary_key=True),
        Column("metric", String(200), primary_key=True),
        Column("baseline_version", Integer, primary_key=True),
    ]


# 0003: the chart's state after its newest point (in as_of order); the row is also the lock
# that serializes updates of one chart across processes.
chart_heads = Table(
    "chart_heads",
    metadata,
    *_chart_key(),
    Column("state", JSON),
    Column("last_run_id", String(200)),
    Column("last_as_of", UTCDateTime()),
    Column("points", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# 0003: one observation per run and chart, with the result it produced and the state after it.
chart_points = Table(
    "chart_points",
    metadata,
    *_chart_key(),
    Column("run_id", String(200), primary_key=True),
    Column("as_of", UTCDateTime(), nullable=False),
    Column("observation", JSON, nullable=False),
    Column("result", JSON, nullable=False),
    Column("state_after", JSON),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(
        "ix_chart_points_key_as_of",
        "flow",
        "model",
        "subject",
        "metric",
        "baseline_version",
        "as_of",
    ),
)

# 0003: build the next baseline of (flow, model) from runs since a time (reset, accepted change).
warmups = Table(
    "warmups",
    metadata,
    Column("flow", String(32), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("since_as_of", UTCDateTime()),
    Column("since_started", UTCDateTime()),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# 0003: large frozen data stored beside a baseline version (golden items, embedding samples).
baseline_payloads = Table(
    "baseline_payloads",
    metadata,
    *_chart_key(),
    Column("name", String(100), primary_key=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(200), primary_key=True),
    Column("flow", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("metric_class", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("resolution", String(32)),
    Column("resolution_note", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime()),
    Column("alerts", JSON, nullable=False),
    Column("run_ids", JSON, nullable=False),
    Column("report_path", Text),
    # 0002: per-sink outcome (location or error, attempts) and the ack/resolve history.
    Column("sink_results", JSON, nullable=False, server_default=text("'{}'")),
    Column("history", JSON, nullable=False, server_default=text("'[]'")),
    # 0004_incidents: the evidence (runbook context) the incident was filed with.
    Column("evidence", JSON, nullable=False, server_default=text("'{}'")),
    Index("ix_incidents_key_state", "flow", "model", "subject", "metric_class", "state"),
    # 0002: at most one open/acknowledged incident per key, even with concurrent workers.
    Index(
        "uq_incidents_open_key",
        "flow",
        "model",
        "subject",
        "metric_class",
        unique=True,
        sqlite_where=text("state IN ('open', 'acknowledged')"),
        postgresql_where=text("state IN ('open', 'acknowledged')"),
    ),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", String(300), nullable=False),
    Column("run_id", String(200)),
    Column("flow", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("metric", String(200), nullable=False),
    Column("metric_class", String(32), nullable=False),
    Column("baseline_value", Float),
    Column("current_value", Float),
    Column("test", Text, nullable=False),
    Column("statistic", Float),
    Column("p_value", Float),
    Column("limit", Float),
    Column("baseline_n", Integer),
    Column("first_window", UTCDateTime()),
    Column("as_of", UTCDateTime(), nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("incident_id", String(200)),
    UniqueConstraint("run_key", "subject", "metric"),
    Index("ix_alerts_incident_id", "incident_id"),
)

watermarks = Table(
    "watermarks",
    metadata,
    Column("source", String(500), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

review_items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(500), nullable=False),
    Column("item_id", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "item_id"),
    Index("ix_review_items_status", "status"),
)

# ------------------------------------------------------------------ judge (branch judge, 0003)

judge_cache = Table(
    "judge_cache",
    metadata,
    # sha256 of (rubric name+version+content, judge model + parameters, prompt version, input,
    # output, reference, context, repeat index): a rerun finds its verdicts, repeats do not.
    Column("cache_key", String(64), primary_key=True),
    Column("rubric", String(100), nullable=False),
    Column("rubric_version", Integer, nullable=False),
    Column("judge_model", String(200), nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("scores", JSON, nullable=False),
    Column("reasoning", Text, nullable=False),
    Column("error", Text),
    Column("error_kind", String(32)),
    Column("retryable", Boolean, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_judge_cache_rubric", "rubric", "rubric_version"),
)

judge_labels = Table(
    "judge_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(500), nullable=False),
    Column("item_id", String(300), nullable=False),
    Column("rubric", String(100), nullable=False),
    Column("rubric_version", Integer, nullable=False),
    Column("labeller", String(200), nullable=False),
    Column("human_scores", JSON, nullable=False),
    Column("judge_scores", JSON, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "item_id", "rubric", "labeller"),
    Index("ix_judge_labels_rubric", "rubric"),
)

# -- prodengine: production window aggregates and quarantined records ----------------------

production_windows = Table(
    "production_windows",
    metadata,
    Column("source", String(500), primary_key=True),
    Column("window_start", UTCDateTime(), primary_key=True),
    Column("feature_id", String(200), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("metric_set", String(32), primary_key=True),
    Column("window_end", UTCDateTime(), nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("values", JSON, nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
)
"""One row per window x feature x model x metric set (``*`` for the window's totals), never
one per request: the production flow's charts and tests read these."""

production_quarantine = Table(
    "production_quarantine",
    metadata,
    Column("source", String(500), primary_key=True),
    Column("location", String(1000), primary_key=True),
    Column("window_start", UTCDateTime()),
    Column("reason", Text, nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
)
"""Production rows that failed validation, by ``file:line`` (a rerun overwrites, never adds)."""
