"""The ``[judge]`` additions load, default and fail with a clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from canaryflow.config import load_config
from canaryflow.errors import ConfigErrors


def test_judge_section(tmp_path: Path) -> None:
    path = tmp_path / "canaryflow.toml"
    path.write_text(
        '[models.g]\nprovider = "simulator"\nmodel = "m"\n'
        '[judge]\nmodel = "g"\nrubric = "faithfulness"\nsamples = 3\nbudget_calls = 10\n'
        "budget_usd = 0.5\n[judge.review]\nlow_score = 1\nspot_check = 0.1\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.judge.samples == 3 and cfg.judge.budget_calls == 10
    assert cfg.judge.review.low_score == 1 and cfg.judge.review.negative_feedback
    assert cfg.judge.mode == "auto" and cfg.judge.rubric_dir is None
    path.write_text('[judge]\nsamples = 0\nmode = "xml"\n', encoding="utf-8")
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    lines = [e.line() for e in info.value.errors]
    assert any("judge.samples" in line for line in lines), lines
    assert any("judge.mode: expected one of" in line for line in lines), lines
