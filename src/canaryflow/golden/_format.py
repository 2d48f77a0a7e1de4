"""The golden-set format: ``golden_sets/<name>.yaml`` (the header) + ``<name>.jsonl`` (the items).

The header is the application under test: a prompt template (system + user, jinja2
``{{ variables }}`` rendered in a sandbox with ``StrictUndefined``, so a missing input is an
error and never an empty string), default checks, the judge rubric, repetitions and per-model
overrides. Each JSONL line is one item: ``id``, ``inputs`` (the template variables),
``expected`` / ``reference_facts`` / ``context`` (what a judge compares against), its own
``checks``, a ``category`` (the unit of per-category comparisons) and ``tags``.

Both are pydantic models with ``extra="forbid"``; their JSON Schemas are committed next to the
probe schema (``canaryflow schema golden``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
)

from canaryflow.checks import AnyCheck
from canaryflow.records import CompletionRequest, Message

__all__ = [
    "GoldenItem",
    "GoldenModelOverride",
    "GoldenPrompt",
    "GoldenSetHeader",
    "build_request",
    "render_template",
    "template_env",
]

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=100)]
"""Item ids, categories and tags: lower-case letters, digits, ``_``, ``.`` and ``-``."""

_STRICT = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


@lru_cache(maxsize=1)
def template_env() -> SandboxedEnvironment:
    """The one jinja2 environment for prompt templates.

    Sandboxed because golden sets are data a reviewer may not read line by line (no attribute
    access to Python internals); StrictUndefined because a misspelt variable must fail the item,
    not send a prompt with a hole in it. No autoescape: prompts are plain text, not HTML.
    """
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def render_template(source: str, variables: dict[str, Any]) -> str:
    """Render one template string (raises jinja2 errors; the loader turns them into DataErrors)."""
    return template_env().from_string(source).render(**variables)


def _check_template(source: str) -> str:
    try:
        template_env().parse(source)
    except TemplateSyntaxError as exc:
        raise ValueError(
            f"invalid template (line {exc.lineno} of the text): {exc.message}"
        ) from None
    return source


class GoldenPrompt(BaseModel):
    """The prompt template: a system part and a user part with ``{{ variables }}``."""

    model_config = _STRICT

    system: str = ""
    """Instructions sent as the system message ('' sends none)."""
    user: str = Field(min_length=1)
    """The user message; ``{{ name }}`` is replaced by the item's ``inputs.name``."""

    @field_validator("system", "user")
    @classmethod
    def _template(cls, source: str) -> str:
        return _check_template(source)

    def variables(self) -> set[str]:
        """The variable names the two parts use."""
        env = template_env()
        names: set[str] = set()
        for part in (self.system, self.user):
            names |= meta.find_undeclared_variables(env.parse(part))
        return names


class GoldenModelOverride(BaseModel):
    """Settings that differ for one configured model (``model_overrides.<key>``)."""

    model_config = _STRICT

    repetitions: int | None = Field(default=None, ge=1, le=100)
    """Repetitions for this model."""
    max_tokens: int | None = Field(default=None, ge=1, le=100_000)
    """Reply length limit for this model."""
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    """Sampling temperature for this model."""
    system: str | None = None
    """A replacement system template for this model (a prompt tuned per model)."""

    @field_validator("system")
    @classmethod
    def _template(cls, source: str | None) -> str | None:
        return None if source is None else _check_template(source)


class GoldenSetHeader(BaseModel):
    """``golden_sets/<name>.yaml``: how every item of the set is sent and judged."""

    model_config = _STRICT

    description: str = Field(min_length=1)
    """What application the set stands for, for the people reading a report."""
    prompt: GoldenPrompt
    """The prompt template every item fills."""
    checks: tuple[AnyCheck, ...] = ()
    """Default checks applied to every item (before the item's own checks)."""
    rubric: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    """Name of the judge rubric scoring each reply (``faithfulness``, ``quality``); none: checks
    only."""
    models: tuple[str, ...] = ()
    """Configured model keys that evaluate this set daily (empty: every golden model)."""
    model_overrides: dict[str, GoldenModelOverride] = Field(default_factory=dict)
    """Per-model settings, keyed by the ``[models.<key>]`` name."""
    repetitions: int = Field(default=1, ge=1, le=100)
    """How many times each item is sent per run; repetitions collapse to one item outcome."""
    max_tokens: int = Field(default=400, ge=1, le=100_000)
    """Reply length limit."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature (0: the same items every day are a paired comparison)."""
    min_items: int = Field(default=20, ge=1)
    """Fewer comparable items than this make a comparison inconclusive (too little power)."""


class GoldenItem(BaseModel):
    """One line of ``golden_sets/<name>.jsonl``."""

    model_config = _STRICT

    id: Identifier
    """Unique within the set; baselines and comparisons pair items by it."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """The template variables (``{{ document }}`` reads ``inputs.document``)."""
    expected: str | dict[str, Any] | list[Any] | None = None
    """The reference answer (for the judge and the report)."""
    reference_facts: tuple[str, ...] = ()
    """Facts a correct answer states (for the judge; add a ``contains`` check to enforce one)."""
    context: str | None = None
    """The passage the answer must be faithful to; also the template variable ``context``."""
    checks: tuple[AnyCheck, ...] = ()
    """Item-specific checks, applied after the set's default checks."""
    use_default_checks: bool = True
    """False skips the set's default checks for this item."""
    category: Identifier = "default"
    """The group per-category comparisons are made by."""
    tags: tuple[Identifier, ...] = ()
    """Free labels (``from_incident``, ``european_dates``...)."""
    note: str = ""
    """Why the item exists (e.g. the incident it came from)."""

    _source: str = PrivateAttr(default="")
    _line: int | None = PrivateAttr(default=None)

    @field_validator("inputs")
    @classmethod
    def _names(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        for name in inputs:
            if not name.isidentifier():
                raise ValueError(f"input name {name!r} is not a valid template variable name")
        return inputs

    @property
    def source(self) -> str:
        """``file:line:id`` when loaded from a file (copied onto every CheckResult)."""
        return self._source or self.id

    @property
    def line(self) -> int | None:
        """The JSONL line the item was read from."""
        return self._line

    def located(self, file: str, line: int) -> GoldenItem:
        """A copy that remembers where it was read."""
        item = self.model_copy()
        item._source = f"{file}:{line}:{self.id}"
        item._line = line
        return item

    def variables(self) -> dict[str, Any]:
        """The template variables of this item: ``context`` (when given) and ``inputs``."""
        out: dict[str, Any] = {}
        if self.context is not None:
            out["context"] = self.context
        out.update(self.inputs)
        return out


def build_request(
    header: GoldenSetHeader,
    item: GoldenItem,
    *,
    set_name: str,
    model_key: str | None = None,
) -> CompletionRequest:
    """The provider-neutral request for one item (overrides of ``model_key`` applied)."""
    override = header.model_overrides.get(model_key or "", GoldenModelOverride())
    variables = item.variables()
    system_src = override.system if override.system is not None else header.prompt.system
    system = render_template(system_src, variables).strip()
    user = render_template(header.prompt.user, variables).strip()
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=user))
    return CompletionRequest(
        messages=tuple(messages),
        max_tokens=override.max_tokens or header.max_tokens,
        temperature=header.temperature if override.temperature is None else override.temperature,
        metadata={"golden_set": set_name, "item_id": item.id, "category": item.category},
    )
