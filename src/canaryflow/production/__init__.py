"""The production engine: read what production served, measure it per window, commit atomically.

The production flow (DESIGN §3) is a thin composition of these calls; nothing here needs
Prefect except the optional chunked scale-out.

Sources (``[production]`` in canaryflow.toml):
    ``ProductionSource.from_config(cfg.production, cfg, base_dir)`` -- JSONL / CSV / Parquet by
    glob, a SQL table or query by SQLAlchemy URL, OpenTelemetry GenAI spans (OTLP/JSON);
    ``columns`` maps the DESIGN §6 fields (``RECORD_FIELDS``) onto yours. Invalid rows are
    quarantined with ``file:line: field``, counted per window, never fatal.

Settings:
    ``Settings.from_config(cfg.production)`` -- window (15 min), allowed lateness, sample
    rates and salt, hard-block safety patterns, budgets, per-user hourly limit, survivorship
    thresholds.

Windows and watermark:
    ``plan(store, source, settings, as_of)`` -> ``(start, end)`` the closed windows due.
    ``process(store, source, settings, as_of, on_window=None)`` -> ``RunSummary``: computes
    every closed window since the watermark in one scan and commits each in its own
    transaction (rows + quarantine + review items + watermark; ``on_window(result, conn)`` runs
    inside it for writes that must commit with the window, e.g. judge results).
    ``backfill(store, source, settings, start, end)`` -- replay history, window by window.
    ``compute_windows(source, settings, start, end)`` -> ``(list[WindowResult], lenient)``
    without committing; ``commit_window(store, source_name, result, settings)``;
    ``read_watermark(store, source_name)``.

What a ``WindowResult`` holds:
    ``ops`` per feature x model (count, error / refusal / truncation / flag rates, latency,
    TTFT, TBT p50/p95/p99 exact interpolated, tokens/s, tokens, cost, users), ``signals`` per
    feature x model (feedback rate and coverage, satisfaction, corrections, follow-ups,
    abandonment, task completion, turns per session, ``survivorship_bias``), ``totals`` (n,
    quarantined, cost, top spenders, users over the hourly limit, daily budget use with
    ``ok`` / ``warning`` (80 %) / ``exceeded`` (100 %)), ``flagged`` (hard-block matches,
    redacted; queued for review at commit), ``sample`` (the judge sample), ``quarantine``.
    Stored rows: ``store.production_windows(source, start=, end=, metric_set=)`` with metric
    sets ``ops``, ``signals`` and ``window`` (feature and model ``*``);
    ``store.quarantined(source)``.

Sampling and safety:
    ``is_sampled(request_id, rate, salt)`` (sha256; the SQL twin ``sample_condition`` runs in
    the scan), ``safety_regex(patterns)``, ``DEFAULT_SAFETY_PATTERNS``.

Cost investigation (for a cost incident):
    ``investigate_cost(source, start, end, feature_id=None)`` -> top users, top requests,
    repeated prompts (redacted), cost by feature and model.

Scale-out:
    ``aggregate_chunked(source, settings, start, end, n_chunks=, task_runner=)`` -- chunks of
    files mapped over a Prefect task runner (``prefect_dask.DaskTaskRunner`` for a Dask
    cluster), per-chunk partials merged exactly; ``chunk_partials`` / ``merge_partials`` are
    the two halves.

Synthetic traffic (demo, tests, benchmarks):
    ``canaryflow.production.generator`` -- ``generate(TrafficSpec(..., changes=(Change(...),)))``,
    ``write(frame, path)`` (.jsonl / .parquet / .csv), ``write_otel(records, path)``;
    ``python -m canaryflow.production.generator --out traffic.jsonl``.
"""

from __future__ import annotations

from canaryflow.production._cost import investigate_cost
from canaryflow.production._engine import (
    Partials,
    RunSummary,
    Settings,
    WindowResult,
    backfill,
    chunk_partials,
    commit_window,
    compute_windows,
    merge_partials,
    plan,
    process,
    read_watermark,
)
from canaryflow.production._fields import RECORD_FIELDS, SIGNAL_FIELDS, SIGNAL_TYPES
from canaryflow.production._sampling import (
    DEFAULT_SAFETY_PATTERNS,
    is_sampled,
    safety_regex,
    sample_condition,
)
from canaryflow.production._scale import aggregate_chunked, split_files
from canaryflow.production._sources import ProductionSource, connect

__all__ = [
    "DEFAULT_SAFETY_PATTERNS",
    "Partials",
    "ProductionSource",
    "RECORD_FIELDS",
    "RunSummary",
    "SIGNAL_FIELDS",
    "SIGNAL_TYPES",
    "Settings",
    "WindowResult",
    "aggregate_chunked",
    "backfill",
    "chunk_partials",
    "commit_window",
    "compute_windows",
    "connect",
    "investigate_cost",
    "is_sampled",
    "merge_partials",
    "plan",
    "process",
    "read_watermark",
    "safety_regex",
    "sample_condition",
    "split_files",
]
