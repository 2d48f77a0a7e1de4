"""Retries, timeouts, error recording, malformed bodies and key hygiene, against the simulator."""

from __future__ import annotations

import socket

import pytest

from canaryflow.config import ModelConfig
from canaryflow.errors import MissingAPIKeyError
from canaryflow.providers import make_client
from canaryflow.simulator import get_state
from canaryflow.simulator.testing import ask, run

PROTOCOLS = ["anthropic", "openai"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_429_then_success_is_retried_by_us_not_the_sdk(client_for, sim, protocol: str) -> None:
    sim.set_scenario("error_burst", kinds="429", fail_first=1, retry_after=0)
    c = run(client_for(protocol).complete(ask("say pong")))
    assert c.ok and c.text == "pong"
    assert c.attempts == 2
    counts = get_state(sim.url)["counts"]
    assert counts["requests"] == 2 and counts["errors_429"] == 1
    # every attempt is a fresh SDK call with max_retries=0: x-stainless-retry-count stays 0
    assert "sdk_retries" not in counts


class RecordedSleep:
    """Stands in for asyncio.sleep: records the waits the client chose, spends none of them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_huge_retry_after_is_capped(client_for, sim, protocol: str) -> None:
    sim.set_scenario("error_burst", kinds="429", fail_first=1, retry_after=3600)
    sleep = RecordedSleep()
    c = run(client_for(protocol, max_retry_after_s=0.2, sleep=sleep).complete(ask("say pong")))
    assert c.ok and c.attempts == 2
    assert sleep.waits == [0.2]  # the server asked for an hour
    counts = get_state(sim.url)["counts"]
    assert counts["requests"] == 2 and "sdk_retries" not in counts


@pytest.mark.parametrize(("cap", "waited"), [(5.0, 0.3), (0.1, 0.1)])
def test_retry_after_ms_is_honoured(client_for, sim, cap: float, waited: float) -> None:
    sim.set_scenario("error_burst", kinds="429", fail_first=1, retry_after_ms=300)
    sleep = RecordedSleep()
    c = run(client_for("openai", max_retry_after_s=cap, sleep=sleep).complete(ask("say pong")))
    assert c.ok and c.attempts == 2
    assert sleep.waits == [pytest.approx(waited)]


def test_backoff_without_retry_after_doubles(client_for, sim) -> None:
    sim.set_scenario("error_burst", kinds="500", rate=1.0)
    sleep = RecordedSleep()
    client = client_for("anthropic", max_retries=3, backoff_base_s=0.4, sleep=sleep)
    c = run(client.complete(ask("say pong")))
    assert (c.error_kind, c.attempts) == ("server", 4)
    assert len(sleep.waits) == 3
    for wait, base in zip(sleep.waits, (0.4, 0.8, 1.6), strict=True):
        assert 0.75 * base <= wait <= base  # jittered down, never up


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_persistent_429_is_recorded_after_max_retries(client_for, sim, protocol: str) -> None:
    sim.set_scenario("error_burst", kinds="429", rate=1.0, retry_after=0)
    c = run(client_for(protocol, max_retries=2).complete(ask("say pong")))
    assert not c.ok
    assert c.finish_reason == "error"
    assert (c.error_kind, c.status_code, c.attempts) == ("rate_limit", 429, 3)
    assert get_state(sim.url)["counts"]["requests"] == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_persistent_500_is_recorded_after_max_retries(client_for, sim, protocol: str) -> None:
    sim.set_scenario("error_burst", kinds="500", rate=1.0)
    c = run(client_for(protocol, max_retries=1).complete(ask("say pong")))
    assert (c.finish_reason, c.error_kind, c.status_code, c.attempts) == ("error", "server", 500, 2)
    assert "500" in (c.error or "")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("stream", [False, True])
def test_timeout_is_retried_then_recorded(client_for, sim, protocol: str, stream: bool) -> None:
    sim.set_scenario("error_burst", kinds="timeout", rate=1.0, timeout_sleep_s=5)
    client = client_for(protocol, timeout_s=0.3, max_retries=1)
    c = run(client.complete(ask("say pong", stream=stream)))
    # Both attempts were cut by our timeout (the server would have stalled 5 s each and then
    # answered): two requests reached it, neither was answered, none retried inside the SDK.
    assert (c.error_kind, c.attempts) == ("timeout", 2)
    assert c.error and "Timeout" in c.error
    counts = get_state(sim.url)["counts"]
    assert counts["requests"] == 2 and "sdk_retries" not in counts


def test_timeout_then_success(client_for, sim) -> None:
    sim.set_scenario("error_burst", kinds="timeout", fail_first=1, timeout_sleep_s=5)
    c = run(client_for("anthropic", timeout_s=0.3).complete(ask("say pong")))
    assert c.ok and c.attempts == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_connection_refused_is_recorded(api_key: str, protocol: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("/v1" if protocol == "openai" else "")
    cfg = ModelConfig(
        provider=protocol,
        model="m",
        base_url=base,
        api_key_env="CANARYFLOW_TEST_PROVIDER_KEY",
        max_retries=1,
        timeout_s=2,
    )
    c = run(make_client("down", cfg, backoff_base_s=0.01).complete(ask("say pong")))
    assert (c.error_kind, c.attempts, c.status_code) == ("connection", 2, None)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("kind", ["invalid_json", "missing_fields"])
@pytest.mark.parametrize("stream", [False, True])
def test_malformed_bodies_are_recorded(
    client_for, sim, protocol: str, kind: str, stream: bool
) -> None:
    sim.set_scenario("malformed_output", rate=1.0, kinds=kind)
    c = run(client_for(protocol).complete(ask("say pong", stream=stream)))
    assert c.finish_reason == "error"
    assert c.error_kind == "malformed", c.error
    assert c.attempts == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_error_burst_rate_mixes_failures_and_successes(client_for, sim, protocol: str) -> None:
    sim.set_scenario("error_burst", kinds="429,500", rate=0.5, retry_after=0)
    client = client_for(protocol, max_retries=0)
    results = [run(client.complete(ask(f"say pong {i}"))) for i in range(30)]
    failed = sum(not c.ok for c in results)
    assert 5 <= failed <= 25
    assert {c.status_code for c in results if not c.ok} <= {429, 500}


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CANARYFLOW_TEST_UNSET_KEY", raising=False)
    cfg = ModelConfig(provider="anthropic", model="m", api_key_env="CANARYFLOW_TEST_UNSET_KEY")
    with pytest.raises(MissingAPIKeyError) as info:
        make_client("claude", cfg)
    assert "CANARYFLOW_TEST_UNSET_KEY" in str(info.value)
    assert info.value.env_var == "CANARYFLOW_TEST_UNSET_KEY"


def test_real_provider_is_never_replaced_by_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError):
        make_client("gpt", ModelConfig(provider="openai", model="gpt-x"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("scenario", ["429", "500", "malformed"])
def test_key_never_in_error_text(client_for, sim, api_key: str, protocol: str, scenario: str):
    if scenario == "malformed":
        sim.set_scenario("malformed_output", rate=1.0, kinds="invalid_json")
    else:
        sim.set_scenario("error_burst", kinds=scenario, rate=1.0, retry_after=0)
    client = client_for(protocol, max_retries=0)
    c = run(client.complete(ask("say pong")))
    assert c.error
    assert api_key not in c.error and api_key not in c.model_dump_json()
    assert api_key not in repr(client)


def test_simulator_provider_uses_the_real_sdks() -> None:
    for protocol in PROTOCOLS:
        cfg = ModelConfig(provider="simulator", model=f"sim-{protocol}", protocol=protocol)
        client = make_client("sim", cfg)
        assert client.provider == protocol
        c = run(client.complete(ask("say pong")))
        assert c.ok and c.text == "pong" and c.model_returned == f"sim-{protocol}"
