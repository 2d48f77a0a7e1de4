"""Commands about golden sets: ``canaryflow golden validate`` and ``canaryflow schema golden``.

The daily run, ``compare`` and ``add-from-incident`` are in ``cli._goldenflow`` (the module the
golden flow's registry entry names).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from canaryflow.cli._app import (
    EXIT_USAGE,
    ConfigOpt,
    app,
    console,
    err_console,
    handles_errors,
    schema_app,
)

golden_app = typer.Typer(help="Work with golden sets.", no_args_is_help=True)
app.add_typer(golden_app, name="golden")


@schema_app.command("golden")
def schema_golden(
    item: Annotated[
        bool, typer.Option("--item", help="The schema of one JSONL item instead of the header.")
    ] = False,
) -> None:
    """Print the JSON Schema of golden_sets/<name>.yaml (or, with --item, of a .jsonl line)."""
    from canaryflow.golden import golden_item_json_schema, golden_set_json_schema

    schema = golden_item_json_schema() if item else golden_set_json_schema()
    typer.echo(json.dumps(schema, indent=2))


@golden_app.command("validate")
@handles_errors
def golden_validate(
    source: Annotated[
        list[Path] | None,
        typer.Argument(help="Golden-set directory or header files (default from config)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Check every golden set; report file, line and field for each problem, all at once."""
    from canaryflow.golden import load_golden_sets

    if not source:
        from canaryflow.config import load_config

        source = [Path(load_config(config).golden.dir)]
    suite = load_golden_sets(source)
    for e in suite.errors:
        err_console.print(f"[red]error[/red] {escape(e.line())}", highlight=False, soft_wrap=True)
    items = sum(len(s) for s in suite.sets)
    where = ", ".join(str(s) for s in source)
    console.print(
        f"{len(suite.sets)} golden set(s) with {items} valid item(s), "
        f"{len(suite.errors)} problem(s) in {escape(where)}"
    )
    if suite.errors:
        raise typer.Exit(EXIT_USAGE)
