"""Hostile probe files: each is one ``file:line: problem`` error, in bounded memory.

Memory is bounded with tracemalloc's peak (not wall time): before the limits, the billion laughs
below needed gigabytes and the filler file 20 million words.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from canaryflow.definitions import load_probes, load_yaml
from canaryflow.definitions._yaml import MAX_DOCUMENT_CHARS

GOOD = """\
id: still-runs
description: A valid probe next to the hostile file.
tags: [basics]
prompt: Say hi.
checks: [{type: contains, text: hi}]
"""

PROBE_HEAD = """\
id: hostile
description: d
tags: [basics]
checks: [{type: contains, text: x}]
"""


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        refs = ",".join([f"*{prev}"] * 9)
        lines.append(f"{cur}: &{cur} [{refs}]")
    return "\n".join(lines) + "\n"


def many_aliases() -> str:
    refs = ", ".join(["*x"] * 500)
    return f"x: &x [1]\ny: [{refs}]\n"


def deep_nesting() -> str:
    return "prompt: " + "[" * 500 + "]" * 500 + "\n"


def deep_block_nesting() -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"


def huge_int() -> str:
    return PROBE_HEAD + "prompt: hi\nrepetitions: " + "9" * 5000 + "\n"


def huge_file() -> str:
    filler = "# padding padding padding padding padding padding padding\n"
    return PROBE_HEAD + "prompt: hi\n" + filler * (MAX_DOCUMENT_CHARS // len(filler) + 10)


def filler_bomb() -> str:
    # 400 directives of 50,000 words each: 20 million words if expanded.
    return PROBE_HEAD + 'prompt: "' + "{{filler:50000}} " * 400 + '"\n'


def filler_spread() -> str:
    # Each message stays under the per-text cap; together they exceed the per-file budget.
    messages = "".join('  - {role: user, content: "{{filler:40000}}"}\n' for _ in range(20))
    return PROBE_HEAD + "messages:\n" + messages


def filler_huge_n() -> str:
    return PROBE_HEAD + 'prompt: "{{filler:' + "9" * 5000 + '}}"\n'


CASES: list[tuple[str, Callable[[], str], int | None, str]] = [
    ("laughs", billion_laughs, 6, "more than 100000 nodes"),
    ("aliases", many_aliases, 2, "more than 100 aliases"),
    ("nesting", deep_nesting, 1, "nested deeper than 64 levels"),
    ("block", deep_block_nesting, 64, "nested deeper than 64 levels"),
    ("int", huge_int, 6, "integer with 5000 digits (at most 100)"),
    ("size", huge_file, None, f"file longer than {MAX_DOCUMENT_CHARS} characters"),
    ("filler", filler_bomb, 5, "filler length must be at most 50000 words per text"),
    ("spread", filler_spread, 1, "would expand to more than 500000 words in total"),
    ("huge_n", filler_huge_n, 5, "filler length must be at most 50000 words per text"),
]


@pytest.mark.parametrize(("name", "build", "line", "problem"), CASES, ids=[c[0] for c in CASES])
def test_hostile_file_is_one_located_error_in_bounded_memory(
    tmp_path: Path, name: str, build: Callable[[], str], line: int | None, problem: str
) -> None:
    hostile = tmp_path / f"{name}.yaml"
    hostile.write_text(build(), encoding="utf-8")
    (tmp_path / "zz_good.yaml").write_text(GOOD, encoding="utf-8")

    tracemalloc.start()
    try:
        result = load_probes(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert [p.id for p in result.probes] == ["still-runs"]
    assert len(result.errors) == 1, [e.line() for e in result.errors]
    error = result.errors[0]
    assert error.file == str(hostile) and problem in error.message
    assert "\n" not in error.line()
    if line is not None:
        assert error.line_no == line
        assert error.line().startswith(f"{hostile}:{line}: ")
    else:
        assert error.line_no is not None  # the size error names where the limit was crossed
    assert peak < 64 * 2**20, f"loading took {peak / 2**20:.0f} MiB"


def test_aliases_within_the_limits_still_work() -> None:
    text = "base: &b {role: user, content: hi}\nmessages: [*b, *b]\n"
    doc, errors = load_yaml(text, "x.yaml")
    assert not errors and doc is not None
    assert doc.data["messages"] == [{"role": "user", "content": "hi"}] * 2


def test_long_context_probe_within_the_budget_loads(tmp_path: Path) -> None:
    (tmp_path / "long.yaml").write_text(
        PROBE_HEAD + 'prompt: "{{filler:30000:a}} needle {{filler:20000:b}} Question?"\n'
    )
    result = load_probes(tmp_path)
    assert result.ok, [e.line() for e in result.errors]
    assert len(result.probes[0].prompt.split()) == 50_000 + 2
