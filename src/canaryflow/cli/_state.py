"""Commands about stored state: baselines and incidents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from canaryflow.cli._app import (
    ConfigOpt,
    baseline_app,
    console,
    handles_errors,
    incidents_app,
    parse_timestamp,
)
from canaryflow.errors import CanaryflowError

# --------------------------------------------------------------------------- baselines

FlowOpt = Annotated[str, typer.Option("--flow", help="Flow: canary, golden, production.")]


def _stats_fn(flow: str) -> Any:
    if flow != "canary":
        raise CanaryflowError(f"flow {flow!r}: promote is available for the canary flow so far")
    from canaryflow.runs._canary_detect import canary_stats

    return canary_stats


@baseline_app.command("list")
@handles_errors
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
@handles_errors
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
@handles_errors
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
@handles_errors
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
    ws.config.model_keys([model])  # a typo must not "succeed" by deactivating nothing
    n = reset(ws.store, flow, model, reason)
    console.print(
        f"deactivated {n} baseline(s) of {escape(model)}; the next "
        f"{ws.config.alerts.for_flow(flow).warmup_runs} runs build a new one"
    )


# --------------------------------------------------------------------------- incidents


ByOpt = Annotated[
    str | None, typer.Option("--by", help="Who did it (recorded in the history; default: $USER).")
]


def _who(by: str | None) -> str:
    if by:
        return by
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a container
        return ""


@incidents_app.command("list")
@handles_errors
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
@handles_errors
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
@handles_errors
def incidents_ack(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    note: Annotated[str, typer.Option(help="Who is on it, what is known.")] = "",
    by: ByOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Acknowledge an incident (it keeps collecting alerts until resolved)."""
    from canaryflow.runs import open_workspace

    ws = open_workspace(config)
    inc = ws.incidents().ack(incident_id, note, by=_who(by))
    console.print(f"{escape(inc.incident_id)}: {inc.state}")


@incidents_app.command("resolve")
@handles_errors
def incidents_resolve(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    resolution: Annotated[str, typer.Option("--as", help="fixed | accepted_change | false_alarm")],
    note: Annotated[str, typer.Option(help="What was done or decided.")] = "",
    by: ByOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Resolve an incident; ``accepted_change`` rebuilds the model's baselines from the change.

    The new behaviour becomes the new normal: the model's baselines of the incident's flow are
    retired and the next runs (counting those since the change, the incident's own included)
    freeze new ones; charts start afresh with them.
    """
    from canaryflow.baselines import accept_change
    from canaryflow.runs import open_workspace

    if resolution not in ("fixed", "accepted_change", "false_alarm"):
        raise typer.BadParameter("--as must be fixed, accepted_change or false_alarm")
    ws = open_workspace(config)

    def accept(incident: Any) -> str:
        return accept_change(ws.store, incident, note=note)

    inc = ws.incidents().resolve(
        incident_id,
        resolution,
        note,
        promote=accept if resolution == "accepted_change" else None,
        by=_who(by),
    )
    console.print(f"{escape(inc.incident_id)}: {inc.state} ({inc.resolution})")
