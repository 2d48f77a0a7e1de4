"""The flow's scale-out path: the window work split into chunks of files mapped over a Prefect
task runner stores exactly what one process stores (per-chunk partials merged exactly)."""

from __future__ import annotations

import pytest
from prodflow_env import at, project

from canaryflow.runs.production import run_production


@pytest.mark.usefixtures("prefect_harness")
def test_chunked_run_stores_the_same_windows_and_items(tmp_path):
    stored = {}
    for name, chunks in (("single", 1), ("chunked", 3)):
        ws = project(tmp_path / name, days=0.1, warmup=12, parts=3)
        out = run_production(ws, at(2.2), chunks=chunks)
        rows = ws.store.production_windows(ws.config.production.source)
        items = ws.store.items_for_runs([out.run.run_id])
        stored[name] = (
            sorted((r["window_start"], r["feature_id"], r["metric_set"], r["n"]) for r in rows),
            [(i.item_id, i.extra.get("ops"), i.extra.get("totals")) for i in items],
        )
    assert stored["single"][0] and stored["single"] == stored["chunked"]
