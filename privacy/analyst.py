"""The analyst database: what the restricted warehouse may show without personal data.

Built from the working database after every other step, into a file beside the
analyst database's published name, and published by the same final step as the
warehouse (`ingest.publish.publish` renames both), so a killed run leaves both as they
were. It holds only tables the catalog marks ``analyst=True``; in them, columns marked
``drop`` are left out, columns marked ``pseudonymise`` are replaced by keyed
pseudonyms (`privacy.pseudonyms`), and a column the catalog does not document is left
out too (fail closed: a new column reaches analysts only once someone has classed it).

Before it is published the database is scanned for ID-number and phone shapes
(`privacy.scan`); any hit stops the run with the table and column named, never the value.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from catalog.model import Table
from catalog.registry import apply_comments, split
from ingest import db
from privacy.pseudonyms import SQL_MACRO, install_sql_pseudonym, is_demo, key_id
from privacy.scan import scan_database

SUFFIX = ".analyst.duckdb"
SOURCE_ALIAS = "hh_src"
#: Temporary table of the current records' pseudonyms while the analyst database is built (`_record_pseudonyms`).
RECORD_PSEUDONYMS = "hh_record_pseudonyms"
METHOD = ("R- + the first 20 hex digits of HMAC-SHA256(key, value) written with letters a-p; a record key is "
          "pseudonymised as source:record_id")


class PersonalDataFound(RuntimeError):
    """The analyst database would show text shaped like ID numbers or phones; the message names the columns."""


@dataclass
class AnalystBuild:
    path: Path           # where it is published
    tmp: Path            # the file built, renamed onto `path` by publication
    tables: int = 0
    rows: int = 0
    dropped: int = 0         # columns left out as personal data
    pseudonymised: int = 0   # columns replaced by pseudonyms
    withheld: list[str] = field(default_factory=list)  # undocumented columns left out
    key_id: str = ""
    demo_key: bool = False
    seconds: float = 0.0


def analyst_path(warehouse: str | Path, configured: str | Path = "") -> Path:
    """The analyst database of a warehouse: `configured`, or `<stem>.analyst.duckdb` beside the warehouse."""
    if configured:
        return Path(configured)
    w = Path(warehouse)
    return w.with_name(w.stem + SUFFIX)


def _source_objects(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], list[str]]:
    rows = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE table_catalog = '{SOURCE_ALIAS}' ORDER BY table_schema, table_name, ordinal_position").fetchall()
    out: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in rows:
        out.setdefault((schema, table), []).append(column)
    return out


def _base_tables(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(f"SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = '{SOURCE_ALIAS}'")
    return set(rows.fetchall())


def _record_pseudonyms(con: duckdb.DuckDBPyConnection, present: Mapping[tuple[str, str], list[str]]) -> bool:
    """The temporary table `RECORD_PSEUDONYMS` (k = `source:record_id` of every current record, p = its
    pseudonym), when the working database has `person_xref`; whether it was made.

    Each record key is pseudonymised once here and looked up wherever it appears: computing the
    keyed hash (two SHA-256 in SQL) is what building the analyst database spends most on, and
    `person_link` holds each record key again, on both sides of its 1.5M pairs at 1M persons.
    """
    if ("main", "person_xref") not in present:
        return False
    con.execute(f"CREATE TEMP TABLE {RECORD_PSEUDONYMS} AS SELECT k, {SQL_MACRO}(k) AS p FROM "
                f"(SELECT DISTINCT source || ':' || record_id AS k FROM {SOURCE_ALIAS}.main.person_xref "
                "WHERE record_id IS NOT NULL)")
    return True


def _select(table: Table, columns: list[str], built: AnalystBuild, lookup: bool) -> tuple[list[str], list[str]]:
    """The SELECT list over the source table (alias `s`) and, with `lookup`, the joins to `RECORD_PSEUDONYMS`
    that give each pseudonymised value its stored pseudonym (computed where the value is not a record key)."""
    docs = {c.name: c for c in table.columns}
    out, joins = [], []
    for column in columns:
        doc = docs.get(column)
        if doc is None:
            built.withheld.append(f"{table.name}.{column}")
            continue
        q = db.quote(column)
        if doc.pii == "drop":
            built.dropped += 1
        elif doc.pii == "pseudonymise":
            built.pseudonymised += 1
            value = f"s.{db.quote('source')} || ':' || s.{q}" if column == "record_id" and "source" in columns \
                else f"s.{q}"
            if lookup:
                m = f"m{len(joins)}"
                joins.append(f"LEFT JOIN {RECORD_PSEUDONYMS} {m} ON {m}.k = {value}")
                out.append(f"coalesce({m}.p, {SQL_MACRO}({value})) AS {q}")
            else:
                out.append(f"{SQL_MACRO}({value}) AS {q}")
        else:
            out.append(f"s.{q}")
    return out, joins


def _examples(tables: Mapping[str, Table], present: set[str]) -> list[tuple[str, str, str]]:
    rows = []
    for t in tables.values():
        if t.name not in present:
            continue
        for sql in t.examples:
            first, _, rest = sql.partition("\n")
            title, body = (first[2:].strip(), rest) if first.startswith("--") else ("", sql)
            rows.append((t.name, title, body.strip()))
    return rows


def build_analyst(work: Path, out: Path, tables: Mapping[str, Table], key: str) -> AnalystBuild:
    """Write the analyst database of the working database `work` into the new file `out`."""
    t0 = time.perf_counter()
    built = AnalystBuild(path=out, tmp=out, key_id=key_id(key), demo_key=is_demo(key))
    out.unlink(missing_ok=True)
    con = duckdb.connect(str(out), config={"memory_limit": "1GB"})
    try:
        con.execute(f"ATTACH '{work}' AS {SOURCE_ALIAS} (READ_ONLY)")
        install_sql_pseudonym(con, key)
        present = _source_objects(con)
        base = _base_tables(con)
        looked_up = _record_pseudonyms(con, present)
        published = set()
        for t in tables.values():
            schema, name = split(t.name)
            if not t.analyst or (schema, name) not in present:
                continue
            # Joins do not keep the source's row order: ordered by rowid, which only base tables have.
            select, joins = _select(t, present[(schema, name)], built, looked_up and (schema, name) in base)
            if not select:
                continue
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {db.quote(schema)}")
            src = f"{SOURCE_ALIAS}.{db.quote(schema)}.{db.quote(name)} s"
            order = " ORDER BY s.rowid" if joins else ""
            con.execute(f"CREATE TABLE {db.quote(schema)}.{db.quote(name)} AS SELECT {', '.join(select)} FROM {src} "
                        f"{' '.join(joins)}{order}")
            built.tables += 1
            built.rows += con.execute(f"SELECT count(*) FROM {db.quote(schema)}.{db.quote(name)}").fetchall()[0][0]
            published.add(t.name)
        con.execute("CREATE TABLE pseudonymisation AS SELECT ? AS key_id, ? AS demo_key, ? AS method",
                    [built.key_id, built.demo_key, METHOD])
        examples = _examples(tables, published)
        con.execute("CREATE TABLE example_queries (table_name VARCHAR, title VARCHAR, sql VARCHAR)")
        if examples:
            con.executemany("INSERT INTO example_queries VALUES (?, ?, ?)", examples)
        built.tables += 2
        con.execute(f"DROP TABLE IF EXISTS temp.{RECORD_PSEUDONYMS}")
        con.execute(f"DETACH {SOURCE_ALIAS}")
        apply_comments(con, tables, analyst=True)
        hits = scan_database(con)
        if hits:
            raise PersonalDataFound("the analyst database would publish personal data: "
                                    + "; ".join(h.line() for h in hits[:5])
                                    + " (class these columns in the catalog as drop or pseudonymise)")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        out.unlink(missing_ok=True)
        raise
    con.close()
    built.seconds = time.perf_counter() - t0
    return built


def prepare(work: Path, analyst: Path, run_id: str, tables: Mapping[str, Table], key: str) -> AnalystBuild:
    """Build the analyst database into `<analyst>.tmp-<run_id>`, ready for `ingest.publish.publish` to rename."""
    for old in analyst.parent.glob(f"{analyst.name}.tmp-*"):  # left by a killed run; one writer at a time
        old.unlink(missing_ok=True)
    analyst.parent.mkdir(parents=True, exist_ok=True)
    built = build_analyst(work, analyst.with_name(f"{analyst.name}.tmp-{run_id}"), tables, key)
    built.path = analyst
    return built
