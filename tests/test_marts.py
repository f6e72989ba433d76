"""The marts: persons, households, their profile, early warning, the discovery and thin-file lists.

Unit tests write a few hand-made records straight into a fresh warehouse (the staged
current views, `person_xref`, `household_member`, `findings`, `source_freshness`: what
the marts read) and build the marts from it with the real policy file. The integration
test runs the whole pipeline through Dagster on the shared generated landing zone and
scores the discovery list against the generator's truth.
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from ingest import db
from ingest.sources import load_sources
from ingest.stage import PERSON_COLUMNS
from marts.build import MART_NAMES, build_marts, write_marts
from marts.catalog import MART_TABLES
from marts.evaluate import evaluate_discovery, household_matches, person_households, truth_household_marts
from marts.policy import DEFAULT_PATH, PolicyError, load_policy
from tests.conftest import AS_OF

W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(region: str, born: date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W, strict=True)) % 11]


OWN: dict[str, dict[str, pl.DataType]] = {
    "civil_affairs": {"household_no": pl.String(), "relation": pl.String(), "assistance_category": pl.String(),
                      "assistance_status": pl.String(), "monthly_amount": pl.Float64(),
                      "per_capita_income": pl.Float64(), "verified_on": pl.Date()},
    "employment": {"employment_status": pl.String(), "unemployed_since": pl.Date(), "employer": pl.String(),
                   "monthly_wage": pl.Float64(), "monthly_pension": pl.Float64(), "updated_on": pl.Date()},
    "health": {"chronic": pl.String(), "major_illness": pl.String(), "disability_level": pl.String(),
               "oop_medical": pl.Float64(), "hospital_stays": pl.Int64(), "death_date": pl.Date(),
               "updated_on": pl.Date()},
    "housing": {"housing_type": pl.String(), "floor_area": pl.Float64(), "danger_rating": pl.String(),
                "renovation_subsidy": pl.Float64(), "updated_on": pl.Date()},
    "education": {"school": pl.String(), "school_stage": pl.String(), "grade": pl.String(),
                  "enrolment_status": pl.String(), "aid": pl.String(), "updated_on": pl.Date()},
}
RURAL_A = "陕西省宝鸡市陈仓区黄兴镇党家坡村2组"
URBAN = "陕西省宝鸡市渭滨区东风路街道平林社区桃峰家园7栋1单元1502室"
NAMES: list[str] = []   # every name used, to prove none reaches a mart
IDS: list[str] = []


def rec(source: str, record_id: str, person: str, name: str, born: date | None, sex: str | None,
        address: str | None = None, id_status: str = "valid", admin: str | None = None, **own) -> dict:
    """One staged record of `person` (the person id it is linked to is kept in `_person`)."""
    row: dict = {c: None for f in PERSON_COLUMNS.values() for c in f} | {c: None for c in OWN[source]}
    ident = make_id("610304", born, 10 + len(IDS)) if born else None
    if id_status == "bad_check" and ident:
        ident = ident[:-1] + ("0" if ident[-1] != "0" else "1")
    NAMES.append(name)
    if ident:
        IDS.append(ident)
    row.update(source=source, as_of=AS_OF, record_id=record_id, _person=person, name=name, name_pinyin=name,
               sex=sex, birth_date=born, id_number=ident, id_number_status=id_status if ident else "blank",
               id_number_birth_date=born if id_status == "valid" else None,
               id_number_sex=sex if id_status == "valid" else None, address=address)
    if address:
        row["address_township"] = next((p for p in ("黄兴镇", "东风路街道", "柳林镇") if p in address), None)
        row["address_village"] = next((p for p in ("党家坡村", "平林社区", "石阳村") if p in address), None)
    if admin:
        row.update(admin_code=admin, admin_code_county=admin[:6], admin_code_township=admin[:9],
                   admin_code_village=admin)
    row.update(own)
    return row


def b(y: int, m: int = 6, d: int = 1) -> date:
    return date(y, m, d)


# Households (H*), persons (P*). What each should raise under the default policy is in EXPECTED.
RECORDS = [
    # HA: rural, not assisted; one registered unemployed, one with a 一级 disability (no farm income imputed), a
    # 16-year-old who dropped out (imputed): 2 × 6000 over 3 members is low. Low income + disability + unemployment.
    rec("employment", "EA1", "PA1", "王建国", b(1986), "M", RURAL_A, employment_status="失业登记",
        unemployed_since=date(2026, 1, 10), updated_on=date(2026, 10, 1)),
    rec("health", "HA1", "PA1", "王建国", b(1986), "M", RURAL_A, chronic="否", oop_medical=800.0,
        updated_on=date(2026, 9, 1)),
    rec("housing", "FA1", "PA1", "王建国", None, None, RURAL_A, admin="610304102206", housing_type="农村自建房",
        danger_rating="B", floor_area=120.0, updated_on=date(2026, 3, 1)),
    rec("health", "HA2", "PA2", "李秀英", b(1988), "F", RURAL_A, chronic="否", disability_level="一级",
        oop_medical=1500.0, updated_on=date(2026, 9, 1)),
    rec("education", "SA3", "PA3", "王小明", b(2010), "M", RURAL_A, school_stage="高中", enrolment_status="辍学",
        updated_on=date(2026, 9, 1)),
    # HB: the same hardship, but 在保 in civil affairs: flags yes, discovery no.
    rec("civil_affairs", "CB1", "PB1", "张伟", b(1980), "M", RURAL_A, admin="610304102206", relation="户主",
        household_no="6103041022060001", assistance_category="低保", assistance_status="在保", monthly_amount=300.0,
        per_capita_income=2500.0, verified_on=date(2026, 6, 1)),
    rec("employment", "EB1", "PB1", "张伟", b(1980), "M", None, employment_status="失业登记",
        updated_on=date(2026, 10, 1)),
    rec("health", "HB2", "PB2", "刘芳", b(1982), "F", RURAL_A, disability_level="二级", updated_on=date(2026, 9, 1)),
    rec("civil_affairs", "CB2", "PB2", "刘芳", b(1982), "F", RURAL_A, admin="610304102206", relation="配偶",
        household_no="6103041022060001", assistance_category="低保", assistance_status="停保",
        per_capita_income=2500.0, verified_on=date(2025, 6, 1)),
    # HC: urban, earns 5000 a month, one 一级 disability: one flag only; a school-age child with no enrolment.
    rec("employment", "EC1", "PC1", "陈静", b(1985), "F", URBAN, employment_status="在职", monthly_wage=5000.0,
        updated_on=date(2026, 10, 1)),
    rec("health", "HC1", "PC1", "陈静", b(1985), "F", URBAN, disability_level="一级", updated_on=date(2026, 9, 1)),
    rec("health", "HC2", "PC2", "陈小雨", b(2017), "F", URBAN, updated_on=date(2026, 9, 1)),
    # HD: urban, a worker whose wage is blank and a registered unemployed: income incomplete, so no low-income flag.
    rec("employment", "ED1", "PD1", "赵磊", b(1979), "M", URBAN, employment_status="在职", monthly_wage=None,
        updated_on=date(2026, 10, 1)),
    rec("employment", "ED2", "PD2", "孙丽", b(1981), "F", URBAN, employment_status="失业登记",
        updated_on=date(2026, 10, 1)),
    # HE: rural, 70, assistance stopped (停保) with a declared income above the line, a major illness costing
    # 30,000, a D-rated house: illness + dangerous house → listed, as previously assisted.
    rec("employment", "EE1", "PE1", "周大山", b(1956), "M", RURAL_A, employment_status="退休", monthly_pension=200.0,
        updated_on=date(2026, 10, 1)),
    rec("health", "HE1", "PE1", "周大山", b(1956), "M", RURAL_A, major_illness="恶性肿瘤", oop_medical=30000.0,
        hospital_stays=3, updated_on=date(2026, 9, 1)),
    rec("housing", "FE1", "PE1", "周大山", None, None, "陕西省宝鸡市陈仓区柳林镇石阳村1组", admin="610304103201",
        housing_type="农村自建房", danger_rating="D", updated_on=date(2026, 3, 1)),
    rec("civil_affairs", "CE1", "PE1", "周大山", b(1956), "M", RURAL_A, relation="户主",
        household_no="6103041032010001", assistance_category="临时救助", assistance_status="停保",
        per_capita_income=9000.0, verified_on=date(2025, 12, 1)),
    # HF: a person only health knows, whose ID fails its check digit: a thin file twice over.
    rec("health", "HF1", "PF1", "吴一凡", b(1990), "M", URBAN, id_status="bad_check", updated_on=date(2026, 9, 1)),
    # HG: the disabled member died; the survivor is registered unemployed with farm income above the line.
    rec("health", "HG1", "PG1", "郑老汉", b(1940), "M", RURAL_A, disability_level="一级",
        death_date=date(2026, 5, 1), updated_on=date(2026, 5, 20)),
    rec("employment", "EG2", "PG2", "郑小军", b(1996), "M", RURAL_A, employment_status="失业登记",
        updated_on=date(2026, 10, 1)),
]
HOUSEHOLDS = {"HA": ["PA1", "PA2", "PA3"], "HB": ["PB1", "PB2"], "HC": ["PC1", "PC2"], "HD": ["PD1", "PD2"],
              "HE": ["PE1"], "HF": ["PF1"], "HG": ["PG1", "PG2"]}
EXPECTED = {
    "HA": {"low_income", "schooling", "disability", "unemployment"},
    "HB": {"low_income", "disability", "unemployment"},
    "HC": {"disability", "schooling"},
    "HD": {"unemployment"},
    "HE": {"illness", "dangerous_house"},
    "HF": {"low_income"},                 # no income the data can see (absent adults count as earning nothing)
    "HG": {"unemployment"},
}


def write_warehouse(path: Path) -> None:
    frame = pl.DataFrame(RECORDS, infer_schema_length=None)
    with db.connect(path) as con:
        db.ensure_schemas(con)
        for source, own in OWN.items():
            schema = {"source": pl.String(), "as_of": pl.Date(), "record_id": pl.String(),
                      **{c: t for f in PERSON_COLUMNS.values() for c, t in f.items()}, **own}
            part = frame.filter(pl.col("source") == source).select(list(schema)).cast(schema)
            db.replace(con, f"staged.{source}", part)
            con.execute(f"CREATE VIEW staged.current_{source} AS SELECT * FROM staged.{source}")
        db.replace(con, "person_xref", frame.select("source", "record_id", pl.col("_person").alias("person_id"),
                                                    "as_of"))
        members = [{"household_id": h, "person_id": p, "rule": "single" if len(ps) == 1 else "address"}
                   for h, ps in HOUSEHOLDS.items() for p in ps]
        db.replace(con, "household_member", pl.DataFrame(members))
        db.replace(con, "findings", pl.DataFrame([{
            "finding_type": "school_age_not_enrolled", "person_id": "PC2", "household_id": "HC", "source": "education",
            "record_id": None, "detail": "aged 9"}], schema={k: pl.String() for k in
                                                              ("finding_type", "person_id", "household_id", "source",
                                                               "record_id", "detail")}))
        db.replace(con, "source_freshness", pl.DataFrame({
            "source": list(OWN), "status": ["fresh", "fresh", "fresh", "stale", "fresh"],
            "reference_date": [AS_OF] * len(OWN)}))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("marts") / "w.duckdb"
    write_warehouse(path)
    return path


def build(path: Path, policy_path: Path | None = None) -> dict[str, pl.DataFrame]:
    with db.connect(path, read_only=True) as con:
        return build_marts(con, load_sources(), AS_OF, load_policy(policy_path))


@pytest.fixture(scope="module")
def marts(small: Path) -> dict[str, pl.DataFrame]:
    return build(small)


def flags(marts: dict[str, pl.DataFrame]) -> dict[str, set[str]]:
    got = {h: set() for h in HOUSEHOLDS}
    for h, f in marts["early_warning"].select("household_id", "flag").iter_rows():
        got[h].add(f)
    return got


# --- unit: the marts on hand-made records ----------------------------------------------------------------------------

def test_one_row_per_household_and_every_person(marts: dict[str, pl.DataFrame]) -> None:
    for name in ("household", "household_profile"):
        assert sorted(marts[name]["household_id"].to_list()) == sorted(HOUSEHOLDS)
    assert sorted(marts["person"]["person_id"]) == sorted(p for ps in HOUSEHOLDS.values() for p in ps)
    hh = {r["household_id"]: r for r in marts["household_profile"].iter_rows(named=True)}
    assert hh["HA"]["members"] == 3 and hh["HG"]["members"] == 2 and hh["HG"]["living_members"] == 1
    assert hh["HA"]["members_18_59"] == 2 and hh["HA"]["members_16_17"] == 1
    assert hh["HG"]["deceased_members"] == 1
    assert (hh["HB"]["assistance_status"], hh["HB"]["receiving_assistance"], hh["HB"]["assisted_members"]) == \
        ("在保", True, 1)
    assert (hh["HE"]["assistance_status"], hh["HE"]["receiving_assistance"], hh["HE"]["income_basis"]) == \
        ("停保", False, "declared")


def test_area_codes_names_and_urban_rural(marts: dict[str, pl.DataFrame]) -> None:
    hh = {r["household_id"]: r for r in marts["household"].iter_rows(named=True)}
    assert (hh["HA"]["county_code"], hh["HA"]["county_name"]) == ("610304", "陈仓区")
    assert (hh["HA"]["village_code"], hh["HA"]["village_name"], hh["HA"]["urban_rural"]) == \
        ("610304102206", "党家坡村", "rural")
    # HG has no code of its own: its address names the village that HA's housing record codes.
    assert hh["HG"]["village_code"] == "610304102206"
    assert hh["HC"]["urban_rural"] == "urban" and hh["HC"]["township_name"] == "东风路街道"


def test_flags_follow_the_facts(marts: dict[str, pl.DataFrame]) -> None:
    assert flags(marts) == EXPECTED
    reasons = {(h, f): r for h, f, r in marts["early_warning"].select("household_id", "flag", "reason").iter_rows()}
    assert "income 4000 a person a year" in reasons[("HA", "low_income")]
    assert "12 × 420, the rural 低保 standard of 610304" in reasons[("HA", "low_income")]
    assert "declared to civil affairs" in reasons[("HB", "low_income")]
    assert "恶性肿瘤" in reasons[("HE", "illness")] and "rated D" in reasons[("HE", "dangerous_house")]
    assert "辍学" in reasons[("HA", "schooling")] and "no enrolment" in reasons[("HC", "schooling")]
    assert "since 2026-01-10" in reasons[("HA", "unemployment")]


def test_discovery_lists_unassisted_households_meeting_the_rule(marts: dict[str, pl.DataFrame]) -> None:
    d = marts["proactive_discovery"]
    assert d["household_id"].to_list() == ["HA", "HE"]          # most rules met first
    ha = d.row(0, named=True)
    assert ha["rules_met"] == ["low_income", "disability", "unemployment"] and ha["n_rules_met"] == 3
    assert len(ha["reasons"]) == 3 and ha["priority"] == 1
    assert "低保" in ha["suggested_action"] and "就业援助" in ha["suggested_action"]
    assert "schooling" not in ha["rules_met"]                   # a warning, not a discovery rule by default
    assert d["previously_assisted"].to_list() == [False, True]


def test_thin_file(marts: dict[str, pl.DataFrame]) -> None:
    t = marts["thin_file"]
    hh = {r["household_id"]: r["reasons"] for r in t.filter(pl.col("subject") == "household").iter_rows(named=True)}
    assert any("income incomplete: 1 member" in r for r in hh["HD"])
    assert any("seen by 1 department(s) (health)" in r for r in hh["HF"])
    people = {r["person_id"]: r["reasons"] for r in t.filter(pl.col("subject") == "person").iter_rows(named=True)}
    assert "PF1" in people and "bad_check" in people["PF1"][0]
    assert "PG1" not in people and "HA" not in hh               # the dead are not visited; HA is known well enough


def test_marts_carry_no_names_or_id_numbers(marts: dict[str, pl.DataFrame]) -> None:
    for name, frame in marts.items():
        text = frame.write_ndjson()
        assert not [i for i in IDS if i in text], f"{name} holds an ID number"
        assert not [n for n in NAMES if n in text], f"{name} holds a name"
    assert marts["person"].filter(pl.col("person_id") == "PF1")["id_status"].item() == "bad_check"


def test_catalog_documents_exactly_the_built_columns(marts: dict[str, pl.DataFrame]) -> None:
    documented = {t.name: [c.name for c in t.columns] for t in MART_TABLES}
    assert list(documented) == list(MART_NAMES)
    for name, frame in marts.items():
        assert documented[name] == frame.columns, name
    assert all(c.pii == "none" for t in MART_TABLES for c in t.columns)     # nothing personal to drop or mask
    assert all(len(t.examples) >= 2 for t in MART_TABLES)


def test_catalog_examples_run(small: Path, marts: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    copy.write_bytes(small.read_bytes())
    with db.connect(copy) as con:
        write_marts(con, marts)
        for table in MART_TABLES:
            for sql in table.examples:
                con.sql(sql).fetchall()


# --- the policy file ---------------------------------------------------------------------------------------------

def policy_file(tmp_path: Path, *subs: tuple[str, str]) -> Path:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_policy_changes_the_lists(small: Path, tmp_path: Path) -> None:
    strict = build(small, policy_file(tmp_path, ("min_flags = 2", "min_flags = 3")))
    assert strict["proactive_discovery"]["household_id"].to_list() == ["HA"]
    # a rural standard of 800 a month (9,600 a year) makes HE (9,000 declared) and HG (6,000) low-income too
    higher = build(small, policy_file(tmp_path, ('"610304" = { urban = 650, rural = 420 }',
                                                 '"610304" = { urban = 650, rural = 800 }')))
    assert set(higher["proactive_discovery"]["household_id"]) == {"HA", "HE", "HG"}


def test_policy_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = policy_file(tmp_path, ('name = "hhlink default policy (宝鸡, 2026)"', 'name = "county pilot"'))
    monkeypatch.setenv("HHLINK_POLICY", str(path))
    assert load_policy().name == "county pilot"


@pytest.mark.parametrize(("subs", "message"), [
    ((("min_flags = 2", "min_flags = 7"),), "discovery.min_flags: 7 is more than the 5 flags listed"),
    ((("min_flags = 2", 'min_flags = "two"'),), "discovery.min_flags: must be a whole number"),
    ((("levels = [\"一级\", \"二级\"]", "levels = [\"五级\"]"),), "disability.levels: '五级' is not one of"),
    ((("min_oop = 10000", "min_oop = 10000\nmin_opp = 5"),), "illness.min_opp: unknown key (a typo?)"),
    ((('"610302" = {', '"61030" = {'),), "low_income.county.61030: a county is a 6-digit code"),
    ((("unknown_area = \"urban\"", "unknown_area = \"suburb\""),), "'suburb' is not one of urban, rural"),
    ((("worker_age = [16, 74]", "worker_age = [74, 16]"),), "income.worker_age: must be [youngest, oldest]"),
    ((('dangerous_house = "refer to 危房改造 (dangerous-house renovation)"\n', ""),),
     "discovery.actions.dangerous_house: missing"),
    ((("[thin_file]", "[thin_file"),), "is not valid TOML"),
])
def test_bad_policy_is_one_clear_line(tmp_path: Path, subs: tuple, message: str) -> None:
    path = policy_file(tmp_path, *subs)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")


# --- integration: the pipeline through Dagster on a generated landing zone ------------------------------------------

@pytest.fixture(scope="module")
def run(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from pipelines.runner import run_pipeline

    wh = tmp_path_factory.mktemp("marts_run") / "w.duckdb"
    with dg.DagsterInstance.ephemeral() as instance:
        run_pipeline(generated / "landing", wh, AS_OF.isoformat(), instance=instance)
        metadata = [str(e.asset_materialization.metadata) for r in instance.get_runs()
                    for e in instance.all_logs(r.run_id) if e.asset_materialization is not None
                    and e.asset_materialization.asset_key.path[0] in MART_NAMES]
    with db.connect(wh, read_only=True) as con:
        tables = {n: db.frame(con, f"SELECT * FROM {n}") for n in (*MART_NAMES, "person_xref", "household_member")}
    return {"warehouse": wh, "truth": generated / "truth", "tables": tables, "metadata": metadata}


def test_pipeline_marts_grain(run: dict) -> None:
    t = run["tables"]
    households = t["household_member"]["household_id"].unique().sort()
    for name in ("household", "household_profile"):
        assert t[name]["household_id"].is_duplicated().sum() == 0
        assert t[name]["household_id"].sort().equals(households)
    assert t["person"]["person_id"].sort().equals(t["person_xref"]["person_id"].unique().sort())
    assert (t["household"]["members"].sum()) == t["person"].height


def test_pipeline_flags_consistent_with_facts(run: dict) -> None:
    t, policy = run["tables"], load_policy()
    p = t["household_profile"].filter(pl.col("living_members") > 0)
    raised = {f: set(t["early_warning"].filter(pl.col("flag") == f)["household_id"]) for f in
              ("disability", "dangerous_house", "unemployment", "low_income")}
    assert raised["disability"] == set(p.filter(pl.col("severely_disabled") > 0)["household_id"])
    assert raised["dangerous_house"] == set(p.filter(pl.col("danger_rating") == "D")["household_id"])
    assert raised["unemployment"] == set(p.filter(pl.col("registered_unemployed") > 0)["household_id"])
    low = p.filter((pl.col("income_basis") != "incomplete") & (
        pl.col("income_per_capita") < 12 * pl.when(pl.col("urban_rural") == "rural")
        .then(policy.default_standard.rural).otherwise(policy.default_standard.urban)))
    assert raised["low_income"] == set(low["household_id"])
    d = t["proactive_discovery"].join(p, on="household_id", suffix="_p")
    assert d.height == t["proactive_discovery"].height > 0
    assert not d["receiving_assistance"].any() and (d["n_rules_met"] >= policy.min_flags).all()


def test_pipeline_discovery_against_truth(run: dict) -> None:
    score = evaluate_discovery(run["truth"], run["warehouse"])
    assert score.hardship > 5 and score.listed > 0
    assert score.precision >= 0.5 and score.recall >= 0.7, score.render("discovery")
    diag = truth_household_marts(run["truth"], run["warehouse"], load_policy())
    assert diag.recall >= score.recall


def test_household_matching_rule() -> None:
    members = pl.DataFrame({"household_id": ["h1", "h1", "h1", "h2", "h2"], "person_id": ["a", "b", "c", "d", "e"]})
    persons = pl.DataFrame({"person_id": ["a", "b", "c", "d", "e"], "household_uid": ["T1", "T1", "T2", "T3", "T4"]})
    m = dict(household_matches(members, persons).iter_rows())
    assert m == {"h1": "T1", "h2": None}                         # 2 of 3 is a majority; 1 of 2 is not
    xref = pl.DataFrame({"source": ["s"] * 3, "record_id": ["1", "2", "3"], "person_id": ["a", "a", "a"]})
    records = pl.DataFrame({"source": ["s"] * 3, "record_id": ["1", "2", "3"], "person_uid": ["u1", "u2", "u2"],
                            "household_uid": ["T1", "T2", "T2"]})
    assert person_households(xref, records)["person_uid"].to_list() == ["u2"]


def test_pipeline_metadata_holds_no_personal_data(run: dict, generated: Path) -> None:
    assert len(run["metadata"]) == len(MART_NAMES)
    persons = pl.read_parquet(generated / "truth" / "persons.parquet")
    text = "\n".join(run["metadata"])
    assert "flag/low_income" in text
    for value in persons["name"].head(300).to_list() + persons["id_number"].drop_nulls().head(300).to_list():
        assert value not in text


def test_discovery_command(run: dict, tmp_path: Path) -> None:
    hhlink = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hhlink")
    out = subprocess.run([hhlink, "discovery", "--truth", str(run["truth"]), "--warehouse", str(run["warehouse"])],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "precision" in out.stdout and "recall by true hardship reason" in out.stdout
    bad = subprocess.run([hhlink, "discovery", "--truth", str(tmp_path), "--warehouse", str(run["warehouse"])],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "records.parquet" in bad.stderr
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    none = subprocess.run([hhlink, "discovery", "--truth", str(run["truth"]), "--warehouse", str(empty)],
                          capture_output=True, text=True, timeout=300)
    assert none.returncode == 2 and "no proactive_discovery table" in none.stderr


def test_report_and_marts_read_the_audit_frame_findings_stored(run: dict, tmp_path: Path) -> None:
    """The stored frame is what `audit_records` builds, and is read only while the linkage is unchanged."""
    import shutil

    from polars.testing import assert_frame_equal

    from quality.findings import RECORDS_TABLE, audit_records, stored_audit_records

    wh = tmp_path / "w.duckdb"
    shutil.copyfile(run["warehouse"], wh)
    sources, order = load_sources(), ["source", "record_id"]
    with db.connect(wh) as con:
        built = audit_records(con, sources)[0]
        assert_frame_equal(stored_audit_records(con, sources).sort(order), built.sort(order))
        con.execute(f"UPDATE {RECORDS_TABLE} SET name = 'stored'")  # tell the stored frame from a built one
        assert set(stored_audit_records(con, sources)["name"]) == {"stored"}
        con.execute("UPDATE linked.resolution_runs SET inputs_fingerprint = 'another linkage'")
        assert_frame_equal(stored_audit_records(con, sources).sort(order), built.sort(order))
