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
from typing import Any, NamedTuple

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
from canaryflow.runs._workspace import Workspace
from canaryflow.runs.golden import (
    _seed,
    collect_golden,
    load_golden,
    outcomes_of,
    run_config_hash,
)

__all__ = ["FLOW", "UpgradeResult", "compare_models", "rerender", "upgrade_run_id"]

FLOW = "upgrade"
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
) -> UpgradeResult:
    """Run both models on the same items, store both runs, compare, write the PR artifacts."""
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
    return rerender(ws, run_id, report_dir=report_dir, full_report_url=full_report_url)


def build_comparison(ws: Workspace, run_id: str) -> Comparison:
    """The comparison of a stored upgrade run (deterministic: the bootstrap is seeded)."""
    cand = ws.store.get_run(run_id)
    if cand is None or cand.flow != FLOW or cand.summary.get("side") != "candidate":
        raise CanaryflowError(f"no upgrade run {run_id!r} (see `canaryflow runs --flow upgrade`)")
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
        rng=np.random.default_rng(_seed(run_id)),
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
    verdict: dict[str, Any] = {"verdict": cmp.verdict, "reasons": list(cmp.reasons)}
    run = ws.store.get_run(run_id)
    if run is not None:
        ws.store.finish_run(run_id, "completed", {**run.summary, **verdict})
    return UpgradeResult(run_id, cmp, paths)
