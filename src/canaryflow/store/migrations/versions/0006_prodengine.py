"""Production window aggregates and the quarantine of invalid production rows.

Revision ID: 0006_prodengine
Revises: 0005_judge
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_prodengine"
down_revision = "0005_judge"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``production_windows`` and ``production_quarantine``."""
    op.create_table(
        "production_windows",
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("feature_id", sa.String(200), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("metric_set", sa.String(32), nullable=False),
        sa.Column("window_end", _TS, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("computed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint(
            "source",
            "window_start",
            "feature_id",
            "model_id",
            "metric_set",
            name="pk_production_windows",
        ),
    )
    op.create_table(
        "production_quarantine",
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("location", sa.String(1000), nullable=False),
        sa.Column("window_start", _TS),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("seen_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "location", name="pk_production_quarantine"),
    )


def downgrade() -> None:
    """Drop what 0006_prodengine added."""
    op.drop_table("production_quarantine")
    op.drop_table("production_windows")
