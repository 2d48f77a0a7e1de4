"""``canaryflow demo``: the whole story, offline, in a few minutes.

1. Three simulated days of hourly canaries against the bundled simulator (replayed with
   ``as_of``): the first 24 runs build the baseline, the rest show a quiet, in-control period.
2. A silent model update: the simulator starts transposing day and month in 30 % of EU
   (DD/MM/YYYY) dates with day <= 12. Latency, cost and error rate do not move.
3. Hourly canary *Prefect flow runs* continue until canaryflow files an incident; the demo
   prints the incident, its report and how many hourly runs detection took.

The demo uses its own store and report folders (``.canaryflow/demo/``, ``reports/demo/``) so it
never touches a real baseline.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from canaryflow.config import Config, load_config
from canaryflow.runs import Workspace, backfill_canary

__all__ = ["DemoResult", "run_demo", "to_toml"]

DEMO_DIR = Path(".canaryflow/demo")


@dataclass
class DemoResult:
    """What the demo observed."""

    detected: bool
    detection_runs: int | None
    baseline_runs: int
    false_incidents_before_update: int
    incidents: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


def to_toml(cfg: Config) -> str:
    """Write a Config back as TOML: only what was set (so per-flow alert defaults stay the
    flow's, instead of every [alerts] key being pinned) and no None values."""
    return tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True, exclude_unset=True))


def run_progress(console: Console) -> Progress:
    """The progress bar of long CLI work (backfills, the demo replay)."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_config(base: Config, *, port: int) -> Config:
    """The user's configuration pointed at demo-only store and report folders."""
    # A model with its own simulator scenario (a candidate such as support-bot-next) does not
    # follow the demo's scenario switches, so it has no place in the story.
    sims = {
        k: m for k, m in base.models.items() if m.provider == "simulator" and m.scenario is None
    }
    if not sims:
        from canaryflow.errors import ConfigError

        raise ConfigError(
            base.source_path or "canaryflow.toml",
            "models",
            'the demo needs at least one model with provider = "simulator" (it never calls '
            "a real provider)",
        )
    # Absolute, next to the user's canaryflow.toml: the demo's own file lives in DEMO_DIR, and
    # relative paths in it would resolve against that directory.
    root = base.base_dir or Path.cwd()
    reports = root / "reports" / "demo"
    return base.model_copy(
        update={
            "models": sims,
            "judge": base.judge.model_copy(update={"model": None}),
            "store": base.store.model_copy(update={"url": f"sqlite:///{root / DEMO_DIR}/demo.db"}),
            "reports": base.reports.model_copy(update={"dir": str(reports)}),
            "sinks": base.sinks.model_copy(
                update={
                    "file": base.sinks.file.model_copy(update={"dir": str(reports / "incidents")}),
                    "webhook": None,
                    "github": None,
                }
            ),
            "simulator": base.simulator.model_copy(update={"port": port, "scenario": "baseline"}),
            "canary": base.canary.model_copy(update={"models": None}),
        }
    )


def run_demo(
    *,
    config_path: str | Path | None,
    days: int,
    rate: float,
    max_hours: int,
    console: Console,
    flow_loader: Callable[[Path], Any],
) -> DemoResult:
    """Run the demo story; see the module docstring."""
    from canaryflow.config import config_path as resolve_path
    from canaryflow.providers import simulator_url
    from canaryflow.simulator import set_scenario

    t0 = time.perf_counter()
    root = resolve_path(config_path).resolve().parent
    base = load_config(config_path)
    demo_dir = root / DEMO_DIR
    shutil.rmtree(demo_dir, ignore_errors=True)
    shutil.rmtree(root / "reports" / "demo", ignore_errors=True)
    demo_dir.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(base, port=_free_port())
    demo_toml = demo_dir / "canaryflow.toml"
    demo_toml.write_text(to_toml(cfg), encoding="utf-8")
    cfg = load_config(demo_toml)
    ws = Workspace(cfg)
    models = list(cfg.models)
    baseline_runs = days * 24
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    end_baseline = now - timedelta(hours=max_hours)

    console.print(
        Panel.fit(
            f"[bold]canaryflow demo[/bold]: models {', '.join(models)} on the bundled simulator\n"
            f"1. replay {days} days ({baseline_runs} hourly canaries): the first "
            f"{cfg.alerts.for_flow('canary').warmup_runs} build the baseline\n"
            f"2. a silent model update transposes {rate:.0%} of DD/MM dates (day <= 12)\n"
            "3. hourly canary flow runs until canaryflow files an incident",
        )
    )
    before: list[str] = []
    with run_progress(console) as progress:
        bar = progress.add_task("replaying baseline history", total=baseline_runs)

        def on_run(i: int, outcomes: list[Any]) -> None:
            for o in outcomes:
                before.extend(c.incident.incident_id for c in o.incidents)
            progress.advance(bar)

        backfill_canary(ws, runs=baseline_runs, end=end_baseline, on_run=on_run)
    console.print(
        f"baseline period: {baseline_runs} hourly runs per model, "
        f"{len(set(before))} incident(s) opened while nothing changed"
    )

    set_scenario(simulator_url(cfg.simulator), "date_transposition", rate=rate)
    console.print(
        "[bold yellow]silent model update[/bold yellow] at "
        f"{end_baseline + timedelta(hours=1):%Y-%m-%d %H:%M} UTC: {rate:.0%} of EU dates "
        "transposed (same model id, same latency and cost)"
    )

    flow = flow_loader(root)
    detected_at: int | None = None
    incidents: list[str] = []
    reports: list[str] = []
    for hour in range(1, max_hours + 1):
        as_of = end_baseline + timedelta(hours=hour)
        with console.status(f"hourly canary flow run {hour} (as of {as_of:%Y-%m-%d %H:%M} UTC)"):
            rows = flow(as_of=as_of, config_path=str(demo_toml))
        for r in rows:
            reports.append(r.get("report") or "")
            incidents.extend(r.get("incidents", []))
        console.print(
            f"  run {hour}: "
            + "; ".join(
                f"{escape(r['model'])} {r['summary'].get('passed')}/{r['summary'].get('evaluated')}"
                f" passed, incidents: {', '.join(r['incidents']) or 'none'}"
                for r in rows
            )
        )
        if incidents:
            detected_at = hour
            break

    result = DemoResult(
        detected=detected_at is not None,
        detection_runs=detected_at,
        baseline_runs=baseline_runs,
        false_incidents_before_update=len(set(before)),
        incidents=sorted(set(incidents)),
        reports=[r for r in reports if r],
        wall_seconds=time.perf_counter() - t0,
    )
    _print_outcome(ws, result, console)
    return result


def _print_outcome(ws: Workspace, result: DemoResult, console: Console) -> None:
    if not result.detected:
        console.print(
            f"[red]no incident within the allotted runs[/red]; reports in {ws.reports_dir}"
        )
        return
    for inc_id in result.incidents:
        inc = ws.store.get_incident(inc_id)
        if inc is None:
            continue
        alert = inc.alerts[-1] if inc.alerts else None
        body = [
            f"[bold]{escape(inc.incident_id)}[/bold] [{inc.severity}] {escape(inc.title)}",
            f"state: {inc.state}; opened at {inc.opened_at:%Y-%m-%d %H:%M} UTC",
        ]
        if alert is not None:
            body.append(escape(alert.message))
            body.append(
                f"test: {escape(alert.test)}, p = {alert.p_value:.2g}, "
                f"baseline n = {alert.baseline_n}"
                if alert.p_value is not None
                else f"test: {escape(alert.test)}"
            )
        report = Path(ws.config.sinks.file.dir) / f"{inc.incident_id}.md"
        body.append(f"incident report (runbook: triage, scope, isolate, respond, learn): {report}")
        console.print(Panel("\n".join(body), title="incident", border_style="red"))
    console.print(
        f"detected after [bold]{result.detection_runs}[/bold] hourly run(s) following the silent "
        f"update; {result.false_incidents_before_update} false incident(s) during the "
        f"{result.baseline_runs}-run baseline period"
    )
    if result.reports:
        console.print(f"latest canary report: {result.reports[-1]}")
    console.print(
        f"all reports: {ws.reports_dir}/ ; demo store: {ws.config.store.url} ; "
        f"wall time {result.wall_seconds:.0f} s"
    )
