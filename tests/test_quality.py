"""The audit layer end to end on a generated typical landing zone, through real `materialize()`.

Findings are compared with the generator's truth (tests may read truth; the pipeline
never does). The report site is checked for privacy and, when Chromium is installed,
opened in a real headless browser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.audit import audit_assets
from pipelines.definitions import all_assets, resource_from_env
from pipelines.runner import materialize_pipeline
from quality.findings import FINDING_TYPES
from tests.conftest import AS_OF

CHROMIUM = Path("/usr/bin/chromium")
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def pipeline_assets() -> list[dg.AssetsDefinition]:
    """Every asset with the audit assets and checks (replacing the stub `findings` if definitions still has it)."""
    base = [a for a in all_assets() if dg.AssetKey("findings") not in a.keys and dg.AssetKey("report") not in a.keys
            and not isinstance(a, dg.AssetChecksDefinition)]
    return base + audit_assets()


@pytest.fixture(scope="module")
def run(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    wh = tmp_path_factory.mktemp("audit") / "w.duckdb"
    res = resource_from_env(landing=str(generated / "landing"), warehouse=str(wh), as_of=AS_OF.isoformat())
    result = materialize_pipeline(pipeline_assets(), res, dg.DagsterInstance.ephemeral(), run_config=QUIET)
    assert result.success
    return {"result": result, "warehouse": wh, "truth": generated / "truth", "site": res.reports_path / "site",
            "reports": res.reports_path}


def _table(wh: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(wh), read_only=True) as con:
        return con.sql(sql).pl()


def test_findings_agree_with_truth(run: dict) -> None:
    found = _table(run["warehouse"], "SELECT * FROM findings")
    truth = pl.read_parquet(run["truth"] / "findings.parquet")
    assert set(truth["finding_type"]) <= set(FINDING_TYPES), "the generator injects a type we do not look for"
    for kind in FINDING_TYPES:
        f, t = found.filter(pl.col("finding_type") == kind), truth.filter(pl.col("finding_type") == kind)
        assert f.height == t.height, f"{kind}: found {f.height}, truth {t.height}"
        if kind == "school_age_not_enrolled":
            records = pl.read_parquet(run["truth"] / "records.parquet").select("source", "record_id", "person_uid")
            xref = _table(run["warehouse"], "SELECT source, record_id, person_id FROM person_xref")
            linked = f.select("person_id").join(xref, on="person_id").join(records, on=["source", "record_id"])
            uids = linked["person_uid"].unique()
            assert set(uids.to_list()) == set(t["person_uid"].to_list()), kind
            assert f["record_id"].null_count() == f.height
        else:
            assert set(zip(f["source"], f["record_id"], strict=True)) == \
                set(zip(t["source"], t["record_id"], strict=True)), kind
    assert found.filter(pl.col("detail").is_null() | pl.col("person_id").is_null()).height == 0
    assert found.filter(pl.col("household_id").is_null()).height == 0


def test_freshness_and_coverage_tables(run: dict) -> None:
    wh = run["warehouse"]
    fresh = dict(_table(wh, "SELECT source, status FROM source_freshness").iter_rows())
    assert fresh["housing"] == "stale"  # the generator's stale source
    stale = _table(wh, "SELECT * FROM audit.record_staleness")
    assert stale.filter(pl.col("records") > 0).height == 5
    facets = _table(wh, "SELECT * FROM audit.household_facet_staleness")
    assert "(any facet)" in facets["source"].to_list()
    assert facets["share_stale"].is_between(0, 1).all()
    cov = _table(wh, "SELECT * FROM audit.coverage_by_area")
    assert set(cov["level"]) == {"county", "township"}
    households = _table(wh, "SELECT count(DISTINCT household_id) AS n FROM household_member").item()
    per_source = cov.filter(pl.col("level") == "county").group_by("source").agg(pl.col("households").sum())
    assert (per_source["households"] == households).all()
    thin = _table(wh, "SELECT * FROM audit.thin_file")
    multi = _table(wh, "SELECT person_id FROM person_xref GROUP BY 1 HAVING count(DISTINCT source) > 1")
    assert thin.join(multi, on="person_id").height == 0
    missing = _table(wh, "SELECT * FROM audit.expected_missing")
    school = missing.filter(pl.col("missing_source") == "education")
    assert school.height == _table(
        wh, "SELECT count(*) FROM findings WHERE finding_type = 'school_age_not_enrolled'").item()
    assert missing.filter(pl.col("missing_source") == "health")["age"].min() >= 18


def test_checks_ran_and_passed(run: dict) -> None:
    evals = run["result"].get_asset_check_evaluations()
    keys = {e.asset_key.to_user_string() for e in evals}
    assert {"staged/health", "person_xref", "household_member"} <= keys
    assert all(e.passed for e in evals if e.asset_key.to_user_string() in ("person_xref", "household_member"))
    assert (run["reports"] / "expectations" / "staged_health.json").exists()
    rates = _table(run["warehouse"], "SELECT * FROM audit.check_pass_rates")
    assert rates.height >= 7 and rates["pass_rate"].is_between(0, 1).all()


def _personal_values(wh: Path) -> set[str]:
    """Names, ID numbers and phones as staged, to be searched for in the published site."""
    with duckdb.connect(str(wh), read_only=True) as con:
        views = [r[0] for r in con.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'staged' "
                                       "AND table_name LIKE 'current_%'").fetchall()]
        values: set[str] = set()
        for v in views:
            for col in ("name", "id_number", "phone"):
                values |= {x for (x,) in con.sql(f"SELECT DISTINCT {col} FROM staged.{v} WHERE {col} IS NOT NULL")
                           .fetchall() if len(x) >= 2}
        values |= {x for (x,) in con.sql("SELECT record_id FROM person_xref WHERE length(record_id) >= 15").fetchall()}
    return values


def test_site_is_complete_and_publishes_no_personal_data(run: dict) -> None:
    site = run["site"]
    assert (site / "index.html").exists() and (site / "plotly.min.js").exists()
    for kind in FINDING_TYPES:
        assert (site / f"finding-{kind}.html").exists() and (site / "findings" / f"{kind}.csv").exists()
    for s in ("civil_affairs", "education", "employment", "health", "housing"):
        assert (site / f"source-{s}.html").exists()
    pages = {p: p.read_text(encoding="utf-8") for p in [*site.glob("*.html"), *site.rglob("*.csv")]}
    for text in pages.values():
        assert "cdn." not in text and "https://" not in re.sub(r"https://plotly\.com[^\"' ]*", "", text)
    overdue = pl.read_csv(site / "findings" / "review_overdue.csv")
    assert "record_id" not in overdue.columns and overdue["record_ref"].str.starts_with("R-").all()
    personal = _personal_values(run["warehouse"])
    assert personal
    for path, text in pages.items():
        leaked = [v for v in personal if v in text]
        assert not leaked, f"{path.name} publishes personal data, e.g. {leaked[:1]}"
    audit = _table(run["warehouse"], "SELECT table_name FROM information_schema.tables WHERE table_schema = 'audit'")
    assert {"freshness_timeline", "coverage_by_area", "check_pass_rates", "linkage_summary",
            "finding_counts"} <= set(audit["table_name"])


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=5000", "--window-size=1280,2000", *args],
                          capture_output=True, text=True, timeout=120)


CONSOLE_PROBLEM = re.compile(r"CONSOLE.*(Uncaught|Error|error|Failed|not allowed|Refused)")


def test_site_renders_in_headless_chromium(run: dict, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium not installed at /usr/bin/chromium (Debian package 'chromium'; "
                    ".ci/run installs it); the browser test did not run")
    site = run["site"]
    pages = ["index.html", "coverage.html", "linkage.html", "source-housing.html", "finding-review_overdue.html"]
    for i, name in enumerate(pages):
        url = (site / name).resolve().as_uri()
        dom = _chromium(["--dump-dom", url], tmp_path / f"profile-{i}")
        assert dom.returncode == 0, dom.stderr[-500:]
        problems = [line for line in dom.stderr.splitlines() if CONSOLE_PROBLEM.search(line)]
        assert not problems, f"{name}: console errors: {problems[:3]}"
        if name != "finding-review_overdue.html":
            assert 'class="main-svg"' in dom.stdout, f"{name}: no plot rendered"
            assert "js-plotly-plot" in dom.stdout
    shot = tmp_path / "index.png"
    result = _chromium([f"--screenshot={shot}", (site / "index.html").resolve().as_uri()], tmp_path / "profile-shot")
    assert result.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000
    shutil.copy(shot, run["reports"] / "index.png")
