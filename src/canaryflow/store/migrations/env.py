"""Alembic environment: migrates the connection ``Store.open`` hands over in ``attributes``."""

from __future__ import annotations

from alembic import context

from canaryflow.store._tables import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
