"""canaryflow's own Prefect process settings, applied before Prefect is first imported.

Prefect reads its settings from the environment once, when it is imported, so these must be in
``os.environ`` before anything imports ``prefect`` (the flow registry does, as the CLI starts).
A user's explicit settings always win (``setdefault``).
"""

from __future__ import annotations

import os

PREFECT_DEFAULTS = {
    # One-screen summaries in the terminal; the Prefect UI has the full logs.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect's default, 20 s, is too short for the ephemeral API server on a busy 2-core
    # machine: the README's first command crashed there for a new user.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def apply() -> None:
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
