"""YAML that remembers where things are, and pydantic errors mapped back to file:line: field.

Shared by every format users write in YAML (probes now, golden-set headers later): load with
:func:`load_yaml`, validate with pydantic, and turn a ``ValidationError`` into
:class:`~canaryflow.errors.DataError` objects with :func:`validation_errors`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from canaryflow.errors import DataError

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_CHARS",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "Located",
    "YamlDocument",
    "format_path",
    "load_yaml",
    "read_text_bounded",
    "validation_errors",
]

# Probe files are written by people but may come from a pull request nobody read closely; these
# limits keep a hostile file (billion laughs, deep nesting, giant literals) from exhausting the
# memory or the stack of the process that also runs every valid probe. Real files sit far below.
MAX_DOCUMENT_CHARS = 1_000_000
"""Longest file accepted (characters); filler directives keep long-context probes short."""
MAX_ALIASES = 100
"""Alias uses (``*name``) per document."""
MAX_NODES = 100_000
"""Nodes in the document once aliases are expanded (what validation would walk)."""
MAX_DEPTH = 64
"""Nesting depth of mappings and sequences."""
MAX_INT_DIGITS = 100
"""Digits of an integer literal (Python refuses to parse more than 4,300 anyway)."""

Path_ = tuple[str | int, ...]
"""A location inside a YAML document: mapping keys and sequence indices."""


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML data plus the 1-based line of every key and sequence item in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    """Line of each path: the key's line for mapping values, the item's line for list items."""

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def sub(self, path: Path_) -> Any:
        """The data at ``path`` (KeyError/IndexError if absent)."""
        node = self.data
        for step in path:
            node = node[step]
        return node


@dataclass(frozen=True)
class Located:
    """A piece of a document validated on its own, with the path it sits at."""

    doc: YamlDocument
    path: Path_

    @property
    def data(self) -> Any:
        """The data at ``path``."""
        return self.doc.sub(self.path)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents over the alias, depth and integer-size limits.

    The composer is recursive and shares aliased nodes, so the limits are checked while
    composing: nothing over them is ever expanded or constructed.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        # SafeLoader is the pure-Python parser: its marks are never the C parser's Mark class
        mark = event.start_mark if isinstance(event.start_mark, yaml.error.Mark) else None
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name)", mark
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._count(node)
        return node

    def _count(self, node: yaml.Node) -> None:
        """Record the node's size with aliases expanded; refuse it over :data:`MAX_NODES`."""
        if id(node) in self._sizes:
            return  # an alias: its size is already known and counts again in the parent
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        size = 1 + sum(self._sizes.get(id(c), 1) for c in children)
        if size > MAX_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"document expands to more than {MAX_NODES} nodes (each alias repeats what "
                "it points to)",
                node.start_mark,
            )
        self._sizes[id(node)] = size

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(c.isdigit() for c in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"integer with {digits} digits (at most {MAX_INT_DIGITS})",
                node.start_mark,
            )
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def _walk(
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    dupes: list[tuple[Path_, int]],
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            if child in lines:
                dupes.append((child, key_node.start_mark.line + 1))
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, dupes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, dupes)


def load_yaml(text: str, file: str) -> tuple[YamlDocument | None, list[DataError]]:
    """Parse one YAML document, keeping line numbers.

    Returns the document (None when the YAML itself is broken) and the problems found: a
    syntax error (with its line), a document over the size, alias, node-count, depth or
    integer-size limits (bounded work whatever the input), or keys repeated within one mapping
    (YAML parsers silently keep the last one, which hides mistakes).
    """
    if len(text) > MAX_DOCUMENT_CHARS:
        line = text.count("\n", 0, MAX_DOCUMENT_CHARS) + 1
        return None, [_too_long(file, line)]
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(file, None, {}), []
        lines: dict[Path_, int] = {(): node.start_mark.line + 1}
        dupes: list[tuple[Path_, int]] = []
        _walk(node, (), lines, dupes)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [DataError(file, at, None, f"invalid YAML: {problem}")]
    except yaml.YAMLError as exc:
        return None, [DataError(file, None, None, f"invalid YAML: {exc}")]
    except (ValueError, RecursionError) as exc:  # a literal or shape the limits did not foresee
        return None, [DataError(file, None, None, f"invalid YAML: {type(exc).__name__}: {exc}")]
    finally:
        loader.dispose()
    doc = YamlDocument(file, data, lines)
    errors = [
        DataError(file, line, format_path(path), "duplicate key (the later value would win)")
        for path, line in dupes
    ]
    return doc, errors


def _too_long(file: str, line: int) -> DataError:
    return DataError(
        file,
        line,
        None,
        f"file longer than {MAX_DOCUMENT_CHARS} characters (use {{{{filler:N}}}} for long prompts)",
    )


def read_text_bounded(path: Path) -> tuple[str | None, list[DataError]]:
    """Read a UTF-8 file, but never more than :data:`MAX_DOCUMENT_CHARS` + 1 characters.

    A multi-gigabyte file is refused after reading one chunk of it, naming the line at which
    the limit was crossed.
    """
    file = str(path)
    try:
        with path.open(encoding="utf-8") as fh:
            text = fh.read(MAX_DOCUMENT_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [DataError(file, None, None, f"cannot read: {exc}")]
    if len(text) > MAX_DOCUMENT_CHARS:
        return None, [_too_long(file, text.count("\n", 0, MAX_DOCUMENT_CHARS) + 1)]
    return text, []


def format_path(path: Sequence[str | int]) -> str:
    """``("probes", 2, "checks", 0, "pattern")`` -> ``probes[2].checks[0].pattern``."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


def _data_path(data: Any, loc: Sequence[str | int]) -> Path_:
    """Map a pydantic error location onto the real data path.

    pydantic puts extra steps in ``loc`` (the tag of a discriminated union, ``function-after``
    wrappers); steps that do not exist in the data are dropped, except a last step naming a
    missing field, which is the field the message is about.
    """
    path: list[str | int] = []
    node = data
    for i, step in enumerate(loc):
        if isinstance(node, dict) and step in node:
            path.append(step)
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            path.append(step)
            node = node[step]
        elif i == len(loc) - 1 and isinstance(node, dict) and isinstance(step, str):
            path.append(step)
    return tuple(path)


def _message(err: Any) -> str:
    if err["type"] in {"value_error", "assertion_error"} and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])
    msg: str = err["msg"]
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field (not allowed here)"
    if "input" in err and err["type"] not in {"union_tag_invalid", "model_type", "dict_type"}:
        value = repr(err["input"])
        if len(value) <= 60:
            msg = f"{msg}, got {value}"
    return msg


def validation_errors(exc: ValidationError, where: Located) -> Iterator[DataError]:
    """One :class:`DataError` per pydantic error, located at ``file:line: field``."""
    doc = where.doc
    errors = exc.errors(include_url=False)
    deeper = [tuple(e["loc"]) for e in errors]
    for err in errors:
        loc = tuple(err["loc"])
        # pydantic also reports "at least 1 item" for a list whose only items were invalid;
        # the items' own errors say what is wrong.
        if err["type"] == "too_short" and any(d[: len(loc)] == loc and d != loc for d in deeper):
            continue
        rel = _data_path(where.data, err["loc"])
        path = (*where.path, *rel)
        yield DataError(doc.file, doc.line_of(path), format_path(path) or None, _message(err))
