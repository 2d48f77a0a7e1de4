"""The golden flow's detection and runbook facts: the comparison's paired tests as detection
``SubjectTest``s (one BH step in ``detection.decide``), and what an incident's runbook needs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Final

from canaryflow.detection import SubjectTest
from canaryflow.golden import Comparison
from canaryflow.incidents._runbook import ConfigChange, RunbookContext, SubjectCount
from canaryflow.records import RunRecord
from canaryflow.reports._model import Example
from canaryflow.runs._golden_collect import load_golden, set_hash
from canaryflow.runs._workspace import Workspace

__all__ = ["runbook_context", "subject_tests"]

FLOW: Final = "golden"


def subject_tests(cmp: Comparison) -> list[SubjectTest]:
    """The comparison's paired tests as detection tests (p-values unadjusted: decide adjusts)."""
    set_reasons = {s.name: "; ".join(s.reasons) for s in cmp.sets if s.verdict == "inconclusive"}
    out = []
    for g in cmp.groups:
        subject = g.set if g.category is None else f"{g.set}/{g.category}"
        flips = [
            f
            for f in cmp.regressions
            if f.set == g.set and (g.category is None or f.category == g.category)
        ]
        unsure = g.reason if g.verdict == "inconclusive" else ""
        if g.category is None and g.metric == "pass_rate" and g.verdict != "regression":
            unsure = set_reasons.get(g.set, unsure)  # too few items, unreliable baseline...
        out.append(
            SubjectTest(
                subject=subject,
                metric=g.metric,
                metric_class="correctness" if g.metric == "pass_rate" else "quality",
                test=g.test or "untested",
                baseline_value=g.baseline_mean,
                current_value=g.candidate_mean,
                n=g.n,
                baseline_n=g.n,
                p_value=g.p_value,
                effect=g.effect,
                ci=(g.ci_low, g.ci_high)
                if g.ci_low is not None and g.ci_high is not None
                else None,
                inconclusive_reason=unsure or "",
                unit="pass rate" if g.metric == "pass_rate" else "score",
                evidence={"flipped": [f.item_id for f in flips][:50]},
                message=f"{subject} {g.metric}: {len(flips)} item(s) flipped to failing"
                if flips
                else "",
            )
        )
    return out


def runbook_context(ws: Workspace, run: RunRecord, ev: Any, chart: Path | None) -> RunbookContext:
    """Triage (flipped items), scope (by category), isolate (model, config, set changes)."""
    cfg = ws.config
    cmp = ev.comparison
    regressions = cmp.regressions if cmp else ()
    examples = tuple(
        Example(
            item_id=f.item_id,
            subject=f"{f.set}/{f.category}",
            input=f.input,
            expected="" if f.expected is None else json.dumps(f.expected, default=str),
            output=f.after,
            before=f.before,
            reason=f.reason,
        )
        for f in regressions[:20]
    )
    counts = tuple(
        SubjectCount(
            subject=f"{g.set}/{g.category}" if g.category else g.set,
            kind="category" if g.category else "set",
            failed=round((1 - g.candidate_mean) * g.n),
            total=g.n,
            baseline_failed=round((1 - g.baseline_mean) * g.n),
            baseline_total=g.n,
        )
        for g in (cmp.groups if cmp else ())
        if g.metric == "pass_rate" and g.candidate_mean is not None and g.baseline_mean is not None
    )
    baselines = ws.store.list_baselines(FLOW, run.model)
    since = min((b.window_end for b in baselines if b.window_end), default=None)
    history = ws.store.list_runs(FLOW, run.model, until=run.as_of, limit=60)[::-1]
    history = [r for r in history if since is None or r.as_of >= since] or [run]
    changes = [
        ConfigChange(before=a.config_hash, after=b.config_hash, at=b.as_of, run_id=b.run_id)
        for a, b in itertools.pairwise(history)
        if a.config_hash != b.config_hash
    ]
    now_hash = {s.name: set_hash(s) for s in load_golden(cfg)}
    changes += [
        ConfigChange(what=f"golden set {b.subject}", before=b.stats["set_hash"], after=now)
        for b in baselines
        if b.stats.get("set_hash")
        and (now := now_hash.get(b.subject)) not in (None, b.stats["set_hash"])
    ]
    model_cfg = cfg.models[run.model]
    before = sorted({n for b in baselines for n in b.stats.get("model_names", [])})
    after = sorted(
        {i.model_returned for i in ws.store.items_for_runs([run.run_id]) if i.model_returned}
    )
    # The learn step's target: a set of its own, so the copied items are not duplicates.
    target = f"{regressions[0].set}-regressions" if regressions else None
    return RunbookContext(
        examples=examples,
        failing_total=len(regressions),
        counts=counts,
        config_changes=tuple(changes),
        config_hashes=tuple(dict.fromkeys(r.config_hash for r in history)),
        models_returned_before=tuple(before),
        models_returned_after=tuple(after),
        new_model_names=tuple(n for n in after if n not in before),
        model_key=run.model,
        pinned_model=model_cfg.model,
        last_good_model=model_cfg.model,
        config_file=cfg.source_path or "canaryflow.toml",
        chart_path=str(chart) if chart else None,
        chart_unit="pass rate" if chart else None,
        golden_set=target,
    )
