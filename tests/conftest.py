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


#: The pseudonym key of the `published` run (given through HHLINK_PSEUDONYM_KEY, as in production).
PSEUDONYM_KEY = "test-key: 3f1c9a0e-not-the-demo-key"


@pytest.fixture(scope="session")
def published(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A whole `hhlink run` of `generated` with a pseudonym key from the environment, with everything it logged:
    the `hhlink.progress` lines and every Dagster event-log entry of the run (serialised, metadata included)."""
    import logging

    import dagster as dg
    from dagster._serdes import serialize_value

    from pipelines.runner import run_pipeline
    from privacy.analyst import analyst_path

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    lines: list[str] = []
    wh = tmp_path_factory.mktemp("published") / "warehouse.duckdb"
    log, handler = logging.getLogger("hhlink.progress"), Keep()
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with pytest.MonkeyPatch.context() as mp, dg.DagsterInstance.ephemeral() as instance:
            mp.setenv("HHLINK_PSEUDONYM_KEY", PSEUDONYM_KEY)
            result = run_pipeline(generated / "landing", wh, AS_OF.isoformat(), instance=instance)
            events = [serialize_value(e) for run in instance.get_runs() for e in instance.all_logs(run.run_id)]
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    return {"landing": generated / "landing", "warehouse": wh, "analyst": analyst_path(wh),
            "reports": result.reports, "progress": lines, "events": events}
