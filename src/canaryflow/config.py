"""The suite's configuration: pydantic models of ``canaryflow.toml``.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting.
Loading collects *all* problems and reports each as ``file: key.path: what was expected, got X``.
Secrets are never stored here: a model names the environment variable that holds its key.

Relative paths in the file (the SQLite store, probe/golden/report directories, the incident
sink, production sources, local checks) mean "next to canaryflow.toml": :func:`load_config`
makes them absolute against the file's directory, so running from another directory, a cron
job or a Prefect worker uses the same store and files.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
import zoneinfo
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from canaryflow.errors import ConfigError, ConfigErrors, MissingAPIKeyError

__all__ = [
    "FLOWS",
    "MIN_BASELINE_RUNS",
    "AlertParams",
    "AlertsConfig",
    "CanaryConfig",
    "ChecksConfig",
    "Config",
    "DEFAULT_CONFIG_PATH",
    "EmbedderConfig",
    "GoldenConfig",
    "JudgeConfig",
    "JudgeReviewConfig",
    "ModelConfig",
    "Pricing",
    "ProductionConfig",
    "ReportsConfig",
    "SchedulesConfig",
    "SimulatorConfig",
    "SinksConfig",
    "StoreConfig",
    "config_path",
    "load_config",
    "resolve_api_key",
]

DEFAULT_CONFIG_PATH = "canaryflow.toml"


class _Section(BaseModel):
    # inf/nan parse as TOML floats; no setting here means anything with them (arl0 = inf
    # would silently disable alarms).
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


class Pricing(_Section):
    """Prices in USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class ModelConfig(_Section):
    """One model under watch (``[models.<key>]``)."""

    provider: Literal["anthropic", "openai", "simulator"]
    """``openai`` covers any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LiteLLM).
    ``simulator`` starts the bundled simulator in-process and talks to it through the real SDK
    named by ``protocol``; it is never substituted for a real provider."""
    model: str
    """The pinned model id sent to the provider."""
    base_url: str | None = None
    """For openai include the ``/v1`` suffix as the SDK expects."""
    api_key_env: str | None = None
    """The NAME of the environment variable holding the key, never the key."""
    api_key_secret: str | None = None
    """Alternatively, the name of a Prefect Secret block holding the key (workers on a pool)."""
    pricing: Pricing | None = None
    protocol: Literal["anthropic", "openai"] = "anthropic"
    """Wire protocol for ``provider = "simulator"`` (ignored otherwise)."""
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    max_retry_after_s: float = Field(default=30.0, ge=0)
    """Cap on a server's ``retry-after`` (the SDKs obey it uncapped)."""
    max_concurrency: int = Field(default=4, ge=1, le=256)
    stream: bool = False
    """Stream replies to measure time to first token and inter-token gaps."""
    scenario: str | None = None
    """``provider = "simulator"`` only: this model's simulator scenario, overriding
    ``[simulator] scenario`` (e.g. a silently worse candidate: ``candidate_regression``)."""
    scenario_params: dict[str, Any] = Field(default_factory=dict)
    """Parameters of ``scenario`` (``{ rate = 0.3 }``); defaults from the simulator."""

    @model_validator(mode="after")
    def _scenario_only_for_simulator(self) -> ModelConfig:
        if (self.scenario is not None or self.scenario_params) and self.provider != "simulator":
            raise ValueError('scenario applies only to provider = "simulator"')
        if self.scenario_params and self.scenario is None:
            raise ValueError("scenario_params given without a scenario")
        if self.scenario is not None:
            from canaryflow.simulator.scenarios import ScenarioError, SimulatorCore

            try:  # validate name and parameters exactly as the simulator will
                SimulatorCore(scenario=self.scenario, params=self.scenario_params)
            except ScenarioError as exc:
                raise ValueError(str(exc)) from None
        return self

    @field_validator("api_key_env")
    @classmethod
    def _env_var_name(cls, name: str | None) -> str | None:
        if name is not None and not name.replace("_", "").isalnum():
            raise ValueError(
                "expected the NAME of an environment variable (letters, digits, _), not a key"
            )
        return name


class StoreConfig(_Section):
    """Where results live: any SQLAlchemy URL (SQLite by default, PostgreSQL for teams)."""

    url: str = "sqlite:///.canaryflow/canaryflow.db"


class JudgeReviewConfig(_Section):
    """Which judged items go to the human review queue."""

    low_score: float | None = Field(default=2.0)
    """Queue an item whose score on any dimension is at or below this (None: off)."""
    safety_score: float | None = Field(default=2.0)
    """Queue an item whose score on a safety dimension is at or below this (None: off)."""
    negative_feedback: bool = True
    """Queue items the end user gave negative feedback on."""
    judge_errors: bool = False
    """Queue items the judge failed on."""
    spot_check: float = Field(default=0.02, ge=0, le=1)
    """Share of all other judged items queued at random (deterministic by item id)."""


class JudgeConfig(_Section):
    """The LLM judge used by golden and production flows."""

    model: str | None = None
    """A key of ``[models]``."""
    dimensions: list[str] = Field(
        default_factory=lambda: ["correctness", "helpfulness", "faithfulness", "tone"]
    )
    max_concurrency: int = Field(default=8, ge=1)
    max_error_rate: float = Field(default=0.1, ge=0, le=1)
    # -- added with canaryflow.judges (issue 9) ---------------------------------------------
    rubric: str = "quality"
    """The default rubric (a shipped one: quality, faithfulness, safety, or one in rubric_dir)."""
    rubric_dir: str | None = None
    """A directory of extra rubric YAML files (they may override shipped names)."""
    samples: int = Field(default=1, ge=1, le=15)
    """Judge each item k times (independent calls); median per dimension, disagreement rate."""
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=600, ge=16)
    mode: Literal["auto", "tool", "json_schema", "text"] = "auto"
    """How replies are constrained: ``auto`` forces a tool on Anthropic and uses a strict
    ``json_schema`` response format on OpenAI-compatible servers; ``text`` parses one JSON object
    from plain text (servers with neither)."""
    budget_calls: int | None = Field(default=None, ge=0)
    """Most judge calls per run; the rest is marked unjudged (None: no limit)."""
    budget_usd: float | None = Field(default=None, ge=0)
    """Most judge spend per run in USD, from the judge model's pricing (None: no limit)."""
    review: JudgeReviewConfig = Field(default_factory=lambda: JudgeReviewConfig())


class EmbedderConfig(_Section):
    """How outputs are embedded for drift tests."""

    kind: Literal["hashing", "sentence-transformers", "openai"] = "hashing"
    model: str | None = None
    """A key of ``[models]`` (openai kind) or a model name."""
    dim: int = Field(default=384, ge=8)


class SchedulesConfig(_Section):
    """Cron schedules for ``canaryflow serve`` and prefect.yaml."""

    canary: str = "0 * * * *"
    golden: str = "0 6 * * *"
    production: str = "*/15 * * * *"
    timezone: str = "UTC"

    @field_validator("canary", "golden", "production")
    @classmethod
    def _valid_cron(cls, expr: str) -> str:
        if len(expr.split()) != 5:
            raise ValueError(f"expected a 5-field cron expression like '0 * * * *', got {expr!r}")
        # Prefect runs the schedules, so Prefect's own parser decides what is valid (its
        # import is slow, hence here and not at module level).
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=expr)
        except ValidationError:
            raise ValueError(
                f"invalid cron expression {expr!r} (minute hour day-of-month month day-of-week, "
                "e.g. '0 * * * *')"
            ) from None
        return expr

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}; use an IANA name like 'UTC' or 'Europe/Paris'"
            ) from None
        return name


class AlertParams(_Section):
    """Detection parameters of one flow; defaults give a known false-alarm rate (DESIGN §4)."""

    arl0: float = Field(default=500.0, gt=1)
    """Target in-control average run length of the control charts (points between false alarms)."""
    ewma_lambda: float = Field(default=0.1, gt=0, le=1)
    cusum_k: float = Field(default=0.5, gt=0)
    cusum_h: float = Field(default=5.0, gt=0)
    alpha: float = Field(default=0.01, gt=0, lt=1)
    """Significance of distribution-drift (MMD) tests."""
    fdr_q: float = Field(default=0.001, gt=0, lt=1)
    """Per-run false-discovery level of the rate tests, Benjamini–Hochberg across subjects.

    Hourly runs make 720 runs a month: at 0.001 the whole-run false-alarm probability (BH
    controls it at q when nothing changed) stays below one false incident a month, and the
    exact tests are conservative on top. Smaller shifts are caught by the Bernoulli CUSUM,
    which accumulates evidence across runs."""
    rate_method: Literal["fisher", "boschloo"] = "fisher"
    min_detectable_drop: float = Field(default=0.10, gt=0, lt=1)
    """A pass-rate drop below this is not worth a page; used for the power/inconclusive verdict."""
    bernoulli_cusum_arl0_runs: float = Field(default=8760.0, gt=1)
    """In-control ARL of the across-runs Bernoulli CUSUM, in runs (8760 = a year of hourly runs)."""
    warmup_runs: int = Field(default=24, ge=1)
    """Runs that build a model's baseline before comparisons start (per flow: canary runs are
    hours, golden runs days, production runs windows). At least ``MIN_BASELINE_RUNS[flow]``."""
    max_error_rate: float = Field(default=0.2, ge=0, le=1)
    """Above this share of failed calls a run is marked degraded."""
    stale_run_minutes: float = Field(default=120.0, gt=0)
    """A run still ``running`` this long after it began was killed: the next run of the same
    flow and model finishes it as ``crashed`` and reports it."""
    canary_latency_alerts: bool = False
    """Alert on the canary's latency EWMA chart (it is always charted and reported).

    Off by default: a few dozen probe calls an hour measure the prober's host and network as
    much as the provider, and their latency is rarely stationary; the production flow charts
    real-traffic latency (TTFT, inter-token) per window and alerts on that."""
    fingerprint_min_changed: int = Field(default=3, ge=1)
    """Probes whose output left the baseline's set of outputs before a fingerprint alert."""


FLOWS = ("canary", "golden", "production")

FLOW_ALERT_DEFAULTS: dict[str, dict[str, Any]] = {
    "canary": {"warmup_runs": 24},
    "golden": {"warmup_runs": 3, "alpha": 0.05},
    "production": {"warmup_runs": 96},
}
"""Per-flow defaults, under ``[alerts]`` keys set explicitly and ``[alerts.<flow>]`` keys.

Golden ``alpha`` is the false-regression rate of one whole daily comparison (BH across its
sets, categories and judge dimensions; exact McNemar on flips), as in ``canaryflow compare``:
at 0.01 a 30 % day/month transposition (about 7 flipped items of 32) was missed on the first
day."""

MIN_BASELINE_RUNS: dict[str, int] = {"canary": 12, "golden": 1, "production": 12}
"""Fewest runs a baseline may be frozen from. The canary and production flows chart per-run
values on EWMA limits estimated from the baseline; below 12 points no widening of L keeps the
in-control ARL near its target (``stats.ewma_L_for_baseline``), so such a baseline is refused
up front instead of breaking every later run. A golden baseline is paired item by item: one
complete run is a valid reference."""


class AlertsConfig(AlertParams):
    """``[alerts]``: shared detection parameters, and ``[alerts.canary|golden|production]``
    overrides per flow (``warmup_runs = 24`` means hours for the canary, not 24 days of
    golden runs)."""

    canary: AlertParams = Field(default_factory=AlertParams)
    golden: AlertParams = Field(default_factory=AlertParams)
    production: AlertParams = Field(default_factory=AlertParams)

    def for_flow(self, flow: str) -> AlertParams:
        """The effective parameters of ``flow``: its section, else ``[alerts]`` keys set
        explicitly, else the flow's default, else the global default."""
        shared = set(AlertParams.model_fields)
        values = dict(FLOW_ALERT_DEFAULTS.get(flow, {}))
        values.update({k: getattr(self, k) for k in self.model_fields_set & shared})
        sub = getattr(self, flow, None)
        if isinstance(sub, AlertParams):
            values.update({k: getattr(sub, k) for k in sub.model_fields_set})
        return AlertParams(**values)

    @model_validator(mode="after")
    def _baselines_big_enough(self) -> AlertsConfig:
        problems = []
        for flow in FLOWS:
            have, need = self.for_flow(flow).warmup_runs, MIN_BASELINE_RUNS[flow]
            if have < need:
                problems.append(
                    f"alerts.{flow}.warmup_runs: a {flow} baseline needs at least {need} runs "
                    f"(estimated control limits cannot hold their false-alarm rate on fewer), "
                    f"got {have}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class FileSinkConfig(_Section):
    """Incident reports as Markdown + JSON files (always on)."""

    dir: str = "reports/incidents"


class WebhookSinkConfig(_Section):
    """Slack-compatible webhook; the URL is read from an environment variable."""

    url_env: str


class GitHubSinkConfig(_Section):
    """GitHub issues via the REST API."""

    repo: str
    token_env: str = "GITHUB_TOKEN"
    labels: list[str] = Field(default_factory=lambda: ["canaryflow", "incident"])


class SinksConfig(_Section):
    """Where incidents go."""

    file: FileSinkConfig = Field(default_factory=FileSinkConfig)
    webhook: WebhookSinkConfig | None = None
    github: GitHubSinkConfig | None = None


class CanaryConfig(_Section):
    """The hourly canary flow."""

    probes_dir: str = "probes"
    models: list[str] | None = None
    """Keys of ``[models]`` to probe (default: all)."""


class GoldenConfig(_Section):
    """The daily golden-set flow."""

    dir: str = "golden_sets"
    models: list[str] | None = None


class ProductionConfig(_Section):
    """Where production records come from (JSONL / Parquet / CSV files or a SQL table)."""

    source: str | None = None
    """A file glob or a SQLAlchemy URL; None disables the production flow."""
    table: str | None = None
    signals: str | None = None
    sample_rate: float = Field(default=0.05, ge=0, le=1)
    window_minutes: int = Field(default=15, ge=1)
    columns: dict[str, str] = Field(default_factory=dict)
    """Column mapping: canaryflow field -> your column name."""
    budgets_usd: dict[str, float] = Field(default_factory=dict)
    """Daily budgets in USD: ``total`` or a feature id (80 % warns, 100 % alerts)."""
    # -- prodengine: the production engine's options (all optional, defaults in DESIGN §3) --
    format: Literal["auto", "jsonl", "csv", "parquet", "otel", "sql"] = "auto"
    """``auto``: by file suffix (``.otel.json`` is OpenTelemetry) or ``sql`` for a URL."""
    query: str | None = None
    """For a SQL source: a SELECT instead of ``table`` (its columns go through ``columns``)."""
    signals_columns: dict[str, str] = Field(default_factory=dict)
    """Column mapping of the user-signals source."""
    allowed_lateness_minutes: float = Field(default=5.0, ge=0)
    """A window is closed (and committed) only this long after its end."""
    start: datetime | None = None
    """First window start when the source has no watermark yet (default: its oldest record)."""
    sample_rates: dict[str, float] = Field(default_factory=dict)
    """Per-feature judge sample rate overriding ``sample_rate``."""
    sample_salt: str = ""
    """Mixed into the sampling hash; a rubric with its own salt draws an independent sample."""
    user_hourly_limit_usd: float | None = Field(default=None, gt=0)
    safety_patterns: list[str] | None = None
    """Hard-block regexes run on every output (None: the built-in set; [] disables)."""
    abandonment_limit: float = Field(default=0.3, ge=0, le=1)
    satisfaction_floor: float = Field(default=0.8, ge=0, le=1)
    """Survivorship bias: abandonment above the limit while satisfaction stays above the floor."""


class ReportsConfig(_Section):
    """Where reports are written."""

    dir: str = "reports"
    junit: bool = False


class ChecksConfig(_Section):
    """Where ``type: custom`` checks may come from, besides ``canaryflow.checks`` entry points."""

    local_dir: str | None = None
    """A directory of check modules probes may name as ``module:callable`` (e.g. ``checks``).
    Nothing outside it (and no installed module such as ``os``) can be named."""


class SimulatorConfig(_Section):
    """The bundled simulator used by ``provider = "simulator"`` models."""

    seed: int = 0
    scenario: str = "baseline"
    noise: float = Field(default=0.02, ge=0, le=1)
    """Share of replies that use an alternative (still correct) wording."""
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    """0 picks a free port."""


class Config(_Section):
    """The whole of ``canaryflow.toml``."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    embedder: EmbedderConfig = Field(default_factory=EmbedderConfig)
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    sinks: SinksConfig = Field(default_factory=SinksConfig)
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    golden: GoldenConfig = Field(default_factory=GoldenConfig)
    production: ProductionConfig = Field(default_factory=ProductionConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)

    source_path: str | None = Field(default=None, exclude=True)
    """The file this was loaded from (not part of the hash)."""

    @model_validator(mode="after")
    def _references_exist(self) -> Config:
        problems = []
        if self.judge.model is not None and self.judge.model not in self.models:
            problems.append(f"judge.model: {self.judge.model!r} is not a key of [models]")
        for section in ("canary", "golden"):
            for m in getattr(self, section).models or []:
                if m not in self.models:
                    problems.append(f"{section}.models: {m!r} is not a key of [models]")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def base_dir(self) -> Path | None:
        """The directory relative paths were resolved against (None when not loaded from a file)."""
        return Path(self.source_path).resolve().parent if self.source_path else None

    def config_hash(self) -> str:
        """A short stable hash of the effective configuration (stored with every run).

        Paths count as written relative to the config file, so moving the project directory
        does not look like a configuration change.
        """
        cfg = self
        base = self.base_dir
        if base is not None:
            cfg = _map_paths(self, lambda p: _relative_to(p, base))
        payload = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def masked(self) -> dict[str, Any]:
        """The resolved configuration for display: env var names shown, their values never."""
        data = self.model_dump(mode="json")
        for name, model in data.get("models", {}).items():
            env = model.get("api_key_env")
            if env:
                model["api_key"] = "set (****)" if os.environ.get(env) else f"NOT SET (${env})"
            model["name"] = name
        return data

    def model_keys(self, requested: list[str] | None) -> list[str]:
        """Model keys to act on; unknown names are a ConfigError."""
        keys = requested or list(self.models)
        unknown = [k for k in keys if k not in self.models]
        if unknown:
            raise ConfigError(
                self.source_path or DEFAULT_CONFIG_PATH,
                "models",
                f"unknown model(s) {unknown!r}; configured: {sorted(self.models)!r}",
            )
        return keys


_PATHS: tuple[tuple[str, ...], ...] = (
    ("canary", "probes_dir"),
    ("golden", "dir"),
    ("reports", "dir"),
    ("sinks", "file", "dir"),
    ("checks", "local_dir"),
)
"""Settings that are file or directory paths."""
_URLS_OR_PATHS: tuple[tuple[str, ...], ...] = (
    ("store", "url"),
    ("production", "source"),
    ("production", "signals"),
)
"""Settings that are a SQLAlchemy URL (a SQLite one holds a path) or a file glob."""


def _map_url(value: str, fn: Callable[[str], str]) -> str:
    if "://" not in value:
        return fn(value)  # a file path or glob
    try:
        url = make_url(value)
    except ArgumentError:
        return value  # reported by whatever opens it, with the URL
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return value
    if database.startswith("file:"):
        return value  # a URI filename carries its own meaning
    return url.set(database=fn(database)).render_as_string(hide_password=False)


def _map_paths(cfg: Config, fn: Callable[[str], str]) -> Config:
    """A copy of ``cfg`` with every path-like setting passed through ``fn``."""

    def replace(model: BaseModel, keys: tuple[str, ...], convert: Callable[[str], str]) -> Any:
        value = getattr(model, keys[0])
        if value is None:
            return model
        if len(keys) > 1:
            new = replace(value, keys[1:], convert)
        else:
            new = convert(value)
        return model.model_copy(update={keys[0]: new})

    out: BaseModel = cfg
    for keys in _PATHS:
        out = replace(out, keys, fn)
    for keys in _URLS_OR_PATHS:
        out = replace(out, keys, lambda v: _map_url(v, fn))
    assert isinstance(out, Config)
    return out


def _absolute(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    return str(path) if path.is_absolute() else os.path.normpath(base / path)


def _relative_to(value: str, base: Path) -> str:
    path = Path(value)
    return (
        os.path.relpath(path, base) if path.is_absolute() and path.is_relative_to(base) else value
    )


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` if given, else ``$CANARYFLOW_CONFIG``, else ``./canaryflow.toml``."""
    return Path(path or os.environ.get("CANARYFLOW_CONFIG") or DEFAULT_CONFIG_PATH)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_EXPECTED = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a table",
    "list_type": "expected a list",
    "model_type": "expected a table",
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
}


def _errors_from_validation(file: str, exc: ValidationError) -> list[ConfigError]:
    out: list[ConfigError] = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith("function-after")]
        # pydantic puts the tag of a Literal/union branch in loc; drop non-key parts.
        key = ".".join(p for p in loc if not p.startswith(("literal[", "union[")))
        etype = err["type"]
        if etype == "missing":
            msg = "required key is missing"
        elif etype == "extra_forbidden":
            msg = "unknown key (check the spelling; see canaryflow config check --help)"
        elif etype == "literal_error":
            allowed = err.get("ctx", {}).get("expected", "")
            msg = f"expected one of {allowed}, got {_describe(err.get('input'))}"
        elif etype in _EXPECTED:
            msg = f"{_EXPECTED[etype]}, got {_describe(err.get('input'))}"
        elif etype == "value_error":
            msg = str(err.get("ctx", {}).get("error", err["msg"]))
            if not key:
                # Cross-reference problems found on the whole file carry their own key paths.
                for part in msg.split("; "):
                    sub_key, _, sub_msg = part.partition(": ")
                    out.append(ConfigError(file, sub_key, sub_msg or part))
                continue
        else:
            msg = f"{err['msg']}, got {_describe(err.get('input'))}"
        out.append(ConfigError(file, key, msg))
    return out


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate a configuration file.

    Raises:
        ConfigErrors: every problem in the file, one ``file: key: message`` line each; a TOML
            syntax error names its line.
    """
    p = config_path(path)
    name = str(path) if path else p.name if p == Path(DEFAULT_CONFIG_PATH) else str(p)
    if not p.exists():
        raise ConfigErrors(
            [ConfigError(name, "", "file not found (pass --config PATH or set CANARYFLOW_CONFIG)")]
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigErrors([ConfigError(name, "", f"TOML syntax error: {exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigErrors([ConfigError(name, "", f"cannot read: {exc}")]) from None
    if not data:
        raise ConfigErrors(
            [ConfigError(name, "", "empty file: at least one [models.<name>] table is needed")]
        )
    errors: list[ConfigError] = []
    if not data.get("models"):
        errors.append(
            ConfigError(name, "models", "no models configured: add a [models.<name>] table")
        )
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        errors.extend(_errors_from_validation(name, exc))
    if errors:
        raise ConfigErrors(errors) from None
    base = p.resolve().parent
    cfg = _map_paths(cfg, lambda v: _absolute(v, base))
    return cfg.model_copy(update={"source_path": str(p)})


def resolve_api_key(model_key: str, model: ModelConfig) -> str:
    """The API key for a model, read from its environment variable at the point of use.

    Raises:
        MissingAPIKeyError: the variable is not set (the message names the variable).
    """
    if model.provider == "simulator":
        return "simulator-key"
    if model.api_key_secret:
        return _secret_block(model_key, model.api_key_secret)
    env = model.api_key_env or (
        "ANTHROPIC_API_KEY" if model.provider == "anthropic" else "OPENAI_API_KEY"
    )
    value = os.environ.get(env)
    if not value:
        if model.base_url and model.provider == "openai" and model.api_key_env is None:
            # Local OpenAI-compatible servers (Ollama, llama.cpp) usually need no key.
            return "not-needed"
        raise MissingAPIKeyError(model_key, env)
    return value


def _secret_block(model_key: str, name: str) -> str:
    """Read a key from a Prefect Secret block (never logged; Secret's repr is masked)."""
    from canaryflow.errors import ProviderError

    try:
        from prefect.blocks.system import Secret

        # async_dispatch types load() as "block or coroutine"; called from sync code (as here)
        # it always returns the block
        value = cast("Secret[Any]", Secret.load(name)).get()
    except Exception as exc:  # ValueError when missing; connection errors without a server
        raise ProviderError(
            f"model {model_key!r}: cannot read the Prefect Secret block {name!r} "
            f"({type(exc).__name__}); create it with Secret(value=...).save({name!r}) or use "
            f"models.{model_key}.api_key_env",
            kind="config",
        ) from None
    return str(value)
