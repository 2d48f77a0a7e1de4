"""``canaryflow backfill production`` and ``canaryflow run production`` on the shipped
canaryflow.toml and a log written by the generator command its comment documents."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.production.generator import main as generate_main

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.mark.usefixtures("prefect_harness")
def test_backfill_then_run_production_on_the_shipped_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
    shutil.copy(REPO / "canaryflow.toml", tmp_path / "canaryflow.toml")
    logs = tmp_path / "production_logs"
    generate_main(
        ["--until-now", "--days", "0.5", "--rate", "4",
         "--models", "claude-sim-1,gpt-sim-1,claude-sim-1",
         "--out", str(logs / "records.jsonl"), "--signals", str(logs / "signals.jsonl")]
    )  # fmt: skip
    cfg = str(tmp_path / "canaryflow.toml")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now - timedelta(minutes=15 + now.minute % 15)  # a window boundary before now
    start = end - timedelta(hours=6)
    run_at = (end + timedelta(minutes=20)).isoformat()  # on schedule: one window is due

    result = runner.invoke(
        app,
        ["backfill", "production", "--config", cfg, "--start", start.isoformat(),
         "--end", end.isoformat()],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "judge estimate for" in result.output

    result = runner.invoke(app, ["run", "production", "--config", cfg, "--as-of", run_at])
    assert result.exit_code == 0, result.output
    assert "production" in result.output and "warmup" in result.output

    # Rerun of the same time from another directory: paths resolve against the config file.
    monkeypatch.chdir(REPO.parent)
    again = runner.invoke(app, ["run", "production", "--config", cfg, "--as-of", run_at])
    assert again.exit_code == 0, again.output
