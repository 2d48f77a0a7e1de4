"""Shared test setup.

* A guard so that no test can reach a real paid API by accident: the real key variables are
  removed and the SDKs' default base URLs point at a closed local port. Tests marked
  ``@pytest.mark.api`` run only with ``--runapi`` (and their key variable set).
* ``prefect_harness``: one Prefect test server per session, only for tests that run flows.
* ``store_url`` / ``store``: a fresh results store on SQLite, and on PostgreSQL when
  ``CANARYFLOW_TEST_POSTGRES_URL`` is set (e.g. ``postgresql+psycopg://user@127.0.0.1/cftest``;
  ``.ci/run`` starts one); its ``public`` schema is wiped per test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REAL_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_AUTH_TOKEN")
_CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runapi", action="store_true", help="run tests that call real paid APIs")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("--runapi"):
        for key in _REAL_KEYS:
            os.environ.pop(key, None)
        os.environ["ANTHROPIC_BASE_URL"] = _CLOSED
        os.environ["OPENAI_BASE_URL"] = _CLOSED + "/v1"
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("CANARYFLOW_NO_ARTIFACTS", "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runapi"):
        return
    skip = pytest.mark.skip(reason="calls a real paid API: run with --runapi and the key set")
    for item in items:
        if "api" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def prefect_harness():  # type: ignore[no-untyped-def]
    """A temporary Prefect server for the session (about 12 s to start, once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


POSTGRES_ENV = "CANARYFLOW_TEST_POSTGRES_URL"


def _wipe_postgres(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL for each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/.canaryflow/canaryflow.db"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL store tests skipped")
    _wipe_postgres(url)
    return url


@pytest.fixture
def store(store_url: str):  # type: ignore[no-untyped-def]
    """An opened store on a fresh database."""
    from canaryflow.store import Store

    s = Store.open(store_url)
    try:
        yield s
    finally:
        s.close()
