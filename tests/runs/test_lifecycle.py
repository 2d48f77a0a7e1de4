"""The shared run lifecycle under state changes and faults (issue 8 defects 1, 3, 4, 6, 7, 8).

Every state change is tested *after* it happens: 48 monitored runs after an accepted change, a
promote and a reset; a transient store error between the chart update and the incident; a
kill between baseline inserts; reruns of history; a run left running by a killed process.
Runs answer from the simulator's in-process core (same rules and scenarios as the HTTP server).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from canary_env import PROBES, T0, write_config

from canaryflow import baselines
from canaryflow.config import load_config
from canaryflow.errors import StoreError
from canaryflow.records import RunRecord, utcnow
from canaryflow.runs import Workspace, run_canary
from canaryflow.runs._canary_detect import canary_stats
from canaryflow.simulator import SimulatorCore
from canaryflow.simulator.testing import sim_client_factory

MODEL = "support-bot"
W = 12


def _probes(tmp: Path) -> Path:
    """A slice of the shipped library (dates, safety, JSON): the same probes, fewer calls."""
    out = tmp / "probes"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("dates_eu.yaml", "safety_refusal.yaml", "json_format.yaml"):
        shutil.copy(PROBES / name, out / name)
    return out


def _ws(tmp: Path, seed: int, **kw: Any) -> tuple[Workspace, SimulatorCore]:
    tmp.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp, seed=seed, warmup_runs=W, probes_dir=_probes(tmp), **kw)
    cfg = load_config(path)
    core = SimulatorCore(seed=cfg.simulator.seed, noise=cfg.simulator.noise)
    return Workspace(cfg, client_factory=sim_client_factory(core)), core


def _hours(ws: Workspace, start: int, n: int) -> Iterator[Any]:
    for h in range(start, start + n):
        (o,) = run_canary(ws, models=[MODEL], as_of=T0 + timedelta(hours=h))
        yield o


def _changed_model_incident(ws: Workspace, core: SimulatorCore) -> tuple[Any, int]:
    """Warm up, then switch the model to transposing EU dates: an incident opens."""
    list(_hours(ws, 0, W))
    assert ws.store.list_baselines("canary", MODEL)
    core.set_scenario("date_transposition", rate=0.5)
    (o,) = list(_hours(ws, W, 1))
    assert [c.action for c in o.incidents] == ["opened"], o.summary
    return o.incidents[0].incident, W + 1


def _quiet(outcomes: list[Any]) -> None:
    opened = [(o.run.run_id, c.incident.title) for o in outcomes for c in o.incidents]
    assert opened == [], opened


def test_48_runs_after_an_accepted_change_open_nothing(tmp_path: Path) -> None:
    """Defect 1: the old baseline's CUSUM kept paging after `resolve --as accepted_change`."""
    ws, core = _ws(tmp_path, seed=8101)
    incident, nxt = _changed_model_incident(ws, core)
    ws.incidents().resolve(
        incident.incident_id,
        "accepted_change",
        "the new format is intended",
        promote=lambda inc: baselines.accept_change(ws.store, inc),
    )
    after = list(_hours(ws, nxt, 48))
    _quiet(after)
    phases = [o.summary["phase"] for o in after]
    # Runs since the change (the incident's included) warm the new baseline up at once or soon.
    assert "monitor" in phases and phases.index("monitor") <= W
    (b,) = ws.store.list_baselines("canary", MODEL, subject="dates_eu", metric="pass_rate")
    assert b.baseline_version == 2 and b.window_start >= T0 + timedelta(hours=W)
    assert b.stats["rate"] < 1.0, "the new normal (transposed dates) is the new baseline"


def test_48_runs_after_a_promote_open_nothing(tmp_path: Path) -> None:
    ws, core = _ws(tmp_path, seed=8102)
    list(_hours(ws, 0, W))
    core.set_scenario("date_transposition", rate=0.5)
    changed = list(_hours(ws, W, W))  # monitored: incidents open, then a promote accepts them
    assert any(o.incidents for o in changed)
    for inc in ws.store.list_incidents(state="open"):
        ws.incidents().resolve(inc.incident_id, "false_alarm", "promoting instead")
    baselines.promote(
        ws.store,
        flow="canary",
        model=MODEL,
        reason="new date format",
        stats_fn=canary_stats,
        since=T0 + timedelta(hours=W),
    )
    _quiet(list(_hours(ws, 2 * W, 48)))


def test_48_runs_after_a_reset_open_nothing(tmp_path: Path) -> None:
    ws, core = _ws(tmp_path, seed=8103)
    list(_hours(ws, 0, W))
    core.set_scenario("date_transposition", rate=0.5)
    baselines.reset(ws.store, "canary", MODEL, "new model version")
    after = list(_hours(ws, W, W + 48))
    _quiet(after)
    assert [o.summary["phase"] for o in after[:W]] == ["warmup"] * W
    assert all(o.summary["phase"] == "monitor" for o in after[W:])


def test_a_transient_store_error_before_the_incident_loses_no_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 3: the chart was saved before the alert was filed, so a rerun never alarmed."""
    clean, core = _ws(tmp_path / "clean", seed=8104, noise=0.0)
    _, hour = _changed_model_incident(clean, core)
    expected = sorted((a.metric, a.test) for a in clean.store.list_alerts())

    ws, core = _ws(tmp_path / "faulty", seed=8104, noise=0.0)
    list(_hours(ws, 0, W))
    core.set_scenario("date_transposition", rate=0.5)
    real = Workspace.incidents
    calls = {"n": 0}

    def flaky(self: Workspace, context: Any = None) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreError("store 'sqlite://': database is locked (transient)")
        return real(self, context)

    monkeypatch.setattr(Workspace, "incidents", flaky)
    with pytest.raises(StoreError):
        list(_hours(ws, W, 1))
    (again,) = list(_hours(ws, W, 1))  # the rerun (a Prefect task retry does the same)
    assert [c.action for c in again.incidents] == ["opened"]
    assert sorted((a.metric, a.test) for a in ws.store.list_alerts()) == expected
    assert hour == W + 1


def test_a_kill_between_baseline_inserts_leaves_no_partial_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 4: a kill between per-subject inserts left safety/fingerprint unmonitored."""
    ws, _ = _ws(tmp_path, seed=8105)
    list(_hours(ws, 0, W - 1))
    real = type(ws.store).save_baseline
    saved = {"n": 0}

    def dies_on_third(self: Any, b: Any, **kw: Any) -> Any:
        saved["n"] += 1
        if saved["n"] == 3:
            raise KeyboardInterrupt("killed")  # what a SIGTERM/SIGINT looks like mid-write
        return real(self, b, **kw)

    monkeypatch.setattr(type(ws.store), "save_baseline", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        list(_hours(ws, W - 1, 1))
    assert ws.store.list_baselines("canary", MODEL, include_inactive=True) == []
    monkeypatch.undo()
    (o,) = list(_hours(ws, W - 1, 1))  # the rerun of the killed hour freezes everything
    stored = ws.store.list_baselines("canary", MODEL)
    assert {b.metric for b in stored} >= {"pass_rate", "fingerprint", "latency_log_p50"}
    assert "safety_refusal" in {b.subject for b in stored}
    assert len({b.run_ids for b in stored}) == 1 and o.summary["phase"] == "warmup"


def test_rerunning_a_run_that_fed_a_baseline_is_a_noop_that_says_so(tmp_path: Path) -> None:
    """Defect 7: a backfill rerun turned warm-up runs into monitor runs against themselves."""
    ws, _ = _ws(tmp_path, seed=8106)
    first = list(_hours(ws, 0, W + 2))
    items_before = ws.store.items_for_runs([first[3].run.run_id])
    baselines_before = ws.store.list_baselines("canary", MODEL, include_inactive=True)
    again = list(_hours(ws, 0, W))
    for o in again:
        assert o.skipped and "fed a frozen baseline" in o.skipped
        assert o.summary["phase"] == "warmup"
    assert ws.store.items_for_runs([first[3].run.run_id]) == items_before
    assert ws.store.list_baselines("canary", MODEL, include_inactive=True) == baselines_before
    # A monitored hour is still rerun (same id, same result).
    (m,) = list(_hours(ws, W, 1))
    assert m.skipped is None and m.summary["phase"] == "monitor"


def test_a_run_left_running_by_a_killed_process_is_finished_as_crashed(tmp_path: Path) -> None:
    """Defect 8: runs started without --as-of stayed 'running' forever after a kill."""
    ws, _ = _ws(tmp_path, seed=8107)
    stale = RunRecord(
        run_id="canary-support-bot-killed",
        flow="canary",
        model=MODEL,
        config_hash="x",
        as_of=T0 - timedelta(hours=5),
        started_at=utcnow() - timedelta(hours=3),
    )
    ws.store.begin_run(stale)
    recent = stale.model_copy(update={"run_id": "canary-support-bot-busy", "started_at": utcnow()})
    ws.store.begin_run(recent)  # another process, legitimately running right now
    (o,) = list(_hours(ws, 0, 1))
    assert ws.store.get_run(stale.run_id).status == "crashed"  # type: ignore[union-attr]
    assert ws.store.get_run(recent.run_id).status == "running"  # type: ignore[union-attr]
    assert any("crashed" in n and stale.run_id in n for n in o.summary["notes"])
