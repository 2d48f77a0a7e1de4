"""The simulator's HTTP surface: routes, auth, wire formats, admin, embeddings."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import anthropic
import numpy as np
import openai
import pytest

from canaryflow.config import SimulatorConfig
from canaryflow.simulator import SimulatorServer, get_state, reset, set_scenario


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict, str]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


MSG = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "say pong"}]}


def test_health_and_unknown_route(sim: SimulatorServer) -> None:
    with urllib.request.urlopen(sim.url + "/health", timeout=5) as resp:
        assert json.loads(resp.read()) == {"status": "ok"}
    status, _, _ = _post(sim.url + "/v1/nope", {}, {"x-api-key": "k"})
    assert status == 404


def test_either_auth_header_is_accepted_none_is_401(sim: SimulatorServer) -> None:
    assert _post(sim.url + "/v1/messages", MSG, {"x-api-key": "k"})[0] == 200
    assert _post(sim.url + "/v1/messages", MSG, {"authorization": "Bearer k"})[0] == 200
    status, _, body = _post(sim.url + "/v1/messages", MSG)
    assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"


def test_bad_request_is_400(sim: SimulatorServer) -> None:
    status, _, body = _post(sim.url + "/v1/chat/completions", {"model": "m"}, {"x-api-key": "k"})
    assert status == 400 and "messages" in body


def test_anthropic_sse_event_sequence(sim: SimulatorServer) -> None:
    _, headers, body = _post(sim.url + "/v1/messages", {**MSG, "stream": True}, {"x-api-key": "k"})
    assert headers["content-type"].startswith("text/event-stream")
    events = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert [e for e in events if e != "ping"] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


@pytest.mark.parametrize("include_usage", [False, True])
def test_openai_sse_usage_chunk_only_on_request(sim: SimulatorServer, include_usage: bool) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "Tell me about Rome and its history"}],
        "stream": True,
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    _, _, raw = _post(sim.url + "/v1/chat/completions", body, {"authorization": "Bearer k"})
    datas = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert len(chunks) > 4  # the answer arrives in several chunks
    usage_chunks = [c for c in chunks if c.get("usage")]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
        assert chunks[-1]["choices"] == []
    else:
        assert usage_chunks == []


def test_admin_scenario_switching(sim: SimulatorServer) -> None:
    state = set_scenario(sim.url, "date_transposition", rate=0.5)
    assert state["scenario"] == "date_transposition" and state["params"] == {"rate": 0.5}
    assert get_state(sim.url + "/v1")["scenario"] == "date_transposition"
    with pytest.raises(ValueError, match="unknown scenario"):
        set_scenario(sim.url, "nope")
    with pytest.raises(ValueError, match="no parameter"):
        set_scenario(sim.url, "refusal_spike", ratee=0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        set_scenario(sim.url, "refusal_spike", rate=2)
    assert get_state(sim.url)["scenario"] == "date_transposition"


def test_admin_counts_and_reset(sim: SimulatorServer) -> None:
    client = anthropic.Anthropic(api_key="k", base_url=sim.url, max_retries=0)
    for _ in range(3):
        client.messages.create(**MSG)
    assert get_state(sim.url)["requests"] == 3
    assert reset(sim.url)["requests"] == 0


def test_embeddings_through_the_openai_sdk(sim: SimulatorServer) -> None:
    client = openai.OpenAI(api_key="k", base_url=sim.openai_url, max_retries=0)
    texts = ["The cat sat on the mat.", "A cat sat on a mat.", "Quarterly revenue rose 5%."]
    r = client.embeddings.create(model="sim-embed", input=texts)
    vecs = np.array([d.embedding for d in r.data])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    again = client.embeddings.create(model="sim-embed", input=texts, encoding_format="float")
    assert np.allclose(np.array([d.embedding for d in again.data]), vecs, atol=1e-6)
    small = client.embeddings.create(model="sim-embed", input="hello", dimensions=16)
    assert len(small.data[0].embedding) == 16
    assert r.usage.prompt_tokens == sum(len(t.split()) for t in texts)


def test_stop_releases_the_port() -> None:
    server = SimulatorServer(SimulatorConfig())
    url = server.start()
    assert server.start() == url  # idempotent
    port = int(url.rsplit(":", 1)[1])
    server.stop()
    server.stop()
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(1)
        s.connect(("127.0.0.1", port))


def test_stop_does_not_wait_for_stalled_requests() -> None:
    """A stalled request (30 s) is dropped by stop(), not waited for.

    Checked by what happens, not by a stopwatch: the stalled handler never answers, so the
    client sees its connection dropped; had stop() waited, the request would have been
    answered after its stall.
    """
    import threading

    server = SimulatorServer(
        SimulatorConfig(scenario="error_burst"),
        params={"rate": 1.0, "kinds": "timeout", "timeout_sleep_s": 30},
    )
    server.start()
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0, timeout=60)
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            outcome.append(client.messages.create(**MSG))
        except anthropic.APIError as exc:
            outcome.append(exc)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    while t.is_alive() and server.state()["counts"].get("requests", 0) < 1:  # stalled now
        t.join(timeout=0.01)
    server.stop()
    t.join(timeout=25)  # far below the 30 s stall and the 60 s client timeout
    assert not t.is_alive(), "the stalled request outlived stop()"
    assert len(outcome) == 1 and isinstance(outcome[0], anthropic.APIConnectionError)
    assert not isinstance(outcome[0], anthropic.APITimeoutError)
