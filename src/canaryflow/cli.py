"""The ``canaryflow`` command line: thin, parses arguments, calls the engine, prints with rich.

Exit codes: 0 healthy, 1 an incident was opened or updated (or a regression verdict), 2 a usage
or configuration error. Library errors are mapped to one clear line each, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from canaryflow.errors import CanaryflowError, ConfigErrors, DataErrors

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

EXIT_OK, EXIT_INCIDENT, EXIT_USAGE = 0, 1, 2

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to canaryflow.toml (default: ./canaryflow.toml or $CANARYFLOW_CONFIG).",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _handles_errors(fn: F) -> F:
    """Map library errors to one line per problem and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigErrors, DataErrors) as exc:
            for e in exc.errors:
                err_console.print(
                    f"[red]error[/red] {escape(e.line())}", highlight=False, soft_wrap=True
                )
            raise typer.Exit(EXIT_USAGE) from None
        except CanaryflowError as exc:
            err_console.print(
                f"[red]error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


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


# --------------------------------------------------------------------------- config / schema


@config_app.command("check")
@_handles_errors
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
@_handles_errors
def probes_validate(
    directory: Annotated[
        Path | None, typer.Argument(help="Probe directory (default from config).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Check every probe file; report file, line and field for each problem."""
    from canaryflow.definitions import load_probes

    if directory is None:
        from canaryflow.config import load_config

        directory = Path(load_config(config).canary.probes_dir)
    probe_set = load_probes(directory)
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


# --------------------------------------------------------------------------- running flows


def _project_root(config: Path | None) -> Path:
    from canaryflow.config import config_path

    return config_path(config).resolve().parent


def _load_flow(root: Path, name: str) -> Any:
    """Load a flow by entrypoint (``flows/canary.py:hourly_canary``), as Prefect does."""
    from prefect.flows import load_flow_from_entrypoint

    file, func = name.split(":")
    path = root / "flows" / file
    if not path.exists():
        raise CanaryflowError(f"{path}: flow file not found (run from your canaryflow project)")
    return load_flow_from_entrypoint(f"{path}:{func}")


def _quiet_prefect() -> None:
    """Keep the terminal to a one-screen summary; the Prefect UI has the full logs."""
    import os

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _check_keys(cfg: Any, keys: list[str]) -> None:
    """Fail fast, in one line naming the variable, when a model's API key is not set."""
    from canaryflow.config import resolve_api_key

    for key in keys:
        resolve_api_key(key, cfg.models[key])


def _summary_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("model", "phase", "status", "passed", "errors", "fingerprint", "incidents"):
        table.add_column(col, overflow="fold")
    for r in rows:
        s = r.get("summary", {})
        table.add_row(
            escape(str(r.get("model"))),
            str(s.get("phase", "")) + (f" {s['warmup']}" if s.get("phase") == "warmup" else ""),
            str(r.get("status", "")),
            f"{s.get('passed', 0)}/{s.get('evaluated', 0)}",
            f"{s.get('errors', 0)} ({s.get('error_rate', 0):.0%})",
            escape(str(s.get("fingerprint") or "-")),
            escape(
                ", ".join(
                    f"{i} ({a})"
                    for i, a in zip(
                        r.get("incidents", []), r.get("incident_actions", []), strict=False
                    )
                )
                or "-"
            ),
        )
    return table


def _outcome_row(o: Any) -> dict[str, Any]:
    return {
        "model": o.run.model,
        "run_id": o.run.run_id,
        "status": o.run.status,
        "summary": o.summary,
        "incidents": [c.incident.incident_id for c in o.incidents],
        "incident_actions": [c.action for c in o.incidents],
        "report": o.summary.get("report"),
    }


@run_app.command("canary")
@_handles_errors
def run_canary_cmd(
    config: ConfigOpt = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Model key(s) to probe (repeatable).")
    ] = None,
    probes: Annotated[
        Path | None, typer.Option(help="Probe directory (default from config).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Record the run at this time (ISO 8601).")
    ] = None,
) -> None:
    """Run the hourly canary flow now; exit 1 if an incident was opened or updated."""
    from canaryflow.config import load_config

    cfg = load_config(config)
    _check_keys(cfg, cfg.model_keys(model or cfg.canary.models))
    _quiet_prefect()
    flow = _load_flow(_project_root(config), "canary.py:hourly_canary")
    with console.status("Running the hourly canary (Prefect flow; first start takes ~15 s)..."):
        rows = flow(
            models=model or None,
            probes=str(probes) if probes else None,
            as_of=parse_timestamp(as_of),
            config_path=cfg.source_path,
        )
    console.print(_summary_table(rows, "hourly canary"))
    for r in rows:
        if r.get("report"):
            console.print(f"report: {escape(r['report'])}")
    raise typer.Exit(EXIT_INCIDENT if any(r["incidents"] for r in rows) else EXIT_OK)


@backfill_app.command("canary")
@_handles_errors
def backfill_canary_cmd(
    runs: Annotated[int, typer.Option(min=1, help="Number of back-dated runs.")],
    every: Annotated[str, typer.Option(help="Interval between runs (15m, 1h, 1d).")] = "1h",
    end: Annotated[
        str | None, typer.Option(help="Time of the last run (ISO 8601; default now).")
    ] = None,
    config: ConfigOpt = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m")] = None,
    probes: Annotated[Path | None, typer.Option(help="Probe directory.")] = None,
) -> None:
    """Run N back-dated canaries in one process (build a baseline now, not in a day)."""
    from canaryflow.demo import run_progress
    from canaryflow.runs import backfill_canary, open_workspace

    ws = open_workspace(config)
    _check_keys(ws.config, ws.config.model_keys(model or ws.config.canary.models))
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
    rows = [_outcome_row(o) for o in last]
    console.print(_summary_table(rows, f"last of {runs} backfilled runs"))
    raise typer.Exit(EXIT_INCIDENT if any(r["incidents"] for r in rows) else EXIT_OK)


@app.command("demo")
@_handles_errors
def demo(
    days: Annotated[int, typer.Option(min=1, help="Simulated days of baseline history.")] = 3,
    rate: Annotated[float, typer.Option(help="Share of EU dates (day <= 12) transposed.")] = 0.3,
    max_hours: Annotated[int, typer.Option(help="Give up after this many hourly runs.")] = 12,
    config: ConfigOpt = None,
) -> None:
    """The whole story offline: a baseline, a silent model update, canaryflow catching it."""
    from canaryflow.demo import run_demo

    _quiet_prefect()
    result = run_demo(
        config_path=config,
        days=days,
        rate=rate,
        max_hours=max_hours,
        console=console,
        flow_loader=lambda root: _load_flow(root, "canary.py:hourly_canary"),
    )
    raise typer.Exit(EXIT_OK if result.detected else EXIT_INCIDENT)


@app.command("serve")
@_handles_errors
def serve_cmd(
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Maximum concurrent flow runs.")] = 4,
) -> None:
    """Register the scheduled deployments (cron from canaryflow.toml) and execute their runs."""
    from prefect import serve
    from prefect.schedules import Cron

    from canaryflow.config import load_config

    cfg = load_config(config)
    root = _project_root(config)
    flow = _load_flow(root, "canary.py:hourly_canary")
    deployment = flow.to_deployment(
        name="hourly-canary",
        schedules=[Cron(cfg.schedules.canary, timezone=cfg.schedules.timezone)],
        parameters={"config_path": str(Path(cfg.source_path or "canaryflow.toml").resolve())},
        tags=["canaryflow", "canary"],
        description="Hourly canary probes against every configured model.",
    )
    console.print(
        f"serving [bold]hourly-canary[/bold] on cron {escape(cfg.schedules.canary)} "
        f"({escape(cfg.schedules.timezone)}); Ctrl-C to stop"
    )
    serve(deployment, limit=limit)


# --------------------------------------------------------------------------- baselines

FlowOpt = Annotated[str, typer.Option("--flow", help="Flow: canary, golden, production.")]


def _stats_fn(flow: str) -> Any:
    if flow != "canary":
        raise CanaryflowError(f"flow {flow!r}: promote is available for the canary flow so far")
    from canaryflow.runs._canary_detect import canary_stats

    return canary_stats


@baseline_app.command("list")
@_handles_errors
def baseline_list(
    config: ConfigOpt = None,
    flow: FlowOpt = "canary",
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    all_versions: Annotated[bool, typer.Option("--all", help="Include inactive versions.")] = False,
) -> None:
    """List baselines: key, version, size m, window and why they exist."""
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    rows = ws.store.list_baselines(flow, model, include_inactive=all_versions)
    table = Table(title=f"{flow} baselines", title_justify="left")
    for col in ("model", "subject", "metric", "version", "active", "m", "window", "reason"):
        table.add_column(col, overflow="fold")
    for b in rows:
        window = (
            f"{b.window_start:%Y-%m-%d %H:%M} .. {b.window_end:%Y-%m-%d %H:%M}"
            if b.window_start and b.window_end
            else "-"
        )
        table.add_row(
            escape(b.model),
            escape(b.subject),
            b.metric,
            str(b.baseline_version),
            "yes" if b.active else "no",
            f"{b.n}" + (" (< 300)" if b.n < 300 else ""),
            window,
            escape(b.reason),
        )
    console.print(table)
    if not rows:
        console.print("no baselines yet: the first runs of a model build one (warm-up)")


@baseline_app.command("show")
@_handles_errors
def baseline_show(
    model: Annotated[str, typer.Argument(help="Model key.")],
    config: ConfigOpt = None,
    flow: FlowOpt = "canary",
    subject: Annotated[str | None, typer.Option(help="Only this subject.")] = None,
    metric: Annotated[str | None, typer.Option(help="Only this metric.")] = None,
) -> None:
    """Show a model's active baselines in full."""
    from canaryflow.baselines import render_baseline
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    rows = ws.store.list_baselines(flow, model, subject=subject, metric=metric)
    if not rows:
        raise CanaryflowError(f"no active {flow} baseline for model {model!r}")
    for b in rows:
        console.print(escape(render_baseline(b)), highlight=False)


@baseline_app.command("promote")
@_handles_errors
def baseline_promote(
    model: Annotated[str, typer.Option("--model", "-m", help="Model key.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with the new version).")],
    config: ConfigOpt = None,
    flow: FlowOpt = "canary",
    run: Annotated[list[str] | None, typer.Option("--run", help="Run id(s) to build from.")] = None,
    since: Annotated[str | None, typer.Option(help="Window start (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Window end, exclusive (ISO 8601).")] = None,
) -> None:
    """Freeze a new baseline version from given runs or a window (the old one is kept)."""
    from canaryflow.baselines import promote
    from canaryflow.runs import open_workspace

    if not run and not since:
        raise typer.BadParameter("give --run RUN_ID (repeatable) or --since/--until")
    ws = open_workspace(config)
    result = promote(
        ws.store,
        flow=flow,
        model=model,
        reason=reason,
        stats_fn=_stats_fn(flow),
        run_ids=run or None,
        since=parse_timestamp(since),
        until=parse_timestamp(until),
    )
    for b in result.baselines:
        console.print(f"promoted {escape(b.subject)}/{b.metric} v{b.baseline_version} (m={b.n})")
    for rid, why in result.excluded.items():
        console.print(f"[yellow]left out[/yellow] {escape(rid)}: {escape(why)}")
    console.print(f"{len(result.baselines)} baseline(s) from {len(result.run_ids)} run(s)")


@baseline_app.command("reset")
@_handles_errors
def baseline_reset(
    model: Annotated[str, typer.Option("--model", "-m", help="Model key.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")],
    config: ConfigOpt = None,
    flow: FlowOpt = "canary",
) -> None:
    """Deactivate a model's baselines; the next runs warm up a new one."""
    from canaryflow.baselines import reset
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    n = reset(ws.store, flow, model, reason)
    console.print(
        f"deactivated {n} baseline(s) of {escape(model)}; the next "
        f"{ws.config.alerts.warmup_runs} runs build a new one"
    )


# --------------------------------------------------------------------------- incidents


@incidents_app.command("list")
@_handles_errors
def incidents_list(
    config: ConfigOpt = None,
    state: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
) -> None:
    """List incidents, newest first."""
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    rows = ws.store.list_incidents(state=state, model=model)
    table = Table(title="incidents", title_justify="left")
    for col in ("id", "severity", "state", "opened", "alerts", "title"):
        table.add_column(col, overflow="fold")
    for inc in sorted(rows, key=lambda i: i.opened_at, reverse=True):
        table.add_row(
            escape(inc.incident_id),
            inc.severity,
            inc.state + (f" ({inc.resolution})" if inc.resolution else ""),
            f"{inc.opened_at:%Y-%m-%d %H:%M}",
            str(len(inc.alerts)),
            escape(inc.title),
        )
    console.print(table)


@incidents_app.command("show")
@_handles_errors
def incidents_show(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    config: ConfigOpt = None,
) -> None:
    """Print an incident's report (evidence and runbook)."""
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    inc = ws.store.get_incident(incident_id)
    if inc is None:
        raise CanaryflowError(f"no incident {incident_id!r} (see canaryflow incidents list)")
    path = Path(inc.report_path) if inc.report_path else None
    if path is not None and path.exists():
        typer.echo(path.read_text(encoding="utf-8"))
        console.print(f"[dim]{escape(str(path))}[/dim]")
    else:
        typer.echo(inc.model_dump_json(indent=2))


@incidents_app.command("ack")
@_handles_errors
def incidents_ack(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    note: Annotated[str, typer.Option(help="Who is on it, what is known.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Acknowledge an incident (it keeps collecting alerts until resolved)."""
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    inc = ws.incidents().ack(incident_id, note)
    console.print(f"{escape(inc.incident_id)}: {inc.state}")


@incidents_app.command("resolve")
@_handles_errors
def incidents_resolve(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    resolution: Annotated[str, typer.Option("--as", help="fixed | accepted_change | false_alarm")],
    note: Annotated[str, typer.Option(help="What was done or decided.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Resolve an incident; ``accepted_change`` promotes the new behaviour as the baseline."""
    from canaryflow.baselines import promote
    from canaryflow.runs import open_workspace

    if resolution not in ("fixed", "accepted_change", "false_alarm"):
        raise typer.BadParameter("--as must be fixed, accepted_change or false_alarm")
    ws = open_workspace(config)

    def accept(incident: Any) -> Any:
        # A model change affects every probe family and the fingerprint, so the new version
        # of *all* the model's baselines is built from the incident's runs.
        return promote(
            ws.store,
            flow=incident.flow,
            model=incident.model,
            stats_fn=_stats_fn(incident.flow),
            run_ids=list(incident.run_ids),
            include_incidents=[incident.incident_id],
            statuses=("completed", "degraded"),
            reason=f"accepted change ({incident.incident_id}): {note}".rstrip(": "),
        )

    inc = ws.incidents().resolve(
        incident_id,
        resolution,
        note,  # type: ignore[arg-type]
        promote=accept if resolution == "accepted_change" else None,
    )
    console.print(f"{escape(inc.incident_id)}: {inc.state} ({inc.resolution})")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
