"""The simulator's answer table: a small registry of rules that map a request to an answer.

A rule is a plain function ``SimRequest -> SimAnswer | None``; it returns None when the request
is not its business. Rules are registered with ``@rule(name, priority)`` and tried in order of
priority (lower first, then registration order); the first answer wins. ``answer()`` falls back
to a generic reply when no rule matches.

The answer is the *correct* (baseline) behaviour plus the variants scenarios need:
``alternatives`` (other correct wordings, used for natural noise and silent updates),
``transposed`` (what a model that swaps day and month would say) and ``refusal``.

Example::

    @rule("capital")
    def capital(req: SimRequest) -> SimAnswer | None:
        if "capital of france" in req.prompt.lower():
            return SimAnswer("Paris", alternatives=("Paris.",), tag="capital")
        return None
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Rule",
    "SimAnswer",
    "SimRequest",
    "answer",
    "registered_rules",
    "rule",
]


@dataclass(frozen=True)
class SimRequest:
    """A provider-neutral view of one chat request, as the rules see it."""

    system: str
    """The concatenated system prompt ('' if none)."""
    messages: tuple[tuple[str, str], ...]
    """``(role, content)`` of the non-system messages, in order."""
    model: str
    max_tokens: int
    temperature: float
    tools: tuple[dict, ...] = ()
    """Provider-neutral tool specs: ``{"name", "description", "parameters"}``."""
    tool_choice: str | None = None
    """The tool the caller forces (Anthropic ``{"type": "tool"}``, OpenAI ``function``)."""
    response_format: dict | None = None
    """OpenAI ``response_format`` as sent (``{"type": "json_schema", "json_schema": ...}``)."""
    seed: int = 0
    """The simulator's seed (set by the core before the rules run)."""
    occurrence: int = 0
    """How many identical requests came before this one (set by the core): lets a rule give
    independent draws to repeated identical calls, as a sampling model would."""
    run: str = ""
    """The canary run (hour) the request belongs to, when the client says so ('' otherwise);
    per-run behaviour such as ``flaky_probes`` keys on it."""

    @property
    def prompt(self) -> str:
        """The content of the last user message ('' if there is none)."""
        for role, content in reversed(self.messages):
            if role == "user":
                return content
        return ""


@dataclass(frozen=True)
class SimAnswer:
    """What the simulated model answers (its correct behaviour and scenario variants)."""

    text: str = ""
    tool_call: dict | None = None
    """``{"name": str, "arguments": dict}`` when the model calls a tool."""
    alternatives: tuple[str, ...] = ()
    """Other correct wordings (natural noise; ``silent_update`` uses the first)."""
    transposed: str | None = None
    """What a day/month-transposing model would answer (``date_transposition``)."""
    degraded: str | None = None
    """What a silently worse model would answer (``candidate_regression``); None: unaffected."""
    refusal: bool = False
    """The correct behaviour is to refuse."""
    tag: str = ""
    """The rule family name."""
    faults: tuple[tuple[str, SimAnswer], ...] = ()
    """Named broken variants of this answer (``judge_faults`` scenario): kind -> answer."""


Rule = Callable[[SimRequest], SimAnswer | None]


@dataclass(frozen=True)
class _Entry:
    name: str
    priority: int
    order: int
    fn: Rule


_RULES: dict[str, _Entry] = {}


def rule(name: str, priority: int = 100) -> Callable[[Rule], Rule]:
    """Register a rule under ``name``; lower ``priority`` runs first.

    Registering the same name again replaces the earlier rule (so reloading a module is safe).
    """

    def decorate(fn: Rule) -> Rule:
        previous = _RULES.get(name)
        order = previous.order if previous is not None else len(_RULES)
        _RULES[name] = _Entry(name, priority, order, fn)
        return fn

    return decorate


def registered_rules() -> list[str]:
    """Names of the registered rules, in the order they are tried."""
    return [e.name for e in _ordered()]


def _ordered() -> list[_Entry]:
    return sorted(_RULES.values(), key=lambda e: (e.priority, e.order))


def fallback(req: SimRequest) -> SimAnswer:
    """The generic reply when no rule matches: short, deterministic, mentions the prompt."""
    words = req.prompt.split()
    topic = " ".join(words[:8]) + (" ..." if len(words) > 8 else "")
    text = f"Here is a brief answer about: {topic}" if topic else "Hello! How can I help you?"
    alt = f"A brief answer regarding: {topic}" if topic else "Hi! How can I help?"
    return SimAnswer(text=text, alternatives=(alt,), tag="fallback")


def answer(req: SimRequest) -> SimAnswer:
    """The answer of the first matching rule, else a generic fallback reply."""
    for entry in _ordered():
        result = entry.fn(req)
        if result is not None:
            return result
    return fallback(req)
