"""The daily golden-set evaluation on the shared run lifecycle (``runs._lifecycle``).

Only what is the golden flow's own lives here (``GoldenPlugin``): every item sent
``repetitions`` times with its checks and judge scores kept in the item's ``extra``; one
baseline per (model, set) whose per-item outcomes are a payload beside it; the item-by-item
comparison of ``canaryflow.golden.compare`` turned into detection ``SubjectTest``s (one BH
step, one verdict vocabulary); incidents whose runbook names the flipped items.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from canaryflow.config import AlertParams, Config
from canaryflow.detection import SubjectTest, alert_for, decide, overall
from canaryflow.errors import ConfigError, DataErrors
from canaryflow.golden import (
    CompareSettings,
    Comparison,
    GoldenSet,
    ItemOutcome,
    collapse,
    compare,
    load_golden_sets,
    run_golden_set,
    write_comparison,
)
from canaryflow.incidents._runbook import ConfigChange, RunbookContext, SubjectCount
from canaryflow.records import Alert, Baseline, ItemResult, RunRecord
from canaryflow.reports._model import Example
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

FLOW = "golden"
METRIC = "outcomes"
"""The metric of a set's baseline: its per-item outcomes, stored as the payload ``outcomes``."""


def golden_run_id(model: str, as_of: datetime) -> str:
    """Deterministic run id: the same model and day is the same run."""
    return f"golden-{model}-{as_of:%Y%m%dT%H%M%SZ}"


def load_golden(cfg: Config, names: Sequence[str] | None = None) -> list[GoldenSet]:
    """The configured golden sets (or ``names``); bad items are skipped by the loader.

    Raises:
        DataErrors: no valid set at all; ConfigError: an unknown set name.
    """
    suite = load_golden_sets(Path(cfg.golden.dir))
    if not suite.sets:
        raise DataErrors(list(suite.errors))
    if not names:
        return list(suite.sets)
    known = {s.name: s for s in suite.sets}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            cfg.source_path or "canaryflow.toml",
            "golden.dir",
            f"no golden set {unknown} in {cfg.golden.dir}; known: {sorted(known)}",
        )
    return [known[n] for n in names]


def set_hash(gset: GoldenSet) -> str:
    """Hash of a set's header and items: the runbook's "golden set changed" evidence."""
    payload = json.dumps(
        [gset.header.model_dump(mode="json"), [i.model_dump(mode="json") for i in gset.items]],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _judge(ws: Workspace, gset: GoldenSet, results: list[ItemResult]) -> list[ItemResult]:
    """Judge scores per attempt into ``extra["judge"]`` ({} = a judge error, never a score)."""
    from canaryflow.judges import Judge, JudgeItem

    judge = Judge.from_config(ws.config, ws.store, rubric=gset.header.rubric)
    todo = [r for r in results if r.passed is not None]
    items = [
        JudgeItem(
            item_id=f"{r.item_id}#{r.attempt}",
            input=str(r.extra.get("input", "")),
            output=r.output,
            reference=_reference(r.extra),
            context=r.extra.get("context"),
            source=f"golden:{gset.name}",
        )
        for r in todo
    ]
    verdicts = judge.score_many_sync(
        items, run_id=todo[0].run_id if todo else None, budget=Judge.budget_from_config(ws.config)
    )
    scored = {
        (r.item_id, r.attempt): v
        for r, v in zip(todo, verdicts, strict=True)
        if v.status != "unjudged"
    }
    out = []
    for r in results:
        v = scored.get((r.item_id, r.attempt))
        if v is not None:
            judged = {"judge": dict(v.scores) if v.status == "ok" else {}, "judge_error": v.reason}
            r = r.model_copy(update={"extra": {**r.extra, **judged}})
        out.append(r)
    return out


def _reference(extra: Mapping[str, Any]) -> str | None:
    facts = [str(f) for f in extra.get("reference_facts") or ()]
    expected = extra.get("expected")
    parts = ([json.dumps(expected, default=str)] if expected is not None else []) + facts
    return "\n".join(parts) or None


def collect_golden(
    ws: Workspace, sets: Sequence[GoldenSet], model: str, *, run_id: str, as_of: datetime
) -> list[ItemResult]:
    """Every item of ``sets`` ``repetitions`` times, checked, and judged where a rubric is set."""
    cfg = ws.config
    out: list[ItemResult] = []
    for gset in sets:
        results = run_golden_set(
            gset,
            model,
            cfg.models[model],
            cfg.simulator,
            run_id=run_id,
            as_of=as_of,
            client_factory=ws.client_factory,
        )
        if gset.header.rubric and cfg.judge.model:
            results = _judge(ws, gset, results)
        out.extend(results)
    return out


def outcomes_of(items: Sequence[ItemResult]) -> dict[str, ItemOutcome]:
    """One outcome per item over all given attempts (several runs: attempts renumbered)."""
    counter: dict[str, itertools.count[int]] = {}
    renumbered, scores = [], {}
    for r in sorted(items, key=lambda i: (i.item_id, i.run_id, i.attempt)):
        k = next(counter.setdefault(r.item_id, itertools.count()))
        renumbered.append(r.model_copy(update={"attempt": k}))
        if "judge" in r.extra:
            scores[(r.item_id, k)] = r.extra["judge"]
    return collapse(renumbered, judge=scores)


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

    flow = FLOW

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
            rng=np.random.default_rng(_seed(run.run_id)),
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


def _seed(run_id: str) -> int:
    """A run's bootstrap seed: a rerun of the same run reproduces the same intervals."""
    return int(hashlib.sha256(run_id.encode()).hexdigest()[:12], 16)


def _title(run: RunRecord) -> str:
    return f"Golden sets: {run.model} on {run.as_of:%Y-%m-%d} vs its frozen baseline"


def runbook_context(
    ws: Workspace, run: RunRecord, ev: GoldenEvaluation, chart: Path | None
) -> RunbookContext:
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


def run_config_hash(cfg: Config, sets: Sequence[GoldenSet]) -> str:
    """canaryflow.toml plus the golden sets: what a golden verdict depends on."""
    payload = json.dumps([cfg.config_hash(), sorted(set_hash(s) for s in sets)])
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


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
