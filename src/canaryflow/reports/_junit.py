"""JUnit XML for CI systems: one testcase per subject, failures for alerts and regressions.

The layout follows the de-facto JUnit schema CI systems read (GitHub, GitLab, Jenkins):
``<testsuites><testsuite><testcase classname name><failure|error|skipped/>``. Text is escaped by
``xml.etree`` and characters XML 1.0 forbids (control characters) are removed first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from canaryflow.records import Alert
from canaryflow.reports._model import Report, SubjectResult

__all__ = ["render_junit"]

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FAILING = {"alert", "regression"}
_SKIPPED = {"inconclusive", "warmup", "skipped"}


def _clean(text: object) -> str:
    return _XML_INVALID.sub("", "" if text is None else str(text))


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _alert_text(alert: Alert) -> str:
    return "\n".join(
        [
            f"metric: {alert.metric} ({alert.metric_class}, severity {alert.severity})",
            f"baseline: {_num(alert.baseline_value)}  current: {_num(alert.current_value)}",
            f"test: {alert.test}  statistic: {_num(alert.statistic)}  "
            f"p: {_num(alert.p_value)}  limit: {_num(alert.limit)}",
            f"baseline m: {alert.baseline_n if alert.baseline_n is not None else 'n/a'}  "
            f"first window: {alert.first_window.isoformat() if alert.first_window else 'n/a'}",
            alert.message,
        ]
    ).strip()


def _result_text(s: SubjectResult) -> str:
    return (
        f"{s.metric}: baseline {_num(s.baseline_value)} -> current {_num(s.current_value)}"
        f" (CI {_num(s.ci_low)}..{_num(s.ci_high)}, {s.test or 'no test'}, p {_num(s.p_value)})"
        f"{' - ' + s.detail if s.detail else ''}"
    )


def render_junit(report: Report) -> str:
    """The report as a JUnit XML document (UTF-8 text with an XML declaration).

    Each subject result is a testcase (``classname`` = ``canaryflow.<kind>.<model>``); an alert
    or regression on it is a ``<failure>``, an ``error`` verdict an ``<error>``, inconclusive or
    warm-up a ``<skipped>``. Alerts on subjects without a result row get their own testcase. A
    degraded run adds a ``run`` testcase with an ``<error>``.
    """
    classname = _clean(f"canaryflow.{report.kind}.{report.model or 'unknown'}")
    alerts_by_subject: dict[str, list[Alert]] = {}
    for alert in report.alerts:
        alerts_by_subject.setdefault(alert.subject, []).append(alert)

    cases: list[ET.Element] = []
    counts = {"failures": 0, "errors": 0, "skipped": 0}

    def add_case(name: str) -> ET.Element:
        case = ET.Element("testcase", classname=classname, name=_clean(name), time="0")
        cases.append(case)
        return case

    def add_child(case: ET.Element, tag: str, message: str, kind: str, text: str) -> None:
        child = ET.SubElement(case, tag, message=_clean(message)[:500], type=_clean(kind))
        child.text = _clean(text)
        counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[tag]] += 1

    for s in report.results:
        case = add_case(s.subject if s.metric == "pass_rate" else f"{s.subject} [{s.metric}]")
        alerts = alerts_by_subject.pop(s.subject, [])
        if s.verdict in _FAILING or alerts:
            message = alerts[0].message if alerts and alerts[0].message else _result_text(s)
            body = "\n\n".join([_result_text(s), *(_alert_text(a) for a in alerts)])
            add_child(case, "failure", message, s.verdict, body)
        elif s.verdict == "error":
            add_child(case, "error", s.detail or "subject could not be evaluated", "error", "")
        elif s.verdict in _SKIPPED:
            add_child(case, "skipped", f"{s.verdict}: {s.detail}".rstrip(": "), s.verdict, "")
    for subject, alerts in alerts_by_subject.items():
        case = add_case(subject)
        body = "\n\n".join(_alert_text(a) for a in alerts)
        add_child(case, "failure", alerts[0].message or alerts[0].metric, "alert", body)
    if report.verdict == "degraded":
        case = add_case("run")
        add_child(case, "error", report.degraded_reason or "run degraded", "degraded", "")

    suite = ET.Element(
        "testsuite",
        name=classname,
        tests=str(len(cases)),
        failures=str(counts["failures"]),
        errors=str(counts["errors"]),
        skipped=str(counts["skipped"]),
        timestamp=report.as_of.isoformat(),
        time="0",
    )
    suite.extend(cases)
    root = ET.Element(
        "testsuites",
        name=_clean(report.title),
        tests=str(len(cases)),
        failures=str(counts["failures"]),
        errors=str(counts["errors"]),
        skipped=str(counts["skipped"]),
    )
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
