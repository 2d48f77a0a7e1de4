"""The bundled LLM simulator: a local HTTP server speaking the Anthropic and OpenAI APIs.

Start it in-process::

    from canaryflow.simulator import SimulatorServer, set_scenario
    with SimulatorServer(SimulatorConfig(seed=7)) as sim:
        sim.url          # anthropic base_url
        sim.openai_url   # openai base_url (with /v1)
        set_scenario(sim.url, "date_transposition", rate=0.3)
"""

from canaryflow.simulator.admin import get_state, reset, set_scenario
from canaryflow.simulator.rules import SimAnswer, SimRequest, answer, rule
from canaryflow.simulator.scenarios import SCENARIOS, ScenarioError, SimulatorCore
from canaryflow.simulator.server import SimulatorServer, serve_forever

__all__ = [
    "SCENARIOS",
    "ScenarioError",
    "SimAnswer",
    "SimRequest",
    "SimulatorCore",
    "SimulatorServer",
    "answer",
    "get_state",
    "reset",
    "rule",
    "serve_forever",
    "set_scenario",
]
