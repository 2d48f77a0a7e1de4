"""Figures of the golden-set comparison engine: false regressions, power by set size, report size.

Simulated item outcomes (``canaryflow.golden._simulate``: solid, broken and flaky items; flaky
items correlated across repetitions and, per day and category, across items) are compared with
``canaryflow.golden.compare`` exactly as a daily run or ``canaryflow compare`` would:

1. the same model against one frozen baseline for 30 days (false regression verdicts per day);
2. the same model compared with itself (independent runs) many times;
3. a power table: P(regression verdict) by set size and share of items that break;
4. a 30 % DD/MM transposition on the financial set's day-first items (detection rate);
5. the PR-comment size and render time with 2,000 flipped items.

Usage: ``python benchmarks/golden.py [--quick] [--seed N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from canaryflow.golden import (
    CompareSettings,
    ItemOutcome,
    compare,
    render_comparison_markdown,
)
from canaryflow.golden._simulate import SimulatedSet, simulate_run


def _sets(rng: np.random.Generator) -> list[SimulatedSet]:
    return [
        SimulatedSet.draw("financial_extraction", 60, rng),
        SimulatedSet.draw("rag_qa", 42, rng),
        SimulatedSet.draw("support_bot", 32, rng),
    ]


def false_regressions_daily(
    seeds: int, days: int, settings: CompareSettings
) -> tuple[int, int, int]:
    """Regression and inconclusive verdicts over ``seeds`` x ``days`` in-control daily runs."""
    regressions = inconclusive = total = 0
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        sets = _sets(rng)
        baseline = simulate_run(sets, rng, judged=True)
        for _ in range(days):
            current = simulate_run(sets, rng, judged=True)
            cmp = compare(baseline, current, rng=rng, settings=settings)
            regressions += cmp.verdict == "regression"
            inconclusive += cmp.verdict == "inconclusive"
            total += 1
    return regressions, inconclusive, total


def self_compare(times: int, settings: CompareSettings) -> tuple[int, int]:
    """Regression verdicts when a model is compared with itself ``times`` times."""
    regressions = 0
    for seed in range(times):
        rng = np.random.default_rng(5000 + seed)
        sets = _sets(rng)
        a, b = simulate_run(sets, rng, judged=True), simulate_run(sets, rng, judged=True)
        regressions += compare(a, b, rng=rng, settings=settings).verdict == "regression"
    return regressions, times


def power(n_items: int, drop: float, reps: int, settings: CompareSettings) -> float:
    """P(regression verdict) when ``drop`` of a set's items break in the candidate."""
    hits = 0
    for seed in range(reps):
        rng = np.random.default_rng(9000 + seed)
        sets = [SimulatedSet.draw("s", n_items, rng)]
        a = simulate_run(sets, rng)
        b = simulate_run(sets, rng, flip_share=drop)
        hits += compare(a, b, rng=rng, settings=settings).verdict == "regression"
    return hits / reps


def transposition(reps: int, settings: CompareSettings, eu_items: int = 32) -> tuple[float, float]:
    """Detection rate of a 30 % day/month transposition, and the share of runs whose named
    regressions are exactly the transposed items."""
    hits = exact = 0
    for seed in range(reps):
        rng = np.random.default_rng(7000 + seed)
        fin = SimulatedSet.draw(
            "financial_extraction",
            60,
            rng,
            categories=("dates_eu",) * 8 + ("dates_us", "amounts", "identifiers") * 2,
            flaky_share=0.0,
            broken_share=0.0,
        )
        eu = [i for i, c in zip(fin.item_ids, fin.categories, strict=True) if c == "dates_eu"]
        a = simulate_run([fin], rng)
        b = simulate_run([fin], rng, flip_items=eu[:eu_items], flip_rate=0.3)
        cmp = compare(a, b, rng=rng, settings=settings)
        hits += cmp.verdict == "regression"
        named = {f.item_id for f in cmp.regressions}
        exact += named == {i for i in eu if not b[i].passed}
    return hits / reps, exact / reps


def report_size(flips: int) -> tuple[int, float, int]:
    """Length of the PR comment, its render time and the items it shows, for ``flips`` flips."""
    doc = "Date convention: DD/MM/YYYY\nInvoice date: 03/04/2024\n" * 6

    def outcome(i: int, passed: bool) -> ItemOutcome:
        return ItemOutcome(
            item_id=f"financial_extraction/fin-{i:05d}",
            set="financial_extraction",
            category="dates_eu",
            attempts=3,
            passes=3 if passed else 0,
            errors=0,
            passed=passed,
            output="2024-04-03" if passed else "2024-03-04",
            input=doc,
            expected="2024-04-03",
            failing="" if passed else "iso_date: expected 2024-04-03, got 2024-03-04",
        )

    n = flips + 100
    a = {o.item_id: o for o in (outcome(i, True) for i in range(n))}
    b = {o.item_id: o for o in (outcome(i, i >= flips) for i in range(n))}
    cmp = compare(a, b, rng=np.random.default_rng(0), settings=CompareSettings(resamples=200))
    t = time.perf_counter()
    md = render_comparison_markdown(cmp, full_link="compare/full.md")
    return len(md), time.perf_counter() - t, md.count("**financial\\_extraction/fin-")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about 1 min)")
    parser.add_argument("--seed", type=int, default=0, help="unused; seeds are fixed per figure")
    args = parser.parse_args()
    settings = CompareSettings(resamples=500)
    seeds, days, times, reps = (4, 30, 50, 40) if args.quick else (20, 30, 200, 200)

    t = time.perf_counter()
    r, inc, total = false_regressions_daily(seeds, days, settings)
    print(
        f"daily, same model vs frozen baseline: {r}/{total} regression verdicts "
        f"({r / total:.3f}; alpha {settings.alpha}), {inc / total:.2f} inconclusive "
        f"[{seeds} baselines x {days} days, 134 items, 3 repetitions, correlated flakiness]"
    )
    r, total = self_compare(times, settings)
    print(f"compare, model vs itself: {r}/{total} regression verdicts ({r / total:.3f})")

    sizes, drops = (20, 40, 60, 100, 200), (0.05, 0.10, 0.20, 0.30)
    print("\npower: P(regression verdict) by set size (items) and share of items that break")
    print("items | " + " | ".join(f"{d:.0%}" for d in drops))
    print("---|" + "---|" * len(drops))
    for n in sizes:
        row = [power(n, d, reps, settings) for d in drops]
        print(f"{n} | " + " | ".join(f"{p:.2f}" for p in row))

    hit, exact = transposition(reps, settings)
    print(
        f"\n30 % DD/MM transposition on 32 day-first items (of 60): regression in {hit:.2f} "
        f"of runs; named items exactly the transposed ones in {exact:.2f}"
    )
    size, secs, shown = report_size(2000)
    print(
        f"PR comment with 2,000 flipped items: {size:,} characters (GitHub limit 65,536), "
        f"{shown} items shown, rendered in {secs:.2f} s"
    )
    print(f"total {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
