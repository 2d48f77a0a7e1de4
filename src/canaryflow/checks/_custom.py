"""Custom checks: a Python callable named in the probe file, from an allow-listed place only.

A probe file may come from a pull request nobody read closely, so it must not be able to name
any importable callable (``function: "os:system"`` would run the model's output as a shell
command). Two places are allowed:

- ``function: "name"`` looks ``name`` up in the entry-point group ``canaryflow.checks``, so an
  installed plugin package can ship checks (its ``module:callable`` value may be written too)::

      [project.entry-points."canaryflow.checks"]
      iban_valid = "mychecks.banking:iban_valid"

- ``function: "module:callable"`` where ``module`` is a file under the configured
  ``[checks] local_dir`` (``module.py`` or ``pkg/module.py``); it is loaded from that file, never
  from ``sys.path``.

The callable is called as ``fn(output, **params)`` (plus ``extras=CheckInput`` if it declares an
``extras`` parameter) and returns a bool or a :class:`~canaryflow.records.CheckResult`. A function
that is not allowed or cannot be loaded is a validation error when the probe is loaded; an
exception raised while checking is a failed check whose reason names the exception.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from canaryflow.checks._base import NO_EXTRAS, Check, CheckInput, register_check
from canaryflow.records import CheckResult

__all__ = ["ENTRY_POINT_GROUP", "CustomCheck", "resolve_check_function"]

ENTRY_POINT_GROUP = "canaryflow.checks"
"""Entry-point group in which plugin packages register check functions by name."""


def _split(target: str) -> tuple[str, list[str]]:
    module_name, _, attr_path = target.partition(":")
    parts = module_name.split(".")
    if not module_name or not attr_path or not all(p.isidentifier() for p in parts):
        raise ValueError(f"function must look like 'package.module:callable', got {target!r}")
    return module_name, attr_path.split(".")


def _local_module_file(module_name: str, local_dir: Path) -> Path | None:
    base = local_dir.joinpath(*module_name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        resolved = candidate.resolve()
        # A symlink out of the directory is as good as naming any module: refuse it.
        if resolved.is_file() and resolved.is_relative_to(local_dir.resolve()):
            return resolved
    return None


def _load_local(module_name: str, file: Path) -> Any:
    # A private name per file, so a local 'json.py' never shadows or replaces a real module.
    digest = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"_canaryflow_checks_{digest}", file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load module {module_name!r} from {file}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to see
        raise ValueError(f"cannot import module {module_name!r} ({file}): {exc}") from None
    return module


def _attribute(obj: Any, module_name: str, attrs: list[str]) -> Any:
    for attr in attrs:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ValueError(
                f"module {module_name!r} has no attribute {'.'.join(attrs)!r}"
            ) from None
    return obj


def _registered() -> list[Any]:
    return list(entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_point(ep: Any) -> Any:
    try:
        return ep.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not raised
        raise ValueError(f"cannot load entry point {ep.name!r} ({ep.value}): {exc}") from None


def _known() -> str:
    return ", ".join(sorted({ep.name for ep in _registered()})) or "none"


def _resolve(function: str, local_dir: Path | None) -> Any:
    if ":" not in function:
        found = [ep for ep in _registered() if ep.name == function]
        if not found:
            raise ValueError(
                f"no check function {function!r} in entry-point group {ENTRY_POINT_GROUP!r} "
                f"(known: {_known()}); or put a module in [checks] local_dir and name it "
                "'module:callable'"
            )
        return _load_entry_point(found[0])
    module_name, attrs = _split(function)
    by_value = [ep for ep in _registered() if ep.value.replace(" ", "") == function]
    if by_value:
        return _load_entry_point(by_value[0])
    file = _local_module_file(module_name, local_dir) if local_dir is not None else None
    if file is None:
        where = (
            f"under [checks] local_dir ({local_dir})"
            if local_dir
            else "under [checks] local_dir (not configured)"
        )
        raise ValueError(
            f"{function!r} is not allowed: a custom check must be registered in the "
            f"{ENTRY_POINT_GROUP!r} entry-point group (known: {_known()}) or be a module {where}"
        )
    return _attribute(_load_local(module_name, file), module_name, attrs)


@lru_cache(maxsize=256)
def resolve_check_function(function: str, local_dir: str | None = None) -> Callable[..., Any]:
    """The callable ``function`` names, if it comes from an allowed place (module docstring).

    Raises:
        ValueError: it is not allowed, cannot be loaded or is not callable.

    Successful look-ups are cached (failures are not), so running a check does not re-scan
    entry points or re-execute a local module.
    """
    obj = _resolve(function, Path(local_dir) if local_dir else None)
    if not callable(obj):
        raise ValueError(f"{function!r} is not callable")
    return obj


def _context_dir(info: ValidationInfo) -> str | None:
    context = info.context if isinstance(info.context, dict) else {}
    local = context.get("checks_dir")
    return str(local) if local else None


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
    """The name of an entry point in ``canaryflow.checks``, or ``module:callable`` with the
    module under ``[checks] local_dir``."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed to the function after the output."""

    _local_dir: str | None = PrivateAttr(default=None)
    """The local directory the function was allowed from (validation context ``checks_dir``)."""

    @field_validator("function")
    @classmethod
    def _resolves(cls, function: str, info: ValidationInfo) -> str:
        resolve_check_function(function, _context_dir(info))
        return function

    @model_validator(mode="after")
    def _remember_dir(self, info: ValidationInfo) -> CustomCheck:
        self._local_dir = _context_dir(info)
        return self

    @property
    def label(self) -> str:
        """The name results carry (default: the function's name)."""
        return self.name or self.function.rpartition(":")[2] or self.type

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Call the function; a bool becomes a result, a CheckResult is kept (renamed)."""
        fn = resolve_check_function(self.function, self._local_dir)
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
