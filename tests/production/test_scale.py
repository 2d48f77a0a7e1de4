"""Chunked aggregation merges exactly: chunked + merged == single pass, bit for bit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prod_env import START, settings, source

from canaryflow.production import (
    aggregate_chunked,
    chunk_partials,
    compute_windows,
    split_files,
)
from canaryflow.production.generator import write

END = START + timedelta(hours=6)


def _comparable(results):  # type: ignore[no-untyped-def]
    return [
        (
            w.start,
            w.ops,
            w.signals,
            w.totals,
            sorted(s["request_id"] for s in w.sample),
            sorted(f["request_id"] for f in w.flagged),
        )
        for w in results
    ]


@pytest.fixture(scope="module")
def shuffled_dir(traffic, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Records shuffled over 5 files, so every window and session spans several chunks."""
    d = tmp_path_factory.mktemp("shuffled")
    rec = traffic.records.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for i in range(5):
        write(rec.iloc[i::5], d / f"part-{i}.jsonl")
    write(traffic.signals, d / "signals.jsonl")
    return d


def _src(d: Path):  # type: ignore[no-untyped-def]
    return source(d / "part-*.jsonl", "jsonl", signals=str(d / "signals.jsonl"))


def _st():  # type: ignore[no-untyped-def]
    return settings(user_hourly_limit_usd=0.05, sample_rate=0.1)


def test_split_files_balances_and_keeps_every_file(shuffled_dir: Path) -> None:
    files = _src(shuffled_dir).files()
    groups = split_files(files, 3)
    assert sorted(f for g in groups for f in g) == sorted(files)
    assert len(groups) == 3
    assert split_files(files[:1], 4) == [files[:1]]


@pytest.mark.parametrize("n_chunks", [2, 5])
def test_merged_partials_equal_single_pass_exactly(shuffled_dir: Path, n_chunks: int) -> None:
    src, st = _src(shuffled_dir), _st()
    single, _ = compute_windows(src, st, START, END)
    parts = [
        chunk_partials(src, st, START, END, files) for files in split_files(src.files(), n_chunks)
    ]
    merged, _ = compute_windows(src, st, START, END, chunks=parts)
    # Exact equality: integer sums and quantile_cont over the same multiset of values.
    assert _comparable(merged) == _comparable(single)
    assert any(r["latency_ms_p99"] is not None for w in single for r in w.ops)


def test_thread_runner_path(shuffled_dir: Path, prefect_harness) -> None:  # type: ignore[no-untyped-def]
    src, st = _src(shuffled_dir), _st()
    single, _ = compute_windows(src, st, START, END)
    chunked, _ = aggregate_chunked(src, st, START, END, n_chunks=3)
    assert _comparable(chunked) == _comparable(single)


def test_dask_local_cluster_path(shuffled_dir: Path, prefect_harness) -> None:  # type: ignore[no-untyped-def]
    from prefect_dask import DaskTaskRunner

    src, st = _src(shuffled_dir), _st()
    single, _ = compute_windows(src, st, START, END)
    runner = DaskTaskRunner(
        cluster_kwargs={
            "n_workers": 2,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )
    chunked, _ = aggregate_chunked(src, st, START, END, n_chunks=4, task_runner=runner)
    assert _comparable(chunked) == _comparable(single)
