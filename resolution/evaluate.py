"""Linkage accuracy against generated truth (`hhlink evaluate`).

Reported the way statistics offices report linkage bias: overall precision/recall,
and recall per subgroup, since the people a linker misses are not random (no ID,
minority names, the elderly). Definitions:

* person pairwise: pairs of current records placed in one person vs truly one person;
* B-cubed: per-record precision/recall of its cluster, averaged over records;
* household pairwise: pairs of *true persons* in one household vs truly one household,
  each true person placed where most of their records went;
* subgroup recall: for records with a flag, the share of their true partners found
  (summed over the flagged records).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from ingest import db

#: Subgroup flags looked for in the truth, with their report labels (other boolean
#: columns of the truth are reported too, under their own name).
SUBGROUPS = {
    "id_blank_or_invalid": "blank or invalid ID", "id_15": "15-digit ID", "name_typo": "name typo",
    "is_minority": "minority name", "aged_65_plus": "aged 65+", "is_child": "children",
    "is_migrant": "migrants",
}


@dataclass
class PRF:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    records: int
    matched_records: int
    person_pairwise: PRF
    person_bcubed: PRF
    household_pairwise: PRF
    subgroup_recall: dict[str, tuple[float, int]] = field(default_factory=dict)  # label -> (recall, records)
    persons_true: int = 0
    persons_pred: int = 0

    def render(self) -> str:
        def row(name: str, m: PRF) -> str:
            return f"  {name:<22} P {m.precision:.4f}  R {m.recall:.4f}  F1 {m.f1:.4f}"
        lines = [
            f"linkage evaluation: {self.records:,} current records "
            f"({self.records - self.matched_records:,} without truth), "
            f"{self.persons_true:,} true persons, {self.persons_pred:,} predicted",
            row("person pairwise", self.person_pairwise),
            row("person B-cubed", self.person_bcubed),
            row("household pairwise", self.household_pairwise),
            "  recall by subgroup (pairs involving a flagged record):",
        ]
        for label, (rec, n) in self.subgroup_recall.items():
            lines.append(f"    {label:<22} {rec:.4f}   ({n:,} records)")
        return "\n".join(lines)


def _pairs(col: pl.Expr) -> pl.Expr:
    return (col * (col - 1) / 2).sum()


def _pairwise(frame: pl.DataFrame, pred: str, truth: str) -> PRF:
    cells = frame.group_by(pred, truth).len()
    tp = cells.select(_pairs(pl.col("len").cast(pl.Float64))).item()
    pp = frame.group_by(pred).len().select(_pairs(pl.col("len").cast(pl.Float64))).item()
    tt = frame.group_by(truth).len().select(_pairs(pl.col("len").cast(pl.Float64))).item()
    return PRF(tp / pp if pp else 1.0, tp / tt if tt else 1.0)


def _bcubed(frame: pl.DataFrame, pred: str, truth: str) -> PRF:
    f = frame.with_columns(
        pl.len().over(pred, truth).alias("_c"), pl.len().over(pred).alias("_p"), pl.len().over(truth).alias("_t"))
    return PRF(f.select((pl.col("_c") / pl.col("_p")).mean()).item(),
               f.select((pl.col("_c") / pl.col("_t")).mean()).item())


#: The generator's `id_form` values that leave a record without a usable ID of its own.
NO_USABLE_ID = ("blank", "no_id", "invalid_check", "transposed", "excel_damaged", "guardian_id", "malformed")


def _derived_flags(truth: pl.DataFrame) -> pl.DataFrame:
    """Subgroup flags the truth holds as values (`id_form`, `age`) rather than as booleans."""
    cols = truth.columns
    out = []
    if "id_form" in cols:
        out += [pl.col("id_form").is_in(NO_USABLE_ID).alias("id_blank_or_invalid"),
                (pl.col("id_form") == "upgraded_15").alias("id_15")]
    if "age" in cols:
        out += [(pl.col("age") >= 65).alias("aged_65_plus"), (pl.col("age") < 18).alias("is_child")]
    return truth.with_columns(out) if out else truth


def load_truth(truth_dir: Path) -> pl.DataFrame:
    truth = _derived_flags(pl.read_parquet(Path(truth_dir) / "records.parquet"))
    persons_path = Path(truth_dir) / "persons.parquet"
    if persons_path.exists():
        persons = pl.read_parquet(persons_path)
        extra = [c for c in persons.columns if c not in truth.columns and c != "person_uid"
                 and persons.schema[c] == pl.Boolean]
        if extra:
            truth = truth.join(persons.select("person_uid", *extra), on="person_uid", how="left")
    return truth


def evaluate(truth_dir: str | Path, warehouse: str | Path) -> Report:
    """Compare the warehouse's `person_xref`/`household_member` with the truth beside the landing zone."""
    truth = load_truth(Path(truth_dir))
    with db.connect(warehouse, read_only=True) as con:
        return evaluate_frames(truth, _warehouse_frame(con))


def _warehouse_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return db.frame(con, """
        SELECT x.source, x.record_id, x.person_id, h.household_id
        FROM person_xref x LEFT JOIN household_member h USING (person_id)""")


def evaluate_frames(truth: pl.DataFrame, pred: pl.DataFrame) -> Report:
    if "as_of" in truth.columns:  # the truth of the newest delivery per source
        truth = truth.filter(pl.col("as_of") == pl.col("as_of").max().over("source"))
    truth = truth.unique(["source", "record_id"], keep="last")
    f = pred.join(truth, on=["source", "record_id"], how="inner")
    person = _pairwise(f, "person_id", "person_uid")
    bcubed = _bcubed(f, "person_id", "person_uid")
    # household: each true person where most of their records went
    placed = (f.group_by("person_uid", "household_uid", "household_id").len()
              .sort(["person_uid", "len", "household_id"], descending=[False, True, False])
              .group_by("person_uid", maintain_order=True).first())
    household = _pairwise(placed, "household_id", "household_uid")
    flags = [c for c in truth.columns if truth.schema[c] == pl.Boolean]
    f = f.with_columns(pl.len().over("person_id", "person_uid").alias("_c"), pl.len().over("person_uid").alias("_t"))
    sub: dict[str, tuple[float, int]] = {}
    for c in [*[k for k in SUBGROUPS if k in flags], *[k for k in flags if k not in SUBGROUPS]]:
        g = f.filter(pl.col(c).fill_null(False))
        true_pairs = (g["_t"] - 1).sum()
        if g.height == 0:
            continue
        found = (g["_c"] - 1).sum()
        sub[SUBGROUPS.get(c, c)] = (found / true_pairs if true_pairs else 1.0, g.height)
    return Report(records=pred.height, matched_records=f.height, person_pairwise=person, person_bcubed=bcubed,
                  household_pairwise=household, subgroup_recall=sub,
                  persons_true=f["person_uid"].n_unique(), persons_pred=pred["person_id"].n_unique())
