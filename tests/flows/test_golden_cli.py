"""``canaryflow run golden`` and ``canaryflow backfill golden`` through the CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from canary_env import T0
from golden_env import write_golden_config
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import load_config
from canaryflow.runs import Workspace

runner = CliRunner()
SEED = 9500


@pytest.mark.usefixtures("prefect_harness")
def test_backfill_prints_the_judge_estimate_then_run_golden_monitors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")  # the CLI sets it; restore after
    path = write_golden_config(tmp_path, seed=SEED, warmup_runs=2)
    common = ["--config", str(path), "--model", "extractor", "--set", "rag_qa"]
    res = runner.invoke(
        app,
        [
            "backfill",
            "golden",
            "--runs",
            "2",
            "--end",
            (T0 - timedelta(days=1)).isoformat(),
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    out = res.output.replace("\n", " ")
    assert "faithfulness: judge estimate:" in out and "new call(s)" in out
    assert out.index("judge estimate") < out.index("last of 2 backfilled runs")
    ws = Workspace(load_config(path))
    assert [b.subject for b in ws.store.list_baselines("golden", "extractor")] == ["rag_qa"]
    judged = [i for i in ws.store.items_for_runs([r.run_id for r in ws.store.list_runs("golden")])]
    assert judged and all(i.extra.get("judge") for i in judged)  # every attempt scored

    res = runner.invoke(app, ["run", "golden", "--as-of", T0.isoformat(), *common])
    assert res.exit_code == 0, res.output
    assert "monitor" in res.output and "pass" in res.output
    # Killed or not, a backfill started again leaves finished days as they are.
    again = runner.invoke(
        app,
        [
            "backfill",
            "golden",
            "--runs",
            "2",
            "--end",
            (T0 - timedelta(days=1)).isoformat(),
            *common,
        ],
    )
    assert again.exit_code == 0 and "already run" in again.output
