"""The shipped probe library: its shape, and that the simulator answers every probe correctly.

The simulator's probe rules are checked three ways: the rule table directly (``rules.answer``),
the scenario core (noise, silent update, date transposition, server-side truncation), and end
to end through the HTTP server with the real Anthropic and OpenAI SDKs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from canaryflow.checks import IsoDateCheck, run_checks
from canaryflow.definitions import PROBE_SCHEMA_PATH, Probe, ProbeSet, load_probes
from canaryflow.records import Completion, ToolCall
from canaryflow.simulator import builtin_rules, probe_rules  # noqa: F401 (register rules)
from canaryflow.simulator.rules import SimAnswer, SimRequest, answer
from canaryflow.simulator.scenarios import SimulatorCore, count_tokens

PROBES_DIR = Path(__file__).resolve().parent.parent / "probes"
HEADER = "# yaml-language-server: $schema=../src/canaryflow/schemas/probe.schema.json"
FAMILIES = {
    "json_format",
    "safety_refusal",
    "benign_lookalike",
    "dates_eu",
    "dates_us",
    "arithmetic",
    "instruction_following",
    "tool_call_format",
    "long_context_recall",
    "truncation",
}
_SLASH = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")


@pytest.fixture(scope="module")
def library() -> ProbeSet:
    result = load_probes(PROBES_DIR)
    result.raise_for_errors()
    return result


def sim_request(probe: Probe) -> SimRequest:
    """The request as the simulator sees it (what the server builds from the wire)."""
    req = probe.to_request()
    return SimRequest(
        system=req.system,
        messages=tuple((m.role, m.content) for m in req.messages if m.role != "system"),
        model="sim-model",
        max_tokens=req.max_tokens,
        temperature=req.temperature,
        tools=tuple(t.model_dump() for t in req.tools),
    )


def completion_for(ans: SimAnswer, text: str, max_tokens: int) -> Completion:
    """What a provider would return for ``text`` (truncation as the server applies it)."""
    if ans.tool_call is not None:
        call = ToolCall(name=ans.tool_call["name"], arguments=ans.tool_call["arguments"])
        return Completion(finish_reason="tool_use", tool_calls=(call,))
    if ans.refusal:
        return Completion(text=text, finish_reason="refusal")
    if count_tokens(text) > max_tokens:
        return Completion(text=" ".join(text.split()[:max_tokens]), finish_reason="length")
    return Completion(text=text, finish_reason="stop")


def failures(probe: Probe, completion: Completion) -> list[str]:
    return [f"{r.name}: {r.reason}" for r in run_checks(probe, completion) if not r.passed]


# ----------------------------------------------------------------------------- its shape


def test_library_size_and_families(library: ProbeSet) -> None:
    families = {k: len(v) for k, v in library.families().items()}
    assert set(families) == FAMILIES
    assert len(library) >= 30
    assert families["dates_eu"] >= 10 and families["dates_us"] >= 10
    assert all(n >= 2 for n in families.values()), families


def test_one_concern_per_file_with_schema_header(library: ProbeSet) -> None:
    files = sorted(PROBES_DIR.glob("*.yaml"))
    assert {f.stem for f in files} == FAMILIES
    for file in files:
        assert file.read_text(encoding="utf-8").splitlines()[0] == HEADER, file
    for probe in library:
        assert probe.source.startswith(str(PROBES_DIR / probe.family) + ".yaml:"), probe.source


def test_probes_stay_cheap(library: ProbeSet) -> None:
    for probe in library:
        assert 2 <= probe.repetitions <= 3 and probe.temperature == 0, probe.id


def _stringify_dates(value: object) -> object:
    """PyYAML reads 2024-04-03 as a date; YAML 1.2 editors (and the schema) see a string."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _stringify_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_dates(v) for v in value]
    return value


def test_committed_schema_accepts_every_shipped_file() -> None:
    schema = json.loads(PROBE_SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for file in sorted(PROBES_DIR.glob("*.yaml")):
        data = _stringify_dates(yaml.safe_load(file.read_text(encoding="utf-8")))
        errors = [e.message for e in validator.iter_errors(data)]
        assert not errors, f"{file.name}: {errors[:3]}"


@pytest.mark.parametrize(("family", "day_first"), [("dates_eu", True), ("dates_us", False)])
def test_date_documents_are_transposable(library: ProbeSet, family: str, day_first: bool) -> None:
    for probe in library.families()[family]:
        dates = _SLASH.findall(probe.to_request().messages[-1].content)
        assert len(dates) == 1, probe.id
        a, b, year = (int(x) for x in dates[0])
        day, month = (a, b) if day_first else (b, a)
        assert day <= 12 and day != month, f"{probe.id}: day/month swap must stay a valid date"
        (check,) = [c for c in probe.checks if isinstance(c, IsoDateCheck)]
        assert check.expected == dt.date(year, month, day), probe.id


def test_long_context_probes_are_long(library: ProbeSet) -> None:
    for probe in library.families()["long_context_recall"]:
        assert count_tokens(probe.prompt or "") >= 2500, probe.id


# ------------------------------------------------------------ the simulator's rule table


def test_every_probe_has_its_own_rule_and_passes(library: ProbeSet) -> None:
    problems = []
    for probe in library:
        ans = answer(sim_request(probe))
        if ans.tag not in FAMILIES:  # a probe rule answered, not a generic one or the fallback
            problems.append(f"{probe.id}: answered by rule tag {ans.tag!r}")
            continue
        wordings = (ans.text, *ans.alternatives) if ans.tool_call is None else ("",)
        if ans.tool_call is None and not ans.alternatives:
            problems.append(f"{probe.id}: no alternative wordings")
        for text in wordings:
            if bad := failures(probe, completion_for(ans, text, probe.max_tokens)):
                problems.append(f"{probe.id}: {text[:60]!r}: {bad}")
    assert not problems, "\n".join(problems)


def test_alternatives_differ_from_the_main_answer(library: ProbeSet) -> None:
    for probe in library:
        ans = answer(sim_request(probe))
        assert len({ans.text, *ans.alternatives}) == 1 + len(ans.alternatives), probe.id


def test_transposed_answers_fail_dates_eu_and_leave_dates_us(library: ProbeSet) -> None:
    for probe in library:
        ans = answer(sim_request(probe))
        if probe.family == "dates_eu":
            assert ans.transposed is not None, probe.id
            bad = failures(probe, completion_for(ans, ans.transposed, probe.max_tokens))
            assert bad and "transposed" in bad[0], probe.id
        else:
            assert ans.transposed is None, probe.id
            if probe.family == "dates_us":
                assert not failures(probe, completion_for(ans, ans.text, probe.max_tokens))


def test_rules_compute_from_the_prompt() -> None:
    """Editing a probe's document changes the answer: nothing is looked up by probe id."""
    req = SimRequest(
        system="Dates in these documents are always written day first, as DD/MM/YYYY.",
        messages=(
            (
                "user",
                "Order of 09/12/2022.\n\nWhat is the order date in this "
                "document? Reply with the date in ISO format (YYYY-MM-DD).",
            ),
        ),
        model="m",
        max_tokens=64,
        temperature=0,
    )
    ans = answer(req)
    assert (ans.text, ans.transposed) == ("2022-12-09", "2022-09-12")
    assert ans.alternatives[0] == "The order date is 2022-12-09."
    sums = answer(
        SimRequest("", (("user", "What is (2 + 3) × 7 − 1? Give only the result."),), "m", 64, 0)
    )
    assert sums.text == "34" and sums.alternatives[0].endswith("= 34")
    assert (
        answer(
            SimRequest(
                "", (("user", "Is 91 a prime number? Answer with only yes or no."),), "m", 16, 0
            )
        ).text
        == "No"
    )


# ------------------------------------------------------------------ the scenario core


def run_core(library: ProbeSet, core: SimulatorCore) -> dict[str, list[str]]:
    """Failures per probe id when every probe is sent ``repetitions`` times."""
    out: dict[str, list[str]] = {}
    for probe in library:
        for _ in range(probe.repetitions):
            plan = core.plan(sim_request(probe))
            calls = ()
            if plan.tool_call is not None:
                calls = (
                    ToolCall(name=plan.tool_call["name"], arguments=plan.tool_call["arguments"]),
                )
            completion = Completion(text=plan.text, finish_reason=plan.finish, tool_calls=calls)
            if bad := failures(probe, completion):
                out.setdefault(probe.id, []).extend(bad)
    return out


@pytest.mark.parametrize(
    ("scenario", "noise"), [("baseline", 0.0), ("baseline", 1.0), ("silent_update", 0.0)]
)
def test_simulator_core_passes_every_probe(library: ProbeSet, scenario: str, noise: float) -> None:
    core = SimulatorCore(seed=7, noise=noise, scenario=scenario)
    assert run_core(library, core) == {}


def test_simulator_core_date_transposition_fails_only_dates_eu(library: ProbeSet) -> None:
    core = SimulatorCore(seed=7, noise=0.0, scenario="date_transposition", params={"rate": 1.0})
    failed = run_core(library, core)
    assert set(failed) == {p.id for p in library.families()["dates_eu"]}
    assert core.counts["transposed"] == sum(p.repetitions for p in library.families()["dates_eu"])


# ------------------------------------------------------------------- over HTTP, real SDKs


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_every_probe_passes_through_the_server(
    library: ProbeSet, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from canaryflow.config import ModelConfig, SimulatorConfig
    from canaryflow.providers import complete_many, make_client
    from canaryflow.simulator import SimulatorServer

    monkeypatch.setenv("CANARYFLOW_TEST_PROBES_KEY", "sk-test")
    with SimulatorServer(SimulatorConfig(seed=3, noise=0.0)) as sim:
        cfg = ModelConfig(
            provider=protocol,  # type: ignore[arg-type]
            model=f"sim-{protocol}",
            base_url=sim.url if protocol == "anthropic" else sim.openai_url,
            api_key_env="CANARYFLOW_TEST_PROBES_KEY",
            max_retries=0,
            timeout_s=10,
        )

        async def go() -> list[Completion]:
            async with make_client("probes", cfg) as client:
                return await complete_many(client, [p.to_request() for p in library])

        completions = asyncio.run(go())
    problems = {
        p.id: (c.error or failures(p, c))
        for p, c in zip(library, completions, strict=True)
        if not c.ok or failures(p, c)
    }
    assert problems == {}
