"""The judge: cached, budgeted, concurrent scoring of items against a rubric.

One ``Judge`` wraps one judge model (any ``[models]`` key, through the provider seam) and one
rubric. ``score_many`` turns items into :class:`JudgeResult` objects in input order:

1. each item needs ``samples`` calls, repeat index 0..k-1; each call has a cache key (rubric
   name, version and content hash, judge model and parameters, prompt version, input, output,
   reference, context, repeat index), so a rerun finds its verdicts and pays nothing, while the
   k repeats stay separate, independent calls;
2. calls not in the cache are admitted in item order against the run's budget (see
   ``_budget``); an item that does not fit is ``unjudged``, as is every later item that needs a
   call; identical calls within a batch (two records with the same texts) are made once;
3. admitted calls run concurrently, at most ``max_concurrency`` in flight per provider (one
   ``asyncio.Semaphore`` per provider and event loop, shared by every judge of that provider);
4. each reply is validated strictly (``_parse``): an invalid reply is an error sample, cached with
   its reason (asking again would give the same reply); transport failures (rate limits, 5xx,
   timeouts) are recorded but not reused, so the next run retries them;
5. an item is ``ok`` when a majority of its samples are valid; its score per dimension is their
   median.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from canaryflow.config import Config, JudgeReviewConfig, Pricing
from canaryflow.errors import ConfigError
from canaryflow.judges._budget import (
    Budget,
    CostEstimate,
    Ledger,
    estimate_tokens,
    worst_case_usd,
)
from canaryflow.judges._pairwise import PairItem, PairwiseMixin
from canaryflow.judges._parse import Verdict, VerdictError, parse_verdict
from canaryflow.judges._prompt import PROMPT_VERSION, Mode, build_request, canonical
from canaryflow.judges._result import (
    JudgeItem,
    JudgeResult,
    JudgeSummary,
    aggregate,
    combine_samples,
)
from canaryflow.judges._rubric import Rubric, load_rubrics
from canaryflow.providers import ModelClient
from canaryflow.records import Completion, CompletionRequest

if TYPE_CHECKING:
    from canaryflow.store import Store

__all__ = ["Job", "Judge", "Outcome", "PairItem"]

_RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection"})
_SEMAPHORES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _provider_semaphore(provider: str, limit: int) -> asyncio.Semaphore:
    """One semaphore per provider and event loop; the first judge to ask sets its limit."""
    per_loop = _SEMAPHORES.setdefault(asyncio.get_running_loop(), {})
    if provider not in per_loop:
        per_loop[provider] = asyncio.Semaphore(limit)
    return per_loop[provider]


@dataclass
class Job:
    key: str
    repeat: int
    request: CompletionRequest
    parse: Callable[[Completion], Verdict]
    worst_usd: float


@dataclass
class Outcome:
    status: Literal["ok", "error"]
    values: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""
    error: str | None = None
    error_kind: str | None = None
    retryable: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cached: bool = False


class _Usage(TypedDict):
    """Token and money use: of one call (:class:`Outcome`) or of one item's new calls."""

    input_tokens: int
    output_tokens: int
    cost_usd: float | None


class _Money(_Usage):
    calls: int
    cached: int


class _ResultKey(TypedDict):
    """The fields every :class:`JudgeResult` of one item carries, whatever its status."""

    run_id: str | None
    item_id: str
    source: str
    rubric: str
    rubric_version: int
    judge_model: str


class Judge(PairwiseMixin):
    """An LLM judge for one rubric behind one model client.

    Args:
        client: the judge model's client (any provider).
        rubric: what to score.
        model_key: the ``[models]`` key of the judge (recorded and part of the cache key).
        store: where verdicts are cached (None: no cache).
        samples: calls per item (k); median per dimension, disagreement reported.
        temperature: sampling temperature of the judge calls.
        max_tokens: reply limit per call (also the worst case the budget reserves).
        mode: ``auto`` picks ``tool`` for Anthropic and ``json_schema`` for OpenAI-compatible
            clients, ``text`` otherwise.
        max_concurrency: judge calls in flight per provider.
        max_error_rate: above it a run's summary is degraded.
        review: routing rules of the human review queue.
    """

    def __init__(
        self,
        client: ModelClient,
        rubric: Rubric,
        *,
        model_key: str | None = None,
        store: Store | None = None,
        samples: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 600,
        mode: Literal["auto"] | Mode = "auto",
        max_concurrency: int = 8,
        max_error_rate: float = 0.1,
        review: JudgeReviewConfig | None = None,
    ) -> None:
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.client = client
        self.rubric = rubric
        self.model_key = model_key or client.name
        self.store = store
        self.samples = samples
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.mode: Mode = self._resolve_mode(mode)
        self.max_concurrency = max_concurrency
        self.max_error_rate = max_error_rate
        self.review = review or JudgeReviewConfig()
        self._rubric_hash = rubric.content_hash()

    def __repr__(self) -> str:
        return (
            f"Judge(model={self.model_key!r}, rubric={self.rubric.name!r} "
            f"v{self.rubric.version}, mode={self.mode!r}, samples={self.samples})"
        )

    def _resolve_mode(self, mode: Literal["auto"] | Mode) -> Mode:
        if mode != "auto":
            return mode
        auto: dict[str, Mode] = {"anthropic": "tool", "openai": "json_schema"}
        return auto.get(self.client.provider, "text")

    @property
    def pricing(self) -> Pricing | None:
        """The judge model's prices (judge cost is computed from these)."""
        return self.client.config.pricing

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        cfg: Config,
        store: Store | None = None,
        *,
        rubric: str | Rubric | None = None,
        client: ModelClient | None = None,
        samples: int | None = None,
    ) -> Judge:
        """The judge configured in ``[judge]`` (model, rubric, samples, mode, concurrency).

        Raises:
            ConfigError: no ``judge.model``, an unknown rubric, or ``budget_usd`` without the
                judge model's pricing.
        """
        jc = cfg.judge
        file = cfg.source_path or "canaryflow.toml"
        if jc.model is None:
            raise ConfigError(file, "judge.model", "no judge model configured (a key of [models])")
        model_cfg = cfg.models[jc.model]
        if jc.budget_usd is not None and model_cfg.pricing is None:
            raise ConfigError(
                file,
                "judge.budget_usd",
                f"needs models.{jc.model}.pricing to compute the judge's cost",
            )
        if not isinstance(rubric, Rubric):
            rubrics = load_rubrics()
            if jc.rubric_dir:
                rubrics.update(load_rubrics(jc.rubric_dir))
            name = rubric or jc.rubric
            if name not in rubrics:
                raise ConfigError(
                    file, "judge.rubric", f"unknown rubric {name!r}; known: {sorted(rubrics)}"
                )
            rubric = rubrics[name]
        if client is None:
            from canaryflow.providers import make_client

            client = make_client(jc.model, model_cfg, simulator=cfg.simulator)
        return cls(
            client,
            rubric,
            model_key=jc.model,
            store=store,
            samples=samples or jc.samples,
            temperature=jc.temperature,
            max_tokens=jc.max_tokens,
            mode=jc.mode,
            max_concurrency=jc.max_concurrency,
            max_error_rate=jc.max_error_rate,
            review=jc.review,
        )

    @staticmethod
    def budget_from_config(cfg: Config) -> Budget:
        """The per-run budget of ``[judge]`` (``budget_calls``, ``budget_usd``)."""
        return Budget(calls=cfg.judge.budget_calls, usd=cfg.judge.budget_usd)

    # -- keys and requests ---------------------------------------------------------------------

    def _params(self) -> dict[str, Any]:
        return {
            "prompt": PROMPT_VERSION,
            "rubric": [self.rubric.name, self.rubric.version, self._rubric_hash],
            "judge": {
                "key": self.model_key,
                "provider": self.client.provider,
                "model": self.client.config.model,
                "temperature": self.temperature,
                "max_tokens": self.max_tokens,
                "mode": self.mode,
            },
        }

    def cache_key(self, item: JudgeItem, repeat: int) -> str:
        """The cache key of sample ``repeat`` of ``item`` (sha256 hex)."""
        payload = {
            **self._params(),
            "kind": "score",
            "input": item.input,
            "output": item.output,
            "reference": item.reference,
            "context": item.context,
            "repeat": repeat,
        }
        return hashlib.sha256(canonical(payload).encode()).hexdigest()

    def request(self, item: JudgeItem) -> CompletionRequest:
        """The judge request for one item."""
        return build_request(
            self.rubric,
            input=item.input,
            output=item.output,
            reference=item.reference,
            context=item.context,
            mode=self.mode,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )

    def _worst_usd(self, request: CompletionRequest) -> tuple[int, float]:
        text = "".join(m.content for m in request.messages)
        for tool in request.tools:
            text += canonical(tool.parameters)
        tokens = estimate_tokens(text)
        return tokens, worst_case_usd(self.pricing, tokens, self.max_tokens)

    def _missing_needs(self, item: JudgeItem) -> str | None:
        for d in self.rubric.dimensions:
            if d.needs == "reference" and item.reference is None:
                return f"dimension {d.name!r} needs a reference and the item has none"
            if d.needs == "context" and item.context is None:
                return f"dimension {d.name!r} needs a context and the item has none"
            if (
                d.needs == "reference_or_context"
                and item.reference is None
                and item.context is None
            ):
                return f"dimension {d.name!r} needs a reference or a context"
        return None

    # -- the shared engine ---------------------------------------------------------------------

    def _cached(self, keys: Sequence[str]) -> dict[str, Outcome]:
        if self.store is None or not keys:
            return {}
        out = {}
        for key, row in self.store.get_judge_cache(keys).items():
            if row["retryable"]:
                continue
            out[key] = Outcome(
                status=row["status"],
                values=row["scores"] or {},
                reasoning=row["reasoning"],
                error=row["error"],
                error_kind=row["error_kind"],
                cached=True,
            )
        return out

    async def _call(self, job: Job, ledger: Ledger) -> Outcome:
        async with _provider_semaphore(self.client.provider, self.max_concurrency):
            completion = await self.client.complete(job.request)
        ledger.settle(job.worst_usd, completion.cost_usd)
        base: _Usage = {
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "cost_usd": completion.cost_usd,
        }
        try:
            verdict = job.parse(completion)
        except VerdictError as exc:
            return Outcome(
                status="error",
                error=exc.reason,
                error_kind=exc.kind,
                retryable=not completion.ok and (completion.error_kind or "") in _RETRYABLE,
                **base,
            )
        return Outcome(status="ok", values=verdict.values, reasoning=verdict.reasoning, **base)

    async def _run(
        self, groups: Sequence[Sequence[Job]], budget: Budget | None
    ) -> tuple[list[list[Outcome] | None], Ledger]:
        """Outcomes per group (None: the group did not fit the budget), in input order."""
        ledger = Ledger(budget or Budget())
        cached = self._cached([j.key for g in groups for j in g])
        admitted: dict[str, Job] = {}
        fits: list[bool] = []
        for group in groups:
            # identical calls (two records with the same texts) are made, and paid, once
            todo = list(
                {j.key: j for j in group if j.key not in cached and j.key not in admitted}.values()
            )
            ok = not todo or ledger.reserve(len(todo), sum(j.worst_usd for j in todo))
            fits.append(ok)
            if ok:
                admitted.update((j.key, j) for j in todo)
        fresh: dict[str, Outcome] = {}
        pending: list[tuple[Job, Outcome]] = []

        async def one(job: Job) -> None:
            outcome = await self._call(job, ledger)
            fresh[job.key] = outcome
            pending.append((job, outcome))

        tasks = [asyncio.ensure_future(one(j)) for j in admitted.values()]
        try:
            for done in asyncio.as_completed(tasks):
                await done
                if len(pending) >= 64:
                    self._save(pending)
        finally:
            self._save(pending)
        out: list[list[Outcome] | None] = []
        charged: set[str] = set()
        for group, ok in zip(groups, fits, strict=True):
            if not ok:
                out.append(None)
                continue
            row = []
            for j in group:
                if j.key in cached:
                    row.append(cached[j.key])
                elif j.key in charged:  # a duplicate rides on the first one's call
                    row.append(dataclasses.replace(fresh[j.key], cached=True))
                else:
                    charged.add(j.key)
                    row.append(fresh[j.key])
            out.append(row)
        return out, ledger

    def _save(self, pending: list[tuple[Job, Outcome]]) -> None:
        if self.store is None or not pending:
            pending.clear()
            return
        rows = [
            {
                "cache_key": job.key,
                "rubric": self.rubric.name,
                "rubric_version": self.rubric.version,
                "judge_model": self.model_key,
                "repeat": job.repeat,
                "status": o.status,
                "scores": o.values,
                "reasoning": o.reasoning,
                "error": o.error,
                "error_kind": o.error_kind,
                "retryable": o.retryable,
                "input_tokens": o.input_tokens,
                "output_tokens": o.output_tokens,
                "cost_usd": o.cost_usd,
            }
            for job, o in pending
        ]
        pending.clear()
        self.store.put_judge_cache(rows)

    # -- scoring -------------------------------------------------------------------------------

    async def score_many(
        self,
        items: Sequence[JudgeItem],
        *,
        run_id: str | None = None,
        budget: Budget | None = None,
    ) -> list[JudgeResult]:
        """Judge every item (results in input order; see the module docstring).

        ``run_id`` is copied onto the results; the cache is shared across runs on purpose, so a
        backfill or rerun reuses verdicts another run paid for.
        """
        groups: list[list[Job]] = []
        blocked: dict[int, str] = {}
        for i, item in enumerate(items):
            need = self._missing_needs(item)
            if need is not None:
                blocked[i] = need
                groups.append([])
                continue
            request = self.request(item)
            _, worst = self._worst_usd(request)
            groups.append(
                [
                    Job(self.cache_key(item, r), r, request, self._parse_score, worst)
                    for r in range(self.samples)
                ]
            )
        outcomes, _ = await self._run(groups, budget)
        return [
            self._result(item, outcomes[i], blocked.get(i), run_id) for i, item in enumerate(items)
        ]

    def score_many_sync(
        self, items: Sequence[JudgeItem], *, run_id: str | None = None, budget: Budget | None = None
    ) -> list[JudgeResult]:
        """:meth:`score_many` from synchronous code (a Prefect task, the CLI)."""
        return _run_sync(self.score_many(items, run_id=run_id, budget=budget), self.client)

    def _parse_score(self, completion: Completion) -> Verdict:
        return parse_verdict(self.rubric, completion)

    def _result(
        self,
        item: JudgeItem,
        outcomes: list[Outcome] | None,
        blocked: str | None,
        run_id: str | None = None,
    ) -> JudgeResult:
        base: _ResultKey = {
            "run_id": run_id,
            "item_id": item.item_id,
            "source": item.source,
            "rubric": self.rubric.name,
            "rubric_version": self.rubric.version,
            "judge_model": self.model_key,
        }
        if blocked is not None:
            return JudgeResult(**base, status="error", reason=blocked, error_kind="needs_data")
        if outcomes is None:
            return JudgeResult(
                **base,
                status="unjudged",
                reason="the run's judge budget ran out before this item",
                error_kind="budget",
            )
        new = [o for o in outcomes if not o.cached]
        costs = [o.cost_usd for o in new]
        money: _Money = {
            "calls": len(new),
            "cached": len(outcomes) - len(new),
            "input_tokens": sum(o.input_tokens for o in new),
            "output_tokens": sum(o.output_tokens for o in new),
            "cost_usd": None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        }
        valid = [o for o in outcomes if o.status == "ok"]
        errors = [o for o in outcomes if o.status == "error"]
        if len(valid) * 2 <= len(outcomes):
            first = errors[0]
            reason = first.error or "invalid reply"
            if len(outcomes) > 1:
                reason = f"{len(errors)} of {len(outcomes)} samples failed; first: {reason}"
            return JudgeResult(
                **base,
                status="error",
                reason=reason,
                error_kind=first.error_kind,
                sample_errors=len(errors),
                **money,
            )
        samples = tuple({k: int(v) for k, v in o.values.items()} for o in valid)
        medians, _ = combine_samples(samples)
        return JudgeResult(
            **base,
            status="ok",
            scores=medians,
            samples=samples,
            reasoning=valid[0].reasoning,
            sample_errors=len(errors),
            **money,
        )

    # -- estimates and summaries -----------------------------------------------------------------

    def estimate_cost(self, items: Sequence[JudgeItem]) -> CostEstimate:
        """What ``score_many(items)`` would cost now: new calls (the cache is consulted), prompt
        tokens and USD from the judge model's pricing. Call it before a backfill judges."""
        keyed = []
        tokens_by_key: dict[str, int] = {}
        for item in items:
            if self._missing_needs(item) is not None:
                continue
            tokens, _ = self._worst_usd(self.request(item))
            for r in range(self.samples):
                key = self.cache_key(item, r)
                keyed.append(key)
                tokens_by_key[key] = tokens
        cached = self._cached(keyed)
        todo = [k for k in keyed if k not in cached]
        prompt = sum(tokens_by_key[k] for k in todo)
        out_max = self.max_tokens * len(todo)
        p = self.pricing
        return CostEstimate(
            items=len(items),
            calls=len(todo),
            cached_calls=len(keyed) - len(todo),
            input_tokens=prompt,
            max_output_tokens=out_max,
            usd_expected=None
            if p is None
            else (prompt * p.input + out_max / 4 * p.output) / 1_000_000,
            usd_max=None if p is None else (prompt * p.input + out_max * p.output) / 1_000_000,
        )

    def summarise(self, results: Sequence[JudgeResult]) -> JudgeSummary:
        """:func:`aggregate` with this judge's ``max_error_rate``."""
        return aggregate(results, max_error_rate=self.max_error_rate)

    async def aclose(self) -> None:
        """Release the judge client's connections on the running loop."""
        await self.client.aclose()


def _run_sync(coro: Awaitable[Any], client: ModelClient) -> Any:
    async def main() -> Any:
        try:
            return await coro
        finally:
            await client.aclose()

    return asyncio.run(main())
