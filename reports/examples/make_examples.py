"""Generate the committed example reports from a synthetic date-transposition regression.

Story: the ``support-bot`` model answers the ``dates_eu`` canary family (DD/MM/YYYY documents
with day <= 12) perfectly for 36 hourly runs; at 2024-04-03 10:00 UTC a silent model update
starts transposing day and month in ~30 % of answers (pass rate 1.00 -> 0.70). The statistics
below are computed here from the synthetic data (one-sided Fisher exact test, a Bernoulli CUSUM
on failures, an EWMA chart of the per-run pass rate with exact time-varying limits), so the
numbers in the example are real for this data.

Usage: ``python reports/examples/make_examples.py [OUT_DIR]`` (default: this directory).
Writes ``dates-eu-ewma.png``, ``dates-eu-pass-rate.png``, ``incidents/INC-20240403-0001.md``
and ``.json`` and ``canary/<timestamp>-support-bot.md``/``.json``/``.xml``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy.stats import fisher_exact

from canaryflow.incidents._runbook import RunbookContext, SubjectCount
from canaryflow.incidents._sinks import FileSink
from canaryflow.records import Alert, Incident, IncidentEvent, RunRecord
from canaryflow.reports import (
    Chart,
    ChartPoint,
    Example,
    Report,
    SubjectResult,
    plot_control_chart,
    plot_pass_rate,
    write_report,
)

START = datetime(2024, 4, 1, 22, tzinfo=UTC)
CHANGE = datetime(2024, 4, 3, 10, tzinfo=UTC)
RUNS, ATTEMPTS, WARMUP = 48, 20, 24
REPETITIONS = 4
"""Each of the 5 dates_eu probes is sent 4 times per run (20 attempts)."""
LAMBDA, L = 0.1, 2.814
MODEL = "support-bot"
INCIDENT_ID = "INC-20240403-0001"


def _simulate() -> tuple[list[datetime], list[int]]:
    rng = np.random.default_rng(20240403)
    times = [START + timedelta(hours=i) for i in range(RUNS)]
    passed = [int(rng.binomial(ATTEMPTS, 0.995 if t < CHANGE else 0.70)) for t in times]
    passed[-1] = 14  # the run the report is about: 14/20, pass rate 0.70
    return times, passed


def _ewma(times: Sequence[datetime], rates: Sequence[float]) -> tuple[list[ChartPoint], float]:
    """EWMA of the per-run pass rate; mean and sd frozen from the warm-up runs."""
    base = np.asarray(rates[:WARMUP])
    mu0 = float(base.mean())
    # A binomial floor keeps the limits honest when the warm-up happens to be all passes.
    sd = max(float(base.std(ddof=1)), math.sqrt(0.01 * 0.99 / ATTEMPTS))
    z, points = mu0, []
    for i, (t, x) in enumerate(zip(times, rates, strict=True), start=1):
        z = LAMBDA * x + (1 - LAMBDA) * z
        half = L * sd * math.sqrt(LAMBDA / (2 - LAMBDA) * (1 - (1 - LAMBDA) ** (2 * i)))
        points.append(
            ChartPoint(
                x=t,
                value=z,
                lower=mu0 - half,
                upper=mu0 + half,
                alarm=i > WARMUP and not (mu0 - half <= z <= mu0 + half),
            )  # fmt: skip
        )
    return points, mu0


def _bernoulli_cusum(passed: Sequence[int], p0: float, p1: float, h: float) -> tuple[float, int]:
    """Bernoulli CUSUM on failures (Reynolds & Stoumbos 1999): (max statistic, first alarm run)."""
    w_fail, w_pass = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    s, first, top = 0.0, -1, 0.0
    for i, k in enumerate(passed[WARMUP:], start=WARMUP):
        for fail in [1] * (ATTEMPTS - k) + [0] * k:
            s = max(0.0, s + (w_fail if fail else w_pass))
        top = max(top, s)
        if s > h and first < 0:
            first = i
    return top, first


def main(out_dir: str | Path | None = None) -> dict[str, Path]:
    """Generate every example into ``out_dir``; returns the paths written."""
    out = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    times, passed = _simulate()
    rates = [k / ATTEMPTS for k in passed]
    points, mu0 = _ewma(times, rates)
    first_alarm = next(p for p in points if p.alarm)
    ewma_png = plot_control_chart(
        points, title="dates_eu pass rate, EWMA (lambda 0.1, L 2.814)", unit="pass rate",
        baseline_mean=mu0, out_path=out / "dates-eu-ewma.png",
    )  # fmt: skip
    rate_png = plot_pass_rate(
        [{"x": t, "passed": k, "total": ATTEMPTS} for t, k in zip(times, passed, strict=True)],
        title="dates_eu pass rate per hourly run", out_path=out / "dates-eu-pass-rate.png",
        baseline_rate=mu0,
    )  # fmt: skip

    i_now = RUNS - 1
    base_pass, base_total = sum(passed[:WARMUP]), WARMUP * ATTEMPTS
    cur_pass = passed[i_now]
    p_fisher = float(
        fisher_exact(
            [[base_pass, base_total - base_pass], [cur_pass, ATTEMPTS - cur_pass]],
            alternative="greater",
        ).pvalue
    )
    p0 = max(0.005, (base_total - base_pass) / base_total)
    cusum_h = 4.0
    cusum_top, cusum_run = _bernoulli_cusum(passed, p0=p0, p1=0.10, h=cusum_h)
    now = times[i_now]
    run = RunRecord(run_id="run-0048", flow="canary", model=MODEL, config_hash="c0ffee1234",
                    as_of=now, started_at=now, finished_at=now + timedelta(minutes=2),
                    status="completed")  # fmt: skip
    common = {"flow": "canary", "model": MODEL, "subject": "dates_eu", "metric": "pass_rate",
              "metric_class": "correctness", "baseline_n": base_total, "run_id": run.run_id,
              "as_of": now}  # fmt: skip
    alerts = (
        Alert(**common, baseline_value=base_pass / base_total, current_value=cur_pass / ATTEMPTS,
              test="fisher_one_sided+BH", p_value=p_fisher, first_window=CHANGE,
              message=f"dates_eu pass rate {base_pass}/{base_total} -> {cur_pass}/{ATTEMPTS} "
              "(one-sided Fisher exact, BH across 6 families)"),
        Alert(**{**common, "metric": "failure_rate"}, baseline_value=p0,
              current_value=1 - sum(passed[WARMUP + 12:]) / (
              ATTEMPTS * (RUNS - WARMUP - 12)), test=f"bernoulli_cusum(p0={p0:.3f},p1=0.10)",
              statistic=cusum_top, limit=cusum_h, first_window=times[cusum_run],
              message="failure rate CUSUM crossed h"),
        Alert(**common, baseline_value=mu0, current_value=points[-1].value,
              test=f"ewma(lambda={LAMBDA},L={L})", statistic=points[-1].value,
              limit=points[-1].lower, first_window=first_alarm.x,
              evidence={"chart": "dates-eu-ewma.png"},
              message="EWMA of the per-run pass rate below its lower limit"),
    )  # fmt: skip
    # The 6 failed attempts of the last run, one example per probe (k of 4 repetitions).
    docs = [("03/04/2024", "2024-04-03", 2), ("07/11/2023", "2023-11-07", 1),
            ("01/02/2024", "2024-02-01", 1), ("11/05/2024", "2024-05-11", 1),
            ("09/12/2023", "2023-12-09", 1)]  # fmt: skip
    assert sum(k for *_, k in docs) == ATTEMPTS - passed[-1]
    examples = tuple(
        Example(
            item_id=f"dates-eu-{i + 1:02d}",
            subject="dates_eu",
            input=f"Rechnung vom {d}. Rückfragen: buchhaltung@example.de, +49 30 1234567. "
            "Return the invoice date as YYYY-MM-DD.",
            expected=iso,
            output=f"{iso[:4]}-{iso[8:10]}-{iso[5:7]}",
            before=iso,
            reason=f"dates: expected {iso}, got {iso[:4]}-{iso[8:10]}-{iso[5:7]} (day/month)",
            failed=k,
            attempts=REPETITIONS,
        )
        for i, (d, iso, k) in enumerate(docs)
    )
    fingerprint = (
        "14 of 20 probes changed output at 2024-04-03 10:00 UTC (temperature 0); "
        "returned model name sim-sonnet-2024-01-15 -> sim-sonnet-2024-04-01; "
        "checks still pass on every family except dates_eu."
    )
    families = {"dates_eu": cur_pass, "dates_us": 20, "json_output": 20, "refusal": 20,
                "arithmetic": 20, "instruction_following": 20}  # fmt: skip
    results = tuple(
        SubjectResult(
            subject=f, baseline_value=1.0 if f != "dates_eu" else base_pass / base_total,
            current_value=k / ATTEMPTS, ci_low=_wilson(k, ATTEMPTS)[0],
            ci_high=_wilson(k, ATTEMPTS)[1], test="fisher_one_sided+BH",
            p_value=p_fisher if f == "dates_eu" else 1.0,
            verdict="alert" if f == "dates_eu" else "ok", n=ATTEMPTS, baseline_n=base_total,
        )
        for f, k in families.items()
    )  # fmt: skip
    charts = (
        Chart(title="dates_eu EWMA", path=str(ewma_png), unit="pass rate"),
        Chart(title="dates_eu pass rate per run", path=str(rate_png),
              unit="pass rate (fraction of attempts)"),
    )  # fmt: skip
    report = Report(
        kind="canary",
        title=f"Hourly canary: {MODEL}",
        run=run,
        verdict="alert",
        summary=(
            f"dates_eu pass rate {base_pass / base_total:.2f} -> {cur_pass / ATTEMPTS:.2f} "
            f"(Fisher one-sided p = {p_fisher:.2g}); 5 other families unchanged",
            f"EWMA first out of control at {first_alarm.x:%Y-%m-%d %H:%M} UTC; "
            f"Bernoulli CUSUM {cusum_top:.1f} > h = {cusum_h}",
            f"Incident {INCIDENT_ID} opened (correctness, high)",
        ),
        results=results,
        alerts=alerts,
        fingerprint=fingerprint,
        charts=charts,
        examples=examples,
        notes=(
            f"Baseline size m = {WARMUP} runs ({base_total} attempts): below 300 runs the "
            "EWMA limits are estimated from a short baseline; L should be widened for m "
            "(Jones, Champ & Rigdon 2001) or calibrated by simulation.",
            "Synthetic data generated by reports/examples/make_examples.py.",
        ),
        generated_at=now + timedelta(minutes=2),
    )
    paths = write_report(report, out, junit=True)

    incident = Incident(
        incident_id=INCIDENT_ID, flow="canary", model=MODEL, subject="dates_eu",
        metric_class="correctness", severity="high",
        title=f"dates_eu pass rate {base_pass / base_total:.2f} -> {cur_pass / ATTEMPTS:.2f}",
        state="acknowledged", opened_at=CHANGE + timedelta(hours=2), updated_at=now,
        alerts=alerts, run_ids=tuple(f"run-{i + 1:04d}" for i in range(WARMUP + 12, RUNS)),
        history=(
            IncidentEvent(at=CHANGE + timedelta(hours=2), action="opened",
                          note="dates_eu pass rate CUSUM crossed h"),
            IncidentEvent(at=CHANGE + timedelta(hours=2, minutes=20), action="acknowledged",
                          by="oncall-alice", note="looking at it; provider changelog "
                          "mentions a 2024-04-01 snapshot"),
            IncidentEvent(at=now, action="updated",
                          note="dates_eu pass rate 479/480 -> 14/20"),
        ),
    )  # fmt: skip
    counts = tuple(
        SubjectCount(
            subject=f,
            failed=ATTEMPTS - k,
            total=ATTEMPTS,
            baseline_failed=0 if f != "dates_eu" else base_total - base_pass,
            baseline_total=base_total,
        )  # fmt: skip
        for f, k in families.items()
    )

    def context(inc: Incident, _alerts: Sequence[Alert]) -> RunbookContext:
        return RunbookContext(
            examples=examples, failing_total=ATTEMPTS - cur_pass, counts=counts,
            fingerprint_changed_at=CHANGE, fingerprint_changed=14, fingerprint_probes=20,
            config_hashes=("c0ffee1234",), models_returned_before=("sim-sonnet-2024-01-15",),
            models_returned_after=("sim-sonnet-2024-04-01",), pinned_model="sim-sonnet",
            golden_set="financial_extraction", chart_path=str(ewma_png), chart_unit="pass rate",
            baseline_n=base_total,
        )  # fmt: skip

    incident_md = FileSink(out / "incidents", context_provider=context).publish(incident, alerts)
    assert incident_md is not None
    return {
        "ewma_png": ewma_png,
        "pass_rate_png": rate_png,
        "incident_md": Path(incident_md),
        "incident_json": Path(incident_md).with_suffix(".json"),
        "report_md": paths.markdown,
        "report_json": paths.json,
        "report_junit": paths.junit or paths.json,
    }


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p, d = k / n, 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


if __name__ == "__main__":
    written = main(sys.argv[1] if len(sys.argv) > 1 else None)
    for name, path in written.items():
        print(f"{name}: {path}")
