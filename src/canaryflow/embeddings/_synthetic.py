"""Synthetic "topic cluster" embeddings for tests, demos and benchmarks of drift detection.

The generator of reference/statistics.md §6.7: unit vectors in d dimensions from K topic
clusters; each point is ``0.6 u + c_k + sum_r a_r b_{k,r} + 0.02 eps``, normalised, with u a
common unit direction, c_k unit cluster centres, ``rank`` random basis rows b_{k,r} ~ N(0, 1/d)
per cluster, a_r ~ N(0, 0.6²/rank) and eps ~ N(0, I). "New style" points come from an extra,
unseen cluster. The geometry is fixed by the generator's seed; samples take their own rng.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TopicClusters"]


class TopicClusters:
    """A fixed topic-cluster geometry that draws samples of unit vectors.

    Args:
        rng: Generator that fixes the geometry (centres and bases of K + 1 clusters).
        d: Dimension.
        k: Number of ordinary clusters (uniform weights).
        rank: Basis rows per cluster.
    """

    def __init__(self, rng: np.random.Generator, d: int = 384, k: int = 8, rank: int = 24) -> None:
        self.d, self.k, self.rank = d, k, rank
        u = rng.standard_normal(d)
        self.u = u / np.linalg.norm(u)
        c = rng.standard_normal((k + 1, d))
        self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)
        self.bases = rng.standard_normal((k + 1, rank, d)) / np.sqrt(d)

    def sample(self, n: int, rng: np.random.Generator, new_style: float = 0.0) -> np.ndarray:
        """Draw n unit vectors; each comes from the unseen cluster with probability new_style."""
        cluster = rng.integers(0, self.k, size=n)
        if new_style > 0:
            cluster = np.where(rng.random(n) < new_style, self.k, cluster)
        a = rng.normal(0.0, 0.6 / np.sqrt(self.rank), size=(n, self.rank))
        x = 0.6 * self.u + self.centres[cluster] + np.einsum("nr,nrd->nd", a, self.bases[cluster])
        x += 0.02 * rng.standard_normal((n, self.d))
        return x / np.linalg.norm(x, axis=1, keepdims=True)
