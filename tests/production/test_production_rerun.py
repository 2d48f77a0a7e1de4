"""Rerun and kill: the production lifecycle keeps results exact (the engine's own kill tests
cover the windows; these cover the runs, charts and incidents on top)."""

from __future__ import annotations

from typing import Any

import pytest
from prodflow_env import START, at, project

from canaryflow.production.generator import Change
from canaryflow.runs._production_judge import WindowJudge
from canaryflow.runs.production import backfill_production, run_production
from canaryflow.store import ChartKey

CHAT = "support-chat/claude-sonnet-4"


def _state(ws: Any) -> tuple[Any, ...]:
    b = ws.store.active_baseline("production", "production", CHAT, "ttft_p50")
    hist = ws.store.chart_history(ChartKey.of(b, "ttft_p50_ewma"), limit=10_000)
    rows = ws.store.production_windows(ws.config.production.source, metric_set="ops")
    incidents = sorted((i.incident_id, len(i.alerts)) for i in ws.store.list_incidents())
    return [(p["as_of"], p["statistic"], p["alarm"]) for p in hist], len(rows), incidents


def test_rerunning_a_backfill_changes_nothing(tmp_path):
    change = Change("ttft_regression", at(15), "support-chat", 3.0)
    ws = project(tmp_path, days=0.75, warmup=12, changes=[change])
    first = backfill_production(ws, START, at(18))
    assert any(o.incidents for o in first)
    before = _state(ws)
    again = backfill_production(ws, START, at(18))
    assert all(o.skipped for o in again[:12])  # the warm-up fed the baseline: history
    assert [o.run.status for o in again[12:]] == [o.run.status for o in first[12:]]
    assert _state(ws)[:2] == before[:2]  # same chart points, same stored windows
    assert [i for i, _ in _state(ws)[2]] == [i for i, _ in before[2]]  # same incidents


class _Killed(RuntimeError):
    pass


class _DiesOnce(WindowJudge):
    calls = 0

    def on_window(self, res: Any, conn: Any) -> None:
        type(self).calls += 1
        if type(self).calls == 3:
            raise _Killed("killed in the third window's transaction")
        super().on_window(res, conn)


def test_a_run_killed_mid_way_and_rerun_equals_an_uninterrupted_one(tmp_path):
    runs = {}
    for name in ("clean", "killed"):
        ws = project(tmp_path / name, days=0.75, warmup=12)
        backfill_production(ws, START, at(12))
        if name == "killed":
            judge = _DiesOnce.from_workspace(ws, ws.config.production.source)
            with pytest.raises(_Killed):
                run_production(ws, at(14) + (at(0.1) - START), judge=judge)
        out = run_production(ws, at(14) + (at(0.1) - START))
        runs[name] = (out, _state(ws), ws.store.items_for_runs([out.run.run_id]))
    (a, sa, ia), (b, sb, ib) = runs["clean"], runs["killed"]
    assert a.run.run_id == b.run.run_id and a.run.status == b.run.status
    assert sa[:2] == sb[:2]

    def same(items: Any) -> list[Any]:
        return [(i.item_id, i.extra.get("ops"), i.extra.get("totals")) for i in items]

    assert len(ia) > 4 and same(ia) == same(ib)
