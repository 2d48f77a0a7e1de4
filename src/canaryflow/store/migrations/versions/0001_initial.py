"""Initial schema: runs, item results, baselines, chart states, alerts, incidents, watermarks.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the 0001 schema: migrations never import the live tables, which move on.
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the version-1 tables."""
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("as_of", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_table(
        "item_results",
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("passed", sa.Boolean),
        sa.Column("score", sa.Float),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("normalized_output", sa.Text, nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("finish_reason", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("latency_ms", sa.Float),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float),
        sa.Column("model_returned", sa.String(200)),
        sa.Column("system_fingerprint", sa.String(200)),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "item_id", "attempt", name="pk_item_results"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.run_id"],
            name="fk_item_results_run_id_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("baseline_version", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("window_start", _TS),
        sa.Column("window_end", _TS),
        sa.Column("run_ids", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("deactivated_at", _TS),
        sa.Column("deactivated_reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_baselines"),
        sa.UniqueConstraint(
            "flow",
            "model",
            "subject",
            "metric",
            "baseline_version",
            name="uq_baselines_flow_model_subject_metric_baseline_version",
        ),
    )
    op.create_index("ix_baselines_flow_model_active", "baselines", ["flow", "model", "active"])
    op.create_table(
        "chart_states",
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("prev_state", sa.JSON),
        sa.Column("last_run_id", sa.String(200), nullable=False),
        sa.Column("last_as_of", _TS),
        sa.Column("applied_run_ids", sa.JSON, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("flow", "model", "subject", "metric", name="pk_chart_states"),
    )
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("metric_class", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(32)),
        sa.Column("resolution_note", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("opened_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("resolved_at", _TS),
        sa.Column("alerts", sa.JSON, nullable=False),
        sa.Column("run_ids", sa.JSON, nullable=False),
        sa.Column("report_path", sa.Text),
        sa.PrimaryKeyConstraint("incident_id", name="pk_incidents"),
    )
    op.create_index(
        "ix_incidents_key_state",
        "incidents",
        ["flow", "model", "subject", "metric_class", "state"],
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_key", sa.String(300), nullable=False),
        sa.Column("run_id", sa.String(200)),
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("metric_class", sa.String(32), nullable=False),
        sa.Column("baseline_value", sa.Float),
        sa.Column("current_value", sa.Float),
        sa.Column("test", sa.Text, nullable=False),
        sa.Column("statistic", sa.Float),
        sa.Column("p_value", sa.Float),
        sa.Column("limit", sa.Float),
        sa.Column("baseline_n", sa.Integer),
        sa.Column("first_window", _TS),
        sa.Column("as_of", _TS, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("incident_id", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint(
            "run_key", "subject", "metric", name="uq_alerts_run_key_subject_metric"
        ),
    )
    op.create_index("ix_alerts_incident_id", "alerts", ["incident_id"])
    op.create_table(
        "watermarks",
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_watermarks"),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_review_items"),
        sa.UniqueConstraint("source", "item_id", name="uq_review_items_source_item_id"),
    )
    op.create_index("ix_review_items_status", "review_items", ["status"])


def downgrade() -> None:
    """Drop everything (data is lost: only for throwaway databases)."""
    for table in (
        "review_items",
        "watermarks",
        "alerts",
        "incidents",
        "chart_states",
        "baselines",
        "item_results",
        "runs",
    ):
        op.drop_table(table)
