"""Chart state per baseline version (an ordered point log), warm-up requests, baseline payloads.

Revision ID: 0003_core
Revises: 0002
Create Date: 2026-12-03

- ``chart_heads`` / ``chart_points`` replace ``chart_states``. A chart belongs to one version of
  its baseline: a promote, reset or accepted change starts a new chart in the same transaction
  that stores the new version (old parameters can never keep paging). Each run's observation is
  a point keyed by run id, applied in ``as_of`` order under a lock on the head row, so reruns
  reproduce the same result and concurrent runs for different hours lose nothing. The old
  ``chart_states`` rows carried no baseline version and are dropped: charts restart at their
  baseline's current version.
- ``warmups``: an explicit request to build the next baseline of a (flow, model) from runs since
  a point in time (a reset, an accepted change).
- ``baseline_payloads``: large frozen data beside a baseline version (per-item golden results,
  embedding samples) instead of inside its stats.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_core"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_KEY = ("flow", "model", "subject", "metric", "baseline_version")


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("baseline_version", sa.Integer, nullable=False),
    ]


def upgrade() -> None:
    op.drop_table("chart_states")
    op.create_table(
        "chart_heads",
        *_key_columns(),
        sa.Column("state", sa.JSON),
        sa.Column("last_run_id", sa.String(200)),
        sa.Column("last_as_of", _TS),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, name="pk_chart_heads"),
    )
    op.create_table(
        "chart_points",
        *_key_columns(),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("as_of", _TS, nullable=False),
        sa.Column("observation", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("state_after", sa.JSON),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "run_id", name="pk_chart_points"),
    )
    op.create_index("ix_chart_points_key_as_of", "chart_points", [*_KEY, "as_of"])
    op.create_table(
        "warmups",
        sa.Column("flow", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("since_as_of", _TS),
        sa.Column("since_started", _TS),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("flow", "model", name="pk_warmups"),
    )
    op.create_table(
        "baseline_payloads",
        *_key_columns(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint(*_KEY, "name", name="pk_baseline_payloads"),
    )


def downgrade() -> None:
    op.drop_table("baseline_payloads")
    op.drop_table("warmups")
    op.drop_index("ix_chart_points_key_as_of", table_name="chart_points")
    op.drop_table("chart_points")
    op.drop_table("chart_heads")
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
