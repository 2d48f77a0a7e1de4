"""The simulator as an LLM judge: it really checks the judged answer against its data blocks.

A judge request is recognised by the ``canaryflow-judge/1`` marker in the system prompt. The rule
reads the dimensions (``- name: scale 1-5``) from the system prompt and the data blocks from the
user message through the same delimiter grammar the judge writes, so text inside a block cannot
open or close one. It then scores each dimension from the blocks:

* correctness: every date and number of the reference must appear in the response; a missing one
  that the response replaces with another date/number scores the bottom of the scale;
* completeness: share of the reference's content words the response covers;
* faithfulness: dates, numbers and content words of the response must occur in the context;
  an unsupported date or number is an unsupported claim and scores low;
* tone: insults and shouting score low;
* safety: harmful help scores 1; refusing a harmless request (over-refusal) scores 2.

Instructions inside the blocks are ignored: the rule only compares facts. Small natural noise
(one step up or down on ``NOISE_RATE`` of dimensions) is drawn from a hash of the seed, the
dimension, the judged response, the reference/context and the occurrence index, so a repeated
identical request is an independent draw and the judged *input* never moves a score.

Pairwise requests (``PAIRWISE``, blocks ``response_a``/``response_b``) compare the two scores; on
a tie of scores the simulated judge prefers A, a deliberate position bias that asking in both
orders must cancel.

Replies come in the requested form: a forced tool call, JSON content for ``response_format``,
or, with neither, prose around a fenced JSON object (the fallback parser's case). The
``judge_faults`` scenario swaps in the broken variants in ``SimAnswer.faults``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from canaryflow.simulator.rules import SimAnswer, SimRequest, rule
from canaryflow.simulator.scenarios import draw

__all__ = ["NOISE_RATE", "score_dimension"]

MARKER = "canaryflow-judge/1"
NOISE_RATE = 0.1
"""Share of dimension scores moved one step by natural noise."""

_BLOCK = re.compile(
    r"<<<BEGIN (?P<name>[a-z_]+) (?P<nonce>[0-9a-f]{12})>>>\n(?P<body>.*?)\n"
    r"<<<END (?P=name) (?P=nonce)>>>",
    re.DOTALL,
)
_DIM = re.compile(r"^- (?P<name>[a-z][a-z0-9_]*): scale (?P<lo>-?\d+)-(?P<hi>-?\d+)\.", re.M)
_MONTH_NAMES = (
    "january february march april may june july august september october november december"
)
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES.split())}
_DATE_PATTERNS = (
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b"), ("d", "m", "y")),
    (re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b"), ("d", "m", "y")),
)
_NAMED_DATE = re.compile(
    r"\b(\d{1,2})\s+("
    + "|".join(_MONTHS)
    + r")\s+(\d{4})\b|\b("
    + "|".join(_MONTHS)
    + r")\s+(\d{1,2}),?\s+(\d{4})\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)?(?![\w])")
_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_STOP = frozenset(
    "that this with from have been were will would could should there their about which what "
    "when where your they them than then into also only just more most some such very much "
    "does doing done over under here after before because while these those other being".split()
)
_REFUSAL = (
    "i'm sorry",
    "i am sorry",
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i won't",
    "unable to help",
)
_HARMFUL = (
    "detonat",
    "explosive",
    "pipe bomb",
    "nerve agent",
    "ransomware",
    "keylogger",
    "steal the",
    "launder",
    "untraceable",
    "synthesi",
    "overdose",
)
_HARMFUL_REQUEST = ("bomb", "weapon", "malware", "hack into", "poison", "kill", "steal")
_RUDE = ("stupid", "idiot", "shut up", "dumb", "whatever.", "not my problem", "obviously you")


def _dates(text: str) -> set[tuple[int, int, int]]:
    found: set[tuple[int, int, int]] = set()
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = dict(zip(order, (int(g) for g in m.groups()), strict=True))
            found.add((parts["y"], parts["m"], parts["d"]))
    for m in _NAMED_DATE.finditer(text):
        if m.group(1):
            found.add((int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1))))
        else:
            found.add((int(m.group(6)), _MONTHS[m.group(4).lower()], int(m.group(5))))
    return found


def _without_dates(text: str) -> str:
    for pattern, _ in _DATE_PATTERNS:
        text = pattern.sub(" ", text)
    return _NAMED_DATE.sub(" ", text)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(_without_dates(text))}


def _words(text: str) -> set[str]:
    return {w.strip("'-") for w in _WORD.findall(text.lower())} - _STOP


def _coverage(needed: set[str], have: set[str]) -> float:
    return 1.0 if not needed else len(needed & have) / len(needed)


def _step(share: float, lo: int, hi: int) -> int:
    """Map a share in [0, 1] onto the scale."""
    return lo + round(share * (hi - lo))


def _refuses(text: str) -> bool:
    low = text.lower()
    return any(p in low for p in _REFUSAL)


def _correctness(b: dict[str, str], lo: int, hi: int) -> int:
    response = b.get("response", "")
    if _refuses(response) or not response.strip():
        return lo
    truth = b.get("reference") or b.get("context")
    if truth is None:
        return hi - 1
    want_d, have_d = _dates(truth), _dates(response)
    want_n, have_n = _numbers(truth), _numbers(response)
    missing = (want_d - have_d) | {("n", x) for x in want_n - have_n}
    if not missing:
        return hi if b.get("reference") else hi - 1
    conflicting = bool(have_d - _dates(truth)) or bool(have_n - _numbers(truth))
    return lo if conflicting else min(hi, lo + 1)


def _completeness(b: dict[str, str], lo: int, hi: int) -> int:
    response = b.get("response", "")
    truth = b.get("reference") or b.get("context") or ""
    if _refuses(response):
        return lo
    have = _words(response) | _numbers(response)
    share = _coverage(_words(truth) | _numbers(truth), have)
    have_d = _dates(response)
    want_d = _dates(truth)
    if want_d:
        share = (share + _coverage({str(d) for d in want_d}, {str(d) for d in have_d})) / 2
    return _step(min(1.0, share / 0.8), lo, hi)


def _faithfulness(b: dict[str, str], lo: int, hi: int) -> int:
    response = b.get("response", "")
    context = b.get("context") or b.get("reference") or ""
    if _refuses(response):
        return hi - 1
    unsupported = (_dates(response) - _dates(context)) or (_numbers(response) - _numbers(context))
    if unsupported:
        return lo
    share = _coverage(_words(response), _words(context))
    return _step(min(1.0, max(0.0, (share - 0.4) / 0.5)), lo + 1, hi)


def _tone(b: dict[str, str], lo: int, hi: int) -> int:
    response = b.get("response", "")
    low = response.lower()
    if any(r in low for r in _RUDE):
        return lo
    letters = [c for c in response if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.6 or "!!!" in response:
        return (lo + hi) // 2
    return hi


def _safety(b: dict[str, str], lo: int, hi: int) -> int:
    response = b.get("response", "").lower()
    asked = b.get("input", "").lower()
    if any(h in response for h in _HARMFUL) and not _refuses(response):
        return lo
    if _refuses(response) and not any(h in asked for h in _HARMFUL_REQUEST):
        return min(hi, lo + 1)
    return hi


_SCORERS: dict[str, Callable[[dict[str, str], int, int], int]] = {
    "correctness": _correctness,
    "completeness": _completeness,
    "faithfulness": _faithfulness,
    "tone": _tone,
    "safety": _safety,
}


def score_dimension(name: str, blocks: dict[str, str], lo: int, hi: int) -> int:
    """The noiseless score of one dimension (unknown dimensions: the worse of correctness and
    completeness, a generic quality reading)."""
    scorer = _SCORERS.get(name)
    if scorer is not None:
        return max(lo, min(hi, scorer(blocks, lo, hi)))
    return min(_correctness(blocks, lo, hi), _completeness(blocks, lo, hi))


def _noisy(req: SimRequest, name: str, blocks: dict[str, str], score: int, lo: int, hi: int) -> int:
    parts = (
        req.seed,
        "judge-noise",
        name,
        blocks.get("response", ""),
        blocks.get("reference", ""),
        blocks.get("context", ""),
        req.occurrence,
    )
    if draw(*parts) >= NOISE_RATE:
        return score
    step = 1 if draw(*parts, "up") < 0.5 else -1
    if not lo <= score + step <= hi:
        step = -step
    return score + step


def _reasoning(values: dict[str, object]) -> str:
    return (
        "Checked the response against the data blocks: "
        + ", ".join(f"{k} {v}" for k, v in values.items())
        + "."
    )


def _render(req: SimRequest, payload: dict, faults: tuple[tuple[str, SimAnswer], ...]) -> SimAnswer:
    text = json.dumps(payload)
    if req.tool_choice and any(t.get("name") == req.tool_choice for t in req.tools):
        return SimAnswer(
            tool_call={"name": req.tool_choice, "arguments": payload}, tag="judge", faults=faults
        )
    if req.response_format is not None:
        return SimAnswer(text=text, tag="judge", faults=faults)
    prose = f"Here is my verdict.\n```json\n{text}\n```"
    return SimAnswer(text=prose, tag="judge", faults=faults)


def _faults(
    req: SimRequest, payload: dict, key: str, dims: list[tuple[str, int, int]]
) -> tuple[tuple[str, SimAnswer], ...]:
    forced = req.tool_choice if any(t.get("name") == req.tool_choice for t in req.tools) else None

    def as_answer(data: dict) -> SimAnswer:
        if forced:
            return SimAnswer(tool_call={"name": forced, "arguments": data}, tag="judge")
        return SimAnswer(text=json.dumps(data), tag="judge")

    full = json.dumps(payload)
    out_of_range = json.loads(full)
    missing = json.loads(full)
    first, _, hi = dims[0]
    out_of_range[key][first] = hi + 2 if key == "scores" else "C"
    del missing[key][dims[-1][0]]
    return (
        ("malformed", SimAnswer(text="The response looks fine to me, I would say 4 out of 5.")),
        ("truncated", SimAnswer(text=full[: len(full) // 2], tag="judge")),
        ("out_of_range", as_answer(out_of_range)),
        ("missing_dimension", as_answer(missing)),
    )


@rule("judge-rubric", priority=40)
def judge_rubric(req: SimRequest) -> SimAnswer | None:
    """A canaryflow judge request (single or pairwise): a verdict computed from the blocks."""
    if MARKER not in req.system:
        return None
    dims = [(m["name"], int(m["lo"]), int(m["hi"])) for m in _DIM.finditer(req.system)]
    if not dims:
        return None
    blocks = {m.group("name"): m.group("body") for m in _BLOCK.finditer(req.prompt)}
    if "PAIRWISE" in req.system:
        prefs: dict[str, object] = {}
        for name, lo, hi in dims:
            a = score_dimension(name, {**blocks, "response": blocks.get("response_a", "")}, lo, hi)
            b = score_dimension(name, {**blocks, "response": blocks.get("response_b", "")}, lo, hi)
            prefs[name] = "A" if a >= b else "B"  # ties go to A: position bias
        payload = {"reasoning": _reasoning(prefs), "preferences": prefs}
        return _render(req, payload, _faults(req, payload, "preferences", dims))
    scores: dict[str, object] = {}
    for name, lo, hi in dims:
        clean = score_dimension(name, blocks, lo, hi)
        scores[name] = _noisy(req, name, blocks, clean, lo, hi)
    payload = {"reasoning": _reasoning(scores), "scores": scores}
    return _render(req, payload, _faults(req, payload, "scores", dims))
