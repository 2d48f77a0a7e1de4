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

__all__ = ["FILLER", "expand_filler", "filler_words"]

FILLER = re.compile(r"\{\{\s*filler\s*:\s*(?P<n>\d+)\s*(?::\s*(?P<seed>[\w-]+)\s*)?\}\}")
"""The directive: ``{{filler:N}}`` or ``{{filler:N:seed}}``."""

MAX_FILLER_WORDS = 50_000

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


def expand_filler(text: str) -> str:
    """Replace every ``{{filler:N[:seed]}}`` directive in ``text``.

    Raises:
        ValueError: a directive asks for more than :data:`MAX_FILLER_WORDS` words.
    """
    return FILLER.sub(lambda m: filler_words(int(m.group("n")), m.group("seed") or ""), text)
