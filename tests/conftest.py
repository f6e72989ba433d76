"""Shared fixtures: small real landing zones and warehouse files (no mocks)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date
from pathlib import Path

import pytest

AS_OF = date(2026, 10, 31)

HEALTH_HEADER = ["参保编号", "姓名", "证件号码", "性别", "出生日期", "联系电话", "常住地址", "慢性病", "重大疾病",
                 "残疾等级", "年度自付医疗费用", "住院次数", "死亡日期", "更新日期"]
HEALTH_ROWS = [
    ["H001", "王 小明", "11010519491231002x", "女", "1949-12-31", "+86 138-0013-8000", "陕西省西安市雁塔区丈八街道",
     "是", "", "", "1,234.50元", "2", "", "2026-10-01"],
    ["H002", "買買提•艾力", "110105491231002", "1", "19491231", "02988886666", "雁塔区丈八街道", "否", "", "二级",
     "300", "0", "", "2026/10/3"],
    ["H003", "李四", "", "女", "2019年3月5日", "", "", "否", "", "", "", "", "", ""],
]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_manifest(folder: Path, source: str, rows: dict[str, int] | None = None) -> Path:
    files = []
    for p in sorted(folder.iterdir()):
        if p.name == "MANIFEST.json":
            continue
        n = (rows or {}).get(p.name)
        if n is None:
            n = len(p.read_bytes().decode("utf-8-sig", errors="replace").strip().splitlines()) - 1
        files.append({"name": p.name, "rows": n, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
    path = folder / "MANIFEST.json"
    path.write_text(json.dumps({"source": source, "as_of": folder.name, "files": files}, ensure_ascii=False))
    return path


@pytest.fixture
def health_delivery(tmp_path: Path) -> Path:
    """A tiny hand-written health delivery with messy values, in UTF-8."""
    landing = tmp_path / "landing"
    write_csv(landing / "health" / AS_OF.isoformat() / "参保人员_20261031.csv", HEALTH_HEADER, HEALTH_ROWS)
    return landing


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated typical landing zone with truth beside it (shared by the integration tests)."""
    from synth import generate

    out = tmp_path_factory.mktemp("generated")
    generate(1500, 11, out, "typical", as_of=AS_OF)
    return out
