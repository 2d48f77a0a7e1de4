"""End to end on a labelled fixture: judge 24 invoice answers with the simulator, queue them,
label them through the CLI with the fixture's human scores, and measure agreement."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import JudgeReviewConfig
from canaryflow.judges import JudgeItem, agreement, route_for_review
from canaryflow.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "labelled_invoices.jsonl"
runner = CliRunner(env={"COLUMNS": "250"})


def test_agreement_on_the_labelled_fixture(tmp_path: Path, make_judge) -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 24
    cfg = tmp_path / "canaryflow.toml"
    url = f"sqlite:///{tmp_path}/cf.db"
    cfg.write_text(
        f'[store]\nurl = "{url}"\n[models.bot]\nprovider = "simulator"\nmodel = "m"\n',
        encoding="utf-8",
    )
    items = [
        JudgeItem(
            item_id=r["item_id"],
            input=r["input"],
            output=r["output"],
            reference=r["reference"],
            source="golden:invoices",
        )
        for r in rows
    ]
    with Store.open(url) as store:
        judge = make_judge("anthropic", store=store)
        results = judge.score_many_sync(items)
        assert all(r.ok for r in results)
        everything = JudgeReviewConfig(low_score=None, safety_score=None, spot_check=1.0)
        queued = route_for_review(items, results, judge.rubric, everything, store=store)
        assert len(queued) == 24
    for r in rows:
        args = ["review", "label", "golden:invoices", r["item_id"], "-c", str(cfg)]
        for dim, score in r["human"].items():
            args += ["-s", f"{dim}={score}"]
        out = runner.invoke(app, args)
        assert out.exit_code == 0, out.output
    with Store.open(url) as store:
        labels = store.list_judge_labels("quality")
    stats = {a.dimension: a for a in agreement(labels, n_resamples=1000, seed=0)}
    assert set(stats) == {"correctness", "completeness"}
    corr = stats["correctness"]
    assert corr.n == 24
    # the simulator judge checks dates and amounts, as the human did: strong agreement
    assert corr.kappa is not None and corr.kappa > 0.8
    assert corr.spearman is not None and corr.spearman > 0.8
    assert corr.kappa_ci is not None and corr.kappa_ci[0] <= corr.kappa <= corr.kappa_ci[1]
    report = runner.invoke(app, ["judge", "agreement", "-c", str(cfg), "--resamples", "500"])
    assert report.exit_code == 0, report.output
    assert "correctness" in report.output and "completeness" in report.output
