"""The one exception hierarchy of canaryflow.

The library raises these; the CLI maps them to an exit code and a one-line message::

    * CanaryflowError
      + ConfigError         a problem in canaryflow.toml (file, key path, what was expected)
        - ConfigErrors      several ConfigError at once (all problems are reported together)
      + DataError           a problem in a file users write (file, line, field)
        - DataErrors        several DataError at once
      + ProviderError       a provider call failed (status code, lower-cased headers)
        - MissingAPIKeyError  the env var naming the key is not set
      + StoreError          the results store cannot be used (URL, schema version)
      + StatsError          a statistic was given input it cannot use (NaN, empty, zero variance)

Messages never contain API keys: ProviderError keeps only headers from an allow-list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "CanaryflowError",
    "ConfigError",
    "ConfigErrors",
    "DataError",
    "DataErrors",
    "MissingAPIKeyError",
    "ProviderError",
    "StatsError",
    "StoreError",
]


class CanaryflowError(Exception):
    """Root of every error canaryflow raises on purpose."""


class ConfigError(CanaryflowError):
    """A problem in a configuration file, located by file and dotted key path."""

    def __init__(self, file: str, key: str, message: str) -> None:
        self.file = file
        self.key = key
        self.message = message
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line form: ``file: key: message``."""
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.message}"


class ConfigErrors(ConfigError):
    """Every problem found in one configuration file, reported together."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else ConfigError("?", "", "invalid configuration")
        super().__init__(first.file, first.key, first.message)
        self.args = ("\n".join(e.line() for e in self.errors),)

    def __str__(self) -> str:
        return "\n".join(e.line() for e in self.errors)


class DataError(CanaryflowError):
    """A problem in a data file users write (probe YAML, golden JSONL, production records)."""

    def __init__(self, file: str, line: int | None, field: str | None, message: str) -> None:
        self.file = file
        self.line_no = line
        self.field = field
        self.message = message
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line form: ``file:line: field: message``."""
        where = self.file if self.line_no is None else f"{self.file}:{self.line_no}"
        if self.field:
            where = f"{where}: {self.field}"
        return f"{where}: {self.message}"


class DataErrors(DataError):
    """Every problem found across data files, reported together."""

    def __init__(self, errors: Iterable[DataError]) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else DataError("?", None, None, "invalid data")
        super().__init__(first.file, first.line_no, first.field, first.message)
        self.args = ("\n".join(e.line() for e in self.errors),)

    def __str__(self) -> str:
        return "\n".join(e.line() for e in self.errors)


_SAFE_HEADERS = frozenset(
    {
        "retry-after",
        "retry-after-ms",
        "x-request-id",
        "request-id",
        "content-type",
        "x-should-retry",
    }
)


class ProviderError(CanaryflowError):
    """A provider call failed; carries the status code and the safe response headers."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        kind: str = "error",
    ) -> None:
        self.status_code = status_code
        self.kind = kind
        self.headers = {
            k.lower(): v for k, v in (headers or {}).items() if k.lower() in _SAFE_HEADERS
        }
        super().__init__(message)


class MissingAPIKeyError(ProviderError):
    """The environment variable that should hold a model's API key is not set."""

    def __init__(self, model: str, env_var: str) -> None:
        self.env_var = env_var
        super().__init__(
            f"model {model!r}: the API key variable {env_var!r} is not set; "
            f"export {env_var}=... (or change models.{model}.api_key_env)",
            kind="config",
        )


class StoreError(CanaryflowError):
    """The results store cannot be opened, migrated or written."""


class StatsError(CanaryflowError, ValueError):
    """A statistic was given input it cannot use (NaN, empty window, zero variance...)."""
