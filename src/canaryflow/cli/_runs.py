"""Commands that run flows: run, backfill, demo, serve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from canaryflow.cli._app import (
    EXIT_INCIDENT,
    EXIT_OK,
    ConfigOpt,
    app,
    backfill_app,
    console,
    handles_errors,
    parse_interval,
    parse_timestamp,
    run_app,
)
from canaryflow.errors import CanaryflowError

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
@handles_errors
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
@handles_errors
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
@handles_errors
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
@handles_errors
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
