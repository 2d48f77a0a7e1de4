"""PNG charts for reports: control charts (EWMA/CUSUM) and pass rate over runs.

matplotlib is imported lazily and used through its object API on an Agg canvas (no pyplot, no
global backend switch, safe in worker threads). Every chart states its unit on the y axis and in
the title. PNG metadata carries no timestamp or software version, so reruns give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["ChartPoint", "PassRatePoint", "plot_control_chart", "plot_pass_rate"]


class ChartPoint(BaseModel):
    """One point of a control chart: the charted statistic and its limits at that point."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    x: datetime | int | float
    """Window start (datetime) or run/window index."""
    value: float | None
    """The charted statistic (EWMA value, CUSUM sum, window mean...); None for a gap."""
    lower: float | None = None
    """Lower control limit at this point (time-varying for EWMA)."""
    upper: float | None = None
    alarm: bool = False
    """True when this point is out of control."""


class PassRatePoint(BaseModel):
    """One run's pass count for the pass-rate chart."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    x: datetime | int | float
    passed: int
    total: int


def _wilson(passed: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927) for the error bars; (nan, nan) when total is 0."""
    if total <= 0:
        return math.nan, math.nan
    p = passed / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _new_figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Any, out_path: str | Path) -> Path:
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def plot_control_chart(
    points: Sequence[ChartPoint | dict[str, Any]],
    *,
    title: str,
    unit: str,
    baseline_mean: float | None,
    out_path: str | Path,
) -> Path:
    """Draw a control chart to ``out_path`` (PNG) and return the path.

    Shows the series, the (time-varying) upper and lower limits, the baseline mean, every alarm
    point, and shades and annotates the first out-of-control window.

    Args:
        points: The chart's points in time order (``ChartPoint`` or dicts of its fields).
        title: Chart title; the unit is appended.
        unit: What the values measure (``pass rate``, ``ms (log10)``...); labels the y axis.
        baseline_mean: The frozen baseline mean (mu0), drawn as a dashed line.
        out_path: Where to write the PNG (parent directories are created).
    """
    pts = [p if isinstance(p, ChartPoint) else ChartPoint.model_validate(p) for p in points]
    fig, ax = _new_figure()
    xs = [p.x for p in pts]
    ax.plot(
        xs,
        [_nan(p.value) for p in pts],
        marker="o",
        ms=3,
        lw=1.2,
        color="#1f4e79",
        label="statistic",
    )
    if any(p.upper is not None for p in pts):
        ax.step(
            xs,
            [_nan(p.upper) for p in pts],
            where="mid",
            color="#b22222",
            lw=1,
            ls="-",
            label="upper limit",
        )
    if any(p.lower is not None for p in pts):
        ax.step(
            xs,
            [_nan(p.lower) for p in pts],
            where="mid",
            color="#b22222",
            lw=1,
            ls="-",
            label="lower limit",
        )
    if baseline_mean is not None:
        ax.axhline(baseline_mean, color="#555555", ls="--", lw=1, label="baseline mean")
    alarms = [p for p in pts if p.alarm and p.value is not None]
    if alarms:
        ax.scatter(
            [p.x for p in alarms],
            [p.value for p in alarms],
            marker="X",
            s=60,
            color="#d62728",
            zorder=5,
            label="out of control",
        )
        first = alarms[0]
        idx = pts.index(first)
        left = pts[idx - 1].x if idx > 0 else first.x
        ax.axvspan(left, first.x, color="#d62728", alpha=0.12, lw=0)
        label = first.x.strftime("%Y-%m-%d %H:%M") if isinstance(first.x, datetime) else first.x
        ax.annotate(
            f"first out of control: {label}",
            xy=(first.x, first.value),
            xytext=(0.02, 0.06),
            textcoords="axes fraction",
            arrowprops={"arrowstyle": "->", "color": "#d62728"},
            color="#d62728",
            fontsize=9,
        )
    ax.set_title(f"{title} ({unit})", fontsize=11)
    ax.set_ylabel(unit)
    ax.set_xlabel("window" if not xs or not isinstance(xs[0], datetime) else "window start (UTC)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    if xs and isinstance(xs[0], datetime):
        fig.autofmt_xdate()
    return _save(fig, out_path)


def plot_pass_rate(
    runs: Sequence[PassRatePoint | dict[str, Any]],
    *,
    title: str,
    out_path: str | Path,
    baseline_rate: float | None = None,
    unit: str = "pass rate (fraction of attempts)",
) -> Path:
    """Draw the pass rate per run with 95 % Wilson intervals to ``out_path`` (PNG).

    Args:
        runs: One point per run (``PassRatePoint`` or dicts with x, passed, total).
        title: Chart title; the unit is appended.
        out_path: Where to write the PNG.
        baseline_rate: The baseline pass rate, drawn as a dashed line.
        unit: The y-axis unit.
    """
    pts = [p if isinstance(p, PassRatePoint) else PassRatePoint.model_validate(p) for p in runs]
    fig, ax = _new_figure()
    xs = [p.x for p in pts]
    rates = [p.passed / p.total if p.total else math.nan for p in pts]
    cis = [_wilson(p.passed, p.total) for p in pts]
    lower = [r - lo if not math.isnan(r) else 0.0 for r, (lo, _) in zip(rates, cis, strict=True)]
    upper = [hi - r if not math.isnan(r) else 0.0 for r, (_, hi) in zip(rates, cis, strict=True)]
    ax.errorbar(
        xs,
        rates,
        yerr=[lower, upper],
        fmt="o-",
        ms=3,
        lw=1.2,
        capsize=2,
        color="#1f4e79",
        ecolor="#8fa8c8",
        label="pass rate (95% Wilson CI)",
    )
    if baseline_rate is not None:
        ax.axhline(baseline_rate, color="#555555", ls="--", lw=1, label="baseline rate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{title} ({unit})", fontsize=11)
    ax.set_ylabel(unit)
    ax.set_xlabel("run" if not xs or not isinstance(xs[0], datetime) else "run as of (UTC)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    if xs and isinstance(xs[0], datetime):
        fig.autofmt_xdate()
    return _save(fig, out_path)
