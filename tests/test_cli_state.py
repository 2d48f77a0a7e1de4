"""Baseline and incident commands against a real store built from synthetic canary runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.records import Alert, ItemResult, RunRecord
from canaryflow.runs import open_workspace
from canaryflow.runs._canary_detect import build_baselines

runner = CliRunner(env={"COLUMNS": "250"})
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    cfg = tmp_path / "canaryflow.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/cf.db"\n'
        f'[models.bot]\nprovider = "simulator"\nmodel = "sim-1"\n'
        f'[sinks.file]\ndir = "{tmp_path}/incidents"\n'
        f'[reports]\ndir = "{tmp_path}/reports"\n',
        encoding="utf-8",
    )
    ws = open_workspace(cfg)
    runs = []
    for i in range(4):
        run = RunRecord(
            run_id=f"canary-bot-{i}",
            flow="canary",
            model="bot",
            config_hash="h",
            as_of=T0 + timedelta(hours=i),
            status="completed",
            summary={"phase": "warmup"},
        )
        ws.store.begin_run(run)
        ws.store.finish_run(run.run_id, "completed", {"phase": "warmup"})
        failing = i == 3
        ws.store.save_items(
            [
                ItemResult(
                    run_id=run.run_id,
                    item_id=f"p{j}",
                    attempt=0,
                    flow="canary",
                    model="bot",
                    subject="dates_eu",
                    passed=not (failing and j == 0),
                    output=f"2024-0{j + 1}-03",
                    normalized_output=f"2024-0{j + 1}-03",
                    latency_ms=5.0 + i,
                )
                for j in range(3)
            ]
        )
        runs.append(run)
    items = ws.store.items_for_runs([r.run_id for r in runs[:3]])
    for b in build_baselines("bot", runs[:3], items, reason="warm-up (3 runs)"):
        ws.store.save_baseline(b)
    alert = Alert(
        flow="canary",
        model="bot",
        subject="dates_eu",
        metric="pass_rate",
        metric_class="correctness",
        baseline_value=1.0,
        current_value=2 / 3,
        test="fisher_one_sided+BH",
        p_value=0.0004,
        baseline_n=9,
        run_id="canary-bot-3",
        as_of=runs[3].as_of,
        first_window=runs[3].as_of,
        message="dates_eu dropped",
    )
    ws.incidents().handle([alert])
    return cfg


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_baseline_list_show_reset(project: Path) -> None:
    out = invoke("baseline", "list", "-c", str(project), "-m", "bot")
    assert "dates_eu" in out and "fingerprint" in out and "(< 300)" in out
    out = invoke("baseline", "show", "bot", "-c", str(project), "--metric", "pass_rate")
    assert "canary/bot/dates_eu/pass_rate" in out and "n = 9" in out
    out = invoke("baseline", "reset", "-m", "bot", "--reason", "new prompt", "-c", str(project))
    assert "deactivated" in out
    result = runner.invoke(app, ["baseline", "show", "bot", "-c", str(project)])
    assert result.exit_code == 2 and "no active canary baseline" in result.output


def test_baseline_reset_of_an_unknown_model_is_a_usage_error(project: Path) -> None:
    """Regression: ``baseline reset -m nosuch`` printed "deactivated 0 baseline(s)", exit 0."""
    result = runner.invoke(
        app, ["baseline", "reset", "-m", "nosuch", "--reason", "typo", "-c", str(project)]
    )
    assert result.exit_code == 2, result.output
    assert "unknown model(s) ['nosuch']; configured: ['bot']" in result.output
    # The real model's baselines are untouched.
    assert "dates_eu" in invoke("baseline", "list", "-c", str(project), "-m", "bot")


def test_incident_lifecycle_and_accepted_change_promotes(project: Path) -> None:
    ws = open_workspace(project)
    (inc,) = ws.store.list_incidents()
    out = invoke("incidents", "list", "-c", str(project))
    assert "INC-" in out and "open" in out
    out = invoke("incidents", "show", inc.incident_id, "-c", str(project))
    assert "Triage" in out and "dates" in out
    invoke("incidents", "ack", inc.incident_id, "--note", "on it", "-c", str(project))
    assert ws.store.get_incident(inc.incident_id).state == "acknowledged"
    before = ws.store.active_baseline("canary", "bot", "dates_eu", "pass_rate")
    out = invoke(
        "incidents",
        "resolve",
        inc.incident_id,
        "--as",
        "accepted_change",
        "--note",
        "new date format is intended",
        "-c",
        str(project),
    )
    assert "resolved (accepted_change)" in out
    # One meaning of an accepted change: the model's baselines are retired and the next one is
    # warmed up from the runs since the change (the incident's own run included).
    assert before is not None
    assert ws.store.list_baselines("canary", "bot") == []
    warmup = ws.store.get_warmup("canary", "bot")
    assert warmup is not None and "accepted change" in warmup["reason"]
    assert warmup["since_as_of"] == ws.store.get_run("canary-bot-3").as_of
    resolved = ws.store.get_incident(inc.incident_id)
    assert resolved.state == "resolved" and resolved.resolution == "accepted_change"


def test_resolve_rejects_unknown_resolution(project: Path) -> None:
    ws = open_workspace(project)
    (inc,) = ws.store.list_incidents()
    result = runner.invoke(
        app, ["incidents", "resolve", inc.incident_id, "--as", "whatever", "-c", str(project)]
    )
    assert result.exit_code == 2
