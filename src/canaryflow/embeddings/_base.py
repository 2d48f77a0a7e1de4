"""The one embedder interface and the factory that builds embedders by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from canaryflow.errors import CanaryflowError

__all__ = ["Embedder", "l2_normalise", "make_embedder"]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32; an all-zero row raises (it has no direction)."""
    arr = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if arr.size and not np.all(np.isfinite(arr)):
        raise CanaryflowError("the embedder returned NaN/inf values")
    if np.any(norms == 0):
        raise CanaryflowError("the embedder returned an all-zero vector, which has no direction")
    return (arr / norms).astype(np.float32)


class Embedder(ABC):
    """Turns a batch of texts into unit vectors.

    Attributes:
        name: Identifies the embedder and its configuration; baselines record it, so vectors
            from different embedders are never compared.
    """

    name: str

    @property
    @abstractmethod
    def dim(self) -> int:
        """Dimension d of the vectors."""

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Raw (n, d) vectors for a non-empty list of texts."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts.

        Args:
            texts: The texts (a single ``str`` is rejected: pass ``[text]``).

        Returns:
            float32 array of shape (len(texts), dim), each row of unit L2 norm.
        """
        if isinstance(texts, str):
            raise CanaryflowError("embed() takes a sequence of texts; wrap a single text in [...]")
        items = list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise CanaryflowError(f"text {i} is a {type(t).__name__}, not a str")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = l2_normalise(self._embed(items))
        if out.shape != (len(items), self.dim):
            raise CanaryflowError(
                f"{self.name}: expected shape {(len(items), self.dim)}, got {out.shape}"
            )
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} dim={self.dim}>"


_KINDS = ("hashing", "openai", "sentence-transformers")


def make_embedder(kind: str = "hashing", **kwargs: Any) -> Embedder:
    """Build an embedder by name.

    Args:
        kind: "hashing" (default, no downloads), "sentence-transformers" (alias "local",
            offline MiniLM) or "openai" (any OpenAI-compatible /v1/embeddings endpoint).
        **kwargs: Passed to the embedder's constructor.

    Returns:
        The :class:`Embedder`.
    """
    from canaryflow.embeddings._hashing import HashingEmbedder
    from canaryflow.embeddings._remote import OpenAIEmbedder, SentenceTransformerEmbedder

    key = kind.strip().lower().replace("_", "-")
    if key == "hashing":
        return HashingEmbedder(**kwargs)
    if key in ("sentence-transformers", "local", "minilm"):
        return SentenceTransformerEmbedder(**kwargs)
    if key == "openai":
        return OpenAIEmbedder(**kwargs)
    raise CanaryflowError(f"unknown embedder kind {kind!r}; choose one of {', '.join(_KINDS)}")
