"""Households from the evidence departments give, strongest rule first.

Rules are applied in priority order and a person is placed once, by the first rule
that places them: connected components over all evidence would let one person in two
assisted households (a `duplicate_assistance` finding) or one shared village-group
address fuse unrelated families. In order:

1. ``civil_affairs``: the 户编号 of the person's civil-affairs record (a person on two
   households' rolls is placed by their newest verified record, then smallest number);
2. ``guardian``: a student joins the household of the guardian named on the education
   record (by the guardian's trusted ID, else guardian name + phone);
3. ``address_phone`` / ``housing``: people sharing both a full address and a phone
   (registered 户籍 addresses excluded, as they are not where people live; a rural
   address that stops at the village group needs the phone as well, which it does);
   ``housing`` when the shared address is a dwelling's 房屋坐落;
4. ``single``: a household of one.
"""

from __future__ import annotations

import duckdb
import polars as pl

from ingest import db


def _source_exists(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    return db.table_exists(con, f"staged.current_{source}")


def household_evidence(wh: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """The source-specific fields households need, read from the warehouse's current views."""
    out: dict[str, pl.DataFrame] = {}
    if _source_exists(wh, "civil_affairs"):
        out["civil"] = wh.sql("""
            SELECT 'civil_affairs:' || record_id AS unique_id, household_no, relation, verified_on
            FROM staged.current_civil_affairs WHERE household_no IS NOT NULL""").pl()
    if _source_exists(wh, "education"):
        out["guardian"] = wh.sql("""
            SELECT 'education:' || record_id AS unique_id, guardian_name, guardian_id_number,
                   guardian_id_number_status AS guardian_id_status, guardian_phone
            FROM staged.current_education
            WHERE guardian_name IS NOT NULL OR guardian_id_number IS NOT NULL""").pl()
    return out


def build_households(con: duckdb.DuckDBPyConnection, evidence: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """(person_key, unit, rule) for every person, on the linkage connection.

    Needs ``hh_input`` (the linkage input) and ``hh_person`` (unique_id, person_key) on
    ``con``. A unit is a string key; stable household ids are given later (ids.py).
    """
    for name in ("civil", "guardian"):
        frame = evidence.get(name)
        if frame is None:
            frame = (pl.DataFrame(schema={"unique_id": pl.String(), "household_no": pl.String(),
                                          "relation": pl.String(), "verified_on": pl.Date()})
                     if name == "civil" else
                     pl.DataFrame(schema={"unique_id": pl.String(), "guardian_name": pl.String(),
                                          "guardian_id_number": pl.String(), "guardian_id_status": pl.String(),
                                          "guardian_phone": pl.String()}))
        con.register(f"_hh_{name}", frame.to_arrow())
        con.execute(f"CREATE OR REPLACE TABLE hh_ev_{name} AS SELECT * FROM _hh_{name}")
        con.unregister(f"_hh_{name}")

    con.execute("""
        CREATE OR REPLACE TABLE hh_place_civil AS
        SELECT person_key, 'CA:' || household_no AS unit, 'civil_affairs' AS rule
        FROM (SELECT p.person_key, c.household_no,
                     row_number() OVER (PARTITION BY p.person_key
                                        ORDER BY c.verified_on DESC NULLS LAST, c.household_no) AS k
              FROM hh_ev_civil c JOIN hh_person p USING (unique_id))
        WHERE k = 1""")
    # Guardian → person: by trusted ID first, else by name and phone.
    con.execute("""
        CREATE OR REPLACE TABLE hh_guardian_of AS
        WITH by_id AS (
            SELECT g.unique_id, min(p.person_key) AS guardian
            FROM hh_ev_guardian g
            JOIN hh_input i ON i.id = g.guardian_id_number AND g.guardian_id_status IN ('valid', 'upgraded_15')
            JOIN hh_person p ON p.unique_id = i.unique_id
            GROUP BY g.unique_id),
        by_name AS (
            SELECT g.unique_id, min(p.person_key) AS guardian
            FROM hh_ev_guardian g
            JOIN hh_input i ON i.name = g.guardian_name AND i.phone = g.guardian_phone
            JOIN hh_person p ON p.unique_id = i.unique_id
            WHERE g.unique_id NOT IN (SELECT unique_id FROM by_id)
            GROUP BY g.unique_id)
        SELECT c.person_key AS child, min(b.guardian) AS guardian
        FROM (SELECT * FROM by_id UNION ALL SELECT * FROM by_name) b
        JOIN hh_person c USING (unique_id)
        WHERE c.person_key <> b.guardian
        GROUP BY c.person_key""")
    # Shared full address + phone among non-registered addresses.
    con.execute("""
        CREATE OR REPLACE TABLE hh_addr_phone AS
        SELECT DISTINCT p.person_key, i.address || '|' || i.phone AS key,
               bool_or(i.source_dataset = 'housing') OVER (PARTITION BY i.address, i.phone) AS housing
        FROM hh_input i JOIN hh_person p USING (unique_id)
        WHERE i.address IS NOT NULL AND i.phone IS NOT NULL AND NOT i.address_registered""")

    persons = con.sql("SELECT DISTINCT person_key FROM hh_person ORDER BY 1").pl()["person_key"].to_list()
    placed: dict[str, tuple[str, str]] = {}
    for pk, unit, rule in con.sql("SELECT * FROM hh_place_civil").fetchall():
        placed[pk] = (unit, rule)

    # Guardian links: a child joins the guardian's unit; unplaced guardians form one.
    guardian_rows = con.sql("SELECT child, guardian FROM hh_guardian_of ORDER BY child").fetchall()
    for child, guardian in guardian_rows:
        if child in placed:
            continue
        if guardian not in placed:
            placed[guardian] = ("G:" + guardian, "guardian")
        placed[child] = (placed[guardian][0], "guardian")

    # Address + phone groups (union-find among the still-unplaced, attached to a placed member's unit).
    groups = con.sql("""
        SELECT key, list(person_key ORDER BY person_key) AS members, bool_or(housing) AS housing
        FROM hh_addr_phone GROUP BY key HAVING count(*) > 1 ORDER BY key""").fetchall()
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    via_housing: set[str] = set()
    for _key, members, housing in groups:
        units = sorted({placed[m][0] for m in members if m in placed})
        free = [m for m in members if m not in placed]
        if not free:
            continue
        anchor = f"U:{units[0]}" if len(units) >= 1 else None
        roots = [find(m) for m in free] + ([find(anchor)] if anchor else [])
        top = min(roots, key=lambda r: (not r.startswith("U:"), r))
        for r in roots:
            parent[r] = top
        if housing:
            via_housing.update(free)
    comp: dict[str, list[str]] = {}
    for m in list(parent):
        if not m.startswith("U:"):
            comp.setdefault(find(m), []).append(m)
    for root, members in comp.items():
        unit = root[2:] if root.startswith("U:") else "A:" + min(members)
        for m in members:
            if len(members) > 1 or root.startswith("U:"):
                placed[m] = (unit, "housing" if m in via_housing else "address_phone")

    rows = [(pk, *placed.get(pk, ("S:" + pk, "single"))) for pk in persons]
    return pl.DataFrame(rows, schema={"person_key": pl.String(), "unit": pl.String(), "rule": pl.String()},
                        orient="row")
