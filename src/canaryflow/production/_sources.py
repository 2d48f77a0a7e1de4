"""Production sources as DuckDB views of canonical, validated records.

Every source format ends as the same view, ``records``: the DESIGN §6 fields typed, plus
``_invalid`` (NULL, or ``field: why`` for a row to quarantine) and ``_loc`` (``file:line`` where
the format gives one). Queries over it stream the files in bounded memory; no Python touches a
record.

JSONL is read twice only when it must be: the fast path declares the column types to DuckDB's
reader; a file that does not convert (malformed JSON, ``"latency_ms": "abc"``) makes the scan
fall back to a lenient line reader that keeps line numbers, applies the same rules and turns
every bad line into a quarantined row instead of an error.
"""

from __future__ import annotations

import glob
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from canaryflow.config import Config, ProductionConfig
from canaryflow.errors import ConfigError
from canaryflow.production._fields import (
    RECORD_FIELDS,
    SIGNAL_FIELDS,
    Field,
    invalid_expr,
    typed_expr,
)

__all__ = ["ProductionSource", "connect", "pricing_table"]

_JSON_ERRORS = (duckdb.InvalidInputException, duckdb.ConversionException)
CONFIG_FILE = "canaryflow.toml"
"""Named in configuration errors (the engine is handed sections, not the file)."""


def connect(
    threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC, without progress bars (they garble logs)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        spill = Path(tempfile.gettempdir()) / "canaryflow-duckdb"
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = {_lit(str(spill))}")
    return con


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pricing_table(config: Config | None) -> dict[str, tuple[float, float]]:
    """model id -> (USD per million input tokens, per million output), by key and pinned id."""
    prices: dict[str, tuple[float, float]] = {}
    if config is None:
        return prices
    for key, model in config.models.items():
        if model.pricing is not None:
            p = (model.pricing.input, model.pricing.output)
            prices[model.model] = p
            prices.setdefault(key, p)
    return prices


@dataclass
class ProductionSource:
    """A configured production source (records, and optionally user signals).

    ``name`` keys its watermark and stored windows; by default the configured source string.
    """

    records: str
    kind: str
    columns: dict[str, str] = field(default_factory=dict)
    table: str | None = None
    query: str | None = None
    signals: str | None = None
    signals_columns: dict[str, str] = field(default_factory=dict)
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.records

    @classmethod
    def from_config(
        cls,
        production: ProductionConfig,
        config: Config | None = None,
        base_dir: Path | None = None,
    ) -> ProductionSource:
        """The source of ``[production]``.

        Raises:
            ConfigError: no source is configured, or a SQL source has neither table nor query.
        """
        if not production.source:
            raise ConfigError(CONFIG_FILE, "production.source", "not set (a file glob or a URL)")
        kind: str = production.format
        if kind == "auto":
            kind = _kind_of(production.source)
        if kind == "sql" and not (production.table or production.query):
            raise ConfigError(CONFIG_FILE, "production.table", "a SQL source needs table or query")
        return cls(
            records=production.source,
            kind=kind,
            columns=dict(production.columns),
            table=production.table,
            query=production.query,
            signals=production.signals,
            signals_columns=dict(production.signals_columns),
            prices=pricing_table(config),
            base_dir=base_dir or Path.cwd(),
        )

    # -- files ---------------------------------------------------------------------------------

    def files(self, pattern: str | None = None) -> list[str]:
        """The files the glob matches now, sorted (an empty list is not an error)."""
        pattern = pattern or self.records
        if not Path(pattern).is_absolute():
            pattern = str(self.base_dir / pattern)
        return sorted(glob.glob(pattern, recursive=True))

    # -- views ---------------------------------------------------------------------------------

    def open(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        files: list[str] | None = None,
        lenient: bool = False,
        view: str = "records",
    ) -> None:
        """(Re)create the view ``view`` of canonical records over ``files`` (default: all)."""
        files = self.files() if files is None else files
        raw_sql = self._raw_sql(con, files, lenient)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {self._canonical(raw_sql)}")

    def open_signals(self, con: duckdb.DuckDBPyConnection, view: str = "signals") -> bool:
        """Create the ``signals`` view (empty when no signals source is configured)."""
        cols = ", ".join(f"CAST(NULL AS {f.sql_type}) AS {f.name}" for f in SIGNAL_FIELDS)
        empty = f"SELECT {cols}, CAST(NULL AS VARCHAR) AS _invalid WHERE false"
        files = self.files(self.signals) if self.signals else []
        if not files:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {empty}")
            return False
        kind = _kind_of(self.signals or "")
        raw = _file_reader(con, kind, files, SIGNAL_FIELDS, self.signals_columns, lenient=True)
        typed = {f.name: typed_expr(f, f"raw_{f.name}") for f in SIGNAL_FIELDS}
        rawmap = {f.name: f"raw_{f.name}" for f in SIGNAL_FIELDS}
        select = ", ".join(f"{typed[f.name]} AS {f.name}" for f in SIGNAL_FIELDS)
        inv = invalid_expr(SIGNAL_FIELDS, rawmap, typed)
        inv = f"CASE WHEN _bad_json THEN 'line: not valid JSON' ELSE {inv} END"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {select}, {inv} AS _invalid "
            f"FROM ({raw}) WHERE NOT _blank"
        )
        return True

    # -- internals -----------------------------------------------------------------------------

    def _canonical(self, raw_sql: str) -> str:
        typed = {f.name: typed_expr(f, f"raw_{f.name}") for f in RECORD_FIELDS}
        rawmap = {f.name: f"raw_{f.name}" for f in RECORD_FIELDS}
        inv = invalid_expr(RECORD_FIELDS, rawmap, typed)
        inv = f"CASE WHEN _bad_json THEN 'line: not valid JSON' ELSE {inv} END"
        cols = []
        for f in RECORD_FIELDS:
            expr = typed[f.name]
            if f.name == "tbt_ms":
                # Derive the mean inter-token gap when only the totals were logged.
                derived = (
                    f"({typed['latency_ms']} - {typed['ttft_ms']}) / ({typed['output_tokens']} - 1)"
                )
                expr = (
                    f"coalesce({expr}, CASE WHEN {typed['output_tokens']} > 1 "
                    f"AND {typed['latency_ms']} >= {typed['ttft_ms']} THEN {derived} END)"
                )
            elif f.name == "cost_usd" and self.prices:
                model = typed["model_id"]
                cin = " ".join(f"WHEN {_lit(m)} THEN {p[0]!r}" for m, p in self.prices.items())
                cout = " ".join(f"WHEN {_lit(m)} THEN {p[1]!r}" for m, p in self.prices.items())
                computed = (
                    f"(coalesce({typed['input_tokens']}, 0) * (CASE {model} {cin} END) + "
                    f"coalesce({typed['output_tokens']}, 0) * (CASE {model} {cout} END)) / 1e6"
                )
                expr = f"coalesce({expr}, {computed})"
            elif f.name == "finish_reason":
                expr = f"coalesce({expr}, CASE WHEN raw_error IS NOT NULL THEN 'error' END)"
            cols.append(f"{expr} AS {f.name}")
        return (
            f"SELECT {', '.join(cols)}, {inv} AS _invalid, _loc FROM ({raw_sql}) WHERE NOT _blank"
        )

    def _raw_sql(self, con: duckdb.DuckDBPyConnection, files: list[str], lenient: bool) -> str:
        if self.kind == "sql":
            return self._sql_raw(con)
        if not files:
            cols = ", ".join(f"CAST(NULL AS {f.sql_type}) AS raw_{f.name}" for f in RECORD_FIELDS)
            return (
                f"SELECT {cols}, NULL::VARCHAR AS _loc, false AS _blank, false AS _bad_json "
                "WHERE false"
            )
        if self.kind == "otel":
            # Materialized once: the attribute maps are too costly to re-derive per reference.
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _otel_raw AS {_otel_raw(files, self.columns)}"
            )
            return "SELECT * FROM _otel_raw"
        return _file_reader(con, self.kind, files, RECORD_FIELDS, self.columns, lenient=lenient)

    def _sql_raw(self, con: duckdb.DuckDBPyConnection) -> str:
        """Copy the table or query into DuckDB in batches (the database does the filtering)."""
        import pandas as pd
        from sqlalchemy import create_engine, text

        query = self.query or f"SELECT * FROM {self.table}"
        engine = create_engine(self.records)
        con.execute("DROP TABLE IF EXISTS _sql_raw")
        offset = 0
        try:
            with engine.connect() as conn:
                for chunk in pd.read_sql(text(query), conn, chunksize=100_000):
                    chunk = chunk.astype(object).where(chunk.notna(), None).astype("string")
                    chunk.insert(0, "_row", range(offset + 1, offset + 1 + len(chunk)))
                    offset += len(chunk)
                    con.register("_chunk", chunk)
                    if offset == len(chunk):
                        con.execute("CREATE TEMP TABLE _sql_raw AS SELECT * FROM _chunk")
                    else:
                        con.execute("INSERT INTO _sql_raw SELECT * FROM _chunk")
                    con.unregister("_chunk")
        finally:
            engine.dispose()
        if offset == 0:
            return self._raw_sql(con, [], False)
        present = {r[0] for r in con.execute("DESCRIBE _sql_raw").fetchall()}
        where = _lit(self.table or "query")
        return _select_raw(
            RECORD_FIELDS, self.columns, present, f"{where} || ':row ' || _row", "_sql_raw"
        )


def _kind_of(source: str) -> str:
    low = source.lower()
    if "://" in low:
        return "sql"
    if low.endswith((".otel.json", ".otlp.json")) or "otel" in Path(low).name:
        return "otel"
    for suffix, kind in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "jsonl"),
        (".parquet", "parquet"),
        (".csv", "csv"),
    ):
        if low.endswith(suffix):
            return kind
    raise ConfigError(
        CONFIG_FILE,
        "production.source",
        f"{source!r}: cannot tell the format; set format = jsonl | csv | parquet | otel | sql",
    )


def _select_raw(
    fields: tuple[Field, ...],
    mapping: dict[str, str],
    present: set[str],
    loc: str,
    rel: str,
    blank: str = "false",
) -> str:
    cols = []
    for f in fields:
        src = mapping.get(f.name, f.name)
        cols.append(f"{_ident(src)} AS raw_{f.name}" if src in present else f"NULL AS raw_{f.name}")
    return (
        f"SELECT {', '.join(cols)}, {loc} AS _loc, {blank} AS _blank, false AS _bad_json FROM {rel}"
    )


def _file_list(files: list[str]) -> str:
    return "[" + ", ".join(_lit(f) for f in files) + "]"


def _file_reader(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    files: list[str],
    fields: tuple[Field, ...],
    mapping: dict[str, str],
    *,
    lenient: bool,
) -> str:
    flist = _file_list(files)
    if kind == "parquet":
        rel = (
            f"read_parquet({flist}, filename = true, file_row_number = true, union_by_name = true)"
        )
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
        return _select_raw(
            fields, mapping, present, "filename || ':row ' || (file_row_number + 1)", rel
        )
    if kind == "csv":
        # Line = data row + 1 for the header; each file numbered on its own.
        parts = []
        for f in files:
            rel = f"read_csv({_lit(f)}, all_varchar = true, header = true)"
            present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
            numbered = f"(SELECT *, row_number() OVER () + 1 AS _line FROM {rel})"
            parts.append(
                _select_raw(fields, mapping, present, f"{_lit(f + ':')} || _line", numbered)
            )
        return " UNION ALL ".join(parts)
    if kind != "jsonl":
        raise ConfigError(CONFIG_FILE, "production.format", f"{kind!r} is not a file format")
    if not lenient:
        spec = ", ".join(f"{_lit(mapping.get(f.name, f.name))}: {_lit(f.sql_type)}" for f in fields)
        rel = f"read_json({flist}, format = 'newline_delimited', columns = {{{spec}}})"
        present = {mapping.get(f.name, f.name) for f in fields}
        return _select_raw(fields, mapping, present, "NULL::VARCHAR", rel)
    parts = []
    for f in files:
        lines = (
            f"(SELECT row_number() OVER () AS _line, j FROM read_csv({_lit(f)}, "
            "columns = {'j': 'VARCHAR'}, header = false, delim = chr(30), quote = '', "
            "escape = '', auto_detect = false))"
        )
        cols = []
        for fd in fields:
            key = mapping.get(fd.name, fd.name).replace('"', '\\"')
            path = _lit('$."' + key + '"')
            cols.append(
                f"CASE WHEN json_valid(j) THEN json_extract_string(j, {path}) END AS raw_{fd.name}"
            )
        loc = f"{_lit(f + ':')} || _line"
        # A line that is not JSON keeps a NULL request_id, so it is quarantined as missing one;
        # name the real cause instead.
        parts.append(
            f"SELECT {', '.join(cols)}, {loc} AS _loc, j IS NULL AS _blank, "
            f"NOT coalesce(json_valid(j), true) AS _bad_json FROM {lines}"
        )
    return " UNION ALL ".join(parts)


_OTEL_VALUE = (
    "STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue DOUBLE, boolValue BOOLEAN, "
    'arrayValue STRUCT("values" STRUCT(stringValue VARCHAR)[]))'
)
_OTEL_ATTRS = f"STRUCT(key VARCHAR, value {_OTEL_VALUE})[]"
_OTEL_TYPE = (
    f"STRUCT(resource STRUCT(attributes {_OTEL_ATTRS}), scopeSpans STRUCT(spans STRUCT("
    f"spanId VARCHAR, startTimeUnixNano VARCHAR, endTimeUnixNano VARCHAR, attributes "
    f"{_OTEL_ATTRS}, status STRUCT(code VARCHAR, message VARCHAR))[])[])[]"
)
"""The part of OTLP/JSON we read, declared so DuckDB parses straight into structs."""


def _otel_raw(files: list[str], mapping: dict[str, str]) -> str:
    """OTLP/JSON GenAI client spans -> raw record columns.

    Current ``gen_ai.*`` names first, then the legacy ones (``gen_ai.usage.prompt_tokens`` /
    ``completion_tokens``, ``gen_ai.response.time_to_first_chunk`` in seconds,
    ``openai.response.system_fingerprint``). ``columns`` may name the attribute (span or
    resource) holding the feature id or user id; by default the feature is the resource's
    ``service.name``. Spans without any ``gen_ai`` attribute are not LLM calls and are skipped.
    """

    def attr(*keys: str) -> str:
        vals = []
        for k in keys:
            for m in ("a", "r"):
                v = f"{m}[{_lit(k)}]"
                vals.append(
                    f"coalesce({v}.stringValue, {v}.intValue, CAST({v}.doubleValue AS VARCHAR), "
                    f'CAST({v}.boolValue AS VARCHAR), {v}.arrayValue."values"[1].stringValue)'
                )
        return "coalesce(" + ", ".join(vals) + ")"

    def text(*keys: str) -> str:
        v = attr(*keys)
        content = (
            f'array_to_string(list_transform(from_json({v}, \'[{{"content": "VARCHAR"}}]\'), '
            "lambda m: m.content), '\n')"
        )
        return f"CASE WHEN json_valid({v}) AND left(trim({v}), 1) = '[' THEN {content} ELSE {v} END"

    feature = attr(mapping["feature_id"]) if "feature_id" in mapping else attr("service.name")
    user = attr(mapping["user_id"]) if "user_id" in mapping else attr("user.id", "enduser.id")
    ttft_s = attr("gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token")
    size = max([Path(f).stat().st_size for f in files] + [1 << 20]) * 2 + 1024
    spans = f"""
      WITH doc AS (
        SELECT filename, unnest(resourceSpans) AS rs
        FROM read_json({_file_list(files)}, format = 'auto', filename = true,
                       columns = {{'resourceSpans': {_lit(_OTEL_TYPE)}}},
                       maximum_object_size = {size})
      ), scopes AS (
        SELECT filename, rs.resource.attributes AS rattrs, unnest(rs.scopeSpans) AS ss FROM doc
      ), spans AS (SELECT filename, rattrs, unnest(ss.spans) AS sp FROM scopes)
      SELECT filename, sp, map_from_entries(coalesce(sp.attributes, [])) AS a,
             map_from_entries(coalesce(rattrs, [])) AS r
      FROM spans"""
    is_error = "coalesce(sp.status.code, '') IN ('2', 'STATUS_CODE_ERROR')"
    start_ns = "TRY_CAST(sp.startTimeUnixNano AS HUGEINT)"
    end_ns = "TRY_CAST(sp.endTimeUnixNano AS HUGEINT)"
    return f"""
      SELECT coalesce({attr("gen_ai.response.id")}, sp.spanId) AS raw_request_id,
             make_timestamp(CAST({start_ns} // 1000 AS BIGINT))::TIMESTAMPTZ AS raw_timestamp,
             {feature} AS raw_feature_id,
             coalesce({attr("gen_ai.request.model")}, {
        attr("gen_ai.response.model")
    }) AS raw_model_id,
             {user} AS raw_user_id,
             {attr("gen_ai.conversation.id", "session.id")} AS raw_session_id,
             {text("gen_ai.input.messages", "gen_ai.prompt")} AS raw_input,
             {text("gen_ai.output.messages", "gen_ai.completion")} AS raw_output,
             ({end_ns} - {start_ns}) / 1e6 AS raw_latency_ms,
             TRY_CAST({ttft_s} AS DOUBLE) * 1000 AS raw_ttft_ms,
             NULL AS raw_tbt_ms,
             coalesce({attr("gen_ai.usage.input_tokens")}, {attr("gen_ai.usage.prompt_tokens")})
                 AS raw_input_tokens,
             coalesce({attr("gen_ai.usage.output_tokens")},
                      {attr("gen_ai.usage.completion_tokens")}) AS raw_output_tokens,
             NULL AS raw_cost_usd,
             CASE WHEN {is_error} THEN 'error'
                  ELSE {attr("gen_ai.response.finish_reasons")} END AS raw_finish_reason,
             CASE WHEN {is_error} THEN coalesce({attr("error.type")},
                  nullif(sp.status.message, ''), 'error') END AS raw_error,
             coalesce({attr("gen_ai.openai.response.system_fingerprint")},
                      {attr("openai.response.system_fingerprint")}) AS raw_system_fingerprint,
             filename || ':span ' || coalesce(sp.spanId, '?') AS _loc,
             false AS _blank, false AS _bad_json
      FROM ({spans})
      WHERE {
        attr(
            "gen_ai.operation.name", "gen_ai.system", "gen_ai.provider.name", "gen_ai.request.model"
        )
    } IS NOT NULL
    """
