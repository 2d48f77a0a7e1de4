"""Shared test setup.

* A guard so that no test can reach a real paid API by accident: the real key variables are
  removed and the SDKs' default base URLs point at a closed local port. Tests marked
  ``@pytest.mark.api`` run only with ``--runapi`` (and their key variable set).
* ``prefect_harness``: one Prefect test server per session, only for tests that run flows.
"""

from __future__ import annotations

import os

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
