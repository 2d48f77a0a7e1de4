"""``canaryflow run canary`` and ``canaryflow backfill canary``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from canaryflow.cli._app import (
    ConfigOpt,
    backfill_app,
    console,
    handles_errors,
    parse_interval,
    parse_timestamp,
    run_app,
)
from canaryflow.cli._runs import check_keys, finish_rows, run_flow_now

ModelOpt = Annotated[
    list[str] | None, typer.Option("--model", "-m", help="Model key(s) to probe (repeatable).")
]
ProbesOpt = Annotated[Path | None, typer.Option(help="Probe directory (default from config).")]


@run_app.command("canary")
@handles_errors
def run_canary_cmd(
    config: ConfigOpt = None,
    model: ModelOpt = None,
    probes: ProbesOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Record the run at this time (ISO 8601).")
    ] = None,
) -> None:
    """Run the hourly canary flow now; exit 1 if an incident was opened or updated."""
    from canaryflow.config import load_config

    cfg = load_config(config)
    run_flow_now(
        "canary",
        config,
        cfg.model_keys(model or cfg.canary.models),
        models=model or None,
        probes=str(probes) if probes else None,
        as_of=parse_timestamp(as_of),
    )


@backfill_app.command("canary")
@handles_errors
def backfill_canary_cmd(
    runs: Annotated[int, typer.Option(min=1, help="Number of back-dated runs.")],
    every: Annotated[str, typer.Option(help="Interval between runs (15m, 1h, 1d).")] = "1h",
    end: Annotated[
        str | None, typer.Option(help="Time of the last run (ISO 8601; default now).")
    ] = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    probes: ProbesOpt = None,
) -> None:
    """Run N back-dated canaries in one process (build a baseline now, not in a day).

    A killed backfill started again resumes: hours already finished are left as they are.
    """
    from canaryflow.demo import run_progress
    from canaryflow.flows.canary import outcome_row
    from canaryflow.runs import backfill_canary, load_canary_probes, open_workspace

    ws = open_workspace(config)
    check_keys(ws.config, ws.config.model_keys(model or ws.config.canary.models))
    load_canary_probes(ws, probes)  # fail fast when no probe is valid (bad ones are listed)
    step = parse_interval(every)
    last: list[Any] = []
    with run_progress(console) as progress:
        bar = progress.add_task("backfilling canary runs", total=runs)

        def on_run(i: int, outcomes: list[Any]) -> None:
            last[:] = outcomes
            progress.advance(bar)

        backfill_canary(
            ws,
            runs=runs,
            every=step,
            end=parse_timestamp(end),
            models=model or None,
            probes_dir=probes,
            on_run=on_run,
        )
    finish_rows("canary", [outcome_row(o) for o in last], f"last of {runs} backfilled runs")
