"""A canary incident keeps its evidence through ``incidents ack`` and ``resolve`` (defects 13/14).

The run files the incident with its context (failing probes with input and expected value,
per-family counts, fingerprint, chart); the CLI, which knows nothing about the run, then
acknowledges and resolves it. The rewritten report must still show all of it, once per probe,
plus a history of both state changes with their notes.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from canary_env import T0, incident_markdown, runbook_sections, write_config
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import load_config
from canaryflow.runs import Workspace, run_canary
from canaryflow.simulator import SimulatorCore
from canaryflow.simulator.testing import sim_client_factory

MODEL = "support-bot"
runner = CliRunner(env={"COLUMNS": "250"})


def test_canary_incident_keeps_evidence_through_ack_and_resolve(tmp_path: Path) -> None:
    path = write_config(tmp_path, seed=7400, warmup_runs=12)
    cfg = load_config(path)
    core = SimulatorCore(seed=cfg.simulator.seed, noise=cfg.simulator.noise)
    ws = Workspace(cfg, client_factory=sim_client_factory(core))
    for h in range(1, 13):
        run_canary(ws, models=[MODEL], as_of=T0 + timedelta(hours=h))
    core.set_scenario("date_transposition", rate=0.5)
    (outcome,) = run_canary(ws, models=[MODEL], as_of=T0 + timedelta(hours=13))
    opened = [c.incident for c in outcome.incidents if c.incident.subject == "dates_eu"]
    assert opened, [c.incident.incident_id for c in outcome.incidents]
    iid = opened[0].incident_id
    filed = runbook_sections(incident_markdown(cfg, iid))

    for args in (
        ["incidents", "ack", iid, "--note", "alice is on it", "--by", "alice"],
        ["incidents", "resolve", iid, "--as", "fixed", "--note", "pinned back", "--by", "bob"],
    ):
        result = runner.invoke(app, [*args, "-c", str(path)])
        assert result.exit_code == 0, result.output

    md = incident_markdown(cfg, iid)
    sections = runbook_sections(md)
    assert "No failing item was recorded" not in sections["triage"]
    assert "repetitions failed" in sections["triage"]

    def counts(scope: str) -> list[str]:  # without the "updated <wall clock>" line
        return [line for line in scope.splitlines() if "Runs in this incident" not in line]

    assert counts(sections["scope"]) == counts(filed["scope"])  # the counts as filed
    assert "failed now" in sections["scope"]
    assert sections["isolate"] == filed["isolate"]
    assert "Input:" in md and "Expected:" in md and "iso_date:" in md
    flagged = json.loads(Path(md_path(cfg, iid)).read_text())["runbook"]["flagged"]
    ids = [f["item_id"] for f in flagged]
    assert len(ids) == len(set(ids))  # one example per probe, not per attempt
    assert all(f["failed"] and f["attempts"] and f["input"] for f in flagged)
    assert "](" in md.split("### Charts", 1)[1]  # the chart link survived
    history = md.split("### History", 1)[1]
    assert "acknowledged by alice: alice is on it" in history
    assert "resolved:fixed by bob: pinned back" in history


def md_path(cfg: object, iid: str) -> Path:
    from canaryflow.incidents._sinks import incident_filename

    return Path(cfg.sinks.file.dir) / f"{incident_filename(iid)}.json"  # type: ignore[attr-defined]
