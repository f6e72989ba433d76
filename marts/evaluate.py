"""How well the proactive-discovery list finds the generator's hardship households (`hhlink discovery`).

Only evaluation reads truth; the list itself is computed from the warehouse alone.

Matching rule. Each warehouse person is the true person most of their current
records belong to (``person_xref`` → ``truth/records.parquet``; ties: the smaller
uid), and so belongs to that person's true household. A warehouse household
*matches* a true household when more than half of its persons belong to it; a
household with no such majority matches none (it fuses families). Then:

* precision: listed households that match a household of ``truth/hardship.parquet``
  (in hardship, not assisted), over all listed households;
* recall: hardship households matched by at least one listed household, over all
  hardship households.

A list can only be as good as the households it is computed over: household
linkage splits families (and fuses rural neighbours who share a village-group
address). ``truth_household_marts`` rebuilds the marts over the *true* households of
the same linked persons, so the two figures tell rules from linkage apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from ingest import db
from ingest.sources import load_sources
from marts.build import build_marts
from marts.policy import Policy


@dataclass
class DiscoveryScore:
    listed: int
    listed_matching_hardship: int
    hardship: int
    hardship_found: int
    hardship_seen: int = 0                                                   # with a member in the warehouse
    by_reason: dict[str, tuple[int, int]] = field(default_factory=dict)     # truth reason -> (found, total)
    by_flag: dict[str, tuple[int, int]] = field(default_factory=dict)       # rule met -> (true, listed)
    false_positives: dict[str, int] = field(default_factory=dict)           # why a listed household is wrong

    @property
    def precision(self) -> float:
        return self.listed_matching_hardship / self.listed if self.listed else 1.0

    @property
    def recall(self) -> float:
        return self.hardship_found / self.hardship if self.hardship else 1.0

    def render(self, title: str) -> str:
        lines = [f"{title}: {self.listed:,} households listed, {self.hardship:,} hardship households in truth",
                 f"  precision {self.precision:.3f}  ({self.listed_matching_hardship:,} of {self.listed:,} listed "
                 "match a hardship household)",
                 f"  recall    {self.recall:.3f}  ({self.hardship_found:,} of {self.hardship:,} hardship households "
                 f"found; {self.hardship_seen:,} of them have a member in the warehouse)",
                 "  recall by true hardship reason:"]
        lines += [f"    {k:<26} {f / t if t else 1.0:.3f}  ({f:,} of {t:,})" for k, (f, t) in self.by_reason.items()]
        lines.append("  precision by rule met:")
        lines += [f"    {k:<26} {c / n if n else 1.0:.3f}  ({c:,} of {n:,})" for k, (c, n) in self.by_flag.items()]
        if self.false_positives:
            lines.append("  listed but not a hardship household:")
            lines += [f"    {k:<44} {n:,}" for k, n in self.false_positives.items()]
        return "\n".join(lines)


def load_truth(truth_dir: Path) -> dict[str, pl.DataFrame]:
    """records (newest delivery per source), households and hardship frames of the generator's truth."""
    records = pl.read_parquet(truth_dir / "records.parquet", columns=["source", "record_id", "person_uid",
                                                                      "household_uid", "as_of"])
    records = (records.filter(pl.col("as_of") == pl.col("as_of").max().over("source"))
               .unique(["source", "record_id"], keep="last"))
    return {"records": records, "households": pl.read_parquet(truth_dir / "households.parquet"),
            "hardship": pl.read_parquet(truth_dir / "hardship.parquet")}


def person_households(xref: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """(person_id, person_uid, household_uid): each warehouse person's true person, by majority of records."""
    return (xref.join(records, on=["source", "record_id"], how="inner")
            .group_by("person_id", "person_uid", "household_uid").len()
            .sort(["person_id", "len", "person_uid"], descending=[False, True, False])
            .group_by("person_id", maintain_order=True).first().drop("len"))


def household_matches(members: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """(household_id, household_uid or null): the true household more than half of its persons belong to."""
    sizes = members.group_by("household_id").len("size")
    votes = (members.join(persons, on="person_id", how="inner").group_by("household_id", "household_uid").len()
             .sort(["household_id", "len", "household_uid"], descending=[False, True, False])
             .group_by("household_id", maintain_order=True).first())
    return (sizes.join(votes, on="household_id", how="left")
            .select("household_id", pl.when(pl.col("len") * 2 > pl.col("size")).then(pl.col("household_uid"))
                    .alias("household_uid")))


def score(listed: pl.DataFrame, matches: pl.DataFrame, truth: dict[str, pl.DataFrame],
          persons: pl.DataFrame) -> DiscoveryScore:
    """`listed`: (household_id, rules_met); `matches`: household_matches over the same households; `persons`:
    person_households of the warehouse's persons."""
    hardship = truth["hardship"].select("household_uid", "reasons")
    hard_ids = hardship["household_uid"].implode()
    got = listed.join(matches, on="household_id", how="left").with_columns(
        pl.col("household_uid").is_in(hard_ids).fill_null(False).alias("hit"))
    found = got.filter(pl.col("hit"))["household_uid"].unique()
    by_reason = {}
    for reason, group in (hardship.explode("reasons").group_by("reasons", maintain_order=True)
                          .agg(pl.col("household_uid")).sort("reasons").iter_rows()):
        by_reason[reason] = (len(set(group) & set(found.to_list())), len(group))
    by_flag = {}
    for flag, hits in (got.explode("rules_met").group_by("rules_met").agg(pl.col("hit")).sort("rules_met")
                       .iter_rows()):
        by_flag[flag] = (sum(hits), len(hits))
    hh = truth["households"].select("household_uid", "in_hardship", "assisted",
                                    pl.col("hardship_reasons").list.len().alias("n_reasons"))
    wrong = got.filter(~pl.col("hit")).join(hh, on="household_uid", how="left").with_columns(
        pl.when(pl.col("household_uid").is_null()).then(pl.lit("fuses families (no majority household)"))
        .when(pl.col("in_hardship") & pl.col("assisted")).then(pl.lit("in hardship but assisted"))
        .otherwise(pl.format("not in hardship (truth: {} reason(s))", pl.col("n_reasons"))).alias("why"))
    fps = dict(wrong.group_by("why").len().sort("why").iter_rows())
    seen = hardship.filter(pl.col("household_uid").is_in(persons["household_uid"].implode())).height
    return DiscoveryScore(listed=got.height, listed_matching_hardship=int(got["hit"].sum()), hardship=hardship.height,
                          hardship_found=found.len(), hardship_seen=seen, by_reason=by_reason, by_flag=by_flag,
                          false_positives=fps)


def _warehouse_frames(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    return {"xref": db.frame(con, "SELECT source, record_id, person_id FROM person_xref"),
            "members": db.frame(con, "SELECT household_id, person_id FROM household_member")}


def evaluate_discovery(truth_dir: str | Path, warehouse: str | Path) -> DiscoveryScore:
    """Score the warehouse's `proactive_discovery` table against truth/hardship.parquet."""
    truth = load_truth(Path(truth_dir))
    with db.connect(warehouse, read_only=True) as con:
        if not db.table_exists(con, "proactive_discovery"):
            raise LookupError(f"'{warehouse}' has no proactive_discovery table (build it with hhlink run)")
        frames = _warehouse_frames(con)
        listed = db.frame(con, "SELECT household_id, rules_met FROM proactive_discovery")
    persons = person_households(frames["xref"], truth["records"])
    return score(listed, household_matches(frames["members"], persons), truth, persons)


def reference_date(con: duckdb.DuckDBPyConnection) -> date:
    """The run's reference date, as recorded in `source_freshness`."""
    if db.table_exists(con, "source_freshness") and "reference_date" in db.columns(con, "source_freshness"):
        ref = db.frame(con, "SELECT max(reference_date) AS d FROM source_freshness").item()
        if ref is not None:
            return ref
    return date.today()


def truth_household_marts(truth_dir: str | Path, warehouse: str | Path, policy: Policy) -> DiscoveryScore:
    """The list rebuilt over the true households of the linked persons (diagnostic: rules without linkage error).

    The warehouse is attached read-only to an in-memory database whose `household_member`
    puts each person in their true household; everything else is the warehouse's own.
    """
    truth = load_truth(Path(truth_dir))
    sources = load_sources()
    with duckdb.connect() as con:
        path = str(Path(warehouse)).replace("'", "''")
        con.execute(f"ATTACH '{path}' AS w (READ_ONLY)")
        con.execute("CREATE SCHEMA staged")
        views = con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = 'w' "
                            "AND table_schema = 'staged' AND table_name LIKE 'current_%'").fetchall()
        for (view,) in views:
            con.execute(f"CREATE VIEW staged.{view} AS SELECT * FROM w.staged.{view}")
        for table in ("person_xref", "findings", "source_freshness"):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM w.main.{table}")
        frames = {"xref": db.frame(con, "SELECT source, record_id, person_id FROM person_xref"),
                  "members": db.frame(con, "SELECT household_id, person_id, rule FROM w.main.household_member")}
        persons = person_households(frames["xref"], truth["records"])
        true_members = (frames["members"].join(persons, on="person_id", how="left").select(
            pl.coalesce(pl.concat_str(pl.lit("T:"), "household_uid"), "household_id").alias("household_id"),
            "person_id", "rule"))
        db.replace(con, "household_member", true_members)
        marts = build_marts(con, sources, reference_date(con), policy)
        matches = household_matches(true_members, persons)
    return score(marts["proactive_discovery"].select("household_id", "rules_met"), matches, truth, persons)

