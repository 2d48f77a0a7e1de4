"""LLM judge: a verdict cache and human labels.

Revision ID: 0005_judge
Revises: 0004_incidents
Create Date: 2026-12-03

- ``judge_cache``: one row per judge call outcome (validated scores or the error), keyed by a
  hash of everything that decides the verdict, so reruns and backfills never pay twice.
- ``judge_labels``: human scores given through ``canaryflow review label``, next to the judge's
  scores at that time, for the judge-human agreement report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_judge"
down_revision = "0004_incidents"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the two tables."""
    op.create_table(
        "judge_cache",
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("rubric", sa.String(100), nullable=False),
        sa.Column("rubric_version", sa.Integer, nullable=False),
        sa.Column("judge_model", sa.String(200), nullable=False),
        sa.Column("repeat", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("reasoning", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("retryable", sa.Boolean, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=False),
        sa.Column("output_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("cache_key", name="pk_judge_cache"),
    )
    op.create_index("ix_judge_cache_rubric", "judge_cache", ["rubric", "rubric_version"])
    op.create_table(
        "judge_labels",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("item_id", sa.String(300), nullable=False),
        sa.Column("rubric", sa.String(100), nullable=False),
        sa.Column("rubric_version", sa.Integer, nullable=False),
        sa.Column("labeller", sa.String(200), nullable=False),
        sa.Column("human_scores", sa.JSON, nullable=False),
        sa.Column("judge_scores", sa.JSON, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_judge_labels"),
        sa.UniqueConstraint(
            "source",
            "item_id",
            "rubric",
            "labeller",
            name="uq_judge_labels_source_item_id_rubric_labeller",
        ),
    )
    op.create_index("ix_judge_labels_rubric", "judge_labels", ["rubric"])


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index("ix_judge_labels_rubric", table_name="judge_labels")
    op.drop_table("judge_labels")
    op.drop_index("ix_judge_cache_rubric", table_name="judge_cache")
    op.drop_table("judge_cache")
