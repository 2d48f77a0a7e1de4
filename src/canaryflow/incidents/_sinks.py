"""Where incidents go: files (always), a Slack-compatible webhook, GitHub issues.

A sink publishes the current state of an incident; publishing again after an update replaces
what it published before (files are overwritten, the GitHub issue is edited), so a retry or a
rerun never duplicates. Sinks raise :class:`SinkError` on failure (after their own retries on
transient HTTP errors); the incident manager records the failure and keeps the incident. Error
messages never contain tokens or webhook URLs (a Slack webhook URL is itself a secret).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from canaryflow.errors import CanaryflowError
from canaryflow.incidents._runbook import (
    RenderedIncident,
    Runbook,
    RunbookContext,
    build_runbook,
    merge_context,
    render_incident,
    runbook_context,
)
from canaryflow.records import Alert, Incident
from canaryflow.redact import redact
from canaryflow.reports._model import Chart

__all__ = [
    "ContextProvider",
    "FileSink",
    "GitHubIssueSink",
    "Sink",
    "SinkError",
    "WebhookSink",
    "incident_filename",
]

ContextProvider = Callable[..., RunbookContext | Mapping[str, Any] | None]
"""Looks up what the store knows about an incident (failing examples, counts, config history).

Called as ``provider(incident, alerts)``, or ``provider(incident)`` when it takes one argument;
returns a RunbookContext or a mapping (see :func:`runbook_context`) or None.
"""


def _context_for(
    provider: ContextProvider | None, incident: Incident, alerts: Sequence[Alert]
) -> RunbookContext:
    if provider is None:
        return RunbookContext()
    try:
        params = inspect.signature(provider).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: use the full form
        params = None
    positional = (
        None
        if params is None
        else [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    )
    varargs = params is not None and any(p.kind == p.VAR_POSITIONAL for p in params)
    if positional is not None and len(positional) < 2 and not varargs:
        return runbook_context(provider(incident))
    return runbook_context(provider(incident, alerts))


class SinkError(CanaryflowError):
    """A sink could not publish an incident (the incident itself is not lost)."""


@runtime_checkable
class Sink(Protocol):
    """Publishes incidents somewhere; returns where (a path or URL) or None."""

    name: str

    def publish(self, incident: Incident, alerts: Sequence[Alert]) -> str | None:
        """Publish (or update) ``incident``; idempotent for the same incident state."""
        ...


def incident_filename(incident_id: str) -> str:
    """``incident_id`` as a file stem: ``[A-Za-z0-9._-]`` only, no leading dots."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", incident_id).strip(".-")
    if not stem:
        raise SinkError(f"incident id {incident_id!r} has no usable characters for a file name")
    return stem[:150]


def _render(
    incident: Incident,
    alerts: Sequence[Alert],
    context_provider: ContextProvider | None,
    chart_base: Path | None = None,
) -> tuple[RenderedIncident, Runbook]:
    # The evidence stored with the incident first, then what the caller knows now: an ack
    # or resolve (which knows nothing new) re-renders the evidence the incident was filed with.
    ctx = merge_context(incident.evidence, _context_for(context_provider, incident, alerts))
    path = ctx.chart_path
    if path and chart_base is not None and not path.startswith(("http://", "https://")):
        # Link the chart relative to the report so the Markdown works wherever it is opened.
        try:
            path = os.path.relpath(Path(path).resolve(), chart_base.resolve())
        except ValueError:  # pragma: no cover - another drive on Windows
            pass
        ctx = ctx.model_copy(update={"chart_path": path})
    runbook = build_runbook(incident, alerts, ctx)
    charts: list[Chart] = []
    if runbook.chart_path:
        title = f"{incident.subject} control chart"
        unit = ctx.chart_unit or "unit on the y axis"
        charts.append(Chart(title=title, path=runbook.chart_path, unit=unit))
    return render_incident(incident, alerts, runbook, charts), runbook


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class FileSink:
    """Writes ``<dir>/<incident_id>.md`` and ``.json``; always on; overwrites on update."""

    name = "file"

    def __init__(
        self, dir: str | Path = "reports/incidents", context_provider: ContextProvider | None = None
    ) -> None:
        self.dir = Path(dir)
        self.context_provider = context_provider

    def publish(self, incident: Incident, alerts: Sequence[Alert]) -> str | None:
        """Write the Markdown and JSON report; returns the Markdown path."""
        stem = incident_filename(incident.incident_id)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            rendered, _ = _render(incident, alerts, self.context_provider, self.dir)
            _atomic_write(self.dir / f"{stem}.json", rendered.json)
            md_path = self.dir / f"{stem}.md"
            _atomic_write(md_path, rendered.markdown)
        except OSError as exc:
            msg = f"file sink: cannot write {stem!r} under {str(self.dir)!r}: {exc}"
            raise SinkError(msg) from exc
        return str(md_path)


# --- HTTP ------------------------------------------------------------------------------------

_TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


def _where(url: str) -> str:
    """Scheme and host only: paths and queries of webhook URLs carry secrets."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


def _http(
    method: str,
    url: str,
    *,
    body: Any | None,
    headers: Mapping[str, str],
    timeout: float,
    retries: int,
    what: str,
    secrets: Sequence[str] = (),
) -> tuple[int, Any]:
    """Send JSON, return (status, parsed JSON or None); retry transient failures.

    Raises SinkError with a message free of ``secrets`` and of the URL's path and query.
    """
    data = None if body is None else json.dumps(body).encode("utf-8")
    hdrs = {"Content-Type": "application/json", "User-Agent": "canaryflow", **headers}
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(2.0, 0.25 * 2 ** (attempt - 1)))
        req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                payload = json.loads(exc.read() or b"null")
                if isinstance(payload, dict) and isinstance(payload.get("message"), str):
                    detail = f": {payload['message'][:200]}"
            except (ValueError, OSError):
                pass
            last = f"HTTP {exc.code}{detail}"
            if exc.code not in _TRANSIENT:
                break
            continue
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = f"{type(exc).__name__}: {reason}"
            continue
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError:
            parsed = None
        return status, parsed
    message = f"{what}: {method} {_where(url)} failed after {attempt + 1} attempt(s): {last}"
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[SECRET]")
    raise SinkError(redact(message))


def _slack_escape(text: str, max_len: int = 2900) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= max_len else text[:max_len] + "… [truncated]"


class WebhookSink:
    """POSTs a Slack-compatible message ``{"text": ..., "blocks": [...]}`` to a webhook URL."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        context_provider: ContextProvider | None = None,
        report_url: str | None = None,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise SinkError(f"webhook sink: the URL must be http(s), got {_where(url)!r}")
        self._url = url
        self.timeout = timeout
        self.retries = retries
        self.context_provider = context_provider
        self.report_url = report_url

    def __repr__(self) -> str:
        return f"WebhookSink({_where(self._url)!r})"

    def message(self, incident: Incident, alerts: Sequence[Alert]) -> dict[str, Any]:
        """The JSON payload (Slack Block Kit; other chat tools read ``text``)."""
        rb = build_runbook(incident, alerts, _context_for(self.context_provider, incident, alerts))
        text = (
            f"[{incident.severity.upper()}] canaryflow {incident.incident_id} "
            f"({incident.state}): {incident.title}"
        )
        alert_lines = [
            f"• {a.subject} {a.metric}: {_num(a.baseline_value)} → {_num(a.current_value)} "
            f"({a.test}{'' if a.p_value is None else f', p = {a.p_value:.2g}'})"
            for a in (alerts or incident.alerts)[:5]
        ]
        triage = [f"• {line}" for line in rb.triage[:6]]
        fields = [
            f"*Model*\n{incident.model}",
            f"*Subject*\n{incident.subject}",
            f"*Class*\n{incident.metric_class}",
            f"*Flow*\n{incident.flow}",
        ]
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": text[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(rb.headline)}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": _slack_escape(f, 200)} for f in fields],
            },
        ]
        if alert_lines:
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": _slack_escape("\n".join(alert_lines))},
                }
            )
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _slack_escape("*Triage*\n" + "\n".join(triage)),
                },
            }
        )
        context = f"Learn: {rb.learn_command or rb.learn[0]}"
        if self.report_url:
            context += f" · Report: {self.report_url}"
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(context)}]}
        )
        return {"text": _slack_escape(text), "blocks": blocks}

    def publish(self, incident: Incident, alerts: Sequence[Alert]) -> str | None:
        """POST the message; returns ``webhook:<host>``."""
        _http(
            "POST",
            self._url,
            body=self.message(incident, alerts),
            headers={},
            timeout=self.timeout,
            retries=self.retries,
            what="webhook sink",
            secrets=(self._url, urlsplit(self._url).path),
        )
        return f"webhook:{urlsplit(self._url).hostname}"


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}" if 0 <= v <= 1 else f"{v:.4g}"


_MARKER = "<!-- canaryflow-incident: {} -->"


class GitHubIssueSink:
    """Creates one GitHub issue per incident and edits it on every update (REST API v3).

    The issue is found again by a hidden marker in its body (``<!-- canaryflow-incident: ID
    -->``) among the issues carrying the sink's first label; a resolved incident closes it.
    """

    name = "github"

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        labels: Sequence[str] = ("canaryflow", "incident"),
        api_url: str = "https://api.github.com",
        timeout: float = 15.0,
        retries: int = 2,
        context_provider: ContextProvider | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise SinkError(f"github sink: repo must be 'owner/name', got {repo!r}")
        if not token:
            raise SinkError("github sink: empty token (set the variable named by token_env)")
        self.repo = repo
        self._token = token
        self.labels = tuple(labels)
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.context_provider = context_provider

    def __repr__(self) -> str:
        return f"GitHubIssueSink({self.repo!r})"

    def _call(self, method: str, path: str, body: Any | None = None) -> Any:
        _, data = _http(
            method,
            f"{self.api_url}{path}",
            body=body,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=self.timeout,
            retries=self.retries,
            what=f"github sink ({self.repo})",
            secrets=(self._token,),
        )
        return data

    def find_issue(self, incident_id: str) -> dict[str, Any] | None:
        """The issue already filed for ``incident_id`` (open or closed), if any."""
        marker = _MARKER.format(incident_filename(incident_id))
        label = self.labels[0] if self.labels else None
        for page in range(1, 11):
            query = f"state=all&per_page=100&page={page}"
            if label:
                query += f"&labels={quote(label)}"
            issues = self._call("GET", f"/repos/{self.repo}/issues?{query}")
            if not isinstance(issues, list) or not issues:
                return None
            for issue in issues:
                if isinstance(issue, dict) and marker in (issue.get("body") or ""):
                    return issue
            if len(issues) < 100:
                return None
        return None

    def publish(self, incident: Incident, alerts: Sequence[Alert]) -> str | None:
        """Create or update the issue; returns its html_url."""
        rendered, _ = _render(incident, alerts, self.context_provider)
        marker = _MARKER.format(incident_filename(incident.incident_id))
        body = f"{rendered.markdown}\n{marker}\n"
        title = f"[{incident.severity}] {incident.incident_id}: {incident.title}"[:250]
        payload: dict[str, Any] = {"title": title, "body": body, "labels": list(self.labels)}
        existing = self.find_issue(incident.incident_id)
        if existing is None:
            issue = self._call("POST", f"/repos/{self.repo}/issues", payload)
        else:
            payload["state"] = "closed" if incident.state == "resolved" else "open"
            issue = self._call("PATCH", f"/repos/{self.repo}/issues/{existing['number']}", payload)
        if isinstance(issue, dict):
            return str(issue.get("html_url") or issue.get("url") or "")
        return None
