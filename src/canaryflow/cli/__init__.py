"""The ``canaryflow`` command line: thin, parses arguments, calls the engine, prints with rich.

Exit codes: 0 healthy, 1 an incident was opened or updated (or a regression verdict), 2 a usage
or configuration error, 3 inconclusive (the upgrade gate), 4 an internal or infrastructure
error. Errors are mapped to one clear line each; a traceback only with ``--debug``.
"""

from __future__ import annotations

from canaryflow.cli import _env

_env.apply()  # before anything imports Prefect (the flow registry below does)

import sys  # noqa: E402
from importlib import import_module  # noqa: E402

from canaryflow.cli import _config, _golden, _judge, _runs, _state  # noqa: E402, F401
from canaryflow.cli._app import app  # noqa: E402
from canaryflow.flows import flow_entries  # noqa: E402

for _entry in flow_entries().values():  # each flow registers its run/backfill commands
    import_module(_entry.cli)

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
