"""Judge throughput against the simulator, next to the ideal concurrency / latency.

For each protocol (Anthropic tool use, OpenAI json_schema, through the real SDKs) it measures
the latency of one judge call alone (median of ``--probe`` sequential calls, end to end: prompt,
HTTP, validation), then judges ``--items`` distinct items with ``--concurrency`` calls in flight
and prints items/s, the ideal ``concurrency / latency`` and their ratio (DESIGN §9 target: at
least 90 %). The simulator adds ``--latency-ms`` to every reply, standing in for a model's time
to answer. By default the simulator runs in a child process (``python -m canaryflow.simulator``,
latency set through ``/admin/scenario``), so its CPU time does not compete with the judge for
this interpreter's GIL; ``--in-process`` runs it on a thread here instead. The load average is
printed: on a shared machine the ratio measures the machine as much as the judge.
Usage: ``python benchmarks/judge.py [--items 300] [--concurrency 16] [--latency-ms 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from canaryflow.config import ModelConfig, Pricing, SimulatorConfig
from canaryflow.judges import Judge, JudgeItem, shipped_rubric
from canaryflow.providers import make_client
from canaryflow.simulator import SimulatorServer

REF = "The invoice INV-{k} was issued on 2024-03-05 for 1200 EUR."


def items(n: int, start: int) -> list[JudgeItem]:
    """Distinct items (nothing is cached or repeated)."""
    return [
        JudgeItem(
            item_id=f"b{k}",
            input=f"When was invoice INV-{k} issued and for how much?",
            output=f"Invoice INV-{k} was issued on 2024-03-05 for 1200 EUR.",
            reference=REF.format(k=k),
        )
        for k in range(start, start + n)
    ]


@contextmanager
def child_simulator(latency_ms: float) -> Iterator[Any]:
    """The simulator in a child process, every reply delayed by ``latency_ms``."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "canaryflow.simulator", "--port", str(port), "--noise", "0"],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        body = json.dumps({"name": "latency_regression", "ttft_ms": latency_ms, "per_token_ms": 0})
        req = urllib.request.Request(url + "/admin/scenario", data=body.encode(), method="POST")
        urllib.request.urlopen(req, timeout=5).read()
        yield SimpleNamespace(url=url, openai_url=url + "/v1")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def judge_for(sim: Any, protocol: str, concurrency: int) -> Judge:
    """A judge over the real SDK of ``protocol`` against the simulator."""
    cfg = ModelConfig(
        provider=protocol,  # type: ignore[arg-type]
        model=f"sim-judge-{protocol}",
        base_url=sim.url if protocol == "anthropic" else sim.openai_url,
        api_key_env="CANARYFLOW_BENCH_KEY",
        pricing=Pricing(input=3.0, output=15.0),
        max_concurrency=concurrency,
        timeout_s=30,
    )
    client = make_client(f"bench-{protocol}", cfg)
    return Judge(client, shipped_rubric("quality"), max_concurrency=concurrency)


async def measure(sim: Any, protocol: str, args: argparse.Namespace) -> tuple[float, float]:
    """(single-call latency in s, items/s at the configured concurrency), on one event loop."""
    judge = judge_for(sim, protocol, args.concurrency)
    await judge.score_many(items(args.concurrency, 10_000_000))  # warm up connections
    latencies = []
    for k in range(args.probe):
        t = time.perf_counter()
        (r,) = await judge.score_many(items(1, 20_000_000 + k))
        latencies.append(time.perf_counter() - t)
        assert r.ok, r.reason
    latency = statistics.median(latencies)
    batch = items(args.items, 30_000_000)
    t = time.perf_counter()
    results = await judge.score_many(batch)
    wall = time.perf_counter() - t
    await judge.aclose()
    bad = [r for r in results if not r.ok]
    assert not bad, bad[0].reason
    return latency, len(batch) / wall


def main() -> None:
    """Print the throughput table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    # A real judge call (a few hundred output tokens of reasoning and scores) takes 1-10 s;
    # 1 s is the fast end. Shorter latencies measure this machine's spare CPU, not the judge.
    parser.add_argument("--latency-ms", type=float, default=1000.0)
    parser.add_argument("--in-process", action="store_true", help="simulator on a thread here")
    parser.add_argument("--probe", type=int, default=9, help="sequential calls for the latency")
    args = parser.parse_args()
    os.environ.setdefault("CANARYFLOW_BENCH_KEY", "bench-key")
    where = "in-process" if args.in_process else "child process"
    print(
        f"judge throughput: {args.items} items, concurrency {args.concurrency}, "
        f"simulated model latency {args.latency_ms:.0f} ms, simulator in a {where}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)"
    )
    print(f"{'protocol':<10} {'latency ms':>10} {'ideal/s':>9} {'items/s':>9} {'ratio':>7}")
    server = (
        SimulatorServer(
            SimulatorConfig(seed=0, noise=0.0), base_ttft_ms=args.latency_ms, base_per_token_ms=0
        )
        if args.in_process
        else child_simulator(args.latency_ms)
    )
    with server as sim:
        for protocol in ("anthropic", "openai"):
            latency, rate = asyncio.run(measure(sim, protocol, args))
            ideal = args.concurrency / latency
            print(
                f"{protocol:<10} {latency * 1000:>10.1f} {ideal:>9.1f} {rate:>9.1f} "
                f"{rate / ideal:>7.1%}"
            )


if __name__ == "__main__":
    main()
