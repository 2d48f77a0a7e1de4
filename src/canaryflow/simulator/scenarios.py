"""Scenarios and the simulator's decision core, independent of HTTP.

``SimulatorCore.plan(req)`` decides everything about one reply (text, finish reason, tokens,
latency, or which failure to inject) from the request, the seed, the active scenario and the
*occurrence index* of that identical request content. Every random draw is a hashlib hash of
those inputs, never ``random`` or ``hash()``, so a seed reproduces a run whatever order
concurrent requests arrive in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from canaryflow.simulator.rules import SimAnswer, SimRequest, answer

__all__ = [
    "COMPLY_TEXT",
    "FILLER_SENTENCES",
    "REFUSAL_TEXT",
    "SCENARIOS",
    "Plan",
    "ScenarioError",
    "SimulatorCore",
    "count_tokens",
    "draw",
]

SCENARIOS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "date_transposition": {"rate": 0.3},
    "verbosity_drift": {"rate": 1.0, "sentences": 3},
    "refusal_spike": {"rate": 0.5},
    "latency_regression": {"ttft_ms": 300.0, "per_token_ms": 20.0},
    "error_burst": {
        "rate": 0.5,
        "retry_after": 1.0,
        "retry_after_ms": None,
        "timeout_sleep_s": 30.0,
        "kinds": "429,500,timeout",
        "fail_first": None,
    },
    "malformed_output": {"rate": 0.5, "kinds": "invalid_json,missing_fields"},
    "silent_update": {},
    "judge_faults": {"rate": 1.0, "kinds": "malformed,truncated,out_of_range,missing_dimension"},
    "candidate_regression": {"rate": 0.3},
    "flaky_probes": {
        "flaky_share": 0.04,
        "flaky_rate": 0.1,
        "flaky_reps": 1.0,
        "steady_share": 0.03,
        "steady_rate": 0.3,
    },
}
"""Scenario names and their parameters with defaults (unknown names or params are rejected).

- ``date_transposition.rate``: share of prompts (chosen by a hash of seed and prompt, so always
  the same ones) answered with the rule's ``transposed`` variant.
- ``verbosity_drift.rate`` / ``sentences``: share of replies padded and how many filler sentences.
- ``refusal_spike.rate``: share of replies that refuse.
- ``latency_regression.ttft_ms`` / ``per_token_ms``: extra latency on top of the baseline.
- ``error_burst.rate``: share of requests that fail; ``kinds`` (comma list of 429, 500,
  timeout) which failures; ``retry_after`` seconds (or ``retry_after_ms``) sent with 429s;
  ``timeout_sleep_s`` how long a "timeout" stalls; ``fail_first`` (int) fails exactly the first N
  occurrences of each identical request instead of drawing by ``rate``.
- ``malformed_output.rate`` / ``kinds`` (invalid_json, missing_fields).
- ``judge_faults.rate`` / ``kinds``: share of *judge* replies (``simulator/judge_rules.py``)
  replaced by a broken verdict: ``malformed`` (not JSON), ``truncated`` (cut off, finish
  ``length``), ``out_of_range`` (a score outside the scale), ``missing_dimension``.
- ``silent_update``: every reply uses its first alternative wording and the OpenAI
  ``system_fingerprint`` changes; the returned model name does not.
- ``candidate_regression.rate``: a silently worse model: ``silent_update``'s wording and
  fingerprint, and a share of prompts (chosen by a hash of seed and prompt, so the same ones on
  every repetition) answered with the rule's ``degraded`` variant (else ``transposed``).
- ``flaky_probes``: an unchanged model with realistic, *correlated* failures, as seen at
  temperature 0. A seeded share ``flaky_share`` of prompts (per model) is flaky: in each run
  (the request's ``run``, else the current UTC hour) such a prompt is in its failing state with
  its own probability, drawn uniformly in [0, 2 x ``flaky_rate``], and then fails each
  repetition with probability ``flaky_reps`` (1.0: all of them together). A share
  ``steady_share`` of prompts fails every repetition independently at ``steady_rate``, so the
  baseline pass rate is below 100 %. A failure refuses a request that should be answered and
  answers one that should be refused, so every check type sees it.
"""

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
COMPLY_TEXT = "Sure. Here is exactly what you asked for, step by step."
"""What a flaky failure says to a request that should have been refused."""

FILLER_SENTENCES = (
    "I hope this helps clarify things for you.",
    "Please let me know if you have any other questions.",
    "It is worth noting that context can matter here.",
    "As always, double-check important details.",
    "There are several factors one could consider.",
    "This is a common question and a good one to ask.",
)


class ScenarioError(ValueError):
    """An unknown scenario or parameter was requested through the admin endpoint."""


def draw(*parts: object) -> float:
    """A uniform number in [0, 1) from a SHA-256 of the parts (stable across processes)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def count_tokens(text: str) -> int:
    """The simulator's tokenizer: whitespace-separated words."""
    return len(text.split())


_TOKEN_RE = re.compile(r"\s*\S+")


def split_tokens(text: str) -> list[str]:
    """Split text into whitespace tokens, each keeping its leading whitespace."""
    return _TOKEN_RE.findall(text)


FinishKind = Literal["stop", "length", "tool_use", "refusal"]


@dataclass
class Plan:
    """Everything the HTTP layer needs to render one reply or one injected failure."""

    outcome: Literal["ok", "http_error", "timeout", "malformed"] = "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = ""
    malformed_kind: str = ""
    text: str = ""
    tool_call: dict | None = None
    finish: FinishKind = "stop"
    input_tokens: int = 0
    output_tokens: int = 0
    chunks: list[str] = field(default_factory=list)
    """The text as streamed, in pieces (one whitespace token each)."""
    ttft_s: float = 0.0
    per_token_s: float = 0.0
    sleep_s: float = 0.0
    """For ``timeout``: how long to stall before answering."""
    model: str = ""
    fingerprint: str = ""
    request_id: str = ""
    tag: str = ""


class SimulatorCore:
    """The thread-safe state of one simulator: seed, noise, scenario, counters."""

    def __init__(
        self,
        seed: int = 0,
        noise: float = 0.02,
        scenario: str = "baseline",
        params: dict[str, Any] | None = None,
        *,
        base_ttft_ms: float = 2.0,
        base_per_token_ms: float = 0.2,
    ) -> None:
        self.seed = seed
        self.noise = noise
        self.base_ttft_ms = base_ttft_ms
        self.base_per_token_ms = base_per_token_ms
        self._lock = threading.Lock()
        self._occurrences: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._request_no = 0
        self.scenario = "baseline"
        self.params: dict[str, Any] = {}
        self.set_scenario(scenario, **(params or {}))

    # -- admin -------------------------------------------------------------------------------

    def set_scenario(self, name: str, **params: Any) -> None:
        """Switch scenario; params are checked against ``SCENARIOS[name]`` and defaulted."""
        if name not in SCENARIOS:
            raise ScenarioError(f"unknown scenario {name!r}; known: {sorted(SCENARIOS)}")
        defaults = SCENARIOS[name]
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ScenarioError(
                f"scenario {name!r} has no parameter(s) {unknown}; known: {sorted(defaults)}"
            )
        merged = {**defaults, **params}
        if "kinds" in merged:
            (_judge_fault_kinds if name == "judge_faults" else _kinds)(merged["kinds"])
        for key in (
            "rate",
            "flaky_share",
            "flaky_rate",
            "flaky_reps",
            "steady_share",
            "steady_rate",
        ):
            if key in merged and not 0.0 <= float(merged[key]) <= 1.0:
                raise ScenarioError(f"{name}.{key} must be in [0, 1], got {merged[key]!r}")
        with self._lock:
            self.scenario = name
            self.params = merged

    def reset(self) -> None:
        """Forget counters and occurrence indices (a fresh simulator with the same settings)."""
        with self._lock:
            self._occurrences.clear()
            self.counts.clear()
            self._request_no = 0

    def count(self, key: str, n: int = 1) -> None:
        """Increment a named counter."""
        with self._lock:
            self.counts[key] += n

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot: scenario, params, seed, noise, counters."""
        with self._lock:
            return {
                "scenario": self.scenario,
                "params": dict(self.params),
                "seed": self.seed,
                "noise": self.noise,
                "counts": dict(self.counts),
                "requests": self.counts.get("requests", 0),
            }

    # -- decisions ---------------------------------------------------------------------------

    def fingerprint(self, scenario: str) -> str:
        """The OpenAI ``system_fingerprint``: changes only under ``silent_update``."""
        variant = "updated" if scenario in ("silent_update", "candidate_regression") else "base"
        return "fp_" + hashlib.sha256(f"{self.seed}:{variant}".encode()).hexdigest()[:10]

    @staticmethod
    def content_key(req: SimRequest) -> str:
        """A hash of the scenario-independent content of a request."""
        payload = json.dumps(
            [req.system, list(req.messages), list(req.tools)], sort_keys=True, default=str
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def plan(self, req: SimRequest) -> Plan:
        """Decide the reply (or the failure) for one request."""
        key = self.content_key(req)
        with self._lock:
            occurrence = self._occurrences[key]
            self._occurrences[key] += 1
            self._request_no += 1
            request_no = self._request_no
            scenario, params = self.scenario, dict(self.params)
            self.counts["requests"] += 1
        seed = self.seed
        plan = Plan(
            model=req.model,
            fingerprint=self.fingerprint(scenario),
            request_id=f"req_sim_{seed}_{request_no:08d}",
        )
        plan.ttft_s = self.base_ttft_ms / 1000
        plan.per_token_s = self.base_per_token_ms / 1000
        if scenario == "latency_regression":
            plan.ttft_s += float(params["ttft_ms"]) / 1000
            plan.per_token_s += float(params["per_token_ms"]) / 1000

        if scenario == "error_burst" and self._fails(params, seed, key, occurrence):
            self._inject_error(plan, params, seed, key, occurrence)
            if plan.outcome == "http_error":
                return plan
        if scenario == "malformed_output" and draw(seed, "malformed", key, occurrence) < float(
            params["rate"]
        ):
            kinds = _kinds(params["kinds"])
            plan.outcome = "malformed"
            plan.malformed_kind = kinds[
                int(draw(seed, "malformed-kind", key, occurrence) * len(kinds))
            ]
            self.count("malformed")

        ans = answer(dataclasses.replace(req, seed=seed, occurrence=occurrence))
        if (
            scenario == "judge_faults"
            and ans.faults
            and draw(seed, "judge-fault", key, occurrence) < float(params["rate"])
        ):
            wanted = [k for k in _judge_fault_kinds(params["kinds"])]
            faults = [(k, a) for k, a in ans.faults if k in wanted]
            if faults:
                kind, ans = faults[
                    int(draw(seed, "judge-fault-kind", key, occurrence) * len(faults))
                ]
                plan.malformed_kind = kind
                self.count("judge_faults")
        plan.tag = ans.tag
        if scenario == "flaky_probes" and self._flaky_fails(req, params, key, occurrence):
            self.count("flaky_failures")
            if ans.refusal:
                plan.text, plan.finish = COMPLY_TEXT, "stop"
            else:
                plan.text, plan.finish = REFUSAL_TEXT, "refusal"
            return self._finish(plan, req)
        refuse = ans.refusal or (
            scenario == "refusal_spike"
            and draw(seed, "refusal", key, occurrence) < float(params["rate"])
        )
        if refuse:
            plan.text, plan.finish = (ans.text or REFUSAL_TEXT), "refusal"
            if scenario == "refusal_spike" and not ans.refusal:
                plan.text = REFUSAL_TEXT
                self.count("refusals")
        elif ans.tool_call is not None and req.tools:
            plan.tool_call = {
                "name": ans.tool_call["name"],
                "arguments": ans.tool_call.get("arguments", {}),
            }
            plan.finish = "tool_use"
        else:
            plan.text = self._choose_text(ans, req, scenario, params, seed, key, occurrence)
        return self._finish(plan, req)

    @staticmethod
    def _finish(plan: Plan, req: SimRequest) -> Plan:
        """Token counts, the max_tokens cut and the streamed pieces of a decided reply."""
        plan.input_tokens = max(
            1, count_tokens(req.system) + sum(count_tokens(c) for _, c in req.messages)
        )
        if plan.tool_call is not None:
            plan.output_tokens = max(1, count_tokens(json.dumps(plan.tool_call["arguments"])) + 1)
        else:
            tokens = split_tokens(plan.text)
            if len(tokens) > req.max_tokens:
                tokens = tokens[: max(0, req.max_tokens)]
                plan.text = "".join(tokens).lstrip()
                plan.finish = "length"
                tokens = split_tokens(plan.text)
            plan.output_tokens = len(tokens)
            plan.chunks = tokens
            if plan.malformed_kind == "truncated":
                plan.finish = "length"
        return plan

    def _flaky_fails(
        self, req: SimRequest, params: dict[str, Any], key: str, occurrence: int
    ) -> bool:
        """Whether this repetition fails under ``flaky_probes`` (correlated within a run)."""
        seed, model = self.seed, req.model
        run = req.run or datetime.now(UTC).strftime("%Y-%m-%dT%H")
        if draw(seed, "flaky-probe", model, key) < float(params["flaky_share"]):
            own_rate = 2 * float(params["flaky_rate"]) * draw(seed, "flaky-own", model, key)
            if draw(seed, "flaky-run", model, key, run) < own_rate:
                return draw(seed, "flaky-rep", model, key, occurrence) < float(params["flaky_reps"])
            return False
        if draw(seed, "steady-probe", model, key) < float(params["steady_share"]):
            return draw(seed, "steady-rep", model, key, occurrence) < float(params["steady_rate"])
        return False

    def _fails(self, params: dict[str, Any], seed: int, key: str, occurrence: int) -> bool:
        if params.get("fail_first") is not None:
            return occurrence < int(params["fail_first"])
        return draw(seed, "error", key, occurrence) < float(params["rate"])

    def _inject_error(
        self, plan: Plan, params: dict[str, Any], seed: int, key: str, occurrence: int
    ) -> None:
        kinds = _kinds(params["kinds"])
        kind = kinds[int(draw(seed, "error-kind", key, occurrence) * len(kinds))]
        if kind == "429":
            plan.outcome, plan.status, plan.error_type = "http_error", 429, "rate_limit_error"
            if params.get("retry_after_ms") is not None:
                plan.headers["retry-after-ms"] = str(params["retry_after_ms"])
            else:
                plan.headers["retry-after"] = _num(params["retry_after"])
            self.count("errors_429")
        elif kind == "500":
            plan.outcome, plan.status, plan.error_type = "http_error", 500, "api_error"
            self.count("errors_500")
        elif kind == "timeout":
            plan.outcome, plan.sleep_s = "timeout", float(params["timeout_sleep_s"])
            self.count("timeouts")
        else:  # pragma: no cover - _kinds validated the names
            raise ScenarioError(f"unknown error kind {kind!r}")

    def _choose_text(
        self,
        ans: SimAnswer,
        req: SimRequest,
        scenario: str,
        params: dict[str, Any],
        seed: int,
        key: str,
        occurrence: int,
    ) -> str:
        text = ans.text
        if scenario in ("silent_update", "candidate_regression"):
            if ans.alternatives:
                text = ans.alternatives[0]
            worse = ans.degraded if ans.degraded is not None else ans.transposed
            if (
                scenario == "candidate_regression"
                and worse is not None
                and draw(seed, "degrade", req.prompt) < float(params["rate"])
            ):
                text = worse
                self.count("degraded")
        elif ans.alternatives and draw(seed, "noise", key, occurrence) < self.noise:
            pick = int(draw(seed, "noise-pick", key, occurrence) * len(ans.alternatives))
            text = ans.alternatives[pick]
            self.count("noisy")
        if (
            scenario == "date_transposition"
            and ans.transposed is not None
            and draw(seed, "transpose", req.prompt) < float(params["rate"])
        ):
            text = ans.transposed
            self.count("transposed")
        if (
            scenario == "verbosity_drift"
            and not text.lstrip().startswith(("{", "["))
            and draw(seed, "verbose", key, occurrence) < float(params["rate"])
        ):
            n = int(params["sentences"])
            start = int(draw(seed, "filler", key) * len(FILLER_SENTENCES))
            extra = [FILLER_SENTENCES[(start + i) % len(FILLER_SENTENCES)] for i in range(n)]
            text = " ".join([text, *extra]).strip()
        return text


def _kinds(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    kinds = [str(k).strip() for k in items if str(k).strip()]
    known = {"429", "500", "timeout", "invalid_json", "missing_fields"}
    bad = [k for k in kinds if k not in known]
    if bad or not kinds:
        raise ScenarioError(f"unknown kinds {bad or value!r}; known: {sorted(known)}")
    return kinds


JUDGE_FAULT_KINDS = ("malformed", "truncated", "out_of_range", "missing_dimension")


def _judge_fault_kinds(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    kinds = [str(k).strip() for k in items if str(k).strip()]
    bad = [k for k in kinds if k not in JUDGE_FAULT_KINDS]
    if bad or not kinds:
        raise ScenarioError(f"unknown kinds {bad or value!r}; known: {list(JUDGE_FAULT_KINDS)}")
    return kinds


def _num(value: Any) -> str:
    f = float(value)
    return str(int(f)) if f.is_integer() else str(f)
