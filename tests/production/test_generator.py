"""The synthetic traffic generator: seeded, realistic enough, and its injected changes show."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prod_env import START, settings, source

from canaryflow.production import compute_windows
from canaryflow.production.generator import Change, TrafficSpec, generate, main, write

ONSET = START + timedelta(hours=3)
END = START + timedelta(hours=6)


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    spec = TrafficSpec(start=START, days=0.05, rate_per_min=10, seed=11)
    a, b = generate(spec), generate(spec)
    pd.testing.assert_frame_equal(a.records, b.records)
    pd.testing.assert_frame_equal(a.signals, b.signals)
    c = generate(TrafficSpec(start=START, days=0.05, rate_per_min=10, seed=12))
    assert not a.records["latency_ms"].equals(c.records["latency_ms"])


def test_traffic_shape() -> None:
    t = generate(TrafficSpec(start=START, days=1, rate_per_min=10, seed=1))
    rec = t.records
    assert rec["request_id"].is_unique
    assert rec["timestamp"].is_monotonic_increasing
    hourly = rec.groupby(rec["timestamp"].dt.hour).size()
    assert hourly.max() > 2.5 * hourly.min()  # diurnal curve
    assert rec["user_id"].value_counts().iloc[0] > 20 * rec["user_id"].value_counts().median()
    ok = rec[rec["error"].isna()]
    assert (ok["latency_ms"] > ok["ttft_ms"]).all()
    assert 0.002 < rec["error"].notna().mean() < 0.01
    assert set(rec["finish_reason"]) == {"stop", "length", "refusal", "error"}
    assert set(t.signals["signal_type"]) == {
        "thumbs_up",
        "thumbs_down",
        "correction",
        "follow_up",
        "abandon",
        "task_complete",
    }


def _ops_before_after(t, tmp_path: Path, feature: str, metric: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    path = write(t.records, tmp_path / "r.parquet")
    results, _ = compute_windows(
        source(path, "parquet"), settings(window=timedelta(hours=3)), START, END
    )
    before, after = results
    pick = lambda w: next(r for r in w.ops if r["feature_id"] == feature)[metric]  # noqa: E731
    return pick(before), pick(after)


@pytest.mark.parametrize(
    "kind,magnitude,metric,low,high",
    [
        ("ttft_regression", 3.0, "ttft_ms_p50", 2.5, 3.5),
        ("verbose_drift", 2.0, "output_tokens_mean", 1.7, 2.3),
    ],
)
def test_multiplicative_changes_hit_only_their_feature(
    tmp_path: Path, kind: str, magnitude: float, metric: str, low: float, high: float
) -> None:
    t = generate(
        TrafficSpec(
            start=START,
            days=0.25,
            rate_per_min=10,
            seed=2,
            changes=(Change(kind, ONSET, feature="doc-extract", magnitude=magnitude),),
        )  # type: ignore[arg-type]
    )
    b, a = _ops_before_after(t, tmp_path, "doc-extract", metric)
    assert low < a / b < high
    b2, a2 = _ops_before_after(t, tmp_path, "support-chat", metric)
    assert 0.85 < a2 / b2 < 1.15


def test_refusal_spike(tmp_path: Path) -> None:
    t = generate(
        TrafficSpec(
            start=START,
            days=0.25,
            rate_per_min=10,
            seed=2,
            changes=(Change("refusal_spike", ONSET, feature="summarize", magnitude=0.2),),
        )
    )
    b, a = _ops_before_after(t, tmp_path, "summarize", "refusal_rate")
    assert b < 0.04 and 0.14 < a < 0.26


def test_topic_shift_and_correctness_drop(tmp_path: Path) -> None:
    t = generate(
        TrafficSpec(
            start=START,
            days=0.25,
            rate_per_min=10,
            seed=4,
            changes=(
                Change("topic_shift", ONSET, feature="support-chat"),
                Change("correctness_drop", ONSET, feature="doc-extract", magnitude=0.3),
            ),
        )
    )
    rec = t.records.merge(t.truth, on="request_id")
    after = rec["timestamp"] >= ONSET
    shifted = rec["input"].str.contains("kubernetes|terraform|gpu cluster|helm chart")
    assert not shifted[~after].any()
    assert shifted[after & (rec["feature_id"] == "support-chat")].mean() > 0.5
    assert not shifted[after & (rec["feature_id"] != "support-chat")].any()
    wrong = ~rec["correct"]
    assert not wrong[~after].any()
    extract_after = after & (rec["feature_id"] == "doc-extract")
    assert 0.2 < wrong[extract_after].mean() < 0.4
    # A wrong extraction gives the date transposed (DD and MM swapped), as in DESIGN §1.
    row = rec[wrong].iloc[0]
    day, month = row["input"].split("dated ")[1].split("/")[:2]
    assert f"2026-{int(day):02d}-{int(month):02d}" in row["output"]


def test_cli_writes_records_and_signals(tmp_path: Path) -> None:
    out, sig = tmp_path / "t.jsonl", tmp_path / "s.csv"
    assert (
        main(
            [
                "--out",
                str(out),
                "--signals",
                str(sig),
                "--days",
                "0.02",
                "--rate",
                "5",
                "--change",
                "ttft_regression@0.1:summarize:2",
            ]
        )
        == 0
    )
    rec = pd.read_json(out, lines=True)
    assert len(rec) > 50 and np.isin(["request_id", "ttft_ms"], rec.columns).all()
    assert len(pd.read_csv(sig)) > 0
