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
import numpy as np
import polars as pl

from ingest import db
from ingest.normalise.ids import VERIFIED
from resolution.components import component_labels, smallest_member

#: A phone shared by more people than this is no household's number.
MAX_PHONE_SHARERS = 10

#: The linkage-input columns `build_households` reads (besides ``unique_id``): a caller may pass only these.
HOUSEHOLD_INPUT = ("source_dataset", "id", "name", "phone", "address_key", "address_dwelling", "address_registered")


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

    Needs ``hh_input`` (the linkage input, or just its `HOUSEHOLD_INPUT` columns) and
    ``hh_person`` (unique_id, person_key) on ``con``. A unit is a string key; stable
    household ids are given later (ids.py).
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
    # Each record's person and the fields household evidence reads, joined once for all the rules below.
    con.execute(f"""
        CREATE OR REPLACE TABLE hh_person_fields AS
        SELECT p.person_key, {', '.join(f'i.{c}' for c in HOUSEHOLD_INPUT)}
        FROM hh_input i JOIN hh_person p USING (unique_id)""")
    con.execute(f"""
        CREATE OR REPLACE TABLE hh_edges_all AS
        WITH guardian_by_id AS (
            SELECT g.unique_id, min(f.person_key) AS guardian
            FROM hh_ev_guardian g
            JOIN hh_person_fields f ON f.id = g.guardian_id_number AND g.guardian_id_status IN {VERIFIED}
            GROUP BY g.unique_id),
        guardian_by_name AS (
            SELECT g.unique_id, min(f.person_key) AS guardian
            FROM hh_ev_guardian g
            JOIN hh_person_fields f ON f.name = g.guardian_name AND f.phone = g.guardian_phone
            WHERE g.unique_id NOT IN (SELECT unique_id FROM guardian_by_id)
            GROUP BY g.unique_id),
        guardian AS (
            SELECT DISTINCT c.person_key AS a, b.guardian AS b, 1 AS prio, 'guardian' AS rule
            FROM (SELECT * FROM guardian_by_id UNION ALL SELECT * FROM guardian_by_name) b
            JOIN hh_person c USING (unique_id)
            WHERE c.person_key <> b.guardian),
        addr AS (
            SELECT person_key, address_key, bool_or(address_dwelling) AS address_dwelling,
                   count(*) AS n, min(CASE source_dataset WHEN 'civil_affairs' THEN 0 WHEN 'health' THEN 1
                                       WHEN 'education' THEN 2 WHEN 'housing' THEN 3 ELSE 4 END) AS pr,
                   bool_or(source_dataset = 'housing') AS housing
            FROM hh_person_fields
            WHERE address_key IS NOT NULL AND NOT address_registered
            GROUP BY person_key, address_key),
        residence AS (
            SELECT person_key, address_key, address_dwelling FROM addr
            QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY n DESC, pr, address_key) = 1),
        at_housing AS (SELECT address_key, bool_or(housing) AS housing FROM addr GROUP BY 1),
        dwelling AS (  -- one row per resident: no duplicates
            SELECT r.person_key AS a, min(r.person_key) OVER (PARTITION BY r.address_key) AS b, 2 AS prio,
                   CASE WHEN h.housing THEN 'housing' ELSE 'address' END AS rule
            FROM residence r JOIN at_housing h USING (address_key)
            WHERE r.address_dwelling),
        phones AS (
            SELECT DISTINCT phone, person_key FROM hh_person_fields
            WHERE phone IS NOT NULL AND phone NOT IN (SELECT phone FROM hh_shared_phones)),
        phone AS (  -- a person with two phones that the same people share would come twice
            SELECT DISTINCT person_key AS a, min(person_key) OVER (PARTITION BY phone) AS b, 3 AS prio,
                   'phone' AS rule
            FROM phones
            QUALIFY count(*) OVER (PARTITION BY phone) BETWEEN 2 AND {MAX_PHONE_SHARERS})
        SELECT * FROM guardian
        UNION ALL SELECT * FROM dwelling WHERE a <> b
        UNION ALL SELECT * FROM phone WHERE a <> b""")
    con.execute("DROP TABLE hh_person_fields")

    persons = con.sql("SELECT DISTINCT person_key FROM hh_person ORDER BY 1").pl()
    civil = con.sql("SELECT person_key, unit FROM hh_place_civil").pl()
    edges = con.sql("SELECT a, b, rule FROM hh_edges_all ORDER BY prio, a, b").pl()
    return place(persons, civil, edges)


def place(persons: pl.DataFrame, civil: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """(person_key, unit, rule) from sorted ``persons``, their civil units and the edges in priority order.

    The households are what adding the edges one by one in this order gives, refusing an
    edge that would put two civil-affairs households together (`_merge_in_order`). Only a
    connected component of the edges that holds two or more civil units can have an edge
    refused: every other component is one household as it is, and connected components
    over integer person indexes (`components.component_labels`) cost a fraction of the
    edge-by-edge merge (at 1M persons few components hold two units). A household's
    ``A:`` unit is its smallest person key, the root the edge-by-edge merge keeps.
    """
    people = persons.select("person_key").with_row_index("i")  # keys sorted: smaller index, smaller key
    index = people.select(pl.col("person_key").alias("key"), pl.col("i").alias("at"))
    e = (edges.select("a", "b", "rule").with_row_index("order")
         .join(index.rename({"key": "a", "at": "ia"}), on="a", maintain_order="left")
         .join(index.rename({"key": "b", "at": "ib"}), on="b", maintain_order="left"))
    placed = people.join(civil.select("person_key", "unit", pl.lit(True).alias("civil")), on="person_key",
                         how="left", maintain_order="left")
    own_unit = placed["unit"]
    ia, ib = e["ia"].to_numpy(), e["ib"].to_numpy()
    comp = component_labels(people.height, ia, ib)
    root = smallest_member(comp)  # a component holding at most one civil unit is one household
    nodes = pl.DataFrame({"comp": comp, "unit": own_unit}).with_row_index("i")
    contested = (nodes.group_by("comp").agg(pl.col("unit").drop_nulls().n_unique().alias("units"))
                 .filter(pl.col("units") >= 2)["comp"].to_numpy())
    if contested.size:
        fought = np.isin(comp[ia], contested)
        units = dict(nodes.filter(pl.col("unit").is_not_null() & pl.col("comp").is_in(contested.tolist()))
                     .select("i", "unit").iter_rows())
        merged = _merge_in_order(ia[fought].tolist(), ib[fought].tolist(), units)
        root[list(merged)] = list(merged.values())
    # A member's rule: the first edge (in priority order) inside their household that touches them.
    inside = e.filter(pl.Series(root[ia] == root[ib]))
    rule_of = (pl.concat([inside.select(pl.col("ia").alias("i"), "rule", "order"),
                          inside.select(pl.col("ib").alias("i"), "rule", "order")])
               .group_by("i").agg(pl.col("rule").sort_by("order").first().alias("edge_rule")))
    out = (nodes.with_columns(pl.Series("root", root), people["person_key"], placed["civil"].fill_null(False),
                              people["person_key"].gather(root).alias("root_key"))
           .with_columns(pl.col("unit").max().over("root").alias("set_unit"))  # at most one civil unit each
           .join(rule_of, on="i", how="left", maintain_order="left")
           .with_columns(pl.when(pl.col("civil")).then(pl.lit("civil_affairs"))
                         .otherwise(pl.col("edge_rule").fill_null("single")).alias("rule")))
    return out.select(
        "person_key",
        pl.coalesce("set_unit", pl.when(pl.col("rule") != "single").then("A:" + pl.col("root_key"))
                    .otherwise("S:" + pl.col("person_key"))).alias("unit"),
        "rule")


def _merge_in_order(a: list[int], b: list[int], units: dict[int, str]) -> dict[int, int]:
    """Each person's root after adding the edges (a[k], b[k]) in order, two civil units never joined.

    ``units``: the civil unit of each person that has one. A set's root is its smallest index.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for x, y in zip(a, b, strict=True):
        rx, ry = find(x), find(y)
        if rx == ry:
            continue
        ux, uy = units.get(rx), units.get(ry)
        if ux is not None and uy is not None and ux != uy:
            continue  # two civil-affairs households stay two
        root, child = (rx, ry) if rx < ry else (ry, rx)
        parent[child] = root
        if ux or uy:
            units[root] = ux or uy
    return {x: find(x) for x in set(a) | set(b)}
