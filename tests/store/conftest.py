"""Store fixtures: every store test runs on SQLite, and on PostgreSQL when one is configured.

Set ``CANARYFLOW_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://user:pw@127.0.0.1/cftest``)
to run the same tests against PostgreSQL; the database's ``public`` schema is wiped per test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from canaryflow.store import Store

POSTGRES_ENV = "CANARYFLOW_TEST_POSTGRES_URL"


def _wipe_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A fresh, empty database URL for each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/.canaryflow/canaryflow.db"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL store tests skipped")
    _wipe_postgres(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened store on a fresh database."""
    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()
