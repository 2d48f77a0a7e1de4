"""User signals and business metrics per window; the cost-spike investigation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from prod_env import START, settings, source

from canaryflow.production import compute_windows, investigate_cost
from canaryflow.production.generator import Change, TrafficSpec, generate, write

END = START + timedelta(hours=6)


def _reference_signals(records: pd.DataFrame, signals: pd.DataFrame) -> dict:
    rec = records.assign(window_start=records["timestamp"].dt.floor("15min"))
    kinds = signals.groupby("request_id")["signal_type"].agg(set)
    sess = signals.groupby("session_id")["signal_type"].agg(set)
    rec["sig"] = rec["request_id"].map(kinds).apply(lambda s: s if isinstance(s, set) else set())
    rec["ssig"] = rec["session_id"].map(sess).apply(lambda s: s if isinstance(s, set) else set())
    out = {}
    for key, g in rec.groupby(["window_start", "feature_id", "model_id"]):
        up = g["sig"].map(lambda s: "thumbs_up" in s)
        down = g["sig"].map(lambda s: "thumbs_down" in s)
        sessions = g["session_id"].nunique()
        fb_sessions = g.loc[up | down, "session_id"].nunique()
        abandoned = g.loc[g["ssig"].map(lambda s: "abandon" in s), "session_id"].nunique()
        done = g.loc[g["ssig"].map(lambda s: "task_complete" in s), "session_id"].nunique()
        out[(key[0].to_pydatetime(), key[1], key[2])] = {
            "feedback_rate": (up | down).mean(),
            "feedback_coverage": fb_sessions / sessions,
            "satisfaction": up.sum() / (up.sum() + down.sum()) if (up | down).any() else None,
            "correction_rate": g["sig"].map(lambda s: "correction" in s).mean(),
            "follow_up_rate": g["sig"].map(lambda s: "follow_up" in s).mean(),
            "abandonment_rate": abandoned / sessions,
            "task_completion_rate": done / sessions,
            "turns_per_session": len(g) / sessions,
        }
    return out


def test_signal_metrics_equal_a_pandas_reference(traffic, traffic_dir: Path) -> None:
    src = source(traffic_dir / "all.parquet", "parquet", signals=str(traffic_dir / "signals.jsonl"))
    results, _ = compute_windows(src, settings(), START, END)
    got = {
        (r["window_start"].to_pydatetime(), r["feature_id"], r["model_id"]): r
        for w in results
        for r in w.signals
    }
    want = _reference_signals(traffic.records, traffic.signals)
    assert got.keys() == want.keys()
    for key, ref in want.items():
        for name, value in ref.items():
            if value is None:
                assert got[key][name] is None
            else:
                assert got[key][name] == pytest.approx(value, rel=1e-12), (key, name)


def test_survivorship_bias_flag(tmp_path: Path) -> None:
    """High abandonment behind a high thumbs-up rate is flagged; the normal traffic is not."""
    spec = TrafficSpec(start=START, days=0.25, rate_per_min=10, seed=3, thumbs_up_share=0.95)
    normal = generate(spec)
    biased = generate(TrafficSpec(**{**spec.__dict__, "abandon_rate": 0.7, "complete_rate": 0.2}))
    flags = {}
    for name, t in (("normal", normal), ("biased", biased)):
        write(t.records, tmp_path / name / "r.parquet")
        write(t.signals, tmp_path / name / "s.jsonl")
        src = source(
            tmp_path / name / "r.parquet", "parquet", signals=str(tmp_path / name / "s.jsonl")
        )
        results, _ = compute_windows(src, settings(window=timedelta(hours=6)), START, END)
        flags[name] = [r["survivorship_bias"] for w in results for r in w.signals]
    assert not any(flags["normal"])
    assert all(flags["biased"])


def test_cost_spike_investigation_finds_the_user_and_the_looping_prompt(tmp_path: Path) -> None:
    onset = START + timedelta(hours=3)
    t = generate(
        TrafficSpec(
            start=START,
            days=0.25,
            rate_per_min=10,
            seed=5,
            changes=(Change("cost_spike", onset, user="user-loop", magnitude=4),),
        )
    )
    path = write(t.records, tmp_path / "r.parquet")
    src = source(path, "parquet")
    report = investigate_cost(src, onset, END)
    assert report["top_users"][0]["user_id"] == "user-loop"
    assert report["top_users"][0]["share"] > 0.5
    assert report["top_requests"][0]["user_id"] == "user-loop"
    loop = report["repeated_prompts"][0]
    assert loop["user_ids"] == ["user-loop"] and loop["n"] > 100
    assert sum(report["by_feature"].values()) == pytest.approx(report["cost_usd"])
    before = investigate_cost(src, START, onset)
    assert all(u["user_id"] != "user-loop" for u in before["top_users"])
    assert before["requests"] + report["requests"] == len(t.records)


def test_investigation_redacts_prompts(tmp_path: Path) -> None:
    t = generate(TrafficSpec(start=START, days=0.05, rate_per_min=10, seed=1))
    t.records["input"] = "Call me at jane.doe@example.com about the invoice"
    path = write(t.records, tmp_path / "r.jsonl")
    report = investigate_cost(source(path, "jsonl"), START, datetime(2027, 1, 1, tzinfo=UTC))
    example = report["repeated_prompts"][0]["example"]
    assert "jane.doe" not in example and "[EMAIL]" in example
