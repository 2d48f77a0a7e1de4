"""The ``flaky_probes`` scenario: failures correlated within a run, as at temperature 0."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import anthropic
import pytest

from canaryflow.config import SimulatorConfig
from canaryflow.definitions import load_probes
from canaryflow.runs._probing import to_item
from canaryflow.simulator import SimRequest, SimulatorCore, SimulatorServer
from canaryflow.simulator.scenarios import REFUSAL_TEXT, ScenarioError
from canaryflow.simulator.server import RUN_HEADER
from canaryflow.simulator.testing import core_reply

PROBES = Path(__file__).resolve().parents[2] / "probes"
REPS = 3


def req(prompt: str, run: str) -> SimRequest:
    return SimRequest(
        system="", messages=(("user", prompt),), model="m", max_tokens=50, temperature=0.0, run=run
    )


def failed(core: SimulatorCore, prompt: str, run: str) -> int:
    return sum(core.plan(req(prompt, run)).text == REFUSAL_TEXT for _ in range(REPS))


def test_a_flaky_prompt_fails_all_its_repetitions_in_the_runs_where_it_fails() -> None:
    core = SimulatorCore(seed=3, noise=0.0, scenario="flaky_probes")
    core.set_scenario("flaky_probes", flaky_share=1.0, flaky_rate=0.25, steady_share=0.0)
    per_run = Counter(failed(core, f"question {i}", f"2024-05-01T{h:02d}") for i in range(40)
                      for h in range(24))  # fmt: skip
    assert set(per_run) == {0, REPS}  # all or nothing within a run ...
    assert 0.05 < per_run[REPS] / per_run.total() < 0.45  # ... at the prompts' own rates
    params = {"flaky_share": 1.0, "flaky_rate": 0.25, "steady_share": 0.0}
    runs = [f"r{h}" for h in range(30)]
    first = [failed(SimulatorCore(seed=3, scenario="flaky_probes", params=params), "q1", r)
             for r in runs]  # fmt: skip
    assert first == [failed(core, "q1", r) for r in runs]  # seeded: the same runs fail


def test_steady_prompts_fail_repetitions_independently_and_most_prompts_never_fail() -> None:
    steady = {"flaky_share": 0.0, "steady_share": 1.0, "steady_rate": 0.3}
    core = SimulatorCore(seed=4, noise=0.0, scenario="flaky_probes", params=steady)
    fails = Counter(failed(core, f"q{i}", "r") for i in range(400))
    assert set(fails) == {0, 1, 2, 3}  # binomial, not all-or-nothing
    assert 0.25 < sum(k * v for k, v in fails.items()) / (REPS * 400) < 0.35
    default = SimulatorCore(seed=4, noise=0.0, scenario="flaky_probes")
    never = sum(failed(default, f"q{i}", f"r{h}") == 0 for i in range(200) for h in range(5))
    assert never > 0.9 * 1000
    with pytest.raises(ScenarioError, match="flaky_share"):
        default.set_scenario("flaky_probes", flaky_share=1.5)


def test_every_shipped_probe_fails_its_checks_when_it_fails() -> None:
    always = {"flaky_share": 0.0, "steady_share": 1.0, "steady_rate": 1.0}
    core = SimulatorCore(seed=5, noise=0.0, scenario="flaky_probes", params=always)
    as_of = datetime(2024, 5, 1, tzinfo=UTC)
    passed = {
        p.id: to_item(p, 0, core_reply(core, p.to_request(), "m"), run_id="r", model_key="m",
                      as_of=as_of).passed
        for p in load_probes(PROBES).probes
    }  # fmt: skip
    assert passed and not any(passed.values()), [k for k, v in passed.items() if v]


def test_the_http_simulator_keys_runs_on_the_run_header() -> None:
    cfg = SimulatorConfig(seed=6, noise=0.0, scenario="flaky_probes")
    params = {"flaky_share": 1.0, "flaky_rate": 0.25, "steady_share": 0.0}
    with SimulatorServer(cfg, params=params) as sim:
        client = anthropic.Anthropic(api_key="k", base_url=sim.url, max_retries=0)

        def ask(i: int, run: str) -> str:
            msg = client.messages.create(
                model="m",
                max_tokens=20,
                messages=[{"role": "user", "content": f"question {i}"}],
                extra_headers={RUN_HEADER: run},
            )
            return msg.content[0].text if msg.content else ""

        core = SimulatorCore(seed=6, noise=0.0, scenario="flaky_probes", params=params)
        for h in range(6):
            run = f"2024-05-01T{h:02d}"
            got = [ask(i, run) == REFUSAL_TEXT for i in range(10)]
            assert got == [core.plan(req(f"question {i}", run)).text == REFUSAL_TEXT
                           for i in range(10)]  # fmt: skip
