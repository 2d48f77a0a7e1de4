"""Send every item of a golden set ``repetitions`` times and record each attempt as an ItemResult.

The provider client bounds concurrency (``max_concurrency`` of the model); every attempt is
recorded, a failed call as ``passed=None`` with its error, never as a pass or a failure. Each
result carries in ``extra`` what a judge and a report need without reloading the set: the set
name, the rendered input, the expected answer, the reference facts and the context.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from canaryflow.checks import normalize_output, run_checks
from canaryflow.config import ModelConfig, SimulatorConfig
from canaryflow.golden._format import GoldenItem, GoldenModelOverride, build_request
from canaryflow.golden._load import GoldenSet
from canaryflow.providers import make_client
from canaryflow.records import Completion, CompletionRequest, ItemResult
from canaryflow.runs._probing import ClientFactory

__all__ = ["golden_item_id", "run_golden_set", "run_golden_set_async", "to_golden_item"]


def golden_item_id(set_name: str, item_id: str) -> str:
    """The stored item id: ``<set>/<item>`` (item ids are unique per set, not across sets)."""
    return f"{set_name}/{item_id}"


class _Checked:
    """An item with the set's checks, as :func:`run_checks` expects."""

    def __init__(self, gset: GoldenSet, item: GoldenItem) -> None:
        self.checks = gset.checks_for(item)
        self.source = item.source


def _input_text(request: CompletionRequest) -> str:
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in request.messages)


def to_golden_item(
    gset: GoldenSet,
    item: GoldenItem,
    attempt: int,
    request: CompletionRequest,
    completion: Completion,
    *,
    run_id: str,
    model_key: str,
    as_of: datetime,
) -> ItemResult:
    """One attempt at one item as a stored result (checks only when the call succeeded)."""
    if completion.ok:
        checks = run_checks(_Checked(gset, item), completion)
        passed: bool | None = all(c.passed for c in checks)
    else:
        checks, passed = (), None
    expected: Any = item.expected
    extra: dict[str, Any] = {
        "set": gset.name,
        "category": item.category,
        "golden_id": item.id,
        "tags": list(item.tags),
        "input": _input_text(request),
        "expected": expected,
        "reference_facts": list(item.reference_facts),
        "context": item.context,
        "rubric": gset.header.rubric,
        "attempts": completion.attempts,
    }
    return ItemResult(
        run_id=run_id,
        item_id=golden_item_id(gset.name, item.id),
        attempt=attempt,
        flow="golden",
        model=model_key,
        subject=f"{gset.name}/{item.category}",
        passed=passed,
        output=completion.text,
        normalized_output=normalize_output(completion.text) if completion.ok else "",
        checks=checks,
        **completion.measured(),
        created_at=as_of,
        extra=extra,
    )


async def run_golden_set_async(
    gset: GoldenSet,
    model_key: str,
    model_cfg: ModelConfig,
    simulator: SimulatorConfig | None = None,
    *,
    run_id: str,
    as_of: datetime,
    items: Sequence[GoldenItem] | None = None,
    client_factory: ClientFactory | None = None,
) -> list[ItemResult]:
    """:func:`run_golden_set` inside a running event loop (a Prefect async task)."""
    factory = client_factory or make_client
    override = gset.header.model_overrides.get(model_key, GoldenModelOverride())
    repetitions = override.repetitions or gset.header.repetitions
    jobs: list[tuple[GoldenItem, int, CompletionRequest]] = []
    for item in items if items is not None else gset.items:
        request = build_request(gset.header, item, set_name=gset.name, model_key=model_key)
        jobs.extend((item, attempt, request) for attempt in range(repetitions))
    async with factory(model_key, model_cfg, simulator=simulator) as client:
        completions = await asyncio.gather(*(client.complete(req) for _, _, req in jobs))
    return [
        to_golden_item(
            gset, item, attempt, req, completion, run_id=run_id, model_key=model_key, as_of=as_of
        )
        for (item, attempt, req), completion in zip(jobs, completions, strict=True)
    ]


def run_golden_set(
    gset: GoldenSet,
    model_key: str,
    model_cfg: ModelConfig,
    simulator: SimulatorConfig | None = None,
    *,
    run_id: str,
    as_of: datetime,
    items: Sequence[GoldenItem] | None = None,
    client_factory: ClientFactory | None = None,
) -> list[ItemResult]:
    """Send every item (or ``items``) ``repetitions`` times to ``model_key``.

    Repetitions and sampling settings follow the set's header and its
    ``model_overrides.<model_key>``. Returns one :class:`ItemResult` per (item, repetition),
    in item order; ``item_id`` is ``<set>/<item>`` and ``subject`` is ``<set>/<category>``.
    """
    return asyncio.run(
        run_golden_set_async(
            gset,
            model_key,
            model_cfg,
            simulator,
            run_id=run_id,
            as_of=as_of,
            items=items,
            client_factory=client_factory,
        )
    )
