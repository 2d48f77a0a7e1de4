"""Report rendering: Markdown safety and budget, JSON schema, JUnit, files, charts, artifacts."""

from __future__ import annotations

import json
import re
import warnings
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from canaryflow.records import Alert, RunRecord
from canaryflow.reports import (
    REPORT_SCHEMA_PATH,
    Chart,
    ChartPoint,
    ErrorInfo,
    Example,
    KnownFailure,
    Report,
    SubjectResult,
    artifact_key,
    in_prefect_run,
    plot_control_chart,
    plot_pass_rate,
    publish_artifacts,
    render_json,
    render_junit,
    render_markdown,
    report_json_schema,
    write_report,
)

AS_OF = datetime(2024, 4, 3, 10, tzinfo=UTC)
EVIL = (
    "</details></summary><script>alert(1)</script> | cell | break\n"
    "```\nclosing fence\n````\n<img src=x onerror=alert(1)> @org/team #1 [x](javascript:y)"
)


def _run(model: str = "support-bot") -> RunRecord:
    return RunRecord(
        run_id="run-0042",
        flow="canary",
        model=model,
        config_hash="c0ffee",
        as_of=AS_OF,
        status="completed",
    )


def _alert(subject: str = "dates_eu", message: str = "pass rate dropped") -> Alert:
    return Alert(
        flow="canary",
        model="support-bot",
        subject=subject,
        metric="pass_rate",
        metric_class="correctness",
        baseline_value=1.0,
        current_value=0.7,
        test="fisher_one_sided+BH",
        statistic=None,
        p_value=0.0012,
        baseline_n=240,
        first_window=AS_OF,
        run_id="run-0042",
        message=message,
        evidence={"sample": "reach me at jane@example.com", "nested": ["4111 1111 1111 1111"]},
    )


def _report(**kw: object) -> Report:
    base: dict[str, object] = {
        "kind": "canary",
        "title": "Hourly canary: support-bot",
        "run": _run(),
        "verdict": "alert",
        "summary": ("dates_eu pass rate 1.00 -> 0.70 (Fisher p = 0.0012)",),
        "results": (
            SubjectResult(
                subject="dates_eu",
                baseline_value=1.0,
                current_value=0.7,
                ci_low=0.48,
                ci_high=0.85,
                test="fisher_one_sided+BH",
                p_value=0.0012,
                verdict="alert",
                n=20,
                baseline_n=240,
            ),
            SubjectResult(subject="json_output", baseline_value=1.0, current_value=1.0),
            SubjectResult(subject="refusal", verdict="inconclusive", detail="power 0.35"),
        ),
        "alerts": (_alert(),),
        "fingerprint": "14 of 20 probes changed output at 10:00; checks still pass",
        "examples": (
            Example(
                item_id="dates-eu-03",
                subject="dates_eu",
                input="Invoice dated 03/04/2024, contact jane@example.com",
                expected="2024-04-03",
                output="2024-03-04",
                reason="dates: expected 2024-04-03, got 2024-03-04",
            ),
        ),
        "notes": ("baseline m = 240 < 300: EWMA L widened for m",),
    }
    base.update(kw)
    return Report.model_validate(base)


# --- Markdown --------------------------------------------------------------------------------


def test_markdown_summary_first_and_sections() -> None:
    md = render_markdown(_report())
    lines = md.splitlines()
    assert lines[0].startswith("## Hourly canary")
    assert "**Status: ALERT**" in lines[2]
    assert "support-bot" in lines[2] and "run-0042" in lines[2]
    assert md.index("Status: ALERT") < md.index("<details")
    assert md.count("<details") == md.count("</details>")
    assert "[0.48, 0.85]" in md and "0.0012" in md
    assert "INCONCLUSIVE" in md
    assert "baseline m = 240 &lt; 300" in md
    assert not re.search(r"[\U0001F300-\U0001FAFF\u2705\u274C]", md)  # no emoji


def _outside_code_blocks(md: str) -> str:
    """The Markdown with fenced code blocks removed (fences matched by their exact length)."""
    out, fence = [], None
    for line in md.splitlines():
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        out.append(line)
    assert fence is None, "a code block was left open"
    return "\n".join(out)


def test_injection_cannot_break_the_report() -> None:
    report = _report(
        title=EVIL,
        summary=(EVIL,),
        results=(SubjectResult(subject=EVIL, test=EVIL, verdict="alert"),),
        alerts=(_alert(subject=EVIL, message=EVIL),),
        fingerprint=EVIL,
        examples=(Example(item_id=EVIL, input=EVIL, output=EVIL, expected=EVIL, reason=EVIL),),
        known_failures=(KnownFailure(item_id=EVIL, reason=EVIL),),
        errors=(ErrorInfo(kind=EVIL, count=3, message=EVIL),),
        notes=(EVIL,),
        charts=(Chart(title=EVIL, path="charts/a b(1).png", unit=EVIL),),
    )
    md = render_markdown(report)
    prose = _outside_code_blocks(md)
    assert "<script" not in prose and "<img" not in prose
    # the only raw HTML tags are the ones the template writes
    tags = re.findall(r"</?[a-zA-Z][^>]*>", prose)
    assert set(tags) <= {"<details>", "<details open>", "</details>", "<summary>", "</summary>"} | {
        "<sub>",
        "</sub>",
    }
    assert prose.count("<details") == prose.count("</details>")
    assert "@org" not in prose
    # every table row keeps its header's column count (pipes in data are escaped)
    lines = prose.splitlines()
    cols = None
    for line, nxt in zip(lines, [*lines[1:], ""], strict=True):
        if not line.startswith("|"):
            cols = None
            continue
        n = len(re.findall(r"(?<!\\)\|", line))
        if cols is None and nxt.startswith("|---"):
            cols = n
        assert n == cols, line
    assert "](charts/a%20b%281%29.png)" in prose


def test_size_budget_truncates_examples_with_note() -> None:
    examples = tuple(
        Example(item_id=f"item-{i}", subject="dates_eu", input="x" * 900, output="y" * 900)
        for i in range(200)
    )
    report = _report(examples=examples)
    md = render_markdown(report, budget=20_000, max_examples=200, json_name="r.json")
    assert len(md) <= 20_000
    m = re.search(r"(\d+) more in the JSON", md)
    assert m and int(m.group(1)) > 0
    shown = len(re.findall(r"\*\*item-\d+\*\*", md))
    assert shown + int(m.group(1)) == 200
    assert md.count("<details") == md.count("</details>")


def test_size_budget_default_holds_for_huge_reports() -> None:
    results = tuple(
        SubjectResult(subject=f"subject-{i}-" + "s" * 100, test="t" * 50) for i in range(2000)
    )
    alerts = tuple(_alert(subject=f"s{i}", message="m" * 300) for i in range(300))
    md = render_markdown(_report(results=results, alerts=alerts))
    assert len(md) <= 60_000
    assert "more rows in the JSON" in md or "in the JSON" in md
    assert md.count("<details") == md.count("</details>")
    tiny = render_markdown(_report(results=results, alerts=alerts), budget=1_500)
    assert len(tiny) <= 1_500 and "Status: ALERT" in tiny


def test_examples_and_evidence_are_redacted() -> None:
    report = _report()
    assert "jane@example.com" not in report.examples[0].input
    assert report.alerts[0].evidence == {"sample": "reach me at [EMAIL]", "nested": ["[CARD]"]}
    md, js = render_markdown(report), render_json(report)
    for text in (md, js):
        assert "jane@example.com" not in text and "4111 1111" not in text
    assert "03/04/2024" in md  # dates survive redaction


# --- JSON ------------------------------------------------------------------------------------


def test_committed_schema_is_current() -> None:
    committed = json.loads(REPORT_SCHEMA_PATH.read_text())
    assert committed == report_json_schema(), (
        "report.schema.json is stale: run "
        "python -c 'from canaryflow.reports._model import write_report_schema as w; w()'"
    )
    assert list(committed["properties"])[0] == "version"


@pytest.mark.parametrize(
    "report",
    [
        _report(),
        _report(
            run={"model": "candidate-b", "baseline": "a", "candidate": "b"},
            kind="upgrade",
            verdict="inconclusive",
        ),
        _report(
            results=(SubjectResult(subject="x", current_value=float("nan"), p_value=float("inf")),),
            errors=(ErrorInfo(kind="timeout", count=2, rate=float("nan")),),
            verdict="degraded",
            degraded_reason="provider error rate 0.31 > 0.20",
        ),
    ],
)
def test_json_validates_against_schema(report: Report) -> None:
    data = json.loads(render_json(report))
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA_PATH.read_text())).validate(data)
    assert data["version"] == 1
    assert Report.model_validate_json(render_json(report)).kind == report.kind


def test_json_nan_written_as_null() -> None:
    report = _report(results=(SubjectResult(subject="x", current_value=float("nan")),))
    text = render_json(report)
    assert "NaN" not in text
    assert json.loads(text)["results"][0]["current_value"] is None


# --- JUnit -----------------------------------------------------------------------------------


def test_junit_parses_back_with_failures() -> None:
    report = _report(
        alerts=(_alert(), _alert(subject="fingerprint", message="14 of 20 probes changed\x01"))
    )
    root = ET.fromstring(render_junit(report).encode())
    suite = root.find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"dates_eu", "json_output", "refusal", "fingerprint"}
    assert cases["dates_eu"].find("failure") is not None
    assert cases["json_output"].find("failure") is None
    assert cases["refusal"].find("skipped") is not None
    assert cases["fingerprint"].find("failure") is not None
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    assert suite.get("skipped") == "1"


def test_junit_escapes_and_degraded() -> None:
    report = _report(
        results=(SubjectResult(subject=EVIL + "\x00\x1b", verdict="regression"),),
        alerts=(),
        verdict="degraded",
        degraded_reason="judge parse failures 40% > 10%",
    )
    root = ET.fromstring(render_junit(report).encode())
    names = [c.get("name") for c in root.iter("testcase")]
    assert "run" in names and any("<script>" in (n or "") for n in names)
    assert root.get("errors") == "1" and root.get("failures") == "1"


# --- files -----------------------------------------------------------------------------------


def test_write_report_files_and_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("previous step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    chart = plot_control_chart(
        _points(), title="EWMA", unit="pass rate", baseline_mean=0.99, out_path=tmp_path / "c.png"
    )
    report = _report(charts=(Chart(title="EWMA", path=str(chart), unit="pass rate"),))
    paths = write_report(report, tmp_path / "reports", junit=True)
    assert paths.markdown == tmp_path / "reports/canary/20240403T100000Z-support-bot.md"
    assert paths.json.name == "20240403T100000Z-support-bot.json"
    assert paths.latest.name == "latest-support-bot.md"
    assert paths.junit is not None and paths.junit.suffix == ".xml"
    ET.parse(paths.junit)
    md = paths.markdown.read_text()
    assert "](../../c.png)" in md
    assert paths.latest.read_text() == md
    assert (
        summary.read_text().startswith("previous step\n") and "Status: ALERT" in summary.read_text()
    )
    again = write_report(report, tmp_path / "reports")  # same run: same files, no duplicates
    assert again.markdown == paths.markdown
    assert len(list((tmp_path / "reports/canary").glob("2024*.md"))) == 1


def test_write_report_sanitizes_model_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    paths = write_report(_report(run=_run(model="../../etc/passwd")), tmp_path)
    assert paths.markdown.parent == tmp_path / "canary"
    assert paths.step_summary is None


# --- charts ----------------------------------------------------------------------------------


def _points() -> list[ChartPoint]:
    pts, z = [], 0.99
    for i in range(48):
        x = 0.99 if i < 36 else 0.7
        z = 0.1 * x + 0.9 * z
        half = 3 * 0.03 * (0.1 / 1.9 * (1 - 0.9 ** (2 * (i + 1)))) ** 0.5
        pts.append(
            ChartPoint(
                x=AS_OF + timedelta(hours=i - 36),
                value=z,
                lower=0.99 - half,
                upper=0.99 + half,
                alarm=z < 0.99 - half,
            )
        )
    return pts


def test_control_chart_png(tmp_path: Path) -> None:
    out = plot_control_chart(
        _points(),
        title="dates_eu EWMA",
        unit="pass rate",
        baseline_mean=0.99,
        out_path=tmp_path / "sub" / "ewma.png",
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_control_chart_accepts_dicts_and_index_x(tmp_path: Path) -> None:
    pts = [{"x": i, "value": float(i % 3), "upper": 2.5, "alarm": i == 7} for i in range(10)]
    out = plot_control_chart(
        pts, title="c", unit="ms", baseline_mean=None, out_path=tmp_path / "c.png"
    )
    assert out.stat().st_size > 5_000


def test_pass_rate_png(tmp_path: Path) -> None:
    runs = [{"x": i, "passed": 20 if i < 10 else 14, "total": 20} for i in range(15)]
    runs.append({"x": 15, "passed": 0, "total": 0})
    out = plot_pass_rate(runs, title="dates_eu", out_path=tmp_path / "p.png", baseline_rate=1.0)
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 5_000


# --- Prefect artifacts -----------------------------------------------------------------------


def test_artifact_key_rules() -> None:
    assert artifact_key("Canary", "support_bot/v2", "Report") == "canary-support-bot-v2-report"
    assert re.fullmatch(r"[a-z0-9-]+", artifact_key("!!!", "X" * 200))
    assert len(artifact_key("x" * 200)) <= 60
    assert artifact_key("") == "canaryflow"


def test_publish_artifacts_outside_a_run_is_silent() -> None:
    assert not in_prefect_run()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert publish_artifacts(_report()) == []
