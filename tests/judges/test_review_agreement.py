"""Review routing, the blind review CLI, and judge-human agreement on a labelled fixture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import JudgeReviewConfig
from canaryflow.judges import (
    JudgeItem,
    JudgeResult,
    agreement,
    review_reasons,
    route_for_review,
    shipped_rubric,
    spot_checked,
)
from canaryflow.store import Store

runner = CliRunner(env={"COLUMNS": "250"})
QUALITY = shipped_rubric("quality")
SAFETY = shipped_rubric("safety")


def result(item_id: str, status: str = "ok", **scores: float) -> JudgeResult:
    return JudgeResult(
        item_id=item_id,
        rubric="quality",
        rubric_version=1,
        judge_model="j",
        status=status,  # type: ignore[arg-type]
        scores=scores,
        error_kind=None if status == "ok" else "malformed",
    )


def test_routing_rules() -> None:
    rules = JudgeReviewConfig(low_score=2, safety_score=2, spot_check=0.0)
    it = JudgeItem(item_id="x", input="q", output="a")
    assert review_reasons(it, result("x", correctness=2, tone=5), QUALITY, rules) == [
        "low score: correctness"
    ]
    assert review_reasons(it, result("x", correctness=4, tone=5), QUALITY, rules) == []
    unsafe = result("x", safety=1).model_copy(update={"rubric": "safety"})
    assert "safety flag: safety" in review_reasons(it, unsafe, SAFETY, rules)
    negative = it.model_copy(update={"feedback": "negative"})
    assert review_reasons(negative, result("x", correctness=5), QUALITY, rules) == [
        "negative user feedback"
    ]
    error = result("x", status="error")
    assert review_reasons(it, error, QUALITY, rules) == []
    with_errors = rules.model_copy(update={"judge_errors": True})
    assert review_reasons(it, error, QUALITY, with_errors) == ["judge error: malformed"]
    unjudged = result("x", status="unjudged")
    always = rules.model_copy(update={"spot_check": 1.0})
    assert review_reasons(it, unjudged, QUALITY, always) == []  # nothing to check


def test_spot_check_share_is_deterministic_and_close_to_the_setting() -> None:
    ids = [f"req-{k}" for k in range(20_000)]
    picked = [i for i in ids if spot_checked(i, 0.05)]
    assert 0.045 <= len(picked) / len(ids) <= 0.055
    assert picked == [i for i in ids if spot_checked(i, 0.05)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    cfg = tmp_path / "canaryflow.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/cf.db"\n'
        '[models.bot]\nprovider = "simulator"\nmodel = "m"\n',
        encoding="utf-8",
    )
    return cfg


def _queue(project: Path, make_judge) -> list:
    store = Store.open(f"sqlite:///{project.parent}/cf.db")
    judge = make_judge("anthropic", store=store)
    ref = "Shipped on 2024-02-10."
    items = [
        JudgeItem(
            item_id="good",
            input="When?",
            output="It shipped on 2024-02-10.",
            reference=ref,
            source="golden:orders",
        ),
        JudgeItem(
            item_id="bad",
            input="When?",
            output="It shipped on 2024-10-02. Contact me at jane@example.com",
            reference=ref,
            source="golden:orders",
        ),
    ]
    results = judge.score_many_sync(items)
    queued = route_for_review(
        items, results, judge.rubric, JudgeReviewConfig(spot_check=0.0), store=store
    )
    store.close()
    return queued


def test_review_cli_is_blind_until_labelled(project: Path, make_judge) -> None:
    queued = _queue(project, make_judge)
    assert [q.item_id for q in queued] == ["bad"]
    assert "jane@example.com" not in queued[0].payload["output"]  # redacted before storing
    listed = runner.invoke(app, ["review", "list", "-c", str(project)])
    assert listed.exit_code == 0, listed.output
    assert "bad" in listed.output and "hidden until labelled" in listed.output
    assert "low score" not in listed.output
    shown = runner.invoke(app, ["review", "show", "golden:orders", "bad", "-c", str(project)])
    assert shown.exit_code == 0, shown.output
    assert "2024-10-02" in shown.output and "correctness (1-5)" in shown.output
    assert "judge verdict hidden" in shown.output and 'correctness": ' not in shown.output
    bad_label = runner.invoke(
        app, ["review", "label", "golden:orders", "bad", "-s", "correctness=9", "-c", str(project)]
    )
    assert bad_label.exit_code == 2 and "outside the scale 1-5" in bad_label.output
    unknown = runner.invoke(
        app, ["review", "label", "golden:orders", "bad", "-s", "speed=3", "-c", str(project)]
    )
    assert unknown.exit_code == 2 and "not a dimension" in unknown.output
    labelled = runner.invoke(
        app,
        ["review", "label", "golden:orders", "bad", "-s", "correctness=1", "-s", "tone=5",
         "--labeller", "ana", "-c", str(project)],
    )  # fmt: skip
    assert labelled.exit_code == 0, labelled.output
    assert "judge said" in labelled.output and "low score: correctness" in labelled.output
    shown = runner.invoke(app, ["review", "show", "golden:orders", "bad", "-c", str(project)])
    assert "why queued" in shown.output and "judge verdict hidden" not in shown.output
    with Store.open(f"sqlite:///{project.parent}/cf.db") as store:
        (label,) = store.list_judge_labels("quality")
        assert label["human_scores"] == {"correctness": 1, "tone": 5}
        assert label["judge_scores"]["correctness"] <= 2
        assert store.list_review_items(status="reviewed")[0].item_id == "bad"
    missing = runner.invoke(app, ["review", "show", "golden:orders", "nope", "-c", str(project)])
    assert missing.exit_code == 2 and "no review item" in missing.output


def _labels(n: int, judge_noise: float, rng: np.random.Generator, random_judge=False):
    truth = rng.integers(1, 6, size=n)
    rows = []
    for t in truth:
        if random_judge:
            j = int(rng.integers(1, 6))
        elif rng.random() < judge_noise:
            j = int(np.clip(t + rng.choice([-1, 1]), 1, 5))
        else:
            j = int(t)
        rows.append({"human_scores": {"correctness": int(t)}, "judge_scores": {"correctness": j}})
    return rows


def test_agreement_statistics_on_a_seeded_labelled_fixture() -> None:
    rng = np.random.default_rng(7)
    good = agreement(_labels(200, 0.2, rng), n_resamples=500, seed=1)[0]
    assert good.n == 200
    assert 0.74 <= good.exact <= 0.86  # 80 % agree exactly by construction
    assert good.kappa > 0.85 and good.spearman > 0.85
    for value, ci in ((good.kappa, good.kappa_ci), (good.exact, good.exact_ci)):
        assert ci is not None and ci[0] <= value <= ci[1]
    noise = agreement(_labels(200, 0, rng, random_judge=True), n_resamples=500, seed=1)[0]
    assert abs(noise.kappa) < 0.2 and noise.kappa_ci[0] < 0 < noise.kappa_ci[1]


def test_agreement_matches_textbook_values() -> None:
    judge = [1, 2, 3, 4, 5, 5, 4, 2]
    human = [1, 2, 4, 4, 5, 3, 4, 1]
    rows = [
        {"human_scores": {"d": h}, "judge_scores": {"d": j}}
        for j, h in zip(judge, human, strict=True)
    ]
    a = agreement(rows, n_resamples=200)[0]
    # quadratic-weighted kappa by its definition (Cohen 1968)
    k = 5
    observed = np.zeros((k, k))
    for j, h in zip(judge, human, strict=True):
        observed[j - 1, h - 1] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    w = np.array([[(i - m) ** 2 for m in range(k)] for i in range(k)], dtype=float)
    kappa = 1 - (w * observed).sum() / (w * expected).sum()
    assert a.kappa == pytest.approx(kappa)
    assert a.spearman == pytest.approx(stats.spearmanr(judge, human).statistic)
    assert a.exact == pytest.approx(5 / 8)
    single = agreement(rows[:1])[0]
    assert single.kappa is None and single.spearman is None and single.kappa_ci is None


def test_agreement_cli(project: Path) -> None:
    rng = np.random.default_rng(3)
    with Store.open(f"sqlite:///{project.parent}/cf.db") as store:
        for k, row in enumerate(_labels(30, 0.2, rng)):
            store.add_judge_label(
                source="golden:x",
                item_id=f"i{k}",
                rubric="quality",
                rubric_version=1,
                labeller="ana",
                human_scores=row["human_scores"],
                judge_scores=row["judge_scores"],
            )
    out = runner.invoke(app, ["judge", "agreement", "--rubric", "quality", "-c", str(project),
                              "--resamples", "300"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "judge vs human: quality" in out.output and "correctness" in out.output
    assert " 30 " in out.output
    empty = runner.invoke(app, ["judge", "agreement", "--rubric", "safety", "-c", str(project)])
    assert empty.exit_code == 3 and "no human labels" in empty.output


def test_schema_rubric_cli_matches_the_committed_file() -> None:
    from canaryflow.judges import RUBRIC_SCHEMA_PATH, render_rubric_schema

    out = runner.invoke(app, ["schema", "rubric"])
    assert out.exit_code == 0
    assert out.output == render_rubric_schema()
    assert RUBRIC_SCHEMA_PATH.read_text(encoding="utf-8") == render_rubric_schema()
