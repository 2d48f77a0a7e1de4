"""Temporary canaryflow projects for the canary tests (tests/runs and tests/flows).

``write_config`` turns the shipped canaryflow.toml into one under a temp directory: its own
SQLite store, report and incident folders, a small warm-up and a simulator seed of the caller's
choosing. The bundled simulator is shared per process *per SimulatorConfig*, so every test
passes its own seed: a scenario it switches on can never leak into another test.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from canaryflow.config import AlertsConfig, Config, load_config
from canaryflow.definitions import load_probes
from canaryflow.demo import to_toml
from canaryflow.runs._canary_baseline import summarize
from canaryflow.stats import BernoulliCUSUM, bh_adjust, rate_drop_test

__all__ = [
    "PROBES",
    "NaiveReplay",
    "REPO",
    "REPETITIONS",
    "T0",
    "copy_flows",
    "incident_markdown",
    "runbook_sections",
    "write_config",
]

REPO = Path(__file__).resolve().parents[2]
PROBES = REPO / "probes"
REPETITIONS = sum(p.repetitions for p in load_probes(PROBES).probes)
"""Probe attempts per model and run with the shipped probe library (every one must be stored)."""
T0 = datetime(2024, 4, 3, 10, tzinfo=UTC)
"""The last warm-up hour of the tests' replayed history."""


def write_config(
    tmp: Path,
    *,
    seed: int,
    warmup_runs: int = 12,
    probes_dir: Path | None = None,
    model_updates: dict[str, dict[str, Any]] | None = None,
    alerts: dict[str, Any] | None = None,
    noise: float | None = None,
) -> Path:
    """Write ``tmp/canaryflow.toml`` (the shipped config, isolated under ``tmp``); return it."""
    base = load_config(REPO / "canaryflow.toml")
    models = {
        key: m.model_copy(update=(model_updates or {}).get(key, {}))
        for key, m in base.models.items()
    }
    cfg: Config = base.model_copy(
        update={
            "models": models,
            "store": base.store.model_copy(update={"url": f"sqlite:///{tmp}/cf.db"}),
            "reports": base.reports.model_copy(update={"dir": str(tmp / "reports")}),
            "sinks": base.sinks.model_copy(
                update={
                    "file": base.sinks.file.model_copy(
                        update={"dir": str(tmp / "reports" / "incidents")}
                    ),
                    "webhook": None,
                    "github": None,
                }
            ),
            "alerts": AlertsConfig.model_validate(
                {"canary": {"warmup_runs": warmup_runs}, **(alerts or {})}
            ),
            "canary": base.canary.model_copy(update={"probes_dir": str(probes_dir or PROBES)}),
            "simulator": base.simulator.model_copy(
                update={
                    "seed": seed,
                    "port": 0,
                    "scenario": "baseline",
                    **({} if noise is None else {"noise": noise}),
                }
            ),
        }
    )
    path = tmp / "canaryflow.toml"
    path.write_text(to_toml(cfg), encoding="utf-8")
    return path


class NaiveReplay:
    """The previous statistics, replayed: every repetition one Bernoulli trial.

    Fisher one-sided + BH on attempt counts against the baseline's attempt counts, and a
    Bernoulli CUSUM per family designed at the baseline's attempt pass rate (floored as before)
    with ``n_per_run`` = attempts. Used only to report the "before" figure on the same runs.
    """

    def __init__(self, q: float, drop: float, arl0: float) -> None:
        self.q, self.drop, self.arl0 = q, drop, arl0
        self.charts: dict[tuple[str, str], BernoulliCUSUM | None] = {}
        self.fisher = 0
        self.cusum = 0
        self.runs_with_alarm = 0

    def feed(self, model: str, baselines: dict[str, Any], items: list[Any]) -> None:
        cur = summarize(items)
        fams = [f for f in sorted(cur.family_n) if f in baselines and cur.family_n[f]]
        pvals = []
        alarmed = False
        for fam in fams:
            bs, bn = int(baselines[fam]["successes"]), int(baselines[fam]["trials"])
            s, n = cur.family_pass[fam], cur.family_n[fam]
            pvals.append(rate_drop_test(bs, bn, s, n).p_value)
            key = (model, fam)
            if key not in self.charts:
                p0 = (bs + 0.5) / (bn + 1)
                self.charts[key] = (
                    BernoulliCUSUM(p0, p0 - self.drop, arl0=self.arl0, n_per_run=n)
                    if p0 - self.drop > 0.01
                    else None
                )
            chart = self.charts[key]
            if chart is not None and chart.update(n - s, n).alarm:
                chart.reset()
                self.cusum += 1
                alarmed = True
        if pvals:
            hits = int((bh_adjust(pvals) < self.q).sum())
            self.fisher += hits
            alarmed = alarmed or hits > 0
        self.runs_with_alarm += alarmed


def copy_flows(project: Path) -> None:
    """Copy flows/ next to a temp config (the CLI loads ``<config dir>/flows/canary.py``)."""
    shutil.copytree(REPO / "flows", project / "flows", ignore=shutil.ignore_patterns("__pycache__"))


def incident_markdown(cfg: Config, incident_id: str) -> str:
    """The file sink's Markdown for an incident, with Markdown escapes removed."""
    from canaryflow.incidents._sinks import incident_filename

    path = Path(cfg.sinks.file.dir) / f"{incident_filename(incident_id)}.md"
    return path.read_text(encoding="utf-8").replace("\\", "")


def runbook_sections(markdown: str) -> dict[str, str]:
    """``{"triage": body, "scope": ..., ...}`` from an incident's ``#### N. Title`` sections."""
    out: dict[str, str] = {}
    for m in re.finditer(r"^#### \d+\. (\w+)[^\n]*\n(.*?)(?=^#{2,4} |\Z)", markdown, re.M | re.S):
        out[m.group(1).lower()] = m.group(2).strip()
    return out
