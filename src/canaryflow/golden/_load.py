"""Load and validate golden sets, every problem at once, located at ``file:line: field``.

A bad item never stops the valid ones: it is reported and dropped, and the rest of its set
loads. A bad header drops its set (there is no prompt to send), but its items are still
validated so one ``canaryflow golden validate`` shows every problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import TemplateError, UndefinedError
from pydantic import TypeAdapter, ValidationError

from canaryflow.definitions._yaml import Located, YamlDocument, load_yaml, validation_errors
from canaryflow.errors import DataError, DataErrors
from canaryflow.golden._format import GoldenItem, GoldenSetHeader, build_request

__all__ = [
    "GOLDEN_ITEM_SCHEMA_PATH",
    "GOLDEN_SET_SCHEMA_PATH",
    "GoldenSet",
    "GoldenSuite",
    "golden_item_json_schema",
    "golden_set_json_schema",
    "load_golden_set",
    "load_golden_sets",
    "render_golden_schemas",
]

_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
GOLDEN_SET_SCHEMA_PATH = _SCHEMAS / "golden_set.schema.json"
"""The committed JSON Schema of ``golden_sets/<name>.yaml``."""
GOLDEN_ITEM_SCHEMA_PATH = _SCHEMAS / "golden_item.schema.json"
"""The committed JSON Schema of one line of ``golden_sets/<name>.jsonl``."""


@dataclass(frozen=True)
class GoldenSet:
    """One loaded set: its header, its valid items, and where it came from."""

    name: str
    header: GoldenSetHeader
    items: tuple[GoldenItem, ...]
    path: str
    """The header file (``golden_sets/<name>.yaml``)."""

    def __iter__(self) -> Iterator[GoldenItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, item_id: str) -> GoldenItem:
        """The item with this id (KeyError if absent)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def categories(self) -> dict[str, tuple[GoldenItem, ...]]:
        """Items grouped by category, in file order."""
        out: dict[str, list[GoldenItem]] = {}
        for item in self.items:
            out.setdefault(item.category, []).append(item)
        return {k: tuple(v) for k, v in out.items()}

    def checks_for(self, item: GoldenItem) -> tuple[Any, ...]:
        """The checks applied to ``item``: the set's defaults (unless opted out), then its own."""
        defaults = self.header.checks if item.use_default_checks else ()
        return (*defaults, *item.checks)


@dataclass(frozen=True)
class GoldenSuite:
    """The sets that loaded, and every problem found (valid sets and items still load)."""

    sets: tuple[GoldenSet, ...]
    errors: tuple[DataError, ...] = ()

    def __iter__(self) -> Iterator[GoldenSet]:
        return iter(self.sets)

    def __len__(self) -> int:
        return len(self.sets)

    @property
    def ok(self) -> bool:
        """True when every file was valid."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`DataErrors` listing every problem, if there is any."""
        if self.errors:
            raise DataErrors(self.errors)

    def get(self, name: str) -> GoldenSet:
        """The set with this name (KeyError if absent)."""
        for s in self.sets:
            if s.name == name:
                return s
        raise KeyError(name)


def _header(path: Path) -> tuple[GoldenSetHeader | None, list[DataError]]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [DataError(file, None, None, f"cannot read: {exc}")]
    doc, errors = load_yaml(text, file)
    if doc is None:
        return None, errors
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__
        return None, [
            *errors,
            DataError(
                file, doc.line_of(()), None, f"expected a mapping (the set header), got {kind}"
            ),
        ]
    try:
        return GoldenSetHeader.model_validate(doc.data), errors
    except ValidationError as exc:
        return None, [*errors, *validation_errors(exc, Located(doc, ()))]


def _items(
    path: Path, header: GoldenSetHeader | None, name: str
) -> tuple[list[GoldenItem], list[DataError]]:
    file = str(path)
    if not path.exists():
        return [], [DataError(file, None, None, "missing: every golden set needs <name>.jsonl")]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [DataError(file, None, None, f"cannot read: {exc}")]
    items: list[GoldenItem] = []
    errors: list[DataError] = []
    first_seen: dict[str, int] = {}
    needed = header.prompt.variables() if header is not None else set()
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(
                DataError(file, line_no, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
            )
            continue
        if not isinstance(data, dict):
            errors.append(
                DataError(file, line_no, None, f"expected a JSON object, got {type(data).__name__}")
            )
            continue
        doc = YamlDocument(file, data, {(): line_no})
        try:
            item = GoldenItem.model_validate(data)
        except ValidationError as exc:
            errors.extend(validation_errors(exc, Located(doc, ())))
            continue
        if item.id in first_seen:
            errors.append(
                DataError(
                    file,
                    line_no,
                    "id",
                    f"duplicate item id {item.id!r} (first at line {first_seen[item.id]})",
                )
            )
            continue
        missing = sorted(needed - set(item.variables()))
        if missing:
            errors.append(
                DataError(
                    file,
                    line_no,
                    "inputs",
                    f"the prompt template uses {', '.join(map(repr, missing))}, "
                    "not given by this item",
                )
            )
            continue
        if header is not None:
            try:
                build_request(header, item, set_name=name)
            except (UndefinedError, TemplateError) as exc:
                errors.append(
                    DataError(file, line_no, "inputs", f"cannot render the prompt: {exc}")
                )
                continue
        first_seen[item.id] = line_no
        items.append(item.located(file, line_no))
    if not items and not errors:
        errors.append(DataError(file, None, None, "no items (one JSON object per line)"))
    return items, errors


def load_golden_set(header_path: str | Path) -> tuple[GoldenSet | None, list[DataError]]:
    """Load one set from its header path (the ``.jsonl`` next to it holds the items)."""
    path = Path(header_path)
    name = path.stem
    header, errors = _header(path)
    items, item_errors = _items(path.with_suffix(".jsonl"), header, name)
    errors.extend(item_errors)
    if header is None:
        return None, errors
    if not items:
        return None, errors
    return GoldenSet(name, header, tuple(items), str(path)), errors


def _headers(source: str | Path | Iterable[str | Path]) -> tuple[list[Path], list[DataError]]:
    entries = [source] if isinstance(source, str | Path) else list(source)
    found: list[Path] = []
    errors: list[DataError] = []
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            headers = sorted(p for p in path.iterdir() if p.suffix in {".yaml", ".yml"})
            if not headers:
                errors.append(DataError(str(path), None, None, "no golden sets (<name>.yaml) here"))
            for orphan in sorted(path.glob("*.jsonl")):
                if not any(h.stem == orphan.stem for h in headers):
                    errors.append(
                        DataError(
                            str(orphan),
                            None,
                            None,
                            f"items without a header: add {orphan.stem}.yaml",
                        )
                    )
            found.extend(headers)
        elif path.suffix == ".jsonl" and path.with_suffix(".yaml").exists():
            found.append(path.with_suffix(".yaml"))
        elif path.exists():
            found.append(path)
        else:
            errors.append(DataError(str(path), None, None, "no such file or directory"))
    return found, errors


def load_golden_sets(source: str | Path | Iterable[str | Path]) -> GoldenSuite:
    """Load every golden set in a directory, or the named header files.

    Never raises for bad content: each problem becomes a :class:`DataError`
    (``golden_sets/rag_qa.jsonl:17: checks[0].pattern: invalid regular expression ...``) in
    ``GoldenSuite.errors``, and everything valid is returned. Call ``raise_for_errors()`` to be
    strict.
    """
    headers, errors = _headers(source)
    sets: list[GoldenSet] = []
    for path in headers:
        gset, set_errors = load_golden_set(path)
        errors.extend(set_errors)
        if gset is not None:
            sets.append(gset)
    return GoldenSuite(tuple(sets), tuple(errors))


def _schema(model: type, title: str, description: str) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": title,
        "description": description,
    }


def golden_set_json_schema() -> dict[str, Any]:
    """The JSON Schema of a golden-set header (``golden_sets/<name>.yaml``)."""
    return _schema(
        GoldenSetHeader,
        "canaryflow golden set header",
        "golden_sets/<name>.yaml: prompt template, default checks, rubric. Generated from "
        "canaryflow.golden.GoldenSetHeader; regenerate with `canaryflow schema golden`.",
    )


def golden_item_json_schema() -> dict[str, Any]:
    """The JSON Schema of one golden item (one line of ``golden_sets/<name>.jsonl``)."""
    return _schema(
        GoldenItem,
        "canaryflow golden item",
        "One line of golden_sets/<name>.jsonl. Generated from canaryflow.golden.GoldenItem; "
        "regenerate with `canaryflow schema golden --item`.",
    )


def render_golden_schemas() -> dict[Path, str]:
    """The committed schema files' text, by path (2-space JSON, final newline)."""
    return {
        GOLDEN_SET_SCHEMA_PATH: json.dumps(golden_set_json_schema(), indent=2) + "\n",
        GOLDEN_ITEM_SCHEMA_PATH: json.dumps(golden_item_json_schema(), indent=2) + "\n",
    }
