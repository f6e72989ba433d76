"""Scoring candidate pairs and turning them into persons, with the traps guarded.

The linkage runs on its own in-memory DuckDB (STACK-NOTES: Splink against the
warehouse file is slower and leaves ``__splink__`` tables in it); only results leave.

Three things beat the model, in this order:

1. the clerical **decisions file** (a reviewer's ``match`` forces a link; a
   ``non_match`` forbids one, even when other records would bridge the two);
2. **guards** against traps a weight cannot express: two records carrying two
   different *valid* IDs are two people (twins, namesakes born the same day), however
   alike the rest; a shared ID with a wholly different name is a guardian's ID in a
   child's field (the child's blank birth date then comes from that ID too) and goes to
   review, not to a link; and names that share nothing (not a character, not the
   pinyin) never link without an ID: household members agree on phone, address and
   often birth date (twins), which adds up to a high weight for two different people.
3. the model's match weight against the threshold.

Connected components alone would let a record without an ID bridge twins (one record
alike to both), so components that hold a forbidden pair are re-clustered greedily:
strongest edge first, never joining two groups that a constraint keeps apart.
"""

from __future__ import annotations

import atexit
import csv
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from ingest.settings import positive_int
from resolution import engine as engines
from resolution.components import component_labels, smallest_member
from resolution.model import PARAMS_PATH, params_from_linker, settings_for

log = logging.getLogger("hhlink.resolution")

COMPARISONS = ("id", "name", "dob", "sex", "phone", "place")
DECISION_COLUMNS = ("unique_id_l", "unique_id_r", "decision", "reviewer", "note")


@dataclass
class LinkConfig:
    """Thresholds are match weights (log2 Bayes factors)."""
    threshold: float = 5.0          # at or above: linked (chosen on training seeds, docs/linkage.md)
    review_low: float = 2.0         # from here up to the threshold: review queue
    train: bool = False             # train on this run's data instead of the versioned parameters
    params_path: Path = PARAMS_PATH
    decisions: Path | None = None   # CSV of reviewer decisions applied on this run
    seed: int = 42
    materialise_dir: Path | None = None  # parquet materialisation for very large runs
    link_memory: str | None = None  # the linkage DuckDB's memory cap; None: by the zone's size (`link_memory`)
    # where blocking and scoring run: "duckdb" or "spark" (HHLINK_ENGINE; engine.py, docs/scale.md)
    engine: str = field(default_factory=engines.engine_from_env)
    spark: engines.SparkOptions = field(default_factory=engines.SparkOptions.from_env)


@dataclass
class LinkResult:
    clusters: pl.DataFrame          # unique_id, cluster_id (cluster_id = smallest unique_id)
    links: pl.DataFrame             # person_link: every pair at or above review_low, scored
    review: pl.DataFrame            # review_queue
    params: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    pairs_scored: int = 0
    con: duckdb.DuckDBPyConnection | None = None  # the linkage connection (hh_input, hh_scored, ...)


def read_decisions(path: Path | None) -> pl.DataFrame:
    """The reviewer decisions (later rows win for the same pair); empty when no file."""
    schema = {c: pl.String() for c in DECISION_COLUMNS}
    if path is None or not Path(path).exists():
        return pl.DataFrame(schema=schema)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [{c: (r.get(c) or "").strip() or None for c in DECISION_COLUMNS} for r in csv.DictReader(f)]
    df = pl.DataFrame(rows, schema=schema).filter(
        pl.col("unique_id_l").is_not_null() & pl.col("unique_id_r").is_not_null()
        & pl.col("decision").is_in(["match", "non_match"]))
    # store each pair with the smaller id on the left, as Splink does
    lo = pl.min_horizontal("unique_id_l", "unique_id_r")
    hi = pl.max_horizontal("unique_id_l", "unique_id_r")
    df = df.with_columns(lo.alias("unique_id_l"), hi.alias("unique_id_r"))
    return df.with_row_index("_n").group_by("unique_id_l", "unique_id_r").agg(
        pl.all().sort_by("_n").last()).drop("_n").sort("unique_id_l", "unique_id_r")


def _load_input(con: duckdb.DuckDBPyConnection, inputs: pa.Table) -> list[str]:
    """``hh_input`` on the linkage DuckDB (guards, clustering and households read it); its sources in order."""
    con.register("_hh_inputs", inputs)
    con.execute("CREATE OR REPLACE TABLE hh_input AS SELECT * FROM _hh_inputs")
    con.unregister("_hh_inputs")
    return [r[0] for r in con.sql("SELECT DISTINCT source_dataset FROM hh_input ORDER BY 1").fetchall()]


def _register_inputs(db_api, inputs: pa.Table) -> list:
    """One Splink input per source (link_and_dedupe), registered in source order."""
    con = db_api.duckdb_con if hasattr(db_api, "duckdb_con") else db_api._con
    sources = _load_input(con, inputs)
    tables = []
    for i, s in enumerate(sources):
        con.execute(f"CREATE OR REPLACE TABLE hh_in_{i} AS SELECT * FROM hh_input WHERE source_dataset = ? "
                    "ORDER BY unique_id", [s])
        tables.append(db_api.register(f"hh_in_{i}", dataset_display_name=s))
    return tables


#: The linkage DuckDB's memory cap (``HHLINK_LINK_MEMORY``). Uncapped, DuckDB takes up to 80% of
#: RAM for Splink's pair tables and holds it; capped, it spills them to its temp folder.
LINK_MEMORY = "3GB"
#: The cap above `PREDICT_CHUNK_RECORDS` records: scoring the 5M-person zone (10.7M records) ran out
#: of 5 GB in 4 chunks; with 6 GB and 8 chunks the run completed at 19.4 GB peak on a 24 GB machine.
LARGE_ZONE_LINK_MEMORY = "6GB"


def link_memory(records: int) -> str:
    """The linkage DuckDB's memory cap for a zone of this many records."""
    return os.environ.get("HHLINK_LINK_MEMORY", "").strip() or (
        LINK_MEMORY if records <= PREDICT_CHUNK_RECORDS else LARGE_ZONE_LINK_MEMORY)


def make_db_api(materialise_dir: Path | None = None, memory_limit: str | None = None):
    from splink import DuckDBAPI

    con = duckdb.connect(config={"memory_limit": memory_limit or link_memory(0)})
    con.execute("SET enable_progress_bar = false")
    if materialise_dir is not None:
        Path(materialise_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{Path(materialise_dir) / 'duckdb-tmp'}'")
        return DuckDBAPI(con, materialisation="parquet", materialisation_dir=str(materialise_dir))
    return DuckDBAPI(con)


def _engine_db_api(cfg: LinkConfig):
    if cfg.engine == "spark":
        return engines.spark_db_api(cfg.spark)
    if cfg.engine != "duckdb":
        raise engines.EngineError(f"engine must be one of {', '.join(engines.ENGINES)}, not {cfg.engine!r}")
    return make_db_api(cfg.materialise_dir, cfg.link_memory)


def build_linker(inputs: pa.Table, cfg: LinkConfig, db_api=None):
    """A Linker over the inputs, with versioned (or no) parameters, on the configured engine.

    The settings are built for the backend's SQL dialect from the one model (model.py).
    """
    import json

    from splink import Linker

    db_api = db_api or _engine_db_api(cfg)
    dialect = db_api.sql_dialect.sql_dialect_str
    tables = (engines.register_inputs(db_api, inputs, cfg.spark) if dialect == "spark"
              else _register_inputs(db_api, inputs))
    params = {} if cfg.train else (json.loads(Path(cfg.params_path).read_text(encoding="utf-8"))
                                   if Path(cfg.params_path).exists() else {})
    settings = settings_for(dialect, params, n_records=inputs.num_rows)
    return Linker(tables, settings, log_level=logging.WARNING), db_api


def pair_columns(available: set[str]) -> list[str]:
    """The columns of Splink's predictions a run keeps as ``hh_pairs`` (full and incremental alike)."""
    keep = ["unique_id_l", "unique_id_r", "source_dataset_l", "source_dataset_r", "match_weight", "match_probability"]
    keep += [f"gamma_{c}" for c in COMPARISONS] + [f"mw_{c}" for c in COMPARISONS if f"mw_{c}" in available]
    keep += [c for c in ("mw_tf_name", "mw_tf_phone") if c in available]
    keep += [f"{c}_{s}" for c in ("id", "id_status", "id_head", "name", "dob") for s in "lr"]
    return keep


#: From this many records on, Splink's intermediate tables go to Parquet files instead of memory
#: (STACK-NOTES: at 1M persons peak memory 5 GB → 3.2 GB at equal speed); ``HHLINK_LINK_SPILL_ABOVE``.
SPILL_ABOVE_RECORDS = 1_000_000


#: Up to this many records Splink's predict scores every pair in one go; above, in chunks of
#: `LARGE_ZONE_CHUNK_RECORDS` records (``HHLINK_PREDICT_CHUNK_RECORDS`` sets the chunk size at
#: any size). Unchunked, the 5M-person zone's blocked pairs joined to their records spilled over
#: 50 GB of DuckDB temporary files and filled the disk; in 4 chunks of 2.7M records they ran out
#: of the linkage memory; in 8 chunks of 1.34M (with `LARGE_ZONE_LINK_MEMORY`) they did not.
PREDICT_CHUNK_RECORDS = 3_000_000
LARGE_ZONE_CHUNK_RECORDS = 1_400_000


def predict_chunks(records: int) -> int:
    if os.environ.get("HHLINK_PREDICT_CHUNK_RECORDS", "").strip():
        return max(1, -(-records // positive_int("HHLINK_PREDICT_CHUNK_RECORDS", PREDICT_CHUNK_RECORDS)))
    return 1 if records <= PREDICT_CHUNK_RECORDS else -(-records // LARGE_ZONE_CHUNK_RECORDS)


def _with_spill(cfg: LinkConfig, records: int) -> LinkConfig:
    """The config, with a temporary materialisation folder when the input is large and none was given,
    and the linkage memory cap for its size when none was given."""
    if cfg.link_memory is None:
        cfg = dataclasses.replace(cfg, link_memory=link_memory(records))
    if cfg.materialise_dir is not None or cfg.engine != "duckdb":
        return cfg
    above = positive_int("HHLINK_LINK_SPILL_ABOVE", SPILL_ABOVE_RECORDS)
    if records < above:
        return cfg
    folder = Path(tempfile.mkdtemp(prefix="hhlink-splink-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    log.info("linking %s records: Splink tables spill to %s", f"{records:,}", folder)
    return dataclasses.replace(cfg, materialise_dir=folder)


def link(inputs: pa.Table, cfg: LinkConfig | None = None,
         progress: Callable[[str], None] = log.info) -> LinkResult:
    """Score, guard, apply decisions and cluster the linkage input (see prepare.py)."""
    from resolution.train import train_linker

    cfg = _with_spill(cfg or LinkConfig(), inputs.num_rows)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    linker, engine_api = build_linker(inputs, cfg)
    on_spark = engine_api.sql_dialect.sql_dialect_str == "spark"
    # Guards, decisions and clustering run on DuckDB whatever scored the pairs.
    db_api = make_db_api(cfg.materialise_dir, cfg.link_memory) if on_spark else engine_api
    con: duckdb.DuckDBPyConnection = db_api.duckdb_con
    if on_spark:
        _load_input(con, inputs)
        progress(f"scoring on Spark ({engines.describe(engine_api, cfg.spark)})")
    try:
        if cfg.train:
            train_linker(linker, seed=cfg.seed)
        params = params_from_linker(linker, inputs.num_rows)
        timings["train"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        chunks = predict_chunks(inputs.num_rows)
        if chunks > 1:
            progress(f"scoring in {chunks} chunks ({inputs.num_rows:,} records)")
        pred = linker.inference.predict(threshold_match_weight=cfg.review_low, warning_mode="never",
                                        num_chunks_left=1, num_chunks_right=chunks)
        keep = pair_columns({c.unquote().name for c in pred.columns})
        if on_spark:
            engines.pairs_to_duckdb(engine_api, pred.physical_name, keep, con)
        else:
            con.execute(f"CREATE OR REPLACE TABLE hh_pairs AS SELECT {', '.join(keep)} FROM {pred.physical_name}")
        pred.drop_table_from_database_and_remove_from_cache()
    finally:
        if on_spark:
            engines.release(engine_api)
    timings["predict"] = time.perf_counter() - t0
    pairs = con.execute("SELECT count(*) FROM hh_pairs").fetchall()[0][0]

    t0 = time.perf_counter()
    decisions = read_decisions(cfg.decisions)
    clusters, review = decide_and_cluster(con, decisions, cfg)
    links = con.sql("SELECT * EXCLUDE (id_l, id_r, id_head_l, id_head_r) FROM hh_scored "
                    "ORDER BY unique_id_l, unique_id_r").pl()
    timings["cluster"] = time.perf_counter() - t0
    return LinkResult(clusters, links, review, params, timings, pairs, con)


def decide_and_cluster(con: duckdb.DuckDBPyConnection, decisions: pl.DataFrame,
                       cfg: LinkConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(clusters, review queue) from ``hh_pairs`` and ``hh_input``; the decided pairs stay as ``hh_scored``."""
    con.register("_hh_dec", decisions.to_arrow())
    con.execute("CREATE OR REPLACE TABLE hh_decisions AS SELECT * FROM _hh_dec")
    con.unregister("_hh_dec")
    # Guards. Splink numbers levels from the else level (0) up, null is -1: gamma_id 4 is
    # "same ID", gamma_name 0 "different name" (model.py).
    guards = [
        ("id_status_l = 'valid' AND id_status_r = 'valid' AND id_l IS NOT NULL AND id_r IS NOT NULL "
         f"AND id_l <> id_r AND {_two_people('id_l', 'id_r')}", "guard: two valid IDs"),
        ("gamma_id = 4 AND gamma_name = 0", "guard: shared ID, different name"),
        ("gamma_name = 0", "guard: different name, no shared ID"),
    ]
    reason = "\n".join(f"WHEN {cond} THEN '{label}'" for cond, label in guards)
    linked = "\n".join(f"WHEN {cond} THEN FALSE" for cond, _ in guards)
    con.execute(f"""
        CREATE OR REPLACE TABLE hh_scored AS
        SELECT p.*,
          CASE
            WHEN d.decision = 'match' THEN 'decision: match'
            WHEN d.decision = 'non_match' THEN 'decision: non-match'
            {reason}
            WHEN match_weight >= {cfg.threshold} THEN 'model'
            ELSE 'below threshold' END AS reason,
          CASE WHEN d.decision = 'match' THEN TRUE
               WHEN d.decision = 'non_match' THEN FALSE
               {linked}
               ELSE match_weight >= {cfg.threshold} END AS linked
        FROM hh_pairs p
        LEFT JOIN hh_decisions d USING (unique_id_l, unique_id_r)""")
    # forced links the model never proposed (not blocked together) still count
    con.execute("""
        INSERT INTO hh_scored BY NAME
        SELECT d.unique_id_l, d.unique_id_r, 'decision: match' AS reason, TRUE AS linked
        FROM hh_decisions d
        JOIN hh_input a ON a.unique_id = d.unique_id_l
        JOIN hh_input b ON b.unique_id = d.unique_id_r
        WHERE d.decision = 'match'
          AND NOT EXISTS (SELECT 1 FROM hh_scored s WHERE s.unique_id_l = d.unique_id_l
                          AND s.unique_id_r = d.unique_id_r)""")

    _cluster(con)
    clusters = _split_conflicts(con)
    review = con.sql(f"""
        SELECT s.unique_id_l, s.unique_id_r, s.match_weight, s.match_probability, s.reason,
               s.name_l, s.name_r, s.dob_l, s.dob_r, s.id_status_l, s.id_status_r,
               {', '.join(f's.gamma_{c}' for c in COMPARISONS)}
        FROM hh_scored s
        WHERE s.reason LIKE 'guard:%'
           OR (s.reason = 'below threshold' AND s.match_weight >= {cfg.review_low})
        ORDER BY s.match_weight DESC, s.unique_id_l, s.unique_id_r""").pl()
    return clusters, review


def _cluster(con: duckdb.DuckDBPyConnection) -> None:
    """``hh_cc`` (unique_id, cluster_id): records joined by linked pairs, named by their smallest unique_id."""
    con.execute("CREATE OR REPLACE TABLE hh_nodes AS "
                "SELECT unique_id, (row_number() OVER (ORDER BY unique_id) - 1)::BIGINT AS i FROM hh_input")
    edges = con.sql("SELECT a.i AS a, b.i AS b FROM hh_scored s JOIN hh_nodes a ON a.unique_id = s.unique_id_l "
                    "JOIN hh_nodes b ON b.unique_id = s.unique_id_r WHERE s.linked").fetchnumpy()
    n = con.execute("SELECT count(*) FROM hh_nodes").fetchall()[0][0]
    root = pa.table({"i": np.arange(n, dtype=np.int64),
                     "root": smallest_member(component_labels(n, edges["a"], edges["b"]))})
    con.register("_hh_root", root)
    try:
        con.execute("CREATE OR REPLACE TABLE hh_cc AS SELECT n.unique_id, m.unique_id AS cluster_id "
                    "FROM hh_nodes n JOIN _hh_root r USING (i) JOIN hh_nodes m ON m.i = r.root")
    finally:
        con.unregister("_hh_root")


def _two_people(a: str, b: str) -> str:
    """SQL: two different valid IDs are two people, unless they agree on 15 digits and one ends
    ``000``: Excel keeps 15 significant digits, and 1 in 11 zeroed tails passes the check digit."""
    return (f"(substr({a}, 1, 15) <> substr({b}, 1, 15) "
            f"OR (right({a}, 3) <> '000' AND right({b}, 3) <> '000'))")


def _id_labels(vid: str | None) -> dict[str, str]:
    """What a valid ID forbids a cluster to join: another 15-digit head, and another full ID unless zero-tailed."""
    if not vid:
        return {}
    return {"head": vid[:15]} if vid.endswith("000") else {"head": vid[:15], "id": vid}


def _split_conflicts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Re-cluster the components that hold two valid IDs (of two people) or a forbidden pair."""
    con.execute("""
        CREATE OR REPLACE TABLE hh_conflicted AS
        SELECT cluster_id FROM hh_cc c JOIN hh_input i USING (unique_id)
        WHERE i.id_status = 'valid' AND i.id IS NOT NULL
        GROUP BY cluster_id
        HAVING count(DISTINCT substr(i.id, 1, 15)) > 1
            OR count(DISTINCT CASE WHEN right(i.id, 3) <> '000' THEN i.id END) > 1
        UNION
        SELECT a.cluster_id FROM hh_scored s
        JOIN hh_cc a ON a.unique_id = s.unique_id_l JOIN hh_cc b ON b.unique_id = s.unique_id_r
        WHERE NOT s.linked AND (s.reason LIKE 'decision%' OR s.reason = 'guard: two valid IDs')
          AND a.cluster_id = b.cluster_id""")
    bad = con.sql("SELECT count(*) FROM hh_conflicted").fetchall()[0][0]
    if not bad:
        return con.sql("SELECT unique_id, cluster_id FROM hh_cc ORDER BY unique_id").pl()
    nodes = con.sql("""
        SELECT c.cluster_id, c.unique_id, CASE WHEN i.id_status = 'valid' THEN i.id END AS vid
        FROM hh_cc c JOIN hh_input i USING (unique_id) WHERE c.cluster_id IN (SELECT cluster_id FROM hh_conflicted)
        ORDER BY c.unique_id""").pl()
    edges = con.sql("""
        SELECT s.unique_id_l, s.unique_id_r, s.linked, s.reason,
               coalesce(s.match_weight, 1e9) AS w
        FROM hh_scored s JOIN hh_cc c ON c.unique_id = s.unique_id_l JOIN hh_cc d ON d.unique_id = s.unique_id_r
        WHERE c.cluster_id IN (SELECT cluster_id FROM hh_conflicted) AND d.cluster_id = c.cluster_id""").pl()
    parent: dict[str, str] = {}
    labels: dict[str, dict[str, str]] = {}
    for uid, vid in zip(nodes["unique_id"], nodes["vid"], strict=True):
        parent[uid] = uid
        labels[uid] = _id_labels(vid)
    for k, row in enumerate(edges.filter(~pl.col("linked") & (pl.col("reason").str.starts_with("decision")
                                                              | (pl.col("reason") == "guard: two valid IDs")))
                            .iter_rows(named=True)):
        labels[row["unique_id_l"]][f"nm{k}"] = "l"
        labels[row["unique_id_r"]][f"nm{k}"] = "r"

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    forced = pl.col("reason") == "decision: match"
    ordered = edges.filter(pl.col("linked")).sort([forced, "w", "unique_id_l", "unique_id_r"],
                                                  descending=[True, True, False, False])
    for a, b, is_forced in zip(ordered["unique_id_l"], ordered["unique_id_r"],
                               ordered["reason"] == "decision: match", strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        la, lb = labels[ra], labels[rb]
        small, big = (la, lb) if len(la) <= len(lb) else (lb, la)
        if not is_forced and any(big.get(g, v) != v for g, v in small.items()):
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        merged = {**small, **big}
        labels[root], labels[child] = merged, {}
    fixed = pl.DataFrame({"unique_id": list(parent), "root": [find(u) for u in parent]})
    fixed = fixed.with_columns(pl.col("unique_id").min().over("root").alias("new_cluster")).select(
        "unique_id", "new_cluster")
    base = con.sql("SELECT unique_id, cluster_id FROM hh_cc").pl()
    return base.join(fixed, on="unique_id", how="left").select(
        "unique_id", pl.coalesce("new_cluster", "cluster_id").alias("cluster_id")).sort("unique_id")
