"""The simulator's judge rule without HTTP: what it reads, how it scores, how it replies."""

from __future__ import annotations

import json

from canaryflow.judges import build_pairwise_request, build_request, shipped_rubric
from canaryflow.simulator.rules import SimRequest
from canaryflow.simulator.scenarios import SimulatorCore
from canaryflow.simulator.wire import anthropic_request, openai_request

QUALITY = shipped_rubric("quality")


def sim_request(req, **kw) -> SimRequest:
    system = req.messages[0].content
    messages = tuple((m.role, m.content) for m in req.messages[1:])
    tools = tuple(
        {"name": t.name, "description": t.description, "parameters": t.parameters}
        for t in req.tools
    )
    fmt = None
    if req.response_format is not None:
        fmt = {"type": "json_schema", "json_schema": {"name": req.response_format.name}}
    return SimRequest(
        system=system,
        messages=messages,
        model="m",
        max_tokens=req.max_tokens,
        temperature=0.0,
        tools=tools,
        tool_choice=req.tool_choice,
        response_format=fmt,
        **kw,
    )


def test_wire_parses_forced_tools_and_response_format() -> None:
    a = anthropic_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "t", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "t"},
        }
    )
    assert a.tool_choice == "t"
    o = openai_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "v"}},
        }
    )
    assert o.tool_choice == "f" and o.response_format["type"] == "json_schema"
    plain = openai_request({"model": "m", "messages": [], "tool_choice": "auto"})
    assert plain.tool_choice is None and plain.response_format is None


def _plan(req, core: SimulatorCore | None = None):
    return (core or SimulatorCore(seed=0, noise=0.0)).plan(sim_request(req))


def test_reply_forms() -> None:
    kw = {"input": "When?", "output": "On 2024-01-02.", "reference": "2024-01-02"}
    tool = _plan(build_request(QUALITY, mode="tool", **kw))
    assert tool.finish == "tool_use" and tool.tool_call["name"] == "submit_verdict"
    assert set(tool.tool_call["arguments"]["scores"]) == {"correctness", "completeness", "tone"}
    js = _plan(build_request(QUALITY, mode="json_schema", **kw))
    assert json.loads(js.text)["scores"]["correctness"] >= 4
    text = _plan(build_request(QUALITY, mode="text", **kw))
    assert text.text.startswith("Here is my verdict") and "```json" in text.text


def test_judge_faults_scenario_variants() -> None:
    kw = {"input": "When?", "output": "On 2024-01-02.", "reference": "2024-01-02"}
    for kind in ("malformed", "truncated", "out_of_range", "missing_dimension"):
        core = SimulatorCore(seed=0, noise=0.0, scenario="judge_faults", params={"kinds": kind})
        plan = _plan(build_request(QUALITY, mode="json_schema", **kw), core)
        assert plan.malformed_kind == kind
        if kind == "truncated":
            assert plan.finish == "length"
        if kind == "out_of_range":
            assert json.loads(plan.text)["scores"]["correctness"] == 7
        if kind == "missing_dimension":
            assert "tone" not in json.loads(plan.text)["scores"]
        assert core.state()["counts"]["judge_faults"] == 1


def test_noise_is_seeded_small_and_independent_per_occurrence() -> None:
    core = SimulatorCore(seed=11, noise=0.0)
    moved = 0
    n = 0
    for k in range(150):
        req = build_request(
            QUALITY, mode="json_schema", input="q", output=f"On 2024-01-02 ({k}).",
            reference="2024-01-02",
        )  # fmt: skip
        scores = [json.loads(core.plan(sim_request(req)).text)["scores"] for _ in range(2)]
        n += 6
        moved += sum(s[d] != {"correctness": 5, "completeness": 5, "tone": 5}[d]
                     for s in scores for d in s)  # fmt: skip
    assert 0.05 <= moved / n <= 0.15  # NOISE_RATE = 0.1 per dimension score


def test_pairwise_prefers_the_better_answer() -> None:
    req = build_pairwise_request(
        QUALITY, input="q", first="2024-09-01", second="2024-01-09", reference="2024-01-09",
        mode="json_schema",
    )  # fmt: skip
    prefs = json.loads(_plan(req).text)["preferences"]
    assert prefs["correctness"] == "B"
