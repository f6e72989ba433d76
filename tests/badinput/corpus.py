"""The bad-input corpus: each case writes its files into a landing zone and says what must happen.

Nothing here is a committed binary: every file is written by the case's builder, so
the corpus documents itself. A case is one delivery (usually `health/2026-10-31`,
one newer than the good `health/2026-09-30` every zone starts with) and the outcome
the pipeline owes it:

- `rejected`: the delivery is rejected whole, the reason names the problem;
- `accepted`: the delivery is accepted; `quarantined` rows go to quarantine with a reason
  containing `detail`, or some staged row carries an issue containing `issue`;
- `pending`: still being written, skipped for now (listed with its reason, never read).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import HEALTH_HEADER, HEALTH_ROWS, write_csv, write_manifest

GOOD_AS_OF, NEW_AS_OF = "2026-09-30", "2026-10-31"
EDU_HEADER = ["学籍号", "姓名", "身份证件号", "性别", "出生日期", "学校名称", "学段", "年级", "在校状态", "更新日期"]
EDU_ROWS = [["E001", "李小华", "", "男", "2015-03-05", "城关小学", "小学", "五年级", "在读", "2026-10-01"],
            ["E002", "王芳", "", "女", "2016-07-01", "城关小学", "小学", "四年级", "在读", "2026-10-01"]]


def base_zone(landing: Path) -> None:
    """What every case starts from: a good older health delivery, and another source that must go on."""
    write_csv(landing / "health" / GOOD_AS_OF / "参保人员.csv", HEALTH_HEADER, HEALTH_ROWS)
    write_csv(landing / "education" / NEW_AS_OF / "学籍.csv", EDU_HEADER, EDU_ROWS)


def _new(landing: Path, name: str = "参保人员.csv") -> Path:
    path = landing / "health" / NEW_AS_OF / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _good(landing: Path, rows: list[list[str]] | None = None, header: list[str] | None = None,
          encoding: str = "utf-8") -> Path:
    return write_csv(_new(landing), header or HEALTH_HEADER, rows if rows is not None else HEALTH_ROWS, encoding)


def _row(key: str, **values: str) -> list[str]:
    row = dict(zip(HEALTH_HEADER, HEALTH_ROWS[2], strict=True))
    row["参保编号"] = key
    row.update(values)
    return list(row.values())


def _xlsx(path: Path, write: Callable) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(path)
    write(wb.add_worksheet())
    wb.close()


# --- builders -------------------------------------------------------------------------------------------------

def truncated_csv(landing: Path) -> None:
    p = _good(landing)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 25])  # cut inside the last row: no line end, fields missing


def big5_bytes(landing: Path) -> None:
    text = ",".join(["參保編號", "姓名", "證件號碼"]) + "\nH001,陳大文,\nH002,林小美,\n"
    _new(landing).write_bytes(text.encode("big5"))


def utf16_bytes(landing: Path) -> None:
    _good(landing, encoding="utf-16")


def nul_bytes_csv(landing: Path) -> None:
    _new(landing).write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)


def garbage_xlsx(landing: Path) -> None:
    _new(landing, "参保人员.xlsx").write_bytes(b"\x00\x01\x02not a workbook\xff\xfe" * 100)


def empty_file(landing: Path) -> None:
    _new(landing).write_bytes(b"")


def header_only(landing: Path) -> None:
    _good(landing, rows=[])


def missing_required(landing: Path) -> None:
    _good(landing, header=HEALTH_HEADER[1:], rows=[r[1:] for r in HEALTH_ROWS])


def repeated_header(landing: Path) -> None:
    _good(landing, header=[*HEALTH_HEADER, "姓名"], rows=[[*r, "x"] for r in HEALTH_ROWS])


def extra_columns(landing: Path) -> None:
    _good(landing, header=[*HEALTH_HEADER, "备注", "经办人"], rows=[[*r, "备注x", "张三"] for r in HEALTH_ROWS])


def repeated_keys(landing: Path) -> None:
    _good(landing, rows=[*HEALTH_ROWS, _row("H001", 姓名="王小明")])


def blank_keys(landing: Path) -> None:
    _good(landing, rows=[*HEALTH_ROWS, _row(""), _row("   ")])


DATE_FORMS = ["2019-03-05", "20190305", "2019/3/5", "2019.03.05", "2019年3月5日", "43529", "1900-01-01",
              "2031-01-01", "2019-02-30", "sometime"]


def date_forms(landing: Path) -> None:
    _good(landing, rows=[_row(f"D{i}", 出生日期=v) for i, v in enumerate(DATE_FORMS)])


def long_cells(landing: Path) -> None:
    _good(landing, rows=[*HEALTH_ROWS, _row("L1", 常住地址="陕西省西安市" + "很长的地址" * 40_000)])


def xlsx_formulas(landing: Path) -> None:
    def write(ws) -> None:
        ws.write_row(0, 0, HEALTH_HEADER)
        for i, r in enumerate(HEALTH_ROWS, start=1):
            ws.write_row(i, 0, r)
            ws.write_formula(i, 11, f"={i}+1", None, i + 1)  # 住院次数 as a formula with its cached result
    _xlsx(_new(landing, "参保人员.xlsx"), write)


def xlsx_merged_header(landing: Path) -> None:
    def write(ws) -> None:
        ws.merge_range(0, 0, 0, 1, "参保编号")  # a merged header cell over two columns
        ws.write_row(0, 2, HEALTH_HEADER[2:])
        for i, r in enumerate(HEALTH_ROWS, start=1):
            ws.write_row(i, 0, r)
    _xlsx(_new(landing, "参保人员.xlsx"), write)


def excel_numeric_ids(landing: Path) -> None:
    def write(ws) -> None:
        ws.write_row(0, 0, HEALTH_HEADER)
        for i, r in enumerate(HEALTH_ROWS, start=1):
            ws.write_row(i, 0, r)
        ws.write_number(1, 2, 110105194912310020.0)  # an 18-digit ID typed into a numeric cell
        ws.write_row(4, 0, _row("H004", 证件号码="1.10105E+17"))  # and one saved as scientific text
    _xlsx(_new(landing, "参保人员.xlsx"), write)


def manifest_rows(landing: Path) -> None:
    p = _good(landing)
    write_manifest(p.parent, "health", rows={p.name: 99})


def manifest_checksum(landing: Path) -> None:
    p = _good(landing)
    write_manifest(p.parent, "health")
    _good(landing, rows=HEALTH_ROWS[:2])


def manifest_missing_file(landing: Path) -> None:
    p = _good(landing)
    doc = {"source": "health", "as_of": NEW_AS_OF, "files": [
        {"name": p.name, "rows": 3, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()},
        {"name": "参保人员_2.csv", "rows": 10, "sha256": "0" * 64}]}
    (p.parent / "MANIFEST.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def manifest_not_json(landing: Path) -> None:
    p = _good(landing)
    (p.parent / "MANIFEST.json").write_text("{files: [", encoding="utf-8")


def still_being_written(landing: Path) -> None:
    _good(landing)
    (_new(landing, "参保人员_2.csv.part")).write_bytes(",".join(HEALTH_HEADER).encode() + b"\nH009,")


def unknown_source(landing: Path) -> None:
    write_csv(landing / "tax_bureau" / NEW_AS_OF / "纳税人.csv", ["纳税人识别号"], [["1"]])


def folder_not_a_date(landing: Path) -> None:
    write_csv(landing / "health" / "latest" / "参保人员.csv", HEALTH_HEADER, HEALTH_ROWS)


def empty_folder(landing: Path) -> None:
    (landing / "health" / NEW_AS_OF).mkdir(parents=True)


def mixed_formats(landing: Path) -> None:
    _good(landing)
    _new(landing, "参保人员.parquet").write_bytes(b"PAR1")


def ragged_rows(landing: Path) -> None:
    _good(landing, rows=[HEALTH_ROWS[0], [*HEALTH_ROWS[1], "x", "y"], HEALTH_ROWS[2]])


def gb18030_ok(landing: Path) -> None:
    _good(landing, encoding="gb18030")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], None]
    outcome: str  # rejected / accepted / pending
    detail: str = ""  # rejected, pending: in the reason; accepted: in a quarantine reason
    quarantined: int = 0
    issue: str = ""  # accepted: in some staged row's issues
    source: str = "health"
    folder: str = NEW_AS_OF


CASES = [
    Case("truncated CSV", truncated_csv, "rejected", "truncated: the last line has"),
    Case("Big5 bytes (not the detected encoding)", big5_bytes, "rejected", "GB18030"),
    Case("UTF-16 bytes", utf16_bytes, "rejected", "UTF-16"),
    Case("binary bytes named .csv", nul_bytes_csv, "rejected", "NUL bytes"),
    Case("binary garbage named .xlsx", garbage_xlsx, "rejected", "not a readable XLSX"),
    Case("empty file", empty_file, "rejected", "empty file"),
    Case("header only", header_only, "rejected", "header only"),
    Case("missing required column", missing_required, "rejected", "required column '参保编号' is missing"),
    Case("a column header repeated", repeated_header, "rejected", "'姓名' appears twice"),
    Case("extra columns", extra_columns, "accepted"),
    Case("repeated keys", repeated_keys, "accepted", "repeated record key 'H001'", quarantined=1),
    Case("blank keys", blank_keys, "accepted", "blank record key", quarantined=2),
    Case("every date form, absurd dates", date_forms, "accepted", issue="birth_date:"),
    Case("very long cells", long_cells, "accepted"),
    Case("XLSX formula cells", xlsx_formulas, "accepted"),
    Case("XLSX merged header cells", xlsx_merged_header, "rejected", "empty header (blank or merged header cells?)"),
    Case("numeric-coerced IDs from Excel", excel_numeric_ids, "accepted", issue="id_number:"),
    Case("manifest: row count", manifest_rows, "rejected", "3 rows, MANIFEST.json says 99"),
    Case("manifest: checksum", manifest_checksum, "rejected", "checksum differs from MANIFEST.json"),
    Case("manifest: missing file", manifest_missing_file, "rejected", "lists '参保人员_2.csv' but the file is missing"),
    Case("manifest: not JSON", manifest_not_json, "rejected", "MANIFEST.json is not valid"),
    Case("delivery still being written", still_being_written, "pending", "still being written ('参保人员_2.csv.part'"),
    Case("unknown source folder", unknown_source, "rejected", "unknown source folder 'tax_bureau'",
         source="tax_bureau"),
    Case("folder name not a date", folder_not_a_date, "rejected", "not an as-of date", folder="latest"),
    Case("empty delivery folder", empty_folder, "rejected", "empty delivery folder"),
    Case("mixed formats", mixed_formats, "rejected", "mixed file formats"),
    Case("a row with too many fields", ragged_rows, "rejected", "not a readable CSV"),
    Case("GB18030 (accepted)", gb18030_ok, "accepted"),
]
