"""Households from the evidence departments give, each member placed by one rule.

Evidence, strongest first:

1. ``civil_affairs``: the 户编号 of the person's civil-affairs record (a person on two
   households' rolls is placed by their newest verified record, then smallest number);
2. ``guardian``: a student and the guardian named on the education record (by the
   guardian's trusted ID, else guardian name + phone);
3. ``housing`` / ``address``: people whose residence is the same *dwelling* (an address
   with a house number or a room, from the township on). A person's residence is the
   address most of their non-registered records give (ties: civil affairs, health,
   education, housing), so a second 房屋坐落 of an owner does not move them, and a 户籍
   address (employment) never counts. ``housing`` when a housing record is at it. A rural
   address that stops at the village group (…村3组) is shared by dozens of households and
   is not used;
4. ``phone``: people sharing a phone number (a household's contact number, a child's
   guardian's number), when at most `MAX_PHONE_SHARERS` people share it (a village
   official's number on many records is no household);
5. ``single``: a household of one.

Households are the connected components of this evidence, with one constraint: two
civil-affairs households are never merged (one person on two rolls, a
``duplicate_assistance`` finding, must not fuse the families). Edges are added in the
order above, so when the constraint refuses one, the stronger evidence has already won.
Each member's ``rule`` is the strongest evidence tying them to another member.
"""

from __future__ import annotations

import duckdb
import polars as pl

from ingest import db
from ingest.normalise.ids import VERIFIED

#: A phone shared by more people than this is no household's number.
MAX_PHONE_SHARERS = 10


def _source_exists(con: duckdb.DuckDBPyConnection, source: str) -> bool:
    return db.table_exists(con, f"staged.current_{source}")


#: The source-specific fields households need: evidence name → (source, SELECT over its current view).
EVIDENCE_SQL = {
    "civil": ("civil_affairs", """
        SELECT 'civil_affairs:' || record_id AS unique_id, household_no, relation, verified_on
        FROM {view} WHERE household_no IS NOT NULL"""),
    "guardian": ("education", """
        SELECT 'education:' || record_id AS unique_id, guardian_name, guardian_id_number,
               guardian_id_number_status AS guardian_id_status, guardian_phone
        FROM {view} WHERE guardian_name IS NOT NULL OR guardian_id_number IS NOT NULL"""),
}


def evidence_queries(wh: duckdb.DuckDBPyConnection, catalog: str = "") -> dict[str, str]:
    """The evidence SELECTs for the sources that have a current view (tables named through ``catalog`` if given)."""
    prefix = f'"{catalog}".' if catalog else ""
    return {name: sql.format(view=f"{prefix}staged.current_{source}") for name, (source, sql) in EVIDENCE_SQL.items()
            if _source_exists(wh, source)}


def household_evidence(wh: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """The source-specific fields households need, read from the warehouse's current views."""
    return {name: wh.sql(sql).pl() for name, sql in evidence_queries(wh).items()}


def build_households(con: duckdb.DuckDBPyConnection, evidence: dict[str, pl.DataFrame],
                     shared_phones: list[str] | None = None) -> pl.DataFrame:
    """(person_key, unit, rule) for every person, on the linkage connection.

    Needs ``hh_input`` (the linkage input) and ``hh_person`` (unique_id, person_key) on
    ``con``. A unit is a string key; stable household ids are given later (ids.py).
    ``shared_phones``: phones more than `MAX_PHONE_SHARERS` people share in the whole
    input, for a caller that passes only part of it (incremental linkage): they are no
    household's number even if fewer of their sharers are in ``hh_input``.
    """
    con.register("_hh_shared", pl.DataFrame({"phone": shared_phones or []}, schema={"phone": pl.String()}).to_arrow())
    con.execute("CREATE OR REPLACE TABLE hh_shared_phones AS SELECT * FROM _hh_shared")
    con.unregister("_hh_shared")
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
        SELECT person_key, 'CA:' || household_no AS unit
        FROM (SELECT p.person_key, c.household_no,
                     row_number() OVER (PARTITION BY p.person_key
                                        ORDER BY c.verified_on DESC NULLS LAST, c.household_no) AS k
              FROM hh_ev_civil c JOIN hh_person p USING (unique_id))
        WHERE k = 1""")
    con.execute(f"""
        CREATE OR REPLACE TABLE hh_edges_all AS
        WITH guardian_by_id AS (
            SELECT g.unique_id, min(p.person_key) AS guardian
            FROM hh_ev_guardian g
            JOIN hh_input i ON i.id = g.guardian_id_number AND g.guardian_id_status IN {VERIFIED}
            JOIN hh_person p ON p.unique_id = i.unique_id
            GROUP BY g.unique_id),
        guardian_by_name AS (
            SELECT g.unique_id, min(p.person_key) AS guardian
            FROM hh_ev_guardian g
            JOIN hh_input i ON i.name = g.guardian_name AND i.phone = g.guardian_phone
            JOIN hh_person p ON p.unique_id = i.unique_id
            WHERE g.unique_id NOT IN (SELECT unique_id FROM guardian_by_id)
            GROUP BY g.unique_id),
        guardian AS (
            SELECT DISTINCT c.person_key AS a, b.guardian AS b, 1 AS prio, 'guardian' AS rule
            FROM (SELECT * FROM guardian_by_id UNION ALL SELECT * FROM guardian_by_name) b
            JOIN hh_person c USING (unique_id)
            WHERE c.person_key <> b.guardian),
        addr AS (
            SELECT p.person_key, i.address_key, bool_or(i.address_dwelling) AS address_dwelling,
                   count(*) AS n, min(CASE i.source_dataset WHEN 'civil_affairs' THEN 0 WHEN 'health' THEN 1
                                       WHEN 'education' THEN 2 WHEN 'housing' THEN 3 ELSE 4 END) AS pr,
                   bool_or(i.source_dataset = 'housing') AS housing
            FROM hh_input i JOIN hh_person p USING (unique_id)
            WHERE i.address_key IS NOT NULL AND NOT i.address_registered
            GROUP BY p.person_key, i.address_key),
        residence AS (
            SELECT person_key, address_key, address_dwelling FROM addr
            QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY n DESC, pr, address_key) = 1),
        at_housing AS (SELECT address_key, bool_or(housing) AS housing FROM addr GROUP BY 1),
        dwelling AS (
            SELECT r.person_key AS a, min(r.person_key) OVER (PARTITION BY r.address_key) AS b, 2 AS prio,
                   CASE WHEN h.housing THEN 'housing' ELSE 'address' END AS rule
            FROM residence r JOIN at_housing h USING (address_key)
            WHERE r.address_dwelling),
        phones AS (
            SELECT DISTINCT i.phone, p.person_key FROM hh_input i JOIN hh_person p USING (unique_id)
            WHERE i.phone IS NOT NULL AND i.phone NOT IN (SELECT phone FROM hh_shared_phones)),
        phone AS (
            SELECT person_key AS a, min(person_key) OVER (PARTITION BY phone) AS b, 3 AS prio, 'phone' AS rule
            FROM phones
            QUALIFY count(*) OVER (PARTITION BY phone) BETWEEN 2 AND {MAX_PHONE_SHARERS})
        SELECT DISTINCT a, b, prio, rule FROM (
            SELECT * FROM guardian UNION ALL SELECT * FROM dwelling UNION ALL SELECT * FROM phone)
        WHERE a <> b""")

    persons = con.sql("SELECT DISTINCT person_key FROM hh_person ORDER BY 1").pl()["person_key"].to_list()
    civil = dict(con.sql("SELECT person_key, unit FROM hh_place_civil").fetchall())
    parent: dict[str, str] = {p: p for p in persons}
    units: dict[str, str | None] = {p: civil.get(p) for p in persons}  # civil unit held by each root

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges = con.sql("SELECT a, b, rule FROM hh_edges_all ORDER BY prio, a, b").fetchall()
    for a, b, _rule in edges:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ua, ub = units[ra], units[rb]
        if ua is not None and ub is not None and ua != ub:
            continue  # two civil-affairs households stay two
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        units[root] = ua or ub
    rule_of: dict[str, str] = {}
    for a, b, rule in edges:  # priority order: the strongest evidence inside the household wins
        if find(a) == find(b):
            rule_of.setdefault(a, rule)
            rule_of.setdefault(b, rule)
    rows = []
    for pk in persons:
        root = find(pk)
        rule = "civil_affairs" if pk in civil else rule_of.get(pk, "single")
        unit = units[root] or (("A:" + root) if rule != "single" else "S:" + pk)
        rows.append((pk, unit, rule))
    return pl.DataFrame(rows, schema={"person_key": pl.String(), "unit": pl.String(), "rule": pl.String()},
                        orient="row")
