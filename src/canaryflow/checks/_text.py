"""Checks on the raw text: equality, substrings, regular expressions, word counts."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from canaryflow.checks._base import NO_EXTRAS, Check, CheckInput, register_check
from canaryflow.records import CheckResult

__all__ = [
    "ContainsCheck",
    "EqualsCheck",
    "MaxWordsCheck",
    "MinWordsCheck",
    "NotContainsCheck",
    "NotRegexCheck",
    "RegexCheck",
    "count_words",
]

_WS = re.compile(r"\s+")


def _prepare(text: str, *, ignore_case: bool, normalize_whitespace: bool) -> str:
    if normalize_whitespace:
        text = _WS.sub(" ", text).strip()
    return text.casefold() if ignore_case else text


def _excerpt(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@register_check
class EqualsCheck(Check):
    """The output equals the expected text (leading/trailing whitespace is always ignored)."""

    type: Literal["equals"] = "equals"
    expected: str
    """The expected output."""
    ignore_case: bool = False
    """Compare case-insensitively."""
    normalize_whitespace: bool = False
    """Collapse runs of whitespace into one space before comparing."""

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Compare the stripped output with ``expected``."""
        opts = {"ignore_case": self.ignore_case, "normalize_whitespace": self.normalize_whitespace}
        got = _prepare(output.strip(), **opts)
        want = _prepare(self.expected.strip(), **opts)
        if got == want:
            return self._result(True, output.strip(), "output equals the expected text")
        return self._result(
            False, output.strip(), f"expected {self.expected!r}, got {_excerpt(output.strip())!r}"
        )


class _TextSearch(Check):
    """Shared fields and search of ``contains`` / ``not_contains``."""

    text: str = Field(min_length=1)
    """The text to look for."""
    ignore_case: bool = False
    """Search case-insensitively."""

    def _found(self, output: str) -> bool:
        prep = {"ignore_case": self.ignore_case, "normalize_whitespace": False}
        return _prepare(self.text, **prep) in _prepare(output, **prep)


@register_check
class ContainsCheck(_TextSearch):
    """The output contains a text."""

    type: Literal["contains"] = "contains"

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Search ``text`` in the output."""
        if self._found(output):
            return self._result(True, True, f"output contains {self.text!r}")
        return self._result(False, False, f"{self.text!r} not found in {_excerpt(output)!r}")


@register_check
class NotContainsCheck(_TextSearch):
    """The output does not contain a text."""

    type: Literal["not_contains"] = "not_contains"

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Search ``text`` in the output; pass when absent."""
        if self._found(output):
            return self._result(False, True, f"output contains forbidden {self.text!r}")
        return self._result(True, False, f"output does not contain {self.text!r}")


@register_check
class RegexCheck(Check):
    """The output matches a regular expression (Python ``re`` syntax)."""

    type: Literal["regex"] = "regex"
    pattern: str
    """The regular expression."""
    fullmatch: bool = False
    """Require the whole output (stripped) to match, instead of searching anywhere in it."""
    ignore_case: bool = False
    """Match case-insensitively."""
    multiline: bool = False
    """``^`` and ``$`` match at line boundaries."""
    dotall: bool = False
    """``.`` also matches newlines."""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return pattern

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern with the configured flags (``re`` caches compilations)."""
        flags = (
            (re.IGNORECASE if self.ignore_case else 0)
            | (re.MULTILINE if self.multiline else 0)
            | (re.DOTALL if self.dotall else 0)
        )
        return re.compile(self.pattern, flags)

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Search (or fully match) the pattern; value is the matched text."""
        if self.fullmatch:
            m = self.compiled.fullmatch(output.strip())
        else:
            m = self.compiled.search(output)
        how = "full match" if self.fullmatch else "match"
        if m:
            return self._result(True, m.group(0), f"{how} for /{self.pattern}/")
        return self._result(False, None, f"no {how} for /{self.pattern}/ in {_excerpt(output)!r}")


@register_check
class NotRegexCheck(RegexCheck):
    """The output does not match a regular expression (e.g. no English words in a French reply)."""

    type: Literal["not_regex"] = "not_regex"  # type: ignore[assignment]

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Pass when the pattern is not found; value is the offending match, if any."""
        m = (
            self.compiled.fullmatch(output.strip())
            if self.fullmatch
            else self.compiled.search(output)
        )
        if m:
            return self._result(
                False, m.group(0), f"forbidden match {m.group(0)!r} for /{self.pattern}/"
            )
        return self._result(True, None, f"no match for /{self.pattern}/, as required")


def count_words(text: str) -> int:
    """Whitespace-separated words (punctuation-only tokens such as ``-`` are not words)."""
    return sum(1 for token in text.split() if any(ch.isalnum() for ch in token))


@register_check
class MaxWordsCheck(Check):
    """The output has at most ``limit`` words."""

    type: Literal["max_words"] = "max_words"
    limit: int = Field(ge=0)
    """Largest allowed number of words."""

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Count words; value is the count."""
        n = count_words(output)
        ok = n <= self.limit
        return self._result(ok, n, f"{n} words ({'≤' if ok else '>'} {self.limit})")


@register_check
class MinWordsCheck(Check):
    """The output has at least ``limit`` words."""

    type: Literal["min_words"] = "min_words"
    limit: int = Field(ge=0)
    """Smallest allowed number of words."""

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Count words; value is the count."""
        n = count_words(output)
        ok = n >= self.limit
        return self._result(ok, n, f"{n} words ({'≥' if ok else '<'} {self.limit})")
