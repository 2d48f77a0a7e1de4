"""Schemas of what the engine's parts exchange: requests, completions, results, alerts, incidents.

These are the contracts between providers, checks, the store, the statistics, the incident
manager and the reports. They are frozen pydantic models so a result cannot be altered after it
was recorded, and so every persisted form has one JSON shape (``model_dump(mode="json")``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Alert",
    "Baseline",
    "CheckResult",
    "Completion",
    "CompletionRequest",
    "FinishReason",
    "Incident",
    "IncidentEvent",
    "IncidentResolution",
    "IncidentState",
    "ItemResult",
    "Message",
    "MetricClass",
    "ResponseFormat",
    "RunFlow",
    "RunRecord",
    "RunStatus",
    "SEVERITY_BY_CLASS",
    "Severity",
    "ToolCall",
    "ToolSpec",
    "utcnow",
]

FinishReason = Literal["stop", "length", "refusal", "tool_use", "error"]
"""Normalized finish reason across providers."""

RunFlow = Literal["canary", "golden", "production", "upgrade"]
"""The flows a stored run can belong to."""

RunStatus = Literal["running", "completed", "degraded", "failed", "crashed"]
"""``degraded``: the run finished but too many calls failed for its verdicts to be trusted;
``crashed``: a later run found it still ``running`` long after it began (a killed process)."""

MetricClass = Literal[
    "safety", "correctness", "fingerprint", "quality", "drift", "reliability", "latency", "cost"
]
"""What kind of thing an alert is about; decides the incident severity and the runbook text."""

Severity = Literal["critical", "high", "medium", "low"]

IncidentState = Literal["open", "acknowledged", "resolved"]
IncidentResolution = Literal["fixed", "accepted_change", "false_alarm"]

SEVERITY_BY_CLASS: dict[str, Severity] = {
    "safety": "critical",
    "correctness": "high",
    "fingerprint": "medium",
    "quality": "high",
    "drift": "medium",
    "reliability": "medium",
    "latency": "low",
    "cost": "low",
}
"""Safety and correctness rank above cost and latency (DESIGN.md §5)."""


def utcnow() -> datetime:
    """Timezone-aware now in UTC (every timestamp canaryflow stores is aware UTC)."""
    return datetime.now(UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(_Frozen):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str


class ToolSpec(_Frozen):
    """A function the model may call (provider-neutral; JSON Schema parameters)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolCall(_Frozen):
    """A function call the model made."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ResponseFormat(_Frozen):
    """A JSON Schema the reply text must follow (OpenAI ``response_format`` ``json_schema``).

    Anthropic has no equivalent on Messages; a caller wanting a schema-bound reply there forces a
    tool instead (``CompletionRequest.tool_choice``), so the Anthropic client ignores this.
    """

    name: str
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool = True

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CompletionRequest(_Frozen):
    """What to send to a model; provider-neutral."""

    messages: tuple[Message, ...]
    max_tokens: int = 512
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    stream: bool = False
    """Stream the reply (SSE) to measure time to first token and inter-token gaps."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """Free labels (probe id, item id); sent nowhere, copied onto the Completion's context."""
    tool_choice: str | None = None
    """Name of a tool in ``tools`` the model must call (a forced, schema-bound reply)."""
    response_format: ResponseFormat | None = None
    """A JSON Schema for the reply text (OpenAI-compatible servers; ignored by Anthropic)."""

    @property
    def system(self) -> str:
        """The concatenated system messages ('' if none)."""
        return "\n\n".join(m.content for m in self.messages if m.role == "system")


class Completion(_Frozen):
    """The normalized outcome of one model call, success or failure.

    A failed call is a Completion with ``finish_reason == "error"`` and ``error`` set: provider
    failures are recorded as data, never raised into a run and never replaced by a default.
    """

    text: str = ""
    finish_reason: FinishReason
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    """From the configured prices; None when the model has no pricing configured."""
    model_returned: str | None = None
    """The model name the provider says answered (a fingerprint of silent updates)."""
    system_fingerprint: str | None = None
    """OpenAI's ``system_fingerprint`` (None for providers without one)."""
    request_id: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    """Time to first token (streaming only)."""
    tbt_ms: float | None = None
    """Mean time between tokens/chunks after the first (streaming only)."""
    token_gaps_ms: tuple[float, ...] = ()
    attempts: int = 1
    error: str | None = None
    """Why the call failed (no secrets); None on success."""
    error_kind: str | None = None
    """rate_limit, server, timeout, connection, bad_request, auth, malformed, config."""
    status_code: int | None = None

    @property
    def ok(self) -> bool:
        """True when the call produced a reply (which may still be wrong)."""
        return self.error is None and self.finish_reason != "error"

    def tool_input(self, name: str) -> dict[str, Any] | None:
        """The arguments of the first call to tool ``name`` (a forced tool's reply), or None."""
        for call in self.tool_calls:
            if call.name == name:
                return call.arguments
        return None

    def measured(self) -> dict[str, Any]:
        """The fields an :class:`ItemResult` copies from the completion it records (every
        flow stores the same provider facts: finish reason, error, latency, tokens, cost,
        returned model name and fingerprint)."""
        return {
            "finish_reason": self.finish_reason,
            "error": self.error,
            "error_kind": self.error_kind,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "model_returned": self.model_returned,
            "system_fingerprint": self.system_fingerprint,
        }


class CheckResult(_Frozen):
    """One deterministic check applied to one output: what, the verdict, why, and from where."""

    name: str
    passed: bool
    value: Any = None
    """What was measured (the extracted date, the word count...)."""
    reason: str = ""
    source: str = ""
    """Which definition the check came from (``probes/dates_eu.yaml:dates-eu-03``)."""


class ItemResult(_Frozen):
    """One attempt at one item (a probe repetition, a golden item, a judged record) in a run.

    Keyed by ``(run_id, item_id, attempt)`` so rerunning the same item overwrites, never
    duplicates.
    """

    run_id: str
    item_id: str
    """Probe id or golden item id or production request id."""
    attempt: int = 0
    """Repetition index (probes are sent ``repetitions`` times)."""
    flow: str
    model: str
    """The configured model key (``[models.<key>]``)."""
    subject: str
    """What is compared with a baseline: probe family, golden category, feature."""
    passed: bool | None
    """None when the item could not be evaluated (provider error)."""
    score: float | None = None
    output: str = ""
    normalized_output: str = ""
    checks: tuple[CheckResult, ...] = ()
    finish_reason: FinishReason = "stop"
    error: str | None = None
    error_kind: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    model_returned: str | None = None
    system_fingerprint: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    extra: dict[str, Any] = Field(default_factory=dict)


class RunRecord(_Frozen):
    """One flow run, as stored: identity, what configuration it ran with, and how it ended."""

    version: int = 1
    run_id: str
    flow: RunFlow
    model: str
    config_hash: str
    as_of: datetime
    """The time the run stands for (backfills and the demo replay history with it)."""
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: RunStatus = "running"
    summary: dict[str, Any] = Field(default_factory=dict)


class Alert(_Frozen):
    """A statistically supported change against the baseline (DESIGN.md §4, last bullet)."""

    flow: str
    model: str
    subject: str
    metric: str
    metric_class: MetricClass
    baseline_value: float | None
    current_value: float | None
    test: str
    """e.g. ``fisher_one_sided+BH``, ``ewma(lambda=0.1,L=2.814)``, ``mmd_permutation``."""
    statistic: float | None = None
    p_value: float | None = None
    limit: float | None = None
    baseline_n: int | None = None
    first_window: datetime | None = None
    """The first window that went out of control (the change-point estimate)."""
    run_id: str | None = None
    as_of: datetime = Field(default_factory=utcnow)
    message: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    """Failing examples, before/after samples, chart paths (redacted before rendering)."""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The incident dedupe key: (flow, model, subject, metric class)."""
        return (self.flow, self.model, self.subject, self.metric_class)

    @property
    def severity(self) -> Severity:
        """Severity from the metric class."""
        return SEVERITY_BY_CLASS[self.metric_class]


class IncidentEvent(_Frozen):
    """One entry of an incident's history: who did what when, and why."""

    at: datetime
    action: str
    """``opened``, ``updated``, ``acknowledged``, ``resolved:<resolution>``."""
    note: str = ""
    by: str = ""
    """Who acknowledged or resolved it (empty for alerts filed by a run)."""


class Incident(_Frozen):
    """An alert's lifecycle: opened, updated by later alerts with the same key, resolved."""

    version: int = 1
    incident_id: str
    flow: str
    model: str
    subject: str
    metric_class: MetricClass
    severity: Severity
    state: IncidentState = "open"
    resolution: IncidentResolution | None = None
    resolution_note: str = ""
    title: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    alerts: tuple[Alert, ...] = ()
    run_ids: tuple[str, ...] = ()
    report_path: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    """What the incident was filed with (the runbook context: failing samples, counts,
    fingerprint, chart), kept so that an ack or resolve re-renders the same evidence."""
    history: tuple[IncidentEvent, ...] = ()
    """State changes, oldest first (read from the store; appended by the store only)."""


class Baseline(_Frozen):
    """A frozen reference for one (flow, model, subject, metric), versioned.

    Built from a window of runs, never updated in place: a new version replaces it only through
    an explicit promote (or an incident resolved as an accepted change). ``n`` is the baseline
    size m that decides whether estimated control limits can be trusted (m >= 300).
    """

    version: int = 1
    flow: str
    model: str
    subject: str
    metric: str
    baseline_version: int = 0
    """0 = not yet stored; the store assigns 1, 2, ... per key."""
    n: int
    """Baseline size (observations: runs, attempts or items, as the metric defines)."""
    stats: dict[str, Any] = Field(default_factory=dict)
    """Metric-specific frozen statistics: mean, sd, successes, trials, output distribution..."""
    window_start: datetime | None = None
    window_end: datetime | None = None
    run_ids: tuple[str, ...] = ()
    created_at: datetime = Field(default_factory=utcnow)
    reason: str = ""
    """Why this baseline exists: warm-up, promote by <user>: <reason>, accepted change..."""
    active: bool = True
