"""The report model: one frozen pydantic document per run, rendered to Markdown, JSON and JUnit.

The JSON form is ``Report.model_dump_json()``; its schema is ``Report.model_json_schema()``,
committed as ``report.schema.json`` next to this module (regenerate it with
:func:`write_report_schema`). ``version`` is first and bumped on breaking changes.
Every piece of model or user text that can reach a reader (examples, alert evidence) is redacted
when the model is built, so no renderer can forget to.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from canaryflow.records import Alert, RunRecord, utcnow
from canaryflow.redact import redact

__all__ = [
    "Chart",
    "ErrorInfo",
    "Example",
    "KnownFailure",
    "REPORT_SCHEMA_PATH",
    "REPORT_VERSION",
    "Report",
    "ReportKind",
    "ReportVerdict",
    "SubjectResult",
    "SubjectVerdict",
    "redact_value",
    "report_json_schema",
    "write_report_schema",
]

REPORT_VERSION = 1
REPORT_SCHEMA_PATH = Path(__file__).with_name("report.schema.json")

ReportKind = Literal["canary", "golden", "production", "upgrade", "incident"]
ReportVerdict = Literal[
    "healthy", "alert", "degraded", "warmup", "regression", "pass", "inconclusive"
]
SubjectVerdict = Literal[
    "pass",
    "regression",
    "inconclusive",
    "no-data",
    "ok",
    "alert",
    "improved",
    "warmup",
    "error",
    "skipped",
]
"""The detection pipeline's words (``canaryflow.detection.Verdict``: pass, regression,
inconclusive, no-data) are carried as they are; the others describe rows that are not
comparisons (warm-up, skipped, a chart-only row)."""


def redact_value(value: Any) -> Any:
    """Redact every string inside ``value`` (dicts, lists and tuples are walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def _finite(value: float | None) -> float | None:
    """NaN and infinities become None so the JSON is standard and matches the schema."""
    if value is None or math.isfinite(value):
        return value
    return None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubjectResult(_Frozen):
    """One row of the per-subject table: a probe family, golden category, feature or probe."""

    subject: str
    metric: str = "pass_rate"
    unit: str = ""
    """Unit of the values (``fraction of attempts``, ``ms, p95``); empty for pass rates."""
    baseline_value: float | None = None
    current_value: float | None = None
    ci_low: float | None = None
    """Lower end of the confidence interval of the current value (or of the effect)."""
    ci_high: float | None = None
    test: str = ""
    p_value: float | None = None
    verdict: SubjectVerdict = "ok"
    n: int | None = None
    """Current sample size (attempts, items, records)."""
    baseline_n: int | None = None
    """Baseline size m."""
    detail: str = ""

    @field_validator("baseline_value", "current_value", "ci_low", "ci_high", "p_value")
    @classmethod
    def _no_nan(cls, v: float | None) -> float | None:
        return _finite(v)


class Example(_Frozen):
    """A failing (or flipped) item shown as evidence; text fields are redacted on creation."""

    item_id: str
    subject: str = ""
    input: str = ""
    expected: str = ""
    output: str = ""
    reason: str = ""
    """Why it failed: the failing check and its message."""
    before: str = ""
    """The baseline output of the same item, when known."""
    failed: int | None = None
    """k: repetitions of this item that failed (one example stands for all of them)."""
    attempts: int | None = None
    """n: repetitions of this item that were evaluated."""

    @field_validator("input", "expected", "output", "reason", "before")
    @classmethod
    def _redact(cls, v: str) -> str:
        return redact(v)


class Chart(_Frozen):
    """A chart rendered to a file; linked from the Markdown by relative path."""

    title: str
    path: str
    unit: str
    """What the y axis measures (every chart states its unit)."""
    url: str | None = None
    """A public URL of the image, if uploaded; needed for a Prefect image artifact."""


class KnownFailure(_Frozen):
    """An item that already fails in the baseline (reported, not alerted on)."""

    item_id: str
    subject: str = ""
    reason: str = ""
    since: datetime | None = None


class ErrorInfo(_Frozen):
    """Errors of one kind in the run (provider, judge parse, timeouts...)."""

    kind: str
    count: int
    rate: float | None = None
    limit: float | None = None
    """The configured maximum rate; above it the run is degraded."""
    message: str = ""

    @field_validator("message")
    @classmethod
    def _redact(cls, v: str) -> str:
        return redact(v)

    @field_validator("rate", "limit")
    @classmethod
    def _no_nan(cls, v: float | None) -> float | None:
        return _finite(v)


class Report(_Frozen):
    """One run's report: what was checked, against what, the verdict and the evidence."""

    version: int = REPORT_VERSION
    kind: ReportKind
    title: str
    run: RunRecord | dict[str, Any]
    """The run row (or, for compare/upgrade reports, a dict describing both runs)."""
    verdict: ReportVerdict
    summary: tuple[str, ...] = ()
    """Key numbers, one line each, shown first."""
    results: tuple[SubjectResult, ...] = ()
    alerts: tuple[Alert, ...] = ()
    fingerprint: str = ""
    """The behaviour-fingerprint section ("14 of 20 probes changed output at 10:00...")."""
    known_failures: tuple[KnownFailure, ...] = ()
    errors: tuple[ErrorInfo, ...] = ()
    degraded_reason: str = ""
    charts: tuple[Chart, ...] = ()
    examples: tuple[Example, ...] = ()
    notes: tuple[str, ...] = ()
    """Free-form notes, e.g. the baseline size warning (m < 300: limits widened)."""
    generated_at: datetime = Field(default_factory=utcnow)

    @field_validator("alerts")
    @classmethod
    def _redact_evidence(cls, alerts: tuple[Alert, ...]) -> tuple[Alert, ...]:
        return tuple(
            a.model_copy(
                update={"evidence": redact_value(a.evidence), "message": redact(a.message)}
            )
            for a in alerts
        )

    @property
    def model(self) -> str:
        """The configured model key of the run ('' when unknown)."""
        if isinstance(self.run, RunRecord):
            return self.run.model
        return str(self.run.get("model", self.run.get("candidate", "")))

    @property
    def run_id(self) -> str:
        """The run id ('' when unknown)."""
        if isinstance(self.run, RunRecord):
            return self.run.run_id
        return str(self.run.get("run_id", ""))

    @property
    def as_of(self) -> datetime:
        """The time the run stands for (the generation time when the run has none)."""
        if isinstance(self.run, RunRecord):
            return self.run.as_of
        value = self.run.get("as_of")
        if isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        return self.generated_at

    def slug(self) -> str:
        """``<kind>-<model>`` reduced to lowercase letters, digits and dashes."""
        raw = f"{self.kind}-{self.model}".lower()
        return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", raw)).strip("-")


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of the report JSON (the committed ``report.schema.json``)."""
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://canaryflow.dev/schemas/report.v1.json"
    return schema


def write_report_schema(path: str | Path = REPORT_SCHEMA_PATH) -> Path:
    """Write :func:`report_json_schema` to ``path`` (the committed schema by default)."""
    out = Path(path)
    out.write_text(json.dumps(report_json_schema(), indent=2) + "\n", encoding="utf-8")
    return out
