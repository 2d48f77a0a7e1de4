"""Item extras, incident sink results and history, one open incident per key, runs index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

- ``item_results.extra``: per-item context the flows need later (judge dimension scores,
  feature id, golden category) without a column per flow.
- ``incidents.sink_results`` / ``incidents.history``: a failed sink is recorded on the incident
  instead of being lost; ack and resolve notes are kept in order.
- A partial unique index so two workers cannot both open an incident for the same key.
- ``ix_runs_flow_model_as_of`` for ``list_runs`` and baseline windows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OPEN = sa.text("state IN ('open', 'acknowledged')")


def upgrade() -> None:
    """Add the columns (existing rows get empty defaults) and the indexes."""
    with op.batch_alter_table("item_results") as batch:
        batch.add_column(
            sa.Column("extra", sa.JSON, nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("sink_results", sa.JSON, nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(
            sa.Column("history", sa.JSON, nullable=False, server_default=sa.text("'[]'"))
        )
    op.create_index(
        "uq_incidents_open_key",
        "incidents",
        ["flow", "model", "subject", "metric_class"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_index("ix_runs_flow_model_as_of", "runs", ["flow", "model", "as_of"])


def downgrade() -> None:
    """Remove what 0002 added."""
    op.drop_index("ix_runs_flow_model_as_of", table_name="runs")
    op.drop_index("uq_incidents_open_key", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("history")
        batch.drop_column("sink_results")
    with op.batch_alter_table("item_results") as batch:
        batch.drop_column("extra")
