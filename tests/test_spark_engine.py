"""The same linkage on DuckDB and on Spark (local mode): the persons must agree.

One generated sample is ingested and prepared as `resolution.run` does, then linked on
both engines with the same versioned parameters; the clusterings are compared pair by
pair (`resolution.engine.compare_clusters`) and the differences printed. Spark runs in
one local session for the whole test session (starting it costs seconds). Skipped only
where pyspark (the `spark` extra) or Java is missing; CI installs both.

Also here: pyspark installed beside Great Expectations must not reach GX (it ends
processes without a ``__main__`` file and slows the import), and a bad engine name is
one clear error.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from resolution import engine
from resolution.link import LinkConfig, LinkResult, link

ROOT = Path(__file__).resolve().parents[1]
HAVE_PYSPARK = importlib.util.find_spec("pyspark") is not None
HAVE_JAVA = bool(shutil.which("java") or os.environ.get("JAVA_HOME"))
needs_pyspark = pytest.mark.skipif(not HAVE_PYSPARK, reason="pyspark is not installed (pip install -e '.[spark]')")
needs_spark = pytest.mark.skipif(not (HAVE_PYSPARK and HAVE_JAVA),
                                 reason="Spark engine needs pyspark (the spark extra) and Java 17")

MIN_AGREEMENT = 0.999
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """A generated typical sample (1,200 persons), ingested and prepared as a resolution run does."""
    from ingest import db
    from ingest.deliveries import ingest_raw, stage_source
    from ingest.sources import load_sources
    from resolution.prepare import prepare
    from synth import generate

    out = tmp_path_factory.mktemp("engines")
    generate(1200, 7, out, "typical", as_of=date(2026, 10, 31))
    quiet = lambda _m: None  # noqa: E731
    with db.connect(out / "wh.duckdb") as con:
        for cfg in load_sources().values():
            ingest_raw(con, out / "landing", cfg, quiet)
            stage_source(con, cfg, quiet)
    with db.connect(out / "wh.duckdb", read_only=True) as con:
        return prepare(con)


@pytest.fixture(scope="session")
def spark_options():
    """One local Spark session for the test session, few shuffle partitions (2 cores)."""
    opts = engine.SparkOptions(master="local[2]", partitions=2)
    spark = engine.spark_session(opts)
    yield opts
    spark.stop()
    engine.spark_session.cache_clear()


@pytest.fixture(scope="module")
def on_duckdb(inputs: pa.Table) -> LinkResult:
    return link(inputs, LinkConfig(engine="duckdb"), progress=lambda _m: None)


def _spark_jobs(opts: engine.SparkOptions) -> int:
    return len(engine.spark_session(opts).sparkContext.statusTracker().getJobIdsForGroup(None))


@needs_spark
@pytest.mark.parametrize("handover", ["arrow", "parquet"])
def test_engines_give_the_same_persons(inputs: pa.Table, on_duckdb: LinkResult, spark_options: engine.SparkOptions,
                                       handover: str, tmp_path: Path) -> None:
    opts = engine.SparkOptions(master=spark_options.master, partitions=spark_options.partitions,
                               handover=tmp_path / "handover" if handover == "parquet" else None)
    jobs_before = _spark_jobs(opts)
    t0 = time.perf_counter()
    on_spark = link(inputs, LinkConfig(engine="spark", spark=opts), progress=lambda _m: None)
    seconds = time.perf_counter() - t0
    assert _spark_jobs(opts) > jobs_before, "the Spark engine ran no Spark job"

    result = engine.compare_clusters(on_duckdb.clusters, on_spark.clusters)
    report = "\n".join([f"Spark ({handover}) linked {inputs.num_rows:,} records in {seconds:.1f} s; "
                        f"pairs scored: DuckDB {on_duckdb.pairs_scored:,}, Spark {on_spark.pairs_scored:,}",
                        *result.lines("DuckDB", "Spark")])
    print(report)
    assert result.pairs_both > inputs.num_rows // 4, report  # the sample links many records: not a vacuous 1.0
    assert result.agreement >= MIN_AGREEMENT, report
    if handover == "parquet":
        assert not any((tmp_path / "handover").iterdir()), "the handover folder was not cleaned up"


@needs_spark
def test_spark_hamming_counts_positions_like_duckdb(spark_options: engine.SparkOptions) -> None:
    """The one function the dialects spell differently (model.Dialect): an ID typo level must mean the same."""
    from resolution.model import DIALECTS

    pairs = [("110105194912310021", "110105194912310021"),   # equal
             ("110105194912310021", "110105194912310028"),   # one digit
             ("110105194912310021", "110105194912301021"),   # adjacent swap
             ("110105194912310021", "101051949123100211"),   # shifted by one: Levenshtein 2, hamming 15
             ("11010519491231002X", "11010519491231002x")]
    duck = duckdb.connect()
    expected = [duck.execute("SELECT hamming(?, ?)", list(p)).fetchone()[0] for p in pairs]
    spark = engine.spark_session(spark_options)
    values = ", ".join(f"('{a}', '{b}')" for a, b in pairs)
    sql = DIALECTS["spark"].ham("a", "b")
    got = [r[0] for r in spark.sql(f"SELECT {sql} FROM VALUES {values} AS t(a, b)").collect()]
    assert got == expected


@needs_pyspark
def test_great_expectations_never_imports_pyspark() -> None:
    """In a process without a ``__main__`` file (like a Dagster step worker), with pyspark already
    imported and its Connect extras missing (the case that exits), GX imports and the process lives on."""
    code = "\n".join([
        "import sys",
        "sys.modules['grpc_status'] = None  # as where pyspark is installed without its connect extra",
        "import pyspark.sql",
        "before = sys.modules['pyspark']",
        "import quality.expectations as e",
        "gx = e._gx()",
        "from great_expectations.compatibility import pyspark as compat",
        "print('alive', bool(compat.pyspark), sys.modules['pyspark'] is before)",
    ])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "alive False True" in done.stdout, (done.stdout, done.stderr[-2000:])


@needs_pyspark
def test_spark_engine_can_start_after_great_expectations() -> None:
    """GX first leaves a placeholder that hides pyspark; the Spark engine removes it and imports pyspark."""
    code = "\n".join([
        "import sys",
        "import quality.expectations as e",
        "e._gx()",
        "assert sys.modules['pyspark'] is None",
        "from resolution import engine",
        "engine._import_pyspark()",
        "from pyspark.sql import SparkSession",
        "print('spark importable')",
    ])
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "spark importable" in done.stdout, done.stderr[-2000:]


def test_unknown_engine_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HHLINK_ENGINE", "sparkk")
    with pytest.raises(engine.EngineError, match="HHLINK_ENGINE must be one of duckdb, spark, not 'sparkk'"):
        LinkConfig()
    monkeypatch.setenv("HHLINK_ENGINE", "Spark")
    assert LinkConfig().engine == "spark"
    monkeypatch.delenv("HHLINK_ENGINE")
    assert LinkConfig().engine == "duckdb"
