"""The probe format (``probes/*.yaml``) and its loader.

A file holds one probe (a mapping) or several under ``probes:``::

    # yaml-language-server: $schema=../src/canaryflow/schemas/probe.schema.json
    probes:
      - id: dates-eu-01
        description: Invoice date written day first.
        tags: [dates_eu, extraction]
        messages:
          - {role: system, content: "Dates in the documents are written DD/MM/YYYY."}
          - {role: user, content: "Invoice ... Issued 03/04/2024 ... Give the date as YYYY-MM-DD."}
        checks:
          - {type: iso_date, expected: 2024-04-03}

:func:`load_probes` validates every file and collects every problem as a
:class:`~canaryflow.errors.DataError` located at ``file:line: field``; the probes that are valid
are returned alongside, so a run can go ahead with them and report the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from canaryflow.checks import AnyCheck, ToolCallCheck
from canaryflow.definitions._filler import FillerBudget, FillerBudgetExceeded, expand_filler
from canaryflow.definitions._yaml import (
    Located,
    format_path,
    load_yaml,
    read_text_bounded,
    validation_errors,
)
from canaryflow.errors import DataError, DataErrors
from canaryflow.records import CompletionRequest, Message, ToolSpec

__all__ = [
    "PROBE_SCHEMA_PATH",
    "Probe",
    "ProbeFile",
    "ProbeMessage",
    "ProbeSet",
    "ProbeTool",
    "load_probes",
    "probe_json_schema",
    "render_probe_schema",
]

PROBE_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "probe.schema.json"
"""The committed JSON Schema of probe files (kept equal to :func:`probe_json_schema` by a test)."""

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=100)]
"""Probe ids and tags: lower-case letters, digits, ``_``, ``.`` and ``-``."""

_STRICT = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _budget(info: ValidationInfo) -> FillerBudget | None:
    """The per-file filler budget :func:`load_probes` passes in the validation context."""
    context = info.context or {}
    return context.get("filler_budget") if isinstance(context, dict) else None


class ProbeMessage(BaseModel):
    """One message sent to the model."""

    model_config = _STRICT

    role: Literal["system", "user"]
    """Who speaks: ``system`` (instructions) or ``user``."""
    content: str = Field(min_length=1)
    """The text; ``{{filler:N}}`` expands to N words of neutral filler prose."""

    @field_validator("content")
    @classmethod
    def _expand(cls, content: str, info: ValidationInfo) -> str:
        return expand_filler(content, _budget(info))


class ProbeTool(BaseModel):
    """A function the model may call (for tool-call probes)."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
    """The function name the model calls."""
    description: str = ""
    """What the function does (the model reads it)."""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """A JSON Schema of the arguments object."""

    @field_validator("parameters")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        return schema


class Probe(BaseModel):
    """One canary probe: a fixed request sent ``repetitions`` times, and checks on each reply."""

    model_config = _STRICT

    id: Identifier
    """Unique across all probe files; results, baselines and incidents are keyed by it."""
    description: str = Field(min_length=1)
    """What the probe catches, for the people reading a report."""
    tags: tuple[Identifier, ...] = Field(min_length=1)
    """Families; the first is the primary family pass rates are aggregated and compared by."""
    messages: tuple[ProbeMessage, ...] | None = None
    """The conversation (system and user messages, ending with a user message)."""
    prompt: str | None = Field(default=None, validate_default=True)
    """Shorthand for a single user message; give exactly one of ``prompt`` and ``messages``."""
    tools: tuple[ProbeTool, ...] = ()
    """Functions offered to the model (tool-call probes)."""
    checks: tuple[AnyCheck, ...] = Field(min_length=1)
    """Deterministic checks applied to every reply; the probe passes when all pass."""
    repetitions: int = Field(default=3, ge=1, le=100)
    """How many times the probe is sent per run."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature (0: canaries measure behaviour, not creativity)."""
    max_tokens: int = Field(default=256, ge=1, le=100_000)
    """Reply length limit (truncation probes set it small on purpose)."""
    stream: bool = False
    """Stream the reply (records time to first token)."""

    _source: str = PrivateAttr(default="")

    @field_validator("messages")
    @classmethod
    def _ends_with_user(
        cls, messages: tuple[ProbeMessage, ...] | None
    ) -> tuple[ProbeMessage, ...] | None:
        if messages is not None and (not messages or messages[-1].role != "user"):
            raise ValueError("messages must end with a user message")
        return messages

    @field_validator("prompt")
    @classmethod
    def _exactly_one(cls, prompt: str | None, info: ValidationInfo) -> str | None:
        if "messages" not in info.data:
            return prompt  # messages itself is invalid; that error is enough
        has_messages = info.data["messages"] is not None
        if prompt is not None and has_messages:
            raise ValueError("give either 'prompt' or 'messages', not both")
        if prompt is None and not has_messages:
            raise ValueError("give 'prompt' (a string) or 'messages' (a list)")
        if prompt is not None and not prompt.strip():
            raise ValueError("prompt is empty")
        return None if prompt is None else expand_filler(prompt, _budget(info))

    @field_validator("checks")
    @classmethod
    def _tool_checks_match_tools(cls, checks: tuple[Any, ...], info: ValidationInfo) -> Any:
        if "tools" not in info.data:
            return checks
        names = {t.name for t in info.data["tools"]}
        for i, check in enumerate(checks):
            if isinstance(check, ToolCallCheck) and check.function not in names:
                offered = ", ".join(sorted(names)) or "none"
                raise ValueError(
                    f"checks[{i}] expects a call to {check.function!r}, but the probe's "
                    f"tools are: {offered}"
                )
        return checks

    @property
    def family(self) -> str:
        """The primary family (the first tag)."""
        return self.tags[0]

    @property
    def source(self) -> str:
        """``file:id`` when loaded from a file, else the id (copied onto every CheckResult)."""
        return self._source or self.id

    def with_source(self, file: str) -> Probe:
        """A copy that remembers the file it was loaded from."""
        probe = self.model_copy()
        probe._source = f"{file}:{self.id}"
        return probe

    def to_request(self) -> CompletionRequest:
        """The provider-neutral request this probe sends."""
        if self.messages is not None:
            messages = tuple(Message(role=m.role, content=m.content) for m in self.messages)
        else:
            assert self.prompt is not None  # guaranteed by _exactly_one
            messages = (Message(role="user", content=self.prompt),)
        return CompletionRequest(
            messages=messages,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            tools=tuple(
                ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
                for t in self.tools
            ),
            stream=self.stream,
            metadata={"probe_id": self.id, "family": self.family},
        )


class ProbeFile(BaseModel):
    """A file holding several probes."""

    model_config = _STRICT

    probes: tuple[Probe, ...] = Field(min_length=1)
    """The probes, each with an id unique across all files."""


@dataclass(frozen=True)
class ProbeSet:
    """The probes that loaded, and every problem found in the files (valid ones still load)."""

    probes: tuple[Probe, ...]
    errors: tuple[DataError, ...] = ()

    def __iter__(self) -> Iterator[Probe]:
        return iter(self.probes)

    def __len__(self) -> int:
        return len(self.probes)

    @property
    def ok(self) -> bool:
        """True when every file was valid."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`DataErrors` listing every problem, if there is any."""
        if self.errors:
            raise DataErrors(self.errors)

    def get(self, probe_id: str) -> Probe:
        """The probe with this id (KeyError if absent)."""
        for probe in self.probes:
            if probe.id == probe_id:
                return probe
        raise KeyError(probe_id)

    def families(self) -> dict[str, tuple[Probe, ...]]:
        """Probes grouped by primary family, in load order."""
        out: dict[str, list[Probe]] = {}
        for probe in self.probes:
            out.setdefault(probe.family, []).append(probe)
        return {k: tuple(v) for k, v in out.items()}


def _probe_files(source: str | Path | Iterable[str | Path]) -> tuple[list[Path], list[DataError]]:
    items = [source] if isinstance(source, str | Path) else list(source)
    files: list[Path] = []
    errors: list[DataError] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"})
            if not found:
                errors.append(DataError(str(path), None, None, "no probe files (*.yaml) here"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            errors.append(DataError(str(path), None, None, "no such file or directory"))
    return files, errors


def _entries(file: str, text: str) -> tuple[list[Located], list[DataError]]:
    """The probe mappings in one file, located, and the file-level problems."""
    doc, errors = load_yaml(text, file)
    if doc is None:
        return [], errors
    data = doc.data
    if data is None:
        return [], [
            *errors,
            DataError(file, None, None, "empty file: expected a probe mapping or a 'probes:' list"),
        ]
    if not isinstance(data, dict):
        kind = type(data).__name__
        return [], [
            *errors,
            DataError(
                file,
                doc.line_of(()),
                None,
                f"expected a probe mapping or a 'probes:' list, got {kind}",
            ),
        ]
    if "probes" not in data:
        return [Located(doc, ())], errors
    for key in data:
        if key != "probes":
            errors.append(
                DataError(
                    file,
                    doc.line_of((key,)),
                    str(key),
                    "unknown top-level key (a file holds one probe, or a list under 'probes:')",
                )
            )
    probes = data["probes"]
    if not isinstance(probes, list) or not probes:
        errors.append(
            DataError(
                file, doc.line_of(("probes",)), "probes", "expected a non-empty list of probes"
            )
        )
        return [], errors
    return [Located(doc, ("probes", i)) for i in range(len(probes))], errors


def load_probes(
    source: str | Path | Iterable[str | Path], *, checks_dir: str | Path | None = None
) -> ProbeSet:
    """Load and validate probe files: a directory (its ``*.yaml``), a file, or several.

    ``checks_dir`` is the ``[checks] local_dir`` whose modules ``type: custom`` checks may name
    as ``module:callable`` (besides entry points); without it only entry points resolve.

    Never raises for bad content: every problem in every file becomes a :class:`DataError`
    (``probes/dates.yaml:14: probes[2].checks[0].pattern: invalid regular expression: ...``) in
    ``ProbeSet.errors``, and the valid probes are returned. Probe ids must be unique across
    files; a later duplicate is reported and dropped. Call ``raise_for_errors()`` to be strict.
    """
    files, errors = _probe_files(source)
    probes: list[Probe] = []
    first_seen: dict[str, str] = {}
    for path in files:
        file = str(path)
        text, read_errors = read_text_bounded(path)
        if text is None:
            errors.extend(read_errors)
            continue
        entries, file_errors = _entries(file, text)
        errors.extend(file_errors)
        context = {"filler_budget": FillerBudget(), "checks_dir": checks_dir}
        for entry in entries:
            try:
                probe = Probe.model_validate(entry.data, context=context)
            except ValidationError as exc:
                errors.extend(validation_errors(exc, entry))
                continue
            except FillerBudgetExceeded as exc:
                line = entry.doc.line_of(entry.path)
                errors.append(DataError(file, line, format_path(entry.path) or None, str(exc)))
                break
            id_path = (*entry.path, "id")
            where = f"{file}:{entry.doc.line_of(id_path)}"
            if probe.id in first_seen:
                errors.append(
                    DataError(
                        file,
                        entry.doc.line_of(id_path),
                        format_path(id_path),
                        f"duplicate probe id {probe.id!r} (first defined at "
                        f"{first_seen[probe.id]})",
                    )
                )
                continue
            first_seen[probe.id] = where
            probes.append(probe.with_source(file))
    return ProbeSet(tuple(probes), tuple(errors))


def probe_json_schema() -> dict[str, Any]:
    """The JSON Schema of a probe file (one probe, or ``probes:`` with a list), from the models."""
    adapter: TypeAdapter[Probe | ProbeFile] = TypeAdapter(Probe | ProbeFile)
    schema = adapter.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "canaryflow probe file",
        "description": (
            "One canary probe, or several under 'probes:'. Generated from "
            "canaryflow.definitions.Probe; regenerate with `canaryflow schema probe`."
        ),
        **schema,
    }


def render_probe_schema() -> str:
    """:func:`probe_json_schema` as the committed file's text (2-space JSON, final newline)."""
    return json.dumps(probe_json_schema(), indent=2) + "\n"
