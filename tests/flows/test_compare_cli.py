"""``canaryflow compare`` (the model-upgrade gate) and its Prefect flow, on the shipped config
with the bundled simulator serving a silently worse candidate (``support-bot-next``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from golden_env import write_golden_config
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import load_config
from canaryflow.runs import Workspace

SEED = 9400
runner = CliRunner()


def _tiny_set(golden_dir: Path, n: int = 5) -> str:
    """A copy of the extraction set cut to ``n`` items (below its ``min_items`` of 20)."""
    shutil.copy(golden_dir / "financial_extraction.yaml", golden_dir / "tiny.yaml")
    lines = (golden_dir / "financial_extraction.jsonl").read_text(encoding="utf-8").splitlines()
    items = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("//")][:n]
    (golden_dir / "tiny.jsonl").write_text("\n".join(items) + "\n", encoding="utf-8")
    return "tiny"


def test_compare_candidate_regression_exits_1_with_a_pr_ready_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_golden_config(tmp_path, seed=SEED)
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "ci-reports"
    res = runner.invoke(
        app,
        [
            "compare",
            "--baseline",
            "support-bot",
            "--candidate",
            "support-bot-next",
            "--report-dir",
            str(out),
            "--full-report-url",
            "https://ci.example/run/1",
            "--config",
            str(path),
        ],
    )
    assert res.exit_code == 1, res.output
    comment = out / "compare" / "support-bot-next-vs-support-bot.md"
    text = comment.read_text(encoding="utf-8")
    assert text.startswith("<!-- canaryflow-compare -->")
    assert "Verdict: REGRESSION" in text and len(text) < 65_536
    for name in ("financial\\_extraction", "rag\\_qa", "support\\_bot"):
        assert name in text
    assert summary.read_text(encoding="utf-8").strip() == text.strip()
    data = json.loads((out / "compare" / "support-bot-next-vs-support-bot.json").read_text())
    assert data["verdict"] == "regression" and data["flips"]
    assert any(g["metric"].startswith("score:") for g in data["groups"])  # the judge scored

    # Stored: both sides are upgrade runs and the comparison re-renders identically.
    ws = Workspace(load_config(path))
    runs = ws.store.list_runs("upgrade")
    assert {r.model for r in runs} == {"support-bot", "support-bot-next"}
    cand = next(r for r in runs if r.summary.get("side") == "candidate")
    comment.unlink()
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    again = runner.invoke(
        app,
        [
            "compare",
            "--rerender",
            cand.run_id,
            "--report-dir",
            str(out),
            "--full-report-url",
            "https://ci.example/run/1",
            "--config",
            str(path),
        ],
    )
    assert again.exit_code == 1, again.output
    assert comment.read_text(encoding="utf-8") == text

    # The same model against itself is never a regression (judge replies are cached now).
    same = runner.invoke(
        app,
        ["compare", "--baseline", "support-bot", "--candidate", "support-bot", "-c", str(path)],
    )
    assert same.exit_code in (0, 3), same.output
    if same.exit_code == 3:
        assert "inconclusive" in same.output


def test_compare_exit_codes_for_inconclusive_and_usage_errors(tmp_path: Path) -> None:
    path = write_golden_config(tmp_path, seed=SEED + 1)
    tiny = _tiny_set(tmp_path / "golden_sets")
    base = ["compare", "--baseline", "extractor", "--candidate", "extractor", "-c", str(path)]
    res = runner.invoke(app, [*base, "--golden", tiny])
    assert res.exit_code == 3, res.output
    assert "too few" in res.output.lower() or "fewer" in res.output.lower(), res.output
    res = runner.invoke(app, [*base, "--golden", tiny, "--fail-on-inconclusive"])
    assert res.exit_code == 1, res.output
    res = runner.invoke(app, [*base, "--golden", "no_such_set"])
    assert res.exit_code == 2 and "no_such_set" in res.output
    res = runner.invoke(
        app, ["compare", "--baseline", "nope", "--candidate", "extractor", "-c", str(path)]
    )
    assert res.exit_code == 2, res.output
    res = runner.invoke(app, ["compare", "--baseline", "extractor", "-c", str(path)])
    assert res.exit_code == 2, res.output
    res = runner.invoke(app, ["compare", "--rerender", "upgrade-nothing", "-c", str(path)])
    assert res.exit_code == 2, res.output


@pytest.mark.usefixtures("prefect_harness")
def test_upgrade_flow_with_probes_as_paired_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canary_env import PROBES
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from canaryflow.flows.upgrade import model_upgrade

    monkeypatch.delenv("CANARYFLOW_NO_ARTIFACTS", raising=False)
    path = write_golden_config(tmp_path, seed=SEED + 2)
    tiny = _tiny_set(tmp_path / "golden_sets")
    state = model_upgrade(
        baseline="extractor",
        candidate="extractor",
        golden=[tiny],
        probes=str(PROBES),
        config_path=str(path),
        return_state=True,
    )
    result = state.result()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    assert [a.type for a in artifacts] == ["markdown"]
    assert "canaryflow-compare" in str(artifacts[0].data)
    assert result["verdict"] in ("pass", "inconclusive") and not result["regressions"]
    data = json.loads(Path(result["report"]).with_suffix(".json").read_text(encoding="utf-8"))
    sets = {s["name"]: s for s in data["sets"]}
    assert set(sets) == {"tiny", "probes"}
    assert sets["probes"]["paired"] >= 50  # every probe, paired across the two models
    assert sets["tiny"]["verdict"] == "inconclusive"


def test_pairwise_judging_in_both_orders_is_reported_and_rerendered(tmp_path: Path) -> None:
    path = write_golden_config(tmp_path, seed=SEED + 3)
    args = ["--baseline", "support-bot", "--candidate", "support-bot-next", "-c", str(path)]
    res = runner.invoke(app, ["compare", *args, "--golden", "rag_qa", "--pairwise"])
    assert res.exit_code == 1, res.output
    comment = tmp_path / "reports" / "compare" / "support-bot-next-vs-support-bot.md"
    text = comment.read_text(encoding="utf-8")
    assert "### Pairwise judge, both orders" in text and len(text) < 65_536
    assert text.index("### Pairwise judge") < text.rindex("\n---\n")  # above the footer
    ws = Workspace(load_config(path))
    cand = next(r for r in ws.store.list_runs("upgrade") if r.summary.get("side") == "candidate")
    faith = cand.summary["pairwise"]["rag_qa"]["dimensions"]["faithfulness"]
    assert faith["baseline"] > faith["candidate"]  # the worse candidate loses head to head
    assert faith["baseline"] + faith["candidate"] + faith["tie"] == 42
    comment.unlink()
    again = runner.invoke(app, ["compare", "--rerender", cand.run_id, "-c", str(path)])
    assert again.exit_code == 1 and comment.read_text(encoding="utf-8") == text
