"""The shared detection pipeline: one FDR step, one verdict vocabulary, alerts and rows."""

from __future__ import annotations

from datetime import UTC, datetime

from canaryflow.detection import SubjectTest, alert_for, decide, overall, report_row
from canaryflow.records import RunRecord

T = datetime(2026, 12, 1, tzinfo=UTC)
RUN = RunRecord(run_id="r", flow="golden", model="m", config_hash="h", as_of=T, started_at=T)


def _t(subject: str, p: float | None, **kw: object) -> SubjectTest:
    base = {"baseline_value": 0.9, "current_value": 0.8, "n": 40, "baseline_n": 40}
    test = str(kw.pop("test", "mcnemar_exact"))
    return SubjectTest(subject, "pass_rate", "correctness", test, p_value=p, **{**base, **kw})  # type: ignore[arg-type]


def test_one_bh_step_across_the_run() -> None:
    # 0.004 alone is significant at q=0.01; among 5 tests its BH-adjusted p is 0.02.
    alone = decide([_t("a", 0.004)], q=0.01)
    many = decide([_t("a", 0.004), *(_t(s, 0.5) for s in "bcde")], q=0.01)
    assert alone[0].verdict == "regression" and many[0].verdict == "pass"
    assert many[0].p_adjusted == 0.02


def test_inconclusive_has_a_reason_and_signals_win() -> None:
    d = decide(
        [
            _t("low-power", 0.3, power=0.4),
            _t("flow-said", 0.3, inconclusive_reason="too many judge errors (31 %)"),
            _t("chart", None, signal=True, test="bernoulli_cusum", statistic=5.1, limit=4.2),
            _t("empty", None, n=0),
        ],
        q=0.01,
    )
    assert [x.verdict for x in d] == ["inconclusive", "inconclusive", "regression", "no-data"]
    assert d[0].reason == "power 0.40 < 0.80" and "judge errors" in d[1].reason
    assert overall(d)[0] == "regression"
    assert overall(d[:2]) == (
        "inconclusive",
        "low-power: power 0.40 < 0.80; flow-said: too many judge errors (31 %)",
    )
    assert overall([]) == ("inconclusive", "nothing was compared")


def test_alerts_and_rows_carry_what_design_4_lists() -> None:
    (reg, ok) = decide([_t("dates", 1e-6, first_window=T), _t("tone", 0.9)], q=0.01)
    a = alert_for(reg, RUN)
    assert a is not None and alert_for(ok, RUN) is None
    assert (a.subject, a.metric, a.baseline_value, a.current_value) == (
        "dates",
        "pass_rate",
        0.9,
        0.8,
    )
    assert a.test == "mcnemar_exact+BH" and a.p_value == reg.p_adjusted and a.baseline_n == 40
    assert a.first_window == T and a.run_id == "r"
    assert report_row(reg).verdict == "regression" and report_row(ok).verdict == "pass"
