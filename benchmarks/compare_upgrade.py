"""Time ``canaryflow compare`` on the shipped config (the bundled simulator) and size its report.

Usage: ``python benchmarks/compare_upgrade.py [--probes]``. Copies the shipped project to a
temporary directory (its own store: the judge cache starts empty), runs
``canaryflow compare --baseline support-bot --candidate support-bot-next`` as a new user would,
and prints the wall time, the exit code and the sizes of the PR comment and the full report.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    probes = "--probes" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        for name in ("canaryflow.toml", "golden_sets", "probes"):
            src = ROOT / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
        cmd = [
            str(Path(sys.executable).parent / "canaryflow"),
            "compare",
            "--baseline",
            "support-bot",
            "--candidate",
            "support-bot-next",
            *(["--probes", "probes"] if probes else []),
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        folder = project / "reports" / "compare"
        comment = folder / "support-bot-next-vs-support-bot.md"
        full = folder / "support-bot-next-vs-support-bot.full.md"
        print(f"canaryflow compare{' --probes' if probes else ''}: exit {proc.returncode}")
        print(f"wall time: {wall:.1f} s (cold judge cache, simulator in-process)")
        if comment.exists():
            size = len(comment.read_text(encoding="utf-8"))
            print(f"PR comment: {size:,} characters (limit 65,536)")
            print(f"full report: {len(full.read_text(encoding='utf-8')):,} characters")
        else:
            print(proc.stdout[-2000:], proc.stderr[-2000:])


if __name__ == "__main__":
    main()
