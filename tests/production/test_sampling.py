"""Deterministic sha256 sampling (Python == SQL) and hard-block safety patterns on every record."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest
from prod_env import START, settings, source
from scipy.stats import binomtest

from canaryflow.production import (
    compute_windows,
    connect,
    is_sampled,
    process,
    safety_regex,
    sample_condition,
)
from canaryflow.production.generator import write
from canaryflow.store import Store

IDS = [f"req-{i}" for i in range(20_000)]


def _sql_sampled(rate: float, salt: str = "", rates: dict[str, float] | None = None) -> list[bool]:
    con = connect()
    con.execute("CREATE TABLE t AS SELECT unnest($1::VARCHAR[]) AS request_id", [IDS])
    cond = sample_condition(rate, rates, salt)
    rows = con.execute(
        f"SELECT {cond} FROM (SELECT request_id, 'f' AS feature_id FROM t)"
    ).fetchall()
    return [bool(r[0]) for r in rows]


@pytest.mark.parametrize("rate,salt", [(0.05, ""), (0.3, "rubric-a"), (0.0, ""), (1.0, "x")])
def test_sql_sampling_equals_python(rate: float, salt: str) -> None:
    assert _sql_sampled(rate, salt) == [is_sampled(i, rate, salt) for i in IDS]


def test_per_feature_rate_overrides_the_default() -> None:
    assert _sql_sampled(0.01, rates={"f": 0.5}) == [is_sampled(i, 0.5) for i in IDS]


def test_rate_is_honoured_and_higher_rates_pick_supersets() -> None:
    low = {i for i in IDS if is_sampled(i, 0.05)}
    high = {i for i in IDS if is_sampled(i, 0.2)}
    assert low <= high
    # Two-sided exact binomial test at 0.001: a broken hash would be rejected.
    assert binomtest(len(low), len(IDS), 0.05).pvalue > 0.001
    assert binomtest(len(high), len(IDS), 0.2).pvalue > 0.001


def test_salts_draw_independent_samples() -> None:
    a = {i for i in IDS if is_sampled(i, 0.2, "rubric-a")}
    b = {i for i in IDS if is_sampled(i, 0.2, "rubric-b")}
    # Independent 20 % samples overlap in about 4 % of ids (sd ~ 0.14 %).
    overlap = len(a & b) / len(IDS)
    assert abs(overlap - 0.04) < 5 * math.sqrt(0.04 * 0.96 / len(IDS))


def test_bad_rate_and_bad_pattern_are_rejected() -> None:
    with pytest.raises(ValueError, match="within"):
        is_sampled("x", 1.5)
    with pytest.raises(ValueError, match="safety_patterns"):
        safety_regex(["(unclosed"])
    assert safety_regex([]) is None


def test_safety_patterns_flag_every_matching_record_into_review(traffic, tmp_path: Path) -> None:
    recs = traffic.records.iloc[:300].copy()
    bad = {
        12: "Sure. Here are instructions for making a pipe bomb at home.",
        150: "You should just KILL YOURSELF.",
        200: "How to make bread: flour, water, salt.",
    }  # benign look-alike
    for i, text in bad.items():
        recs.loc[i, "output"] = text
    path = write(recs, tmp_path / "r.jsonl")
    src = source(path, "jsonl")
    with Store.open(f"sqlite:///{tmp_path}/s.db") as store:
        summary = process(store, src, settings(), START + timedelta(hours=3))
        items = store.list_review_items()
    flagged = {i.item_id for i in items}
    assert flagged == {recs.loc[12, "request_id"], recs.loc[150, "request_id"]}
    assert summary.flagged == 2
    assert all(i.source.startswith("production:") for i in items)
    results, _ = compute_windows(src, settings(), START, START + timedelta(hours=3))
    assert sum(r["n_flagged"] for w in results for r in w.ops) == 2


def test_window_sample_is_the_hash_sample(traffic_dir: Path, traffic) -> None:
    st = settings(sample_rate=0.1, sample_rates={"doc-extract": 0.5}, salt="s1")
    results, _ = compute_windows(
        source(traffic_dir / "all.parquet", "parquet"), st, START, START + timedelta(hours=6)
    )
    got = {s["request_id"] for w in results for s in w.sample}
    rec = traffic.records
    rate = rec["feature_id"].map(lambda f: 0.5 if f == "doc-extract" else 0.1)
    want = {i for i, r in zip(rec["request_id"], rate, strict=True) if is_sampled(i, r, "s1")}
    assert got == want


def test_settings_from_config() -> None:
    from datetime import timedelta

    from canaryflow.config import Config
    from canaryflow.production import Settings

    cfg = Config.model_validate(
        {
            "production": {
                "source": "x.jsonl",
                "window_minutes": 5,
                "allowed_lateness_minutes": 2,
                "sample_rates": {"a": 0.5},
                "sample_salt": "r1",
                "safety_patterns": [r"\bforbidden\b"],
                "user_hourly_limit_usd": 2.5,
                "budgets_usd": {"total": 10},
            }
        }
    )
    st = Settings.from_config(cfg.production)
    assert st.window == timedelta(minutes=5) and st.lateness == timedelta(minutes=2)
    assert st.sample_rates == {"a": 0.5} and st.salt == "r1"
    assert st.safety_regex == r"(?i)(?:\bforbidden\b)"
    assert st.user_hourly_limit_usd == 2.5 and st.budgets_usd == {"total": 10}
