"""The model-upgrade gate: two models on the same golden items (and probes), paired.

Both models answer every item of the chosen sets (and, with a probe directory, every canary
probe as a paired item of the pseudo-set ``probes``, one category per family); checks and the
judge score both; ``canaryflow.golden.compare`` gives the verdict per set and category with
effect sizes and intervals. Both sides are stored as ``upgrade`` runs (the candidate's run
names the baseline's in its summary), so ``rerender`` rebuilds the same comparison from the
store: the bootstrap is seeded by the run id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np

from canaryflow.errors import CanaryflowError
from canaryflow.golden import (
    CompareSettings,
    Comparison,
    ComparisonPaths,
    compare,
    write_comparison,
)
from canaryflow.records import ItemResult, RunRecord, utcnow
from canaryflow.runs._golden_collect import (
    collect_golden,
    load_golden,
    outcomes_of,
    run_config_hash,
    seed_for,
)
from canaryflow.runs._workspace import Workspace

__all__ = ["FLOW", "UpgradeResult", "compare_models", "rerender", "upgrade_run_id"]

FLOW: Final = "upgrade"
PROBE_SET = "probes"


class UpgradeResult(NamedTuple):
    run_id: str
    comparison: Comparison
    paths: ComparisonPaths


def upgrade_run_id(baseline: str, candidate: str, as_of: datetime) -> str:
    return f"upgrade-{candidate}-vs-{baseline}-{as_of:%Y%m%dT%H%M%SZ}"


def _probe_items(
    ws: Workspace, model: str, probes_dir: str | Path, *, run_id: str, as_of: datetime
) -> list[ItemResult]:
    """Canary probes as paired golden-like items (set ``probes``, category = family)."""
    from canaryflow.runs._probing import probe_model
    from canaryflow.runs.canary_batch import load_canary_probes

    probes = load_canary_probes(ws, probes_dir).probes
    cfg = ws.config
    rows = probe_model(
        model,
        cfg.models[model],
        cfg.simulator,
        probes,
        run_id=run_id,
        as_of=as_of,
        client_factory=ws.client_factory,
    )
    return [
        r.model_copy(
            update={
                "item_id": f"{PROBE_SET}/{r.item_id}",
                "flow": FLOW,
                "extra": {**r.extra, "set": PROBE_SET, "category": r.subject},
            }
        )
        for r in rows
    ]


def compare_models(
    ws: Workspace,
    baseline: str,
    candidate: str,
    *,
    sets: Sequence[str] | None = None,
    probes_dir: str | Path | None = None,
    report_dir: str | Path | None = None,
    full_report_url: str | None = None,
    as_of: datetime | None = None,
    pairwise: bool = False,
) -> UpgradeResult:
    """Run both models on the same items, store both runs, compare, write the PR artifacts.

    With ``pairwise``, the judge also compares the two answers to each judged item head to
    head, asked in both orders (a preference that flips with the order is a tie); the tally
    and a sign test are reported beside the verdict, which stays the paired tests'.
    """
    cfg = ws.config
    cfg.model_keys([baseline, candidate])
    golden = [] if sets is not None and not sets else load_golden(cfg, sets)
    when = (as_of or utcnow()).replace(microsecond=0)
    run_id = upgrade_run_id(baseline, candidate, when)
    config_hash = run_config_hash(cfg, golden)
    for side, model in (("baseline", baseline), ("candidate", candidate)):
        rid = run_id if side == "candidate" else f"{run_id}-baseline"
        run = RunRecord(
            run_id=rid,
            flow=FLOW,
            model=model,
            config_hash=config_hash,
            as_of=when,
            started_at=utcnow(),
            summary={"side": side, "baseline_run": f"{run_id}-baseline"},
        )
        ws.store.begin_run(run)
        items = [
            i.model_copy(update={"flow": FLOW})
            for i in collect_golden(ws, golden, model, run_id=rid, as_of=when)
        ]
        if probes_dir is not None:
            items += _probe_items(ws, model, probes_dir, run_id=rid, as_of=when)
        if not items:
            raise CanaryflowError("nothing to compare: no golden set and no probe directory")
        ws.store.save_items(items)
        ws.store.finish_run(rid, "completed", {**run.summary, "attempts": len(items)})
    if pairwise:
        tally = pairwise_tally(ws, f"{run_id}-baseline", run_id, golden)
        cand = ws.store.get_run(run_id)
        assert cand is not None
        ws.store.finish_run(run_id, "completed", {**cand.summary, "pairwise": tally})
    return rerender(ws, run_id, report_dir=report_dir, full_report_url=full_report_url)


def build_comparison(ws: Workspace, run_id: str) -> Comparison:
    """The comparison of a stored upgrade run (deterministic: the bootstrap is seeded)."""
    cand = ws.store.get_run(run_id)
    if cand is None or cand.flow != FLOW or cand.summary.get("side") != "candidate":
        raise CanaryflowError(
            f"no upgrade run {run_id!r}: give the run id `canaryflow compare` printed"
        )
    base = ws.store.get_run(str(cand.summary["baseline_run"]))
    if base is None:
        raise CanaryflowError(f"the baseline side of {run_id} is missing from the store")
    b_items = ws.store.items_for_runs([base.run_id])
    c_items = ws.store.items_for_runs([cand.run_id])
    sets = {str(i.extra.get("set")) for i in c_items}
    headers = {s.name: s.header for s in load_golden(ws.config) if s.name in sets}
    return compare(
        outcomes_of(b_items),
        outcomes_of(c_items),
        rng=np.random.default_rng(seed_for(run_id)),
        settings=CompareSettings(),
        min_items={n: h.min_items for n, h in headers.items() if h.min_items},
        baseline_label=base.model,
        candidate_label=cand.model,
        meta={
            "run_id": run_id,
            "baseline_run": base.run_id,
            "as_of": cand.as_of.isoformat(),
            "config_hash": cand.config_hash,
            "baseline_model": ws.config.models[base.model].model
            if base.model in ws.config.models
            else None,
            "candidate_model": ws.config.models[cand.model].model
            if cand.model in ws.config.models
            else None,
        },
    )


def rerender(
    ws: Workspace,
    run_id: str,
    *,
    report_dir: str | Path | None = None,
    full_report_url: str | None = None,
) -> UpgradeResult:
    """Rebuild a stored comparison and write its PR artifacts again (same verdict, same text)."""
    cmp = build_comparison(ws, run_id)
    paths = write_comparison(
        cmp,
        report_dir or ws.reports_dir,
        stem=f"{cmp.candidate}-vs-{cmp.baseline}",
        title=f"Model upgrade: {cmp.candidate} vs {cmp.baseline}",
        full_report_url=full_report_url,
    )
    run = ws.store.get_run(run_id)
    tally = run.summary.get("pairwise") if run is not None else None
    if tally:
        section = render_pairwise(tally)
        for path in (paths.markdown, paths.full_markdown):
            path.write_text(_insert_section(path.read_text(encoding="utf-8"), section))
    verdict: dict[str, Any] = {"verdict": cmp.verdict, "reasons": list(cmp.reasons)}
    if run is not None:
        ws.store.finish_run(run_id, "completed", {**run.summary, **verdict})
    return UpgradeResult(run_id, cmp, paths)


def _first_ok(items: Sequence[ItemResult]) -> dict[str, ItemResult]:
    out: dict[str, ItemResult] = {}
    for i in sorted(items, key=lambda r: (r.item_id, r.attempt)):
        if i.passed is not None:
            out.setdefault(i.item_id, i)
    return out


def pairwise_tally(
    ws: Workspace, baseline_run: str, candidate_run: str, sets: Sequence[Any]
) -> dict[str, Any]:
    """Head-to-head judge preferences per judged set and dimension, with a sign test.

    ``p_baseline_better`` is the one-sided exact binomial p that the baseline's answers are
    preferred more often than the candidate's (ties and errors left out).
    """
    from scipy.stats import binomtest

    from canaryflow.judges import Judge, PairItem
    from canaryflow.runs._golden_collect import reference_text

    base = _first_ok(ws.store.items_for_runs([baseline_run]))
    cand = _first_ok(ws.store.items_for_runs([candidate_run]))
    out: dict[str, Any] = {}
    for gset in sets:
        if not gset.header.rubric:
            continue
        ids = [k for k in cand if k in base and cand[k].extra.get("set") == gset.name]
        pairs = [
            PairItem(
                item_id=k,
                input=str(cand[k].extra.get("input", "")),
                a=base[k].output,
                b=cand[k].output,
                reference=reference_text(cand[k].extra),
                context=cand[k].extra.get("context"),
            )
            for k in ids
        ]
        judge = Judge.from_config(ws.config, ws.store, rubric=gset.header.rubric)
        results = judge.pairwise_sync(pairs, budget=Judge.budget_from_config(ws.config))
        dims: dict[str, Any] = {}
        for d in judge.rubric.dimension_names:
            prefs = [r.preferences.get(d) for r in results if r.status == "ok"]
            a, b = prefs.count("A"), prefs.count("B")
            dims[d] = {
                "baseline": a,
                "candidate": b,
                "tie": prefs.count("tie"),
                "order_disagreements": sum(d in r.order_disagreements for r in results),
                "p_baseline_better": binomtest(a, a + b, 0.5, alternative="greater").pvalue
                if a + b
                else None,
            }
        errors = sum(r.status != "ok" for r in results)
        out[gset.name] = {
            "rubric": judge.rubric.name,
            "pairs": len(pairs),
            "errors": errors,
            "dimensions": dims,
        }
    return out


def render_pairwise(tally: dict[str, Any]) -> str:
    """The head-to-head section added to the comparison's Markdown (a few rows)."""
    from canaryflow.reports._markdown import f_cell, f_pvalue

    head = "| set | dimension | baseline preferred | candidate preferred | tie | order flips | p |"
    rows = [
        "### Pairwise judge, both orders",
        "",
        "A preference that flips with the order is a tie; p: one-sided sign test that the "
        "baseline's answers are preferred.",
        "",
        head,
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in tally.items():
        for d, v in s["dimensions"].items():
            rows.append(
                f"| {f_cell(name)} | {f_cell(d)} | {v['baseline']} | {v['candidate']} | "
                f"{v['tie']} | {v['order_disagreements']} | {f_pvalue(v['p_baseline_better'])} |"
            )
        if s["errors"]:
            rows.append(
                f"| {f_cell(name)} | judge errors: {s['errors']} of {s['pairs']} | | | | | |"
            )
    return "\n".join(rows) + "\n"


def _insert_section(text: str, section: str) -> str:
    """``section`` before the report's footer (the last ``---`` rule), else at the end."""
    cut = text.rfind("\n---\n")
    if cut < 0:
        return text.rstrip("\n") + "\n\n" + section
    return text[:cut].rstrip("\n") + "\n\n" + section + text[cut:]
