"""Deterministic checks: frozen configs registered by ``type``, each a pure function of the output.

In a probe file::

    checks:
      - type: iso_date
        expected: 2024-04-03
      - type: regex
        pattern: "^\\\\d{4}-\\\\d{2}-\\\\d{2}$"
        fullmatch: true

Every check's ``run(output, extras)`` returns a :class:`~canaryflow.records.CheckResult`
(name, passed, value, reason, source). :data:`AnyCheck` is the discriminated union the probe
format validates against; :func:`run_checks` applies a probe's checks to a completion.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from canaryflow.checks._base import CHECK_TYPES, Check, CheckInput, normalize_output
from canaryflow.checks._behaviour import (
    REFUSAL_PATTERNS,
    FinishReasonCheck,
    NoRefusalCheck,
    RefusalCheck,
    ToolCallCheck,
    detect_refusal,
)
from canaryflow.checks._custom import ENTRY_POINT_GROUP, CustomCheck, resolve_check_function
from canaryflow.checks._extract import (
    IsoDateCheck,
    NumberCheck,
    extract_iso_date,
    extract_numbers,
)
from canaryflow.checks._json import (
    JsonPathCheck,
    JsonSchemaCheck,
    JsonValidCheck,
    parse_json_output,
    parse_json_path,
)
from canaryflow.checks._run import check_labels, run_checks
from canaryflow.checks._text import (
    ContainsCheck,
    EqualsCheck,
    MaxWordsCheck,
    MinWordsCheck,
    NotContainsCheck,
    NotRegexCheck,
    RegexCheck,
    count_words,
)

__all__ = [
    "AnyCheck",
    "CHECK_TYPES",
    "Check",
    "CheckInput",
    "ContainsCheck",
    "CustomCheck",
    "ENTRY_POINT_GROUP",
    "EqualsCheck",
    "FinishReasonCheck",
    "IsoDateCheck",
    "JsonPathCheck",
    "JsonSchemaCheck",
    "JsonValidCheck",
    "MaxWordsCheck",
    "MinWordsCheck",
    "NoRefusalCheck",
    "NotContainsCheck",
    "NotRegexCheck",
    "NumberCheck",
    "REFUSAL_PATTERNS",
    "RefusalCheck",
    "RegexCheck",
    "ToolCallCheck",
    "check_labels",
    "count_words",
    "detect_refusal",
    "extract_iso_date",
    "extract_numbers",
    "normalize_output",
    "parse_json_output",
    "parse_json_path",
    "resolve_check_function",
    "run_checks",
]

AnyCheck = Annotated[
    EqualsCheck
    | ContainsCheck
    | NotContainsCheck
    | RegexCheck
    | NotRegexCheck
    | JsonValidCheck
    | JsonSchemaCheck
    | JsonPathCheck
    | IsoDateCheck
    | NumberCheck
    | RefusalCheck
    | NoRefusalCheck
    | MaxWordsCheck
    | MinWordsCheck
    | ToolCallCheck
    | FinishReasonCheck
    | CustomCheck,
    Field(discriminator="type"),
]
"""Any built-in check config, selected by its ``type`` key."""

# The union above is written out for type checkers and the JSON Schema; keep it in step with
# the registry (a new check module that forgets to extend it fails here on import).
assert set(CHECK_TYPES) == {c.model_fields["type"].default for c in get_args(get_args(AnyCheck)[0])}
