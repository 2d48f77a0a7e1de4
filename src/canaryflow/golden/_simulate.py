"""Simulated golden runs with realistic noise, for the calibration tests and the power table.

A simulated set has solid items (always pass), broken items (always fail) and flaky items with
their own pass probability. Flakiness is *correlated* the way it is with a real model:

- within an item, repetitions on one day usually repeat one draw (temperature 0 caches and
  near-deterministic decoding), independent only with probability ``1 - rep_correlation``;
- across items, a day-level shock per category moves every flaky item of that category up or
  down together (a provider having a bad day), on the logit scale with sd ``day_sd``.

Judge scores (1-5) are an item's true score plus occasional +-1 judge noise; a share of judge
calls fails (None, an error, never a score). A regression is injected by making a share of the
solid items fail in the candidate (``flip_share``), or, for dates, by naming the items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from canaryflow.golden._outcomes import ItemOutcome

__all__ = ["SimulatedSet", "simulate_run"]


@dataclass(frozen=True)
class SimulatedSet:
    """The fixed truth of one simulated set (drawn once, shared by every simulated day)."""

    name: str
    item_ids: tuple[str, ...]
    categories: tuple[str, ...]
    base_prob: np.ndarray
    """Per-item pass probability: 1 solid, 0 broken, in between flaky."""
    true_score: np.ndarray
    """Per-item true judge score (1-5)."""

    @classmethod
    def draw(
        cls,
        name: str,
        n_items: int,
        rng: np.random.Generator,
        *,
        categories: Sequence[str] = ("a", "b", "c", "d"),
        flaky_share: float = 0.10,
        broken_share: float = 0.05,
    ) -> SimulatedSet:
        """A set of ``n_items`` with the given shares of flaky and broken items."""
        kind = rng.random(n_items)
        prob = np.ones(n_items)
        broken = kind < broken_share
        flaky = (kind >= broken_share) & (kind < broken_share + flaky_share)
        prob[broken] = 0.0
        prob[flaky] = rng.uniform(0.3, 0.9, size=int(flaky.sum()))
        score = rng.choice([3.0, 4.0, 5.0], size=n_items, p=[0.2, 0.4, 0.4])
        cats = tuple(categories[i % len(categories)] for i in range(n_items))
        ids = tuple(f"{name}/item-{i:04d}" for i in range(n_items))
        return cls(name, ids, cats, prob, score)


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def simulate_run(
    sets: Sequence[SimulatedSet],
    rng: np.random.Generator,
    *,
    repetitions: int = 3,
    rep_correlation: float = 0.8,
    day_sd: float = 0.5,
    judge_noise: float = 0.2,
    judge_error_rate: float = 0.0,
    judged: bool = False,
    flip_share: float = 0.0,
    flip_items: Sequence[str] = (),
    flip_rate: float = 1.0,
) -> dict[str, ItemOutcome]:
    """One simulated day: an :class:`ItemOutcome` per item of every set.

    Args:
        sets: The simulated sets.
        rng: Random generator (the day's draws).
        repetitions: Attempts per item.
        rep_correlation: Probability that a flaky item's repetitions repeat one draw.
        day_sd: Sd of the per-(day, category) shock on flaky items' logit pass probability.
        judge_noise: Probability that the judge is one point off.
        judge_error_rate: Probability that a judge call fails (recorded as a judge error).
        judged: Produce judge scores (dimension ``quality``).
        flip_share: Share of solid items made to fail (an injected regression).
        flip_items: Item ids made to fail with probability ``flip_rate`` each (e.g. dates).
        flip_rate: See ``flip_items``.
    """
    out: dict[str, ItemOutcome] = {}
    forced = set(flip_items)
    for s in sets:
        shocks = {c: rng.normal(0.0, day_sd) for c in sorted(set(s.categories))}
        prob = s.base_prob.copy()
        flaky = (prob > 0) & (prob < 1)
        for j in (int(x) for x in np.flatnonzero(flaky)):
            prob[j] = 1 / (1 + np.exp(-(_logit(prob[j : j + 1])[0] + shocks[s.categories[j]])))
        broken_now = np.zeros(len(prob), dtype=bool)
        if flip_share > 0:
            solid = np.flatnonzero(s.base_prob == 1.0)
            k = int(round(flip_share * len(s.base_prob)))
            if k:
                broken_now[rng.choice(solid, size=min(k, solid.size), replace=False)] = True
        for i, item_id in enumerate(s.item_ids):
            p = 0.0 if broken_now[i] else float(prob[i])
            if item_id in forced and rng.random() < flip_rate:
                p = 0.0
            if rng.random() < rep_correlation:
                draws = np.full(repetitions, rng.random() < p)
            else:
                draws = rng.random(repetitions) < p
            passes = int(draws.sum())
            scores: dict[str, float] = {}
            errors = 0
            if judged:
                vals = []
                for _ in range(repetitions):
                    if rng.random() < judge_error_rate:
                        errors += 1
                        continue
                    noise = rng.choice([-1.0, 1.0]) if rng.random() < judge_noise else 0.0
                    penalty = 1.0 if p == 0.0 and s.base_prob[i] == 1.0 else 0.0
                    vals.append(float(np.clip(s.true_score[i] + noise - penalty, 1, 5)))
                if vals:
                    scores["quality"] = float(np.mean(vals))
            out[item_id] = ItemOutcome(
                item_id=item_id,
                set=s.name,
                category=s.categories[i],
                attempts=repetitions,
                passes=passes,
                errors=0,
                passed=passes * 2 > repetitions,
                scores=scores,
                judged=(repetitions - errors) if judged else 0,
                judge_errors=errors,
            )
    return out
