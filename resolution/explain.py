"""`hhlink explain PERSON_ID`: why the linker made this person, in the terminal.

For a person: their records as delivered (after normalisation), every scored pair
touching them (links, and near misses to other persons) with a waterfall of the
per-comparison match weights, and the rule that placed them in their household.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb
import polars as pl

from ingest import db
from resolution.link import COMPARISONS
from resolution.prepare import current_views

PERSON_FIELDS = ("name", "id_number", "id_number_status", "sex", "birth_date", "phone", "address")


@cache
def level_labels() -> dict[str, dict[int, str]]:
    """gamma value → level label per comparison (Splink numbers non-null levels from the else level = 0 up)."""
    from resolution.model import DIALECTS, comparisons, level_label

    out: dict[str, dict[int, str]] = {}
    for comp in comparisons(DIALECTS["duckdb"]):
        levels = comp._comparison_levels
        nonnull = [lv for lv in levels if not getattr(lv, "is_null_level", False)]
        labels = {-1: "missing on one side"}
        for i, lv in enumerate(nonnull):
            labels[len(nonnull) - 1 - i] = level_label(lv)
        out[comp._output_column_name] = labels
    return out


def _bar(w: float, scale: float = 1.0, width: int = 24) -> str:
    n = min(width, round(abs(w) / scale))
    return ("+" if w >= 0 else "-") * n


def waterfall(pair: dict, prior_weight: float | None = None) -> list[str]:
    """Lines of one pair's waterfall: each comparison's level and weight, then the total."""
    labels = level_labels()
    lines = []
    running = prior_weight or 0.0
    if prior_weight is not None:
        lines.append(f"      {'prior':<7} {'':<46} {prior_weight:+7.2f}  {_bar(prior_weight)}")
    for c in COMPARISONS:
        g = pair.get(f"gamma_{c}")
        w = pair.get(f"mw_{c}")
        if w is None:
            continue
        tf = pair.get(f"mw_tf_{c}") or 0.0
        label = labels[c].get(int(g), str(g)) if g is not None else "?"
        running += w + tf
        extra = f" (incl. {tf:+.2f} for how common)" if tf else ""
        lines.append(f"      {c:<7} {label[:46]:<46} {w + tf:+7.2f}  {_bar(w + tf)}{extra}")
    lines.append(f"      {'total':<7} {'':<46} {pair['match_weight']:+7.2f}  "
                 f"(probability {pair['match_probability']:.4f})")
    return lines


def explain(warehouse: str | Path, person_id: str) -> str:
    """A readable account of one person: records, scored pairs with waterfalls, household."""
    with db.connect(warehouse, read_only=True) as con:
        return explain_con(con, person_id)


def _records(con: duckdb.DuckDBPyConnection, person_id: str) -> pl.DataFrame:
    parts = []
    for s in current_views(con):
        parts.append(f"""SELECT '{s}' AS source, x.record_id, {', '.join(f'v.{c}' for c in PERSON_FIELDS)}
                         FROM person_xref x JOIN staged.current_{s} v ON v.record_id = x.record_id
                         WHERE x.source = '{s}' AND x.person_id = ?""")
    if not parts:
        return pl.DataFrame()
    sql = " UNION ALL ".join(parts) + " ORDER BY source, record_id"
    return db.frame(con, sql, [person_id] * len(parts))


def explain_con(con: duckdb.DuckDBPyConnection, person_id: str) -> str:
    if not db.table_exists(con, "person_xref"):
        return "no person_xref table: run the pipeline first"
    recs = _records(con, person_id)
    if recs.height == 0:
        return f"person {person_id} not found in person_xref"
    out = [f"person {person_id}: {recs.height} record(s)"]
    for r in recs.iter_rows(named=True):
        idv = r["id_number"] or "-"
        out.append(f"  {r['source'] + ':' + r['record_id']:<34} {r['name'] or '-':<10} ID {idv} "
                   f"({r['id_number_status']}), {r['sex'] or '-'}, born {r['birth_date'] or '-'}, "
                   f"tel {r['phone'] or '-'}, {r['address'] or '-'}")
    prior = None
    if db.table_exists(con, "model_parameters"):
        p = db.frame(con, "SELECT any_value(prior) AS p FROM model_parameters").item()
        if p:
            import math
            prior = math.log2(p / (1 - p))
    if db.table_exists(con, "person_link"):
        pairs = db.frame(con, "SELECT * FROM person_link WHERE person_id_l = ? OR person_id_r = ? "
                              "ORDER BY linked DESC, match_weight DESC NULLS FIRST", [person_id, person_id])
        out.append(f"\nscored pairs touching this person: {pairs.height}")
        for p in pairs.iter_rows(named=True):
            other = p["person_id_r"] if p["person_id_l"] == person_id else p["person_id_l"]
            state = "LINKED" if p["linked"] else "not linked"
            where = "same person" if other == person_id else f"other person {other}"
            out.append(f"  {p['unique_id_l']} ~ {p['unique_id_r']}: {state} ({p['reason']}; {where})")
            if p.get("match_weight") is not None:
                out.extend(waterfall(p, prior))
    if db.table_exists(con, "household_member"):
        hh = db.frame(con, "SELECT household_id, rule FROM household_member WHERE person_id = ?", [person_id])
        if hh.height:
            hid, rule = hh.row(0)
            members = db.frame(con, "SELECT person_id, rule FROM household_member WHERE household_id = ? "
                                    "ORDER BY person_id", [hid])
            out.append(f"\nhousehold {hid}: placed by rule '{rule}'; {members.height} member(s): "
                       + ", ".join(f"{m} ({r})" for m, r in members.iter_rows()))
    return "\n".join(out)
