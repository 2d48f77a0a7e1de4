"""Checks that extract a value from free text and compare it: ISO dates and numbers.

The extracted value is the check's ``value``, so a report shows *what* the model answered
(``2024-03-04`` where ``2024-04-03`` was expected is a day/month transposition at a glance).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Literal

from pydantic import Field, model_validator

from canaryflow.checks._base import NO_EXTRAS, Check, CheckInput, register_check
from canaryflow.records import CheckResult

__all__ = ["IsoDateCheck", "NumberCheck", "extract_iso_date", "extract_numbers"]

# Not preceded/followed by a digit, so "12024-04-03" or "2024-04-031" are not dates.
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def extract_iso_date(text: str) -> str | None:
    """The first ``YYYY-MM-DD`` in the text, as written (it may be an impossible date)."""
    m = _ISO_DATE.search(text)
    return m.group(0) if m else None


@register_check
class IsoDateCheck(Check):
    """The first ISO-8601 date (``YYYY-MM-DD``) in the output equals the expected date."""

    type: Literal["iso_date"] = "iso_date"
    expected: dt.date
    """The expected date (``2024-04-03``)."""

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Extract the first ISO date; value is the extracted text (None if there is none)."""
        found = extract_iso_date(output)
        want = self.expected.isoformat()
        if found is None:
            return self._result(False, None, "no YYYY-MM-DD date in the output")
        if found == want:
            return self._result(True, found, f"date {found} as expected")
        y, m, d = found.split("-")
        hint = " (day and month transposed)" if f"{y}-{d}-{m}" == want else ""
        return self._result(False, found, f"expected {want}, got {found}{hint}")


# A number: optional sign, digits with optional thousands separators, optional decimals.
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])")


def extract_numbers(text: str) -> list[float]:
    """Every number in the text, in order (``1,234.5`` is one number; ``−`` counts as minus)."""
    return [float(m.group(0).replace(",", "").replace("−", "-")) for m in _NUMBER.finditer(text)]


@register_check
class NumberCheck(Check):
    """The first or last number in the output is within tolerance of the expected number."""

    type: Literal["number"] = "number"
    expected: float
    """The expected number."""
    abs_tol: float = Field(default=0.0, ge=0)
    """Allowed absolute difference."""
    rel_tol: float = Field(default=0.0, ge=0)
    """Allowed difference relative to ``expected`` (0.01 = 1 %)."""
    which: Literal["first", "last"] = "last"
    """Which number of the output to compare (answers usually end with the result)."""

    @model_validator(mode="after")
    def _finite(self) -> NumberCheck:
        if not math.isfinite(self.expected):
            raise ValueError("expected must be a finite number")
        return self

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Extract the number; value is the extracted number (None if there is none)."""
        numbers = extract_numbers(output)
        if not numbers:
            return self._result(False, None, "no number in the output")
        got = numbers[0] if self.which == "first" else numbers[-1]
        value: float | int = int(got) if got.is_integer() else got
        ok = math.isclose(got, self.expected, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        # isclose with both tolerances 0 is exact equality, which is what a 0 tolerance means.
        tol = f"abs {self.abs_tol:g}, rel {self.rel_tol:g}"
        if ok:
            return self._result(True, value, f"{value:g} within ({tol}) of {self.expected:g}")
        return self._result(False, value, f"expected {self.expected:g} ({tol}), got {value:g}")
