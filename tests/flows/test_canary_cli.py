"""``canaryflow run canary`` exit codes: 0 healthy or warm-up, 1 incident, 2 bad configuration.

The CLI loads ``<config dir>/flows/canary.py`` as Prefect does, so the temp project gets a copy of
flows/; the flow runs on the session's Prefect test server against the bundled simulator.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from canary_env import T0, copy_flows, write_config
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import load_config
from canaryflow.providers import simulator_url
from canaryflow.runs import Workspace, run_canary
from canaryflow.simulator import set_scenario

SEED = 7400
runner = CliRunner()


def _run(path: Path, as_of: str) -> object:
    return runner.invoke(
        app, ["run", "canary", "--config", str(path), "--model", "support-bot", "--as-of", as_of]
    )


@pytest.mark.usefixtures("prefect_harness")
def test_run_canary_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")  # the CLI sets it; restore after
    path = write_config(tmp_path, seed=SEED, warmup_runs=2)
    copy_flows(tmp_path)

    # 0: a warm-up run.
    result = _run(path, (T0 - timedelta(hours=1)).isoformat())
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "warmup" in result.output  # type: ignore[attr-defined]

    # Second warm-up run (engine, no Prefect): the baseline freezes.
    ws = Workspace(load_config(path))
    run_canary(ws, models=["support-bot"], as_of=T0)
    assert ws.store.list_baselines("canary", "support-bot")

    # 1: the model starts transposing every EU date -> an incident is opened. (Against a 2-run
    # baseline, 3 of 12 failing probes are not significant at q = 0.001 once repetitions are
    # not counted as independent trials; this test is about the exit code.)
    url = simulator_url(ws.config.simulator)
    set_scenario(url, "date_transposition", rate=1.0)
    try:
        result = _run(path, (T0 + timedelta(hours=1)).isoformat())
    finally:
        set_scenario(url, "baseline")
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "INC-" in result.output  # type: ignore[attr-defined]

    # 2: a configuration that does not validate (nothing runs).
    bad = tmp_path / "bad"
    bad.mkdir()
    text = path.read_text(encoding="utf-8")
    broken = re.sub(r'"?warmup_runs"? = 2', "warmup_runs = 0", text, count=1)
    assert broken != text
    (bad / "canaryflow.toml").write_text(broken, encoding="utf-8")
    result = _run(bad / "canaryflow.toml", T0.isoformat())
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "warmup_runs" in result.output  # type: ignore[attr-defined]
