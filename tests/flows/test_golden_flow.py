"""The daily golden flow on Prefect's harness, against the bundled simulator (real SDKs).

The warm-up days are replayed with ``backfill_golden`` (the engine the flow's task calls);
the days that matter are ``daily_golden`` flow runs. Extraction only (no judge calls), so a
run is a few seconds: the judged sets are covered by the ``compare`` tests.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from canary_env import T0, incident_markdown, runbook_sections
from golden_env import write_golden_config
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import load_config
from canaryflow.flows.golden import daily_golden
from canaryflow.golden import load_golden_sets
from canaryflow.providers import simulator_url
from canaryflow.runs import Workspace
from canaryflow.runs.golden_batch import backfill_golden
from canaryflow.simulator import set_scenario

pytestmark = pytest.mark.usefixtures("prefect_harness")

SEED = 9300
SETS = ["financial_extraction"]
MODELS = ["extractor"]


@pytest.fixture
def transposing():  # type: ignore[no-untyped-def]
    """Switch a project's simulator to a 30 % day/month transposition; always switched back."""
    used: list[str] = []

    def switch(path: Path) -> None:
        url = simulator_url(load_config(path).simulator)
        set_scenario(url, "date_transposition", rate=0.3)
        used.append(url)

    yield switch
    for url in used:
        set_scenario(url, "baseline")


def _day(path: Path, day: int) -> dict:
    rows = daily_golden(
        models=MODELS, sets=SETS, as_of=T0 + timedelta(days=day), config_path=str(path)
    )
    assert len(rows) == 1
    return rows[0]


def test_warm_up_then_monitor_then_transposition_opens_an_incident_naming_the_flipped_items(
    tmp_path: Path, transposing
) -> None:  # type: ignore[no-untyped-def]
    path = write_golden_config(tmp_path, seed=SEED)
    ws = Workspace(load_config(path))
    backfill_golden(ws, runs=2, end=T0 - timedelta(days=1), models=MODELS, sets=SETS)
    assert not ws.store.list_baselines("golden", "extractor")

    warm = _day(path, 0)  # the third day freezes the baseline
    assert warm["phase"] == "warmup" and not warm["incidents"]
    baselines = ws.store.list_baselines("golden", "extractor")
    assert [(b.subject, b.metric) for b in baselines] == [("financial_extraction", "outcomes")]
    payload = ws.store.load_baseline_payload(baselines[0], "outcomes")
    assert len(payload) == 60 and all(o["attempts"] == 9 for o in payload.values())

    for day in (1, 2):  # in control: monitored, nothing opened
        row = _day(path, day)
        assert row["phase"] == "monitor" and row["summary"]["verdict"] == "pass", row
        assert not row["incidents"]
    assert not ws.store.list_incidents(flow="golden")

    transposing(path)
    row = _day(path, 3)
    s = row["summary"]
    assert s["verdict"] == "regression" and row["incidents"], row
    flipped = set(s["flipped"])
    failing = {i.item_id for i in ws.store.items_for_runs([row["run_id"]]) if i.passed is False}
    assert flipped == failing and flipped  # exactly the transposed items
    assert all(f.startswith("financial_extraction/fin-eu-") for f in flipped)

    incidents = ws.store.list_incidents(flow="golden")
    assert {i.subject for i in incidents} <= {
        "financial_extraction",
        "financial_extraction/dates_eu",
    }
    inc = next(i for i in incidents if i.subject == "financial_extraction/dates_eu")
    md = incident_markdown(ws.config, inc.incident_id)
    sections = runbook_sections(md)
    for name in ("triage", "scope", "isolate", "respond", "learn"):
        assert sections.get(name, "").strip(), f"runbook section {name!r} is empty"
    for item in flipped:
        assert item in sections["triage"]
    assert "expected" in sections["triage"] and "transposed" in sections["triage"]
    assert "financial_extraction/dates_us" in sections["scope"]  # unaffected, named
    assert "config hash unchanged" in sections["isolate"].lower()
    assert f"golden add-from-incident {inc.incident_id}" in sections["learn"]
    report = Path(row["report"]).read_text(encoding="utf-8")
    assert "REGRESSION" in report and len(report) < 65_536

    # Rerunning the day reproduces it: same verdict, same items, the same incidents updated.
    again = _day(path, 3)
    assert again["summary"]["verdict"] == "regression"
    assert set(again["summary"]["flipped"]) == flipped
    assert sorted(again["incidents"]) == sorted(row["incidents"])
    assert len(ws.store.list_incidents(flow="golden")) == len(incidents)

    # Learn: the failing cases become items of their own set, once.
    runner = CliRunner()
    cmd = ["golden", "add-from-incident", inc.incident_id, "--config", str(path)]
    res = runner.invoke(app, cmd)
    assert res.exit_code == 0, res.output
    suite = load_golden_sets(tmp_path / "golden_sets")
    assert suite.ok, [e.line() for e in suite.errors]
    learnt = suite.get("financial_extraction-regressions")
    assert {f"financial_extraction/{i.id.rsplit('-inc-', 1)[0]}" for i in learnt} == flipped
    assert all(inc.incident_id in i.note and "from_incident" in i.tags for i in learnt)
    assert learnt.header.prompt == suite.get("financial_extraction").header.prompt
    again_res = runner.invoke(app, cmd)
    assert again_res.exit_code == 0 and "0 item(s) added" in again_res.output
    assert len(load_golden_sets(tmp_path / "golden_sets").get(learnt.name)) == len(learnt)
