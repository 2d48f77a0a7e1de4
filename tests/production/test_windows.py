"""Watermarked windows: incremental runs, lateness, kills and reruns, backfill."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from prod_env import START, settings, source

from canaryflow.production import backfill, plan, process, read_watermark
from canaryflow.store import Store

END = START + timedelta(hours=6)


def _src(traffic_dir: Path):  # type: ignore[no-untyped-def]
    return source(
        traffic_dir / "jsonl" / "*.jsonl", "jsonl", signals=str(traffic_dir / "signals.jsonl")
    )


def _st():  # type: ignore[no-untyped-def]
    return settings(user_hourly_limit_usd=0.05, budgets_usd={"total": 2.0, "support-chat": 1.0})


def _stored(store: Store, name: str) -> list[tuple]:
    rows = store.production_windows(name)
    return [
        (r["window_start"], r["feature_id"], r["model_id"], r["metric_set"], r["n"], r["values"])
        for r in rows
    ]


def _fresh(tmp_path: Path, name: str) -> Store:
    return Store.open(f"sqlite:///{tmp_path}/{name}.db")


def test_incremental_runs_equal_one_run(traffic_dir: Path, tmp_path: Path) -> None:
    src = _src(traffic_dir)
    with _fresh(tmp_path, "once") as once, _fresh(tmp_path, "steps") as steps:
        process(once, src, _st(), END + timedelta(minutes=5))
        for h in (1, 2.5, 4, 6):
            process(steps, src, _st(), START + timedelta(hours=h, minutes=5))
        assert _stored(steps, src.name) == _stored(once, src.name)
        assert len({r[0] for r in _stored(once, src.name)}) == 24
        assert read_watermark(once, src.name) == END


def test_lateness_keeps_the_last_window_open(traffic_dir: Path, tmp_path: Path) -> None:
    src = _src(traffic_dir)
    with _fresh(tmp_path, "s") as store:
        st = settings(lateness=timedelta(minutes=10))
        # 01:14 - 10 min lateness -> windows up to 01:00 are closed, 01:00-01:15 is not.
        start, end = plan(store, src, st, START + timedelta(hours=1, minutes=14))
        assert (start, end) == (START, START + timedelta(hours=1))
        summary = process(store, src, st, START + timedelta(hours=1, minutes=14))
        assert summary.windows == 4 and summary.watermark == START + timedelta(hours=1)
        again = process(store, src, st, START + timedelta(hours=1, minutes=14))
        assert again.windows == 0 and again.records == 0  # nothing counted twice


def test_window_totals_budget_and_hourly_limit(traffic_dir: Path, tmp_path: Path) -> None:
    src = _src(traffic_dir)
    with _fresh(tmp_path, "s") as store:
        process(store, src, _st(), END + timedelta(minutes=5))
        totals = store.production_windows(src.name, metric_set="window")
        ops = store.production_windows(src.name, metric_set="ops")
        spent = 0.0
        for t in totals:
            spent += sum(
                o["values"]["cost_usd"] for o in ops if o["window_start"] == t["window_start"]
            )
            b = t["values"]["budget"]["total"]
            assert b["spent_usd"] == pytest.approx(spent)
            want = "exceeded" if spent >= 2 else "warning" if spent >= 1.6 else "ok"
            assert b["level"] == want
            assert t["n"] == sum(o["n"] for o in ops if o["window_start"] == t["window_start"])
        assert {t["values"]["budget"]["total"]["level"] for t in totals} >= {"ok", "exceeded"}
        over = [u for t in totals for u in t["values"].get("users_over_hourly_limit", [])]
        assert over and all(u["hour_to_date_usd"] > 0.05 for u in over)


def test_failure_inside_a_window_rolls_it_back_and_a_rerun_completes(
    traffic_dir: Path, tmp_path: Path
) -> None:
    src = _src(traffic_dir)
    seen = []

    def boom(result, conn) -> None:  # type: ignore[no-untyped-def]
        seen.append(result.start)
        if len(seen) == 4:
            raise RuntimeError("injected failure after the window's writes")

    with _fresh(tmp_path, "ref") as ref, _fresh(tmp_path, "s") as store:
        process(ref, src, _st(), END + timedelta(minutes=5))
        with pytest.raises(RuntimeError, match="injected"):
            process(store, src, _st(), END + timedelta(minutes=5), on_window=boom)
        assert read_watermark(store, src.name) == START + timedelta(minutes=45)
        assert {r[0] for r in _stored(store, src.name)} == {
            START + timedelta(minutes=15 * i) for i in range(3)
        }
        process(store, src, _st(), END + timedelta(minutes=5))
        assert _stored(store, src.name) == _stored(ref, src.name)
        ids = [i.item_id for i in store.list_review_items()]
        assert sorted(ids) == sorted(i.item_id for i in ref.list_review_items())


_KILLER = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime, timedelta
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from prod_env import source, settings
    from canaryflow.production import process
    from canaryflow.store import Store

    kill_at = int(sys.argv[1])
    src = source(Path({dir!r}) / "jsonl" / "*.jsonl", "jsonl", signals={signals!r})
    st = settings(user_hourly_limit_usd=0.05, budgets_usd={{"total": 2.0, "support-chat": 1.0}})
    count = 0
    def hook(result, conn):
        global count
        count += 1
        if count == kill_at:
            os._exit(9)  # a hard kill: the open transaction is never committed
    with Store.open({url!r}) as store:
        process(store, src, st, datetime.fromisoformat({as_of!r}), on_window=hook)
    """
)


@pytest.mark.parametrize("kill_points", [(1,), (7,), (3, 3, 20)])
def test_killed_process_reruns_to_the_same_result(
    traffic_dir: Path, tmp_path: Path, kill_points: tuple[int, ...]
) -> None:
    src = _src(traffic_dir)
    as_of = END + timedelta(minutes=5)
    url = f"sqlite:///{tmp_path}/killed.db"
    script = tmp_path / "killer.py"
    script.write_text(
        _KILLER.format(
            tests=str(Path(__file__).parent),
            dir=str(traffic_dir),
            signals=str(traffic_dir / "signals.jsonl"),
            url=url,
            as_of=as_of.isoformat(),
        )
    )
    Store.open(url).close()
    for k in kill_points:
        proc = subprocess.run([sys.executable, str(script), str(k)], capture_output=True, text=True)
        assert proc.returncode == 9, proc.stderr
    with Store.open(url) as store, _fresh(tmp_path, "ref") as ref:
        committed = sum(k - 1 for k in kill_points)  # each kill loses only its open window
        want = START + timedelta(minutes=15 * committed) if committed else None
        assert read_watermark(store, src.name) == want
        process(store, src, _st(), as_of)  # the rerun
        process(ref, src, _st(), as_of)
        assert _stored(store, src.name) == _stored(ref, src.name)
        assert len(store.list_review_items()) == len(ref.list_review_items())


def test_backfill_equals_scheduled_runs_and_is_idempotent(
    traffic_dir: Path, tmp_path: Path
) -> None:
    src = _src(traffic_dir)
    with _fresh(tmp_path, "runs") as runs, _fresh(tmp_path, "bf") as bf:
        for h in (2, 4, 6):
            process(runs, src, _st(), START + timedelta(hours=h, minutes=5))
        s1 = backfill(bf, src, _st(), START, END)
        first = _stored(bf, src.name)
        s2 = backfill(bf, src, _st(), START, END)
        assert first == _stored(runs, src.name) == _stored(bf, src.name)
        assert s1.windows == s2.windows == 24 and s1.records == s2.records
        assert read_watermark(bf, src.name) == END
        # A backfill of an older range never moves the watermark back.
        backfill(bf, src, _st(), START, START + timedelta(hours=1))
        assert read_watermark(bf, src.name) == END


def test_users_and_top_spenders_equal_pandas(traffic, traffic_dir: Path, tmp_path: Path) -> None:
    from prod_env import PRICES

    src = _src(traffic_dir)
    with _fresh(tmp_path, "s") as store:
        summary = process(store, src, _st(), END + timedelta(minutes=5))
    rec = traffic.records.assign(
        w=traffic.records["timestamp"].dt.floor("15min"),
        cost=lambda d: (
            (
                d["input_tokens"] * d["model_id"].map(lambda m: PRICES[m][0])
                + d["output_tokens"] * d["model_id"].map(lambda m: PRICES[m][1])
            )
            / 1e6
        ),
    )
    for res in summary.results:
        g = rec[rec["w"] == res.start]
        assert res.totals["users"] == g["user_id"].nunique()
        spend = g.groupby("user_id")["cost"].sum().sort_values(ascending=False)
        top = res.totals["top_spenders"]
        assert [t["user_id"] for t in top[:3]] == list(spend.index[:3])
        assert top[0]["cost_usd"] == pytest.approx(spend.iloc[0], abs=1e-9)


def test_empty_source_has_nothing_to_do(tmp_path: Path) -> None:
    src = source(tmp_path / "none-*.jsonl", "jsonl")
    with _fresh(tmp_path, "s") as store:
        assert plan(store, src, _st(), END)[0] is None
        summary = process(store, src, _st(), END)
        assert summary.windows == 0 and summary.watermark is None
