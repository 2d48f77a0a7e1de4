"""Input checks shared by the statistics modules.

Every public statistic validates its input up front and raises :class:`StatsError` with a
message that names the argument, so bad data never turns into a silent wrong alarm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from canaryflow.errors import StatsError


def finite_scalar(value: float, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name} must be a real number, got {value!r}") from exc
    if not math.isfinite(out):
        raise StatsError(f"{name} must be finite, got {value!r}")
    return out


def positive_scalar(value: float, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    out = finite_scalar(value, name)
    if out <= 0:
        raise StatsError(f"{name} must be > 0, got {value!r}")
    return out


def probability(value: float, name: str, *, open_interval: bool = True) -> float:
    """Return ``value`` as a float in (0, 1) (or [0, 1] when ``open_interval`` is False)."""
    out = finite_scalar(value, name)
    bad = not (0 < out < 1) if open_interval else not (0 <= out <= 1)
    if bad:
        rng = "(0, 1)" if open_interval else "[0, 1]"
        raise StatsError(f"{name} must be in {rng}, got {value!r}")
    return out


def count(value: int, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int >= ``minimum`` (integral floats such as 3.0 are accepted)."""
    if isinstance(value, bool):
        raise StatsError(f"{name} must be an integer count, got {value!r}")
    try:
        as_float = float(value)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name} must be an integer count, got {value!r}") from exc
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise StatsError(f"{name} must be an integer count, got {value!r}")
    out = int(as_float)
    if out < minimum:
        raise StatsError(f"{name} must be >= {minimum}, got {value!r}")
    return out


def finite_vector(
    values: Sequence[float] | np.ndarray, name: str, *, min_len: int = 1
) -> np.ndarray:
    """Return a 1-D float64 array with at least ``min_len`` finite values, or raise."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name} must be numeric, got {type(values).__name__}") from exc
    if arr.ndim != 1:
        raise StatsError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_len:
        raise StatsError(f"{name} needs at least {min_len} values, got {arr.size}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise StatsError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at position {first}); "
            "drop or repair them before testing"
        )
    return arr


def finite_matrix(values: np.ndarray, name: str, *, min_rows: int = 2) -> np.ndarray:
    """Return a 2-D float64 array (a 1-D input becomes one column) of finite values, or raise."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(f"{name} must be a numeric array, got {type(values).__name__}") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise StatsError(f"{name} must be 2-D (samples x features), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise StatsError(f"{name} needs at least {min_rows} samples, got {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise StatsError(f"{name} has no features (shape {arr.shape})")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise StatsError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first in row {row}); "
            "drop or repair them before testing"
        )
    return arr
