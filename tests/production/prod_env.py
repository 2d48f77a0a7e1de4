"""Generated production traffic written in every source format, shared by the engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from canaryflow.production import ProductionSource, Settings
from canaryflow.production.generator import Traffic, TrafficSpec, generate, write

START = datetime(2026, 11, 1, tzinfo=UTC)
PRICES = {"claude-sonnet-4": (3.0, 15.0), "gpt-4o-mini": (0.15, 0.6), "claude-haiku-4": (1.0, 5.0)}


@pytest.fixture(scope="session")
def traffic() -> Traffic:
    """Six hours of traffic, about 3,600 requests, with signals."""
    return generate(TrafficSpec(start=START, days=0.25, rate_per_min=10, seed=7))


@pytest.fixture(scope="session")
def traffic_dir(tmp_path_factory: pytest.TempPathFactory, traffic: Traffic) -> Path:
    """The traffic as JSONL (in 3 files split by time), CSV, Parquet, and signals JSONL."""
    d = tmp_path_factory.mktemp("traffic")
    rec = traffic.records
    bounds = [START + timedelta(hours=h) for h in (0, 2, 4, 6)]
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        part = rec[(rec["timestamp"] >= a) & (rec["timestamp"] < b)]
        write(part, d / "jsonl" / f"part-{i}.jsonl")
    write(rec, d / "all.csv")
    write(rec, d / "all.parquet")
    write(traffic.signals, d / "signals.jsonl")
    return d


def source(path: Path | str, kind: str, **kw: object) -> ProductionSource:
    """A source over ``path`` with the test prices and the generated signals."""
    return ProductionSource(records=str(path), kind=kind, prices=dict(PRICES), **kw)  # type: ignore[arg-type]


def settings(**kw: object) -> Settings:
    return Settings(**kw)  # type: ignore[arg-type]


def reference_ops(records, window_minutes: int = 15):  # type: ignore[no-untyped-def]
    """Per window x feature x model, computed the slow obvious way with pandas and numpy."""
    import numpy as np
    import pandas as pd

    df = records.copy()
    df["window_start"] = df["timestamp"].dt.floor(f"{window_minutes}min")
    price_in = df["model_id"].map(lambda m: PRICES[m][0])
    price_out = df["model_id"].map(lambda m: PRICES[m][1])
    df["cost"] = (df["input_tokens"] * price_in + df["output_tokens"] * price_out) / 1e6
    df["ok"] = df["error"].isna()
    out = {}
    for key, g in df.groupby(["window_start", "feature_id", "model_id"]):
        ok = g[g["ok"]]
        row = {
            "n": len(g),
            "error_rate": (~g["ok"]).mean(),
            "refusal_rate": (g["finish_reason"] == "refusal").mean(),
            "truncation_rate": (g["finish_reason"] == "length").mean(),
            "cost_usd": g["cost"].sum(),
            "output_tokens": int(g["output_tokens"].sum()),
        }
        for col in ("latency_ms", "ttft_ms", "tbt_ms"):
            vals = ok[col].dropna().to_numpy()
            qs = np.quantile(vals, [0.5, 0.95, 0.99]) if len(vals) else [None] * 3
            for q, v in zip((50, 95, 99), qs, strict=True):
                row[f"{col}_p{q}"] = v
        out[(pd.Timestamp(key[0]).to_pydatetime(), key[1], key[2])] = row
    return out


def by_key(results):  # type: ignore[no-untyped-def]
    """``{(window_start, feature, model): ops row}`` of computed windows."""
    return {
        (r["window_start"].to_pydatetime(), r["feature_id"], r["model_id"]): r
        for w in results
        for r in w.ops
    }
