"""A canary process for the crash-consistency test: ``python crash_worker.py CONFIG H1 H2 ...``.

Runs the given hours of MODEL in order (resuming: finished hours are left alone), answering
from the simulator's in-process core with the scenario each hour calls for, so a killed and
restarted process replays exactly what an uninterrupted one would have done.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from canary_env import T0  # noqa: E402

from canaryflow.config import load_config  # noqa: E402
from canaryflow.runs import Workspace, run_canary  # noqa: E402
from canaryflow.simulator import SimulatorCore  # noqa: E402
from canaryflow.simulator.testing import sim_client_factory  # noqa: E402

MODEL = "support-bot"
CHANGE_AT = 15
"""Hours from this one on answer with transposed EU dates (so incidents and alarms happen)."""


def main(config: str, hours: list[int]) -> None:
    cfg = load_config(config)
    core = SimulatorCore(seed=cfg.simulator.seed, noise=cfg.simulator.noise)
    ws = Workspace(cfg, client_factory=sim_client_factory(core))
    for h in hours:
        if h >= CHANGE_AT:
            core.set_scenario("date_transposition", rate=0.5)
        else:
            core.set_scenario("baseline")
        run_canary(ws, models=[MODEL], as_of=T0 + timedelta(hours=h), resume=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(h) for h in sys.argv[2:]])
