"""The typer apps, shared options, error mapping and argument parsers of the CLI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from canaryflow.errors import (
    CanaryflowError,
    ConfigErrors,
    DataErrors,
    MissingAPIKeyError,
    ProviderError,
    StoreError,
)

app = typer.Typer(
    name="canaryflow",
    help="Catch silent quality regressions in LLM applications (canaries, golden sets, "
    "production judging) with statistics that have a known false-alarm rate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect and validate canaryflow.toml.", no_args_is_help=True)
schema_app = typer.Typer(
    help="Print the JSON Schemas of the files users write.", no_args_is_help=True
)
probes_app = typer.Typer(help="Work with probe definitions.", no_args_is_help=True)
baseline_app = typer.Typer(help="List, show, promote and reset baselines.", no_args_is_help=True)
incidents_app = typer.Typer(
    help="List, show, acknowledge and resolve incidents.", no_args_is_help=True
)
run_app = typer.Typer(help="Run one flow now.", no_args_is_help=True)
backfill_app = typer.Typer(
    help="Run back-dated runs now (build a baseline today).", no_args_is_help=True
)
app.add_typer(config_app, name="config")
app.add_typer(schema_app, name="schema")
app.add_typer(probes_app, name="probes")
app.add_typer(baseline_app, name="baseline")
app.add_typer(incidents_app, name="incidents")
app.add_typer(run_app, name="run")
app.add_typer(backfill_app, name="backfill")

console = Console()
err_console = Console(stderr=True)

EXIT_OK, EXIT_INCIDENT, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_INTERNAL = 0, 1, 2, 3, 4
"""Exit codes, one meaning each (DESIGN §1): 0 healthy/pass, 1 an incident was opened or
updated or a regression verdict, 2 usage or configuration error, 3 inconclusive (the upgrade
gate), 4 an internal or infrastructure failure -- a crash is never 1."""

_DEBUG = {"on": False}


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an internal error.")
    ] = False,
) -> None:
    """Catch silent quality regressions in LLM applications."""
    _DEBUG["on"] = debug


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to canaryflow.toml (default: ./canaryflow.toml or $CANARYFLOW_CONFIG).",
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Map errors to one line each and their exit code: config/data/usage 2, store or
    provider unreachable 4, anything unexpected 4 (traceback only with ``--debug``)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (ConfigErrors, DataErrors) as exc:
            for e in exc.errors:
                err_console.print(
                    f"[red]error[/red] {escape(e.line())}", highlight=False, soft_wrap=True
                )
            raise typer.Exit(EXIT_USAGE) from None
        except (StoreError, ProviderError) as exc:
            # The store or a provider is unreachable: infrastructure, not the user's input.
            err_console.print(
                f"[red]error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            code = EXIT_USAGE if isinstance(exc, MissingAPIKeyError) else EXIT_INTERNAL
            raise typer.Exit(code) from None
        except CanaryflowError as exc:
            err_console.print(
                f"[red]error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(EXIT_USAGE) from None
        except Exception as exc:
            if _is_cli_signal(exc):
                raise
            if _DEBUG["on"]:
                err_console.print_exception()
            err_console.print(
                f"[red]internal error[/red] {escape(type(exc).__name__)}: "
                f"{escape(str(exc).splitlines()[0] if str(exc) else '')} "
                "(run again with --debug for the traceback)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def _is_cli_signal(exc: BaseException) -> bool:
    """typer/click's own exceptions (usage errors, Exit, Abort) keep their meaning."""
    return isinstance(exc, typer.Exit | typer.Abort) or type(exc).__module__.startswith(
        ("typer", "click")
    )


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse ``--as-of``/``--end``: ISO 8601, naive means UTC; ``now`` is now."""
    if value is None:
        return None
    if value == "now":
        return datetime.now(UTC)
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO 8601 timestamp like 2026-11-24T10:00Z, got {value!r}"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def parse_interval(value: str) -> timedelta:
    """Parse ``--every``: 15m, 1h, 1d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return timedelta(seconds=float(value[:-1]) * units[value[-1]])
    except (KeyError, ValueError):
        raise typer.BadParameter(
            f"expected an interval like 15m, 1h or 1d, got {value!r}"
        ) from None
