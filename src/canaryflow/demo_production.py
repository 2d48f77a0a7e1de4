"""``canaryflow demo``, production chapter: generated traffic with one injected change, a
backfilled baseline, then scheduled production flow runs until the change is caught.

1. Two days of seeded traffic ending now (``canaryflow.production.generator``); three hours
   before the end, support-chat's time to first token triples.
2. ``backfill_production`` replays the history before the change in one process: the first
   day builds the baseline (24 hourly runs), the rest is monitored and stays quiet.
3. Production *Prefect flow runs* every 15 minutes of the last hours until an incident opens;
   the incident is printed.

Everything lives under the demo's own folders; the judge is off (the canary chapter's
configuration has none), so the chapter takes well under a minute.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from canaryflow.config import load_config
from canaryflow.production.generator import Change, TrafficSpec, generate, write
from canaryflow.runs import Workspace

__all__ = ["run_production_chapter"]


def run_production_chapter(
    demo_toml: Path,
    *,
    console: Console,
    flow: Callable[..., Any],
    max_runs: int = 12,
) -> list[str]:
    """Run the chapter with the demo's configuration file; the incident ids it opened."""
    from canaryflow.demo import run_progress
    from canaryflow.runs.production import backfill_production

    folder = demo_toml.parent / "production"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now - timedelta(minutes=now.minute % 15)
    start, onset = end - timedelta(days=2), end - timedelta(hours=3)
    change = Change("ttft_regression", onset, feature="support-chat", magnitude=3.0)
    traffic = generate(TrafficSpec(start=start, days=2, rate_per_min=8, changes=(change,), seed=5))
    write(traffic.records, folder / "records.jsonl")
    write(traffic.signals, folder / "signals.jsonl")
    doc = tomllib.loads(demo_toml.read_text(encoding="utf-8"))
    doc["production"] = {
        "source": str(folder / "records.jsonl"),
        "signals": str(folder / "signals.jsonl"),
    }
    doc.setdefault("alerts", {})["production"] = {"warmup_runs": 24}
    toml = folder / "canaryflow.toml"
    toml.write_text(tomli_w.dumps(doc), encoding="utf-8")
    ws = Workspace(load_config(toml))

    console.print(
        Panel.fit(
            "[bold]production chapter[/bold]: 2 days of generated traffic "
            f"({len(traffic.records)} requests, 3 features)\n"
            "1. backfill the history: the first day (24 hourly runs) builds the baseline\n"
            f"2. at {onset:%H:%M} UTC support-chat's time to first token triples\n"
            "3. production flow runs every 15 minutes until canaryflow files an incident"
        )
    )
    quiet: list[str] = []
    with run_progress(console) as progress:
        bar = progress.add_task("backfilling production", total=45)

        def on_run(o: Any) -> None:
            quiet.extend(c.incident.incident_id for c in o.incidents)
            progress.advance(bar)

        backfill_production(ws, start, onset, on_run=on_run)
    console.print(f"history before the change: {len(set(quiet))} incident(s) opened")
    opened: list[str] = []
    for k in range(1, max_runs + 1):
        as_of = onset + timedelta(minutes=15 * k + 5)
        rows = flow(as_of=as_of, config_path=str(toml))
        opened = [i for r in rows for i in r.get("incidents", [])]
        s = rows[0]["summary"] if rows else {}
        console.print(
            f"  run {k} (as of {as_of:%H:%M} UTC): {s.get('windows', 0)} window(s), "
            f"{s.get('records', 0)} records, incidents: {', '.join(opened) or 'none'}"
        )
        if opened:
            break
    for inc_id in dict.fromkeys(opened):
        inc = ws.store.get_incident(inc_id)
        if inc is None:
            continue
        alert = inc.alerts[-1] if inc.alerts else None
        body = [f"[bold]{escape(inc.incident_id)}[/bold] [{inc.severity}] {escape(inc.title)}"]
        if alert is not None:
            body += [escape(alert.message), f"test: {escape(alert.test)}"]
        body.append(f"incident report: {Path(ws.config.sinks.file.dir) / (inc_id + '.md')}")
        console.print(Panel("\n".join(body), title="production incident", border_style="red"))
    if not opened:
        console.print(f"[red]no production incident within {max_runs} runs[/red]")
    return opened
