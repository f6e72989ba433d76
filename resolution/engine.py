"""Where Splink's blocking and scoring run: DuckDB in this process (default) or Spark.

Only the expensive, parallel part moves to Spark: blocking, comparison vectors, scoring
(and training, when asked). The scored pairs at or above the review threshold (about
one per record with this model's blocking) come back into the linkage DuckDB, where
guards, decisions, clustering, households and ids stay one implementation for both
engines (docs/scale.md says why). The model is the same either way: `settings_for`
builds the one set of comparisons in each backend's SQL dialect.

Data crosses between the engines as Arrow (default: through the driver, nothing shared
needed) or as Parquet in ``HHLINK_SPARK_HANDOVER`` (a folder both this process and the
Spark executors can read and write: a local folder in local mode, a shared mount on a
cluster), which keeps large inputs and outputs off the driver's memory.

pyspark is an optional extra and is imported only here, only when the engine is Spark:
Great Expectations imports pyspark whenever it can, and pyspark then ends processes that
have no ``__main__`` file (Dagster run workers), see ``quality.expectations._gx``.

Settings from the environment (read when a `LinkConfig` is made):

=================================  ==========================================================
``HHLINK_ENGINE``                  ``duckdb`` (default) or ``spark``
``HHLINK_SPARK_MASTER``            master URL of a session built here (default ``local[2]``, or
                                   spark-submit's ``--master``): ``spark://host:7077``, ``yarn``,
                                   ``k8s://https://…``
``HHLINK_SPARK_REMOTE``            Spark Connect URL (``sc://host:15002``); wins over the master
``HHLINK_SPARK_PARTITIONS``        ``spark.sql.shuffle.partitions`` (default 8 in local mode;
                                   a cluster wants 2-3x its cores)
``HHLINK_SPARK_HANDOVER``          Parquet handover folder (unset: Arrow through the driver)
``HHLINK_SPARK_CHECKPOINT_DIR``    Splink breaks lineage by writing Parquet here (classic
                                   sessions only); unset: it persists in Spark's cache
``HHLINK_SPARK_CONF``              more Spark settings, ``key=value`` separated by ``;``
=================================  ==========================================================

A session that already exists (a notebook) is used as it is. Under ``spark-submit``
(``spark-submit --master … pipelines/cli.py run …``) its ``--master``, ``--jars`` and
``--conf`` hold; the variables above only add to them.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

log = logging.getLogger("hhlink.resolution")

ENGINES = ("duckdb", "spark")
ENGINE_ENV = "HHLINK_ENGINE"
ROWS_PER_PARTITION = 250_000  # input records per Spark partition handed over as Arrow
LOCAL_MASTER, LOCAL_PARTITIONS = "local[2]", 8
SUBMITTED_ENV = "PYSPARK_GATEWAY_PORT"  # set by spark-submit for the Python driver it starts


class EngineError(ValueError):
    """A configuration the user can fix (unknown engine, Spark not installed): one line, no traceback."""


def engine_from_env() -> str:
    """The engine named by ``HHLINK_ENGINE`` (default duckdb)."""
    name = (os.environ.get(ENGINE_ENV) or "duckdb").strip().lower()
    if name not in ENGINES:
        raise EngineError(f"{ENGINE_ENV} must be one of {', '.join(ENGINES)}, not {name!r}")
    return name


def _conf_from_env(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(";"):
        if part.strip():
            key, sep, value = part.partition("=")
            if not sep:
                raise EngineError(f"HHLINK_SPARK_CONF entries are key=value separated by ';', not {part.strip()!r}")
            out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class SparkOptions:
    """How to reach Spark and how data crosses over (see the module docstring for the variables)."""
    master: str | None = None   # None: spark-submit's, else local[2]
    remote: str | None = None
    partitions: int | None = None  # None: spark-submit's, else LOCAL_PARTITIONS
    handover: Path | None = None
    checkpoint_dir: str | None = None
    conf: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls) -> SparkOptions:
        env = os.environ
        try:
            partitions = int(env["HHLINK_SPARK_PARTITIONS"]) if env.get("HHLINK_SPARK_PARTITIONS") else None
        except ValueError as exc:
            raise EngineError("HHLINK_SPARK_PARTITIONS must be a whole number") from exc
        handover = env.get("HHLINK_SPARK_HANDOVER")
        return cls(master=env.get("HHLINK_SPARK_MASTER") or None,
                   remote=env.get("HHLINK_SPARK_REMOTE") or None,
                   partitions=partitions,
                   handover=Path(handover) if handover else None,
                   checkpoint_dir=env.get("HHLINK_SPARK_CHECKPOINT_DIR") or None,
                   conf=tuple(sorted(_conf_from_env(env.get("HHLINK_SPARK_CONF", "")).items())))


def _import_pyspark() -> None:
    """Undo the placeholder that hides pyspark from Great Expectations, then import it."""
    for name in [n for n, m in sys.modules.items() if m is None and (n == "pyspark" or n.startswith("pyspark."))]:
        del sys.modules[name]
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise EngineError("HHLINK_ENGINE=spark needs pyspark: pip install -e '.[spark]' "
                          "(and Java 17 for a local session)") from exc


def is_connect(spark) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


@cache
def spark_session(opts: SparkOptions):
    """The process's SparkSession: the active one if any, else one built from `opts` (kept for reuse)."""
    _import_pyspark()
    from pyspark.sql import SparkSession

    partitions = opts.partitions
    if opts.remote:
        builder = SparkSession.builder.remote(opts.remote)
    elif (active := SparkSession.getActiveSession()) is not None:
        return active
    elif SUBMITTED_ENV in os.environ:  # spark-submit started the JVM with its own settings
        builder = SparkSession.builder.appName("hhlink")
        if opts.master:
            builder = builder.master(opts.master)
    else:
        from splink.backends.spark import similarity_jar_location

        builder = (SparkSession.builder.master(opts.master or LOCAL_MASTER).appName("hhlink")
                   .config("spark.jars", similarity_jar_location())
                   # Spark's catalog folder, created on first use: not in the current directory
                   .config("spark.sql.warehouse.dir", str(Path(tempfile.gettempdir()) / "hhlink-spark-warehouse"))
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false"))
        partitions = partitions or LOCAL_PARTITIONS
    if partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    for key, value in opts.conf:
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # no Java, an unreachable master or Connect server
        raise EngineError(f"could not start a Spark session ({opts.remote or opts.master}): "
                          f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    if not is_connect(spark):
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_db_api(opts: SparkOptions | None = None):
    """Splink's Spark backend over the process's session."""
    opts = opts or SparkOptions.from_env()
    spark = spark_session(opts)
    from splink import SparkAPI

    connect = is_connect(spark)
    if opts.checkpoint_dir and not connect:
        spark.sparkContext.setCheckpointDir(opts.checkpoint_dir)
    method = "parquet" if opts.checkpoint_dir and not connect else "persist"
    # The model uses only Spark's own functions; Splink's UDF jar (jaro_winkler & co.) is
    # registered only where the session carries it (a Connect server needs it on its classpath).
    has_jar = not connect and "scala-udf-similarity" in spark.conf.get("spark.jars", "")
    return SparkAPI(spark_session=spark, break_lineage_method=method, register_udfs_automatically=has_jar)


def _handover_dir(opts: SparkOptions) -> Path | None:
    if opts.handover is None:
        return None
    d = opts.handover / f"hhlink-{uuid.uuid4().hex[:12]}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def register_inputs(db_api, inputs: pa.Table, opts: SparkOptions | None = None) -> list:
    """One Splink input per source, registered in source order (as on DuckDB), handed over as Arrow or Parquet."""
    import pyarrow.compute as pc

    opts = opts or SparkOptions.from_env()
    spark = db_api.spark
    d = _handover_dir(opts)
    if d is not None:
        import pyarrow.parquet as pq

        pq.write_table(inputs, d / "input.parquet")
        frame = spark.read.parquet(str(d / "input.parquet"))
        db_api.hh_handover = d
    else:
        # Arrow arrives in as many slices as the driver has cores: tiny tasks cost more
        # than they do on small inputs (Splink repartitions after blocking anyway).
        frame = spark.createDataFrame(inputs).coalesce(max(1, math.ceil(inputs.num_rows / ROWS_PER_PARTITION)))
    frame.createOrReplaceTempView("hh_input")
    tables = []
    for i, source in enumerate(sorted(pc.unique(inputs.column("source_dataset")).to_pylist())):
        frame.filter(frame.source_dataset == source).createOrReplaceTempView(f"hh_in_{i}")
        tables.append(db_api.register(f"hh_in_{i}", dataset_display_name=source))
    return tables


def pairs_to_duckdb(db_api, physical_name: str, columns: list[str], con: duckdb.DuckDBPyConnection,
                    table: str = "hh_pairs") -> None:
    """Bring Splink's scored pairs from Spark into ``table`` on the linkage DuckDB."""
    frame = db_api.spark.table(physical_name).select(*columns)
    d: Path | None = getattr(db_api, "hh_handover", None)
    if d is not None:
        out = d / "pairs"
        frame.write.mode("overwrite").parquet(str(out))
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_parquet(?)",
                    [str(out / "*.parquet")])
        return
    arrow = frame.toArrow()
    con.register("_hh_spark_pairs", arrow)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _hh_spark_pairs")
    con.unregister("_hh_spark_pairs")


def release(db_api) -> None:
    """Drop what this run left in the (reused) Spark session and the handover folder."""
    import shutil

    spark = db_api.spark
    try:
        db_api.delete_tables_created_by_splink_from_db()
    except Exception as exc:  # cleaning up must not fail a finished linkage
        log.debug("could not drop Splink's Spark tables: %s", exc)
    for i in range(64):
        if not spark.catalog.dropTempView(f"hh_in_{i}"):
            break
    spark.catalog.dropTempView("hh_input")
    spark.catalog.clearCache()
    d: Path | None = getattr(db_api, "hh_handover", None)
    if d is not None:
        shutil.rmtree(d, ignore_errors=True)


def describe(db_api, opts: SparkOptions) -> str:
    """Where Spark runs, for logs (no data)."""
    spark = db_api.spark
    where = opts.remote or (spark.sparkContext.master if not is_connect(spark) else "?")
    return (f"{where}, {spark.conf.get('spark.sql.shuffle.partitions')} shuffle partitions, "
            f"{'Parquet' if opts.handover else 'Arrow'} handover")


@dataclass
class Agreement:
    """How far two clusterings of the same records agree, pair by pair."""
    records: int
    pairs_both: int      # record pairs that are one person in both
    only_a: pl.DataFrame  # unique_id_l, unique_id_r: one person in a only
    only_b: pl.DataFrame  # the same, b only

    @property
    def agreement(self) -> float:
        """Same-person pairs shared / same-person pairs in either (1.0 when neither has any).

        Stricter than the share of all record pairs classified alike, which the
        many different-person pairs would push to 1.0 whatever happens.
        """
        union = self.pairs_both + self.only_a.height + self.only_b.height
        return self.pairs_both / union if union else 1.0

    def lines(self, a: str = "a", b: str = "b", limit: int = 20) -> list[str]:
        """A summary line, then up to `limit` differing pairs by record key (keys can embed ID
        numbers: use ``limit=0`` on real data)."""
        out = [f"{self.records:,} records; same-person pairs: {self.pairs_both:,} in both, "
               f"{self.only_a.height:,} {a} only, {self.only_b.height:,} {b} only; agreement {self.agreement:.6f}"]
        for name, frame in ((a, self.only_a), (b, self.only_b)):
            out += [f"  {name} only: {left} ~ {right}" for left, right in frame.head(limit).iter_rows()]
        return out


def _same_person_pairs(clusters: pl.DataFrame) -> pl.LazyFrame:
    c = clusters.lazy().select("unique_id", "cluster_id")
    return (c.join(c, on="cluster_id", suffix="_r").filter(pl.col("unique_id") < pl.col("unique_id_r"))
            .select(pl.col("unique_id").alias("unique_id_l"), "unique_id_r"))


def compare_clusters(a: pl.DataFrame, b: pl.DataFrame) -> Agreement:
    """Pairwise comparison of two clusterings (unique_id, cluster_id) of the same records."""
    if set(a["unique_id"].to_list()) != set(b["unique_id"].to_list()):
        raise ValueError("the two clusterings cover different records")
    pa_, pb = _same_person_pairs(a), _same_person_pairs(b)
    keys = ["unique_id_l", "unique_id_r"]
    both = pa_.join(pb, on=keys, how="semi").select(pl.len()).collect().item()
    only_a = pa_.join(pb, on=keys, how="anti").sort(keys).collect()
    only_b = pb.join(pa_, on=keys, how="anti").sort(keys).collect()
    return Agreement(a.height, both, only_a, only_b)
