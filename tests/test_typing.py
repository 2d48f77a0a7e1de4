"""``src`` passes mypy under the project's configuration ([tool.mypy] in pyproject.toml), so CI
enforces the types; and that configuration has teeth: a type error or an unannotated function
slipped into the package fails it."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PYPROJECT = ROOT / "pyproject.toml"
# A module nothing else imports: a change to it rechecks only itself (mypy's cache), so the
# shadow runs below cost seconds after the full run.
LEAF = ROOT / "src" / "canaryflow" / "demo.py"


def _mypy(*args: str) -> tuple[str, int]:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install -e '.[dev]')")
    stdout, stderr, status = api.run(
        [
            "--config-file",
            str(PYPROJECT),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            *args,
            str(ROOT / "src"),
        ]
    )
    return stdout + stderr, status


def test_mypy_clean() -> None:
    out, status = _mypy()
    assert status == 0, out


@pytest.mark.parametrize(
    ("injected", "code"),
    [
        ("\n\ndef _typing_probe() -> int:\n    return 'not an int'\n", "return-value"),
        ("\n\ndef _typing_probe(x):\n    return x\n", "no-untyped-def"),
    ],
    ids=["type-error", "untyped-def"],
)
def test_mypy_catches(tmp_path: Path, injected: str, code: str) -> None:
    shadow = tmp_path / LEAF.name
    shadow.write_text(LEAF.read_text(encoding="utf-8") + injected, encoding="utf-8")
    out, status = _mypy("--shadow-file", str(LEAF), str(shadow))
    assert status == 1, out
    assert f"[{code}]" in out and "demo.py" in out, out
