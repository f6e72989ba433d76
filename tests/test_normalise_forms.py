"""One case per messy form of CONTRACT §1 (and of the other config value types)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from ingest.normalise import normalise

AS_OF = date(2026, 10, 31)


def run(type_: str, raw: str | None, **opts: Any) -> dict[str, Any]:
    """Normalise one value; the row as a dict (outputs named after field ``f``) plus ``issue``."""
    n = normalise(type_, pl.col("raw"), "f", **opts)
    frame = pl.DataFrame({"raw": [raw]}, schema={"raw": pl.String})
    return frame.lazy().select(*n.columns, n.issue.alias("issue")).collect().row(0, named=True)


# --- ID number --------------------------------------------------------------------------------

VALID = "11010519491231002X"  # GB 11643's own example (check digit X)


@pytest.mark.parametrize(
    ("raw", "value", "status", "birth", "sex", "issue"),
    [
        pytest.param(VALID, VALID, "valid", date(1949, 12, 31), "F", None, id="18-chars"),
        pytest.param("130503196704010016", "130503196704010016", "valid", date(1967, 4, 1), "M", None,
                     id="18-digits"),
        pytest.param("11010519491231002x", VALID, "valid", date(1949, 12, 31), "F", None, id="lower-x"),
        pytest.param("130503670401001", "130503196704010016", "upgraded_15", date(1967, 4, 1), "M", None,
                     id="15-digit"),
        pytest.param("１１０１０５１９４９１２３１００２Ｘ", VALID, "valid", date(1949, 12, 31), "F", None,
                     id="full-width"),
        pytest.param(" 110105 19491231 002X ", VALID, "valid", date(1949, 12, 31), "F", None, id="spaces"),
        pytest.param("110105　19491231　002X", VALID, "valid", date(1949, 12, 31), "F", None,
                     id="ideographic-spaces"),
        pytest.param("", None, "blank", None, None, None, id="blank"),
        pytest.param("   ", None, "blank", None, None, None, id="blank-spaces"),
        pytest.param(None, None, "blank", None, None, None, id="null"),
        pytest.param("110105194912310021", "110105194912310021", "bad_check", date(1949, 12, 31), "F",
                     "ID check digit wrong", id="wrong-check-digit"),
        # 11010519491231001X typed into a number cell: calamine prints the double's exact integer
        pytest.param("110105194912310016", "110105194912310016", "excel_damaged", date(1949, 12, 31), None,
                     "ID damaged by number format", id="excel-number-cell"),
        pytest.param("1.10105E+17", "110105000000000000", "excel_damaged", None, None,
                     "ID damaged by number format", id="excel-scientific"),
        pytest.param("1.10105194912310e17", "110105194912310000", "excel_damaged", date(1949, 12, 31), None,
                     "ID damaged by number format", id="excel-scientific-long"),
        pytest.param("1.10105E+14", None, "excel_damaged", None, None, "ID damaged by number format",
                     id="excel-scientific-15"),
        pytest.param("130503670401001.0", "130503196704010016", "upgraded_15", date(1967, 4, 1), "M", None,
                     id="15-digit-as-float-text"),
        pytest.param("12345", None, "malformed", None, None, "ID malformed", id="too-short"),
        pytest.param("11010519491231002Y", None, "malformed", None, None, "ID malformed", id="bad-char"),
        pytest.param("110105194913310028", "110105194913310028", "bad_check", None, "F", "ID check digit wrong",
                     id="month-13"),
    ],
)
def test_id_number(raw: str | None, value: str | None, status: str, birth: date | None, sex: str | None,
                   issue: str | None) -> None:
    assert run("id_number", raw) == {
        "f": value, "f_status": status, "f_birth_date": birth, "f_sex": sex, "issue": issue
    }


def test_id_number_valid_check_but_impossible_birth_date() -> None:
    # 1990-02-30 with a correct check digit: kept, no birth date, an issue.
    body = "11010519900230001"
    from stdnum.cn import ric

    full = body + ric.calc_check_digit(body + "0")
    assert run("id_number", full) == {
        "f": full, "f_status": "valid", "f_birth_date": None, "f_sex": "M",
        "issue": "ID birth date not a real date",
    }


# --- name -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "pinyin", "kind"),
    [
        pytest.param("张三", "张三", "zhang san", "han", id="plain"),
        pytest.param(" 张 三 ", "张三", "zhang san", "han", id="stray-spaces"),
        pytest.param("张　三", "张三", "zhang san", "han", id="ideographic-space"),
        pytest.param("張三豐", "张三丰", "zhang san feng", "han", id="traditional"),
        pytest.param("劉德華", "刘德华", "liu de hua", "han", id="traditional-2"),
        pytest.param("阿依古丽·买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", "minority", id="middle-dot"),
        pytest.param("阿依古丽•买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", "minority", id="bullet"),
        pytest.param("阿依古丽.买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", "minority", id="full-stop"),
        pytest.param("阿依古丽．买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", "minority",
                     id="full-width-stop"),
        pytest.param("阿依古丽・买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", "minority", id="katakana-dot"),
        pytest.param("阿依古丽 · 买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", "minority",
                     id="dot-with-spaces"),
        pytest.param("阿依古丽 买买提", "阿依古丽·买买提", "a yi gu li mai mai ti", "minority",
                     id="minority-space-separated"),
        pytest.param("欧阳 娜娜", "欧阳娜娜", "ou yang na na", "han", id="compound-surname-spaced"),
        pytest.param("john  smith", "JOHN SMITH", "john smith", "latin", id="latin"),
        pytest.param("ＭＡＲＩＡ　ＬＯＰＥＺ", "MARIA LOPEZ", "maria lopez", "latin", id="latin-full-width"),
        pytest.param("Zhang San", "ZHANG SAN", "zhang san", "latin", id="latin-pinyin-agrees-with-han"),
        pytest.param("曾小红", "曾小红", "zeng xiao hong", "han", id="surname-reading-zeng"),
        pytest.param("单田芳", "单田芳", "shan tian fang", "han", id="surname-reading-shan"),
        pytest.param("尉迟恭", "尉迟恭", "yu chi gong", "han", id="compound-surname-reading"),
        pytest.param("吕女", "吕女", "lv nv", "han", id="u-umlaut-as-v"),
        pytest.param("张3", "张3", "zhang 3", "other", id="other"),
    ],
)
def test_name(raw: str, value: str, pinyin: str, kind: str) -> None:
    assert run("name", raw) == {"f": value, "f_pinyin": pinyin, "f_kind": kind, "issue": None}


def test_name_homophone_typo_shares_pinyin() -> None:
    # One-character typos by sound (CONTRACT §1): the spelling differs, the pinyin agrees.
    a, b = run("name", "张晓明"), run("name", "张小明")
    assert a["f"] != b["f"]
    assert a["f_pinyin"] == b["f_pinyin"] == "zhang xiao ming"


@pytest.mark.parametrize(
    ("raw", "issue"),
    [pytest.param("", "name blank", id="blank"), pytest.param(None, "name blank", id="null"),
     pytest.param("123", "name has no letters", id="digits"), pytest.param("--", "name has no letters", id="dashes")],
)
def test_name_issues(raw: str | None, issue: str) -> None:
    assert run("name", raw) == {"f": None, "f_pinyin": None, "f_kind": None, "issue": issue}


# --- sex --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "issue"),
    [
        ("男", "M", None), ("女", "F", None), ("1", "M", None), ("2", "F", None), ("M", "M", None),
        ("f", "F", None), ("Ｆ", "F", None), ("１", "M", None), (" 女 ", "F", None), ("男性", "M", None),
        ("", None, None), (None, None, None), ("未知", None, None), ("9", None, None),
        ("X", None, "unknown sex 'X'"), ("3", None, "unknown sex '3'"),
    ],
)
def test_sex(raw: str | None, value: str | None, issue: str | None) -> None:
    assert run("sex", raw) == {"f": value, "issue": issue}


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param("2019-03-05", date(2019, 3, 5), id="iso"),
        pytest.param("20190305", date(2019, 3, 5), id="compact"),
        pytest.param("2019/3/5", date(2019, 3, 5), id="slashes"),
        pytest.param("2019/03/05", date(2019, 3, 5), id="slashes-padded"),
        pytest.param("2019.03.05", date(2019, 3, 5), id="dots"),
        pytest.param("2019年3月5日", date(2019, 3, 5), id="chinese"),
        pytest.param("2019年03月05日", date(2019, 3, 5), id="chinese-padded"),
        pytest.param("2019-03-05 00:00:00", date(2019, 3, 5), id="excel-date-cell"),
        pytest.param("2019-03-05T00:00:00", date(2019, 3, 5), id="iso-datetime"),
        pytest.param("43529", date(2019, 3, 5), id="excel-serial"),
        pytest.param("43529.0", date(2019, 3, 5), id="excel-serial-float"),
        pytest.param("２０１９－０３－０５", date(2019, 3, 5), id="full-width"),
        pytest.param("", None, id="blank"),
        pytest.param(None, None, id="null"),
    ],
)
def test_date_forms(raw: str | None, value: date | None) -> None:
    assert run("date", raw, as_of=AS_OF) == {"f": value, "issue": None}


@pytest.mark.parametrize(
    ("raw", "issue"),
    [
        pytest.param("1900-01-01", "placeholder date", id="placeholder"),
        pytest.param("1899-12-31", "date before 1900", id="before-1900"),
        pytest.param("2026-11-01", "date after delivery as-of", id="after-as-of"),
        pytest.param("2019-02-30", "unparseable date '2019-02-30'", id="impossible"),
        pytest.param("1985", "unparseable date '1985'", id="year-only-not-a-serial"),
        pytest.param("99999", "unparseable date '99999'", id="serial-out-of-range"),
        pytest.param("sometime in the spring of 2019", "unparseable date 'sometime in the spri…'",
                     id="long-text-truncated"),
    ],
)
def test_date_issues(raw: str, issue: str) -> None:
    assert run("date", raw, as_of=AS_OF) == {"f": None, "issue": issue}


def test_date_after_as_of_only_checked_when_given() -> None:
    assert run("date", "2030-01-01") == {"f": date(2030, 1, 1), "issue": None}


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "kind"),
    [
        pytest.param("13912345678", "13912345678", "mobile", id="mobile"),
        pytest.param("+8613912345678", "13912345678", "mobile", id="plus86"),
        pytest.param("+86 139 1234 5678", "13912345678", "mobile", id="plus86-spaces"),
        pytest.param("8613912345678", "13912345678", "mobile", id="86"),
        pytest.param("0086-13912345678", "13912345678", "mobile", id="0086"),
        pytest.param("139 1234 5678", "13912345678", "mobile", id="spaces"),
        pytest.param("139-1234-5678", "13912345678", "mobile", id="dashes"),
        pytest.param("１３９１２３４５６７８", "13912345678", "mobile", id="full-width"),
        pytest.param("13912345678.0", "13912345678", "mobile", id="excel-float"),
        pytest.param("13912345678/13812345678", "13912345678", "mobile", id="two-numbers"),
        pytest.param("029-88886666", "02988886666", "landline", id="landline"),
        pytest.param("(029)88886666", "02988886666", "landline", id="landline-brackets"),
        pytest.param("（029）8888-6666", "02988886666", "landline", id="landline-full-width-brackets"),
        pytest.param("02988886666", "02988886666", "landline", id="landline-digits"),
        pytest.param("0917-1234567", "09171234567", "landline", id="landline-4-digit-area"),
        pytest.param("", None, None, id="blank"),
        pytest.param(None, None, None, id="null"),
    ],
)
def test_phone(raw: str | None, value: str | None, kind: str | None) -> None:
    assert run("phone", raw) == {"f": value, "f_kind": kind, "issue": None}


@pytest.mark.parametrize("raw", ["88886666", "12345678901", "1391234567", "phone"])
def test_phone_unrecognised(raw: str) -> None:
    assert run("phone", raw) == {"f": None, "f_kind": None, "issue": "phone not recognised"}


# --- address ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "township", "village", "group"),
    [
        pytest.param("陕西省西安市长安区郭杜街道东祝村3组12号", "陕西省西安市长安区郭杜街道东祝村3组12号",
                     "郭杜街道", "东祝村", "3", id="full"),
        pytest.param("长安区郭杜镇东祝村委会三组", "长安区郭杜镇东祝村3组", "郭杜镇", "东祝村", "3",
                     id="province-city-left-out-and-village-committee"),
        pytest.param("郭杜镇 东祝村 二十一组", "郭杜镇东祝村21组", "郭杜镇", "东祝村", "21", id="spaces-numerals"),
        pytest.param("某某县红星乡向阳村民委员会第十组", "某某县红星乡向阳村第10组", "红星乡", "向阳村", "10",
                     id="village-committee-long"),
        pytest.param("碑林区长乐坊街道东关南街社区居委会", "碑林区长乐坊街道东关南街社区", "长乐坊街道",
                     "东关南街社区", None, id="residents-committee"),
        pytest.param("长安区东祝村03组", "长安区东祝村03组", None, "东祝村", "3", id="no-township"),
        pytest.param("ＸＸ县ＹＹ镇", "XX县YY镇", "YY镇", None, None, id="full-width"),
        pytest.param("", None, None, None, None, id="blank"),
        pytest.param(None, None, None, None, None, id="null"),
    ],
)
def test_address(raw: str | None, value: str | None, township: str | None, village: str | None,
                 group: str | None) -> None:
    assert run("address", raw) == {
        "f": value, "f_township": township, "f_village": village, "f_group": group, "issue": None
    }


# --- admin code -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "county", "township", "village", "issue"),
    [
        pytest.param("610116001002", "610116001002", "610116", "610116001", "610116001002", None, id="12-digits"),
        pytest.param("６１０１１６００１００２", "610116001002", "610116", "610116001", "610116001002", None,
                     id="full-width"),
        pytest.param("610116 001 002", "610116001002", "610116", "610116001", "610116001002", None, id="spaces"),
        pytest.param("610116001002.0", "610116001002", "610116", "610116001", "610116001002", None,
                     id="excel-float"),
        pytest.param("610116", "610116000000", "610116", None, None, None, id="county-only"),
        pytest.param("610116001", "610116001000", "610116", "610116001", None, None, id="township-only"),
        pytest.param("610116000000", "610116000000", "610116", None, None, None, id="county-padded"),
        pytest.param("", None, None, None, None, None, id="blank"),
        pytest.param(None, None, None, None, None, None, id="null"),
        pytest.param("6101160010", None, None, None, None, "admin code malformed '6101160010'", id="10-digits"),
    ],
)
def test_admin_code(raw: str | None, value: str | None, county: str | None, township: str | None,
                    village: str | None, issue: str | None) -> None:
    assert run("admin_code", raw) == {
        "f": value, "f_county": county, "f_township": township, "f_village": village, "issue": issue
    }


# --- money, number, int -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "issue"),
    [
        pytest.param("1234.5", 1234.5, None, id="plain"),
        pytest.param("1,234.50", 1234.5, None, id="thousands"),
        pytest.param("1234.5元", 1234.5, None, id="yuan"),
        pytest.param("￥1234", 1234.0, None, id="full-width-yen"),
        pytest.param("¥ 1,234", 1234.0, None, id="yen-space"),
        pytest.param("１２３４．５", 1234.5, None, id="full-width-digits"),
        pytest.param("1.2万", 12000.0, None, id="wan"),
        pytest.param("0", 0.0, None, id="zero"),
        pytest.param("", None, None, id="blank"),
        pytest.param(None, None, None, id="null"),
        pytest.param("-50", None, "negative amount", id="negative"),
        pytest.param("about 5", None, "unparseable amount 'about 5'", id="text"),
    ],
)
def test_money(raw: str | None, value: float | None, issue: str | None) -> None:
    assert run("money", raw) == {"f": value, "issue": issue}


@pytest.mark.parametrize(
    ("raw", "value", "issue"),
    [
        ("85.5", 85.5, None), ("85.5㎡", 85.5, None), ("85.5平方米", 85.5, None), ("85.5 m²", 85.5, None),
        ("120平米", 120.0, None), ("", None, None), ("-3", None, "negative value"),
        ("eighty", None, "unparseable number 'eighty'"),
    ],
)
def test_number(raw: str, value: float | None, issue: str | None) -> None:
    assert run("number", raw) == {"f": value, "issue": issue}


@pytest.mark.parametrize(
    ("raw", "value", "issue"),
    [
        ("3", 3, None), ("3次", 3, None), ("3.0", 3, None), ("０", 0, None), ("", None, None),
        ("3.5", None, "not a whole number '3.5'"), ("three", None, "unparseable number 'three'"),
    ],
)
def test_int(raw: str, value: int | None, issue: str | None) -> None:
    assert run("int", raw) == {"f": value, "issue": issue}


# --- enum, key, text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "raw", "value", "issue"),
    [
        (("低保", "特困", "低保边缘"), "低保", "低保", None),
        (("低保", "特困", "低保边缘"), " 低 保 ", "低保", None),
        (("低保", "特困", "低保边缘"), "低保户", None, "unknown value '低保户'"),
        (("低保", "特困"), "", None, None),
        (("是", "否"), "Y", "是", None),
        (("是", "否"), "no", "否", None),
        (("是", "否"), "无", "否", None),
        (("是", "否"), "1", None, "unknown value '1'"),
        (("一级", "二级", "三级", "四级"), "2级", "二级", None),
        (("一级", "二级", "三级", "四级"), "无", None, None),
        (("A", "B", "C", "D"), "ｃ", "C", None),
        (("A", "B", "C", "D"), "E", None, "unknown value 'E'"),
    ],
)
def test_enum(values: tuple[str, ...], raw: str, value: str | None, issue: str | None) -> None:
    assert run("enum", raw, values=values) == {"f": value, "issue": issue}


@pytest.mark.parametrize(
    ("type_", "raw", "value"),
    [
        ("key", " R0001 ", "R0001"), ("key", "   ", None), ("key", None, None), ("key", "Ｒ１", "Ｒ１"),
        ("text", " 第１中学 ", "第1中学"), ("text", "", None), ("text", None, None),
    ],
)
def test_key_and_text(type_: str, raw: str | None, value: str | None) -> None:
    assert run(type_, raw) == {"f": value, "issue": None}
