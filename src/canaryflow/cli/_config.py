"""Commands about the files users write: config check, schemas, probe validation, simulator."""

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
    config_app,
    console,
    err_console,
    handles_errors,
    probes_app,
    schema_app,
)

# --------------------------------------------------------------------------- config / schema


@config_app.command("check")
@handles_errors
def config_check(config: ConfigOpt = None) -> None:
    """Validate the configuration and print it resolved, with secrets masked."""
    from canaryflow.config import load_config

    cfg = load_config(config)
    console.print_json(json.dumps(cfg.masked()))
    console.print(
        f"[green]ok[/green] {cfg.source_path}: configuration is valid (hash {cfg.config_hash()})"
    )


@schema_app.command("probe")
def schema_probe() -> None:
    """Print the JSON Schema of probes/*.yaml."""
    from canaryflow.definitions import probe_json_schema

    typer.echo(json.dumps(probe_json_schema(), indent=2))


@schema_app.command("config")
def schema_config() -> None:
    """Print the JSON Schema of canaryflow.toml."""
    from canaryflow.config import Config

    typer.echo(json.dumps(Config.model_json_schema(), indent=2))


@probes_app.command("validate")
@handles_errors
def probes_validate(
    directory: Annotated[
        Path | None, typer.Argument(help="Probe directory (default from config).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Check every probe file; report file, line and field for each problem."""
    from canaryflow.config import config_path, load_config
    from canaryflow.definitions import load_probes

    # Custom checks resolve against [checks] local_dir, so read the config when there is one.
    cfg = load_config(config) if directory is None or config_path(config).exists() else None
    if directory is None:
        assert cfg is not None
        directory = Path(cfg.canary.probes_dir)
    probe_set = load_probes(directory, checks_dir=cfg.checks.local_dir if cfg else None)
    for e in probe_set.errors:
        err_console.print(f"[red]error[/red] {escape(e.line())}", highlight=False, soft_wrap=True)
    console.print(
        f"{len(probe_set.probes)} valid probe(s), {len(probe_set.errors)} problem(s) in {directory}"
    )
    if probe_set.errors:
        raise typer.Exit(EXIT_USAGE)


# --------------------------------------------------------------------------- simulator


@app.command("simulator")
def simulator(
    host: Annotated[
        str, typer.Option(help="Interface to bind (keep it on loopback).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8765,
    scenario: Annotated[str, typer.Option(help="Starting scenario.")] = "baseline",
    seed: Annotated[int, typer.Option(help="Seed for deterministic replies.")] = 0,
) -> None:
    """Serve the bundled simulator (Anthropic Messages + OpenAI Chat/Embeddings) until Ctrl-C."""
    from canaryflow.simulator import serve_forever

    serve_forever(host=host, port=port, scenario=scenario, seed=seed)
