"""Custom checks: a Python callable named in the probe file.

``type: custom`` with ``function: "package.module:callable"`` imports the callable;
``function: "name"`` (no colon) looks ``name`` up in the entry-point group ``canaryflow.checks``,
so a plugin package can ship checks::

    [project.entry-points."canaryflow.checks"]
    iban_valid = "mychecks.banking:iban_valid"

The callable is called as ``fn(output, **params)`` (plus ``extras=CheckInput`` if it declares an
``extras`` parameter) and returns a bool or a :class:`~canaryflow.records.CheckResult`. A function
that cannot be imported is a validation error when the probe is loaded; an exception raised while
checking is a failed check whose reason names the exception.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Literal

from pydantic import Field, field_validator

from canaryflow.checks._base import NO_EXTRAS, Check, CheckInput, register_check
from canaryflow.records import CheckResult

__all__ = ["ENTRY_POINT_GROUP", "CustomCheck", "resolve_check_function"]

ENTRY_POINT_GROUP = "canaryflow.checks"
"""Entry-point group in which plugin packages register check functions by name."""


def _import_target(target: str) -> Any:
    module_name, _, attr_path = target.partition(":")
    if not module_name or not attr_path:
        raise ValueError(f"function must look like 'package.module:callable', got {target!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to see
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from None
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    return obj


def _load_entry_point(name: str) -> Any:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        raise ValueError(
            f"no check function {name!r} in entry-point group {ENTRY_POINT_GROUP!r} "
            f"(known: {', '.join(known) or 'none'}); use 'module:callable' to import one directly"
        )
    try:
        return found[0].load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not raised
        raise ValueError(f"cannot load entry point {name!r} ({found[0].value}): {exc}") from None


@lru_cache(maxsize=256)
def resolve_check_function(function: str) -> Callable[..., Any]:
    """Import ``module:callable`` or load the entry point named ``function``.

    Raises:
        ValueError: it cannot be imported or is not callable.

    Successful look-ups are cached (failures are not), so running a check does not re-scan
    entry points.
    """
    obj = _import_target(function) if ":" in function else _load_entry_point(function)
    if not callable(obj):
        raise ValueError(f"{function!r} is not callable")
    return obj


def _accepts_extras(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "extras" in params


@register_check
class CustomCheck(Check):
    """A user-supplied Python function (see the module docstring for the contract)."""

    type: Literal["custom"] = "custom"
    function: str = Field(min_length=1)
    """``package.module:callable``, or the name of an entry point in ``canaryflow.checks``."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed to the function after the output."""

    @field_validator("function")
    @classmethod
    def _resolves(cls, function: str) -> str:
        resolve_check_function(function)
        return function

    @property
    def label(self) -> str:
        """The name results carry (default: the function's name)."""
        return self.name or self.function.rpartition(":")[2] or self.type

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Call the function; a bool becomes a result, a CheckResult is kept (renamed)."""
        fn = resolve_check_function(self.function)
        kwargs = dict(self.params)
        if _accepts_extras(fn):
            kwargs["extras"] = extras
        try:
            verdict = fn(output, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check
            return self._result(False, None, f"{self.function} raised {type(exc).__name__}: {exc}")
        if isinstance(verdict, CheckResult):
            return verdict.model_copy(update={"name": verdict.name or self.label})
        if isinstance(verdict, bool):
            return self._result(verdict, verdict, f"{self.function} returned {verdict}")
        return self._result(
            False, None, f"{self.function} returned {type(verdict).__name__}, not bool/CheckResult"
        )
