"""Incident evidence kept with the incident.

Revision ID: 0004_incidents
Revises: 0003_core
Create Date: 2026-12-03

- ``incidents.evidence``: the runbook context (failing samples, per-subject counts,
  fingerprint, chart) an incident was filed with. Acknowledging or resolving re-renders the
  report from it instead of from nothing, so the evidence never disappears from the report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_incidents"
down_revision = "0003_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the column; incidents filed before it get an empty evidence mapping."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("evidence", sa.JSON, nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    """Remove what 0004_incidents added."""
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("evidence")
