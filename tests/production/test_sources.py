"""Every source format yields the same window metrics; invalid rows are quarantined, not fatal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from prod_env import PRICES, START, by_key, reference_ops, settings, source
from sqlalchemy import create_engine

from canaryflow.config import Config
from canaryflow.errors import ConfigError
from canaryflow.production import ProductionSource, compute_windows
from canaryflow.production.generator import write, write_otel

END = START + timedelta(hours=6)


def _ops(src: ProductionSource):  # type: ignore[no-untyped-def]
    results, _ = compute_windows(src, settings(), START, END)
    return by_key(results)


def test_jsonl_metrics_equal_a_pandas_reference(traffic, traffic_dir: Path) -> None:
    got = _ops(source(traffic_dir / "jsonl" / "*.jsonl", "jsonl"))
    want = reference_ops(traffic.records)
    assert got.keys() == want.keys()
    for key, ref in want.items():
        row = got[key]
        for name, value in ref.items():
            if value is None:
                assert row[name] is None, (key, name)
            else:
                assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (key, name)


@pytest.mark.parametrize("name,kind", [("all.csv", "csv"), ("all.parquet", "parquet")])
def test_csv_and_parquet_equal_jsonl(traffic_dir: Path, name: str, kind: str) -> None:
    want = _ops(source(traffic_dir / "jsonl" / "*.jsonl", "jsonl"))
    got = _ops(source(traffic_dir / name, kind))
    assert got.keys() == want.keys()
    for key in want:
        for metric in ("n", "error_rate", "latency_ms_p95", "ttft_ms_p99", "cost_usd", "n_refusal"):
            assert got[key][metric] == pytest.approx(want[key][metric], rel=1e-9), (key, metric)


def test_sql_table_source_with_column_mapping(traffic, traffic_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/app.db"
    frame = traffic.records.rename(columns={"feature_id": "feature", "latency_ms": "duration"})
    frame = frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    engine = create_engine(url)
    frame.to_sql("llm_requests", engine, index=False)
    engine.dispose()
    src = ProductionSource(
        records=url,
        kind="sql",
        table="llm_requests",
        columns={"feature_id": "feature", "latency_ms": "duration"},
        prices=dict(PRICES),
    )
    got = _ops(src)
    want = _ops(source(traffic_dir / "jsonl" / "*.jsonl", "jsonl"))
    assert got.keys() == want.keys()
    for key in want:
        assert got[key]["latency_ms_p50"] == pytest.approx(want[key]["latency_ms_p50"])
        assert got[key]["n"] == want[key]["n"]


@pytest.mark.parametrize("legacy", [False, True])
def test_otel_genai_spans(traffic, tmp_path: Path, legacy: bool) -> None:
    recs = traffic.records.iloc[:400]
    path = write_otel(recs, tmp_path / "spans.otel.json", legacy=legacy)
    src = ProductionSource(
        records=str(path), kind="otel", columns={"feature_id": "app.feature"}, prices=dict(PRICES)
    )
    results, _ = compute_windows(src, settings(), START, END)
    got = by_key(results)
    want = reference_ops(recs)
    assert got.keys() == want.keys()
    for key, ref in want.items():
        assert got[key]["n"] == ref["n"]
        assert got[key]["output_tokens"] == ref["output_tokens"]
        assert got[key]["cost_usd"] == pytest.approx(ref["cost_usd"], rel=1e-9)
        assert got[key]["error_rate"] == pytest.approx(ref["error_rate"])
        # TTFT comes from gen_ai.response.time_to_first_chunk (seconds) -> ms.
        assert got[key]["ttft_ms_p50"] == pytest.approx(ref["ttft_ms_p50"], rel=1e-9)
        # Span duration carries the latency at nanosecond resolution.
        assert got[key]["latency_ms_p50"] == pytest.approx(ref["latency_ms_p50"], abs=1e-3)


def test_from_config_resolves_kind_and_prices(tmp_path: Path) -> None:
    cfg = Config.model_validate(
        {
            "models": {
                "main": {
                    "provider": "anthropic",
                    "model": "claude-sonnet-4",
                    "pricing": {"input": 3, "output": 15},
                }
            },
            "production": {"source": "logs/*.parquet", "window_minutes": 5},
        }
    )
    src = ProductionSource.from_config(cfg.production, cfg, base_dir=tmp_path)
    assert src.kind == "parquet"
    assert src.prices == {"claude-sonnet-4": (3, 15), "main": (3, 15)}
    assert src.files() == []
    with pytest.raises(ConfigError, match="table"):
        ProductionSource.from_config(
            Config.model_validate({"production": {"source": "sqlite:///x.db"}}).production
        )


def _bad_lines(tmp_path: Path, traffic) -> tuple[Path, list[str]]:  # type: ignore[no-untyped-def]
    recs = traffic.records.iloc[:200]
    path = write(recs, tmp_path / "good.jsonl")
    lines = path.read_text().splitlines()
    row = json.loads(lines[10])
    lines[10] = json.dumps({**row, "latency_ms": "slow"})  # line 11: wrong type
    lines[20] = lines[20][:40]  # line 21: truncated JSON
    lines[30] = json.dumps({k: v for k, v in json.loads(lines[30]).items() if k != "feature_id"})
    lines[40] = json.dumps({**json.loads(lines[40]), "ttft_ms": -5})  # line 41: negative
    lines[50] = json.dumps({**json.loads(lines[50]), "timestamp": "yesterday"})  # line 51
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def test_invalid_jsonl_rows_are_quarantined_with_file_line_field(traffic, tmp_path: Path) -> None:
    path, _ = _bad_lines(tmp_path, traffic)
    results, lenient = compute_windows(
        source(path, "jsonl"), settings(), START, START + timedelta(hours=1)
    )
    assert lenient
    found = {q["location"]: q["reason"] for w in results for q in w.quarantine}
    assert found[f"{path}:11"].startswith("latency_ms: not a double")
    assert found[f"{path}:21"] == "line: not valid JSON"
    assert found[f"{path}:31"] == "feature_id: missing"
    assert found[f"{path}:41"].startswith("ttft_ms: below 0")
    assert found[f"{path}:51"].startswith("timestamp: not a timestamp")
    assert len(found) == 5
    # Lines 21 (not JSON) and 51 (bad timestamp) belong to no window; the others are counted.
    assert sum(w.totals["n_quarantined"] for w in results) == 3
    assert sum(w.totals["n"] for w in results) == 195  # the rest is all there


def test_semantic_errors_found_on_the_fast_path_still_get_line_numbers(
    traffic, tmp_path: Path
) -> None:
    recs = traffic.records.iloc[:100].copy()
    recs.loc[5, "model_id"] = None
    path = write(recs, tmp_path / "r.jsonl")
    results, lenient = compute_windows(
        source(path, "jsonl"), settings(), START, START + timedelta(hours=1)
    )
    assert not lenient  # types were fine: the fast reader did the work
    assert [q["location"] for w in results for q in w.quarantine] == [f"{path}:6"]


def test_csv_quarantine_names_the_line(traffic, tmp_path: Path) -> None:
    recs = traffic.records.iloc[:50].copy().astype({"input_tokens": object})
    recs.loc[3, "input_tokens"] = "many"
    path = write(pd.DataFrame(recs), tmp_path / "r.csv")
    results, _ = compute_windows(source(path, "csv"), settings(), START, START + timedelta(hours=1))
    q = [x for w in results for x in w.quarantine]
    assert [x["location"] for x in q] == [f"{path}:5"]  # header is line 1
    assert q[0]["reason"].startswith("input_tokens: not a bigint")


def test_otel_error_status_and_provider_finish_reasons(traffic, tmp_path: Path) -> None:
    recs = traffic.records.iloc[:60].copy()
    recs["finish_reason"] = "end_turn"  # Anthropic's spelling -> stop
    recs.loc[3, "finish_reason"] = "max_tokens"  # -> length
    recs.loc[5, "error"] = "rate_limit"
    path = write_otel(recs, tmp_path / "s.otel.json")
    src = ProductionSource(records=str(path), kind="otel", columns={"feature_id": "app.feature"})
    results, _ = compute_windows(src, settings(), START, END)
    ops = [r for w in results for r in w.ops]
    assert sum(r["n_error"] for r in ops) == 1
    assert sum(r["n_truncated"] for r in ops) == 1
    assert sum(r["n"] for r in ops) == 60
    assert not [q for w in results for q in w.quarantine]
