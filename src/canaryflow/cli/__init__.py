"""The ``canaryflow`` command line: thin, parses arguments, calls the engine, prints with rich.

Exit codes: 0 healthy, 1 an incident was opened or updated (or a regression verdict), 2 a usage
or configuration error. Library errors are mapped to one clear line each, never a traceback.
"""

from __future__ import annotations

import sys

from canaryflow.cli import _config, _golden, _runs, _state  # noqa: F401  (register the commands)
from canaryflow.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
