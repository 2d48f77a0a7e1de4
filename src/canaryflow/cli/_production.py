"""``canaryflow run production`` and ``canaryflow backfill production``."""

from __future__ import annotations

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
from canaryflow.cli._runs import finish_rows, run_flow_now


@run_app.command("production")
@handles_errors
def run_production_cmd(
    config: ConfigOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Record the run at this time (ISO 8601).")
    ] = None,
    chunks: Annotated[int, typer.Option(min=1, help="Chunks of files mapped over workers.")] = 1,
    dask: Annotated[bool, typer.Option(help="Map the chunks over a local Dask cluster.")] = False,
) -> None:
    """Measure and judge production since the watermark; exit 1 if an incident was opened."""
    run_flow_now("production", config, [], as_of=parse_timestamp(as_of), chunks=chunks, dask=dask)


@backfill_app.command("production")
@handles_errors
def backfill_production_cmd(
    start: Annotated[str, typer.Option(help="First window start (ISO 8601).")],
    end: Annotated[str, typer.Option(help="End of the replay (ISO 8601, exclusive).")],
    every: Annotated[str, typer.Option(help="History per run (15m, 1h, 1d).")] = "1h",
    config: ConfigOpt = None,
) -> None:
    """Replay production history in one process (one scan), one run per --every.

    Prints the judge cost estimate of the sample first. Windows already stored are recomputed
    and replaced; runs that fed a frozen baseline are history and are left as they are.
    """
    from canaryflow.demo import run_progress
    from canaryflow.flows.production import outcome_row
    from canaryflow.runs import open_workspace
    from canaryflow.runs.production import backfill_production, judge_estimate

    ws = open_workspace(config)
    t0, t1 = parse_timestamp(start), parse_timestamp(end)
    assert t0 is not None and t1 is not None
    console.print(judge_estimate(ws, t0, t1), highlight=False)
    step = parse_interval(every)
    last: list[Any] = []
    total = max(1, int((t1 - t0) / step + 0.999))
    with run_progress(console) as progress:
        bar = progress.add_task("backfilling production runs", total=total)

        def on_run(outcome: Any) -> None:
            last.append(outcome)
            progress.advance(bar)

        backfill_production(ws, t0, t1, every=step, on_run=on_run)
    opened = [o for o in last if o.incidents]
    rows = [outcome_row(o) for o in (opened or last[-1:])]
    finish_rows("production", rows, f"{len(last)} backfilled production runs (with incidents)")
