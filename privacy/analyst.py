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


def _select(table: Table, columns: list[str], built: AnalystBuild) -> list[str]:
    docs = {c.name: c for c in table.columns}
    out = []
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
            value = f"{db.quote('source')} || ':' || {q}" if column == "record_id" and "source" in columns else q
            out.append(f"{SQL_MACRO}({value}) AS {q}")
        else:
            out.append(q)
    return out


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
        published = set()
        for t in tables.values():
            schema, name = split(t.name)
            if not t.analyst or (schema, name) not in present:
                continue
            select = _select(t, present[(schema, name)], built)
            if not select:
                continue
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {db.quote(schema)}")
            src = f"{SOURCE_ALIAS}.{db.quote(schema)}.{db.quote(name)}"
            con.execute(f"CREATE TABLE {db.quote(schema)}.{db.quote(name)} AS SELECT {', '.join(select)} FROM {src}")
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
