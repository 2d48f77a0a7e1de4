"""Definitions users write: probe files now (golden sets will join them), with their loaders.

Every format is a pydantic model with ``extra="forbid"`` and attribute docstrings (the docs of
the published JSON Schema), loaded by a YAML reader that keeps line numbers so a problem is
reported as ``file:line: field: message``, all problems at once.
"""

from canaryflow.definitions._filler import expand_filler, filler_words
from canaryflow.definitions._probe import (
    PROBE_SCHEMA_PATH,
    Probe,
    ProbeFile,
    ProbeMessage,
    ProbeSet,
    ProbeTool,
    load_probes,
    probe_json_schema,
    render_probe_schema,
)
from canaryflow.definitions._yaml import YamlDocument, load_yaml, validation_errors

__all__ = [
    "PROBE_SCHEMA_PATH",
    "Probe",
    "ProbeFile",
    "ProbeMessage",
    "ProbeSet",
    "ProbeTool",
    "YamlDocument",
    "expand_filler",
    "filler_words",
    "load_probes",
    "load_yaml",
    "probe_json_schema",
    "render_probe_schema",
    "validation_errors",
]
