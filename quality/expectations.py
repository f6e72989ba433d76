"""Expectation suites (Great Expectations 1.x) for the staged current tables and the core tables.

Suites are built in code from the source configs: required fields present, the key
unique, ID validity rate, enumerations, plausible dates and amounts. GX runs on
pandas frames (its DuckDB SQL datasource is broken upstream, STACK-NOTES), in an
ephemeral context, and is imported lazily because it is slow to import; pyspark is
hidden from it so that it neither slows the import nor exits Dagster workers.

Each expectation carries ``meta.blocking``: failures that make everything downstream
meaningless (no rows, repeated keys) block; the rest are warnings.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ingest import db
from ingest.sources import SourceConfig
from quality.records import current_view

#: Minimum share of rows whose ID number, where given, passes GB 11643 (typos and damage are the rest).
ID_VALID_RATE = 0.8
EARLIEST_DATE = datetime(1900, 1, 1)
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "suite": pl.String(), "table": pl.String(), "expectation": pl.String(), "column": pl.String(),
    "blocking": pl.Boolean(), "success": pl.Boolean(), "observed": pl.String(), "rows": pl.Int64(),
}


@dataclass
class Expect:
    """One expectation, GX-independent until validation (so suites can be listed without importing GX)."""
    kind: str  # a GX expectation class name
    kwargs: dict[str, Any]
    blocking: bool = False


@dataclass
class Suite:
    name: str
    table: str  # SQL to read the frame, e.g. a table or view name
    expectations: list[Expect] = field(default_factory=list)


def _gx():
    """GX, imported with pyspark hidden from it, whether or not this process uses Spark.

    GX imports pyspark whenever it can; pyspark's Connect modules then call
    ``sys.exit(0)`` in processes whose ``__main__`` has no file (Dagster's step and run
    workers, ``python -c``) and the import takes seconds longer (STACK-NOTES). A process
    that already runs Spark (HHLINK_ENGINE=spark) gets its modules back after the import;
    otherwise the placeholder stays, so GX's later imports do not find pyspark either
    (resolution/engine.py removes it before starting Spark).
    """
    if (gx := sys.modules.get("great_expectations")) is not None:
        return gx
    loaded = {n: m for n, m in sys.modules.items() if n == "pyspark" or n.startswith("pyspark.")}
    for name in loaded:
        del sys.modules[name]
    sys.modules["pyspark"] = None  # type: ignore[assignment]  # "import pyspark" now raises ImportError
    try:
        import great_expectations as gx
    finally:
        if any(m is not None for m in loaded.values()):
            del sys.modules["pyspark"]
            sys.modules.update(loaded)
    return gx


@cache
def _context():
    """One ephemeral GX context per process (each new one leaves a temporary docs folder behind)."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def source_suite(cfg: SourceConfig, reference: date) -> Suite:
    """The suite for one source's current snapshot, from its config."""
    s = Suite(f"staged_{cfg.source}", current_view(cfg.source))
    s.expectations.append(Expect("ExpectTableRowCountToBeBetween", {"min_value": 1}, blocking=True))
    s.expectations.append(Expect("ExpectColumnValuesToBeUnique", {"column": "record_id"}, blocking=True))
    s.expectations.append(Expect("ExpectColumnValuesToNotBeNull", {"column": "record_id"}, blocking=True))
    for col in cfg.required:
        if col.type != "key":
            s.expectations.append(Expect("ExpectColumnValuesToNotBeNull", {"column": col.field, "mostly": 0.99}))
    for col in cfg.columns:
        if col.type == "enum" and col.values:
            s.expectations.append(Expect("ExpectColumnValuesToBeInSet",
                                         {"column": col.field, "value_set": list(col.values)}))
        elif col.type == "date":
            s.expectations.append(Expect("ExpectColumnValuesToBeBetween", {  # as day numbers (_as_pandas)
                "column": col.field, "min_value": _day(EARLIEST_DATE.date()), "max_value": _day(reference)}))
        elif col.type == "money":
            s.expectations.append(Expect("ExpectColumnValuesToBeBetween",
                                         {"column": col.field, "min_value": 0, "max_value": 1_000_000}))
        elif col.type == "id_number":
            s.expectations.append(Expect("ExpectColumnValuesToBeInSet", {
                "column": f"{col.field}_status", "value_set": ["valid", "upgraded_15", "blank"],
                "mostly": ID_VALID_RATE}))
        elif col.type == "sex":
            s.expectations.append(Expect("ExpectColumnValuesToBeInSet", {"column": col.field, "value_set": ["M", "F"]}))
    return s


def core_suites() -> list[Suite]:
    """Suites for the contract's core tables."""
    return [
        Suite("person_xref", "person_xref", [
            Expect("ExpectTableRowCountToBeBetween", {"min_value": 1}, blocking=True),
            Expect("ExpectCompoundColumnsToBeUnique", {"column_list": ["source", "record_id"]}, blocking=True),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "person_id"}, blocking=True),
        ]),
        Suite("household_member", "household_member", [
            Expect("ExpectTableRowCountToBeBetween", {"min_value": 1}, blocking=True),
            Expect("ExpectColumnValuesToBeUnique", {"column": "person_id"}, blocking=True),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "household_id"}, blocking=True),
        ]),
        Suite("deliveries", "deliveries", [
            Expect("ExpectColumnValuesToBeInSet", {"column": "status", "value_set": ["accepted", "rejected"]}),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "source"}),
        ]),
        Suite("source_freshness", "source_freshness", [
            Expect("ExpectColumnValuesToBeUnique", {"column": "source"}, blocking=True),
            Expect("ExpectColumnValuesToBeInSet",
                   {"column": "status", "value_set": ["fresh", "late", "stale", "missing"]}),
        ]),
        Suite("findings", "findings", [
            Expect("ExpectColumnValuesToNotBeNull", {"column": "finding_type"}),
            Expect("ExpectColumnValuesToNotBeNull", {"column": "detail"}),
        ]),
    ]


def _day(d: date) -> int:
    """Days since 1970-01-01, the form dates are validated in."""
    return (d - date(1970, 1, 1)).days


def _enumerations(suite: Suite) -> set[str]:
    """Columns the suite only checks against a set of values (enumerations, statuses, sexes)."""
    in_set = {e.kwargs["column"] for e in suite.expectations if e.kind == "ExpectColumnValuesToBeInSet"}
    other = {c for e in suite.expectations if e.kind != "ExpectColumnValuesToBeInSet"
             for c in (e.kwargs.get("column"), *e.kwargs.get("column_list", []))}
    return in_set - other


def _as_pandas(frame: pl.DataFrame, enumerations: set[str] = frozenset()):
    """Dates become day numbers: GX compares datetime values one by one in Python (9 of the 11 s
    a 1M-row health suite took), integers with one vectorised comparison. Text columns checked
    only against a set of values become categoricals (a handful of distinct values): GX hashes
    the whole frame for its batch fingerprint and tests set membership, both per distinct value."""
    dates = [c for c, t in frame.schema.items() if t == pl.Date]
    nested = [c for c, t in frame.schema.items() if isinstance(t, pl.List | pl.Struct | pl.Array)]
    codes = [c for c, t in frame.schema.items() if t == pl.String and c in enumerations]
    return (frame.drop(nested).with_columns(*(pl.col(c).cast(pl.Int32) for c in dates),
                                            *(pl.col(c).cast(pl.Categorical) for c in codes)).to_pandas())


def validate(con: duckdb.DuckDBPyConnection, suite: Suite) -> tuple[pl.DataFrame, dict]:
    """Run one suite on its table: (one row per expectation, GX's result as JSON-ready dict)."""
    if not db.table_exists(con, suite.table):
        rows = [{"suite": suite.name, "table": suite.table, "expectation": "table exists", "column": None,
                 "blocking": False, "success": None, "observed": "no table (no data delivered yet)", "rows": 0}]
        return pl.DataFrame(rows, schema=RESULT_SCHEMA), {"suite": suite.name, "skipped": "no table"}
    # Only the columns the suite looks at: a staged table's other columns (issues lists, free
    # text) cost most of the time and memory of handing millions of rows to pandas.
    present = db.columns(con, suite.table)
    wanted = {c for e in suite.expectations for c in (e.kwargs.get("column"), *e.kwargs.get("column_list", []))
              if c is not None}
    cols = [c for c in present if c in wanted] or present[:1]
    frame = db.frame(con, f"SELECT {', '.join(db.quote(c) for c in cols)} FROM {suite.table}")
    gx, ctx = _gx(), _context()
    name = f"{suite.name}-{uuid.uuid4().hex[:8]}"  # names are unique within the shared context
    batch = (ctx.data_sources.add_pandas(name).add_dataframe_asset(suite.name)
             .add_batch_definition_whole_dataframe("current"))
    # Expectations are added before the suite joins the context: added after, each one
    # re-serialises the whole suite into the context's store (2.5 s of the ten suites' 19).
    gsuite = gx.ExpectationSuite(name=name)
    present = set(frame.columns)
    for e in suite.expectations:
        cols = [e.kwargs.get("column"), *e.kwargs.get("column_list", [])]
        if any(c is not None and c not in present for c in cols):
            continue
        gsuite.add_expectation(getattr(gx.expectations, e.kind)(**e.kwargs, meta={"blocking": e.blocking}))
    gsuite = ctx.suites.add(gsuite)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=gsuite))
    try:
        result = vd.run(batch_parameters={"dataframe": _as_pandas(frame, _enumerations(suite))},
                        result_format="BASIC")
    finally:
        ctx.validation_definitions.delete(name)
        ctx.suites.delete(name)
        ctx.data_sources.delete(name)
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        observed = res.get("observed_value")
        if observed is None and res.get("unexpected_percent") is not None:
            observed = f"{res.get('unexpected_count', 0)} unexpected ({res['unexpected_percent']:.2f}%)"
        rows.append({"suite": suite.name, "table": suite.table, "expectation": cfg.type,
                     "column": cfg.kwargs.get("column") or ",".join(cfg.kwargs.get("column_list", []) or []) or None,
                     "blocking": bool((cfg.meta or {}).get("blocking")), "success": bool(r.success),
                     "observed": None if observed is None else str(observed), "rows": frame.height})
    return pl.DataFrame(rows, schema=RESULT_SCHEMA), _reproducible(result.to_json_dict(), name, suite.name)


#: Keys of a GX result that change on every validation (ids, wall-clock times), not with the data.
_VOLATILE = frozenset({"id", "validation_id", "ge_load_time", "run_time", "validation_time"})


def _reproducible(doc: Any, context_name: str, suite_name: str) -> Any:
    """The GX result without per-run ids and times, so the same data gives the same stored JSON."""
    if isinstance(doc, dict):
        return {k: _reproducible(v, context_name, suite_name) for k, v in doc.items() if k not in _VOLATILE}
    if isinstance(doc, list):
        return [_reproducible(v, context_name, suite_name) for v in doc]
    if isinstance(doc, str):
        return doc.replace(context_name, suite_name)
    return doc


def all_suites(sources: Mapping[str, SourceConfig], reference: date) -> list[Suite]:
    return [source_suite(c, reference) for c in sources.values()] + core_suites()


def run_suites(con: duckdb.DuckDBPyConnection, suites: list[Suite], out_dir: Path | None = None) -> pl.DataFrame:
    """Validate each suite; write its GX result JSON to ``out_dir/<suite>.json``; return all rows."""
    parts = []
    for s in suites:
        rows, doc = validate(con, s)
        parts.append(rows)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / f"{s.name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str))
    return pl.concat(parts) if parts else pl.DataFrame(schema=RESULT_SCHEMA)


def store_results(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> None:
    """Keep the newest result of each suite in ``audit.expectation_results``."""
    table = "audit.expectation_results"
    for name in rows["suite"].unique().to_list():
        db.delete_where(con, table, "suite = ?", [name])
    db.append(con, table, rows)
