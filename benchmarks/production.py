"""Production window aggregation throughput and memory: canaryflow (DuckDB) beside pandas.

Generates N seeded records (default 2,000,000; ``canaryflow.production.generator``) as JSONL
and Parquet, then runs each engine in its own subprocess so that its max RSS is its own, and
prints records per CPU-minute (user + system CPU of the work, all threads, imports excluded)
and max RSS:

* ``canaryflow ops``: the ops metric set of every 15-minute window x feature x model (counts,
  error / refusal / truncation / flag rates with the hard-block regex on every output, exact
  interpolated latency / TTFT / TBT p50/p95/p99, tokens, cost from pricing, users) -- one scan;
* ``canaryflow full``: ``compute_windows`` -- the above plus per-user spend, the judge sample
  and safety rows, the quarantine check (four scans) and the Python assembly of the windows;
* ``pandas``: ``pd.read_json(lines=True)`` (or ``read_parquet``) and a groupby with the same
  ops metrics and exact quantiles.

Targets (DESIGN §9, issue 11): >= 30 M records/CPU-minute from JSONL, >= 100 M from Parquet,
RSS < 1 GB.

    python benchmarks/production.py [--records 2000000] [--dir /tmp/cf-bench] [--skip-pandas]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 1, tzinfo=UTC)
RATE_PER_MIN = 20.0
PRICES = {"claude-sonnet-4": (3.0, 15.0), "gpt-4o-mini": (0.15, 0.6), "claude-haiku-4": (1.0, 5.0)}


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _peak_rss() -> float:
    """Peak RSS in bytes of this process since its exec (Linux ``VmHWM``).

    ``ru_maxrss`` survives ``execve`` on Linux, so a child would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _prepare(directory: Path, n: int) -> tuple[Path, Path, int, float]:
    from canaryflow.production.generator import TrafficSpec, generate, write

    jsonl, parquet = directory / "records.jsonl", directory / "records.parquet"
    meta = directory / "meta.json"
    if meta.exists() and json.loads(meta.read_text())["requested"] == n:
        m = json.loads(meta.read_text())
        return jsonl, parquet, m["records"], m["days"]
    days = n / (RATE_PER_MIN * 60 * 24)
    t0 = time.perf_counter()
    traffic = generate(TrafficSpec(start=START, days=days, rate_per_min=RATE_PER_MIN, seed=2026))
    write(traffic.records, jsonl)
    write(traffic.records, parquet)
    count = len(traffic.records)
    meta.write_text(json.dumps({"requested": n, "records": count, "days": days}))
    print(
        f"generated {count:,} records in {time.perf_counter() - t0:.0f} s "
        f"({jsonl.stat().st_size / 1e9:.2f} GB JSONL, "
        f"{parquet.stat().st_size / 1e6:.0f} MB Parquet)"
    )
    return jsonl, parquet, count, days


def _engine(name: str, path: str, days: float) -> dict[str, float]:
    """Run one engine in this process and return its figures (called in a subprocess)."""
    import pandas as pd

    from canaryflow.production import ProductionSource, Settings, compute_windows, connect
    from canaryflow.production import _metrics as mx
    from canaryflow.production._engine import _setup

    end = START + timedelta(days=days) + timedelta(minutes=15)
    kind = "parquet" if path.endswith(".parquet") else "jsonl"
    cpu0, wall0 = _cpu(), time.perf_counter()
    if name == "ops":
        src = ProductionSource(records=path, kind=kind, prices=PRICES)
        con = connect()
        _setup(con, src, Settings(), START, end, None, False, materialize=False)
        groups = len(con.sql(mx.single_query(mx.OPS)).to_arrow_table())
    elif name == "full":
        src = ProductionSource(records=path, kind=kind, prices=PRICES)
        results, _ = compute_windows(src, Settings(), START, end)
        groups = sum(len(w.ops) for w in results)
    else:
        if kind == "jsonl":
            df = pd.read_json(path, lines=True, dtype={"error": "object"})
        else:
            df = pd.read_parquet(path)
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
        df["window_start"] = df["timestamp"].dt.floor("15min")
        pin = df["model_id"].map({m: p[0] for m, p in PRICES.items()})
        pout = df["model_id"].map({m: p[1] for m, p in PRICES.items()})
        df["cost"] = (df["input_tokens"] * pin + df["output_tokens"] * pout) / 1e6
        df["is_error"] = df["error"].notna()
        df["is_refusal"] = df["finish_reason"].eq("refusal")
        df["is_length"] = df["finish_reason"].eq("length")
        keys = ["window_start", "feature_id", "model_id"]
        g = df.groupby(keys)
        agg = g.agg(
            n=("request_id", "size"),
            errors=("is_error", "mean"),
            refusals=("is_refusal", "mean"),
            truncations=("is_length", "mean"),
            in_tok=("input_tokens", "sum"),
            out_tok=("output_tokens", "sum"),
            cost=("cost", "sum"),
            users=("user_id", "nunique"),
        )
        ok = df[~df["is_error"]].groupby(keys)
        qs = ok[["latency_ms", "ttft_ms", "tbt_ms"]].quantile([0.5, 0.95, 0.99])
        groups = len(agg)
        del qs
    cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
    rss = _peak_rss()
    return {"cpu_s": cpu, "wall_s": wall, "rss_bytes": rss, "groups": groups}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "canaryflow-bench")
    ap.add_argument("--skip-pandas", action="store_true", help="pandas needs ~10 GB for 2 M")
    ap.add_argument("--_engine", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._engine:
        name, path, days = args._engine
        print(json.dumps(_engine(name, path, float(days))))
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    jsonl, parquet, n, days = _prepare(args.dir, args.records)
    runs = [("canaryflow ops", "ops"), ("canaryflow full", "full")]
    if not args.skip_pandas:
        runs.append(("pandas", "pandas"))
    print(
        f"\n{n:,} records, 15-minute windows x feature x model, exact p50/p95/p99; "
        f"{'M rec/CPU-min':>14} {'CPU s':>7} {'wall s':>7} {'max RSS':>9}"
    )
    targets = {"JSONL": 30e6, "Parquet": 100e6}
    for fmt, path in (("JSONL", jsonl), ("Parquet", parquet)):
        for label, engine in runs:
            proc = subprocess.run(
                [sys.executable, __file__, "--_engine", engine, str(path), str(days)],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                print(f"{fmt:8} {label:18} failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rate = n / (r["cpu_s"] / 60)
            mark = ""
            if engine != "pandas":
                ok = rate >= targets[fmt] and r["rss_bytes"] < 1e9
                mark = "  meets target" if ok else "  BELOW target"
            print(
                f"{fmt:8} {label:18} {rate / 1e6:14.1f} {r['cpu_s']:7.2f} {r['wall_s']:7.2f} "
                f"{r['rss_bytes'] / 2**30:7.2f} GiB  ({r['groups']:,} groups){mark}"
            )
    print("\ntargets: >= 30 M/CPU-min JSONL, >= 100 M/CPU-min Parquet, RSS < 1 GB (canaryflow)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
