"""Per-table row checksums of a warehouse: how two runs are shown to give the same content.

A table's checksum is order-independent (row order in DuckDB is not part of the
content) but sensitive to every value and to repeated rows: the sum of DuckDB's
`hash()` of each whole row, with the row count. `hash()` is deterministic across
processes for one DuckDB version; compare checksums made by the same version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest import db


@dataclass(frozen=True)
class TableSum:
    table: str
    kind: str  # "table" or "view"
    rows: int
    checksum: str

    def line(self) -> str:
        return f"{self.table:<40} {self.kind:<5} {self.rows:>10,}  {self.checksum}"


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT table_schema, table_name, table_type FROM information_schema.tables "
        "WHERE table_catalog = current_database() ORDER BY 1, 2").fetchall()
    return [(f"{s}.{t}" if s != "main" else t, "view" if kind == "VIEW" else "table") for s, t, kind in rows]


def table_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, TableSum]:
    """Row count and content checksum of every table and view of the connected database."""
    out = {}
    for name, kind in _tables(con):
        schema, _, table = name.rpartition(".")
        q = f"{db.quote(schema)}.{db.quote(table)}" if schema else db.quote(table)
        n, total = con.execute(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {q} AS t").fetchall()[0]
        digest = hashlib.sha256(f"{n}:{total}".encode()).hexdigest()[:16]
        out[name] = TableSum(name, kind, int(n), digest)
    return out


def warehouse_checksums(path: str | Path) -> dict[str, TableSum]:
    """Checksums of a warehouse file, opened read-only (safe while a run is publishing)."""
    with db.connect(path, read_only=True) as con:
        return table_checksums(con)


def render(sums: dict[str, TableSum]) -> str:
    return "\n".join([f"{'table':<40} {'kind':<5} {'rows':>10}  checksum", *(s.line() for s in sums.values())])


#: Tables that gain a row each time linkage runs, by design (a run log, and the summary that counts it): a rerun
#: over unchanged deliveries changes only these. Two runs into fresh warehouses agree on every table.
RUN_LOG_TABLES = ("linked.resolution_runs", "audit.linkage_summary")


def differences(a: dict[str, TableSum], b: dict[str, TableSum], ignore: tuple[str, ...] = ()) -> list[str]:
    """Names of tables whose rows or checksum differ, or that exist on one side only."""
    names = sorted((set(a) | set(b)) - set(ignore))
    return [n for n in names if (a.get(n) and (a[n].rows, a[n].checksum)) != (b.get(n) and (b[n].rows, b[n].checksum))]
