"""The check contract: a frozen config registered by its ``type``, run as a pure function.

A check never calls a model and never raises on a bad output: it returns a
:class:`~canaryflow.records.CheckResult` saying what it measured (``value``), the verdict and
why. Everything that could make a check unable to run (a bad regular expression, an invalid JSON
Schema, a custom function that does not import) is rejected when the config is validated, so a
probe file with such a check fails at load time instead of producing false failures.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from canaryflow.records import CheckResult, FinishReason, ToolCall

__all__ = [
    "CHECK_TYPES",
    "Check",
    "CheckInput",
    "normalize_output",
    "register_check",
]


class CheckInput(BaseModel):
    """What a check may read from a completion besides its text.

    Tool-call checks read ``tool_calls``; truncation checks read ``finish_reason``. Text-only
    checks ignore it, so they can be run as ``check.run("some output")``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    finish_reason: FinishReason | None = None
    """The normalized finish reason of the completion (None when unknown)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The function calls the model made, in order."""


NO_EXTRAS = CheckInput()


class Check(BaseModel):
    """Base of every check config; subclasses set ``type`` to a one-value ``Literal``."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    type: str
    name: str | None = None
    """Label of this check in results (default: its type, numbered if a probe repeats it)."""

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Apply the check to one output; pure, never raises on a bad output."""
        raise NotImplementedError  # pragma: no cover - every registered subclass overrides it

    @property
    def label(self) -> str:
        """The name results carry."""
        return self.name or self.type

    def _result(self, passed: bool, value: Any, reason: str) -> CheckResult:
        return CheckResult(name=self.label, passed=passed, value=value, reason=reason)


CHECK_TYPES: dict[str, type[Check]] = {}
"""Every check config class by its ``type`` (filled by :func:`register_check`)."""

_C = TypeVar("_C", bound=Check)


def register_check(cls: type[_C]) -> type[_C]:
    """Class decorator: register a check config under the default of its ``type`` field."""
    name = cls.model_fields["type"].default
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a `type: Literal[...]` field with a default")
    if name in CHECK_TYPES and CHECK_TYPES[name] is not cls:
        raise ValueError(f"check type {name!r} is already registered")
    CHECK_TYPES[name] = cls
    return cls


_WS = re.compile(r"\s+")
_TRAILING_PUNCT = re.compile(r"[\s.!?,;:…。]+$")


def normalize_output(text: str) -> str:
    """Normalize an output for behaviour fingerprints.

    Lower-cases, collapses runs of whitespace into one space, strips the ends and trailing
    punctuation, so ``"The date is 2024-04-03.\\n"`` and ``"the date is  2024-04-03"`` are one
    behaviour while a different date is another.
    """
    text = _WS.sub(" ", text.lower()).strip()
    return _TRAILING_PUNCT.sub("", text)
