"""A run's judging budget in calls and USD, enforced by reservation so it is never exceeded.

A call's true cost is known only after it returns, and calls run concurrently. So before a call
is made the ledger reserves its *worst case* (estimated prompt tokens plus ``max_tokens`` of
output at the judge model's prices); a call that does not fit is never made. When the reply comes
back the reservation is replaced by the actual cost. Admission happens in item order before any
call starts, so which items got judged does not depend on network timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from canaryflow.config import Pricing

__all__ = ["Budget", "CostEstimate", "Ledger", "estimate_tokens", "worst_case_usd"]


@dataclass(frozen=True)
class Budget:
    """Limits for one run; None means no limit."""

    calls: int | None = None
    usd: float | None = None


@dataclass(frozen=True)
class CostEstimate:
    """What judging a batch would cost, printed before a backfill judges anything."""

    items: int
    calls: int
    """New judge calls (cached samples excluded)."""
    cached_calls: int
    input_tokens: int
    """Estimated prompt tokens of the new calls."""
    max_output_tokens: int
    """Upper bound on output tokens (``max_tokens`` per call)."""
    usd_expected: float | None
    """Prompt cost plus a typical reply (a quarter of ``max_tokens``); None without pricing."""
    usd_max: float | None
    """Upper bound (every reply at ``max_tokens``); None without pricing."""

    def line(self) -> str:
        """One line for a terminal or a log."""
        money = (
            f"~{self.usd_expected:.4f} USD (at most {self.usd_max:.4f})"
            if self.usd_expected is not None and self.usd_max is not None
            else "cost unknown (the judge model has no pricing)"
        )
        return (
            f"judge estimate: {self.items} item(s), {self.calls} new call(s), "
            f"{self.cached_calls} cached, ~{self.input_tokens} prompt tokens, {money}"
        )


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate (3 characters a token; real tokenizers give ~4)."""
    return math.ceil(len(text) / 3) + 8


def worst_case_usd(pricing: Pricing | None, input_tokens: int, max_tokens: int) -> float:
    """The most one call can cost (0 without pricing: then only the call limit applies)."""
    if pricing is None:
        return 0.0
    return (input_tokens * pricing.input + max_tokens * pricing.output) / 1_000_000


@dataclass
class Ledger:
    """Reservations and actual spend against a :class:`Budget`."""

    budget: Budget = field(default_factory=Budget)
    calls: int = 0
    usd_reserved: float = 0.0
    usd_spent: float = 0.0
    exhausted: bool = False

    def reserve(self, calls: int, usd: float) -> bool:
        """Reserve ``calls`` calls worth at most ``usd``; False (and nothing reserved) if it
        would break a limit."""
        if self.exhausted:
            return False
        b = self.budget
        if b.calls is not None and self.calls + calls > b.calls:
            self.exhausted = True
            return False
        if b.usd is not None and self.usd_spent + self.usd_reserved + usd > b.usd + 1e-12:
            self.exhausted = True
            return False
        self.calls += calls
        self.usd_reserved += usd
        return True

    def settle(self, reserved_usd: float, actual_usd: float | None) -> None:
        """Replace one call's reservation by what it cost."""
        self.usd_reserved = max(0.0, self.usd_reserved - reserved_usd)
        self.usd_spent += actual_usd or 0.0
