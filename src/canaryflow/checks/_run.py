"""Run a probe's checks on one completion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from canaryflow.checks._base import Check, CheckInput
from canaryflow.records import CheckResult, Completion

__all__ = ["HasChecks", "check_labels", "run_checks"]


class HasChecks(Protocol):
    """What :func:`run_checks` needs from a probe (or, later, a golden item)."""

    @property
    def checks(self) -> Sequence[Check]:
        """The check configs, in order."""
        ...

    @property
    def source(self) -> str:
        """Where the definition came from (``probes/dates_eu.yaml:dates-eu-03``)."""
        ...


def check_labels(checks: Sequence[Check]) -> tuple[str, ...]:
    """Result names for a list of checks, unique within the list.

    A label used more than once gets ``#1``, ``#2``... in order, so two ``regex`` checks on one
    probe stay distinguishable across runs (baselines are kept per check name).
    """
    counts = Counter(c.label for c in checks)
    seen: Counter[str] = Counter()
    labels = []
    for c in checks:
        seen[c.label] += 1
        labels.append(f"{c.label}#{seen[c.label]}" if counts[c.label] > 1 else c.label)
    return tuple(labels)


def run_checks(probe: HasChecks, completion: Completion) -> tuple[CheckResult, ...]:
    """Every check of ``probe`` applied to ``completion``, in order.

    A failed call (``not completion.ok``) yields no verdicts at all: the caller records it as
    an error, never as a pass or a failure. Each result's ``source`` is ``probe.source``.
    """
    if not completion.ok:
        return ()
    extras = CheckInput(finish_reason=completion.finish_reason, tool_calls=completion.tool_calls)
    results = []
    for check, label in zip(probe.checks, check_labels(probe.checks), strict=True):
        result = check.run(completion.text, extras)
        results.append(result.model_copy(update={"name": label, "source": probe.source}))
    return tuple(results)
