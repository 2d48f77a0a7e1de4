"""Cost of a call from configured prices (USD per million tokens)."""

from __future__ import annotations

from canaryflow.config import Pricing

__all__ = ["cost_usd"]


def cost_usd(pricing: Pricing | None, input_tokens: int, output_tokens: int) -> float | None:
    """USD cost of a call, or None when the model has no pricing configured.

    Example: 1,000 input and 500 output tokens at 3 / 15 USD per million cost 0.0105 USD.
    """
    if pricing is None:
        return None
    return (input_tokens * pricing.input + output_tokens * pricing.output) / 1_000_000
