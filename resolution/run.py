"""One resolution run: warehouse current views → persons, households, ids → warehouse tables.

Linking happens on a separate in-memory DuckDB; the warehouse connection is used to
read the current staged views and the previous run's tables, and to write results.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from ingest import db
from ingest.sources import SourceConfig, load_sources
from resolution import ids as idmod
from resolution.households import build_households, household_evidence
from resolution.link import LinkConfig, link
from resolution.prepare import prepare
from resolution.quality import linkage_quality

log = logging.getLogger("hhlink.resolution")

REGISTRY = "linked.id_registry"
RUNS = "linked.resolution_runs"


@dataclass
class ResolveSummary:
    records: int
    persons: int
    households: int
    pairs_scored: int
    links: int
    review: int
    events: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "full"              # "full", "incremental" or "unchanged" (resolution/incremental.py)
    why: str = ""                   # why this mode: what changed, or why not incremental

    def line(self) -> str:
        return (f"{self.records:,} records → {self.persons:,} persons in {self.households:,} households "
                f"({self.pairs_scored:,} pairs scored, {self.review:,} to review; {self.mode}: {self.why})")


def default_decisions_path(warehouse: str | Path) -> Path:
    """Reviewer decisions live beside the warehouse unless configured otherwise."""
    return Path(warehouse).parent / "decisions.csv"


def _previous(wh: duckdb.DuckDBPyConnection, table: str, sql: str, schema: dict) -> pl.DataFrame:
    if db.table_exists(wh, table):
        return db.frame(wh, sql)
    return pl.DataFrame(schema=schema)


def source_hashes(wh: duckdb.DuckDBPyConnection, sources: dict[str, SourceConfig]) -> dict[str, str]:
    """Per source, an order-free hash of every row of its current snapshot (content, not bookkeeping)."""
    out = {}
    for src in sorted(sources):
        view = f"staged.current_{src}"
        if db.table_exists(wh, view):
            got = wh.execute(f"SELECT count(*), bit_xor(hash(s)) FROM {view} s").fetchall()
            out[src] = hashlib.sha256(repr((src, got)).encode()).hexdigest()[:24]
    return out


def inputs_fingerprint(wh: duckdb.DuckDBPyConnection, cfg: LinkConfig, sources: dict[str, SourceConfig],
                       hashes: dict[str, str] | None = None) -> str:
    """What a resolution run depends on: the staged current deliveries, the model, the decisions, the thresholds.

    Equal fingerprints mean a rerun would reproduce the same tables, so it is skipped and
    nothing changes (not even the run counter).
    """
    h = hashlib.sha256()
    for src, digest in sorted((source_hashes(wh, sources) if hashes is None else hashes).items()):
        h.update(f"{src}:{digest}\n".encode())
    for path in (cfg.params_path, cfg.decisions):
        h.update(path.read_bytes() if path is not None and Path(path).exists() else b"-")
    h.update(repr((cfg.threshold, cfg.review_low, cfg.train, cfg.seed)).encode())
    return h.hexdigest()


def _unchanged(wh: duckdb.DuckDBPyConnection, fingerprint: str) -> ResolveSummary | None:
    """The summary of the last run when its inputs were these, else None."""
    if not db.table_exists(wh, RUNS):
        return None
    last = db.frame(wh, f"SELECT * FROM {RUNS} ORDER BY run DESC LIMIT 1")
    r = last.row(0, named=True) if last.height else {}
    if r.get("inputs_fingerprint") != fingerprint:
        return None
    review = db.frame(wh, "SELECT count(*) AS n FROM review_queue").item() if db.table_exists(wh, "review_queue") else 0
    return ResolveSummary(records=r["records"], persons=r["persons"], households=r["households"],
                          pairs_scored=r["pairs_scored"], links=0, review=review, events={"unchanged": 1},
                          mode="unchanged", why="same inputs as the last run")


def resolve(wh: duckdb.DuckDBPyConnection, cfg: LinkConfig | None = None,
            sources: dict[str, SourceConfig] | None = None,
            progress: Callable[[str], None] = log.info, mode: str = "auto") -> ResolveSummary:
    """Link the current snapshot and (re)write the linked tables of the warehouse.

    ``mode``: ``auto`` links incrementally when `resolution.incremental.plan` allows it
    (one delivery's new and changed records against the known persons) and re-links
    everything otherwise; ``full`` always re-links everything (also ``HHLINK_FULL_RELINK=1``).
    """
    from resolution import incremental

    cfg = cfg or LinkConfig()
    sources = sources or load_sources()
    db.ensure_schemas(wh)
    hashes = source_hashes(wh, sources)
    fingerprint = inputs_fingerprint(wh, cfg, sources, hashes)
    if (same := _unchanged(wh, fingerprint)) is not None:
        progress("linkage inputs unchanged since the last run: persons, households and ids kept as they are")
        return same
    model = incremental.model_fingerprint(cfg)
    why = incremental.plan(wh, cfg, hashes, model, mode)
    if isinstance(why, incremental.Plan):
        done = incremental.resolve_incremental(wh, cfg, sources, why, fingerprint, progress)
        if isinstance(done, ResolveSummary):
            return done
        why = done
    progress(f"full re-link: {why}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    inputs = prepare(wh, sources)
    timings["prepare"] = time.perf_counter() - t0
    progress(f"linking {inputs.num_rows:,} current records")
    res = link(inputs, cfg, progress)
    records = inputs.num_rows
    del inputs  # the linkage DuckDB holds its own copy; this one (about 0.6 GB at 1M persons) is not read again
    timings.update(res.timings)
    con = res.con
    assert con is not None

    # Stable person ids.
    t0 = time.perf_counter()
    prev_x = _previous(wh, "person_xref", "SELECT source || ':' || record_id AS member, person_id AS id "
                       "FROM person_xref", {"member": pl.String(), "id": pl.String()})
    registry = _previous(wh, REGISTRY, f"SELECT * FROM {REGISTRY}", idmod.REGISTRY_SCHEMA)
    runs = _previous(wh, RUNS, f"SELECT max(run) AS run FROM {RUNS}", {"run": pl.Int64()})
    run = int(runs["run"].max() or 0) + 1 if runs.height else 1
    groups = res.clusters.rename({"unique_id": "member", "cluster_id": "group"})
    pmap, p_events, registry = idmod.assign(groups, prev_x, registry, "person", "P", run)
    xref = groups.join(pmap.select("group", pl.col("id").alias("person_id")), on="group").select(
        "member", "person_id")
    con.register("_hh_x", xref.to_arrow())
    con.execute("CREATE OR REPLACE TABLE hh_person AS SELECT member AS unique_id, person_id AS person_key "
                "FROM _hh_x")
    con.unregister("_hh_x")
    timings["ids"] = time.perf_counter() - t0

    # Households.
    t0 = time.perf_counter()
    units = build_households(con, household_evidence(wh))
    prev_h = _previous(wh, "household_member", "SELECT person_id AS member, household_id AS id "
                       "FROM household_member", {"member": pl.String(), "id": pl.String()})
    hmap, h_events, registry = idmod.assign(units.rename({"person_key": "member", "unit": "group"}),
                                            prev_h, registry, "household", "H", run)
    members = units.join(hmap.select(pl.col("group").alias("unit"), pl.col("id").alias("household_id")),
                         on="unit").select("household_id", pl.col("person_key").alias("person_id"), "rule")
    timings["households"] = time.perf_counter() - t0

    # Write. The linkage state first: its comparison with the stored state needs the most memory, so it runs
    # before the frames below exist.
    t0 = time.perf_counter()
    incremental.save_state(wh, con, sources)  # what the next run needs to link incrementally
    rec = con.sql("SELECT unique_id, source_dataset AS source, record_id FROM hh_input").pl()
    as_of = db.frame(wh, " UNION ALL ".join(
        f"SELECT '{s}' AS source, max(as_of) AS as_of FROM staged.current_{s}" for s in sources
        if db.table_exists(wh, f"staged.current_{s}")) or "SELECT NULL AS source, NULL::DATE AS as_of")
    person_xref = (rec.join(xref, left_on="unique_id", right_on="member").join(as_of, on="source", how="left")
                   .select("source", "record_id", "person_id", "as_of").sort("source", "record_id"))
    db.replace(wh, "person_xref", person_xref)
    db.replace(wh, "household_member", members.sort("household_id", "person_id"))
    pid = xref.select(pl.col("member").alias("unique_id"), "person_id")
    links = (res.links.join(pid.rename({"unique_id": "unique_id_l", "person_id": "person_id_l"}), on="unique_id_l")
             .join(pid.rename({"unique_id": "unique_id_r", "person_id": "person_id_r"}), on="unique_id_r"))
    db.replace(wh, "person_link", links)
    db.replace(wh, "review_queue", res.review)
    events = pl.concat([p_events, h_events]).with_columns(pl.lit(run, dtype=pl.Int64).alias("run"))
    if events.height:
        db.append(wh, "id_events", events.select("run", *idmod.EVENT_SCHEMA))
    elif not db.table_exists(wh, "id_events"):
        db.replace(wh, "id_events", events.select("run", *idmod.EVENT_SCHEMA))
    db.replace(wh, REGISTRY, registry)
    db.replace(wh, "model_parameters", _params_frame(res.params, cfg))
    con.register("_hh_quality_links", links.select("linked", "gamma_id", "match_weight").to_arrow())
    quality = linkage_quality(con, "(SELECT i.source_dataset, p.person_key FROM hh_input i "
                                   "JOIN hh_person p USING (unique_id))", "_hh_quality_links", cfg.threshold)
    con.unregister("_hh_quality_links")
    db.replace(wh, "linkage_quality", quality)
    db.append(wh, RUNS, pl.DataFrame([{"run": run, "records": records, "persons": pmap.height,
                                       "households": hmap.height, "pairs_scored": res.pairs_scored,
                                       "inputs_fingerprint": fingerprint, **incremental.run_columns(
                                           "full", model, hashes, records)}]))
    timings["write"] = time.perf_counter() - t0
    con.close()
    ev = events.group_by("kind", "event").len().rows()
    return ResolveSummary(records=records, persons=pmap.height, households=hmap.height,
                          pairs_scored=res.pairs_scored, links=int(res.links["linked"].sum() or 0),
                          review=res.review.height, events={f"{k}:{e}": n for k, e, n in ev}, timings=timings,
                          mode="full", why=why)


def _params_frame(params: dict, cfg: LinkConfig) -> pl.DataFrame:
    rows = [{"comparison": k.split("|")[0], "level": k.split("|")[1], "m_probability": v["m"],
             "u_probability": v["u"], "match_weight": v["weight"], "m_trained": v["m_trained"],
             "u_trained": v["u_trained"]} for k, v in params.get("levels", {}).items()]
    frame = pl.DataFrame(rows, schema={"comparison": pl.String(), "level": pl.String(), "m_probability": pl.Float64(),
                                       "u_probability": pl.Float64(), "match_weight": pl.Float64(),
                                       "m_trained": pl.Boolean(), "u_trained": pl.Boolean()})
    return frame.with_columns(
        pl.lit(params.get("probability_two_random_records_match")).alias("prior"),
        pl.lit(cfg.threshold).alias("link_threshold"), pl.lit(cfg.review_low).alias("review_threshold"),
        pl.lit("trained this run" if cfg.train else str(cfg.params_path.name)).alias("source"))
