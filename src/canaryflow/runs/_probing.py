"""Send probes to one model and turn each attempt into an ItemResult.

Every attempt is recorded, including failed calls: a provider error becomes an ItemResult with
``passed=None`` and the error text, never a pass or a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from canaryflow.checks import normalize_output, run_checks
from canaryflow.config import ModelConfig, SimulatorConfig
from canaryflow.definitions import Probe
from canaryflow.providers import ModelClient, make_client
from canaryflow.records import Completion, CompletionRequest, ItemResult

__all__ = ["probe_model", "to_item"]


def to_item(
    probe: Probe,
    attempt: int,
    completion: Completion,
    *,
    run_id: str,
    model_key: str,
    as_of: datetime,
) -> ItemResult:
    """One probe attempt as a stored result: checks applied only when the call succeeded."""
    family = probe.tags[0] if probe.tags else "untagged"
    if completion.ok:
        checks = run_checks(probe, completion)
        passed: bool | None = all(c.passed for c in checks)
    else:
        checks = ()
        passed = None
    output = completion.text
    if completion.tool_calls:
        calls = "; ".join(f"{c.name}({c.arguments})" for c in completion.tool_calls)
        output = f"{output}\n[tool call] {calls}".strip()
    return ItemResult(
        run_id=run_id,
        item_id=probe.id,
        attempt=attempt,
        flow="canary",
        model=model_key,
        subject=family,
        passed=passed,
        output=output,
        normalized_output=normalize_output(output) if completion.ok else "",
        checks=checks,
        **completion.measured(),
        created_at=as_of,
        extra={
            "tags": list(probe.tags),
            "attempts": completion.attempts,
            "input": _input_text(probe)[:_MAX_EVIDENCE_CHARS],
            "expected": _expected_text(probe)[:_MAX_EVIDENCE_CHARS],
        },
    )


_MAX_EVIDENCE_CHARS = 2000
"""Input and expected value kept per attempt for incident evidence (filler can be long)."""


def _input_text(probe: Probe) -> str:
    if probe.prompt is not None:
        return probe.prompt
    return "\n\n".join(f"{m.role}: {m.content}" for m in probe.messages or ())


def _expected_text(probe: Probe) -> str:
    """The checks' expected values (``iso_date: 2024-04-03``), for a reader of the evidence."""
    parts = []
    for check in probe.checks:
        for attr in ("expected", "equals"):
            value = getattr(check, attr, None)
            if value is not None:
                parts.append(f"{getattr(check, 'type', attr)}: {value}")
    return "; ".join(parts)


ClientFactory = Callable[..., ModelClient]
"""``factory(key, model_cfg, simulator=...) -> ModelClient``; ``make_client`` by default."""


async def _probe_async(
    model_key: str,
    model_cfg: ModelConfig,
    simulator: SimulatorConfig,
    probes: Sequence[Probe],
    factory: ClientFactory,
    run: str,
) -> list[tuple[Probe, int, Completion]]:
    jobs: list[tuple[Probe, int, CompletionRequest]] = []
    for probe in probes:
        request = probe.to_request()
        # The run's hour travels with the request (never to a provider): the simulator's
        # per-run scenarios key on it, as a real model's flakiness is per run.
        request = request.model_copy(update={"metadata": {**request.metadata, "run": run}})
        for attempt in range(probe.repetitions):
            jobs.append((probe, attempt, request))
    async with factory(model_key, model_cfg, simulator=simulator) as client:
        completions = await asyncio.gather(*(client.complete(req) for _, _, req in jobs))
    return [(p, a, c) for (p, a, _), c in zip(jobs, completions, strict=True)]


def probe_model(
    model_key: str,
    model_cfg: ModelConfig,
    simulator: SimulatorConfig,
    probes: Sequence[Probe],
    *,
    run_id: str,
    as_of: datetime,
    client_factory: ClientFactory | None = None,
) -> list[ItemResult]:
    """Send every probe ``repetitions`` times (bounded concurrency in the client)."""
    factory = client_factory or make_client
    results = asyncio.run(
        _probe_async(model_key, model_cfg, simulator, probes, factory, as_of.isoformat())
    )
    return [
        to_item(p, a, c, run_id=run_id, model_key=model_key, as_of=as_of) for p, a, c in results
    ]
