"""Watermarked tumbling windows: compute every closed window since the watermark, commit each.

A window ``[s, s + window)`` is *closed* once ``as_of`` passes its end plus the allowed
lateness. A run computes all closed windows since the source's watermark in one scan of the
source (DuckDB; per-window aggregates come back, never records), then commits them oldest
first, one transaction per window: the window's rows are replaced, its flagged records queued
for review, its quarantined rows recorded and the watermark moved to its end -- all or nothing.
Kill the process anywhere and rerun: committed windows are past the watermark and not read
again; the window that was in flight is recomputed from scratch and replaces whatever it had.
Records that arrive after their window closed are not counted (standard event-time semantics;
raise the lateness for slow loggers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy.engine import Connection

from canaryflow.config import ProductionConfig
from canaryflow.production import _metrics as mx
from canaryflow.production._sampling import safety_regex, sample_condition
from canaryflow.production._sources import ProductionSource, _lit, connect
from canaryflow.redact import redact
from canaryflow.store._types import ReviewItem

__all__ = [
    "Partials",
    "RunSummary",
    "Settings",
    "WindowResult",
    "backfill",
    "chunk_partials",
    "commit_window",
    "compute_windows",
    "merge_partials",
    "plan",
    "process",
    "read_watermark",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_ERRORS = (duckdb.InvalidInputException, duckdb.ConversionException)
MAX_QUARANTINE_EXAMPLES = 1000
"""Quarantined rows recorded per scan (all are counted)."""


@dataclass(frozen=True)
class Settings:
    """The engine's options, from ``[production]``."""

    window: timedelta = timedelta(minutes=15)
    lateness: timedelta = timedelta(minutes=5)
    sample_rate: float = 0.05
    sample_rates: dict[str, float] = field(default_factory=dict)
    salt: str = ""
    safety_regex: str | None = field(default_factory=lambda: safety_regex(None))
    user_hourly_limit_usd: float | None = None
    budgets_usd: dict[str, float] = field(default_factory=dict)
    abandonment_limit: float = 0.3
    satisfaction_floor: float = 0.8
    start: datetime | None = None
    top_spenders: int = 10
    memory_limit: str | None = "768MB"
    """DuckDB's memory cap per scan; beyond it DuckDB spills to a temp directory."""

    @classmethod
    def from_config(cls, p: ProductionConfig) -> Settings:
        """Settings of a ``[production]`` section."""
        return cls(
            window=timedelta(minutes=p.window_minutes),
            lateness=timedelta(minutes=p.allowed_lateness_minutes),
            sample_rate=p.sample_rate,
            sample_rates=dict(p.sample_rates),
            salt=p.sample_salt,
            safety_regex=safety_regex(p.safety_patterns),
            user_hourly_limit_usd=p.user_hourly_limit_usd,
            budgets_usd=dict(p.budgets_usd),
            abandonment_limit=p.abandonment_limit,
            satisfaction_floor=p.satisfaction_floor,
            start=p.start.astimezone(UTC) if p.start else None,
        )


@dataclass
class WindowResult:
    """Everything one window produced, before it is committed."""

    start: datetime
    end: datetime
    ops: list[dict[str, Any]] = field(default_factory=list)
    """Per feature x model: counts, rates, latency/TTFT/TBT quantiles, tokens, cost."""
    signals: list[dict[str, Any]] = field(default_factory=list)
    """Per feature x model: feedback, corrections, abandonment, survivorship-bias flag..."""
    totals: dict[str, Any] = field(default_factory=dict)
    """The window as a whole: n, quarantined, cost, top spenders, users over the hourly limit,
    daily budget use (filled at commit, from the stored day so far)."""
    flagged: list[dict[str, Any]] = field(default_factory=list)
    """Records matching a hard-block safety pattern (text redacted)."""
    sample: list[dict[str, Any]] = field(default_factory=list)
    """The deterministic judge sample of the window (unredacted: it goes to the judge)."""
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """The store rows: one per feature x model x metric set, plus the totals row."""
        out = [
            {
                "feature_id": r["feature_id"],
                "model_id": r["model_id"],
                "metric_set": s,
                "n": r["n"],
                "values": _jsonable(r),
            }
            for s, rows in (("ops", self.ops), ("signals", self.signals))
            for r in rows
        ]
        out.append(
            {
                "feature_id": "*",
                "model_id": "*",
                "metric_set": "window",
                "n": self.totals.get("n", 0),
                "values": _jsonable(self.totals),
            }
        )
        return out


@dataclass
class RunSummary:
    """What a run or backfill committed."""

    source: str
    windows: int = 0
    records: int = 0
    quarantined: int = 0
    flagged: int = 0
    sampled: int = 0
    first_window: datetime | None = None
    watermark: datetime | None = None
    lenient: bool = False
    """True when a malformed file forced the line-numbered reader."""
    results: list[WindowResult] = field(default_factory=list, repr=False)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, datetime | pd.Timestamp):
            return v.isoformat()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        if v is not None and hasattr(v, "item"):
            return v.item()
        return v

    return {
        k: conv(v)
        for k, v in d.items()
        if k not in ("window_start", "feature_id", "model_id", "user_id")
    }


def _us(t: datetime) -> int:
    return (t.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def _floor(t: datetime, step: timedelta) -> datetime:
    t = t.astimezone(UTC)
    return _EPOCH + ((t - _EPOCH) // step) * step


# -- computing -----------------------------------------------------------------------------


_SCAN_COLUMNS = (
    "request_id, timestamp, feature_id, model_id, user_id, session_id, latency_ms, ttft_ms, "
    "tbt_ms, input_tokens, output_tokens, cost_usd, finish_reason, error, _invalid, _loc"
)


def _setup(
    con: duckdb.DuckDBPyConnection,
    source: ProductionSource,
    settings: Settings,
    start: datetime,
    end: datetime,
    files: list[str] | None,
    lenient: bool,
    *,
    materialize: bool = True,
) -> None:
    """Views ``scoped_all`` (valid records from the top of ``start``'s hour to ``end``),
    ``scoped`` (from ``start``), ``signalled`` and ``scan`` (also the invalid rows).

    ``materialize`` reads the source once into a columnar temp table (texts only for the
    flagged and sampled rows) that every query of the run then shares; without it each query
    scans the source again (what the single-query benchmark measures).
    """
    source.open(con, files=files, lenient=lenient)
    source.open_signals(con)
    window_us = _us(_EPOCH + settings.window)
    hour = _floor(start, timedelta(hours=1))
    flag = "false"
    if settings.safety_regex:
        flag = f"coalesce(regexp_matches(output, {_lit(settings.safety_regex)}), false)"
    cond = sample_condition(settings.sample_rate, settings.sample_rates, settings.salt)
    in_range = f"_ts_us >= {_us(hour)} AND _ts_us < {_us(end)}"
    body = f"""
      SELECT {_SCAN_COLUMNS}, _ts_us,
             make_timestamp(_ts_us - (_ts_us % {window_us}))::TIMESTAMPTZ AS window_start,
             _flagged, _sampled,
             CASE WHEN _flagged OR _sampled THEN input END AS input,
             CASE WHEN _flagged OR _sampled THEN output END AS output
      FROM (SELECT *, {flag} AS _flagged, coalesce({cond}, false) AS _sampled
            FROM (SELECT *, epoch_us(timestamp) AS _ts_us FROM records))
      WHERE _invalid IS NOT NULL OR ({in_range})"""
    kind = "TABLE" if materialize else "VIEW"
    con.execute(f"CREATE OR REPLACE TEMP {kind} scan AS {body}")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW scoped_all AS "
        f"SELECT * FROM scan WHERE _invalid IS NULL AND {in_range}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW scoped AS SELECT * FROM scoped_all "
        f"WHERE _ts_us >= {_us(start)}"
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW signalled AS {mx.SIGNALLED_SQL}")


def _row_queries(settings: Settings, start: datetime, end: datetime) -> dict[str, str]:
    """Queries whose result is a few rows, concatenated across chunks (never merged)."""
    return {
        "picked": """
          SELECT window_start, request_id, feature_id, model_id, user_id, session_id,
                 input, output, finish_reason, _flagged AS flagged, _sampled AS sampled
          FROM scoped WHERE _flagged OR _sampled""",
        "quarantine": f"""
          SELECT _loc AS location, _invalid AS reason,
                 window_start
          FROM scan WHERE _invalid IS NOT NULL AND (timestamp IS NULL OR
            (_ts_us >= {_us(start)} AND _ts_us < {_us(end)}))""",
    }


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.sql(sql).to_arrow_table().to_pandas()


@dataclass
class Partials:
    """A chunk's sufficient statistics: mergeable aggregates and its few picked rows."""

    sets: dict[str, Any]
    """metric set name -> Arrow table of partials."""
    rows: dict[str, Any]
    """picked / quarantine -> Arrow table."""
    lenient: bool = False


def chunk_partials(
    source: ProductionSource,
    settings: Settings,
    start: datetime,
    end: datetime,
    files: list[str] | None = None,
    threads: int | None = None,
) -> Partials:
    """The partials of ``[start, end)`` over ``files`` (one chunk), computed where it runs."""

    def run(lenient: bool) -> Partials:
        con = connect(threads=threads, memory_limit=settings.memory_limit)
        try:
            _setup(con, source, settings, start, end, files, lenient)
            sets = {m.name: con.sql(mx.partial_query(m)).to_arrow_table() for m in _sets(source)}
            rows = {
                k: con.sql(q).to_arrow_table()
                for k, q in _row_queries(settings, start, end).items()
            }
            return Partials(sets, rows, lenient)
        finally:
            con.close()

    return _with_fallback(source, run)


def _sets(source: ProductionSource, *skip: mx.MetricSet) -> list[mx.MetricSet]:
    """The metric sets a scan computes: user signals only when a signals source is set."""
    return [
        m
        for m in mx.METRIC_SETS.values()
        if m not in skip and (m is not mx.SIGNALS or source.signals)
    ]


def _with_fallback(source: ProductionSource, run: Callable[[bool], Any]) -> Any:
    try:
        return run(False)
    except _JSON_ERRORS:
        if source.kind != "jsonl":
            raise
        return run(True)


def _user_frames(
    con: duckdb.DuckDBPyConnection, users_sql: str, settings: Settings
) -> dict[str, pd.DataFrame]:
    """Top spenders, users over the hourly limit and users per window, from the per-window
    user sums (about one row per active user and window: kept inside DuckDB)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE user_stats AS {users_sql}")
    limit = settings.user_hourly_limit_usd
    over = f"htd > {round(limit * 1e9)}" if limit is not None else "false"
    top = settings.top_spenders
    picked = _fetch(
        con,
        f"""
        SELECT window_start, user_id, n, cost_nusd, htd, rk <= {top} AS top, {over} AS over
        FROM (SELECT *, sum(cost_nusd) OVER (
                       PARTITION BY user_id, date_trunc('hour', window_start)
                       ORDER BY window_start ROWS UNBOUNDED PRECEDING) AS htd,
                     row_number() OVER (
                       PARTITION BY window_start ORDER BY cost_nusd DESC, user_id) AS rk
              FROM user_stats WHERE user_id IS NOT NULL)
        WHERE rk <= {top} OR {over}
        ORDER BY window_start, rk""",
    )
    counts = _fetch(
        con,
        "SELECT window_start, count(*) AS users FROM user_stats "
        "WHERE user_id IS NOT NULL GROUP BY window_start",
    )
    return {"users": picked, "user_counts": counts}


def merge_partials(
    parts: Sequence[Partials], settings: Settings
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], bool]:
    """Merge chunk partials exactly: the same frames the single pass returns."""
    import pyarrow as pa

    con = connect()
    try:
        stats = {"signals": pd.DataFrame()}
        for m in mx.METRIC_SETS.values():
            if m.name not in parts[0].sets:
                continue
            con.register("parts", pa.concat_tables([p.sets[m.name] for p in parts]))
            if m is mx.USERS:
                stats.update(_user_frames(con, mx.merge_query(m, "parts"), settings))
            else:
                stats[m.name] = _fetch(con, mx.merge_query(m, "parts"))
            con.unregister("parts")
        rows = {k: pa.concat_tables([p.rows[k] for p in parts]).to_pandas() for k in parts[0].rows}
        return stats, rows, any(p.lenient for p in parts)
    finally:
        con.close()


def _single(
    source: ProductionSource,
    settings: Settings,
    start: datetime,
    end: datetime,
    threads: int | None,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], bool]:
    def run(lenient: bool) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], bool]:
        con = connect(threads=threads, memory_limit=settings.memory_limit)
        try:
            _setup(con, source, settings, start, end, None, lenient)
            stats = {m.name: _fetch(con, mx.single_query(m)) for m in _sets(source, mx.USERS)}
            stats.setdefault("signals", pd.DataFrame())
            stats.update(_user_frames(con, mx.single_query(mx.USERS), settings))
            rows = {k: _fetch(con, q) for k, q in _row_queries(settings, start, end).items()}
            return stats, rows, lenient
        finally:
            con.close()

    return _with_fallback(source, run)


def _locate(
    source: ProductionSource, settings: Settings, start: datetime, end: datetime
) -> pd.DataFrame:
    """Quarantined rows with their ``file:line`` (the lenient reader; only when some exist)."""
    con = connect()
    try:
        lenient = source.kind == "jsonl"
        _setup(con, source, settings, start, end, None, lenient, materialize=False)
        q = _row_queries(settings, start, end)["quarantine"]
        return _fetch(con, f"{q} ORDER BY location LIMIT {MAX_QUARANTINE_EXAMPLES}")
    finally:
        con.close()


def compute_windows(
    source: ProductionSource,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    chunks: Sequence[Partials] | None = None,
    threads: int | None = None,
) -> tuple[list[WindowResult], bool]:
    """Every window of ``[start, end)`` (start on a window boundary), empty ones included.

    ``chunks``: partials already computed elsewhere (scale-out); merged exactly instead of
    scanning here. Returns the windows oldest first and whether the lenient reader was used.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if chunks is not None:
        stats, rows, lenient = merge_partials(chunks, settings)
    else:
        stats, rows, lenient = _single(source, settings, start, end, threads)
    quarantine = rows["quarantine"]
    if len(quarantine) and quarantine["location"].isna().any():
        # The fast reader keeps no line numbers; find them now that we know there are some.
        located = _locate(source, settings, start, end)
        if len(located):
            quarantine = located
    return _assemble(settings, start, end, stats, rows["picked"], quarantine), lenient


def _window_key(v: Any) -> datetime:
    return pd.Timestamp(v).tz_convert(UTC).to_pydatetime()


def _assemble(
    settings: Settings,
    start: datetime,
    end: datetime,
    stats: dict[str, pd.DataFrame],
    picked: pd.DataFrame,
    quarantine: pd.DataFrame,
) -> list[WindowResult]:
    results: dict[datetime, WindowResult] = {}
    t = start
    while t < end:
        results[t] = WindowResult(t, t + settings.window)
        t += settings.window

    cache: dict[Any, datetime] = {}

    def wkey(v: Any) -> datetime:
        k = cache.get(v)
        if k is None:
            k = cache[v] = _window_key(v)
        return k

    def by_window(rows: list[dict[str, Any]]) -> dict[datetime, list[dict[str, Any]]]:
        out: dict[datetime, list[dict[str, Any]]] = {}
        for r in rows:
            if r.get("window_start") is None or pd.isna(r["window_start"]):
                continue
            # Missing numbers may come back as NaN: give the stored JSON its nulls back.
            r = {k: None if isinstance(v, float) and v != v else v for k, v in r.items()}
            out.setdefault(wkey(r["window_start"]), []).append(r)
        return out

    ops = by_window(mx.finalize(mx.OPS, stats["ops"]))
    sig = by_window(mx.finalize(mx.SIGNALS, stats["signals"]))
    for w, res in results.items():
        res.ops = sorted(ops.get(w, []), key=lambda r: (r["feature_id"], r["model_id"]))
        res.signals = sorted(sig.get(w, []), key=lambda r: (r["feature_id"], r["model_id"]))
        for r in res.signals:
            ab, sat = r["abandonment_rate"], r["satisfaction"]
            r["survivorship_bias"] = bool(
                ab is not None
                and sat is not None
                and ab > settings.abandonment_limit
                and sat >= settings.satisfaction_floor
            )
    _user_totals(settings, results, stats, wkey)
    # The picked rows (flagged or sampled) are few: one pass, texts redacted only if flagged.
    n_flag: dict[tuple[datetime, str, str], int] = {}
    cols = (
        "window_start",
        "request_id",
        "feature_id",
        "model_id",
        "user_id",
        "session_id",
        "input",
        "output",
        "finish_reason",
        "flagged",
        "sampled",
    )
    for row in zip(*(picked[c] for c in cols), strict=True):
        rec = dict(zip(cols, row, strict=True))
        wk = wkey(rec["window_start"])
        hit = results.get(wk)
        if hit is None:
            continue
        if rec["flagged"]:
            key = (wk, rec["feature_id"], rec["model_id"])
            n_flag[key] = n_flag.get(key, 0) + 1
            hit.flagged.append(
                {
                    "request_id": rec["request_id"],
                    "feature_id": rec["feature_id"],
                    "model_id": rec["model_id"],
                    "user_id": rec["user_id"],
                    "input": redact(rec["input"] or "")[:2000],
                    "output": redact(rec["output"] or "")[:2000],
                }
            )
        if rec["sampled"]:
            del rec["window_start"], rec["flagged"], rec["sampled"]
            hit.sample.append(rec)
    for w, res in results.items():
        for r in res.ops:
            r["n_flagged"] = n_flag.get((w, r["feature_id"], r["model_id"]), 0)
            r["flag_rate"] = r["n_flagged"] / r["n"] if r["n"] else None
    counts: dict[datetime, int] = {}
    for v in quarantine["window_start"].dropna():
        counts[wkey(v)] = counts.get(wkey(v), 0) + 1
    for w, res in results.items():
        res.totals["n"] = sum(int(r["n"]) for r in res.ops)
        res.totals["n_quarantined"] = int(counts.get(w, 0))
        res.totals["cost_usd"] = sum(r["cost_usd"] for r in res.ops)
        res.totals["n_flagged"] = len(res.flagged)
        res.totals["n_sampled"] = len(res.sample)
    # Rows without a usable timestamp belong to no window: the first window carries them.
    q_rows = quarantine.to_dict("records")
    first = next(iter(results.values()), None)
    for r in q_rows:
        qw = None if pd.isna(r["window_start"]) else wkey(r["window_start"])
        target = results.get(qw) if qw is not None else first
        if target is not None:
            target.quarantine.append(
                {"location": r["location"] or "?", "reason": r["reason"], "window_start": w}
            )
    return list(results.values())


def _user_totals(
    settings: Settings,
    results: dict[datetime, WindowResult],
    stats: dict[str, pd.DataFrame],
    wkey: Callable[[Any], datetime],
) -> None:
    """Fill top spenders, users over the hourly limit and user counts into window totals."""
    counts = {
        wkey(w): int(c)
        for w, c in zip(*(stats["user_counts"][k] for k in ("window_start", "users")), strict=True)
    }
    limit = settings.user_hourly_limit_usd
    for w, res in results.items():
        res.totals["users"] = counts.get(w, 0)
        res.totals["top_spenders"] = []
        if limit is not None:
            res.totals["users_over_hourly_limit"] = []
    u = stats["users"]
    cols = ("window_start", "user_id", "n", "cost_nusd", "htd", "top", "over")
    for w, user, n, cost, htd, top, is_over in zip(*(u[c] for c in cols), strict=True):
        hit = results.get(wkey(w))
        if hit is None:
            continue
        if top:
            hit.totals["top_spenders"].append(
                {"user_id": user, "cost_usd": int(cost) / 1e9, "n": int(n)}
            )
        if is_over:
            hit.totals["users_over_hourly_limit"].append(
                {"user_id": user, "hour_to_date_usd": int(htd) / 1e9}
            )


# -- committing ------------------------------------------------------------------------------

WindowHook = Callable[[WindowResult, Connection], None]
"""Runs inside a window's transaction after its writes: add what must commit with the window
(judge results); raising rolls the window back and stops the run."""


def _budget(
    store: Any, source: str, res: WindowResult, settings: Settings, conn: Connection
) -> None:
    if not settings.budgets_usd:
        return
    day = _floor(res.start, timedelta(days=1))
    spent: dict[str, float] = {"total": 0.0}
    for row in store.production_windows(
        source, start=day, end=res.start, metric_set="ops", conn=conn
    ):
        cost = float(row["values"].get("cost_usd") or 0)
        spent["total"] += cost
        spent[row["feature_id"]] = spent.get(row["feature_id"], 0.0) + cost
    for r in res.ops:
        spent["total"] += r["cost_usd"]
        spent[r["feature_id"]] = spent.get(r["feature_id"], 0.0) + r["cost_usd"]
    budget = {}
    for key, limit in settings.budgets_usd.items():
        used = spent.get(key, 0.0) / limit if limit > 0 else 0.0
        level = "exceeded" if used >= 1 else "warning" if used >= 0.8 else "ok"
        budget[key] = {
            "budget_usd": limit,
            "spent_usd": spent.get(key, 0.0),
            "used": used,
            "level": level,
        }
    res.totals["budget"] = budget


def commit_window(
    store: Any,
    source: str,
    res: WindowResult,
    settings: Settings,
    *,
    advance: bool = True,
    on_window: WindowHook | None = None,
) -> None:
    """Store one window and move the watermark to its end, in one transaction."""
    with store.transaction() as conn:
        _budget(store, source, res, settings, conn)
        store.replace_production_window(source, res.start, res.end, res.rows(), conn=conn)
        if res.quarantine:
            store.add_quarantined(source, res.quarantine, conn=conn)
        if res.flagged:
            store.add_review_items(
                [
                    ReviewItem(
                        source=f"production:{f['feature_id']}",
                        item_id=f["request_id"],
                        reason="hard-block safety pattern",
                        payload=f,
                    )
                    for f in res.flagged
                ],
                conn=conn,
            )
        if advance:
            store.set_watermark(source, _watermark_value(res.end, settings), conn=conn)
        if on_window is not None:
            on_window(res, conn)


def _watermark_value(end: datetime, settings: Settings) -> str:
    return json.dumps(
        {"window_end": end.isoformat(), "window_minutes": settings.window / timedelta(minutes=1)}
    )


def read_watermark(store: Any, source: str) -> datetime | None:
    """The end of the last committed window of ``source``, or None."""
    raw = store.get_watermark(source)
    if raw is None:
        return None
    return datetime.fromisoformat(json.loads(raw)["window_end"]).astimezone(UTC)


def _oldest(source: ProductionSource) -> datetime | None:
    con = connect()
    try:
        source.open(con, lenient=False)
        try:
            v = con.execute("SELECT min(timestamp) FROM records WHERE _invalid IS NULL").fetchall()[
                0
            ]
        except _JSON_ERRORS:
            source.open(con, lenient=True)
            v = con.execute("SELECT min(timestamp) FROM records WHERE _invalid IS NULL").fetchall()[
                0
            ]
    finally:
        con.close()
    return None if v is None or v[0] is None else v[0].astimezone(UTC)


def plan(
    store: Any, source: ProductionSource, settings: Settings, as_of: datetime
) -> tuple[datetime | None, datetime]:
    """The windows a run at ``as_of`` processes: ``[watermark, last closed window end)``.

    Without a watermark the first window starts at ``settings.start`` or the oldest record;
    None when the source has no record yet.
    """
    end = _floor(as_of - settings.lateness, settings.window)
    start = read_watermark(store, source.name)
    if start is None:
        first = settings.start or _oldest(source)
        start = None if first is None else _floor(first, settings.window)
    return start, end


def _commit_all(
    store: Any,
    source: ProductionSource,
    settings: Settings,
    results: list[WindowResult],
    lenient: bool,
    *,
    on_window: WindowHook | None,
    keep_results: bool,
) -> RunSummary:
    summary = RunSummary(source=source.name, lenient=lenient)
    current = read_watermark(store, source.name)
    for res in results:
        advance = current is None or res.end > current
        commit_window(store, source.name, res, settings, advance=advance, on_window=on_window)
        summary.windows += 1
        summary.records += res.totals.get("n", 0)
        # Rows without a usable timestamp ride with the first window (no totals key, so a
        # window's stored values do not depend on where a run started).
        untimed = sum(1 for q in res.quarantine if q["window_start"] is None)
        summary.quarantined += res.totals.get("n_quarantined", 0) + untimed
        summary.flagged += len(res.flagged)
        summary.sampled += len(res.sample)
        summary.first_window = summary.first_window or res.start
        if advance:
            summary.watermark = current = res.end
        if keep_results:
            summary.results.append(res)
    if summary.watermark is None:
        summary.watermark = current
    return summary


def process(
    store: Any,
    source: ProductionSource,
    settings: Settings,
    as_of: datetime,
    *,
    on_window: WindowHook | None = None,
    keep_results: bool = True,
) -> RunSummary:
    """Compute and commit every window closed at ``as_of`` since the watermark."""
    start, end = plan(store, source, settings, as_of)
    if start is None or start >= end:
        return RunSummary(source=source.name, watermark=read_watermark(store, source.name))
    results, lenient = compute_windows(source, settings, start, end)
    return _commit_all(
        store, source, settings, results, lenient, on_window=on_window, keep_results=keep_results
    )


def backfill(
    store: Any,
    source: ProductionSource,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    on_window: WindowHook | None = None,
    keep_results: bool = False,
) -> RunSummary:
    """Replay ``[start, end)`` window by window in one process (one scan of the source).

    Windows already stored are recomputed and replaced (idempotent); the watermark only moves
    forward. Interrupted, it is simply run again.
    """
    start, end = _floor(start, settings.window), _floor(end, settings.window)
    if start >= end:
        return RunSummary(source=source.name, watermark=read_watermark(store, source.name))
    results, lenient = compute_windows(source, settings, start, end)
    return _commit_all(
        store, source, settings, results, lenient, on_window=on_window, keep_results=keep_results
    )
