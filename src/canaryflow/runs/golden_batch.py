"""Daily golden runs without Prefect: ``canaryflow backfill golden`` and the tests' replays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from canaryflow.golden import GoldenSet, build_request
from canaryflow.runs._lifecycle import RunOutcome
from canaryflow.runs._workspace import Workspace
from canaryflow.runs.canary_batch import default_as_of
from canaryflow.runs.golden import golden_run_id, load_golden, run_model_golden

__all__ = ["backfill_golden", "judge_estimate", "run_golden"]


def run_golden(
    ws: Workspace,
    *,
    models: Sequence[str] | None = None,
    sets: Sequence[str] | None = None,
    as_of: datetime | None = None,
    resume: bool = False,
) -> list[RunOutcome]:
    """One golden run per model; with ``resume`` a finished day is left as it is."""
    golden = load_golden(ws.config, sets)
    when = as_of or default_as_of()
    out = []
    for key in ws.config.model_keys(list(models) if models else ws.config.golden.models):
        done = ws.store.get_run(golden_run_id(key, when)) if resume else None
        if done is not None and done.status in ("completed", "degraded"):
            out.append(RunOutcome(done, None, summary=dict(done.summary), skipped="already run"))
            continue
        out.append(run_model_golden(ws, key, golden, when))
    return out


def backfill_golden(
    ws: Workspace,
    *,
    runs: int,
    every: timedelta = timedelta(days=1),
    end: datetime | None = None,
    models: Sequence[str] | None = None,
    sets: Sequence[str] | None = None,
    on_run: Callable[[int, list[RunOutcome]], None] | None = None,
) -> list[list[RunOutcome]]:
    """``runs`` back-dated golden runs ending at ``end`` (oldest first), in one process."""
    last = default_as_of(end)
    out = []
    for i in range(runs):
        outcomes = run_golden(
            ws, models=models, sets=sets, as_of=last - every * (runs - 1 - i), resume=True
        )
        out.append(outcomes)
        if on_run is not None:
            on_run(i, outcomes)
    return out


def judge_estimate(
    ws: Workspace, sets: Sequence[GoldenSet], models: Sequence[str], runs: int
) -> list[str]:
    """Upper-bound judge cost of ``runs`` golden runs, one line per rubric, before any call.

    Outputs are not known yet, so each item's reference stands in for the reply and no cache
    hit is assumed (temperature-0 replies that repeat day to day will in fact be cached).
    """
    from canaryflow.judges import Judge, JudgeItem

    if ws.config.judge.model is None:
        return []
    by_rubric: dict[str, list[Any]] = {}
    for gset in sets:
        if not gset.header.rubric:
            continue
        reps = gset.header.repetitions
        for model in models:
            for item in gset.items:
                req = build_request(gset.header, item, set_name=gset.name, model_key=model)
                text = "\n\n".join(m.content for m in req.messages)
                reference = "\n".join([str(item.expected or ""), *item.reference_facts])
                by_rubric.setdefault(gset.header.rubric, []).extend(
                    JudgeItem(
                        item_id=f"{gset.name}/{item.id}#{model}#{k}",
                        input=f"{text}\n#{model}#{k}",
                        output=reference,
                        reference=reference,
                        context=item.context,
                    )
                    for k in range(reps * runs)
                )
    lines = []
    for rubric, items in by_rubric.items():
        judge = Judge.from_config(ws.config, ws.store, rubric=rubric)
        lines.append(f"{rubric}: {judge.estimate_cost(items).line()}")
    return lines
