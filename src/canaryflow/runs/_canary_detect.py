"""Canary detection: compare one run with the model's frozen baselines.

Three signals, each with a known false-alarm rate (DESIGN.md §4):

* per-family pass rates counted per *probe-run* (a probe fails in a run when at least half of
  its repetitions fail: at temperature 0 repetitions fail together, so they are not independent
  trials; see ``canaryflow.stats._probe_units``): one-sided Fisher exact of the run's failing
  probes against the frozen baseline's probe-run counts, Benjamini–Hochberg across families at
  ``alerts.fdr_q``; a power check turns a quiet result on a small family into "inconclusive"
  rather than "pass";
* a Bernoulli CUSUM per family across runs (Reynolds & Stoumbos 1999) on the same probe-run
  outcomes, its limit calibrated for a baseline rate that is itself an estimate
  (``calibrated_pass_cusum``), which accumulates the small per-run evidence of modest drops;
* the behaviour fingerprint: at temperature 0 each probe has a modal output in the baseline;
  the share of probes whose repetitions mostly leave it is tested against the baseline's
  probe-runs (one-sided Fisher) so a silent model update is caught even when every check still
  passes. New provider model names are facts, not statistics.

Latency is charted (EWMA on log p50 per run) with limits from the frozen baseline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, TypedDict

from canaryflow.config import MIN_BASELINE_RUNS, AlertParams
from canaryflow.detection import SubjectTest, Verdict, decide
from canaryflow.records import Alert, Baseline, ItemResult, MetricClass, RunRecord
from canaryflow.runs._canary_baseline import (
    ALL,
    FLOW,
    RunSummary,
    build_baselines,
    canary_stats,
    family_class,
    summarize,
)
from canaryflow.runs._canary_charts import (
    ChartResult,
    family_cusum,
    latency_chart,
)
from canaryflow.stats import (
    rate_drop_power,
    rate_drop_test,
    wilson_interval,
)
from canaryflow.store import Store

__all__ = [
    "ALL",
    "FLOW",
    "CanaryEvaluation",
    "FamilyResult",
    "FingerprintResult",
    "ProbeChange",
    "RunSummary",
    "build_baselines",
    "canary_stats",
    "evaluate_run",
    "summarize",
]


@dataclass(frozen=True)
class FamilyResult:
    """One family's pass rate against its baseline, in probe-runs.

    ``successes``/``n`` count this run's probes (passing / with a valid repetition) and
    ``baseline_successes``/``baseline_n`` the baseline's probe-runs: the tested unit.
    ``attempts_passed``/``attempts`` are the repetitions, shown for context only.
    """

    family: str
    successes: int
    n: int
    errors: int
    baseline_successes: int
    baseline_n: int
    ci_low: float
    ci_high: float
    p_value: float | None
    p_adjusted: float | None
    power: float | None
    verdict: Verdict | Literal["pending"]
    """The shared detection vocabulary (``canaryflow.detection.Verdict``)."""
    cusum_statistic: float | None = None
    cusum_limit: float | None = None
    cusum_alarm: bool = False
    attempts_passed: int = 0
    attempts: int = 0

    @property
    def rate(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def baseline_rate(self) -> float | None:
        return self.baseline_successes / self.baseline_n if self.baseline_n else None


@dataclass(frozen=True)
class FingerprintResult:
    """How far outputs moved from the baseline's modal outputs."""

    probes_total: int
    probes_changed: tuple[str, ...]
    modal_hits: int
    attempts: int
    baseline_modal_hits: int
    baseline_attempts: int
    p_value: float | None
    alarm: bool
    new_system_fingerprints: tuple[str, ...] = ()
    new_model_names: tuple[str, ...] = ()
    examples: tuple[dict[str, str], ...] = ()

    def sentence(self) -> str:
        """The one-line fingerprint finding for summaries."""
        return (
            f"{len(self.probes_changed)} of {self.probes_total} probes changed output "
            f"(modal-output share {self.modal_hits}/{self.attempts} vs baseline "
            f"{self.baseline_modal_hits}/{self.baseline_attempts}"
            + (f", p={self.p_value:.2g}" if self.p_value is not None else "")
            + ")"
        )


@dataclass(frozen=True)
class CanaryEvaluation:
    """Everything the report and the incident need about one model's run."""

    phase: str
    """warmup / monitor."""
    families: tuple[FamilyResult, ...] = ()
    fingerprint: FingerprintResult | None = None
    latency: dict[str, Any] | None = None
    alerts: tuple[Alert, ...] = ()
    known_failures: tuple[ProbeChange, ...] = ()
    newly_failing: tuple[ProbeChange, ...] = ()
    failing_examples: tuple[dict[str, Any], ...] = ()
    baseline_n: int | None = None
    notes: tuple[str, ...] = ()
    pass_history: tuple[dict[str, Any], ...] = ()
    latency_history: tuple[dict[str, Any], ...] = ()


def _failing(items: Sequence[ItemResult], family: str | None = None) -> list[dict[str, Any]]:
    """Failed attempts as evidence (all families, or one), with the probe's evaluated
    repetitions so a report can say "k of n failed" once per probe."""
    evaluated = Counter(it.item_id for it in items if it.passed is not None)
    return [
        {
            "item_id": it.item_id,
            "family": it.subject,
            "attempt": it.attempt,
            "repetitions": evaluated[it.item_id],
            "input": it.extra.get("input", ""),
            "expected": it.extra.get("expected", ""),
            "output": it.output,
            "reason": "; ".join(c.reason for c in it.checks if not c.passed),
        }
        for it in items
        if it.passed is False and (family is None or it.subject == family)
    ]


def _family_tests(
    alerts_cfg: AlertParams, cur: RunSummary, baselines: dict[tuple[str, str], Baseline]
) -> list[FamilyResult]:
    """Per-family Fisher tests on probe-run counts, BH-adjusted, with power-based verdicts.

    The probe-run is the trial (failing repetitions of one probe in one run are one event), so
    the per-run false-alarm rate is at most ``fdr_q`` even when probes are flaky. A baseline
    frozen before probe-run counts were stored is not compared (see ``_notes``).
    """
    pending: list[FamilyResult] = []
    for fam in sorted(set(cur.family_n) | set(cur.family_errors)):
        b = baselines.get((fam, "pass_rate"))
        if b is None or "probe_run_trials" not in b.stats:
            continue
        bs, bn = int(b.stats["probe_run_successes"]), int(b.stats["probe_run_trials"])
        s, n = cur.family_probe_pass[fam], cur.family_probe_n[fam]
        if n == 0:
            pending.append(
                FamilyResult(
                    fam,
                    0,
                    0,
                    cur.family_errors[fam],
                    bs,
                    bn,
                    0.0,
                    1.0,
                    None,
                    None,
                    None,
                    "no-data",
                    attempts_passed=cur.family_pass[fam],
                    attempts=cur.family_n[fam],
                )  # fmt: skip
            )
            continue
        ci = wilson_interval(s, n)
        p = rate_drop_test(bs, bn, s, n, method=alerts_cfg.rate_method).p_value
        pending.append(
            FamilyResult(
                fam,
                s,
                n,
                cur.family_errors[fam],
                bs,
                bn,
                ci.low,
                ci.high,
                p,
                None,
                None,
                "pending",
                attempts_passed=cur.family_pass[fam],
                attempts=cur.family_n[fam],
            )  # fmt: skip
        )
    # One FDR step and one verdict vocabulary, shared with every flow (canaryflow.detection).
    tests = []
    for f in pending:
        power = None
        if f.p_value is not None:
            p0 = f.baseline_rate or 0.0
            p1 = max(p0 - alerts_cfg.min_detectable_drop, 0.0)
            power = rate_drop_power(p0, p1, f.baseline_n, f.n, alerts_cfg.fdr_q)
        tests.append(
            SubjectTest(
                subject=f.family,
                metric="pass_rate",
                metric_class=family_class(f.family),
                test=f"{alerts_cfg.rate_method}_one_sided",
                baseline_value=f.baseline_rate,
                current_value=f.rate,
                n=f.n,
                baseline_n=f.baseline_n,
                p_value=f.p_value,
                power=power,
            )
        )
    decided = decide(tests, q=alerts_cfg.fdr_q)
    return [
        replace(f, p_adjusted=d.p_adjusted, power=d.power, verdict=d.verdict or "no-data")
        for f, d in zip(pending, decided, strict=True)
    ]


class _AlertCommon(TypedDict):
    """The fields of a family's alert whichever test raised it."""

    flow: str
    model: str
    subject: str
    metric: str
    metric_class: MetricClass
    baseline_value: float | None
    current_value: float | None
    baseline_n: int | None
    run_id: str
    as_of: datetime
    evidence: dict[str, Any]


def _family_alert(
    alerts_cfg: AlertParams,
    run: RunRecord,
    f: FamilyResult,
    point: ChartResult | None,
    examples: list[Any],
) -> Alert | None:
    """The pass-rate alert of a family: this run's test first, else the across-run CUSUM."""
    common: _AlertCommon = {
        "flow": FLOW,
        "model": run.model,
        "subject": f.family,
        "metric": "pass_rate",
        "metric_class": family_class(f.family),
        "baseline_value": f.baseline_rate,
        "current_value": f.rate,
        "baseline_n": f.baseline_n,
        "run_id": run.run_id,
        "as_of": run.as_of,
        "evidence": {"failing_examples": examples},
    }
    if f.p_adjusted is not None and f.p_adjusted < alerts_cfg.fdr_q:
        return Alert(
            **common,
            test=f"{alerts_cfg.rate_method}_one_sided+BH(q={alerts_cfg.fdr_q:g})",
            statistic=f.rate,
            p_value=f.p_adjusted,
            first_window=run.as_of,
            message=(
                f"{f.family} share of passing probes dropped from {f.baseline_rate:.3f} "
                f"(n={f.baseline_n} probe-runs) to {f.rate:.3f} ({f.successes}/{f.n} probes, "
                f"{f.attempts_passed}/{f.attempts} attempts), BH-adjusted p={f.p_adjusted:.2g}"
            ),
        )
    if point is not None and point.alarm:
        return Alert(
            **common,
            test="bernoulli_cusum",
            statistic=point.statistic,
            limit=point.limit,
            first_window=point.first_window or run.as_of,
            message=(
                f"{f.family}: failing probes accumulated across runs beyond the Bernoulli "
                f"CUSUM limit ({point.statistic:.2f} > {point.limit:.2f})"
            ),
        )
    return None


def _fingerprint(alerts_cfg: AlertParams, cur: RunSummary, fp: Baseline) -> FingerprintResult:
    """Test the share of attempts that left each probe's modal baseline output."""
    modal: dict[str, str] = fp.stats["modal"]
    hits = attempts = 0
    changed: list[str] = []
    examples: list[dict[str, str]] = []
    for pid, outs in sorted(cur.outputs.items()):
        if pid not in modal:
            continue
        n_p = sum(outs.values())
        hits += outs.get(modal[pid], 0)
        attempts += n_p
        # Changed = most attempts left the baseline's modal output. A tie (one noisy
        # wording of two repetitions) is natural noise, not a changed probe.
        if 2 * outs.get(modal[pid], 0) < n_p:
            changed.append(pid)
            if len(examples) < 10:
                top = outs.most_common(1)[0][0]
                examples.append(
                    {
                        "probe": pid,
                        "before": fp.stats.get("modal_examples", {}).get(pid, ""),
                        "after": cur.examples[top],
                    }
                )
    b_hits, b_att = int(fp.stats["modal_hits"]), int(fp.stats["attempts"])
    compared = len([p for p in cur.outputs if p in modal])
    if "probe_runs" in fp.stats and compared:
        # Probe-runs, not attempts: a flaky probe moves all its repetitions together.
        kept = compared - len(changed)
        base_kept, base_n = int(fp.stats["probe_run_modal"]), int(fp.stats["probe_runs"])
        p_fp: float | None = rate_drop_test(base_kept, base_n, kept, compared).p_value
    else:  # a baseline frozen before probe-run counts: attempts, as then
        p_fp = rate_drop_test(b_hits, b_att, hits, attempts).p_value if attempts else None
    new_names = tuple(sorted(set(cur.model_names) - set(fp.stats["model_names"])))
    alarm = bool(
        (
            p_fp is not None
            and p_fp < alerts_cfg.fdr_q
            and len(changed) >= alerts_cfg.fingerprint_min_changed
        )
        or new_names
    )
    return FingerprintResult(
        probes_total=len([p for p in cur.outputs if p in modal]),
        probes_changed=tuple(changed),
        modal_hits=hits,
        attempts=attempts,
        baseline_modal_hits=b_hits,
        baseline_attempts=b_att,
        p_value=p_fp,
        alarm=alarm,
        new_system_fingerprints=tuple(
            sorted(set(cur.system_fingerprints) - set(fp.stats["system_fingerprints"]))
        ),
        new_model_names=new_names,
        examples=tuple(examples),
    )


@dataclass(frozen=True)
class ProbeChange:
    """One probe's pass counts now and in the baseline (a known or a new failure)."""

    probe: str
    family: str
    baseline_passed: int
    baseline_n: int
    passed: int
    n: int

    @property
    def baseline_rate(self) -> float:
        return self.baseline_passed / self.baseline_n if self.baseline_n else 0.0


def _probe_changes(cur: RunSummary, fp: Baseline) -> tuple[list[ProbeChange], list[ProbeChange]]:
    """Probes that already fail in the baseline (known) and those failing only now (new)."""
    known: list[ProbeChange] = []
    newly: list[ProbeChange] = []
    for pid, st in fp.stats.get("probes", {}).items():
        change = ProbeChange(
            probe=pid,
            family=st.get("family", ""),
            baseline_passed=int(st["successes"]),
            baseline_n=int(st["trials"]),
            passed=cur.probe_pass.get(pid, 0),
            n=cur.probe_n.get(pid, 0),
        )
        if change.baseline_n and change.baseline_passed < change.baseline_n:
            known.append(change)
        elif change.baseline_n and change.n and change.passed < change.n:
            newly.append(change)
    return known, newly


def _fingerprint_alert(
    alerts_cfg: AlertParams, run: RunRecord, fp: FingerprintResult, checks_pass: bool
) -> Alert:
    """A fingerprint-only change: outputs moved although (perhaps) every check passes."""
    names = list(fp.new_model_names)
    return Alert(
        flow=FLOW,
        model=run.model,
        subject=ALL,
        metric="behaviour_fingerprint",
        metric_class="fingerprint",
        baseline_value=fp.baseline_modal_hits / fp.baseline_attempts
        if fp.baseline_attempts
        else None,
        current_value=fp.modal_hits / fp.attempts if fp.attempts else None,
        test=f"fisher_one_sided(modal-output share, q={alerts_cfg.fdr_q:g})"
        + (" + new provider model name" if names else ""),
        statistic=float(len(fp.probes_changed)),
        p_value=fp.p_value,
        baseline_n=fp.baseline_attempts,
        first_window=run.as_of,
        run_id=run.run_id,
        as_of=run.as_of,
        message=fp.sentence()
        + ("; checks still pass" if checks_pass else "")
        + (f"; new model name(s) {names}" if names else ""),
        evidence={
            "changed_examples": list(fp.examples),
            "new_system_fingerprints": list(fp.new_system_fingerprints),
            "new_model_names": names,
        },
    )


def _notes(model: str, cur: RunSummary, baselines: dict[tuple[str, str], Baseline]) -> list[str]:
    """What the reader should know about the comparison itself."""
    notes = []
    fp = baselines.get((ALL, "fingerprint"))
    lb = baselines.get((ALL, "latency_log_p50"))
    new_families = sorted(f for f in cur.family_n if (f, "pass_rate") not in baselines)
    old_unit = sorted(
        f
        for f in cur.family_n
        if (f, "pass_rate") in baselines
        and "probe_run_trials" not in baselines[(f, "pass_rate")].stats
    )
    if old_unit:
        notes.append(
            f"pass rates not compared for {old_unit}: their baseline predates probe-run counts; "
            f"freeze a new one with `canaryflow baseline promote --model {model} --since <time> "
            "--reason ...`"
        )
    new_probes = sorted(p for p in cur.probe_n if fp is None or p not in fp.stats["modal"])
    if new_families or new_probes:
        notes.append(
            f"not compared (added after the baseline was frozen): families {new_families or '-'}"
            f", probes {new_probes[:20] or '-'}; include them with `canaryflow baseline promote "
            f"--model {model} --since <time> --reason ...`"
        )
    if fp is not None:
        notes.append(
            f"baseline: {len(fp.run_ids)} runs from {fp.window_start:%Y-%m-%d %H:%M} to "
            f"{fp.window_end:%Y-%m-%d %H:%M} UTC, version {fp.baseline_version}"
        )
    if lb is not None and lb.n < MIN_BASELINE_RUNS[FLOW]:
        notes.append(
            f"latency not charted: its baseline has m={lb.n} runs, fewer than "
            f"{MIN_BASELINE_RUNS[FLOW]} (raise alerts.warmup_runs)"
        )
    elif lb is not None and lb.n < 300:
        notes.append(
            f"latency chart baseline has m={lb.n} runs (< 300): control limits were adjusted "
            "for the estimated baseline (see the chart's calibration note)"
        )
    return notes


def _uncharted(families: Sequence[FamilyResult]) -> list[str]:
    """Families compared this run but without an across-run CUSUM (see calibrated_pass_cusum)."""
    names = sorted(f.family for f in families if f.verdict != "no-data" and f.cusum_limit is None)
    if not names:
        return []
    return [
        f"no across-run CUSUM for {names}: their baseline is too small to hold the stated "
        "false-alarm rate at any limit, or already fails more than the drop it would chart; "
        "the per-run test still runs (a longer baseline, `baseline promote`, brings it back)"
    ]


def evaluate_run(
    store: Store,
    alerts_cfg: AlertParams,
    run: RunRecord,
    items: Sequence[ItemResult],
    baselines: dict[tuple[str, str], Baseline],
) -> CanaryEvaluation:
    """Compare one run with the model's frozen baselines; update the across-run charts."""
    cur = summarize(items)
    families: list[FamilyResult] = []
    alerts: list[Alert] = []
    pass_history = []
    for f in _family_tests(alerts_cfg, cur, baselines):
        if f.verdict == "no-data":
            families.append(f)
            continue
        point, history = family_cusum(store, alerts_cfg, run, f, baselines[(f.family, "pass_rate")])
        pass_history.append({"family": f.family, "history": history})
        cusum_alarm = bool(point and point.alarm)
        families.append(
            replace(
                f,
                verdict="regression" if cusum_alarm else f.verdict,
                cusum_statistic=point.statistic if point else None,
                cusum_limit=point.limit if point else None,
                cusum_alarm=cusum_alarm,
            )
        )
        alert = _family_alert(alerts_cfg, run, f, point, _failing(items, f.family)[:20])
        if alert is not None:
            alerts.append(alert)

    fp_base = baselines.get((ALL, "fingerprint"))
    fingerprint = _fingerprint(alerts_cfg, cur, fp_base) if fp_base is not None else None
    known, newly = _probe_changes(cur, fp_base) if fp_base is not None else ([], [])
    if fingerprint is not None and fingerprint.alarm:
        if alerts:
            # The fingerprint explains the check alerts; attach it rather than file a second
            # incident for the same change.
            extra = {
                "fingerprint": fingerprint.sentence(),
                "changed_examples": list(fingerprint.examples),
            }
            alerts = [a.model_copy(update={"evidence": {**a.evidence, **extra}}) for a in alerts]
        else:
            alerts.append(_fingerprint_alert(alerts_cfg, run, fingerprint, not newly))

    latency, latency_history, latency_alert = latency_chart(
        store, alerts_cfg, run, cur, baselines.get((ALL, "latency_log_p50"))
    )
    if latency_alert is not None:
        alerts.append(latency_alert)
    return CanaryEvaluation(
        phase="monitor",
        families=tuple(families),
        fingerprint=fingerprint,
        latency=latency,
        alerts=tuple(alerts),
        known_failures=tuple(known),
        newly_failing=tuple(newly),
        failing_examples=tuple(_failing(items)[:50]),
        baseline_n=fp_base.n if fp_base else None,
        notes=tuple(_notes(run.model, cur, baselines) + _uncharted(families)),
        pass_history=tuple(pass_history),
        latency_history=tuple(latency_history),
    )
