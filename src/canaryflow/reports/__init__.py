"""Reports: Markdown (PR comments, step summaries), JSON with a schema, JUnit, charts, artifacts.

Build a :class:`Report`, then :func:`write_report` (files), :func:`publish_artifacts` (Prefect
UI). Templates are package data in ``canaryflow/reports/templates/``; the JSON Schema of the
JSON twin is ``canaryflow/reports/report.schema.json``.
"""

from canaryflow.reports._artifacts import artifact_key, in_prefect_run, publish_artifacts
from canaryflow.reports._junit import render_junit
from canaryflow.reports._markdown import DEFAULT_BUDGET, render_json, render_markdown
from canaryflow.reports._model import (
    REPORT_SCHEMA_PATH,
    REPORT_VERSION,
    Chart,
    ErrorInfo,
    Example,
    KnownFailure,
    Report,
    ReportKind,
    ReportVerdict,
    SubjectResult,
    SubjectVerdict,
    report_json_schema,
)
from canaryflow.reports._plots import (
    ChartPoint,
    PassRatePoint,
    plot_control_chart,
    plot_pass_rate,
)
from canaryflow.reports._write import ReportPaths, safe_filename, write_report

__all__ = [
    "Chart",
    "ChartPoint",
    "DEFAULT_BUDGET",
    "ErrorInfo",
    "Example",
    "KnownFailure",
    "PassRatePoint",
    "REPORT_SCHEMA_PATH",
    "REPORT_VERSION",
    "Report",
    "ReportKind",
    "ReportPaths",
    "ReportVerdict",
    "SubjectResult",
    "SubjectVerdict",
    "artifact_key",
    "in_prefect_run",
    "plot_control_chart",
    "plot_pass_rate",
    "publish_artifacts",
    "render_json",
    "render_junit",
    "render_markdown",
    "report_json_schema",
    "safe_filename",
    "write_report",
]
