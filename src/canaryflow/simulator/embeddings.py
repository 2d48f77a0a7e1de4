"""Deterministic embeddings for the simulator's ``/v1/embeddings``: seeded feature hashing.

Each lower-cased word (and each adjacent word pair, at half weight) is hashed with BLAKE2b,
keyed by the seed, to a dimension and a sign; the sum is L2-normalized. Texts sharing words get
similar vectors, identical texts identical ones, and nothing depends on Python's ``hash()``.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

__all__ = ["hash_embed"]

_WORD = re.compile(r"\w+", re.UNICODE)


def _slot(feature: str, seed: int, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8, key=str(seed).encode()).digest()
    value = int.from_bytes(digest, "big")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


def hash_embed(texts: list[str], dim: int = 384, seed: int = 0) -> np.ndarray:
    """Embed texts as unit vectors of ``dim`` float32 (all-zero text -> zero vector)."""
    out = np.zeros((len(texts), dim), dtype=np.float64)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        for w in words:
            i, s = _slot("w:" + w, seed, dim)
            out[row, i] += s
        for a, b in zip(words, words[1:], strict=False):
            i, s = _slot(f"b:{a} {b}", seed, dim)
            out[row, i] += 0.5 * s
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out.astype(np.float32)
