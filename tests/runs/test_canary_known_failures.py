"""Real models are imperfect: what already fails in the baseline is shown, not alarmed on."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from canary_env import T0, write_config

from canaryflow.config import load_config
from canaryflow.providers import FakeClient
from canaryflow.records import Completion
from canaryflow.runs import Workspace, run_canary
from canaryflow.simulator import SimulatorCore
from canaryflow.simulator.testing import core_reply

MODEL = "support-bot"


def test_family_failing_in_the_baseline_is_a_known_failure_not_an_alarm(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, seed=7311, warmup_runs=12))
    core = SimulatorCore(seed=cfg.simulator.seed, noise=cfg.simulator.noise)

    def factory(key, model_cfg, *, simulator=None, **_):  # type: ignore[no-untyped-def]
        def reply(req):  # type: ignore[no-untyped-def]
            family = req.metadata.get("family", "")
            if family == "arithmetic":  # this model never gets arithmetic right
                return Completion(
                    text="about 42, give or take",
                    finish_reason="stop",
                    input_tokens=10,
                    output_tokens=5,
                    latency_ms=5.0,
                )
            return core_reply(core, req, model_cfg.model, protocol=model_cfg.protocol)

        return FakeClient(reply, name=key, config=model_cfg.model_copy(update={"provider": "fake"}))

    ws = Workspace(cfg, client_factory=factory)
    outcomes = [run_canary(ws, models=[MODEL], as_of=T0 + timedelta(hours=h))[0] for h in range(14)]
    monitor = outcomes[12:]
    assert [o.summary["phase"] for o in outcomes] == ["warmup"] * 12 + ["monitor"] * 2
    for o in monitor:
        assert not o.incidents and not o.evaluation.alerts
        fams = {f.family: f for f in o.evaluation.families}
        assert (
            fams["arithmetic"].baseline_rate == 0.0 and fams["arithmetic"].verdict != "regression"
        )
        known = {k.probe for k in o.evaluation.known_failures}
        assert known and all(p.startswith("arith") for p in known)
    report = json.loads(Path(monitor[-1].report_paths.json).read_text())
    assert {k["item_id"] for k in report["known_failures"]} == known
