"""Commands that run flows, shared by every flow in the registry: the Prefect process
settings, the summary table, ``demo``, ``serve`` and ``deployments`` (prefect.yaml).

Each flow registers its own ``run <flow>`` / ``backfill <flow>`` commands in the module its
:class:`~canaryflow.flows.FlowEntry` names (``cli``); they call :func:`run_flow_now`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from canaryflow.cli._app import (
    EXIT_INCIDENT,
    EXIT_OK,
    ConfigOpt,
    app,
    console,
    handles_errors,
)


def check_keys(cfg: Any, keys: list[str]) -> None:
    """Fail fast, in one line naming the variable, when a model's API key is not set."""
    from canaryflow.config import resolve_api_key

    for key in keys:
        resolve_api_key(key, cfg.models[key])


def call_flow(flow: Any, **params: Any) -> Any:
    """Call a Prefect flow, retrying once when the ephemeral API server did not come up."""
    try:
        return flow(**params)
    except RuntimeError as exc:
        if "ephemeral Prefect API server" not in str(exc):
            raise
        console.print("[yellow]Prefect's temporary API server was slow to start; retrying[/]")
        return flow(**params)


def summary_table(flow_name: str, rows: list[dict[str, Any]], title: str) -> Table:
    """One line per model and run: phase, status, the flow's headline and incidents."""
    from canaryflow.flows import get_entry

    headline = get_entry(flow_name).headline
    table = Table(title=title, title_justify="left")
    for col in ("model", "phase", "status", "result", "incidents"):
        table.add_column(col, overflow="fold")
    for r in rows:
        s = r.get("summary", {})
        phase = str(s.get("phase", "")) + (f" {s['warmup']}" if s.get("phase") == "warmup" else "")
        result = r.get("skipped") or headline(s)
        table.add_row(
            escape(str(r.get("model"))),
            phase,
            str(r.get("status", "")),
            escape(result),
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


def run_flow_now(flow_name: str, config: Path | None, keys: list[str], **params: Any) -> None:
    """``canaryflow run <flow>``: run the flow now, print the summary, exit 0 or 1."""
    from canaryflow.config import load_config
    from canaryflow.flows import get_entry

    cfg = load_config(config)
    check_keys(cfg, keys)
    entry = get_entry(flow_name)
    with console.status(f"Running {entry.deployment} (Prefect flow; first start takes ~15 s)..."):
        rows = call_flow(entry.load(), config_path=cfg.source_path, **params)
    finish_rows(flow_name, rows, entry.deployment)


def finish_rows(flow_name: str, rows: list[dict[str, Any]], title: str) -> None:
    """Print the summary of a run or backfill and exit 1 if an incident was opened/updated."""
    console.print(summary_table(flow_name, rows, title))
    for r in rows:
        if r.get("report"):
            console.print(f"report: {escape(r['report'])}")
        for line in r.get("summary", {}).get("probe_file_errors", []):
            console.print(
                f"[yellow]skipped[/yellow] {escape(line)}", highlight=False, soft_wrap=True
            )
        for note in r.get("summary", {}).get("notes", []):
            if "crashed" in note:
                console.print(
                    f"[yellow]note[/yellow] {escape(note)}", highlight=False, soft_wrap=True
                )
    raise typer.Exit(EXIT_INCIDENT if any(r.get("incidents") for r in rows) else EXIT_OK)


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
    from canaryflow.flows import get_entry

    flow = get_entry("canary").load()
    result = run_demo(
        config_path=config,
        days=days,
        rate=rate,
        max_hours=max_hours,
        console=console,
        flow_loader=lambda _root: lambda **kw: call_flow(flow, **kw),
    )
    from canaryflow.config import config_path as resolve_path
    from canaryflow.demo import DEMO_DIR
    from canaryflow.demo_production import run_production_chapter

    production = get_entry("production").load()
    opened = run_production_chapter(
        resolve_path(config).resolve().parent / DEMO_DIR / "canaryflow.toml",
        console=console,
        flow=lambda **kw: call_flow(production, **kw),
    )
    raise typer.Exit(EXIT_OK if result.detected and opened else EXIT_INCIDENT)


@app.command("serve")
@handles_errors
def serve_cmd(
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Maximum concurrent flow runs.")] = 4,
) -> None:
    """Register every flow's scheduled deployment (cron from canaryflow.toml) and run them."""
    from prefect import serve

    from canaryflow.config import load_config

    cfg = load_config(config)
    deployments = serve_deployments(cfg)
    for d in deployments:
        crons = [getattr(s.schedule, "cron", "") for s in d.schedules or []]
        when = f"on cron {crons[0]} ({cfg.schedules.timezone})" if crons else "on demand"
        console.print(f"serving [bold]{escape(d.name)}[/bold] {escape(when)}")
    console.print("Ctrl-C to stop")
    serve(*deployments, limit=limit)


def serve_deployments(cfg: Any) -> list[Any]:
    """The deployments ``canaryflow serve`` registers: one per registered flow, its cron from
    ``[schedules]`` (none for an on-demand flow such as the upgrade gate)."""
    from prefect.schedules import Cron

    from canaryflow.flows import flow_entries

    path = str(Path(cfg.source_path or "canaryflow.toml").resolve())
    out = []
    for entry in flow_entries().values():
        cron = entry.cron(cfg)
        out.append(
            entry.load().to_deployment(
                name=entry.deployment,
                schedules=[Cron(cron, timezone=cfg.schedules.timezone)] if cron else [],
                parameters={"config_path": path},
                tags=list(entry.tags),
                description=entry.description,
            )
        )
    return out


def deployments_yaml(cfg: Any) -> str:
    """prefect.yaml for work pools, from the flow registry and ``[schedules]``.

    Deployment names end in ``-pool`` so that they never replace ``canaryflow serve``'s
    deployments of the same flows. Flows are imported from the installed package; the config
    path is taken from the directory ``prefect deploy`` runs in (``$PWD``, set by every POSIX
    shell), so workers need no checkout and no extra environment variable.
    """
    from canaryflow.flows import flow_entries

    doc: dict[str, Any] = {
        "name": "canaryflow",
        "prefect-version": "3.9.1",
        "build": None,
        "push": None,
        "pull": None,
        "deployments": [
            {
                "name": f"{e.deployment}-pool",
                "description": e.description,
                "entrypoint": e.entrypoint,
                "tags": list(e.tags),
                "parameters": {"config_path": "{{ $PWD }}/canaryflow.toml"},
                "work_pool": {"name": "local-process", "work_queue_name": "default"},
                "schedules": [{"cron": c, "timezone": cfg.schedules.timezone}]
                if (c := e.cron(cfg))
                else [],
            }
            for e in flow_entries().values()
        ],
    }
    header = (
        "# Deployments for Prefect work pools (scale-out), generated by\n"
        "# `canaryflow deployments --write` from the flow registry and [schedules].\n"
        "#\n"
        "#   prefect work-pool create local-process --type process\n"
        "#   prefect --no-prompt deploy --all      # run in the directory of canaryflow.toml\n"
        "#   prefect worker start --pool local-process\n"
        "#\n"
        "# Names end in -pool so they never replace `canaryflow serve`'s deployments.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False)


@app.command("deployments")
@handles_errors
def deployments_cmd(
    config: ConfigOpt = None,
    write: Annotated[bool, typer.Option(help="Write prefect.yaml next to the config.")] = False,
) -> None:
    """Print (or write) prefect.yaml for work pools from the registered flows."""
    from canaryflow.config import load_config

    cfg = load_config(config)
    text = deployments_yaml(cfg)
    if not write:
        typer.echo(text, nl=False)
        return
    out = Path(cfg.source_path or "canaryflow.toml").resolve().parent / "prefect.yaml"
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(out))}")
