"""Embedders: one batched interface, three implementations, and a factory.

``HashingEmbedder`` (default) needs nothing but the standard library and numpy and is
deterministic across processes; ``SentenceTransformerEmbedder`` runs an offline MiniLM on CPU
(optional extra); ``OpenAIEmbedder`` calls any OpenAI-compatible embeddings endpoint, including
the bundled simulator. ``TopicClusters`` generates synthetic embeddings for drift tests.
"""

from canaryflow.embeddings._base import Embedder, l2_normalise, make_embedder
from canaryflow.embeddings._hashing import HashingEmbedder
from canaryflow.embeddings._remote import OpenAIEmbedder, SentenceTransformerEmbedder
from canaryflow.embeddings._synthetic import TopicClusters

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "TopicClusters",
    "l2_normalise",
    "make_embedder",
]
