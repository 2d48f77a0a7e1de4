"""What a golden run collects: the sets, every item ``repetitions`` times, judge scores in each
attempt's ``extra``, and the per-item outcomes the comparisons pair (shared by the daily flow
and the upgrade gate)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from canaryflow.config import Config
from canaryflow.errors import ConfigError, DataErrors
from canaryflow.golden import GoldenSet, ItemOutcome, collapse, load_golden_sets, run_golden_set
from canaryflow.records import ItemResult
from canaryflow.runs._workspace import Workspace

__all__ = [
    "collect_golden",
    "load_golden",
    "outcomes_of",
    "reference_text",
    "run_config_hash",
    "seed_for",
    "set_hash",
]


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
            reference=reference_text(r.extra),
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


def reference_text(extra: Mapping[str, Any]) -> str | None:
    """What the judge checks an answer against: the expected value and the reference facts."""
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


def run_config_hash(cfg: Config, sets: Sequence[GoldenSet]) -> str:
    """canaryflow.toml plus the golden sets: what a golden verdict depends on."""
    payload = json.dumps([cfg.config_hash(), sorted(set_hash(s) for s in sets)])
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def seed_for(run_id: str) -> int:
    """A run's bootstrap seed: a rerun of the same run reproduces the same intervals."""
    return int(hashlib.sha256(run_id.encode()).hexdigest()[:12], 16)
