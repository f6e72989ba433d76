"""Find text shaped like an ID number or a phone: the guard on what leaves the restricted warehouse.

One set of patterns serves Python (logs, report files, tests) and DuckDB (the analyst
database, scanned in SQL before it is published). They use only syntax both `re` and
RE2 accept: no look-around, so a digit boundary is ``(^|[^0-9])`` … ``([^0-9]|$)``.

- ID numbers: GB 11643 shapes, 18 digits (area code, birth date 18xx–20xx, sequence,
  check digit or X) and pre-1999 15 digits (area code, yymmdd, sequence), not part of a
  longer run of digits; inside a record key such as ``G``+ID they are found too.
- Mobiles: 11 digits ``1[3-9]…``, with ``+86``/``86`` and spaces or dashes as delivered.
- Landlines: area code (010, 02x, 0[3-9]xx) and a 7–8 digit number starting 2–9.

Masked before matching, since they can look like an ID or a phone by chance: hex
tokens (hhlink's own person and household ids, ``P``/``H`` + 15 hex digits; digests of
32 hex digits or more; UUIDs such as run ids) and the digits after a decimal point (a
match weight printed as 0.123456789012345).
Full-width digits are folded (NFKC) first in Python; SQL sees stored text as it is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import duckdb

from ingest import db

_DATE8 = "(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
_DATE6 = "[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
PATTERNS: dict[str, str] = {
    "id_number_18": f"(^|[^0-9])[1-8][0-9]{{5}}{_DATE8}[0-9]{{3}}[0-9Xx]([^0-9]|$)",
    "id_number_15": f"(^|[^0-9])[1-8][0-9]{{5}}{_DATE6}[0-9]{{3}}([^0-9]|$)",
    "mobile": "(^|[^0-9])(\\+?86[ -]?)?1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}([^0-9]|$)",
    "landline": "(^|[^0-9])0(10|2[0-9]|[3-9][0-9]{2})[ -]?[2-9][0-9]{6,7}([^0-9]|$)",
}
_HEX = "[0-9A-Fa-f]"
#: Masked before matching: hex tokens (person/household ids of resolution.ids, digests, UUIDs), decimal fractions.
HEX_TOKENS = (f"(^|[^0-9A-Za-z])([PH][0-9A-F]{{15}}|{_HEX}{{32,}}|{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-"
              f"{_HEX}{{12}})([^0-9A-Za-z]|$)")
FRACTION = "([0-9])[.][0-9]+"
_COMPILED = {k: re.compile(p) for k, p in PATTERNS.items()}
_HEX_TOKENS, _FRACTION = re.compile(HEX_TOKENS), re.compile(FRACTION)


def _mask(text: str) -> str:
    # Twice: adjacent tokens share the separator between them, which one pass consumes.
    for _ in range(2):
        text = _HEX_TOKENS.sub(lambda m: f"{m.group(1)}~{m.group(3)}", text)
    return _FRACTION.sub(lambda m: f"{m.group(1)}.~", text)


def _sql_mask(expr: str) -> str:
    for _ in range(2):
        expr = f"regexp_replace({expr}, '{HEX_TOKENS}', '\\1~\\3', 'g')"
    return f"regexp_replace({expr}, '{FRACTION}', '\\1.~', 'g')"


def find(text: str) -> dict[str, int]:
    """How many ID-number and phone shapes each pattern finds in `text` (only the kinds found)."""
    text = _mask(unicodedata.normalize("NFKC", text))
    counts = {}
    for kind, rx in _COMPILED.items():
        # A match ends with the boundary after it, which may be the boundary before the next one.
        n, pos = 0, 0
        while (m := rx.search(text, pos)) is not None:
            n += 1
            pos = max(m.start(rx.groups), m.start() + 1)
        if n:
            counts[kind] = n
    return counts


@dataclass(frozen=True)
class Hit:
    table: str
    column: str
    kind: str
    rows: int

    def line(self) -> str:
        return f"{self.table}.{self.column}: {self.rows:,} value(s) shaped like {self.kind.replace('_', ' ')}"


_WIDE_INTEGERS = ("BIGINT", "HUGEINT", "UBIGINT", "UHUGEINT", "DECIMAL")


def _as_text(column: str, data_type: str) -> str | None:
    """SQL text of a column to scan, or None for types that cannot hold an ID or phone.

    Numbers are scanned only where they have the ten or more digits a phone or ID needs
    (narrower integer types never do), doubles only where whole: a fraction's digits print
    in ways that look like anything, while a number stored as a double would be whole.
    """
    q = db.quote(column)
    if data_type == "VARCHAR" or data_type.endswith("[]") or data_type.startswith(("STRUCT", "MAP")):
        return f"{q}::VARCHAR"
    if data_type.startswith(_WIDE_INTEGERS):
        return f"CASE WHEN abs({q}) >= 1000000000 THEN {q}::VARCHAR END"
    if data_type in ("DOUBLE", "FLOAT"):
        return f"CASE WHEN abs({q}) >= 1e9 AND abs({q}) < 1e19 AND {q} = floor({q}) THEN {q}::HUGEINT::VARCHAR END"
    return None


def _count_sql(exprs: list[str], src: str) -> str:
    return f"SELECT {', '.join(exprs)} FROM {src}"


def scan_database(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[Hit]:
    """Every column of every table (and view) of a database holding ID-number or phone shapes, with counts.

    One pass per table finds the columns with any shape: one combined pattern on the text as
    it is (RE2 is fast), and on the few values that match, the masking and the pattern again
    (masking only removes matches); a second pass over those columns alone counts each kind.
    """
    where = "table_catalog = current_database()" if catalog is None else f"table_catalog = '{catalog}'"
    cols = con.execute(
        f"SELECT table_catalog, table_schema, table_name, column_name, data_type FROM information_schema.columns "
        f"WHERE {where} AND table_schema NOT IN ('information_schema', 'pg_catalog') "
        "ORDER BY table_schema, table_name, ordinal_position").fetchall()
    by_table: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for cat, schema, table, column, dtype in cols:
        by_table.setdefault((cat, schema, table), []).append((column, dtype))
    combined = "|".join(f"({p})" for p in PATTERNS.values())
    hits = []
    for (cat, schema, table), columns in by_table.items():
        texts = {column: text for column, dtype in columns if (text := _as_text(column, dtype)) is not None}
        if not texts:
            continue
        src = ".".join(db.quote(p) for p in (cat, schema, table))

        def hits_of(text: str, pattern: str) -> str:
            # CASE, not AND: the masking runs only on values the pattern already matches.
            return (f"count(*) FILTER (WHERE CASE WHEN regexp_matches({text}, '{combined}') "
                    f"THEN regexp_matches({_sql_mask(text)}, '{pattern}') ELSE false END)")

        first = con.execute(_count_sql([hits_of(t, combined) for t in texts.values()], src)).fetchall()[0]
        flagged = [c for c, n in zip(texts, first, strict=True) if n]
        if not flagged:
            continue
        pairs = [(c, kind) for c in flagged for kind in PATTERNS]
        counts = con.execute(_count_sql([hits_of(texts[c], PATTERNS[kind]) for c, kind in pairs], src)).fetchall()[0]
        name = f"{schema}.{table}" if schema != "main" else table
        hits.extend(Hit(name, column, kind, int(n)) for (column, kind), n in zip(pairs, counts, strict=True) if n)
    return hits
