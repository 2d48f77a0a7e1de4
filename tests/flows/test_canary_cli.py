"""``canaryflow run canary`` exit codes (0 healthy or warm-up, 1 incident, 2 bad configuration,
4 internal error) and a user's own project directory run from anywhere.

The flows come from the installed package; the flow runs on the session's Prefect test server
against the bundled simulator.
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from canary_env import PROBES, T0, write_config
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
    path = write_config(tmp_path, seed=SEED, warmup_runs=12)

    # 0: a warm-up run.
    result = _run(path, (T0 - timedelta(hours=1)).isoformat())
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "warmup" in result.output  # type: ignore[attr-defined]

    # The rest of the warm-up (engine, no Prefect): the baseline freezes.
    ws = Workspace(load_config(path))
    for h in [*range(11, 1, -1), 0]:  # with the CLI run at T0 - 1h: 12 runs
        run_canary(ws, models=["support-bot"], as_of=T0 - timedelta(hours=h))
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
    broken = re.sub(r'"?warmup_runs"? = 12', "warmup_runs = 5", text, count=1)
    assert broken != text
    (bad / "canaryflow.toml").write_text(broken, encoding="utf-8")
    result = _run(bad / "canaryflow.toml", T0.isoformat())
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "warmup_runs" in result.output and "at least 12" in result.output  # type: ignore[attr-defined]


@pytest.mark.usefixtures("prefect_harness")
def test_a_users_project_holds_only_their_files_and_runs_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 12: relative paths resolved against the cwd (a new empty store elsewhere) and
    `run canary` needed flows/ next to the config."""
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")
    project = tmp_path / "my-llm-app"
    (project / "probes").mkdir(parents=True)
    shutil.copy(PROBES / "dates_eu.yaml", project / "probes" / "dates_eu.yaml")
    (project / "canaryflow.toml").write_text(
        '[store]\nurl = "sqlite:///.canaryflow/cf.db"\n'
        '[models.bot]\nprovider = "simulator"\nmodel = "claude-sim-1"\n'
        "[simulator]\nseed = 7455\n"
        '[canary]\nprobes_dir = "probes"\n'
        '[reports]\ndir = "reports"\n'
        '[sinks.file]\ndir = "reports/incidents"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(
        app, ["run", "canary", "-c", str(project / "canaryflow.toml"), "--as-of", T0.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert (project / ".canaryflow" / "cf.db").exists()
    assert list((project / "reports" / "canary").glob("*.md"))
    assert sorted(p.name for p in project.iterdir()) == [
        ".canaryflow",
        "canaryflow.toml",
        "probes",
        "reports",
    ]
    assert list(elsewhere.iterdir()) == [], "nothing may be written in the current directory"


def test_backfill_names_the_broken_probe_files_it_skipped(tmp_path: Path) -> None:
    """Defect 15: `backfill` hid broken probe files (exit 0, nothing printed)."""
    probes = tmp_path / "probes"
    probes.mkdir()
    shutil.copy(PROBES / "dates_eu.yaml", probes / "dates_eu.yaml")
    (probes / "broken.yaml").write_text("id: x\nprompt: [unclosed\n", encoding="utf-8")
    path = write_config(tmp_path, seed=SEED + 7, warmup_runs=12, probes_dir=probes)
    result = runner.invoke(
        app, ["backfill", "canary", "--runs", "1", "-c", str(path), "-m", "support-bot"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "broken.yaml:" in result.output


@pytest.mark.usefixtures("prefect_harness")
def test_a_flow_run_stuck_running_is_finished_as_crashed(tmp_path: Path) -> None:
    """Defect 8: Prefect flow runs of a killed process stayed RUNNING forever."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from canaryflow.flows.canary import hourly_canary

    path = write_config(tmp_path, seed=SEED + 8, alerts={"canary": {"stale_run_minutes": 1e-6}})
    with get_client(sync_client=True) as client:
        stuck = client.create_flow_run(hourly_canary, parameters={"config_path": str(path)})
        client.set_flow_run_state(stuck.id, Running(), force=True)
    hourly_canary(models=["support-bot"], as_of=T0, config_path=str(path))
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(stuck.id).state
    assert state is not None and state.type.value == "CRASHED"
    assert "finished as crashed" in (state.message or "")
