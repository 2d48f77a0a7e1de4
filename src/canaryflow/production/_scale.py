"""Scale-out: split a window range into chunks of files, aggregate each where it runs, merge.

Each chunk computes its *partials* (integer sums, value lists for exact quantiles, distinct-key
lists, and the few sampled / flagged / quarantined rows) next to its files; only those cross
the network. The merge is exact (see ``_metrics``): chunked + merged equals single-pass.

The chunks are mapped over any Prefect task runner: ``ThreadPoolTaskRunner`` on one machine,
``prefect_dask.DaskTaskRunner`` on a local or remote Dask cluster (DESIGN §10).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from canaryflow.production._engine import (
    Partials,
    Settings,
    WindowResult,
    _floor,
    chunk_partials,
    compute_windows,
)
from canaryflow.production._sources import ProductionSource

if TYPE_CHECKING:
    from prefect.futures import PrefectFuture
    from prefect.task_runners import TaskRunner

__all__ = ["aggregate_chunked", "split_files"]


def split_files(files: Sequence[str], n_chunks: int) -> list[list[str]]:
    """Files in ``n_chunks`` groups of similar total size (largest first, greedy)."""
    n_chunks = max(1, min(n_chunks, len(files)))
    groups: list[list[str]] = [[] for _ in range(n_chunks)]
    sizes = [0] * n_chunks
    for f in sorted(files, key=lambda p: -os.path.getsize(p)):
        i = sizes.index(min(sizes))
        groups[i].append(f)
        sizes[i] += os.path.getsize(f)
    return [sorted(g) for g in groups if g]


def _partials_task(
    source: ProductionSource, settings: Settings, start: datetime, end: datetime, files: list[str]
) -> Partials:
    # One DuckDB thread per task: the runner provides the parallelism.
    return chunk_partials(source, settings, start, end, files, threads=1)


def aggregate_chunked(
    source: ProductionSource,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    n_chunks: int = 4,
    task_runner: Any = None,
) -> tuple[list[WindowResult], bool]:
    """The windows of ``[start, end)`` computed chunk by chunk over a Prefect task runner.

    ``task_runner``: a Prefect task runner instance (default: threads). For Dask use
    ``prefect_dask.DaskTaskRunner(cluster_kwargs={"n_workers": 2})`` or pass an ``address`` of
    a running scheduler. Returns what :func:`compute_windows` returns.
    """
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    start, end = _floor(start, settings.window), _floor(end, settings.window)
    chunks = split_files(source.files(), n_chunks) if source.kind != "sql" else [[]]
    runner = task_runner or ThreadPoolTaskRunner(max_workers=max(1, len(chunks)))
    part = task(name="production-chunk-partials", retries=2)(_partials_task)

    @flow(
        name="production-chunked-aggregation",
        task_runner=cast("TaskRunner[PrefectFuture[Any]]", runner),  # Prefect types it narrowly
        log_prints=False,
    )
    def _run() -> list[Partials]:
        futures = part.map(
            [source] * len(chunks),
            [settings] * len(chunks),
            [start] * len(chunks),
            [end] * len(chunks),
            chunks,
        )
        return [f.result() for f in futures]

    parts = _run() if chunks and chunks[0] else []
    if not parts:
        return compute_windows(source, settings, start, end)
    return compute_windows(source, settings, start, end, chunks=parts)
