"""Runbooks filled with facts, and the incident report (Markdown + JSON) that carries them.

The five steps follow the seeds' incident-response workflow: **triage** (real regression or
false positive? review the flagged samples), **scope** (which subjects, categories, features),
**isolate** (which change correlates: fingerprint, config hash, golden sets, provider model
name), **respond** (pin the last good model or revert the prompt; the exact config lines) and
**learn** (turn the failing cases into golden items before closing). Every line is built from
what the store knows (:class:`RunbookContext`); a fact that is unknown is said to be unknown,
never left as a blank to fill. Wording depends on severity and metric class: safety and
correctness regressions are worded as more urgent than cost and latency ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from canaryflow.records import Alert, Incident, MetricClass, Severity
from canaryflow.redact import redact
from canaryflow.reports._markdown import DEFAULT_BUDGET, render_template
from canaryflow.reports._model import Chart, Example, redact_value

__all__ = [
    "ConfigChange",
    "IncidentDocument",
    "MAX_FLAGGED",
    "RenderedIncident",
    "Runbook",
    "RunbookContext",
    "RunbookStep",
    "SubjectCount",
    "build_runbook",
    "cli_command",
    "context_from_alerts",
    "group_examples",
    "merge_context",
    "pin_config_lines",
    "render_incident",
    "runbook_context",
]

MAX_FLAGGED = 20
"""Triage reviews at most this many flagged samples (the seeds' "sample 20")."""

StepName = Literal["triage", "scope", "isolate", "respond", "learn"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SubjectCount(_Frozen):
    """Failures in one subject (probe family, probe, golden category, feature) now and before."""

    subject: str
    kind: Literal["family", "probe", "category", "feature", "set"] = "family"
    failed: int
    total: int
    baseline_failed: int | None = None
    baseline_total: int | None = None
    baseline_rate: float | None = None
    """Baseline pass rate, when the baseline counts are not at hand."""


class ConfigChange(_Frozen):
    """A change seen across runs: the config hash, a prompt, a golden set."""

    what: str = "config hash"
    before: str
    after: str
    at: datetime | None = None
    run_id: str | None = None


class RunbookContext(_Frozen):
    """What the store knows about an incident; every field is optional."""

    examples: tuple[Example, ...] = ()
    """Failing items (redacted on creation), most relevant first."""
    failing_total: int | None = None
    """How many items failed in all (``examples`` may hold only some)."""
    counts: tuple[SubjectCount, ...] = ()
    fingerprint_changed_at: datetime | None = None
    fingerprint_changed: int | None = None
    """k: probes whose temperature-0 output changed."""
    fingerprint_probes: int | None = None
    """n: probes compared."""
    config_changes: tuple[ConfigChange, ...] = ()
    config_hashes: tuple[str, ...] = ()
    """Distinct config hashes seen across the incident's runs (one hash: config unchanged)."""
    models_returned_before: tuple[str, ...] = ()
    """Model names the provider returned before the change."""
    models_returned_after: tuple[str, ...] = ()
    model_key: str | None = None
    """The ``[models.<key>]`` of the affected model (default: the incident's model)."""
    pinned_model: str | None = None
    """The model id configured now."""
    last_good_model: str | None = None
    """The model id to pin back to, when known."""
    config_file: str = "canaryflow.toml"
    chart_path: str | None = None
    chart_unit: str | None = None
    """What the chart's y axis measures (``pass rate``, ``ms, p95``)."""
    golden_set: str | None = None
    """The golden set the learn step adds the failing cases to."""
    baseline_n: int | None = None
    features: tuple[str, ...] = ()
    """Production features affected (production incidents)."""
    endpoint: str | None = None
    """The provider endpoint (base URL or provider name) of a reliability incident."""
    error_examples: tuple[str, ...] = ()
    """Error messages the provider returned (redacted)."""
    new_system_fingerprints: tuple[str, ...] = ()
    """``system_fingerprint`` values not seen in the baseline."""
    new_model_names: tuple[str, ...] = ()
    """Returned model names not seen in the baseline."""


_TEXT_FIELDS = ("item_id", "subject", "input", "expected", "output", "reason", "before")


def group_examples(rows: Sequence[Any]) -> tuple[Example, ...]:
    """One example per item from Example objects or per-attempt dicts, in first-seen order.

    A probe sent n times that fails k of them is one example with ``failed = k`` and
    ``attempts = n`` (dicts: ``repetitions``, else the attempts seen), not k copies of the same
    input. Dicts may name the subject ``family`` and the item ``probe`` or ``id``.
    """
    out: dict[str, Example] = {}
    seen: dict[str, int] = {}
    for row in rows:
        if isinstance(row, Example):
            out.setdefault(row.item_id, row)
            continue
        if not isinstance(row, Mapping):
            continue
        fields = {k: str(row[k]) for k in _TEXT_FIELDS if row.get(k) is not None}
        if "subject" not in fields and row.get("family"):
            fields["subject"] = str(row["family"])
        if "item_id" not in fields:
            fields["item_id"] = str(row.get("probe") or row.get("id") or "?")
        if "output" not in fields and row.get("after") is not None:
            fields["output"] = str(row["after"])  # a fingerprint change: before -> after
        item = fields["item_id"]
        seen[item] = seen.get(item, 0) + 1
        counted = "attempt" in row or row.get("failed") is not None
        failed = int(row["failed"]) if row.get("failed") is not None else seen[item]
        total = row.get("attempts") if "attempt" not in row else None
        total = total if total is not None else row.get("repetitions")
        ex = out.get(item) or Example.model_validate(fields)
        if counted:
            n = int(total) if total is not None else None
            ex = ex.model_copy(update={"failed": failed, "attempts": max(n or 0, failed)})
        out[item] = ex
    return tuple(out.values())


def _counts_from(rows: Sequence[Any]) -> tuple[SubjectCount, ...]:
    out = []
    for row in rows:
        if isinstance(row, SubjectCount):
            out.append(row)
            continue
        if isinstance(row, Mapping) and "total" in row and "failed" in row:
            out.append(SubjectCount.model_validate(row))  # a stored SubjectCount
            continue
        if not isinstance(row, Mapping) or not row.get("n"):
            continue
        n = int(row["n"])
        if row.get("failed") is not None:
            failed = int(row["failed"])
        elif row.get("rate") is not None:
            failed = round((1 - float(row["rate"])) * n)
        else:
            continue
        subject = str(row.get("subject") or row.get("family") or "?")
        base = row.get("baseline_rate")
        out.append(
            SubjectCount(subject=subject, failed=failed, total=n,
                         baseline_rate=None if base is None else float(base))
        )  # fmt: skip
    return tuple(out)


def runbook_context(value: RunbookContext | Mapping[str, Any] | None) -> RunbookContext:
    """A :class:`RunbookContext` from itself, None, or a loose mapping of what is known.

    Mappings may use the field names or these aliases: ``config_path`` (config_file),
    ``failing_examples`` (examples; per-attempt dicts with ``family`` for the subject, grouped
    per item by :func:`group_examples`), ``families`` (counts from ``{family, rate,
    baseline_rate, n}``), ``new_model_names`` (also models_returned_after),
    ``changed_examples`` (fingerprint ``{probe, before, after}``, shown when no item failed),
    ``fingerprint_changed_probes`` (their number is k), ``fingerprint`` (a sentence
    "k of n probes changed ..."), ``as_of`` (when the fingerprint changed). ``endpoint`` and
    ``error_examples`` are redacted. Unknown keys are ignored, so callers can pass more than
    the runbook uses (an alert's whole ``evidence``, say).
    """
    if value is None:
        return RunbookContext()
    if isinstance(value, RunbookContext):
        return value
    data = dict(value)
    fields: dict[str, Any] = {
        k: data[k] for k in RunbookContext.model_fields if data.get(k) is not None
    }
    if "config_file" not in fields and data.get("config_path"):
        fields["config_file"] = str(data["config_path"])
    raw_examples = data.get("examples") or data.get("failing_examples") or ()
    fields["examples"] = group_examples(raw_examples)
    if "failing_total" not in fields and data.get("failing_examples") is not None:
        fields["failing_total"] = len(data["failing_examples"])
    fields["counts"] = _counts_from(data.get("counts") or data.get("families") or ())
    if "models_returned_after" not in fields and data.get("new_model_names"):
        fields["models_returned_after"] = tuple(data["new_model_names"])
    if not fields["examples"] and data.get("changed_examples"):
        fields["examples"] = tuple(
            ex.model_copy(update={"subject": ex.subject or "fingerprint",
                                  "reason": ex.reason or "output left the baseline's modal output"})
            for ex in group_examples(data["changed_examples"])
        )  # fmt: skip
    if "error_examples" in fields:
        fields["error_examples"] = tuple(redact(str(e)) for e in fields["error_examples"])
    if "endpoint" in fields:
        fields["endpoint"] = redact(str(fields["endpoint"]))
    sentence = data.get("fingerprint")
    m = re.search(r"(\d+) of (\d+) probes", sentence) if isinstance(sentence, str) else None
    changed = data.get("fingerprint_changed_probes")
    if "fingerprint_changed" not in fields:
        if changed:
            fields["fingerprint_changed"] = len(changed)
        elif m:
            fields["fingerprint_changed"] = int(m.group(1))
    if "fingerprint_probes" not in fields and m:
        fields["fingerprint_probes"] = int(m.group(2))
    if "fingerprint_changed_at" not in fields and (m or changed) and data.get("as_of"):
        fields["fingerprint_changed_at"] = data["as_of"]
    for key in ("config_hashes", "models_returned_before", "models_returned_after", "features",
                "new_system_fingerprints", "new_model_names"):  # fmt: skip
        if key in fields:
            fields[key] = tuple(str(v) for v in fields[key])
    return RunbookContext.model_validate(fields)


MAX_KEPT_EXAMPLES = 50
"""Examples kept in an incident's stored evidence across re-alerts (newest first)."""


def merge_context(
    older: RunbookContext | Mapping[str, Any] | None,
    newer: RunbookContext | Mapping[str, Any] | None,
) -> RunbookContext:
    """``older`` updated with what ``newer`` knows; nothing ``older`` knew is dropped.

    A fact ``newer`` leaves unset or empty keeps its older value, so an acknowledgement
    (which knows nothing new) re-renders the evidence the incident was filed with, and a
    re-alert refreshes counts and charts while its failing items join the earlier ones.
    """
    old, new = runbook_context(older), runbook_context(newer)
    update: dict[str, Any] = {}
    for name in new.model_fields_set:
        value = getattr(new, name)
        if value is None or value == () or value == "":
            continue
        if name == "config_file" and value == RunbookContext().config_file:
            continue
        update[name] = value
    if new.examples and old.examples:
        mine = {e.item_id for e in new.examples}
        kept = new.examples + tuple(e for e in old.examples if e.item_id not in mine)
        update["examples"] = kept[:MAX_KEPT_EXAMPLES]
    return old.model_copy(update=update)


def context_from_alerts(alerts: Sequence[Alert]) -> RunbookContext:
    """The runbook facts carried by the alerts' own evidence (newest alert wins)."""
    data: dict[str, Any] = {}
    failing: list[Any] = []
    for a in alerts:
        ev = a.evidence or {}
        for key in ("endpoint", "error_examples", "new_model_names", "new_system_fingerprints",
                    "changed_examples"):  # fmt: skip
            if ev.get(key):
                data[key] = ev[key]
        if isinstance(ev.get("failing_examples"), list) and ev["failing_examples"]:
            failing = list(ev["failing_examples"])  # the newest run's; counts are per run
    if failing:
        data["failing_examples"] = failing
    try:
        return runbook_context(data)
    except ValueError:  # evidence from an older or foreign flow: the alerts table still has it
        return RunbookContext()


class RunbookStep(NamedTuple):
    """One step as rendered: name, time box, lines."""

    name: StepName
    goal: str
    lines: tuple[str, ...]


class Runbook(_Frozen):
    """The filled runbook of one incident."""

    version: int = 1
    incident_id: str
    severity: Severity
    metric_class: MetricClass
    headline: str
    triage: tuple[str, ...]
    scope: tuple[str, ...]
    isolate: tuple[str, ...]
    respond: tuple[str, ...]
    learn: tuple[str, ...]
    flagged: tuple[Example, ...] = ()
    """The (at most 20) samples triage reviews, redacted."""
    config_lines: str | None = None
    """The exact ``canaryflow.toml`` lines that pin the last good model, if one is known."""
    learn_command: str | None = None
    """The command that adds the failing cases to a golden set (None: it is done by hand)."""
    chart_path: str | None = None
    timeboxes: dict[str, str] = Field(default_factory=dict)

    def steps(self) -> list[RunbookStep]:
        """The five steps in order."""
        names: tuple[StepName, ...] = ("triage", "scope", "isolate", "respond", "learn")
        return [RunbookStep(n, self.timeboxes.get(n, ""), getattr(self, n)) for n in names]


# --- wording ---------------------------------------------------------------------------------

_URGENT = {"safety", "correctness", "quality"}

_TIMEBOXES: dict[Severity, dict[str, str]] = {
    "critical": {"triage": "now, under 15 minutes", "scope": "under 30 minutes",
                 "isolate": "under 1 hour", "respond": "as soon as the cause is known",
                 "learn": "before closing"},
    "high": {"triage": "under 30 minutes", "scope": "under 1 hour", "isolate": "under 2 hours",
             "respond": "same day", "learn": "before closing"},
    "medium": {"triage": "under 30 minutes", "scope": "under 1 hour",
               "isolate": "under 2 hours", "respond": "within 1 business day",
               "learn": "before closing"},
    "low": {"triage": "within 1 business day", "scope": "when triaged", "isolate": "when triaged",
            "respond": "planned work", "learn": "before closing"},
}  # fmt: skip

_HEADLINES: dict[str, str] = {
    "safety": "CRITICAL safety regression: harmful requests may now be answered or benign ones "
    "refused. Treat as a production incident.",
    "correctness": "Correctness regression: answers that used to be right are now wrong.",
    "quality": "Quality regression: judged quality dropped against the baseline.",
    "fingerprint": "Behaviour change: the model's outputs changed although its id did not; "
    "checks may still pass.",
    "drift": "Distribution drift: inputs or outputs no longer look like the baseline.",
    "reliability": "Reliability regression: error, timeout or refusal rates rose.",
    "latency": "Latency regression (not a correctness problem): responses got slower.",
    "cost": "Cost regression (not a correctness problem): spend per request rose.",
}


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.2f}" if 0.0 <= v <= 1.0 else f"{v:.4g}"


def _dt(v: datetime | None) -> str:
    if v is None:
        return "unknown"
    if v.utcoffset() is not None:
        v = v.astimezone(UTC)
        return v.strftime("%Y-%m-%d %H:%M UTC")
    return v.strftime("%Y-%m-%d %H:%M")


def _p(v: float | None) -> str:
    if v is None:
        return ""
    return f", p = {v:.1e}" if v < 1e-4 else f", p = {v:.4f}"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def pin_config_lines(model_key: str, model_id: str) -> str:
    """The ``canaryflow.toml`` lines that pin ``[models.<model_key>]`` to ``model_id``."""
    return f"[models.{_toml_key(model_key)}]\nmodel = {json.dumps(model_id)}"


def _alert_line(a: Alert) -> str:
    parts = [
        f"{a.subject} {a.metric} {_fmt(a.baseline_value)} -> {_fmt(a.current_value)}",
        f"({a.test}{_p(a.p_value)}",
    ]
    if a.statistic is not None:
        parts[-1] += f", statistic {a.statistic:.4g}"
    if a.limit is not None:
        parts[-1] += f", limit {a.limit:.4g}"
    if a.baseline_n is not None:
        parts[-1] += f", baseline m = {a.baseline_n}"
    parts[-1] += ")"
    if a.first_window is not None:
        parts.append(f"first out of control {_dt(a.first_window)}")
    return " ".join(parts)


def _pin_target(ctx: RunbookContext) -> tuple[str | None, str]:
    """(model id to pin, why) from what is known."""
    if ctx.last_good_model and ctx.last_good_model != ctx.pinned_model:
        return ctx.last_good_model, "the last model version with a good baseline"
    before = [m for m in ctx.models_returned_before if m]
    after = set(ctx.models_returned_after)
    if before and before[-1] not in after and before[-1] != ctx.pinned_model:
        return before[-1], "the model name the provider returned before the change"
    return None, ""


# --- the steps -------------------------------------------------------------------------------


def _triage(inc: Incident, alerts: Sequence[Alert], ctx: RunbookContext,
            flagged: Sequence[Example], chart: str | None) -> list[str]:  # fmt: skip
    lines: list[str] = []
    total = ctx.failing_total if ctx.failing_total is not None else len(ctx.examples)
    if flagged:
        per_probe = all(e.failed is not None for e in flagged)
        of = f"{total} failed attempts in all" if per_probe else f"of {total} failing"
        lines.append(
            f"Real regression or false positive? Review the {len(flagged)} flagged "
            f"sample{'' if len(flagged) == 1 else 's'} "
            f"({of}, redacted; full list in the JSON):"
        )
        for e in flagged:
            detail = e.reason or (
                f"expected {e.expected!r}, got {e.output!r}" if e.expected else ""
            )
            about = [e.subject] if e.subject else []
            if e.failed is not None and e.attempts:
                about.append(f"{e.failed} of {e.attempts} repetitions failed")
            lines.append(f"{e.item_id}" + (f" ({', '.join(about)})" if about else "")
                         + (f": {detail}" if detail else ""))  # fmt: skip
    elif ctx.error_examples:
        lines.append(
            "No item could be evaluated: the calls failed. Is the provider down for everyone "
            "or only for this endpoint and key?"
        )
    else:
        lines.append(
            "No failing item was recorded for this alert (a metric-level change): review the "
            "chart and the latest run report to decide whether it is real."
        )
    if ctx.endpoint or ctx.error_examples:
        lines.append(f"Provider endpoint: {ctx.endpoint or 'unknown'}")
        for err in ctx.error_examples[:5]:
            lines.append(f"Error returned: {err}")
    for a in alerts:
        lines.append("Evidence: " + _alert_line(a))
    m = (
        ctx.baseline_n
        if ctx.baseline_n is not None
        else next((a.baseline_n for a in alerts if a.baseline_n is not None), None)
    )
    if m is not None and m < 300:
        lines.append(
            f"Baseline size m = {m} (< 300): limits estimated from a short baseline give more "
            "false alarms than nominal; weigh the samples above before escalating."
        )
    if chart:
        lines.append(f"Chart: {chart}")
    if inc.metric_class == "safety":
        lines.append("Safety: if any sample shows harmful content answered, escalate immediately.")
    if inc.state == "open":
        lines.append(
            f"Taking it? canaryflow incidents ack {inc.incident_id} --note 'who is on it' "
            "(the note goes into the history)."
        )
    return lines


def _scope(inc: Incident, ctx: RunbookContext) -> list[str]:
    lines: list[str] = []
    hit = sorted(
        (c for c in ctx.counts if c.failed > 0),
        key=lambda c: (-(c.failed / c.total if c.total else 0), c.subject),
    )
    clean = sorted(c.subject for c in ctx.counts if c.failed == 0)
    for c in hit:
        before = ""
        if c.baseline_failed is not None and c.baseline_total:
            before = f" vs {c.baseline_failed}/{c.baseline_total} in the baseline"
        elif c.baseline_rate is not None:
            before = f" vs baseline pass rate {_fmt(c.baseline_rate)}"
        lines.append(f"{c.subject} ({c.kind}): {c.failed}/{c.total} failed now{before}")
    if clean:
        shown = ", ".join(clean[:15]) + (f" and {len(clean) - 15} more" if len(clean) > 15 else "")
        lines.append(f"Unaffected ({len(clean)}): {shown}")
    if hit and clean:
        lines.append(
            f"Scoped to {len(hit)} of {len(hit) + len(clean)} subjects: "
            "a prompt hotfix for the affected ones is an option."
        )
    elif hit and not clean and len(hit) > 1:
        lines.append("Every subject counted is affected: suspect the model or a shared prompt.")
    if ctx.features:
        lines.append("Production features affected: " + ", ".join(ctx.features))
    if inc.run_ids:
        lines.append(
            f"Runs in this incident: {len(inc.run_ids)} (first {inc.run_ids[0]}, "
            f"last {inc.run_ids[-1]}); opened {_dt(inc.opened_at)}, updated {_dt(inc.updated_at)}"
        )
    if not lines:
        lines.append(f"Only {inc.subject} was measured; no per-subject counts were recorded.")
    return lines


def _isolate(inc: Incident, alerts: Sequence[Alert], ctx: RunbookContext) -> list[str]:
    lines: list[str] = []
    firsts = [a.first_window for a in alerts if a.first_window is not None]
    if firsts:
        lines.append(f"Degradation started in the window of {_dt(min(firsts))}.")
    if ctx.fingerprint_changed is not None and ctx.fingerprint_probes:
        lines.append(
            f"Behaviour fingerprint: {ctx.fingerprint_changed} of {ctx.fingerprint_probes} probes "
            f"changed output at {_dt(ctx.fingerprint_changed_at)} (temperature 0)."
        )
    elif ctx.fingerprint_changed_at is not None:
        lines.append(f"Behaviour fingerprint changed at {_dt(ctx.fingerprint_changed_at)}.")
    if ctx.new_system_fingerprints:
        lines.append(
            "New system_fingerprint(s) returned by the provider: "
            + ", ".join(ctx.new_system_fingerprints[:10])
            + " (the serving configuration changed)."
        )
    before, after = ctx.models_returned_before, ctx.models_returned_after
    changed = bool(before and after and set(before) != set(after))
    if ctx.new_model_names and not changed:
        lines.append(
            "New returned model name(s), not seen in the baseline: "
            + ", ".join(ctx.new_model_names[:10])
            + "."
        )
    if changed:
        lines.append(
            f"Provider returned model name changed: {', '.join(before)} -> {', '.join(after)}."
        )
    elif (before or after) and not ctx.new_model_names:
        names = ", ".join(sorted(set(before) | set(after)))
        lines.append(
            f"Provider returned model name unchanged ({names}): a silent update under the same "
            "name is still possible; the fingerprint is the evidence."
        )
    if ctx.pinned_model:
        lines.append(f"Pinned model id in {ctx.config_file}: {ctx.pinned_model}")
    if ctx.config_changes:
        for ch in ctx.config_changes:
            where = f" at {_dt(ch.at)}" if ch.at else ""
            run = f" (run {ch.run_id})" if ch.run_id else ""
            lines.append(f"{ch.what} changed {ch.before} -> {ch.after}{where}{run}.")
        lines.append(
            "Review the change: git log -p -- canaryflow.toml probes/ golden_sets/ and the "
            "prompt templates."
        )
    elif len(set(ctx.config_hashes)) == 1:
        lines.append(
            f"Config hash unchanged across the affected runs ({ctx.config_hashes[0]}): "
            "prompts, probes and golden sets did not change; suspect the model or provider."
        )
    elif not ctx.config_hashes:
        lines.append("Config hash history unknown for these runs.")
    if inc.metric_class == "drift":
        lines.append("Compare the input and output distributions separately: drift in inputs "
                     "means users changed, in outputs that the model did.")  # fmt: skip
    if ctx.endpoint or ctx.error_examples:
        errors = "; ".join(ctx.error_examples[:3]) or "no error text recorded"
        lines.append(
            f"Calls to {ctx.endpoint or 'the provider (endpoint unknown)'} failed with: {errors}. "
            "Check that the URL is reachable from the worker, the key is valid and the "
            "provider's status page."
        )
    if inc.metric_class in {"latency", "reliability"}:
        lines.append("Check the provider status page and the error kinds (rate limit, server, "
                     "timeout) in the run report before blaming the model.")  # fmt: skip
    return lines


def _respond(
    inc: Incident, ctx: RunbookContext, key: str, config_lines: str | None, why: str
) -> list[str]:
    lines: list[str] = []
    if inc.metric_class == "safety":
        lines.append(
            "Until resolved: route the affected feature to human review or disable it; "
            "do not wait for the root cause."
        )
    if config_lines:
        lines.append(
            f"Model changed: pin [models.{key}] in {ctx.config_file} to {why} "
            "(lines below), rerun the canary and confirm the alert clears."
        )
    elif ctx.config_changes:
        last = ctx.config_changes[-1]
        lines.append(
            f"Prompt/config changed ({last.what} {last.before} -> {last.after}): revert it to the "
            "last known good version, or hotfix the prompt if only one category is affected."
        )
    else:
        lines.append(
            f"No earlier model version is known for [models.{key}] and the config did not "
            "change: ask the provider, raise sampling for this subject and route flagged items "
            "to human review."
        )
    if inc.metric_class in {"latency", "cost"}:
        lines.append(
            "Not a correctness issue: compare against budgets; check output tokens per request "
            "(verbosity drift) and max_tokens before changing models."
        )
    if inc.state == "resolved":
        lines.append(f"Closed as {inc.resolution}; see the history below.")
    else:
        lines.append(
            "Close as fixed, accepted change (promotes a new baseline) or false alarm: "
            f"canaryflow incidents resolve {inc.incident_id} --as fixed --note "
            "'root cause and fix' (or --as accepted_change, --as false_alarm); data from this "
            "open incident never enters a baseline."
        )
    return lines


def _learn(inc: Incident, ctx: RunbookContext, command: str | None, n_flagged: int) -> list[str]:
    target = ctx.golden_set or _default_set(inc)
    if command:
        lines = [f"Add the failing cases to golden set {target} before closing: {command}"]
    else:
        lines = [
            f"Add the failing cases to golden set {target} by hand before closing: one line "
            f'per case in golden_sets/{target}.jsonl, {{"id", "inputs", "expected", '
            '"category"}, with the input and expected value of each flagged sample (the '
            "JSON report has them all)."
        ]
    if n_flagged:
        lines.append(f"{n_flagged} flagged items above become golden items with their expected "
                     "outputs; check each expected value by hand.")  # fmt: skip
    lines.append("Record the root cause in the resolution note.")
    if inc.metric_class in _URGENT:
        lines.append(f"Add a canary probe for this failure mode (family {inc.subject}) so it is "
                     "caught hourly, not daily.")  # fmt: skip
    else:
        lines.append("Review the alert parameters for this metric if the alert was a false alarm.")
    return lines


def cli_command(*words: str) -> Any:
    """The ``canaryflow`` click command named by ``words``, or None if the CLI has none.

    Looked up in the installed command line at render time, so a runbook cites a command
    only when the running version has it.
    """
    try:
        import typer.main

        from canaryflow.cli import app
    except ImportError:  # pragma: no cover - the CLI is part of the package
        return None
    cmd: Any = typer.main.get_command(app)
    for word in words:
        # Groups have a ``commands`` mapping (typer may vendor its own click: no isinstance).
        sub = getattr(cmd, "commands", None)
        if not isinstance(sub, Mapping) or word not in sub:
            return None
        cmd = sub[word]
    return cmd


def _learn_command(incident: Incident, target: str) -> str | None:
    cmd = cli_command("golden", "add-from-incident")
    if cmd is None:
        return None
    options = {o for p in cmd.params for o in getattr(p, "opts", ())}
    tail = f" --set {target}" if "--set" in options else ""
    return f"canaryflow golden add-from-incident {incident.incident_id}{tail}"


def _default_set(inc: Incident) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", f"{inc.subject}-regressions".lower()).strip("-")


def build_runbook(
    incident: Incident,
    alerts: Sequence[Alert],
    context: RunbookContext | Mapping[str, Any] | None = None,
) -> Runbook:
    """Fill the five-step runbook for ``incident`` from its alerts and what the store knows.

    Args:
        incident: The incident (its severity and metric class decide the wording).
        alerts: The alerts to cite (usually ``incident.alerts``).
        context: Facts from the store (a RunbookContext or a mapping, see
            :func:`runbook_context`), laid over the evidence the incident was filed with
            (``incident.evidence``) and the alerts' own evidence; missing facts are reported
            as unknown.
    """
    alerts = list(alerts) or list(incident.alerts)
    ctx = merge_context(
        merge_context(context_from_alerts([*incident.alerts, *alerts]), incident.evidence),
        context,
    )
    flagged = tuple(ctx.examples[:MAX_FLAGGED])
    key = ctx.model_key or incident.model
    target, why = _pin_target(ctx)
    config_lines = pin_config_lines(key, target) if target else None
    chart = ctx.chart_path or next(
        (str(a.evidence["chart"]) for a in alerts if isinstance(a.evidence.get("chart"), str)),
        None,
    )
    command = _learn_command(incident, ctx.golden_set or _default_set(incident))
    headline = (
        f"{_HEADLINES[incident.metric_class]} {incident.subject} on {incident.model} "
        f"({incident.flow}), severity {incident.severity}."
    )
    return Runbook(
        incident_id=incident.incident_id,
        severity=incident.severity,
        metric_class=incident.metric_class,
        headline=headline,
        triage=tuple(_triage(incident, alerts, ctx, flagged, chart)),
        scope=tuple(_scope(incident, ctx)),
        isolate=tuple(_isolate(incident, alerts, ctx)),
        respond=tuple(_respond(incident, ctx, key, config_lines, why)),
        learn=tuple(_learn(incident, ctx, command, len(flagged))),
        flagged=flagged,
        config_lines=config_lines,
        learn_command=command,
        chart_path=chart,
        timeboxes=_TIMEBOXES[incident.severity],
    )


# --- rendering -------------------------------------------------------------------------------


class IncidentDocument(_Frozen):
    """The JSON twin of an incident report."""

    version: int = 1
    incident: Incident
    alerts: tuple[Alert, ...]
    runbook: Runbook
    charts: tuple[Chart, ...] = ()


class RenderedIncident(NamedTuple):
    """An incident report in both forms."""

    markdown: str
    json: str


def _redacted_alerts(alerts: Sequence[Alert]) -> tuple[Alert, ...]:
    return tuple(
        a.model_copy(update={"evidence": redact_value(a.evidence), "message": redact(a.message)})
        for a in alerts
    )


def render_incident(
    incident: Incident,
    alerts: Sequence[Alert],
    runbook: Runbook,
    charts: Sequence[Chart | str] = (),
    *,
    budget: int = DEFAULT_BUDGET,
) -> RenderedIncident:
    """Render the incident report: Markdown (fits ``budget``) and its JSON twin.

    Args:
        incident: The incident.
        alerts: Its alerts (evidence is redacted here).
        runbook: From :func:`build_runbook`.
        charts: Charts (or plain paths), linked by the path as given; pass paths relative to
            where the Markdown will be written.
        budget: Markdown size budget in characters (GitHub issues hold 65,536).
    """
    chart_models = tuple(
        c if isinstance(c, Chart) else Chart(title="chart", path=str(c), unit="see chart")
        for c in charts
    )
    safe_alerts = _redacted_alerts(alerts or incident.alerts)
    safe_incident = incident.model_copy(
        update={
            "alerts": _redacted_alerts(incident.alerts),
            "evidence": redact_value(incident.evidence),
            "history": tuple(
                h.model_copy(update={"note": redact(h.note)}) for h in incident.history
            ),
            "resolution_note": redact(incident.resolution_note),
        }
    )
    doc = IncidentDocument(
        incident=safe_incident,
        alerts=safe_alerts,
        runbook=runbook,
        charts=chart_models,
    )
    context: dict[str, Any] = {
        "inc": safe_incident,
        "alerts": safe_alerts,
        "rb": runbook,
        "charts": [{"chart": c, "path": c.path} for c in chart_models],
    }
    md = ""
    for shown in sorted({len(runbook.flagged), 10, 5, 0}, reverse=True):
        if shown > len(runbook.flagged):
            continue
        md = render_template(
            "incident.md.j2",
            flagged=runbook.flagged[:shown],
            flagged_hidden=len(runbook.flagged) - shown,
            **context,
        )
        if len(md) <= budget:
            break
    if len(md) > budget:
        note = "\n\n*Report truncated to fit; the full incident is in the JSON.*\n"
        md = md[: budget - len(note)].rsplit("\n<details", 1)[0] + note
    return RenderedIncident(md, doc.model_dump_json(indent=2) + "\n")
