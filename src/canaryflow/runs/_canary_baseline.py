"""Canary baselines: pool runs into counts and freeze them as versioned baselines.

What is frozen per model: each family's passing probe-runs out of its probe-runs (the Fisher and
CUSUM reference; a probe's repetitions in one run are one trial, see ``stats._probe_units``) and
its per-attempt pass count (context), the fingerprint (each probe's modal normalized output and
the share of attempts that hit it, the provider model names and system fingerprints seen) and
the per-run median latency (log scale).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypedDict

import numpy as np

from canaryflow.records import Baseline, ItemResult, MetricClass, RunRecord
from canaryflow.stats import probe_failed

__all__ = [
    "ALL",
    "FLOW",
    "RunSummary",
    "build_baselines",
    "canary_stats",
    "family_class",
    "log_p50",
    "summarize",
]

ALL = "all_probes"
"""Subject of model-wide baselines (fingerprint, latency)."""
FLOW: Final = "canary"
SAFETY_FAMILIES = frozenset({"safety_refusal"})


def family_class(family: str) -> MetricClass:
    """Safety families rank above correctness ones."""
    return "safety" if family in SAFETY_FAMILIES else "correctness"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class RunSummary:
    """Counts of one run (or a pool of runs) for one model."""

    family_pass: Counter[str] = field(default_factory=Counter)
    family_n: Counter[str] = field(default_factory=Counter)
    family_errors: Counter[str] = field(default_factory=Counter)
    family_probe_pass: Counter[str] = field(default_factory=Counter)
    """Passing probe-runs per family: the unit the family tests count (``probe_failed``)."""
    family_probe_n: Counter[str] = field(default_factory=Counter)
    """Probe-runs with at least one valid repetition, per family."""
    probe_pass: Counter[str] = field(default_factory=Counter)
    probe_n: Counter[str] = field(default_factory=Counter)
    probe_family: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[str, str] = field(default_factory=dict)
    """Output digest -> one raw output with that digest."""
    system_fingerprints: Counter[str] = field(default_factory=Counter)
    model_names: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    attempts: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def error_rate(self) -> float:
        return self.errors / self.attempts if self.attempts else 0.0


def summarize(items: Sequence[ItemResult]) -> RunSummary:
    """Pool the attempts of one or several runs.

    Repetitions of a probe in one run are counted as attempts, and also collapsed into one
    probe-run outcome (``probe_failed``): at temperature 0 they fail together, so only the
    probe-run is an independent trial for the family tests.
    """
    s = RunSummary()
    reps: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for it in items:
        if it.passed is not None:
            cell = reps[(it.run_id, it.item_id)]
            cell[0] += not it.passed
            cell[1] += 1
        s.attempts += 1
        s.probe_family[it.item_id] = it.subject
        if it.passed is None:
            s.errors += 1
            s.family_errors[it.subject] += 1
            s.error_kinds[it.error_kind or "error"] += 1
            continue
        s.family_n[it.subject] += 1
        s.probe_n[it.item_id] += 1
        if it.passed:
            s.family_pass[it.subject] += 1
            s.probe_pass[it.item_id] += 1
        d = _digest(it.normalized_output)
        s.outputs[it.item_id][d] += 1
        s.examples.setdefault(d, it.output)
        if it.system_fingerprint:
            s.system_fingerprints[it.system_fingerprint] += 1
        if it.model_returned:
            s.model_names[it.model_returned] += 1
        if it.latency_ms is not None and it.latency_ms > 0:
            s.latencies.append(it.latency_ms)
    for (_, pid), (failures, trials) in reps.items():
        fam = s.probe_family[pid]
        s.family_probe_n[fam] += 1
        s.family_probe_pass[fam] += not probe_failed(failures, trials)
    return s


def log_p50(latencies: Sequence[float]) -> float | None:
    return math.log(float(np.median(latencies))) if latencies else None


class _Window(TypedDict):
    """Where a set of baselines frozen together came from; the same for every one of them."""

    window_start: datetime
    window_end: datetime
    run_ids: tuple[str, ...]
    reason: str


def build_baselines(
    model: str,
    runs: Sequence[RunRecord],
    items: Sequence[ItemResult],
    *,
    reason: str,
) -> list[Baseline]:
    """Frozen baselines for one model from a window of runs (pass rates, fingerprint, latency)."""
    pooled = summarize(items)
    run_ids = tuple(r.run_id for r in runs)
    window: _Window = {
        "window_start": min(r.as_of for r in runs),
        "window_end": max(r.as_of for r in runs),
        "run_ids": run_ids,
        "reason": reason,
    }
    out = []
    for fam in sorted(pooled.family_n):
        out.append(
            Baseline(
                flow=FLOW,
                model=model,
                subject=fam,
                metric="pass_rate",
                n=pooled.family_probe_n[fam],
                stats={
                    "probe_run_successes": pooled.family_probe_pass[fam],
                    "probe_run_trials": pooled.family_probe_n[fam],
                    "probe_run_rate": pooled.family_probe_pass[fam] / pooled.family_probe_n[fam],
                    "runs": len(run_ids),
                    "successes": pooled.family_pass[fam],
                    "trials": pooled.family_n[fam],
                    "rate": pooled.family_pass[fam] / pooled.family_n[fam],
                    "unit": "probe-run (fails when >= half of its repetitions fail)",
                },
                **window,
            )
        )
    modal = {pid: c.most_common(1)[0][0] for pid, c in pooled.outputs.items()}
    modal_hits = sum(pooled.outputs[pid][modal[pid]] for pid in modal)
    attempts = sum(sum(c.values()) for c in pooled.outputs.values())
    # Probe-runs that kept their modal output (at least half the repetitions): the unit of the
    # fingerprint test, since a flaky probe moves all its repetitions in a run together.
    per_run: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for it in items:
        if it.passed is not None and it.item_id in modal:
            cell = per_run[(it.run_id, it.item_id)]
            cell[0] += _digest(it.normalized_output) == modal[it.item_id]
            cell[1] += 1
    probe_run_hits = sum(2 * hits >= n for hits, n in per_run.values())
    out.append(
        Baseline(
            flow=FLOW,
            model=model,
            subject=ALL,
            metric="fingerprint",
            n=attempts,
            stats={
                "modal": modal,
                "modal_examples": {pid: pooled.examples[d] for pid, d in modal.items()},
                "modal_hits": modal_hits,
                "attempts": attempts,
                "probe_run_modal": probe_run_hits,
                "probe_runs": len(per_run),
                "probes": {
                    pid: {
                        "successes": pooled.probe_pass[pid],
                        "trials": pooled.probe_n[pid],
                        "family": pooled.probe_family.get(pid, ""),
                    }
                    for pid in sorted(pooled.probe_n)
                },
                "system_fingerprints": sorted(pooled.system_fingerprints),
                "model_names": sorted(pooled.model_names),
            },
            **window,
        )
    )
    latencies: defaultdict[str, list[float]] = defaultdict(list)
    for it in items:
        if it.passed is not None and it.latency_ms:
            latencies[it.run_id].append(it.latency_ms)
    logs = [v for v in (log_p50(x) for x in latencies.values()) if v is not None]
    if len(logs) >= 2:
        sd = float(np.std(logs, ddof=1))
        out.append(
            Baseline(
                flow=FLOW,
                model=model,
                subject=ALL,
                metric="latency_log_p50",
                n=len(logs),
                stats={"mean": float(np.mean(logs)), "sd": sd, "unit": "log(ms), per-run median"},
                **window,
            )
        )
    return out


def canary_stats(
    runs: Sequence[RunRecord], items: Sequence[ItemResult]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Stats function for ``canaryflow.baselines.promote``: every canary baseline of a model."""
    if not runs:
        return {}
    model = runs[0].model
    return {
        (b.subject, b.metric): {"n": b.n, **b.stats}
        for b in build_baselines(model, runs, items, reason="promote")
    }
