"""The data dictionary, read back from a database's own comments (not from the Python catalog).

What the dictionary says is therefore what `COMMENT ON` left in the file analysts
open (`duckdb_tables()`/`duckdb_columns()` show the same text). Example queries come
from the analyst database's `example_queries` table.

    python -m catalog.dictionary --warehouse data/demo/warehouse.duckdb > docs/data-dictionary.md
"""

from __future__ import annotations

import argparse
import html
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

SCHEMA_ORDER = ("main", "audit", "linked", "meta", "quarantine", "staged", "raw")


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class TableDoc:
    name: str      # schema-qualified unless in main
    kind: str      # table or view
    comment: str
    columns: tuple[ColumnDoc, ...]


@dataclass(frozen=True)
class Example:
    table: str
    title: str
    sql: str


@dataclass(frozen=True)
class Section:
    title: str
    intro: str
    tables: tuple[TableDoc, ...]
    examples: tuple[Example, ...]


def _order(schema: str) -> int:
    return SCHEMA_ORDER.index(schema) if schema in SCHEMA_ORDER else len(SCHEMA_ORDER)


def read_tables(con: duckdb.DuckDBPyConnection) -> tuple[TableDoc, ...]:
    """Every table and view of the connected database with its comments."""
    objects = con.execute("""
        SELECT schema_name, table_name, 'table', coalesce(comment, '') FROM duckdb_tables()
            WHERE database_name = current_database()
        UNION ALL
        SELECT schema_name, view_name, 'view', coalesce(comment, '') FROM duckdb_views()
            WHERE database_name = current_database() AND NOT internal""").fetchall()
    cols = con.execute("""
        SELECT schema_name, table_name, column_name, data_type, coalesce(comment, '') FROM duckdb_columns()
        WHERE database_name = current_database() AND NOT internal ORDER BY column_index""").fetchall()
    by_table: dict[tuple[str, str], list[ColumnDoc]] = {}
    for schema, table, column, dtype, comment in cols:
        by_table.setdefault((schema, table), []).append(ColumnDoc(column, dtype, comment))
    out = [TableDoc(t if s == "main" else f"{s}.{t}", kind, comment, tuple(by_table.get((s, t), ())))
           for s, t, kind, comment in objects]
    return tuple(sorted(out, key=lambda d: (_order(d.name.rpartition(".")[0] or "main"), d.name)))


def read_examples(con: duckdb.DuckDBPyConnection) -> tuple[Example, ...]:
    have = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                       "AND schema_name = 'main' AND table_name = 'example_queries'").fetchall()[0][0]
    if not have:
        return ()
    rows = con.execute("SELECT table_name, title, sql FROM example_queries ORDER BY table_name, sql").fetchall()
    return tuple(Example(*r) for r in rows)


def read_section(path: Path, title: str, intro: str) -> Section:
    with duckdb.connect(str(path), read_only=True) as con:
        return Section(title, intro, read_tables(con), read_examples(con))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(sections: list[Section]) -> str:
    out = ["# Data dictionary", "",
           "Generated from the comments (`COMMENT ON`) stored in the databases themselves: "
           "`python -m catalog.dictionary --warehouse FILE`. Query them with `hhlink query \"SQL\"` "
           "(the analyst database by default; `--restricted` for the full warehouse).", ""]
    for sec in sections:
        out += [f"## {sec.title}", "", sec.intro, ""]
        examples: dict[str, list[Example]] = {}
        for e in sec.examples:
            examples.setdefault(e.table, []).append(e)
        for t in sec.tables:
            out += [f"### {t.name}" + (" (view)" if t.kind == "view" else ""), "", t.comment or "*(no comment)*", "",
                    "| column | type | meaning |", "| --- | --- | --- |"]
            out += [f"| `{c.name}` | {c.type} | {_md_cell(c.comment) or '*(no comment)*'} |" for c in t.columns]
            out.append("")
            for e in examples.get(t.name, ()):
                out += [f"Example{': ' + e.title if e.title else ''}", "", "```sql", e.sql, "```", ""]
    return "\n".join(out)


def html_body(sections: list[Section]) -> str:
    esc = html.escape
    parts = ["<p>Every table and column as the databases' own comments describe them. Query with "
             "<code>hhlink query \"SQL\"</code> (the analyst database by default).</p>"]
    for sec in sections:
        parts.append(f"<h2>{esc(sec.title)}</h2><p>{esc(sec.intro)}</p><ul>")
        parts += [f"<li><a href='#{esc(sec.title[:1])}-{esc(t.name)}'>{esc(t.name)}</a></li>" for t in sec.tables]
        parts.append("</ul>")
        for t in sec.tables:
            rows = "".join(f"<tr><td><code>{esc(c.name)}</code></td><td>{esc(c.type)}</td><td>{esc(c.comment)}</td>"
                           "</tr>" for c in t.columns)
            parts.append(f"<h3 id='{esc(sec.title[:1])}-{esc(t.name)}'>{esc(t.name)}"
                         f"{' (view)' if t.kind == 'view' else ''}</h3><p>{esc(t.comment)}</p>"
                         f"<table><tr><th>column</th><th>type</th><th>meaning</th></tr>{rows}</table>")
            for e in (e for e in sec.examples if e.table == t.name):
                parts.append(f"<p class='note'>{esc(e.title or 'example')}</p><pre>{esc(e.sql)}</pre>")
    return "".join(parts)


ANALYST_INTRO = ("What analysts read: no names, ID numbers, phones, birth dates or street addresses; record keys "
                 "replaced by keyed pseudonyms (docs/privacy.md). Published beside the warehouse as "
                 "`<warehouse stem>.analyst.duckdb`.")
RESTRICTED_INTRO = ("The full warehouse (`--warehouse`): restricted, since record keys can embed ID numbers and the "
                    "raw and staged layers hold names, ID numbers and phones. Comments mark what analysts do not get.")


def sections(analyst: Path | None, restricted: Path | None) -> list[Section]:
    out = []
    if analyst is not None and analyst.exists():
        out.append(read_section(analyst, "Analyst database", ANALYST_INTRO))
    if restricted is not None and restricted.exists():
        out.append(read_section(restricted, "Restricted warehouse", RESTRICTED_INTRO))
    return out


def main(argv: list[str] | None = None) -> int:
    from privacy.analyst import analyst_path

    p = argparse.ArgumentParser(prog="python -m catalog.dictionary", description=__doc__.splitlines()[0])
    p.add_argument("--warehouse", required=True, help="the published (restricted) warehouse")
    p.add_argument("--analyst", default="", help="its analyst database (default: beside the warehouse)")
    args = p.parse_args(argv)
    warehouse = Path(args.warehouse)
    if not warehouse.exists():
        print(f"dictionary: warehouse '{warehouse}' does not exist", file=sys.stderr)
        return 2
    sys.stdout.write(markdown(sections(analyst_path(warehouse, args.analyst), warehouse)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
