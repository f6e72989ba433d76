"""A sixth department is one config file: no Python change ingests it and reports its freshness."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from ingest import db
from ingest.sources import load_sources
from tests.conftest import AS_OF, write_csv

CONFIG = """
source = "disability_federation"
title = "残疾人证信息"
department = "残联"
expected_every_days = 31

[[columns]]
header = "残疾证号"
field = "record_id"
type = "key"
required = true

[[columns]]
header = "姓名"
field = "name"
type = "name"
required = true

[[columns]]
header = "身份证号"
field = "id_number"
type = "id_number"

[[columns]]
header = "残疾类别"
field = "disability_kind"
type = "enum"
values = ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]
"""


def test_sixth_source_from_config_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "disability_federation.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("HHLINK_SOURCES", str(conf))
    assert "disability_federation" in load_sources()

    landing = tmp_path / "landing"
    write_csv(landing / "disability_federation" / AS_OF.isoformat() / "残疾人证.csv",
              ["残疾证号", "姓名", "身份证号", "残疾类别"],
              [["D1", "张三", "11010519491231002X", "肢体"], ["D2", "李 四", "", "听力"], ["", "王五", "", "肢体"]],
              encoding="gb18030")
    from pipelines.definitions import all_assets, resource_from_env
    from pipelines.runner import materialize_pipeline

    warehouse = tmp_path / "wh.duckdb"
    resource = resource_from_env(landing=str(landing), warehouse=str(warehouse), as_of=AS_OF.isoformat())
    assert materialize_pipeline(all_assets(), resource, dg.DagsterInstance.ephemeral()).success
    with db.connect(warehouse, read_only=True) as con:
        d = db.frame(con, "SELECT * FROM deliveries WHERE source = 'disability_federation'").row(0, named=True)
        assert (d["status"], d["rows_delivered"], d["rows_staged"], d["rows_quarantined"]) == ("accepted", 3, 2, 1)
        staged = db.frame(con, "SELECT name, id_number, disability_kind FROM staged.disability_federation "
                               "ORDER BY record_id")
        assert staged.rows() == [("张三", "11010519491231002X", "肢体"), ("李四", None, "听力")]
        fresh = db.frame(con, "SELECT status FROM source_freshness WHERE source = 'disability_federation'").item()
        assert fresh == "fresh"
        missing = db.frame(con, "SELECT status FROM source_freshness WHERE source = 'health'").item()
        assert missing == "missing"
        n = db.frame(con, "SELECT count(*) AS n FROM person_xref WHERE source = 'disability_federation'").item()
        assert n == 2
