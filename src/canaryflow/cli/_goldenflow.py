"""``canaryflow run golden``, ``backfill golden``, ``golden add-from-incident`` and ``compare``
(the model-upgrade gate; exit 0 pass, 1 regression, 3 inconclusive, 2 usage, 4 internal)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from canaryflow.cli._app import (
    EXIT_INCIDENT,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_USAGE,
    ConfigOpt,
    app,
    backfill_app,
    console,
    handles_errors,
    parse_interval,
    parse_timestamp,
    run_app,
)
from canaryflow.cli._golden import golden_app
from canaryflow.cli._runs import check_keys, finish_rows, run_flow_now

ModelOpt = Annotated[
    list[str] | None, typer.Option("--model", "-m", help="Model key(s) to evaluate (repeatable).")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Golden set name(s) (default: all).")
]


@run_app.command("golden")
@handles_errors
def run_golden_cmd(
    config: ConfigOpt = None,
    model: ModelOpt = None,
    set_: SetOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Record the run at this time (ISO 8601).")
    ] = None,
) -> None:
    """Run the daily golden flow now; exit 1 if an incident was opened or updated."""
    from canaryflow.config import load_config

    cfg = load_config(config)
    keys = cfg.model_keys(model or cfg.golden.models)
    if cfg.judge.model:
        keys = list(dict.fromkeys([*keys, cfg.judge.model]))
    run_flow_now(
        "golden",
        config,
        keys,
        models=model or None,
        sets=set_ or None,
        as_of=parse_timestamp(as_of),
    )


@backfill_app.command("golden")
@handles_errors
def backfill_golden_cmd(
    runs: Annotated[int, typer.Option(min=1, help="Number of back-dated daily runs.")],
    every: Annotated[str, typer.Option(help="Interval between runs (1d, 12h).")] = "1d",
    end: Annotated[
        str | None, typer.Option(help="Time of the last run (ISO 8601; default now).")
    ] = None,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    set_: SetOpt = None,
) -> None:
    """Run N back-dated golden runs in one process (build the baseline now, not in 3 days).

    Prints the judge's cost estimate first. A killed backfill started again resumes.
    """
    from canaryflow.demo import run_progress
    from canaryflow.flows.canary import outcome_row
    from canaryflow.runs import open_workspace
    from canaryflow.runs.golden import load_golden
    from canaryflow.runs.golden_batch import backfill_golden, judge_estimate

    ws = open_workspace(config)
    keys = ws.config.model_keys(model or ws.config.golden.models)
    check_keys(ws.config, keys)
    for line in judge_estimate(ws, load_golden(ws.config, set_), keys, runs):
        console.print(escape(line), highlight=False)
    last: list[Any] = []
    with run_progress(console) as progress:
        bar = progress.add_task("backfilling golden runs", total=runs)

        def on_run(i: int, outcomes: list[Any]) -> None:
            last[:] = outcomes
            progress.advance(bar)

        backfill_golden(
            ws,
            runs=runs,
            every=parse_interval(every),
            end=parse_timestamp(end),
            models=keys,
            sets=set_ or None,
            on_run=on_run,
        )
    finish_rows("golden", [outcome_row(o) for o in last], f"last of {runs} backfilled runs")


@golden_app.command("add-from-incident")
@handles_errors
def add_from_incident_cmd(
    incident: Annotated[str, typer.Argument(help="Incident id (canary, golden or production).")],
    set_: Annotated[
        str | None,
        typer.Option("--set", help="Target golden set (default: the one the runbook names)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Turn an incident's failing cases into golden items (validated, deduplicated by input)."""
    from canaryflow.errors import CanaryflowError
    from canaryflow.golden._learn import add_from_incident
    from canaryflow.runs import open_workspace
    from canaryflow.runs.canary_batch import load_canary_probes

    ws = open_workspace(config)
    inc = ws.store.get_incident(incident)
    if inc is None:
        raise CanaryflowError(f"no incident {incident!r} (see `canaryflow incidents`)")
    try:
        probes = load_canary_probes(ws).probes
    except Exception:  # no probe directory: golden and production cases still learn
        probes = ()
    result = add_from_incident(inc, ws.config.golden.dir, set_name=set_, probes=probes)
    for why in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(why)}", highlight=False)
    console.print(
        f"{len(result.added)} item(s) added to {escape(str(result.jsonl))}"
        + (" (new set)" if result.created and result.added else "")
        + (f", {len(result.duplicates)} already there" if result.duplicates else ""),
        highlight=False,
    )
    for item_id in result.added:
        console.print(f"  + {escape(item_id)}", highlight=False)


@app.command("compare")
@handles_errors
def compare_cmd(
    baseline: Annotated[
        str | None, typer.Option(help="The [models] key in use now.", show_default=False)
    ] = None,
    candidate: Annotated[
        str | None, typer.Option(help="The [models] key proposed.", show_default=False)
    ] = None,
    golden: Annotated[
        list[str] | None,
        typer.Option("--golden", help="Golden set(s) to compare on (default: all; repeatable)."),
    ] = None,
    probes: Annotated[
        Path | None, typer.Option(help="Also compare on these canary probes (paired items).")
    ] = None,
    no_golden: Annotated[
        bool, typer.Option("--no-golden", help="Probes only (needs --probes).")
    ] = False,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where reports go (default [reports] dir).")
    ] = None,
    full_report_url: Annotated[
        str | None, typer.Option(help="Link to the full report from the PR comment.")
    ] = None,
    fail_on_inconclusive: Annotated[
        bool, typer.Option(help="Exit 1, not 3, when the verdict is inconclusive.")
    ] = False,
    pairwise: Annotated[
        bool,
        typer.Option(help="Also judge the two answers head to head, in both orders."),
    ] = False,
    rerender: Annotated[
        str | None,
        typer.Option(help="Re-render a stored comparison (its run id) instead of running."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Gate a model upgrade: both models on the same items, paired; a PR-ready report.

    Exit 0 pass, 1 regression, 3 inconclusive (1 with --fail-on-inconclusive), 2 usage or
    configuration error, 4 internal or provider error.
    """
    from canaryflow.runs import open_workspace
    from canaryflow.runs.upgrade import compare_models
    from canaryflow.runs.upgrade import rerender as rerender_run

    ws = open_workspace(config)
    if rerender:
        result = rerender_run(ws, rerender, report_dir=report_dir, full_report_url=full_report_url)
    else:
        if not baseline or not candidate:
            console.print("[red]error[/red] --baseline and --candidate are required")
            raise typer.Exit(EXIT_USAGE)
        if no_golden and probes is None:
            console.print("[red]error[/red] --no-golden needs --probes")
            raise typer.Exit(EXIT_USAGE)
        keys = ws.config.model_keys([baseline, candidate])
        check_keys(ws.config, [*keys, *([ws.config.judge.model] if ws.config.judge.model else [])])
        with console.status(f"Comparing {candidate} with {baseline}..."):
            result = compare_models(
                ws,
                baseline,
                candidate,
                sets=[] if no_golden else (golden or None),
                probes_dir=probes,
                report_dir=report_dir,
                full_report_url=full_report_url,
                pairwise=pairwise,
            )
    cmp = result.comparison
    style = {"pass": "green", "regression": "red", "inconclusive": "yellow"}[cmp.verdict]
    console.print(
        f"[{style}]{cmp.verdict}[/{style}] {escape(cmp.candidate)} vs {escape(cmp.baseline)}"
        f" (run {escape(result.run_id)})",
        highlight=False,
    )
    for reason in cmp.reasons[:5]:
        console.print(f"  {escape(reason)}", highlight=False)
    for s in cmp.sets:
        console.print(f"  {escape(s.name)}: {s.verdict} ({s.paired} paired items)", highlight=False)
    console.print(f"report: {escape(str(result.paths.markdown))}", highlight=False)
    if cmp.verdict == "regression":
        raise typer.Exit(EXIT_INCIDENT)
    if cmp.verdict == "inconclusive":
        raise typer.Exit(EXIT_INCIDENT if fail_on_inconclusive else EXIT_INCONCLUSIVE)
    raise typer.Exit(EXIT_OK)
