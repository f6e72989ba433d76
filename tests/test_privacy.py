"""Privacy: what leaves the restricted warehouse carries no ID number, name or phone.

The run under test is a whole `hhlink run` of the generated typical zone with a key from
HHLINK_PSEUDONYM_KEY (`published` in conftest). Its analyst database (every cell of
every table), everything it logged (progress lines, every Dagster event with its
metadata), its report files and a CSV export are searched for ID-number and phone
shapes and for the actual names, ID numbers and phones of the sample, taken from the
landing zone's files (and their normalised forms from the restricted warehouse). The
same search finds them in the restricted warehouse, so it is known to work.
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from catalog.model import Column, Table
from ingest.sources import load_sources
from pipelines.cli import main as hhlink
from pipelines.definitions import resource_from_env
from pipelines.runner import run_pipeline
from privacy.analyst import PersonalDataFound, analyst_path, build_analyst
from privacy.pseudonyms import DEMO_KEY, KEY_ENV, install_sql_pseudonym, key_id, pseudonym, record_pseudonym
from privacy.scan import PATTERNS, _mask, find
from tests.conftest import AS_OF, PSEUDONYM_KEY

HAN = re.compile(r"[\u3400-\u9fff\U00020000-\U0002ffff·]+")
#: Minority-name separators between Han characters, all read as `·` (names are searched in that form).
SEPARATOR = re.compile(r"(?<=[\u3400-\u9fff])\s*[·•.．・]\s*(?=[\u3400-\u9fff])")
DATA_FILES = (".csv", ".xlsx", ".parquet")


def _read(path: Path) -> pl.DataFrame:
    """A delivered file as text columns, read independently of the pipeline's readers."""
    if path.suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
        return pl.read_csv(io.StringIO(text), infer_schema=False)
    if path.suffix == ".xlsx":
        return pl.read_excel(path, engine="calamine", infer_schema_length=0)
    return pl.read_parquet(path).select(pl.all().cast(pl.String))


def _squeeze(value: str) -> str:
    return SEPARATOR.sub("·", re.sub(r"\s+", "", unicodedata.normalize("NFKC", value)))


def _context(text: str, kind: str) -> str:
    """Where a shape is (for the failure message; scan.find only counts)."""
    m = re.search(PATTERNS[kind], _mask(text))
    return _mask(text)[max(0, m.start() - 60):m.end() + 20] if m else "?"


def _squeeze_han(text: str) -> str:
    """Spaces between Han characters dropped and name separators unified, as in `Personal.names`."""
    return SEPARATOR.sub("·", re.sub(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])", "", text))


def _digits(value: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", value))


@dataclass
class Personal:
    """The sample's personal data, and a search for it in any text."""

    names: set[str] = field(default_factory=set)
    pinyin: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    def add_id(self, value: str) -> None:
        v = re.sub(r"\s", "", unicodedata.normalize("NFKC", value)).upper()
        if len(v) >= 15:
            self.ids.add(v)

    def add_phone(self, value: str) -> None:
        d = _digits(value)
        d = d[2:] if len(d) == 13 and d.startswith("86") else d
        if len(d) >= 10:
            self.phones.add(d)

    def problems(self, text: str) -> list[str]:
        """What of the sample's personal data `text` shows: pattern kinds and the values found."""
        text = unicodedata.normalize("NFKC", text)
        names = _squeeze_han(text)
        out = [f"{kind} shape: …{_context(text, kind)}…" for kind in find(text)]
        longest = max(map(len, self.names), default=0)
        for run in HAN.findall(names):
            out += [run[i:i + n] for i in range(len(run)) for n in range(2, min(longest, len(run) - i) + 1)
                    if run[i:i + n] in self.names]
        lowered = text.lower()
        out += [p for p in self.pinyin if p in lowered]
        for run in re.findall(r"[0-9Xx]{15,}", text):
            run = run.upper()
            out += [run[i:i + n] for n in (15, 18) for i in range(len(run) - n + 1) if run[i:i + n] in self.ids]
        joined = re.sub(r"(?<=\d)[ -](?=\d)", "", text)
        for run in re.findall(r"\d{10,}", joined):
            out += [run[i:i + n] for n in (10, 11, 12) for i in range(len(run) - n + 1) if run[i:i + n] in self.phones]
        return out


@pytest.fixture(scope="module")
def personal(published: dict) -> Personal:
    """Names, ID numbers and phones from every delivered file, plus their normalised forms as staged."""
    found = Personal()
    for cfg in load_sources().values():
        kinds = {h: c.type for c in cfg.columns for h in c.headers}
        for path in sorted((published["landing"] / cfg.source).rglob("*")):
            if path.suffix not in DATA_FILES:
                continue
            frame = _read(path)
            for col in frame.columns:
                kind = kinds.get(unicodedata.normalize("NFKC", col).strip())
                values = [v for v in frame[col].drop_nulls().to_list() if v.strip()]
                if kind == "name":  # without the stray spaces some carry (text is searched without them too)
                    found.names |= {n for v in values if len(n := _squeeze(v)) >= 2}
                elif kind == "id_number":
                    for v in values:
                        found.add_id(v)
                elif kind == "phone":
                    for v in values:
                        found.add_phone(v)
    with duckdb.connect(str(published["warehouse"]), read_only=True) as con:
        for cfg in load_sources().values():
            cols = {c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                              "table_schema = 'staged' AND table_name = ?", [cfg.source]).fetchall()}
            for col in sorted(cols):
                rows = [v for (v,) in con.sql(f'SELECT DISTINCT "{col}" FROM staged.{cfg.source} '
                                              f'WHERE "{col}" IS NOT NULL').fetchall()]
                if col.endswith("name") and f"{col}_kind" in cols:
                    found.names |= {n for v in rows if len(n := _squeeze(v)) >= 2}
                elif col.endswith("name_pinyin"):
                    found.pinyin |= {v.lower() for v in rows if len(v) >= 8}
                elif col.endswith("id_number") and f"{col}_status" in cols:
                    for v in rows:
                        found.add_id(v)
                elif col.endswith("phone") and f"{col}_kind" in cols:
                    for v in rows:
                        found.add_phone(v)
    assert len(found.names) > 1000 and len(found.ids) > 1000 and len(found.phones) > 500, "sample not read"
    return found


def _cells(path: Path) -> dict[str, str]:
    """Every table of a database as one text per column: `schema.table.column` → the column's cells, one a line.

    Floating-point columns are searched only where a value is whole (a fraction prints as any digits).
    """
    out = {}
    with duckdb.connect(str(path), read_only=True) as con:
        cols = con.execute("SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                           "WHERE table_catalog = current_database()").fetchall()
        for schema, table, column, dtype in cols:
            q = f'"{column}"'
            expr = (f"CASE WHEN {q} = floor({q}) THEN {q}::HUGEINT::VARCHAR END" if dtype in ("DOUBLE", "FLOAT")
                    else f"{q}::VARCHAR")
            values = con.sql(f'SELECT {expr} FROM "{schema}"."{table}" WHERE {q} IS NOT NULL').fetchall()
            out[f"{schema}.{table}.{column}"] = "\n".join(v for (v,) in values if v is not None)
    return out


def _leaks(personal: Personal, texts: dict[str, str]) -> dict[str, list[str]]:
    return {where: found[:3] for where, text in texts.items() if (found := personal.problems(text))}


# --- the search itself finds personal data where it is -----------------------------------------------------------

def test_the_search_finds_the_personal_data_of_the_restricted_warehouse(published: dict, personal: Personal) -> None:
    leaks = _leaks(personal, _cells(published["warehouse"]))
    for where in ("raw.health.姓名", "raw.health.证件号码", "raw.health.联系电话", "staged.education.record_id",
                  "main.person_xref.record_id", "main.findings.record_id", "main.review_queue.name_l"):
        assert where in leaks, f"the search misses the personal data in {where}"
    assert personal.problems("G" + min(personal.ids)) and all(personal.problems(f"x{n}x") for n in personal.names)


# --- what leaves the restricted warehouse ------------------------------------------------------------------------

def test_analyst_database_holds_no_personal_data(published: dict, personal: Personal) -> None:
    cells = _cells(published["analyst"])
    assert "main.person_xref.record_id" in cells and "main.findings.detail" in cells and len(cells) > 100
    assert _leaks(personal, cells) == {}
    with duckdb.connect(str(published["analyst"]), read_only=True) as con:
        schemas = {s for (s,) in con.sql("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()}
        assert schemas <= {"main", "audit"}, "raw, staged, quarantine, meta and linked stay restricted"
        names = {c for (c,) in con.sql("SELECT column_name FROM information_schema.columns").fetchall()}
        assert not names & {"name", "name_l", "id_number", "phone", "dob_l", "address"}
        refs = con.sql("SELECT record_id FROM person_xref").pl()["record_id"]
        assert refs.str.contains(r"^R-[a-p]{20}$").all() and refs.n_unique() == refs.len()


def test_logs_and_dagster_events_hold_no_personal_data(published: dict, personal: Personal) -> None:
    progress, events = published["progress"], published["events"]
    assert any("published" in line for line in progress) and any("linking" in line for line in progress)
    assert any("ASSET_MATERIALIZATION" in e and "analyst_tables" in e for e in events), "metadata not captured"
    assert _leaks(personal, {f"progress line {i}": line for i, line in enumerate(progress)}) == {}
    assert _leaks(personal, {f"event {i}": e for i, e in enumerate(events)}) == {}
    assert not any(PSEUDONYM_KEY in text for text in [*progress, *events]), "the key itself must not be logged"
    assert not any("public demo key" in line for line in progress), "the key from the environment was not used"


def test_reports_and_exports_hold_no_personal_data(published: dict, personal: Personal, tmp_path: Path) -> None:
    files = [p for p in published["reports"].rglob("*") if p.is_file()]
    assert {"index.html", "data-dictionary.html", "all.csv"} <= {p.name for p in files}
    assert any(p.suffix == ".json" for p in files), "GX results are part of the reports"
    texts = {str(p.relative_to(published["reports"])): p.read_text(encoding="utf-8", errors="replace") for p in files}
    for table in ("findings", "person_xref", "person_link", "audit.expected_missing"):
        out = tmp_path / f"{table}.csv"
        assert hhlink(["query", f"SELECT * FROM {table}", "--warehouse", str(published["warehouse"]),
                       "--out", str(out)]) == 0
        texts[out.name] = out.read_text(encoding="utf-8")
    assert _leaks(personal, texts) == {}


def test_report_record_ref_is_the_record_pseudonym_under_the_key(published: dict) -> None:
    site = pl.read_csv(published["reports"] / "site" / "findings" / "all.csv")
    with duckdb.connect(str(published["warehouse"]), read_only=True) as con:
        restricted = con.sql("SELECT source, record_id, record_ref FROM findings WHERE record_id IS NOT NULL").pl()
    assert restricted.height > 10
    expected = [record_pseudonym(s, r, PSEUDONYM_KEY) for s, r in restricted.select("source", "record_id").rows()]
    assert restricted["record_ref"].to_list() == expected
    assert set(site["record_ref"].drop_nulls()) == set(expected)
    with duckdb.connect(str(published["analyst"]), read_only=True) as con:
        analyst = con.sql("SELECT record_id, record_ref FROM findings WHERE record_id IS NOT NULL").pl()
        xref = con.sql("SELECT count(*) FROM findings f JOIN person_xref x USING (source, record_id)").fetchall()
        key = con.sql("SELECT key_id, demo_key FROM pseudonymisation").fetchall()
    assert (analyst["record_id"] == analyst["record_ref"]).all()  # one pseudonym per record, everywhere
    assert xref[0][0] == analyst.height
    assert key == [(key_id(PSEUDONYM_KEY), False)]


# --- pseudonyms ----------------------------------------------------------------------------------------------------

def _record_pseudonyms(analyst: Path) -> pl.DataFrame:
    with duckdb.connect(str(analyst), read_only=True) as con:
        return con.sql("SELECT source, record_id, person_id FROM person_xref ORDER BY ALL").pl()


def test_pseudonyms_are_stable_with_the_key_and_change_with_another(
        published: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _record_pseudonyms(published["analyst"])
    monkeypatch.setenv(KEY_ENV, PSEUDONYM_KEY)
    again = tmp_path / "again" / "warehouse.duckdb"
    run_pipeline(published["landing"], again, AS_OF.isoformat())
    assert _record_pseudonyms(analyst_path(again)).equals(first)

    monkeypatch.setenv(KEY_ENV, "another key, rotated")
    run_pipeline(published["landing"], again, AS_OF.isoformat())  # the same warehouse, key rotated
    other = _record_pseudonyms(analyst_path(again))
    assert other.height == first.height
    assert not set(other["record_id"]) & set(first["record_id"])  # every pseudonym changed
    assert set(other["person_id"]) == set(first["person_id"])  # issued ids are carried forward
    refs = pl.read_csv(again.parent / "reports" / "site" / "findings" / "all.csv")["record_ref"].drop_nulls()
    old = pl.read_csv(published["reports"] / "site" / "findings" / "all.csv")["record_ref"].drop_nulls()
    assert refs.len() == old.len() > 0 and not set(refs) & set(old)

    # New ids are keyed too: a record key can embed an ID number, so without the key nobody
    # can compute a person's id from their ID number.
    fresh = tmp_path / "fresh" / "warehouse.duckdb"
    run_pipeline(published["landing"], fresh, AS_OF.isoformat())
    assert not set(_record_pseudonyms(analyst_path(fresh))["person_id"]) & set(first["person_id"])


def test_sql_and_python_pseudonyms_agree() -> None:
    values = ["employment:610302198702201181", "education:G61033019911023932X", "学籍号", "", "a" * 300, None]
    con = duckdb.connect()
    for key in ("k", "x" * 100, DEMO_KEY, "密钥 with spaces"):
        install_sql_pseudonym(con, key)
        got = [con.execute("SELECT hh_pseudonym(?)", [v]).fetchall()[0][0] for v in values]
        assert got == [pseudonym(v, key) for v in values]
        assert all(re.fullmatch(r"R-[a-p]{20}", g) for g in got if g is not None)
    assert pseudonym("x", "k1") != pseudonym("x", "k2") and key_id("k1") != key_id("k2")
    with pytest.raises(ValueError):
        pseudonym("x", "")


def test_the_key_reaches_dagster_as_an_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert resource_from_env().pseudonym_key == DEMO_KEY
    monkeypatch.setenv(KEY_ENV, "from the environment")
    res = resource_from_env()
    assert isinstance(res.pseudonym_key, dg.EnvVar) and res.pseudonym_key.env_var_name == KEY_ENV


# --- the analyst build fails closed --------------------------------------------------------------------------------

def _work_db(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE contacts AS SELECT 'health' AS source, 'H' || i AS record_id, "
                    "'1380013' || lpad(i::VARCHAR, 4, '0') AS phone, i AS n FROM range(20) t(i)")
    return path


def test_analyst_build_refuses_personal_data_in_a_column_classed_harmless(tmp_path: Path) -> None:
    work = _work_db(tmp_path / "work.duckdb")
    wrong = {"contacts": Table("contacts", "t", (Column("source", "s"), Column("record_id", "k", "pseudonymise"),
                                                 Column("phone", "p"), Column("n", "n")))}
    out = tmp_path / "a.duckdb"
    with pytest.raises(PersonalDataFound, match=r"contacts\.phone: 20 value\(s\) shaped like mobile"):
        build_analyst(work, out, wrong, "k")
    assert not out.exists()
    right = {"contacts": Table("contacts", "t", (Column("source", "s"), Column("record_id", "k", "pseudonymise"),
                                                 Column("phone", "p", "drop")))}
    built = build_analyst(work, out, right, "k")
    assert (built.pseudonymised, built.dropped, built.withheld) == (1, 1, ["contacts.n"])  # undocumented: left out
    with duckdb.connect(str(out), read_only=True) as con:
        assert set(con.sql("SELECT source, record_id FROM contacts").fetchall()) == \
            {("health", record_pseudonym("health", f"H{i}", "k")) for i in range(20)}
        comment = con.sql("SELECT comment FROM duckdb_columns() WHERE column_name = 'record_id'").fetchall()[0][0]
    assert "pseudonym" in comment


def test_stale_analyst_tmp_files_of_killed_runs_are_removed(tmp_path: Path) -> None:
    from privacy.analyst import prepare

    work = _work_db(tmp_path / "work.duckdb")
    target = tmp_path / "w.analyst.duckdb"
    (tmp_path / "w.analyst.duckdb.tmp-killed").write_bytes(b"left by a killed run")
    built = prepare(work, target, "run2", {}, "k")
    assert built.tmp.exists() and built.path == target
    assert [p.name for p in tmp_path.glob("w.analyst.duckdb.tmp-*")] == ["w.analyst.duckdb.tmp-run2"]
