"""The daily golden-set evaluation on the shared run lifecycle (``runs._lifecycle``).

Only what is the golden flow's own lives here (``GoldenPlugin``): every item sent
``repetitions`` times with its checks and judge scores kept in the item's ``extra``; one
baseline per (model, set) whose per-item outcomes are a payload beside it; the item-by-item
comparison of ``canaryflow.golden.compare`` turned into detection ``SubjectTest``s (one BH
step, one verdict vocabulary); incidents whose runbook names the flipped items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np

from canaryflow.config import AlertParams
from canaryflow.detection import SubjectTest, alert_for, decide, overall
from canaryflow.golden import (
    CompareSettings,
    Comparison,
    GoldenSet,
    ItemOutcome,
    compare,
    write_comparison,
)
from canaryflow.records import Alert, Baseline, ItemResult, RunFlow, RunRecord
from canaryflow.runs._golden_collect import (
    collect_golden,
    load_golden,
    outcomes_of,
    run_config_hash,
    seed_for,
    set_hash,
)
from canaryflow.runs._golden_detect import runbook_context, subject_tests
from canaryflow.runs._lifecycle import Reliability, RunOutcome, Warmup, execute
from canaryflow.runs._workspace import Workspace

__all__ = [
    "FLOW",
    "GoldenEvaluation",
    "GoldenPlugin",
    "collect_golden",
    "golden_run_id",
    "load_golden",
    "outcomes_of",
    "run_model_golden",
    "set_hash",
]

FLOW: Final = "golden"
METRIC = "outcomes"
"""The metric of a set's baseline: its per-item outcomes, stored as the payload ``outcomes``."""


def golden_run_id(model: str, as_of: datetime) -> str:
    """Deterministic run id: the same model and day is the same run."""
    return f"golden-{model}-{as_of:%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True)
class GoldenEvaluation:
    """A golden run compared item by item with the frozen outcomes of its (model, set)s."""

    phase: str
    alerts: tuple[Alert, ...] = ()
    notes: tuple[str, ...] = ()
    comparison: Comparison | None = None
    tests: tuple[SubjectTest, ...] = ()
    verdict: str = "inconclusive"
    reason: str = ""


class GoldenPlugin:
    """The golden flow's own parts of the shared run lifecycle."""

    flow: RunFlow = FLOW

    def __init__(self, sets: Sequence[GoldenSet]) -> None:
        self.sets = list(sets)

    def collect(self, ws: Workspace, run: RunRecord) -> Sequence[ItemResult]:
        mine = [s for s in self.sets if not s.header.models or run.model in s.header.models]
        return collect_golden(ws, mine, run.model, run_id=run.run_id, as_of=run.as_of)

    def reliability(
        self, ws: Workspace, run: RunRecord, items: Sequence[ItemResult], params: AlertParams
    ) -> Reliability:
        errors = sum(1 for i in items if i.passed is None)
        judged = [i for i in items if "judge" in i.extra]
        judge_errors = sum(1 for i in judged if not i.extra["judge"])
        rate = errors / len(items) if items else 1.0
        summary = {
            "attempts": len(items),
            "items": len({i.item_id for i in items}),
            "errors": errors,
            "error_rate": round(rate, 4),
            "passed": sum(1 for i in items if i.passed),
            "judged": len(judged),
            "judge_errors": judge_errors,
            "cost_usd": round(sum(i.cost_usd or 0.0 for i in items), 6),
            "sets": [s.name for s in self.sets],
        }
        if rate <= params.max_error_rate:
            return Reliability(False, summary=summary)
        examples = list(dict.fromkeys(i.error for i in items if i.error))[:5]
        alert = Alert(
            flow=FLOW,
            model=run.model,
            subject="all",
            metric="error_rate",
            metric_class="reliability",
            baseline_value=params.max_error_rate,
            current_value=rate,
            test="limit",
            limit=params.max_error_rate,
            run_id=run.run_id,
            as_of=run.as_of,
            first_window=run.as_of,
            message=f"{errors} of {len(items)} golden attempts failed at the provider "
            f"({rate:.0%}), above {params.max_error_rate:.0%}; this run's verdicts are not trusted",
            evidence={"error_examples": examples},
        )
        return Reliability(True, (alert,), summary)

    def build_baselines(
        self, model: str, runs: Sequence[RunRecord], items: Sequence[ItemResult], reason: str
    ) -> tuple[list[Baseline], dict[tuple[str, str], dict[str, Any]]]:
        outcomes = outcomes_of(items)
        hashes = {s.name: set_hash(s) for s in self.sets}
        new, payloads = [], {}
        for name in sorted({o.set for o in outcomes.values()}):
            mine = {k: o for k, o in outcomes.items() if o.set == name}
            done = [o for o in mine.values() if o.passed is not None]
            stats = {
                "pass_rate": sum(bool(o.passed) for o in done) / len(done) if done else None,
                "items": len(mine),
                "set_hash": hashes.get(name),
                "model_names": sorted({i.model_returned for i in items if i.model_returned}),
                "config_hash": runs[-1].config_hash,
            }
            new.append(
                Baseline(
                    flow=FLOW,
                    model=model,
                    subject=name,
                    metric=METRIC,
                    n=len(mine),
                    stats=stats,
                    window_start=runs[0].as_of,
                    window_end=runs[-1].as_of,
                    run_ids=tuple(r.run_id for r in runs),
                    reason=reason,
                )
            )
            payloads[(name, METRIC)] = {
                METRIC: {k: o.model_dump(mode="json") for k, o in mine.items()}
            }
        return new, payloads

    def warmed(self, warmup: Warmup) -> GoldenEvaluation:
        return GoldenEvaluation(phase="warmup", notes=warmup.notes)

    def evaluate(
        self,
        ws: Workspace,
        run: RunRecord,
        items: Sequence[ItemResult],
        baselines: Mapping[tuple[str, str], Baseline],
        params: AlertParams,
    ) -> GoldenEvaluation:
        current = outcomes_of(items)
        base: dict[str, ItemOutcome] = {}
        for (_subject, metric), b in baselines.items():
            payload = ws.store.load_baseline_payload(b, METRIC) if metric == METRIC else None
            base.update({k: ItemOutcome.model_validate(v) for k, v in (payload or {}).items()})
        sets = {o.set for o in current.values()}
        base = {k: o for k, o in base.items() if o.set in sets}
        cmp = compare(
            base,
            current,
            rng=np.random.default_rng(seed_for(run.run_id)),
            settings=CompareSettings(alpha=params.alpha),
            min_items={s.name: s.header.min_items for s in self.sets if s.header.min_items},
            baseline_label=f"{run.model} @ baseline",
            candidate_label=f"{run.model} @ {run.as_of:%Y-%m-%d}",
            meta={"run_id": run.run_id, "as_of": run.as_of.isoformat()},
        )
        tests = decide(subject_tests(cmp), q=params.alpha)
        verdict, reason = overall(tests)
        alerts = tuple(a for t in tests if (a := alert_for(t, run)) is not None)
        note = f"golden verdict {verdict}" + (f": {reason}" if reason else "")
        return GoldenEvaluation("monitor", alerts, (note,), cmp, tuple(tests), verdict, reason)

    def publish(
        self,
        ws: Workspace,
        run: RunRecord,
        evaluation: Any,
        alerts: Sequence[Alert],
        summary: dict[str, Any],
    ) -> tuple[Sequence[Any], Any]:
        ev: GoldenEvaluation = evaluation
        paths = None
        if ev.comparison is not None:
            summary["verdict"], summary["verdict_reason"] = ev.verdict, ev.reason
            summary["flipped"] = [f.item_id for f in ev.comparison.regressions]
            out = ws.reports_dir / "golden" / run.model
            paths = write_comparison(ev.comparison, out, stem=run.run_id, title=_title(run))
        context = runbook_context(ws, run, ev, paths.chart if paths else None)
        changes = ws.incidents(context=context).handle(list(alerts)) if alerts else []
        return changes, paths


def _title(run: RunRecord) -> str:
    return f"Golden sets: {run.model} on {run.as_of:%Y-%m-%d} vs its frozen baseline"


def run_model_golden(
    ws: Workspace, model: str, sets: Sequence[GoldenSet], as_of: datetime
) -> RunOutcome:
    """One daily golden run of one model through the whole lifecycle."""
    return execute(
        ws,
        GoldenPlugin(sets),
        run_id=golden_run_id(model, as_of),
        model=model,
        as_of=as_of,
        config_hash=run_config_hash(ws.config, sets),
    )
