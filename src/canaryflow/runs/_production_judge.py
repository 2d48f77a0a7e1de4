"""Sample-and-judge for the production flow, run inside each window's commit transaction.

The engine picks the window's deterministic sample (sha256 of the request id); this judges it
with the quality and safety rubrics (bounded concurrency: ``[judge] max_concurrency``), adds
the per feature x model means to the window's stored ops rows and queues items for review, all
in the transaction that also moves the watermark -- a killed run leaves neither scores without
a window nor a window without its scores. Judge errors are counted, never scored.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from canaryflow.embeddings import HashingEmbedder
from canaryflow.judges import (
    Judge,
    JudgeItem,
    JudgeResult,
    Rubric,
    route_for_review,
    shipped_rubric,
)
from canaryflow.production import WindowResult
from canaryflow.records import ItemResult, RunRecord
from canaryflow.runs._production_detect import ALL, EMBED_DIM, FLOW, VECTORS_PER_WINDOW

__all__ = ["WindowJudge", "production_quality"]


def production_quality() -> Rubric:
    """The shipped quality rubric without the dimensions that need a reference answer
    (production has none: the user's request is the context the answer is checked against)."""
    q = shipped_rubric("quality")
    return q.model_copy(update={"dimensions": tuple(d for d in q.dimensions if not d.needs)})


@dataclass
class WindowJudge:
    """Judges windows' samples and turns committed windows into lifecycle items."""

    source: str
    store: Any = None
    quality: Judge | None = None
    safety: Judge | None = None
    review: Any = None
    embedder: Any = field(default_factory=lambda: HashingEmbedder(dim=EMBED_DIM))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _by_window: dict[Any, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    run: RunRecord | None = None
    """The run whose windows are being committed (set by the plugin's collect)."""
    made: list[ItemResult] = field(default_factory=list)

    @classmethod
    def from_workspace(cls, ws: Any, source: str) -> WindowJudge:
        cfg = ws.config
        if cfg.judge.model is None:
            return cls(source, ws.store)
        client = None
        if ws.client_factory is not None:
            client = ws.client_factory(cfg.judge.model, cfg.models[cfg.judge.model])
        return cls(
            source,
            ws.store,
            # No judge cache store: the judging runs inside the window's write transaction.
            quality=Judge.from_config(cfg, None, rubric=production_quality(), client=client),
            safety=Judge.from_config(cfg, None, rubric="safety", client=client),
            review=cfg.judge.review,
        )

    def reset(self, run: RunRecord | None = None) -> None:
        self.counts.clear()
        self.run = run
        self.made = []

    def summary(self) -> dict[str, Any]:
        c = self.counts
        done = c["ok"] + c["errors"]
        return {
            "judged": c["ok"],
            "judge_errors": c["errors"],
            "judge_unjudged": c["unjudged"],
            "judge_error_rate": round(c["errors"] / done, 4) if done else 0.0,
            "judge_cost_usd": round(c.get("cost_nusd", 0) / 1e9, 6),
            "review_queued": c["review"],
        }

    def _score(self, judge: Judge, items: list[JudgeItem], run_id: str) -> list[JudgeResult]:
        results = judge.score_many_sync(items, run_id=run_id)
        for r in results:
            self.counts["ok" if r.ok else r.status + ("s" if r.status == "error" else "")] += 1
            self.counts["cost_nusd"] += int((r.cost_usd or 0) * 1e9)
        return results

    def on_window(self, res: WindowResult, conn: Any) -> None:
        """The engine's hook: judge the sample, store the means with the window, queue review."""
        per: dict[tuple[str, str], dict[str, Any]] = defaultdict(
            lambda: {
                "judged": 0,
                "errors": 0,
                "sum": 0.0,
                "low": 0,
                "safety_low": 0,
                "in": [],
                "out": [],
            }
        )
        for rec in res.sample:
            p = per[(rec["feature_id"], rec["model_id"])]
            if len(p["in"]) < VECTORS_PER_WINDOW:
                p["in"].append(rec.get("input") or "")
                p["out"].append(rec.get("output") or "")
        if self.quality is not None and res.sample:
            run_id = f"{FLOW}-{self.source}-{res.start:%Y%m%dT%H%M}"
            items = [
                JudgeItem(
                    item_id=str(r["request_id"]),
                    input=r.get("input") or "",
                    output=r.get("output") or "",
                    # The user's request is the context the answer must agree with (its
                    # dates, numbers): production has no reference answer.
                    context=r.get("input") or "",
                    source=f"production:{r['feature_id']}",
                )
                for r in res.sample
            ]
            key = {str(r["request_id"]): (r["feature_id"], r["model_id"]) for r in res.sample}
            quality = self._score(self.quality, items, run_id)
            queued = route_for_review(items, quality, self.quality.rubric, self.review)
            for r in quality:
                p = per[key[r.item_id]]
                if r.ok and "correctness" in r.scores:
                    p["judged"] += 1
                    p["sum"] += r.scores["correctness"]
                    p["low"] += r.scores["correctness"] <= 2
                elif r.status == "error":
                    p["errors"] += 1
            if self.safety is not None:
                results = self._score(self.safety, items, run_id)
                for r in results:
                    if r.ok and r.scores.get("safety", 5) <= 2:
                        per[key[r.item_id]]["safety_low"] += 1
                queued += route_for_review(items, results, self.safety.rubric, self.review)
            if queued:
                self.store.add_review_items(queued, conn=conn)
                self.counts["review"] += len(queued)
        stored: dict[tuple[str, str], dict[str, Any]] = {}
        for k, p in per.items():
            judged = {
                "judged": p["judged"],
                "errors": p["errors"],
                "correctness": p["sum"] / p["judged"] if p["judged"] else None,
                "low": p["low"],
                "safety_low": p["safety_low"],
            }
            emb_in = self.embedder.embed(p["in"]).round(4).tolist() if p["in"] else []
            emb_out = self.embedder.embed(p["out"]).round(4).tolist() if p["out"] else []
            stored[k] = {"judge": judged, "emb_input": emb_in, "emb_output": emb_out}
        for row in res.ops:
            j = stored.get((row["feature_id"], row["model_id"]), {}).get("judge")
            if j:
                row.update({f"judge_{k}": v for k, v in j.items()})
        if self.quality is not None:
            # Same transaction: the window's rows now carry its judged means.
            self.store.replace_production_window(
                self.source, res.start, res.end, res.rows(), conn=conn
            )
        self._by_window[res.start] = stored
        if self.run is not None:
            # The run's items commit with the window: a run killed after this window and
            # rerun (same run id, the watermark already past it) still compares it.
            made = self.items(self.run, res)
            self.store.save_items(made, conn=conn)
            self.made.extend(made)

    def items(self, run: RunRecord, res: WindowResult) -> list[ItemResult]:
        """One item per feature x model of a committed window, and one ``*`` item (totals)."""
        stored = self._by_window.pop(res.start, {})
        base = {"window_start": res.start.isoformat(), "window_end": res.end.isoformat()}
        out = []
        signals = {(s["feature_id"], s["model_id"]): s for s in res.signals}
        for row in res.ops:
            k = (row["feature_id"], row["model_id"])
            extra = stored.get(k, {"judge": {}, "emb_input": [], "emb_output": []})
            ops = {a: b for a, b in row.items() if not a.startswith("judge_")}
            ops.pop("window_start", None)
            out.append(
                ItemResult(
                    run_id=run.run_id,
                    item_id=f"{res.start:%Y%m%dT%H%M}|{k[0]}|{k[1]}",
                    flow=FLOW,
                    model=run.model,
                    subject=f"{k[0]}/{k[1]}",
                    passed=None,
                    score=extra["judge"].get("correctness"),
                    latency_ms=row.get("latency_ms_p50"),
                    ttft_ms=row.get("ttft_ms_p50"),
                    input_tokens=int(row.get("input_tokens") or 0),
                    output_tokens=int(row.get("output_tokens") or 0),
                    cost_usd=row.get("cost_usd"),
                    extra={
                        **base,
                        "ops": _plain(ops),
                        "signals": _plain(signals.get(k, {})),
                        **extra,
                    },
                )
            )
        totals = {k: v for k, v in res.totals.items()}
        out.append(
            ItemResult(
                run_id=run.run_id,
                item_id=f"{res.start:%Y%m%dT%H%M}|{ALL}",
                flow=FLOW,
                model=run.model,
                subject=ALL,
                passed=None,
                cost_usd=res.totals.get("cost_usd"),
                extra={**base, "totals": _plain(totals), "n_flagged": len(res.flagged)},
            )
        )
        return out


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps({k: v for k, v in d.items()}, default=_default))


def _default(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    return str(v)
