"""The linkage input: every current staged record as one row with the same columns.

Splink needs identical columns on every input table, and the comparisons need a few
derived values the staged layer does not carry. Two derivations carry the traps:

* An ID number is *trusted* only when the birth date it encodes agrees with the
  stated birth date (where both exist). A guardian's ID typed into a child's field is
  a valid ID of another person: trusting it would merge the child into the guardian.
  A typo in one part of the stated date should not cost the ID, so an ID is dropped
  only when two or more of year/month/day disagree, or the years are 12+ apart (a
  parent's generation). The untrusted value stays in ``id_given`` for explanations.
* Place: only civil affairs and housing deliver a 行政区划代码; everyone else has a
  free-text address. Township and village *names* are the common ground, so codes are
  translated to the names that records carrying both most often spell with them.
* The county is the admin code's only: an ID's region is where the person was first
  registered (a migrant's home province, a married-in wife's home county), not where
  they live, and the ID comparison already uses it.
* ``address_key`` is the address from the township on (departments drop the province
  and city at will, and write 栋 for 号楼), so one dwelling gives one key.
  ``address_dwelling`` says whether it names a dwelling (a house number or a room):
  a rural address that stops at the village group (…村3组) is shared by dozens of
  households and is no evidence of one household.
* A record key that embeds the person's ID (a 学籍号 is ``G`` + the student's ID) names
  the record's person even where the ID column is blank or holds a guardian's ID: its
  verified ID is the record's ID, and the column's value stays in ``id_given``.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from ingest import db
from ingest.normalise.ids import VERIFIED
from ingest.sources import SourceConfig, load_sources

#: Columns of the linkage input, in order (what Splink sees; all sources identical).
INPUT_COLUMNS = (
    "unique_id", "source_dataset", "record_id", "name", "name_pinyin", "name_kind", "surname_py",
    "given_py", "id", "id_status", "id_head", "id_given", "id_trusted", "dob", "dob_year", "sex",
    "phone", "county", "town", "village", "vgroup", "address", "address_key", "address_dwelling",
    "address_registered",
)

_TRUSTED_STATUS = ("valid", "upgraded_15", "bad_check")


def current_views(con: duckdb.DuckDBPyConnection, sources: dict[str, SourceConfig] | None = None) -> list[str]:
    """Sources whose current snapshot view exists, in config order."""
    sources = sources or load_sources()
    return [s for s in sources if db.table_exists(con, f"staged.current_{s}")]


def _id_columns(key_id: bool) -> str:
    """The record's ID: the one its key embeds when that is verified (see `SourceConfig.key_id_pattern`)."""
    if not key_id:
        return ("id_number, id_number_status, id_number_birth_date, id_number_sex, id_number AS id_field, "
                "FALSE AS id_from_key")
    use = f"coalesce(key_id_number_status IN {VERIFIED}, FALSE)"
    return ", ".join(f"CASE WHEN {use} THEN key_{c} ELSE {c} END AS {c}"
                     for c in ("id_number", "id_number_status", "id_number_birth_date", "id_number_sex")
                     ) + f", id_number AS id_field, {use} AS id_from_key"


def _one_source_sql(source: str, registered: bool, key_id: bool = False) -> str:
    return f"""
        SELECT '{source}' AS source_dataset, record_id, name, name_pinyin, name_kind,
               {_id_columns(key_id)},
               sex AS sex_stated, birth_date, phone, address, address_township, address_village,
               address_group, admin_code_county, admin_code_township, admin_code_village,
               {str(registered).upper()} AS address_registered
        FROM staged.current_{source}"""


def prepare_sql(sources: list[str], registered: dict[str, bool], key_id: dict[str, bool] | None = None) -> str:
    """One SELECT producing the linkage input from the current staged views."""
    key_id = key_id or {}
    union = " UNION ALL ".join(_one_source_sql(s, registered.get(s, False), key_id.get(s, False)) for s in sources)
    return f"""
    WITH base AS ({union}),
    -- code -> the name most often written with it (ties: alphabetical, for determinism)
    town_names AS (
        SELECT admin_code_township AS code, arg_max(address_township, n ORDER BY n, address_township) AS nm
        FROM (SELECT admin_code_township, address_township, count(*) AS n FROM base
              WHERE admin_code_township IS NOT NULL AND address_township IS NOT NULL GROUP BY ALL)
        GROUP BY 1),
    village_names AS (
        SELECT admin_code_village AS code, arg_max(address_village, n ORDER BY n, address_village) AS nm
        FROM (SELECT admin_code_village, address_village, count(*) AS n FROM base
              WHERE admin_code_village IS NOT NULL AND address_village IS NOT NULL GROUP BY ALL)
        GROUP BY 1),
    judged AS (
        SELECT b.*,
            CASE WHEN id_from_key THEN TRUE  -- the key was issued from the person's own ID
                 WHEN id_number IS NULL OR id_number_status NOT IN {_TRUSTED_STATUS} THEN FALSE
                 WHEN birth_date IS NULL OR id_number_birth_date IS NULL THEN TRUE
                 WHEN abs(year(birth_date) - year(id_number_birth_date)) >= 12 THEN FALSE
                 WHEN (year(birth_date) <> year(id_number_birth_date))::INT
                    + (month(birth_date) <> month(id_number_birth_date))::INT
                    + (day(birth_date) <> day(id_number_birth_date))::INT >= 2 THEN FALSE
                 ELSE TRUE END AS id_trusted,
            coalesce(b.address_township, t.nm) AS town_name,
            coalesce(b.address_village, v.nm) AS village_name
        FROM base b
        LEFT JOIN town_names t ON t.code = b.admin_code_township
        LEFT JOIN village_names v ON v.code = b.admin_code_village)
    SELECT
        source_dataset || ':' || record_id AS unique_id,
        source_dataset, record_id, name, name_pinyin, name_kind,
        nullif(split_part(name_pinyin, ' ', 1), '') AS surname_py,
        nullif(trim(substr(name_pinyin, length(split_part(name_pinyin, ' ', 1)) + 1)), '') AS given_py,
        CASE WHEN id_trusted THEN id_number END AS id,
        id_number_status AS id_status,
        CASE WHEN id_trusted THEN substr(id_number, 1, 14)
             WHEN id_number_status = 'excel_damaged' AND id_number_birth_date IS NOT NULL
                  AND (birth_date IS NULL OR birth_date = id_number_birth_date)
             THEN substr(id_number, 1, 14) END AS id_head,
        id_field AS id_given, id_trusted,
        coalesce(birth_date, CASE WHEN id_trusted THEN id_number_birth_date END) AS dob,
        year(coalesce(birth_date, CASE WHEN id_trusted THEN id_number_birth_date END)) AS dob_year,
        coalesce(sex_stated, CASE WHEN id_trusted THEN id_number_sex END) AS sex,
        phone,
        admin_code_county AS county,
        town_name AS town,
        CASE WHEN village_name IS NOT NULL THEN coalesce(town_name, '') || '/' || village_name END AS village,
        CASE WHEN address_group IS NOT NULL AND village_name IS NOT NULL
             THEN coalesce(town_name, '') || '/' || village_name || '/' || address_group END AS vgroup,
        address,
        replace(CASE WHEN town_name IS NOT NULL AND strpos(address, town_name) > 0
                     THEN substr(address, strpos(address, town_name))
                     WHEN village_name IS NOT NULL AND strpos(address, village_name) > 0
                     THEN substr(address, strpos(address, village_name))
                     ELSE address END, '栋', '号楼') AS address_key,
        coalesce(regexp_matches(address, '[0-9]+(号|室)$'), FALSE) AS address_dwelling,
        address_registered
    FROM judged
    ORDER BY unique_id"""


def prepare(con: duckdb.DuckDBPyConnection, sources: dict[str, SourceConfig] | None = None) -> pa.Table:
    """The linkage input as an Arrow table (one row per current record, sorted by unique_id)."""
    sources = sources or load_sources()
    names = current_views(con, sources)
    if not names:
        return empty_input()
    registered = {s: sources[s].address_is_registered for s in names}
    # a view staged before its config had a key_id_pattern has no key ID columns
    key_id = {s: "key_id_number" in db.columns(con, f"staged.current_{s}") for s in names}
    return con.sql(prepare_sql(names, registered, key_id)).to_arrow_table()


def empty_input() -> pa.Table:
    con = duckdb.connect()
    try:
        cols = ", ".join(f"NULL::{'BOOLEAN' if c in ('id_trusted', 'address_registered', 'address_dwelling') else 'DATE' if c == 'dob' else 'INT' if c == 'dob_year' else 'VARCHAR'} AS {c}"  # noqa: E501
                         for c in INPUT_COLUMNS)
        return con.sql(f"SELECT {cols} WHERE FALSE").to_arrow_table()
    finally:
        con.close()
