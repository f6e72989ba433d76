"""The normalisers together: one select over a frame of text columns, names, nulls."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from ingest.normalise import NORMALISERS, Normalised, normalise
from ingest.sources import COLUMN_TYPES, load_sources

OUTPUTS = {
    "key": ["f"],
    "text": ["f"],
    "name": ["f", "f_pinyin", "f_kind"],
    "id_number": ["f", "f_status", "f_birth_date", "f_sex"],
    "sex": ["f"],
    "date": ["f"],
    "phone": ["f", "f_kind"],
    "address": ["f", "f_township", "f_village", "f_group"],
    "admin_code": ["f", "f_county", "f_township", "f_village"],
    "money": ["f"],
    "int": ["f"],
    "number": ["f"],
    "enum": ["f"],
}

ROWS = {
    "key": ["R1", "R2", None],
    "text": ["第１中学", " ", None],
    "name": ["張 三", "阿依古丽.买买提", None],
    "id_number": ["11010519491231002x", "130503670401001", None],
    "sex": ["女", "1", None],
    "date": ["2019年3月5日", "43529", None],
    "phone": ["+86 139-1234-5678", "(029)88886666", None],
    "address": ["长安区郭杜镇东祝村委会三组", "碑林区南街社区", None],
    "admin_code": ["610116001002", "610116", None],
    "money": ["1,234.50元", "￥80", None],
    "int": ["3次", "0", None],
    "number": ["85.5㎡", "120", None],
    "enum": ["在保", " 停保", None],
}

EXPECTED = {
    "key": ["R1", "R2", None],
    "text": ["第1中学", None, None],
    "name": ["张三", "阿依古丽·买买提", None],
    "name_pinyin": ["zhang san", "a yi gu li mai mai ti", None],
    "name_kind": ["han", "minority", None],
    "id_number": ["11010519491231002X", "130503196704010016", None],
    "id_number_status": ["valid", "upgraded_15", "blank"],
    "id_number_birth_date": [date(1949, 12, 31), date(1967, 4, 1), None],
    "id_number_sex": ["F", "M", None],
    "sex": ["F", "M", None],
    "date": [date(2019, 3, 5), date(2019, 3, 5), None],
    "phone": ["13912345678", "02988886666", None],
    "phone_kind": ["mobile", "landline", None],
    "address": ["长安区郭杜镇东祝村3组", "碑林区南街社区", None],
    "address_township": ["郭杜镇", None, None],
    "address_village": ["东祝村", "南街社区", None],
    "address_group": ["3", None, None],
    "admin_code": ["610116001002", "610116000000", None],
    "admin_code_county": ["610116", "610116", None],
    "admin_code_township": ["610116001", None, None],
    "admin_code_village": ["610116001002", None, None],
    "money": [1234.5, 80.0, None],
    "int": [3, 0, None],
    "number": [85.5, 120.0, None],
    "enum": ["在保", "停保", None],
}


def test_one_normaliser_per_config_type() -> None:
    assert set(NORMALISERS) == set(COLUMN_TYPES)


@pytest.mark.parametrize("type_", sorted(OUTPUTS))
def test_output_names(type_: str) -> None:
    n = normalise(type_, pl.col("raw"), "f", values=("A",), as_of=date(2026, 1, 1))
    assert isinstance(n, Normalised)
    assert n.names == OUTPUTS[type_]


def test_unknown_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="no normaliser for value type 'colour'"):
        normalise("colour", pl.col("raw"), "f")


def _all_types() -> tuple[pl.DataFrame, list[pl.Expr]]:
    frame = pl.DataFrame(ROWS, schema={k: pl.String for k in ROWS})
    exprs: list[pl.Expr] = []
    for type_ in ROWS:
        n = normalise(type_, pl.col(type_), type_, values=("在保", "停保"), as_of=date(2026, 10, 31))
        exprs += [*n.columns, n.issue.alias(f"{type_}_issue")]
    return frame, exprs


def test_all_types_in_one_lazy_select() -> None:
    frame, exprs = _all_types()
    out = frame.lazy().select(exprs).collect()
    for column, values in EXPECTED.items():
        assert out[column].to_list() == values, column
    assert out["name_issue"].to_list() == [None, None, "name blank"]  # a name is expected
    others = out.select(pl.col("^.*_issue$").exclude("name_issue"))
    assert others.null_count().row(0) == (3,) * others.width  # every other value is acceptable
    assert out.schema["date"] == pl.Date
    assert out.schema["id_number_birth_date"] == pl.Date
    assert out.schema["money"] == pl.Float64
    assert out.schema["int"] == pl.Int64


def test_eager_select_gives_the_same_frame() -> None:
    frame, exprs = _all_types()
    assert frame.select(exprs).equals(frame.lazy().select(exprs).collect())


def test_all_null_columns() -> None:
    frame = pl.DataFrame({k: [None, None] for k in ROWS}, schema={k: pl.String for k in ROWS})
    exprs: list[pl.Expr] = []
    for type_ in ROWS:
        n = normalise(type_, pl.col(type_), type_, values=("在保",))
        exprs += [*n.columns, n.issue.alias(f"{type_}_issue")]
    out = frame.lazy().select(exprs).collect()
    assert out["id_number_status"].to_list() == ["blank", "blank"]
    assert out["name_issue"].to_list() == ["name blank", "name blank"]
    others = out.drop("id_number_status", "name_issue")
    assert others.null_count().row(0) == (2,) * others.width


def test_reused_normaliser_does_not_serve_stale_results() -> None:
    # The memo must key on the data: the same expressions over another frame recompute.
    n = normalise("name", pl.col("n"), "name")
    first = pl.DataFrame({"n": ["張三", "李四"]}).lazy().select(n.columns).collect()
    second = pl.DataFrame({"n": ["王五", "張三"]}).lazy().select(n.columns).collect()
    assert first["name"].to_list() == ["张三", "李四"]
    assert second["name"].to_list() == ["王五", "张三"]
    assert second["name_pinyin"].to_list() == ["wang wu", "zhang san"]


def test_every_configured_source_normalises_in_one_select() -> None:
    for cfg in load_sources().values():
        frame = pl.DataFrame({c.header: ["x", "", None] for c in cfg.columns}, schema={c.header: pl.String
                                                                                  for c in cfg.columns})
        exprs: list[pl.Expr] = []
        for c in cfg.columns:
            n = normalise(c.type, pl.col(c.header), c.field, values=c.values, as_of=date(2026, 10, 31))
            exprs += [*n.columns, n.issue.alias(f"{c.field}__issue")]
        out = frame.lazy().select(exprs).collect()
        assert out.height == 3
        assert out["record_id"].to_list() == ["x", None, None]
        assert out["name"].to_list() == ["X", None, None]  # a one-letter Latin name
