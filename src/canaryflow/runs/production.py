"""The production flow on the shared run lifecycle: one run = the windows closed since the
watermark (a scheduled run) or one interval of history (a backfill).

Each window is committed by the engine in one transaction together with its judged sample
(``on_window``): judge scores, review items and the watermark land together or not at all.
The lifecycle then stores one item per window x feature x model, grows the warm-up or
compares with the frozen baseline (``runs._production_detect``), files incidents with the
runbook facts (``runs._production_evidence``) and finishes the run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from canaryflow.config import AlertParams
from canaryflow.detection import SubjectTest, alert_for, decide
from canaryflow.production import (
    ProductionSource,
    Settings,
    WindowResult,
    aggregate_chunked,
    commit_window,
    compute_windows,
    plan,
    read_watermark,
)
from canaryflow.records import Alert, Baseline, ItemResult, RunFlow, RunRecord
from canaryflow.runs._lifecycle import Reliability, RunOutcome, Warmup, execute
from canaryflow.runs._production_detect import (
    FLOW,
    build_production_baselines,
    chart_tests,
    drift_tests,
    rate_tests,
)
from canaryflow.runs._production_judge import WindowJudge
from canaryflow.runs._workspace import Workspace

__all__ = [
    "ProductionEvaluation",
    "ProductionPlugin",
    "backfill_production",
    "production_run_id",
    "run_production",
]


@dataclass(frozen=True)
class ProductionEvaluation:
    phase: str
    tests: tuple[SubjectTest, ...] = ()
    alerts: tuple[Alert, ...] = ()
    notes: tuple[str, ...] = ()


def production_run_id(as_of: datetime) -> str:
    """Deterministic run id: the same scheduled time is the same run (one ``[production]``)."""
    return f"production-{as_of:%Y%m%dT%H%M%SZ}"


def _source(ws: Workspace) -> tuple[ProductionSource, Settings]:
    cfg = ws.config
    base = Path(cfg.source_path).parent if cfg.source_path else None
    return ProductionSource.from_config(cfg.production, cfg, base), Settings.from_config(
        cfg.production
    )


class ProductionPlugin:
    """The production flow's own parts of ``runs._lifecycle``."""

    flow: RunFlow = FLOW

    def __init__(
        self,
        windows: Callable[[Workspace, RunRecord, WindowJudge], tuple[list[WindowResult], int]],
        judge: WindowJudge,
        interval: timedelta | None = None,
    ) -> None:
        self._windows = windows
        self.judge = judge
        self.interval = interval
        """The schedule's interval: no completed run for twice this long is an alert."""
        self.results: list[WindowResult] = []
        self.due = 0
        """Windows that closed for this run (a due window without records is an alert)."""

    def collect(self, ws: Workspace, run: RunRecord) -> Sequence[ItemResult]:
        self.judge.reset(run)
        self.results, self.due = self._windows(ws, run, self.judge)
        return list(self.judge.made)

    def reliability(
        self, ws: Workspace, run: RunRecord, items: Sequence[ItemResult], params: AlertParams
    ) -> Reliability:
        from canaryflow.runs._production_evidence import baseline_free_alerts

        return baseline_free_alerts(ws, run, items, params, self)

    def build_baselines(
        self, model: str, runs: Sequence[RunRecord], items: Sequence[ItemResult], reason: str
    ) -> tuple[list[Baseline], Mapping[tuple[str, str], Mapping[str, Any]]]:
        return build_production_baselines(model, runs, items, reason)

    def warmed(self, warmup: Warmup) -> ProductionEvaluation:
        return ProductionEvaluation(phase="warmup", notes=warmup.notes)

    def evaluate(
        self,
        ws: Workspace,
        run: RunRecord,
        items: Sequence[ItemResult],
        baselines: Mapping[tuple[str, str], Baseline],
        params: AlertParams,
    ) -> ProductionEvaluation:
        tests = [
            *chart_tests(ws.store, params, run, items, baselines),
            *rate_tests(params, items, baselines),
            *drift_tests(ws.store, run, items, baselines),
        ]
        decided = decide(tests, q=params.fdr_q)
        alerts = tuple(a for t in decided if (a := alert_for(t, run)) is not None)
        return ProductionEvaluation("monitor", tuple(decided), alerts)

    def publish(
        self,
        ws: Workspace,
        run: RunRecord,
        evaluation: Any,
        alerts: Sequence[Alert],
        summary: dict[str, Any],
    ) -> tuple[Sequence[Any], Any]:
        from canaryflow.runs._production_evidence import incident_context, with_context

        summary.update(self.judge.summary())
        summary["windows"] = len(self.results)
        summary["records"] = sum(r.totals.get("n", 0) for r in self.results)
        if not alerts:
            return [], None

        def context_for(incident: Any, *_: Any) -> Any:
            return incident_context(ws, run, incident, self.results)

        filed = with_context(ws, run, alerts, self.results)
        return ws.incidents(context=context_for).handle(filed), None


def _commit(
    ws: Workspace,
    source: ProductionSource,
    settings: Settings,
    results: list[WindowResult],
    judge: WindowJudge,
) -> list[WindowResult]:
    current = read_watermark(ws.store, source.name)
    for res in results:
        advance = current is None or res.end > current
        commit_window(
            ws.store, source.name, res, settings, advance=advance, on_window=judge.on_window
        )
        if advance:
            current = res.end
    return results


def _config_hash(ws: Workspace) -> str:
    return hashlib.sha256(ws.config.config_hash().encode()).hexdigest()[:12]


def run_production(
    ws: Workspace,
    as_of: datetime,
    *,
    judge: WindowJudge | None = None,
    chunks: int = 1,
    task_runner: Any = None,
) -> RunOutcome:
    """One scheduled run: every window closed at ``as_of`` since the watermark.

    ``chunks`` > 1 splits the source's files into chunks mapped over ``task_runner`` (threads,
    or ``prefect_dask.DaskTaskRunner``); per-chunk partial aggregates are merged exactly.
    """
    source, settings = _source(ws)
    judge = judge or WindowJudge.from_workspace(ws, source.name)

    def windows(ws: Workspace, run: RunRecord, j: WindowJudge) -> tuple[list[WindowResult], int]:
        start, end = plan(ws.store, source, settings, as_of)
        if start is None:  # the source never delivered a record: that is due, and an alert
            return [], 1
        if start >= end:
            return [], 0
        if chunks > 1:
            results, _ = aggregate_chunked(
                source, settings, start, end, n_chunks=chunks, task_runner=task_runner
            )
        else:
            results, _ = compute_windows(source, settings, start, end)
        return _commit(ws, source, settings, results, j), int((end - start) / settings.window)

    from canaryflow.runs._production_evidence import schedule_interval

    interval = schedule_interval(ws.config.schedules.production)
    return execute(
        ws,
        ProductionPlugin(windows, judge, interval),
        run_id=production_run_id(as_of),
        model=FLOW,
        as_of=as_of,
        config_hash=_config_hash(ws),
    )


def _floor(t: datetime, step: timedelta) -> datetime:
    """``t`` down to a window boundary (windows are aligned on the epoch)."""
    epoch = datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return t - (t - epoch) % step


def _groups(
    results: list[WindowResult], start: datetime, end: datetime, every: timedelta
) -> Iterator[tuple[datetime, list[WindowResult]]]:
    t = start
    while t < end:
        nxt = min(t + every, end)
        yield nxt, [r for r in results if t <= r.start < nxt]
        t = nxt


def backfill_production(
    ws: Workspace,
    start: datetime,
    end: datetime,
    *,
    every: timedelta = timedelta(hours=1),
    judge: WindowJudge | None = None,
    on_run: Callable[[RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Replay ``[start, end)`` in one process: one scan of the source, then one lifecycle run
    per ``every`` of history (what a schedule at that interval would have done)."""
    source, settings = _source(ws)
    judge = judge or WindowJudge.from_workspace(ws, source.name)
    start, end = _floor(start, settings.window), _floor(end, settings.window)
    results, _ = compute_windows(source, settings, start, end)
    outcomes = []
    for as_of, group in _groups(results, start, end, every):

        def windows(
            ws: Workspace,
            run: RunRecord,
            j: WindowJudge,
            g: list[WindowResult] = group,
            due: int = int(min(every, end - as_of + every) / settings.window),
        ) -> tuple[list[WindowResult], int]:
            return _commit(ws, source, settings, g, j), due

        out = execute(
            ws,
            ProductionPlugin(windows, judge, every),
            run_id=production_run_id(as_of),
            model=FLOW,
            as_of=as_of,
            config_hash=_config_hash(ws),
        )
        outcomes.append(out)
        if on_run is not None:
            on_run(out)
    return outcomes


def judge_estimate(ws: Workspace, start: datetime, end: datetime) -> str:
    """One line: what judging the deterministic sample of ``[start, end)`` will cost."""
    from canaryflow.judges import JudgeItem
    from canaryflow.production import connect, sample_condition

    source, settings = _source(ws)
    judge = WindowJudge.from_workspace(ws, source.name)
    if judge.quality is None:
        return "judge: none configured ([judge] model), the sample is not judged"
    con = connect()
    try:
        source.open(con, lenient=True)
        rows = con.execute(
            "SELECT request_id, feature_id, input, output FROM records WHERE _invalid IS NULL "
            "AND timestamp >= ? AND timestamp < ? AND "
            + sample_condition(settings.sample_rate, settings.sample_rates, settings.salt),
            [start, end],
        ).fetchall()
    finally:
        con.close()
    items = [
        JudgeItem(item_id=str(r[0]), input=r[2] or "", output=r[3] or "", context=r[2] or "")
        for r in rows
    ]
    lines = []
    for j in (judge.quality, judge.safety):
        if j is not None:
            est = j.estimate_cost(items)
            lines.append(f"{j.rubric.name}: {est.line()}")
    return f"judge estimate for {len(items)} sampled records: " + "; ".join(lines)
