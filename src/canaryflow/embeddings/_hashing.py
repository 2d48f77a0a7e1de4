"""A deterministic, dependency-free embedder: signed feature hashing of words and n-grams.

Feature hashing (Weinberger et al. 2009) maps each feature to one of ``dim`` buckets with a
pseudo-random sign, so inner products are preserved in expectation. Features are lower-cased
word unigrams and bigrams plus character n-grams inside word boundaries (like scikit-learn's
``char_wb``), weighted by ``1 + log(count)``. Hashes are BLAKE2b digests, never Python's
``hash()``, so vectors are identical across processes, machines and Python versions.

It captures surface form (wording, format, language, length of phrases), which is what a silent
model update changes first; it does not capture meaning the way a sentence encoder does.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from functools import lru_cache

import numpy as np

from canaryflow.embeddings._base import Embedder
from canaryflow.errors import CanaryflowError

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+", re.UNICODE)
_EMPTY = "\x00empty"


@lru_cache(maxsize=1 << 18)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return (value >> 1) % dim, (1.0 if value & 1 else -1.0)


class HashingEmbedder(Embedder):
    """Signed hashing of word 1–2-grams and character 3–5-grams into ``dim`` buckets.

    Args:
        dim: Output dimension (>= 16).
        char_ngrams: Inclusive range of character n-gram lengths (within word boundaries).
        word_ngrams: Inclusive range of word n-gram lengths.
    """

    def __init__(
        self,
        dim: int = 384,
        char_ngrams: tuple[int, int] = (3, 5),
        word_ngrams: tuple[int, int] = (1, 2),
    ) -> None:
        if not isinstance(dim, int) or dim < 16:
            raise CanaryflowError(f"HashingEmbedder dim must be an int >= 16, got {dim!r}")
        for name, (lo, hi) in (("char_ngrams", char_ngrams), ("word_ngrams", word_ngrams)):
            if not 1 <= lo <= hi:
                raise CanaryflowError(f"{name} must be (lo, hi) with 1 <= lo <= hi")
        self._dim = dim
        self.char_ngrams = tuple(char_ngrams)
        self.word_ngrams = tuple(word_ngrams)
        c, w = self.char_ngrams, self.word_ngrams
        self.name = f"hashing-blake2b-d{dim}-w{w[0]}{w[1]}-c{c[0]}{c[1]}"

    @property
    def dim(self) -> int:
        """Output dimension."""
        return self._dim

    def features(self, text: str) -> Counter[str]:
        """The hashed features of one text with their counts (for inspection and tests)."""
        words = _WORD.findall(text.lower())
        feats: Counter[str] = Counter()
        lo, hi = self.word_ngrams
        for k in range(lo, hi + 1):
            for i in range(len(words) - k + 1):
                feats["w:" + " ".join(words[i : i + k])] += 1
        clo, chi = self.char_ngrams
        for word in words:
            padded = f" {word} "
            for k in range(clo, chi + 1):
                for i in range(len(padded) - k + 1):
                    feats["c:" + padded[i : i + k]] += 1
        if not feats:  # empty or punctuation-only text still gets a direction of its own
            feats[_EMPTY] = 1
        return feats

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float64)
        for row, text in enumerate(texts):
            vec = out[row]
            for feat, n in self.features(text).items():
                idx, sign = _bucket(feat, self._dim)
                vec[idx] += sign * (1.0 + math.log(n))
            if not vec.any():  # all features cancelled out (vanishingly rare)
                idx, sign = _bucket(_EMPTY, self._dim)
                vec[idx] = sign
        return out
