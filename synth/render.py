"""Clean records → the text a department delivers, driven by the source config.

The config's column types pick the renderer (``synth.messy``), so a column added to a
config is filled (or left blank when the generator has no value for it) without a
code change here. Alongside the delivered table this returns the per-record truth
(subgroup flags) and the values a correct reader can recover (``shown``), from which
the findings are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from ingest.sources import SourceConfig
from synth import geography, messy
from synth.deliveries import Arrays, frame
from synth.profiles import Profile


@dataclass(frozen=True)
class Style:
    """A department system's habits: its primary date, sex and money forms, its file format."""

    fmt: str
    date: str
    sex: str
    money: str


@dataclass
class Rendered:
    table: pl.DataFrame     # one String column per header (xlsx cell markers possible)
    truth: pl.DataFrame     # record_id, person_uid, household_uid and subgroup flags
    shown: pl.DataFrame     # what a correct reader recovers, for the findings


def render(df: pl.DataFrame, cfg: SourceConfig, style: Style, p: Profile, seed: int, A: Arrays,
           as_of: date) -> Rendered:
    n = df.height
    keys = df["record_id"]
    d = messy.Draws(keys, seed, cfg.source)
    pidx = df["_pidx"].to_numpy()
    protect = df["_protect"].to_numpy()
    out: dict[str, np.ndarray] = {}
    shown: dict[str, object] = {"record_id": keys.to_numpy().astype(object)}
    id_form = np.full(n, "absent", dtype=object)
    name_form = np.full(n, "absent", dtype=object)
    name_typo = np.zeros(n, dtype=bool)
    byear = A.p["birth_date"][pidx].astype("datetime64[Y]").astype(int) + 1970
    for col in cfg.columns:
        f = col.field
        if f not in df.columns:
            out[col.header] = np.full(n, "", dtype=object)
            continue
        v = df[f]
        t = col.type
        if t == "key":
            out[col.header] = v.to_numpy().astype(object)
        elif t == "name":
            clean = v.to_numpy().astype(object)
            has = np.array([isinstance(x, str) for x in clean])
            clean = np.where(has, clean, "")
            minority = np.array(["·" in x for x in clean])
            latin = np.array([x.isascii() and x != "" for x in clean])
            text, form, ty = messy.render_name(clean, minority, latin, d, f, p)
            out[col.header] = text
            if f == "name":
                name_form, name_typo = form, ty
        elif t == "id_number":
            guardian = df["_guardian_id"].to_numpy() if f == "id_number" else np.zeros(n, bool)
            vuln = A.p["vulnerable"][pidx] if f == "id_number" else np.zeros(n, bool)
            by = byear if f == "id_number" else np.full(n, 1990)
            text, form, sh = messy.render_id(v.to_numpy().astype(object), guardian, by, vuln, d, f,
                                             p, style.fmt)
            out[col.header] = text
            if f == "id_number":
                id_form = form
                shown["id_shown"] = sh
        elif t == "sex":
            text, sh = messy.render_sex(v.to_numpy().astype(object), d, f, p, style.sex, protect)
            out[col.header] = text
            shown["sex_shown"] = sh
        elif t == "date":
            text, sh = messy.render_date(v, d, f, p, style.date, style.fmt, protect)
            out[col.header] = text
            shown[f"{f}_shown"] = sh
        elif t == "phone":
            out[col.header] = messy.render_phone(v.to_numpy().astype(object), d, f, p, style.fmt)
        elif t == "address":
            out[col.header] = messy.render_address(v.to_numpy().astype(object), d, f, p, geography.PROVINCE,
                                                   geography.CITY)
        elif t == "admin_code":
            out[col.header] = messy.render_admin(v.to_numpy().astype(object), d, f, p)
        elif t == "money":
            text, sh = messy.render_money(v.cast(pl.Float64).to_numpy(), d, f, p, style.money, style.fmt,
                                          protect)
            out[col.header] = text
            shown[f"{f}_shown"] = sh
        elif t in ("int", "number"):
            vals = v.to_numpy()
            if t == "number":
                vals = vals.astype(float)
            out[col.header] = messy.render_plain(vals.astype(object), style.fmt, numeric=True)
        else:
            out[col.header] = messy.render_plain(v.to_numpy().astype(object), style.fmt)
    table = pl.DataFrame({k: pl.Series(k, list(v), dtype=pl.String) for k, v in out.items()})
    truth = pl.DataFrame({
        "source": [cfg.source] * n, "record_id": keys,
        "person_uid": A.p["person_uid"][pidx].astype(str), "household_uid": A.p["household_uid"][pidx].astype(str),
        "as_of": [as_of] * n, "id_form": id_form.astype(str), "name_form": name_form.astype(str),
        "name_typo": name_typo, "is_minority": A.p["is_minority"][pidx], "is_latin": A.p["is_latin"][pidx],
        "age": A.p["age"][pidx].astype(np.int32), "is_migrant": A.p["is_migrant"][pidx],
        "migrant_kind": A.p["migrant_kind"][pidx].astype(str), "is_duplicate": df["_dup"].to_numpy(),
        "is_vulnerable": A.p["vulnerable"][pidx],
    }).with_columns(pl.col("as_of").cast(pl.Date))
    extra = [c for c in ("assistance_status", "household_no") if c in df.columns]
    shown_df = frame(shown).with_columns(
        df.select(extra), _pidx=df["_pidx"], source=pl.lit(cfg.source), as_of=pl.lit(as_of))
    return Rendered(table=table, truth=truth, shown=shown_df)
