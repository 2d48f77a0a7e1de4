"""Seeded synthetic production traffic, with injected changes, for the demo, tests and benchmarks.

Everything is drawn with numpy in whole arrays (two million records take seconds), so the same
generator feeds a unit test with a few thousand rows and the benchmark with millions. The traffic
has what the engine measures: features with their own models, a skewed user population,
sessions, a diurnal volume curve, lognormal latencies with streaming TTFT/TBT, token counts,
occasional errors, refusals and truncations, and user signals (thumbs, corrections, follow-ups,
abandonment, task completion).

A :class:`Change` injects one of the regressions the production flow must catch, from its
``start`` onwards: ``ttft_regression`` (one feature's time to first token grows), ``cost_spike``
(one user sends the same long prompt in a loop and gets long answers), ``verbose_drift`` (outputs
grow longer), ``refusal_spike``, ``topic_shift`` (inputs move to another vocabulary) and
``correctness_drop`` (extractions give transposed DD/MM dates; the truth is in
``Traffic.truth``, never in the records).

    python -m canaryflow.production.generator --out traffic.jsonl --days 1 --rate 20
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "Change",
    "FeatureSpec",
    "Traffic",
    "TrafficSpec",
    "generate",
    "write",
    "write_otel",
]

ChangeKind = Literal[
    "ttft_regression",
    "cost_spike",
    "verbose_drift",
    "refusal_spike",
    "topic_shift",
    "correctness_drop",
]


@dataclass(frozen=True)
class Change:
    """One injected regression, active from ``start`` (inclusive) to ``end`` (exclusive)."""

    kind: ChangeKind
    start: datetime
    feature: str | None = None
    """The feature it affects (all features when None); ignored by ``cost_spike``."""
    magnitude: float = 3.0
    """Multiplier (ttft, verbosity, cost-spike tokens) or new rate (refusal, wrong dates)."""
    user: str = "user-spender"
    """The spending user of a ``cost_spike``."""
    end: datetime | None = None
    rate_per_min: float = 4.0
    """Requests per minute the spending user adds (``cost_spike``)."""


@dataclass(frozen=True)
class FeatureSpec:
    """A feature of the application under watch and its normal behaviour."""

    name: str
    model: str
    share: float
    output_tokens_median: float = 120.0
    ttft_median_ms: float = 350.0
    tbt_median_ms: float = 22.0


DEFAULT_FEATURES = (
    FeatureSpec("support-chat", "claude-sonnet-4", 0.5, 160, 380, 24),
    FeatureSpec("doc-extract", "gpt-4o-mini", 0.3, 60, 250, 12),
    FeatureSpec("summarize", "claude-haiku-4", 0.2, 220, 300, 15),
)

_TOPICS = {
    "support-chat": ["invoice", "refund", "password", "shipping", "account", "upgrade", "billing"],
    "doc-extract": ["contract", "receipt", "statement", "purchase order", "lease", "payslip"],
    "summarize": ["meeting", "report", "article", "thread", "ticket", "transcript"],
}
_SHIFTED = ["kubernetes", "gpu cluster", "terraform", "latency budget", "helm chart", "vpc"]


@dataclass(frozen=True)
class TrafficSpec:
    """What to generate: period, volume, population, behaviour rates and injected changes."""

    start: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    days: float = 1.0
    rate_per_min: float = 20.0
    """Mean requests per minute over a day (the diurnal curve moves it +-60 %)."""
    features: tuple[FeatureSpec, ...] = DEFAULT_FEATURES
    n_users: int = 500
    error_rate: float = 0.005
    refusal_rate: float = 0.01
    truncation_rate: float = 0.02
    thumbs_rate: float = 0.12
    thumbs_up_share: float = 0.85
    correction_rate: float = 0.02
    follow_up_rate: float = 0.15
    abandon_rate: float = 0.12
    complete_rate: float = 0.6
    changes: tuple[Change, ...] = ()
    seed: int = 0
    with_text: bool = True
    """False leaves input/output empty-ish (benchmarks that only need the numbers)."""


@dataclass
class Traffic:
    """Generated records (DESIGN §6 fields), user signals and the ground truth kept apart."""

    records: pd.DataFrame
    signals: pd.DataFrame
    truth: pd.DataFrame = field(repr=False)
    """request_id, correct (bool): whether an extraction's dates are right."""


def _active(change: Change, ts: np.ndarray) -> np.ndarray:
    start = np.datetime64(change.start.astimezone(UTC).replace(tzinfo=None), "ns")
    mask = ts >= start
    if change.end is not None:
        mask &= ts < np.datetime64(change.end.astimezone(UTC).replace(tzinfo=None), "ns")
    return mask


def _arrivals(rng: np.random.Generator, spec: TrafficSpec) -> np.ndarray:
    minutes = int(round(spec.days * 24 * 60))
    start = np.datetime64(spec.start.astimezone(UTC).replace(tzinfo=None), "ns")
    hour = (spec.start.hour + spec.start.minute / 60 + np.arange(minutes) / 60) % 24
    # Busiest mid-afternoon UTC, quietest before dawn.
    rate = spec.rate_per_min * (1 + 0.6 * np.sin(2 * np.pi * (hour - 9) / 24))
    counts = rng.poisson(rate)
    minute_of = np.repeat(np.arange(minutes), counts)
    offset_ns = (minute_of * 60 + rng.random(minute_of.size) * 60) * 1e9
    return np.sort(start + offset_ns.astype("timedelta64[ns]"))


def generate(spec: TrafficSpec | None = None) -> Traffic:
    """Draw the traffic of ``spec`` (the same spec and seed give the same traffic)."""
    spec = spec or TrafficSpec()
    rng = np.random.default_rng(spec.seed)
    ts = _arrivals(rng, spec)
    n = ts.size
    feats = spec.features
    shares = np.array([f.share for f in feats], dtype=float)
    fidx = rng.choice(len(feats), size=n, p=shares / shares.sum())
    feature = np.array([f.name for f in feats], dtype=object)[fidx]
    model = np.array([f.model for f in feats], dtype=object)[fidx]
    # Zipf-like users: a few heavy users, a long tail.
    weights = 1 / np.arange(1, spec.n_users + 1) ** 0.8
    uidx = rng.choice(spec.n_users, size=n, p=weights / weights.sum())
    user = np.char.add("user-", uidx.astype(str)).astype(object)

    out_med = np.array([f.output_tokens_median for f in feats])[fidx]
    ttft_med = np.array([f.ttft_median_ms for f in feats])[fidx]
    tbt_med = np.array([f.tbt_median_ms for f in feats])[fidx]
    input_tokens = np.maximum(5, rng.lognormal(np.log(400), 0.6, n)).astype(np.int64)
    verbosity = np.ones(n)
    ttft_factor = np.ones(n)
    refusal_p = np.full(n, spec.refusal_rate)
    wrong_date_p = np.zeros(n)
    shifted = np.zeros(n, dtype=bool)
    for ch in spec.changes:
        on = _active(ch, ts) & (True if ch.feature is None else feature == ch.feature)
        if ch.kind == "ttft_regression":
            ttft_factor[on] *= ch.magnitude
        elif ch.kind == "verbose_drift":
            verbosity[on] *= ch.magnitude
        elif ch.kind == "refusal_spike":
            refusal_p[on] = ch.magnitude
        elif ch.kind == "correctness_drop":
            wrong_date_p[on] = ch.magnitude
        elif ch.kind == "topic_shift":
            shifted |= on
    output_tokens = np.maximum(1, rng.lognormal(np.log(out_med * verbosity), 0.5)).astype(np.int64)
    ttft = rng.lognormal(np.log(ttft_med * ttft_factor), 0.35)
    tbt = rng.lognormal(np.log(tbt_med), 0.25)
    latency = ttft + tbt * (output_tokens - 1) + rng.exponential(15, n)

    u = rng.random(n)
    finish = np.where(u < refusal_p, "refusal", "stop").astype(object)
    trunc = (rng.random(n) < spec.truncation_rate) & (finish == "stop")
    finish[trunc] = "length"
    err = rng.random(n) < spec.error_rate
    error = np.where(err, rng.choice(["rate_limit", "server_error", "timeout"], n), None)  # type: ignore[call-overload]
    finish[err] = "error"

    records = pd.DataFrame(
        {
            "request_id": np.char.add("req-", np.arange(n).astype(str)).astype(object),
            "timestamp": pd.to_datetime(ts).tz_localize(UTC),
            "feature_id": feature,
            "model_id": model,
            "user_id": user,
            "session_id": None,
            "input": "",
            "output": "",
            "latency_ms": latency.round(1),
            "ttft_ms": ttft.round(1),
            "tbt_ms": tbt.round(2),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": np.nan,
            "finish_reason": finish,
            "error": error,
        }
    )
    records["session_id"] = (
        records["user_id"] + "-" + (ts.astype("datetime64[h]").astype(np.int64)).astype(str)
    )
    wrong = rng.random(n) < wrong_date_p
    wrong_ids = set(records["request_id"][wrong])
    if spec.with_text:
        records["input"], records["output"] = _texts(rng, feature, shifted, output_tokens, wrong)
    for ch in spec.changes:
        if ch.kind == "cost_spike":
            records = pd.concat([records, _spender(rng, spec, ch, len(records))], ignore_index=True)
    records.loc[records["finish_reason"] == "error", ["output", "ttft_ms", "tbt_ms"]] = [
        "",
        np.nan,
        np.nan,
    ]
    records = records.sort_values("timestamp", kind="stable", ignore_index=True)
    truth = pd.DataFrame({"request_id": records["request_id"], "correct": True})
    truth.loc[truth["request_id"].isin(wrong_ids), "correct"] = False
    return Traffic(records, _signals(rng, spec, records), truth)


def _texts(
    rng: np.random.Generator,
    feature: np.ndarray,
    shifted: np.ndarray,
    output_tokens: np.ndarray,
    wrong: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n = feature.size
    topic = np.empty(n, dtype=object)
    for name, words in _TOPICS.items():
        on = feature == name
        topic[on] = np.array(words, dtype=object)[rng.integers(0, len(words), on.sum())]
    off = topic == None  # noqa: E711 -- features without a vocabulary
    topic[off] = "request"
    topic[shifted] = np.array(_SHIFTED, dtype=object)[rng.integers(0, len(_SHIFTED), shifted.sum())]
    day = rng.integers(1, 13, n).astype(str)
    month = rng.integers(1, 13, n).astype(str)
    inputs = "Please help with my " + topic + " dated " + day + "/" + month + "/2026."
    d2 = np.char.zfill(day.astype(str), 2).astype(object)
    m2 = np.char.zfill(month.astype(str), 2).astype(object)
    date = np.where(wrong, "2026-" + d2 + "-" + m2, "2026-" + m2 + "-" + d2)
    filler = np.array([" Details follow." * k for k in range(0, 40)], dtype=object)
    pad = filler[np.minimum(39, output_tokens // 25)]
    outputs = "About your " + topic + " (date " + date + "): here is the answer." + pad
    return inputs.astype(object), outputs.astype(object)


def _spender(rng: np.random.Generator, spec: TrafficSpec, ch: Change, first: int) -> pd.DataFrame:
    start = max(ch.start, spec.start)
    stop = min(
        ch.end or spec.start + timedelta(days=spec.days), spec.start + timedelta(days=spec.days)
    )
    minutes = max(0.0, (stop - start).total_seconds() / 60)
    k = int(rng.poisson(ch.rate_per_min * minutes))
    base = np.datetime64(start.astimezone(UTC).replace(tzinfo=None), "ns")
    ts = np.sort(base + (rng.random(k) * minutes * 60e9).astype("timedelta64[ns]"))
    feat = spec.features[0]
    out = np.maximum(1, rng.lognormal(np.log(feat.output_tokens_median * ch.magnitude * 5), 0.3, k))
    ttft = rng.lognormal(np.log(feat.ttft_median_ms), 0.35, k)
    tbt = rng.lognormal(np.log(feat.tbt_median_ms), 0.25, k)
    return pd.DataFrame(
        {
            "request_id": np.char.add("req-", np.arange(first, first + k).astype(str)).astype(
                object
            ),
            "timestamp": pd.to_datetime(ts).tz_localize(UTC),
            "feature_id": feat.name,
            "model_id": feat.model,
            "user_id": ch.user,
            "session_id": ch.user + "-loop",
            "input": "Write the full report again, every section, maximum detail.",
            "output": "Report. " + "Section text. " * 50,
            "latency_ms": (ttft + tbt * out).round(1),
            "ttft_ms": ttft.round(1),
            "tbt_ms": tbt.round(2),
            "input_tokens": np.full(k, 6000, dtype=np.int64),
            "output_tokens": out.astype(np.int64),
            "cost_usd": np.nan,
            "finish_reason": "stop",
            "error": None,
        }
    )


def _signals(rng: np.random.Generator, spec: TrafficSpec, records: pd.DataFrame) -> pd.DataFrame:
    n = len(records)
    ts = records["timestamp"]
    ok = records["finish_reason"].to_numpy() != "error"
    thumbs = ok & (rng.random(n) < spec.thumbs_rate)
    up = rng.random(n) < spec.thumbs_up_share
    parts = [
        (thumbs & up, "thumbs_up"),
        (thumbs & ~up, "thumbs_down"),
        (ok & (rng.random(n) < spec.correction_rate), "correction"),
        (rng.random(n) < spec.follow_up_rate, "follow_up"),
    ]
    frames = []
    for mask, kind in parts:
        frames.append(
            pd.DataFrame(
                {
                    "request_id": records["request_id"][mask],
                    "session_id": records["session_id"][mask],
                    "signal_type": kind,
                    "timestamp": ts[mask] + pd.to_timedelta(rng.exponential(30, mask.sum()), "s"),
                }
            )
        )
    # Session outcomes, attached to the session's last request.
    last = records.groupby("session_id", sort=False).tail(1)
    m = len(last)
    v = rng.random(m)
    for mask, kind in (
        (v < spec.abandon_rate, "abandon"),
        (v > 1 - spec.complete_rate, "task_complete"),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "request_id": last["request_id"][mask],
                    "session_id": last["session_id"][mask],
                    "signal_type": kind,
                    "timestamp": last["timestamp"][mask] + pd.Timedelta(seconds=60),
                }
            )
        )
    signals = pd.concat(frames, ignore_index=True).sort_values("timestamp", ignore_index=True)
    signals["metadata"] = "{}"
    return signals


def write(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write records or signals as JSONL, Parquet or CSV by the path's suffix (via DuckDB)."""
    import duckdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jsonl": "json", ".ndjson": "json", ".parquet": "parquet", ".csv": "csv"}.get(
        path.suffix
    )
    if fmt is None:
        raise ValueError(f"{path}: unknown format (use .jsonl, .parquet or .csv)")
    con = duckdb.connect()
    try:
        con.register("frame", frame)
        ts = "strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%fZ') AS timestamp"
        replace = "timestamp" in frame and fmt != "parquet"
        query = f"SELECT * REPLACE ({ts}) FROM frame" if replace else "SELECT * FROM frame"
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT {fmt})")
    finally:
        con.close()
    return path


def write_otel(records: pd.DataFrame, path: str | Path, *, legacy: bool = False) -> Path:
    """Write records as an OTLP/JSON trace export of GenAI client spans (one span per request).

    ``legacy`` uses the older attribute names (``gen_ai.usage.prompt_tokens`` /
    ``completion_tokens``) so both spellings are exercised.
    """

    def attr(key: str, value: object) -> dict[str, object]:
        if isinstance(value, bool):
            return {"key": key, "value": {"boolValue": value}}
        if isinstance(value, int | np.integer):
            return {"key": key, "value": {"intValue": str(int(value))}}
        if isinstance(value, float | np.floating):
            return {"key": key, "value": {"doubleValue": float(value)}}
        if isinstance(value, list):
            return {
                "key": key,
                "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}},
            }
        return {"key": key, "value": {"stringValue": str(value)}}

    spans = []
    tokens = ("prompt_tokens", "completion_tokens") if legacy else ("input_tokens", "output_tokens")
    for r in records.itertuples(index=False):
        start_ns = int(r.timestamp.value)
        attrs = [
            attr("gen_ai.operation.name", "chat"),
            attr("gen_ai.request.model", r.model_id),
            attr("gen_ai.response.id", r.request_id),
            attr(f"gen_ai.usage.{tokens[0]}", int(r.input_tokens)),
            attr(f"gen_ai.usage.{tokens[1]}", int(r.output_tokens)),
            attr("gen_ai.response.finish_reasons", [r.finish_reason]),
            attr("gen_ai.conversation.id", r.session_id),
            attr("app.feature", r.feature_id),
            attr("user.id", r.user_id),
            attr("gen_ai.input.messages", json.dumps([{"role": "user", "content": r.input}])),
            attr(
                "gen_ai.output.messages", json.dumps([{"role": "assistant", "content": r.output}])
            ),
        ]
        if not pd.isna(r.ttft_ms):
            attrs.append(attr("gen_ai.response.time_to_first_chunk", float(r.ttft_ms) / 1000))
        if legacy:
            attrs.append(attr("openai.response.system_fingerprint", "fp_legacy"))
        status = {"code": 2, "message": r.error} if isinstance(r.error, str) else {"code": 1}
        spans.append(
            {
                "traceId": f"{abs(hash(r.request_id)):032x}"[:32],
                "spanId": f"{abs(hash(r.request_id)):016x}"[:16],
                "name": f"chat {r.model_id}",
                "kind": 3,
                "startTimeUnixNano": str(start_ns),
                "endTimeUnixNano": str(start_ns + int(float(r.latency_ms) * 1e6)),
                "attributes": attrs,
                "status": status,
            }
        )
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "app")]},
                "scopeSpans": [{"scope": {"name": "canaryflow.generator"}, "spans": spans}],
            }
        ]
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: generate traffic and write records (and signals) files."""
    ap = argparse.ArgumentParser(prog="python -m canaryflow.production.generator")
    ap.add_argument(
        "--out", required=True, help="records file: .jsonl, .parquet, .csv or .otel.json"
    )
    ap.add_argument("--signals", help="user-signals file (.jsonl, .parquet or .csv)")
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--rate", type=float, default=20.0, help="mean requests per minute")
    ap.add_argument("--start", default="2026-11-01T00:00:00+00:00")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--until-now",
        action="store_true",
        help="end the traffic at the current quarter hour (ignores --start): a log to watch now",
    )
    ap.add_argument(
        "--models",
        help="comma-separated model ids of the features in order (support-chat, doc-extract, "
        "summarize), e.g. the pinned ids of your canaryflow.toml so costs use its pricing",
    )
    ap.add_argument(
        "--change",
        action="append",
        default=[],
        metavar="KIND@HOURS[:FEATURE[:MAGNITUDE]]",
        help="inject a change HOURS after start, e.g. ttft_regression@6:support-chat:3",
    )
    args = ap.parse_args(argv)
    start = datetime.fromisoformat(args.start)
    if args.until_now:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        start = now - timedelta(minutes=now.minute % 15, days=args.days)
    features: tuple[FeatureSpec, ...] = DEFAULT_FEATURES
    if args.models:
        ids = [m.strip() for m in args.models.split(",")]
        features = tuple(
            FeatureSpec(f.name, ids[i] if i < len(ids) else f.model, f.share,
                        f.output_tokens_median, f.ttft_median_ms, f.tbt_median_ms)
            for i, f in enumerate(DEFAULT_FEATURES)
        )  # fmt: skip
    changes = []
    for text in args.change:
        kind, _, rest = text.partition("@")
        hours, _, rest = rest.partition(":")
        feat, _, mag = rest.partition(":")
        changes.append(
            Change(
                kind=kind,
                start=start + timedelta(hours=float(hours or 0)),
                feature=feat or None,
                magnitude=float(mag) if mag else 3.0,
            )
        )
    traffic = generate(
        TrafficSpec(
            start=start,
            days=args.days,
            rate_per_min=args.rate,
            seed=args.seed,
            changes=tuple(changes),
            features=features,
        )
    )
    if args.out.endswith(".otel.json"):
        write_otel(traffic.records, args.out)
    else:
        write(traffic.records, args.out)
    if args.signals:
        write(traffic.signals, args.signals)
    print(f"{len(traffic.records)} records -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
