"""The ``{{filler:N}}`` directive: N words of bland, deterministic prose for long-context probes.

A long-context probe hides one fact (the needle) in a long document. Writing thousands of words
into YAML is noise, so a prompt may say ``{{filler:1500}}`` (or ``{{filler:1500:b}}`` for a
different text of the same length) and the loader replaces it with exactly that many words.
The filler is the same on every machine and every run (seeded by the directive, never by global
random state), contains no digits and no sentence of the form "The X is Y", so it cannot
compete with a needle.
"""

from __future__ import annotations

import random
import re

__all__ = ["FILLER", "FillerBudget", "FillerBudgetExceeded", "expand_filler", "filler_words"]

FILLER = re.compile(r"\{\{\s*filler\s*:\s*(?P<n>\d+)\s*(?::\s*(?P<seed>[\w-]+)\s*)?\}\}")
"""The directive: ``{{filler:N}}`` or ``{{filler:N:seed}}``."""

MAX_FILLER_WORDS = 50_000
"""Words one text (a prompt or a message) may expand to, over all its directives."""

MAX_FILLER_WORDS_PER_FILE = 500_000
"""Words all directives of one probe file may expand to (the loader's budget)."""

_SUBJECTS = (
    "The quarterly review",
    "Our logistics team",
    "The regional office",
    "The night shift",
    "A new supplier",
    "The maintenance crew",
    "The finance department",
    "Most customers",
    "The onboarding guide",
    "The planning committee",
    "The delivery schedule",
    "Each team lead",
)
_VERBS = (
    "discussed",
    "revisited",
    "documented",
    "postponed",
    "summarised",
    "reorganised",
    "examined",
    "streamlined",
    "approved",
    "questioned",
    "clarified",
    "highlighted",
)
_OBJECTS = (
    "the packaging guidelines",
    "several routine procedures",
    "the cleaning rota",
    "the layout of the loading bay",
    "the wording of internal memos",
    "the visitor policy",
    "the archive of old correspondence",
    "the order of morning briefings",
    "the labelling of storage shelves",
    "the catering arrangements",
    "the parking rules",
    "the format of weekly summaries",
)
_TAILS = (
    "without reaching a firm conclusion",
    "after a long and friendly conversation",
    "as part of the usual routine",
    "because nobody had looked at it for a while",
    "in a meeting that ran slightly late",
    "with help from a few volunteers",
    "before the end of the afternoon",
    "while the weather stayed grey and calm",
    "so that newcomers would find things easier",
    "in a spirit of gentle improvement",
)


def filler_words(n: int, seed: str = "") -> str:
    """Exactly ``n`` words of filler prose, a pure function of ``(n, seed)``."""
    if not 0 <= n <= MAX_FILLER_WORDS:
        raise ValueError(f"filler length must be between 0 and {MAX_FILLER_WORDS}, got {n}")
    rng = random.Random(f"canaryflow-filler:{n}:{seed}")
    words: list[str] = []
    while len(words) < n:
        sentence = (
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_TAILS)}."
        )
        words.extend(sentence.split())
    words = words[:n]
    if words and not words[-1].endswith("."):
        words[-1] += "."
    # A paragraph break every ~120 words keeps the document readable in logs.
    return "\n\n".join(" ".join(words[i : i + 120]) for i in range(0, len(words), 120))


class FillerBudgetExceeded(Exception):
    """A file's directives ask for more than its budget.

    Deliberately not a ValueError: pydantic lets it through, so the loader reports the file
    once and stops validating it instead of failing every later message the same way.
    """


class FillerBudget:
    """Words still allowed for one file, so many small directives cannot add up to millions."""

    def __init__(self, words: int = MAX_FILLER_WORDS_PER_FILE) -> None:
        self.remaining = words

    def charge(self, words: int) -> None:
        """Take ``words`` from the budget, or raise FillerBudgetExceeded if too few are left."""
        if words > self.remaining:
            raise FillerBudgetExceeded(
                f"filler directives in this file would expand to more than "
                f"{MAX_FILLER_WORDS_PER_FILE} words in total"
            )
        self.remaining -= words


def _requested(digits: str) -> int:
    # A 5,000-digit N must not reach int() (Python refuses > 4,300 digits with its own error).
    return int(digits) if len(digits) <= 9 else MAX_FILLER_WORDS * 1000


def expand_filler(text: str, budget: FillerBudget | None = None) -> str:
    """Replace every ``{{filler:N[:seed]}}`` directive in ``text``.

    The total is checked before anything is generated, so a refused text costs no memory.

    Raises:
        ValueError: the directives ask for more than :data:`MAX_FILLER_WORDS` words together.
        FillerBudgetExceeded: they ask for more than ``budget`` has left.
    """
    matches = list(FILLER.finditer(text))
    if not matches:
        return text
    total = sum(_requested(m.group("n")) for m in matches)
    if total > MAX_FILLER_WORDS:
        raise ValueError(
            f"filler length must be at most {MAX_FILLER_WORDS} words per text, "
            f"the directives ask for {total if total < MAX_FILLER_WORDS * 1000 else 'far more'}"
        )
    if budget is not None:
        budget.charge(total)
    return FILLER.sub(lambda m: filler_words(int(m.group("n")), m.group("seed") or ""), text)
