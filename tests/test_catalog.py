"""Documented tables: every table and column carries a comment, and the data dictionary is read from them.

The per-source docs are derived from the configs and checked against what staging
really writes; a full run (`published` in conftest) must leave nothing undocumented in
the analyst database or the restricted warehouse; the dictionary is shown to come from
the database's comments by changing one in a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from catalog.dictionary import markdown, read_section, sections
from catalog.registry import apply_comments, documented_tables, undocumented
from ingest.landing import FILE_COL, ROW_COL
from ingest.sources import load_sources
from ingest.stage import stage
from pipelines.cli import main as hhlink
from tests.conftest import AS_OF
from tests.test_new_source import CONFIG as SIXTH_SOURCE

SAMPLE = {"key": "K1", "name": "王小明", "id_number": "11010519491231002X", "sex": "男", "date": "2020-01-02",
          "phone": "13800138000", "address": "雁塔区丈八街道八里村3组", "admin_code": "610113001001",
          "money": "12.5", "int": "3", "number": "2.5", "text": "某某"}


@pytest.mark.parametrize("source", sorted(load_sources()))
def test_staged_docs_are_exactly_what_staging_writes(source: str) -> None:
    cfg = load_sources()[source]
    raw = pl.DataFrame({**{c.header: [c.values[0] if c.values else SAMPLE[c.type]] for c in cfg.columns},
                        FILE_COL: ["f.csv"], ROW_COL: [2]})
    written = stage(raw, cfg, AS_OF).staged.columns
    tables = documented_tables()
    for name in (f"staged.{source}", f"staged.current_{source}"):
        assert [c.name for c in tables[name].columns] == written
    assert [c.name for c in tables[f"raw.{source}"].columns] == \
        ["_row", *[h for c in cfg.columns for h in c.headers], "_file", "_as_of"]


def test_a_new_source_is_documented_by_its_config_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "disability_federation.toml").write_text(SIXTH_SOURCE, encoding="utf-8")
    monkeypatch.setenv("HHLINK_SOURCES", str(tmp_path))
    tables = documented_tables()
    staged = {c.name: c for c in tables["staged.disability_federation"].columns}
    assert (staged["record_id"].pii, staged["id_number"].pii, staged["name"].pii, staged["disability_kind"].pii) == \
        ("pseudonymise", "drop", "drop", "none")
    assert "视力" in staged["disability_kind"].doc and not tables["raw.disability_federation"].analyst
    assert "disability_federation" in {c.name for c in tables["audit.household_coverage"].columns}


def test_undocumented_finds_what_has_no_comment(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "x.duckdb")) as con:
        con.execute("CREATE SCHEMA s; CREATE TABLE s.t (a INT, b INT); CREATE VIEW s.v AS SELECT a FROM s.t")
        assert undocumented(con) == ["s.t", "s.t.a", "s.t.b", "s.v", "s.v.a"]
        con.execute("COMMENT ON TABLE s.t IS 'x'; COMMENT ON COLUMN s.t.a IS 'y'; COMMENT ON VIEW s.v IS 'z'")
        assert undocumented(con) == ["s.t.b", "s.v.a"]
        assert undocumented(con, schemas=("main",)) == []


def test_a_full_run_leaves_nothing_undocumented(published: dict) -> None:
    with duckdb.connect(str(published["analyst"]), read_only=True) as con:
        assert undocumented(con) == []
        assert con.sql("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0] > 20
    with duckdb.connect(str(published["warehouse"]), read_only=True) as con:
        assert undocumented(con, schemas=("main",)) == []
        assert undocumented(con) == []  # raw, staged, quarantine, meta, linked and audit too


def test_comments_say_what_happens_to_personal_data(published: dict) -> None:
    q = "SELECT comment FROM duckdb_columns() WHERE table_name = ? AND column_name = ?"
    with duckdb.connect(str(published["warehouse"]), read_only=True) as con:
        assert "pseudonymised in the analyst database" in con.execute(q, ["person_xref", "record_id"]).fetchall()[0][0]
        assert "not in the analyst database" in con.execute(q, ["person_link", "name_l"]).fetchall()[0][0]
        table = con.sql("SELECT comment FROM duckdb_tables() WHERE schema_name = 'staged' AND table_name = 'health'")
        assert "restricted" in table.fetchall()[0][0]
    with duckdb.connect(str(published["analyst"]), read_only=True) as con:
        assert "pseudonym: keyed HMAC-SHA256" in con.execute(q, ["person_xref", "record_id"]).fetchall()[0][0]


def test_the_dictionary_is_read_from_the_database_comments(published: dict, tmp_path: Path) -> None:
    copy = tmp_path / "a.duckdb"
    shutil.copy(published["analyst"], copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("COMMENT ON COLUMN household_member.rule IS 'changed in the file only'")
    text = markdown([read_section(copy, "Analyst database", "")])
    assert "| `rule` | VARCHAR | changed in the file only |" in text
    with duckdb.connect(str(copy), read_only=True) as con:
        here = "WHERE database_name = current_database()"
        tables = con.sql(f"SELECT table_name, schema_name FROM duckdb_tables() {here}").fetchall()
        columns = con.sql(f"SELECT column_name FROM duckdb_columns() {here}").fetchall()
    assert all(f"### {t if s == 'main' else s + '.' + t}\n" in text for t, s in tables)
    assert all(f"| `{c}` |" in text for (c,) in columns)
    assert "```sql\nSELECT finding_type, count(*)" in text


def test_the_report_site_has_the_dictionary_page(published: dict) -> None:
    page = (published["reports"] / "site" / "data-dictionary.html").read_text(encoding="utf-8")
    assert "Analyst database" in page and "Restricted warehouse" in page
    for doc in sections(published["analyst"], None)[0].tables:
        assert f">{doc.name}<" in page
    assert "data-dictionary.html" in (published["reports"] / "site" / "index.html").read_text(encoding="utf-8")


def test_every_example_query_runs_on_the_analyst_database(published: dict,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with duckdb.connect(str(published["analyst"]), read_only=True) as con:
        examples = con.sql("SELECT table_name, sql FROM example_queries").fetchall()
    assert len(examples) >= 8
    for table, sql in examples:
        assert hhlink(["query", sql, "--warehouse", str(published["warehouse"])]) == 0, (table, sql)
        assert capsys.readouterr().err == ""


def test_apply_comments_skips_tables_the_database_lacks(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "x.duckdb")) as con:
        con.execute("CREATE TABLE person_xref (source VARCHAR, record_id VARCHAR, person_id VARCHAR, extra INT)")
        n = apply_comments(con, documented_tables())
        assert n == 4  # the table and its three documented columns
        assert undocumented(con) == ["main.person_xref.extra"]
