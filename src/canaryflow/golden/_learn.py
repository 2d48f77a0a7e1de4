"""The runbook's learn step: an incident's failing cases become golden items.

A failure caught once (by a canary probe, a golden item, a production sample) should be
checked every day from then on. The cases come from the evidence the incident was filed with
(``Incident.evidence["examples"]``, kept through ack and resolve) and from its alerts' evidence.
Each becomes one item of the target set with what made it fail checkable again:

- a golden item keeps its inputs and its effective checks (the target set takes the source
  set's prompt when it is new, so the item is sent exactly as before);
- a canary probe keeps its prompt (a multi-message probe's turns joined into one user
  turn) and its checks;
- a production sample keeps its input (and expected text, if any) for the judge.

Items are deduplicated by the request they send (not by id), carry a note naming the incident
and the tag ``from_incident``, and the set is validated after the append: an append that
would make the set invalid is rolled back and reported file:line: field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from canaryflow.errors import CanaryflowError, DataErrors
from canaryflow.golden._format import GoldenItem, GoldenPrompt, GoldenSetHeader, build_request
from canaryflow.golden._load import GoldenSet, load_golden_set, load_golden_sets
from canaryflow.records import Incident

__all__ = ["LearnResult", "add_from_incident", "default_target"]

PLAIN_PROMPT = GoldenPrompt(user="{{ input }}")


@dataclass
class LearnResult:
    """What ``add_from_incident`` did."""

    set_name: str
    jsonl: Path
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Cases that could not become items, each with why."""
    created: bool = False


def default_target(incident: Incident) -> str:
    """The set the runbook names: the incident's ``golden_set``, else ``<subject>-regressions``."""
    named = incident.evidence.get("golden_set")
    if named:
        return str(named)
    return re.sub(r"[^a-z0-9_-]+", "-", f"{incident.subject}-regressions".lower()).strip("-")


def _cases(incident: Incident) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = list(incident.evidence.get("examples") or [])
    for alert in incident.alerts:
        for key in ("examples", "failing_examples"):
            rows.extend(r for r in alert.evidence.get(key) or [] if isinstance(r, Mapping))
    seen, out = set(), []
    for r in rows:
        key = str(r.get("item_id") or r.get("id") or r.get("probe") or r.get("input"))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _slug(text: str) -> str:
    """An item id the format accepts (lower case, ``[a-z0-9_.-]``)."""
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")[:80] or "case"


def _dump(model: GoldenItem | GoldenSetHeader) -> dict[str, Any]:
    """Non-default fields, but checks whole (their ``type`` tag is a default, yet required)."""
    doc = model.model_dump(mode="json", exclude_defaults=True)
    if model.checks:
        doc["checks"] = [c.model_dump(mode="json", exclude_none=True) for c in model.checks]
    return doc


def _request_text(header: GoldenSetHeader, item: GoldenItem, set_name: str) -> str:
    req = build_request(header, item, set_name=set_name, model_key="_")
    return "\n".join(f"{m.role}:{m.content}" for m in req.messages)


def _from_case(
    case: Mapping[str, Any],
    incident: Incident,
    sets: Mapping[str, GoldenSet],
    probes: Mapping[str, Any],
) -> tuple[GoldenItem, GoldenSetHeader | None] | str:
    """The item for one case and the header it needs (None: the plain ``{{ input }}`` one)."""
    item_id = str(case.get("item_id") or case.get("id") or case.get("probe") or "")
    note = f"from incident {incident.incident_id}: {case.get('reason') or incident.title}"[:500]
    tags = ("from_incident",)
    category = _slug(incident.subject.split("/")[-1]).replace("-", "_").lower() or "default"
    set_name, _, golden_id = item_id.partition("/")
    if golden_id and set_name in sets and any(i.id == golden_id for i in sets[set_name]):
        gset = sets[set_name]
        orig = gset.get(golden_id)
        item = orig.model_copy(
            update={
                "id": _slug(f"{golden_id}-{incident.incident_id}"),
                "checks": gset.checks_for(orig),
                "use_default_checks": False,
                "tags": tuple(dict.fromkeys((*orig.tags, *tags))),
                "note": note,
            }
        )
        return item, gset.header
    probe = probes.get(item_id)
    if probe is not None:
        text = probe.prompt or "\n\n".join(m.content for m in probe.messages or ())
        return GoldenItem(
            id=_slug(f"{item_id}-{incident.incident_id}"),
            inputs={"input": text},
            checks=probe.checks,
            category=category,
            tags=tags,
            note=note,
        ), None
    text = str(case.get("input") or "")
    if not text:
        return f"{item_id or '?'}: the incident kept no input for this case"
    expected = str(case.get("expected") or "") or None
    return GoldenItem(
        id=_slug(f"{item_id or 'case'}-{incident.incident_id}"),
        inputs={"input": text},
        expected=expected,
        category=category,
        tags=tags,
        note=note,
    ), None


def add_from_incident(
    incident: Incident,
    golden_dir: str | Path,
    *,
    set_name: str | None = None,
    probes: Sequence[Any] = (),
) -> LearnResult:
    """Append the incident's failing cases to ``golden_dir/<set>.jsonl`` (created if new).

    Raises:
        CanaryflowError: the incident kept no failing case.
        DataErrors: the appended items made the set invalid (the file is restored).
    """
    directory = Path(golden_dir)
    target = set_name or default_target(incident)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", target):
        raise CanaryflowError(f"golden set name {target!r}: letters, digits, _ and - only")
    cases = _cases(incident)
    if not cases:
        raise CanaryflowError(
            f"incident {incident.incident_id} kept no failing case to learn from "
            "(its evidence has no examples)"
        )
    suite = load_golden_sets(directory) if directory.is_dir() else None
    sets = {s.name: s for s in suite.sets} if suite else {}
    header_path, jsonl = directory / f"{target}.yaml", directory / f"{target}.jsonl"
    existing = sets.get(target)
    result = LearnResult(target, jsonl, created=not header_path.exists())
    header = existing.header if existing else None
    seen = (
        {_request_text(existing.header, i, target) for i in existing.items} if existing else set()
    )
    ids = {i.id for i in existing.items} if existing else set()
    lines: list[str] = []
    for case in cases:
        made = _from_case(case, incident, sets, {p.id: p for p in probes})
        if isinstance(made, str):
            result.skipped.append(made)
            continue
        item, needs = made
        wanted = needs or GoldenSetHeader(
            description="Failing cases learnt from incidents",
            prompt=PLAIN_PROMPT,
            rubric="quality" if item.expected and not item.checks else None,
        )
        if header is None:
            header = wanted
        elif header.prompt != wanted.prompt:
            result.skipped.append(f"{item.id}: sent with another prompt than set {target}'s")
            continue
        text = _request_text(header, item, target)
        if text in seen:
            result.duplicates.append(item.id)
            continue
        n, base = 2, item.id
        while item.id in ids:
            item = item.model_copy(update={"id": f"{base}-{n}"})
            n += 1
        seen.add(text)
        ids.add(item.id)
        lines.append(json.dumps(_dump(item)))
        result.added.append(item.id)
    if not lines:
        return result
    directory.mkdir(parents=True, exist_ok=True)
    before = jsonl.read_text(encoding="utf-8") if jsonl.exists() else None
    if result.created and header is not None:
        doc = _dump(header)
        doc["description"] = f"{doc['description']} (started by incident {incident.incident_id})"
        header_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    text = before or ""
    if text and not text.endswith("\n"):
        text += "\n"
    jsonl.write_text(text + "\n".join(lines) + "\n", encoding="utf-8")
    _, errors = load_golden_set(header_path)
    if errors:
        if before is None:
            jsonl.unlink()
        else:
            jsonl.write_text(before, encoding="utf-8")
        if result.created:
            header_path.unlink()
        raise DataErrors(errors)
    return result
