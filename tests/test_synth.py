"""The synthetic generator: real files, read back the way the pipeline reads them."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from ingest.normalise import gb11643
from ingest.sources import load_sources
from synth import generate

AS_OF = date(2026, 10, 31)
SOURCES = ("civil_affairs", "education", "health", "housing", "employment")
FINDING_TYPES = {"deceased_receiving_assistance", "deceased_receiving_pension", "duplicate_assistance",
                 "school_age_not_enrolled", "conflicting_birth_date", "conflicting_sex", "shared_id_number",
                 "review_overdue"}


@pytest.fixture(scope="module")
def typical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("typical")
    generate(3000, 5, out, "typical", as_of=AS_OF)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _encoding(raw: bytes) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        raw.decode("gb18030")
        return "gb18030"


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        raw = path.read_bytes()
        enc = "gb18030" if _encoding(raw) == "gb18030" else "utf8"
        return pl.read_csv(raw, encoding=enc, infer_schema=False)
    if path.suffix == ".xlsx":
        return pl.read_excel(path, engine="calamine", infer_schema_length=0)
    return pl.read_parquet(path)


def _deliveries(out: Path) -> dict[tuple[str, str], pl.DataFrame]:
    res = {}
    for folder in sorted((out / "landing").glob("*/*")):
        files = sorted(p for p in folder.iterdir() if p.name != "MANIFEST.json")
        frames = [_read(p).with_columns(pl.lit(p.name).alias("__file")) for p in files]
        res[(folder.parent.name, folder.name)] = pl.concat(frames)
    return res


def test_same_seed_same_bytes(typical: Path, tmp_path: Path) -> None:
    generate(3000, 5, tmp_path, "typical", as_of=AS_OF)
    a, b = _files(typical), _files(tmp_path)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


def test_other_seed_differs(typical: Path, tmp_path: Path) -> None:
    generate(3000, 6, tmp_path, "typical", as_of=AS_OF)
    assert _files(typical) != _files(tmp_path)


def test_every_delivery_readable_with_config_headers(typical: Path) -> None:
    cfgs = load_sources()
    got = _deliveries(typical)
    assert {s for s, _ in got} == set(SOURCES)
    for (source, _), df in got.items():
        headers = [c.header for c in cfgs[source].columns]
        assert [c for c in df.columns if c != "__file"] == headers, source
        key = cfgs[source].key.header
        assert df[key].null_count() == 0 and df[key].n_unique() == df.height, source


def test_formats_and_encodings(typical: Path) -> None:
    files = [p for p in (typical / "landing").rglob("*") if p.is_file() and p.name != "MANIFEST.json"]
    assert {p.suffix for p in files} == {".csv", ".xlsx", ".parquet"}
    encs = {_encoding(p.read_bytes()) for p in files if p.suffix == ".csv"}
    assert encs == {"utf-8", "utf-8-sig", "gb18030"}
    for p in files:
        if p.suffix == ".parquet":
            assert all(dt == pl.String for dt in pl.read_parquet_schema(p).values())
    # two deliveries for some sources, a stale housing extract
    dates = {s: sorted(d.name for d in (typical / "landing" / s).iterdir()) for s in SOURCES}
    assert any(len(v) == 2 for v in dates.values())
    assert dates["housing"][-1] <= "2026-04-30"


def test_manifests_agree_with_files(typical: Path) -> None:
    manifests = sorted((typical / "landing").rglob("MANIFEST.json"))
    assert manifests
    for m in manifests:
        doc = json.loads(m.read_text(encoding="utf-8"))
        assert doc["source"] == m.parent.parent.name and doc["as_of"] == m.parent.name
        for f in doc["files"]:
            p = m.parent / f["name"]
            assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"]
            assert _read(p).height == f["rows"]


def test_truth_matches_landing(typical: Path) -> None:
    cfgs = load_sources()
    truth = pl.read_parquet(typical / "truth" / "records.parquet")
    for col in ("source", "record_id", "person_uid", "household_uid", "as_of", "id_form", "name_typo",
                "is_minority", "age", "is_migrant", "is_duplicate"):
        assert col in truth.columns
    landed = pl.concat([
        df.select(pl.lit(s).alias("source"), pl.lit(d).str.to_date().alias("as_of"),
                  pl.col(cfgs[s].key.header).alias("record_id"), pl.col("__file").alias("file"))
        for (s, d), df in _deliveries(typical).items()
    ])
    key = ["source", "as_of", "record_id"]
    assert truth.join(landed, on=key, how="anti").height == 0
    assert landed.join(truth, on=key, how="anti").height == 0
    both = truth.join(landed, on=key)
    assert (both["file"] == both["file_right"]).all()
    persons = pl.read_parquet(typical / "truth" / "persons.parquet")
    assert truth.join(persons, on="person_uid", how="anti").height == 0
    # about 2.5-3 records per person over all deliveries
    assert 2.2 < truth.height / persons.height < 3.5


def test_ids_match_truth_forms(typical: Path) -> None:
    cfgs = load_sources()
    truth = pl.read_parquet(typical / "truth" / "records.parquet")
    persons = pl.read_parquet(typical / "truth" / "persons.parquet").select("person_uid", "id_number")
    for (s, d), df in _deliveries(typical).items():
        cfg = cfgs[s]
        t = truth.filter((pl.col("source") == s) & (pl.col("as_of") == date.fromisoformat(d)))
        got = df.select(pl.col(cfg.key.header).alias("record_id"),
                        pl.col(cfg.column("id_number").header).alias("text"))
        j = t.join(got, on="record_id").join(persons, on="person_uid")
        valid = j.filter(pl.col("id_form") == "valid")
        assert valid.height > 0
        assert (valid["text"] == valid["id_number"]).all(), s
        assert valid.select(gb11643.has_valid_check(pl.col("text"))).to_series().all()
        for form in ("invalid_check", "transposed"):
            bad = j.filter(pl.col("id_form") == form)
            if bad.height:
                assert not bad.select(gb11643.has_valid_check(pl.col("text"))).to_series().any(), (s, form)
        up = j.filter(pl.col("id_form") == "upgraded_15")
        if up.height:
            assert (up.select(gb11643.upgrade_15(pl.col("text"))).to_series() == up["id_number"]).all()
        assert j.filter(pl.col("id_form") == "lower_x")["text"].str.ends_with("x").all()
        empty = j.filter(pl.col("id_form").is_in(["blank", "no_id"]))
        assert empty["text"].null_count() == empty.height


def test_ids_consistent_with_birth_and_sex(typical: Path) -> None:
    p = pl.read_parquet(typical / "truth" / "persons.parquet").filter(pl.col("id_number").is_not_null())
    chk = p.select(
        gb11643.has_valid_check(pl.col("id_number")).alias("ok"),
        (gb11643.birth_date(pl.col("id_number")) == pl.col("birth_date")).alias("birth"),
        (gb11643.sex(pl.col("id_number")) == pl.col("sex")).alias("sex"),
    )
    assert chk["ok"].all() and chk["birth"].all() and chk["sex"].all()
    assert p["id_number"].n_unique() == p.height


def test_every_finding_type_injected(typical: Path) -> None:
    f = pl.read_parquet(typical / "truth" / "findings.parquet")
    assert set(f["finding_type"].unique()) >= FINDING_TYPES
    truth = pl.read_parquet(typical / "truth" / "records.parquet")
    with_record = f.filter(pl.col("record_id").is_not_null())
    assert with_record.join(truth, on=["source", "as_of", "record_id"], how="anti").height == 0
    hard = pl.read_parquet(typical / "truth" / "hardship.parquet")
    assert hard.height > 0 and (hard["n_reasons"] >= 2).all()
    hh = pl.read_parquet(typical / "truth" / "households.parquet")
    assisted = hh.filter(pl.col("assisted"))["household_uid"]
    assert not hard["household_uid"].is_in(assisted.implode()).any()


def test_pension_and_assistance_findings_show_in_the_data(typical: Path) -> None:
    cfgs = load_sources()
    f = pl.read_parquet(typical / "truth" / "findings.parquet")
    got = _deliveries(typical)
    for kind, source, header, ok in (
        ("deceased_receiving_pension", "employment", "养老金月额", lambda v: v is not None and v != ""),
        ("deceased_receiving_assistance", "civil_affairs", "保障状态", lambda v: v == "在保"),
    ):
        rows = f.filter(pl.col("finding_type") == kind)
        d = rows["as_of"][0].isoformat()
        df = got[(source, d)].join(rows, left_on=cfgs[source].key.header, right_on="record_id")
        assert df.height == rows.height > 0
        assert all(ok(v) for v in df[header].to_list()), kind


def test_population_shapes(typical: Path) -> None:
    p = pl.read_parquet(typical / "truth" / "persons.parquet")
    hh = pl.read_parquet(typical / "truth" / "households.parquet")
    assert p.height == 3000
    assert set(hh["shape"]) >= {"couple_children", "three_generation", "left_behind", "elderly_alone",
                                "single_parent", "in_migrant"}
    assert p["village_code"].str.len_chars().unique().to_list() == [12]
    assert p["county_code"].str.starts_with("6103").all()
    assert p["is_minority"].any() and p["is_deceased"].any()
    left = hh.filter(pl.col("shape") == "left_behind")["household_uid"]
    kids = p.filter(pl.col("household_uid").is_in(left.implode()) & (pl.col("age") < 16))
    guardians = p.filter(pl.col("person_uid").is_in(kids["guardian_uid"].implode()))
    assert guardians.height > 0 and (guardians["generation_label"] == "grandparent").all()


@pytest.mark.parametrize("profile", ["clean", "hard"])
def test_profiles_deliver_every_source(profile: str, tmp_path: Path) -> None:
    s = generate(800, 3, tmp_path, profile, as_of=AS_OF)
    assert {d.source for d in s.deliveries} == set(SOURCES)
    truth = pl.read_parquet(tmp_path / "truth" / "records.parquet")
    blank = truth.filter(pl.col("id_form").is_in(["blank", "no_id"])).height / truth.height
    assert (blank < 0.02) if profile == "clean" else (blank > 0.04)


def test_large_deliveries_split(tmp_path: Path) -> None:
    s = generate(1200, 9, tmp_path, "typical", as_of=AS_OF, max_rows_per_file=400)
    health = next(d for d in s.deliveries if d.source == "health")
    assert len(health.files) > 1
    assert health.files[0].name.endswith(f"_{AS_OF:%Y%m%d}_01{health.files[0].suffix}")
    assert sum(_read(f).height for f in health.files) == health.rows
