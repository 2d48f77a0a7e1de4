"""Alerts become incidents: lifecycle (dedupe, ack, resolve), runbooks filled with facts, sinks.

An alert is keyed by (flow, model, subject, metric class); the first opens an incident, later
ones update it while it is open. Every incident is persisted before any sink is called, and a
sink failure is retried and recorded, never losing the incident.
"""

from canaryflow.incidents._manager import IncidentChange, IncidentManager, incident_id_for
from canaryflow.incidents._runbook import (
    ConfigChange,
    Runbook,
    RunbookContext,
    RunbookStep,
    SubjectCount,
    build_runbook,
    pin_config_lines,
    render_incident,
)
from canaryflow.incidents._sinks import (
    FileSink,
    GitHubIssueSink,
    Sink,
    SinkError,
    WebhookSink,
)

__all__ = [
    "ConfigChange",
    "FileSink",
    "GitHubIssueSink",
    "IncidentChange",
    "IncidentManager",
    "Runbook",
    "RunbookContext",
    "RunbookStep",
    "Sink",
    "SinkError",
    "SubjectCount",
    "WebhookSink",
    "build_runbook",
    "incident_id_for",
    "pin_config_lines",
    "render_incident",
]
