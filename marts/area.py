"""Where a household lives: county, township and village, each as code and name, and urban or rural.

Only civil affairs and housing deliver a 行政区划代码; everyone else gives an address.
Codes and names are therefore tied together by a small gazetteer learned from the
records that carry both (a code and an address naming the same place), and a
household's area is the place its members' records give most often. Only addresses
where people live count (an employment 户籍 address is where they are registered).
Without any code or name, the county is the one that issued the members' verified ID
numbers, when that is one of the counties seen in the data (an in-migrant's ID names
their home county, far away).

Urban or rural follows the statistical division code (GB/T 10114: a village-level
code 001-199 is a 居委会/社区, 200-399 a 村委会; a township 0xx is a 街道), else the
name's suffix (…社区 / …村, …街道 / …镇 …乡).
"""

from __future__ import annotations

import polars as pl

from quality.frames import ENGINE, most_frequent, most_frequent_known
from quality.records import TRUSTED_ID

#: A county-level name at the start of an address or after the province/city.
_COUNTY_NAME = r"(?:^|省|市)([^省市区县镇乡村]{1,4}?(?:区|县))"

AREA_SCHEMA: dict[str, pl.DataType] = {
    "household_id": pl.String(), "county_code": pl.String(), "county_name": pl.String(),
    "township_code": pl.String(), "township_name": pl.String(), "village_code": pl.String(),
    "village_name": pl.String(), "urban_rural": pl.String(),
}


def _mode(frame: pl.LazyFrame, by: list[str], value: str, alias: str | None = None) -> pl.LazyFrame:
    """The most frequent non-null `value` per `by` (ties: the smallest value)."""
    known = pl.col(value).is_not_null() & pl.all_horizontal(pl.col(b).is_not_null() for b in by)
    return most_frequent(frame.filter(known), by, value, alias or value)


def _places(records: pl.DataFrame) -> pl.LazyFrame:
    """Per record: codes as delivered and place names from the residence address."""
    lives = pl.col("lives_here").fill_null(False)
    return records.lazy().filter(pl.col("household_id").is_not_null()).select(
        "household_id",
        pl.col("admin_code_county").alias("c_code"), pl.col("admin_code_township").alias("t_code"),
        pl.col("admin_code_village").alias("v_code"),
        pl.when(lives).then(pl.col("address").str.extract(_COUNTY_NAME, 1)).alias("c_name"),
        pl.when(lives).then(pl.col("address_township")).alias("t_name"),
        pl.when(lives).then(pl.col("address_village")).alias("v_name"),
        pl.when(pl.col("id_number_status").is_in(TRUSTED_ID) & ~pl.col("_foreign_id").fill_null(False))
        .then(pl.col("id_number").str.slice(0, 6)).alias("id_county"),
    )


def _fill_codes(places: pl.LazyFrame) -> pl.LazyFrame:
    """Codes for records that only name the place, from records that give both (level by level)."""
    c_of = _mode(places, ["c_name"], "c_code", "_c")
    places = places.join(c_of, on="c_name", how="left").with_columns(pl.coalesce("c_code", "_c").alias("c_code"))
    t_of = _mode(places, ["c_code", "t_name"], "t_code", "_t")
    places = places.join(t_of, on=["c_code", "t_name"], how="left").with_columns(
        pl.coalesce("t_code", "_t").alias("t_code"))
    v_of = _mode(places, ["t_code", "v_name"], "v_code", "_v")
    return places.join(v_of, on=["t_code", "v_name"], how="left").with_columns(
        pl.coalesce("v_code", "_v").alias("v_code")).drop("_c", "_t", "_v")


def _urban_rural() -> pl.Expr:
    village = pl.col("village_code").str.slice(9, 3).cast(pl.Int32, strict=False)
    township = pl.col("township_code").str.slice(6, 3).cast(pl.Int32, strict=False)
    return (pl.when(village.is_not_null()).then(pl.when(village < 200).then(pl.lit("urban")).otherwise(pl.lit("rural")))
            .when(pl.col("village_name").str.ends_with("社区")).then(pl.lit("urban"))
            .when(pl.col("village_name").str.ends_with("村")).then(pl.lit("rural"))
            .when(township.is_not_null()).then(pl.when(township < 100).then(pl.lit("urban"))
                                               .otherwise(pl.lit("rural")))
            .when(pl.col("township_name").str.ends_with("街道")).then(pl.lit("urban"))
            .when(pl.col("township_name").str.contains("[镇乡]$")).then(pl.lit("rural")))


def household_areas(records: pl.DataFrame) -> pl.DataFrame:
    """One row per household in `records` (AREA_SCHEMA); unknown levels are null."""
    # One frame that every mode below reads: materialised once, each mode a lazy plan over it.
    places = _fill_codes(_places(records)).collect(engine=ENGINE).lazy()
    names = {"c": _mode(places, ["c_code"], "c_name"), "t": _mode(places, ["t_code"], "t_name"),
             "v": _mode(places, ["v_code"], "v_name")}
    local = places.select(pl.col("c_code").drop_nulls().unique())
    # Per household, in one pass: the codes and the names its members' records give most often.
    hh = most_frequent_known(places, "household_id", {"v_code": "village_code", "t_code": "_t", "c_code": "_c",
                                                      "c_name": "_cn", "t_name": "_tn", "v_name": "_vn"})
    by_id = _mode(places.join(local, left_on="id_county", right_on="c_code", how="semi"),
                  ["household_id"], "id_county", "_id")
    out = (hh.join(by_id, on="household_id", how="left")
           .with_columns(pl.coalesce(pl.col("village_code").str.slice(0, 9), "_t").alias("township_code"))
           .with_columns(pl.coalesce(pl.col("township_code").str.slice(0, 6), "_c", "_id").alias("county_code")))
    # Names: the gazetteer's name for the code, else the name the members' addresses give most often.
    for lvl, level in (("c", "county"), ("t", "township"), ("v", "village")):
        out = (out.join(names[lvl].rename({f"{lvl}_code": f"{level}_code", f"{lvl}_name": f"_{lvl}g"}),
                        on=f"{level}_code", how="left")
               .with_columns(pl.coalesce(f"_{lvl}g", f"_{lvl}n").alias(f"{level}_name")))
    return (out.with_columns(_urban_rural().alias("urban_rural")).select(list(AREA_SCHEMA)).cast(AREA_SCHEMA)
            .collect(engine=ENGINE))
