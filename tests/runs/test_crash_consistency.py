"""Kill -9 anywhere, run concurrently: the store ends identical to an uninterrupted run.

One project replays 20 hours of the canary without interruption. A second replays the same
hours while being killed with SIGKILL at 20 random moments (each time restarted, resuming),
then runs five pairs of monitored hours in two concurrent processes. Both stores must hold the
same runs, items, baselines, chart points, incidents and alerts (issue 8, defects 4, 5, 7, 8).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from canary_env import PROBES, write_config
from sqlalchemy import select

from canaryflow.config import load_config
from canaryflow.store import Store
from canaryflow.store._tables import chart_points

WORKER = Path(__file__).with_name("crash_worker.py")
HOURS = list(range(20))
PAIRS = [(10, 11), (12, 13), (14, 15), (16, 17), (18, 19)]
"""Hours run by two processes at once (after the 12-run warm-up: both monitor)."""

pytestmark = pytest.mark.slow


def _project(tmp: Path, seed: int) -> Path:
    tmp.mkdir(parents=True)
    probes = tmp / "probes"
    probes.mkdir()
    for name in ("dates_eu.yaml", "safety_refusal.yaml", "json_format.yaml"):
        shutil.copy(PROBES / name, probes / name)
    return write_config(tmp, seed=seed, warmup_runs=12, probes_dir=probes, noise=0.0)


def _start(config: Path, hours: list[int]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(config), *map(str, hours)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]


def snapshot(config: Path) -> dict[str, Any]:
    """Everything a run decides, without wall-clock times, paths or latencies."""
    cfg = load_config(config)
    store = Store.open(cfg.store.url)
    runs = store.list_runs("canary", "support-bot", newest_first=False)
    items = store.items_for_runs([r.run_id for r in runs])
    with store.engine.connect() as c:
        points = sorted(
            (
                r.subject,
                r.metric,
                r.baseline_version,
                r.run_id,
                json.dumps(r.result, sort_keys=True),
            )
            for r in c.execute(select(chart_points))
            if r.metric != "latency_ewma"
        )
    out = {
        "runs": sorted((r.run_id, r.status, r.summary.get("phase")) for r in runs),
        "items": sorted(
            (i.run_id, i.item_id, i.attempt, i.passed, i.output, i.error_kind) for i in items
        ),
        "baselines": sorted(
            (b.subject, b.metric, b.baseline_version, b.active, b.run_ids, json.dumps(b.stats))
            for b in store.list_baselines("canary", "support-bot", include_inactive=True)
            if b.metric != "latency_log_p50"
        ),
        "points": points,
        "incidents": sorted(
            (i.incident_id, i.state, tuple(sorted(i.run_ids)))
            for i in store.list_incidents(flow="canary")
        ),
        "alerts": sorted((a.run_id, a.subject, a.metric, a.test) for a in store.list_alerts()),
    }
    store.close()
    return out


def test_kills_and_concurrent_runs_leave_the_store_as_an_uninterrupted_run(tmp_path: Path) -> None:
    clean = _project(tmp_path / "clean", seed=8200)
    _finish(_start(clean, HOURS))
    expected = snapshot(clean)
    assert expected["alerts"] and len(expected["runs"]) == len(HOURS)

    faulty = _project(tmp_path / "faulty", seed=8200)
    rng = random.Random(8200)
    sequential = [h for h in HOURS if h < PAIRS[0][0]]
    kills = 0
    while kills < 20:
        proc = _start(faulty, sequential)
        time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is not None:  # it finished before the kill: start over in a new store?
            break  # no: everything is done; the remaining kills hit the concurrent phase
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    _finish(_start(faulty, sequential))
    for a, b in PAIRS:
        # Two processes at once, each with its own hour; then once more (a rerun) killed.
        p1, p2 = _start(faulty, [a]), _start(faulty, [b])
        _finish(p1)
        _finish(p2)
    for a, b in PAIRS[:2]:
        victim = _start(faulty, [a, b])
        time.sleep(rng.uniform(0.3, 2.0))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    _finish(_start(faulty, HOURS))
    got = snapshot(faulty)
    for key in expected:
        assert got[key] == expected[key], key
    assert kills >= 1
