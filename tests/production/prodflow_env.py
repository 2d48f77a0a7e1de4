"""A temporary project watching generated traffic: config, traffic files, a backfill helper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from canaryflow.config import load_config
from canaryflow.production.generator import Change, TrafficSpec, generate, write
from canaryflow.runs import Workspace

START = datetime(2026, 11, 1, tzinfo=UTC)

CONFIG = """
[store]
url = "sqlite:///store.db"

[models.judge]
provider = "simulator"
protocol = "openai"
model = "gpt-sim-1"
pricing = {{ input = 0.15, output = 0.60 }}
{judge_extra}

[models.app-chat]
provider = "simulator"
model = "claude-sonnet-4"
pricing = {{ input = 3.0, output = 15.0 }}

[models.app-extract]
provider = "simulator"
model = "gpt-4o-mini"
pricing = {{ input = 0.15, output = 0.60 }}

[models.app-summarize]
provider = "simulator"
model = "claude-haiku-4"
pricing = {{ input = 1.0, output = 5.0 }}

[judge]
model = "judge"

[production]
source = "{records}"
signals = "traffic/signals.jsonl"
sample_rate = 0.05
sample_rates = {{ "doc-extract" = 0.15 }}
user_hourly_limit_usd = 2.0

[alerts.production]
warmup_runs = {warmup}

[canary]
models = ["judge"]

[golden]
models = ["judge"]
"""


def project(
    root: Path,
    *,
    days: float = 2.0,
    rate: float = 6.0,
    changes: Sequence[Change] = (),
    warmup: int = 24,
    seed: int = 3,
    judge_scenario: str | None = None,
    parts: int = 1,
) -> Workspace:
    """Write canaryflow.toml and the generated traffic under ``root``; the workspace."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "canaryflow.toml").write_text(
        CONFIG.format(
            warmup=warmup,
            records="traffic/records.jsonl" if parts == 1 else "traffic/records-*.jsonl",
            judge_extra=f'scenario = "{judge_scenario}"' if judge_scenario else "",
        ),
        encoding="utf-8",
    )
    traffic = generate(
        TrafficSpec(start=START, days=days, rate_per_min=rate, changes=tuple(changes), seed=seed)
    )
    if parts == 1:
        write(traffic.records, root / "traffic" / "records.jsonl")
    else:  # files by user, as several exporters would write them
        users = pd.util.hash_pandas_object(traffic.records["user_id"], index=False) % parts
        for k in range(parts):
            write(traffic.records[users == k], root / "traffic" / f"records-{k}.jsonl")
    write(traffic.signals, root / "traffic" / "signals.jsonl")
    return Workspace(load_config(root / "canaryflow.toml"))


def opened(outcomes: Sequence[Any]) -> list[tuple[datetime, str, str, str]]:
    """(run as_of, subject, metric class, title) of every incident opened by the outcomes."""
    return [
        (o.run.as_of, c.incident.subject, c.incident.metric_class, c.incident.title)
        for o in outcomes
        for c in o.incidents
        if c.action == "opened"
    ]


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)
