"""Fixtures of the production engine tests (helpers live in ``prod_env``)."""

from prod_env import traffic, traffic_dir  # noqa: F401 -- fixtures
