"""The synthetic generator: real files, read back the way the pipeline reads them."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ingest.normalise import gb11643
from ingest.sources import load_sources
from synth import attributes, deliveries, generate, geography, population
from synth.chunks import CHUNK_ENV, Chunk, chunk_persons_from_env, chunk_sizes
from synth.profiles import get_profile
from synth.rng import stream

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


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same population size generated in three chunks of 1,000 persons."""
    out = tmp_path_factory.mktemp("chunked")
    generate(3000, 5, out, "typical", as_of=AS_OF, chunk_persons=1000)
    return out


@pytest.fixture(params=["typical", "chunked"])
def zone(request: pytest.FixtureRequest) -> Path:
    """Each guarantee below holds for a population generated whole and for one generated in chunks."""
    return request.getfixturevalue(request.param)


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


def test_every_delivery_readable_with_config_headers(zone: Path) -> None:
    cfgs = load_sources()
    got = _deliveries(zone)
    assert {s for s, _ in got} == set(SOURCES)
    for (source, _), df in got.items():
        headers = [c.header for c in cfgs[source].columns]
        assert [c for c in df.columns if c != "__file"] == headers, source
        key = cfgs[source].key.header
        assert df[key].null_count() == 0 and df[key].n_unique() == df.height, source


def test_formats_and_encodings(zone: Path) -> None:
    files = [p for p in (zone / "landing").rglob("*") if p.is_file() and p.name != "MANIFEST.json"]
    assert {p.suffix for p in files} == {".csv", ".xlsx", ".parquet"}
    encs = {_encoding(p.read_bytes()) for p in files if p.suffix == ".csv"}
    assert encs == {"utf-8", "utf-8-sig", "gb18030"}
    for p in files:
        if p.suffix == ".parquet":
            assert all(dt == pl.String for dt in pl.read_parquet_schema(p).values())
    # two deliveries for some sources, a stale housing extract
    dates = {s: sorted(d.name for d in (zone / "landing" / s).iterdir()) for s in SOURCES}
    assert any(len(v) == 2 for v in dates.values())
    assert dates["housing"][-1] <= "2026-04-30"


def test_manifests_agree_with_files(zone: Path) -> None:
    manifests = sorted((zone / "landing").rglob("MANIFEST.json"))
    assert manifests
    for m in manifests:
        doc = json.loads(m.read_text(encoding="utf-8"))
        assert doc["source"] == m.parent.parent.name and doc["as_of"] == m.parent.name
        listed = [f["name"] for f in doc["files"]]
        assert sorted(listed) == sorted(p.name for p in m.parent.iterdir() if p.name != "MANIFEST.json")
        for f in doc["files"]:
            p = m.parent / f["name"]
            assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"]
            assert _read(p).height == f["rows"]


def test_truth_matches_landing(zone: Path) -> None:
    cfgs = load_sources()
    truth = pl.read_parquet(zone / "truth" / "records.parquet")
    for col in ("source", "record_id", "person_uid", "household_uid", "as_of", "id_form", "name_typo",
                "is_minority", "age", "is_migrant", "is_duplicate"):
        assert col in truth.columns
    landed = pl.concat([
        df.select(pl.lit(s).alias("source"), pl.lit(d).str.to_date().alias("as_of"),
                  pl.col(cfgs[s].key.header).alias("record_id"), pl.col("__file").alias("file"))
        for (s, d), df in _deliveries(zone).items()
    ])
    key = ["source", "as_of", "record_id"]
    assert truth.join(landed, on=key, how="anti").height == 0
    assert landed.join(truth, on=key, how="anti").height == 0
    both = truth.join(landed, on=key)
    assert (both["file"] == both["file_right"]).all()
    persons = pl.read_parquet(zone / "truth" / "persons.parquet")
    assert truth.join(persons, on="person_uid", how="anti").height == 0
    # about 2.5-3 records per person over all deliveries
    assert 2.2 < truth.height / persons.height < 3.5


def test_ids_match_truth_forms(zone: Path) -> None:
    cfgs = load_sources()
    truth = pl.read_parquet(zone / "truth" / "records.parquet")
    persons = pl.read_parquet(zone / "truth" / "persons.parquet").select("person_uid", "id_number")
    for (s, d), df in _deliveries(zone).items():
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


def test_ids_consistent_with_birth_and_sex(zone: Path) -> None:
    p = pl.read_parquet(zone / "truth" / "persons.parquet").filter(pl.col("id_number").is_not_null())
    chk = p.select(
        gb11643.has_valid_check(pl.col("id_number")).alias("ok"),
        (gb11643.birth_date(pl.col("id_number")) == pl.col("birth_date")).alias("birth"),
        (gb11643.sex(pl.col("id_number")) == pl.col("sex")).alias("sex"),
    )
    assert chk["ok"].all() and chk["birth"].all() and chk["sex"].all()
    assert p["id_number"].n_unique() == p.height


def test_every_finding_type_injected(zone: Path) -> None:
    f = pl.read_parquet(zone / "truth" / "findings.parquet")
    assert set(f["finding_type"].unique()) >= FINDING_TYPES
    truth = pl.read_parquet(zone / "truth" / "records.parquet")
    with_record = f.filter(pl.col("record_id").is_not_null())
    assert with_record.join(truth, on=["source", "as_of", "record_id"], how="anti").height == 0
    hard = pl.read_parquet(zone / "truth" / "hardship.parquet")
    assert hard.height > 0 and (hard["n_reasons"] >= 2).all()
    hh = pl.read_parquet(zone / "truth" / "households.parquet")
    assisted = hh.filter(pl.col("assisted"))["household_uid"]
    assert not hard["household_uid"].is_in(assisted.implode()).any()


def test_pension_and_assistance_findings_show_in_the_data(zone: Path) -> None:
    cfgs = load_sources()
    f = pl.read_parquet(zone / "truth" / "findings.parquet")
    got = _deliveries(zone)
    for kind, source, header, ok in (
        ("deceased_receiving_pension", "employment", "养老金月额", lambda v: v is not None and v != ""),
        ("deceased_receiving_assistance", "civil_affairs", "保障状态", lambda v: v == "在保"),
    ):
        rows = f.filter(pl.col("finding_type") == kind)
        d = rows["as_of"][0].isoformat()
        df = got[(source, d)].join(rows, left_on=cfgs[source].key.header, right_on="record_id")
        assert df.height == rows.height > 0
        assert all(ok(v) for v in df[header].to_list()), kind


def test_population_shapes(zone: Path) -> None:
    p = pl.read_parquet(zone / "truth" / "persons.parquet")
    hh = pl.read_parquet(zone / "truth" / "households.parquet")
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


# --- chunks ---------------------------------------------------------------------------------------------


def test_chunk_sizes() -> None:
    assert chunk_sizes(5_000_000, 1_000_000) == [1_000_000] * 5
    assert chunk_sizes(1_000_000, 1_000_000) == [1_000_000]
    assert chunk_sizes(2_500, 1_000) == [834, 833, 833]
    with pytest.raises(ValueError, match="at most 100"):
        chunk_sizes(1_000_000, 1_000)


def test_chunk_size_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CHUNK_ENV, raising=False)
    assert chunk_persons_from_env(None) == 1_000_000
    monkeypatch.setenv(CHUNK_ENV, "1_000")
    assert chunk_persons_from_env(None) == 1000 and chunk_persons_from_env(5000) == 5000
    s = generate(2500, 3, tmp_path, "clean", as_of=AS_OF)
    health = next(d for d in s.deliveries if d.source == "health")
    assert [f.stem for f in health.files] == [f"参保人员_{AS_OF:%Y%m%d}_{k:02d}" for k in (1, 2, 3)]
    monkeypatch.setenv(CHUNK_ENV, "many")
    with pytest.raises(ValueError, match=CHUNK_ENV):
        generate(2500, 3, tmp_path, "clean", as_of=AS_OF)


def test_chunked_same_seed_same_bytes(chunked: Path, tmp_path: Path) -> None:
    generate(3000, 5, tmp_path, "typical", as_of=AS_OF, chunk_persons=1000)
    a, b = _files(chunked), _files(tmp_path)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


def test_one_chunk_is_the_whole_population(typical: Path, tmp_path: Path) -> None:
    generate(3000, 5, tmp_path, "typical", as_of=AS_OF, chunk_persons=3000)
    assert _files(typical) == _files(tmp_path)


def test_chunked_population_numbered_once(chunked: Path) -> None:
    p = pl.read_parquet(chunked / "truth" / "persons.parquet")
    hh = pl.read_parquet(chunked / "truth" / "households.parquet")
    assert p["person_uid"].to_list() == [f"P{i:08d}" for i in range(1, 3001)]
    assert hh["household_uid"].to_list() == [f"H{i:07d}" for i in range(1, hh.height + 1)]
    assert hh["n_members"].sum() == 3000
    assert p.join(hh, on="household_uid", how="anti").height == 0
    for col in ("id_number", "mobile"):
        shown = p[col].drop_nulls()
        assert shown.n_unique() == shown.len(), col
    # everyone's relatives are in their own household
    kin = p.filter(pl.col("guardian_uid").is_not_null()).join(
        p.select(pl.col("person_uid").alias("guardian_uid"), pl.col("household_uid").alias("g_household")),
        on="guardian_uid")
    assert kin.height > 0 and (kin["household_uid"] == kin["g_household"]).all()


def test_chunked_household_numbers_unique(chunked: Path) -> None:
    """户编号 continues each village's numbering over the chunks: one household, one number."""
    cfg = load_sources()["civil_affairs"]
    truth = pl.read_parquet(chunked / "truth" / "records.parquet").filter(
        (pl.col("source") == "civil_affairs") & ~pl.col("is_duplicate"))
    for (s, d), df in _deliveries(chunked).items():
        if s != "civil_affairs":
            continue
        got = df.select(pl.col(cfg.key.header).alias("record_id"), pl.col(cfg.column("household_no").header)
                        .alias("hh_no")).join(truth.filter(pl.col("as_of") == date.fromisoformat(d)),
                                              on="record_id")
        assert got.height > 0
        assert got.group_by("hh_no").agg(pl.col("household_uid").n_unique())["household_uid"].max() == 1
        assert got.group_by("household_uid").agg(pl.col("hh_no").n_unique())["hh_no"].max() == 1


def test_chunks_never_share_drawn_numbers() -> None:
    """Two chunks fed the very same random streams still draw different IDs, phones and record keys."""
    geo = geography.build(2000, stream(1, "geography"))
    prof = get_profile("typical")

    def rng_for(name: str) -> np.random.Generator:
        return stream(1, name)

    def build(index: int) -> tuple[population.Population, pl.DataFrame, pl.DataFrame]:
        chunk = Chunk(index=index, count=2, person_offset=1000 * index)
        pop = attributes.add(population.build(1000, rng_for, AS_OF, prof, geo, chunk), rng_for, AS_OF)
        A = deliveries.Arrays.of(pop)
        return pop, deliveries.health(A, rng_for("d.health"), prof, AS_OF), \
            deliveries.employment(A, rng_for("d.employment"), prof, AS_OF, date(2026, 9, 30))[AS_OF]

    (a, health_a, emp_a), (b, health_b, emp_b) = build(0), build(1)
    assert a.persons["name"].to_list() == b.persons["name"].to_list()   # the same draws ...
    for col in ("id_number", "mobile"):                                   # ... but never the same numbers
        shared = set(a.persons[col].drop_nulls()) & set(b.persons[col].drop_nulls())
        assert not shared, col
    ids = a.persons["id_number"].drop_nulls()
    assert (ids.str.slice(14, 3).cast(pl.Int64) // 2 % 2 == 0).all()     # chunk 0 of 2: even sequence halves
    landline = set(a.households["landline"].drop_nulls()) & set(b.households["landline"].drop_nulls())
    assert not landline
    assert not set(health_a["record_id"]) & set(health_b["record_id"])
    sb = [set(e.filter(pl.col("record_id").str.starts_with("SB"))["record_id"]) for e in (emp_a, emp_b)]
    assert sb[0] and not sb[0] & sb[1]


def test_chunked_landing_ingests_links_and_finds(chunked: Path, tmp_path: Path) -> None:
    """The pipeline reads a chunked landing zone whole: every record staged or quarantined, every current
    record has a truth row, linkage as good as usual, and the findings are exactly the truth's."""
    import duckdb

    from pipelines.runner import run_pipeline
    from resolution.evaluate import evaluate

    wh = tmp_path / "warehouse.duckdb"
    run_pipeline(chunked / "landing", wh, AS_OF.isoformat())
    with duckdb.connect(str(wh), read_only=True) as con:
        dl = con.sql("SELECT source, as_of, status, rows_delivered, rows_staged, rows_quarantined "
                     "FROM deliveries").pl()
        found = con.sql("SELECT finding_type, source, record_id, person_id FROM findings").pl()
    truth = pl.read_parquet(chunked / "truth" / "records.parquet")
    per_delivery = truth.group_by("source", "as_of").len()
    assert dl.height == per_delivery.height and (dl["status"] == "accepted").all()
    j = dl.join(per_delivery, on=["source", "as_of"])
    assert (j["rows_delivered"] == j["len"]).all()
    assert (j["rows_delivered"] == j["rows_staged"] + j["rows_quarantined"]).all()

    report = evaluate(chunked / "truth", wh)
    newest = truth.filter(pl.col("as_of") == pl.col("as_of").max().over("source"))
    assert report.matched_records == report.records > 0.99 * newest.height
    assert report.person_pairwise.f1 > 0.99

    expected = pl.read_parquet(chunked / "truth" / "findings.parquet")
    assert expected["finding_type"].n_unique() == 8
    for kind, t in expected.group_by("finding_type"):
        f = found.filter(pl.col("finding_type") == kind[0])
        assert f.height == t.height, kind
        if t["record_id"].null_count() == 0:
            assert set(zip(f["source"], f["record_id"], strict=True)) == \
                set(zip(t["source"], t["record_id"], strict=True)), kind
