"""Who appears in which department's extract, with which clean values, and when.

One builder per department turns the latent truth into that department's records
(clean typed values named by the config's field names, plus ``_pidx``: the person
index). Coverage follows CONTRACT §2: civil affairs lists every member of assisted
households; education children and students with their guardian; health about 95%
of everyone (and every death); housing one owner per owning household; employment
working-age and retired people with their registered (户籍) address.

The injected problems are made here (dead people still 在保 or still paid a pension,
one person in two assisted households, school-age children with no school record,
overdue reviews, a guardian's ID typed into a child's field, within-source duplicates,
conflicting birth dates and sexes), but the truth's findings are computed afterwards
from what the rendered deliveries actually show (``findings``), so they are exact.

Two-delivery sources get an older snapshot a month earlier with realistic churn:
records that are new this month, records that left, and changed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from synth.attributes import LOW_INCOME
from synth.chunks import Chunk
from synth.population import Population, zpad
from synth.profiles import Profile
from synth.rng import pick

UNIVERSITIES = ("宝鸡文理学院", "宝鸡职业技术学院", "陕西师范大学", "西北大学", "西安交通大学", "长安大学",
                "陕西科技大学", "西安石油大学", "延安大学", "西安理工大学", "陕西职业技术学院", "杨凌职业技术学院")
GRADES = {
    "学前": ("小班", "中班", "大班"), "小学": ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级"),
    "初中": ("七年级", "八年级", "九年级"), "高中": ("高一", "高二", "高三"), "中职": ("一年级", "二年级", "三年级"),
    "高校": ("大一", "大二", "大三", "大四"),
}
STAGE_START = {"学前": 3, "小学": 6, "初中": 12, "高中": 15, "中职": 15, "高校": 19}


@dataclass
class Arrays:
    """Person and household columns as numpy arrays, for fast gathering by index (and their chunk)."""

    p: dict[str, np.ndarray]
    h: dict[str, np.ndarray]
    chunk: Chunk

    @classmethod
    def of(cls, pop: Population) -> Arrays:
        p = {c: pop.persons[c].to_numpy() for c in pop.persons.columns if c != "hardship_reasons"}
        h = {c: pop.households[c].to_numpy() for c in pop.households.columns if c != "hardship_reasons"}
        return cls(p=p, h=h, chunk=pop.chunk)


def _obj(a: np.ndarray) -> np.ndarray:
    return a.astype(object)


def _days_before(as_of: date, rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    return np.datetime64(as_of, "D") - rng.integers(lo, hi, size=n).astype("timedelta64[D]")


def frame(cols: dict[str, object]) -> pl.DataFrame:
    """numpy arrays to a polars frame: datetime64 → Date, object → String, NaN → null."""
    out = {}
    for k, v in cols.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "M":
            out[k] = pl.Series(k, v).cast(pl.Date)
        elif isinstance(v, np.ndarray) and v.dtype == object:
            out[k] = pl.Series(k, list(v), dtype=pl.String)
        elif isinstance(v, np.ndarray) and v.dtype.kind == "f":
            out[k] = pl.Series(k, v, nan_to_null=True)  # NaN would compare greater than any number
        else:
            out[k] = pl.Series(k, v)
    return pl.DataFrame(out)


def _person_phone(A: Arrays, idx: np.ndarray) -> np.ndarray:
    own = A.p["mobile"][idx]
    hh = A.h["contact_phone"][A.p["hh_idx"][idx]]
    return np.where(own == None, hh, own)  # noqa: E711


def _county_seq_keys(prefix: np.ndarray, rng: np.random.Generator, n: int, width: int, chunk: Chunk) -> np.ndarray:
    """Record numbers from a random start, in the chunk's residue class (unique over all chunks)."""
    order = rng.permutation(n)
    start = int(rng.integers(10**(width - 2) // chunk.count))
    return prefix + zpad((order + start) * chunk.count + chunk.index + 1, width)


def dead_by(A: Arrays, idx: np.ndarray, when: date) -> np.ndarray:
    dd = A.p["death_date"][idx]
    return A.p["is_deceased"][idx] & (dd <= np.datetime64(when, "D"))


# --- health ------------------------------------------------------------------------------

def health(A: Arrays, rng: np.random.Generator, p: Profile, as_of: date) -> pl.DataFrame:
    N = A.p["age"].shape[0]
    dead = dead_by(A, np.arange(N), as_of)
    present = dead | (rng.random(N) < 0.95)
    idx = np.flatnonzero(present)
    dup = idx[pick(rng, np.ones(idx.size, bool), p.duplicate, at_least=1)]
    rows = np.concatenate([idx, dup])
    is_dup_row = np.concatenate([np.zeros(idx.size, bool), np.ones(dup.size, bool)])
    n = rows.size
    age = A.p["age"][rows]
    g = A.p["guardian_idx"][rows]
    phone = _person_phone(A, rows)
    kid = (age < 16) & (g >= 0)
    phone[kid] = _person_phone(A, g[kid])
    addr = np.where((A.p["migrant_kind"][rows] == "works_away") & (rng.random(n) < 0.5),
                    A.p["residence_address"][rows], A.h["address"][A.p["hh_idx"][rows]])
    addr = np.where(is_dup_row, A.p["registered_address"][rows], addr)
    phone = np.where(is_dup_row & (rng.random(n) < 0.5), None, phone)
    gid = A.p["id_number"][np.maximum(g, 0)]
    guardian_id = kid & (gid != None) & pick(rng, kid, p.guardian_id / 2, at_least=1)  # noqa: E711
    ids = np.where(guardian_id, gid, A.p["id_number"][rows])
    d = dead_by(A, rows, as_of)
    death = np.where(d, A.p["death_date"][rows], np.datetime64("NaT"))
    upd = _days_before(as_of, rng, n, 0, 200)
    upd = np.where(d, np.minimum(death + rng.integers(1, 30, n).astype("timedelta64[D]"),
                                 np.datetime64(as_of, "D")), upd)
    keys = _county_seq_keys(_obj(A.p["county_code"][rows]), rng, n, 10, A.chunk)
    return frame({
        "record_id": keys, "_pidx": rows, "_dup": is_dup_row, "_guardian_id": guardian_id, "_protect": d,
        "name": _obj(A.p["name"][rows]), "id_number": _obj(ids), "sex": _obj(A.p["sex"][rows]),
        "birth_date": A.p["birth_date"][rows], "phone": _obj(phone), "address": _obj(addr),
        "chronic": np.where(A.p["chronic"][rows], "是", "否").astype(object),
        "major_illness": _obj(A.p["major_illness"][rows]), "disability_level": _obj(A.p["disability_level"][rows]),
        "oop_medical": A.p["oop_medical"][rows], "hospital_stays": A.p["hospital_stays"][rows],
        "death_date": death, "updated_on": upd,
    })


# --- education ----------------------------------------------------------------------------

def education(A: Arrays, rng: np.random.Generator, p: Profile, as_of: date, ref: date,
              seen_elsewhere: np.ndarray) -> pl.DataFrame:
    """Students; ``ref`` is the reference date for school age, ``seen_elsewhere`` marks
    people with a record in another source (only they can be found missing)."""
    age = A.p["age"]
    alive = ~A.p["is_deceased"]
    school_age = (age >= 7) & (age <= 14) & alive & A.p["in_school"] & seen_elsewhere
    missing = pick(rng, school_age, p.not_enrolled, at_least=1)
    idx = np.flatnonzero(A.p["in_school"] & alive & ~missing)
    dup = idx[pick(rng, np.ones(idx.size, bool), p.duplicate, at_least=1)]
    rows = np.concatenate([idx, dup])
    is_dup = np.concatenate([np.zeros(idx.size, bool), np.ones(dup.size, bool)])
    n = rows.size
    a = age[rows]
    stage = A.p["school_stage"][rows]
    hh = A.p["hh_idx"][rows]
    town = np.array([t.removesuffix("街道").removesuffix("镇") for t in A.h["township"][hh]], dtype=object)
    vill = A.h["village"][hh]
    county = A.h["county"][hh]
    alt = rng.random(n) < 0.5
    school = np.select(
        [stage == "学前", stage == "小学", stage == "初中", stage == "高中", stage == "中职"],
        [np.where(alt, vill + "幼儿园", town + "中心幼儿园"), np.where(alt, vill + "小学", town + "中心小学"),
         town + np.where(alt, "初级中学", "中学"), county + np.where(alt, "高级中学", "中学"),
         county + "职业教育中心"],
        np.array(UNIVERSITIES, dtype=object)[rng.integers(len(UNIVERSITIES), size=n)]).astype(object)
    grade = np.empty(n, dtype=object)
    for st, names in GRADES.items():
        m = stage == st
        k = np.clip(a[m] - STAGE_START[st], 0, len(names) - 1)
        grade[m] = np.array(names, dtype=object)[k]
    status = np.where(rng.random(n) < 0.01, "休学", "在读").astype(object)
    status[(a >= 16) & (rng.random(n) < 0.03)] = "辍学"
    status[is_dup] = "转出"
    # the duplicate is the record at the school the student left
    school[is_dup] = np.where(stage[is_dup] == "高校", school[is_dup], county[is_dup] + "实验学校")
    g = A.p["guardian_idx"][rows]
    has_g = (g >= 0) & ~((stage == "高校") & (rng.random(n) < 0.7))
    gi = np.maximum(g, 0)
    g_name = np.where(has_g, A.p["name"][gi], None)
    g_id = np.where(has_g, A.p["id_number"][gi], None)
    g_phone = np.where(has_g, _person_phone(A, gi), None)
    cand = has_g & (a < 16) & (g_id != None)  # noqa: E711
    guardian_id = pick(rng, cand, p.guardian_id, at_least=1)
    own = A.p["id_number"][rows]
    ids = np.where(guardian_id, g_id, own)
    assisted = A.h["assisted"][hh]
    aid = np.where(assisted, np.where(rng.random(n) < 0.5, "低保家庭资助", "家庭经济困难学生资助"),
                   np.where((stage != "高校") & ~A.h["is_urban"][hh] & (rng.random(n) < 0.3), "营养改善计划",
                            np.where(rng.random(n) < 0.5, "无", None))).astype(object)
    county_code = _obj(A.p["county_code"][rows])
    local = "L" + _county_seq_keys(county_code, rng, n, 8, A.chunk)
    key = np.where((own != None) & ~is_dup, "G" + np.where(own == None, "", own), local)  # noqa: E711
    return frame({
        "record_id": _obj(key), "_pidx": rows, "_dup": is_dup, "_guardian_id": guardian_id,
        "_protect": np.zeros(n, bool), "name": _obj(A.p["name"][rows]), "id_number": _obj(ids),
        "sex": _obj(A.p["sex"][rows]), "birth_date": A.p["birth_date"][rows], "school": school,
        "school_stage": _obj(stage), "grade": grade, "enrolment_status": status, "guardian_name": _obj(g_name),
        "guardian_id_number": _obj(g_id), "guardian_phone": _obj(g_phone),
        "address": _obj(A.h["address"][hh]), "aid": aid, "updated_on": _days_before(as_of, rng, n, 0, 120),
    })


# --- civil affairs ------------------------------------------------------------------------

def village_seq(pop: Population) -> np.ndarray:
    """Each household's number within its village, after those numbered by earlier chunks."""
    seq = pop.households.select(pl.int_range(1, pl.len() + 1).over("village_code").alias("s"))["s"].to_numpy()
    before = pop.chunk.village_households
    if before:
        seq = seq + pop.households["village_code"].replace_strict(
            dict(before), default=0, return_dtype=pl.Int64).to_numpy()
    return seq


def household_numbers(pop: Population) -> np.ndarray:
    """户编号: the village code and the household's number within the village."""
    return pop.households["village_code"].to_numpy().astype(object) + zpad(village_seq(pop), 4)


def civil_affairs(pop: Population, A: Arrays, rng: np.random.Generator, p: Profile, as_new: date,
                  as_old: date) -> dict[date, pl.DataFrame]:
    H = A.h["assisted"].shape[0]
    hh_no = household_numbers(pop)
    assisted = A.h["assisted"]
    status_h = A.h["assistance_status"]
    in_bao = assisted & (status_h == "在保")
    # households that entered this month, and households that left before it
    entered = assisted & (rng.random(H) < 0.03)
    left_cand = ~assisted & ~A.h["in_hardship"] & ~A.h["is_migrant"] & (
        A.h["low_income"] | (np.array([len(r) for r in pop.households["hardship_reasons"].to_list()]) > 0))
    left = pick(rng, left_cand, min(1.0, 0.03 * assisted.sum() / max(1, left_cand.sum())))
    overdue = pick(rng, in_bao, p.review_overdue, at_least=1)
    ver_new = np.where(overdue, _days_before(as_new, rng, H, 400, 900), _days_before(as_new, rng, H, 10, 300))
    # re-verified since last month: the old delivery shows the previous review date
    recent = ver_new > np.datetime64(as_old, "D")
    ver_old = np.where(recent, ver_new - rng.integers(330, 420, H).astype("timedelta64[D]"), ver_new)
    ver_old = np.where(left, _days_before(as_old, rng, H, 10, 300), ver_old)
    st_old = np.where((status_h == "停保") & (rng.random(H) < 0.6), "在保", status_h)
    st_old = np.where(left, "在保", st_old).astype(object)
    cat = np.where(left, np.where(rng.random(H) < 0.6, "低保", "低保边缘"), A.h["assistance_category"]).astype(object)

    members = np.flatnonzero((assisted | left)[A.p["hh_idx"]])
    hm = A.p["hh_idx"][members]
    member_no = 1 + A.p["rank"][members] + np.where(A.p["generation"][members] == 0, 0,
                                               np.where(A.p["generation"][members] == 1, 2, 4))
    d_new = dead_by(A, members, as_new)
    d_old = dead_by(A, members, as_old)
    kept = pick(rng, d_new & in_bao[hm], p.deceased_assisted_kept, at_least=1)
    removed = d_new & ~kept & (rng.random(members.size) < 0.5)
    st_p_new = np.where(d_new & ~kept & ~removed, "停保", status_h[hm]).astype(object)
    in_new = assisted[hm] & ~removed
    removed_old = d_old & ~kept & removed
    in_old = ((assisted[hm] & ~entered[hm]) | left[hm]) & ~removed_old
    st_p_old = np.where(d_old & ~kept & ~removed_old, "停保", st_old[hm]).astype(object)

    # one person in two assisted households (an elderly parent listed with two children, say)
    cand = in_bao[hm] & ~d_new & (A.p["age"][members] >= 16) & in_new
    dup_src = members[pick(rng, cand, p.duplicate_assistance, at_least=1)]
    targets = np.flatnonzero(in_bao & ~entered)
    dup_h = targets[rng.integers(targets.size, size=dup_src.size)] if targets.size else np.array([], int)
    ok = dup_h != A.p["hh_idx"][dup_src]
    dup_src, dup_h = dup_src[ok], dup_h[ok]

    def block(idx, hhs, mno, st, ver, is_dup):
        n = idx.size
        income = A.h["income_per_capita"][hhs]
        line = np.where(A.h["is_urban"][hhs], LOW_INCOME[True], LOW_INCOME[False])
        c = cat[hhs]
        amount = np.select([c == "低保", c == "特困"], [np.clip((line - income) / 12, 80, 750).round(1),
                                                       rng.uniform(800, 1100, n).round(0)], np.nan)
        amount = np.where(st == "停保", np.nan, amount)
        rel = np.where(is_dup, np.where(A.p["age"][idx] >= 50,
                                        np.where(A.p["sex"][idx] == "M", "父亲", "母亲"), "兄弟姐妹"),
                       A.p["relation"][idx]).astype(object)
        phone = np.where(rng.random(n) < 0.8, A.h["contact_phone"][hhs], A.p["mobile"][idx])
        return {
            "record_id": "RY" + hh_no[hhs] + zpad(mno, 2),
            "_pidx": idx, "_dup": is_dup, "_guardian_id": np.zeros(n, bool), "_protect": np.zeros(n, bool),
            "household_no": hh_no[hhs], "relation": rel, "name": _obj(A.p["name"][idx]),
            "id_number": _obj(A.p["id_number"][idx]), "sex": _obj(A.p["sex"][idx]),
            "birth_date": A.p["birth_date"][idx], "phone": _obj(phone), "address": _obj(A.h["address"][hhs]),
            "admin_code": _obj(A.h["village_code"][hhs]), "assistance_category": c, "assistance_status": st,
            "monthly_amount": amount, "per_capita_income": income.astype(float), "verified_on": ver[hhs],
        }

    out = {}
    for when, sel, st, ver in ((as_new, in_new, st_p_new, ver_new), (as_old, in_old, st_p_old, ver_old)):
        base = block(members[sel], hm[sel], member_no[sel], st[sel], ver, np.zeros(int(sel.sum()), bool))
        extra_no = 20 + np.arange(dup_src.size)
        st_dup = np.full(dup_src.size, "在保", dtype=object)
        extra = block(dup_src, dup_h, extra_no, st_dup, ver, np.ones(dup_src.size, bool))
        df = pl.concat([frame(base), frame(extra)], how="vertical_relaxed")
        # the person's own record is a duplicate too (same person twice in the source)
        dups = set(dup_src.tolist())
        df = df.with_columns(_dup=pl.col("_dup") | pl.col("_pidx").is_in(sorted(dups)))
        out[when] = df
    return out


# --- housing ----------------------------------------------------------------------------------

def housing(pop: Population, A: Arrays, rng: np.random.Generator, p: Profile, as_of: date) -> pl.DataFrame:
    H = A.h["assisted"].shape[0]
    rel = A.p["relation"]
    hh = A.p["hh_idx"]
    head = np.full(H, -1)
    head[hh[rel == "户主"]] = np.flatnonzero(rel == "户主")
    spouse = np.full(H, -1)
    spouse[hh[rel == "配偶"]] = np.flatnonzero(rel == "配偶")
    owner = np.where((spouse >= 0) & (rng.random(H) < 0.25), spouse, head)
    owns = (A.h["housing_type"] != None) & (owner >= 0)  # noqa: E711
    hs = np.flatnonzero(owns)
    dup_h = hs[pick(rng, np.ones(hs.size, bool), p.duplicate / 2, at_least=1)]
    rows_h = np.concatenate([hs, dup_h])
    is_dup = np.concatenate([np.zeros(hs.size, bool), np.ones(dup_h.size, bool)])
    who = owner[rows_h]
    n = rows_h.size
    urban_idx = np.flatnonzero(A.h["is_urban"]) if A.h["is_urban"].any() else np.arange(H)
    other = urban_idx[rng.integers(urban_idx.size, size=n)]
    hsrc = np.where(is_dup, other, rows_h)
    htype = np.where(is_dup, "自有住房", A.h["housing_type"][rows_h]).astype(object)
    danger = np.where(is_dup, "A", A.h["danger_rating"][rows_h]).astype(object)
    subsidy = np.where(is_dup, np.nan, A.h["renovation_subsidy"][rows_h])
    area = np.where(is_dup, rng.uniform(60, 130, n).round(1), A.h["floor_area"][rows_h])
    seq = village_seq(pop)
    key = "FW" + _obj(A.h["village_code"][rows_h]) + zpad(seq[rows_h] + np.where(is_dup, 5000, 0), 4)
    return frame({
        "record_id": key, "_pidx": who, "_dup": is_dup, "_guardian_id": np.zeros(n, bool),
        "_protect": np.zeros(n, bool), "name": _obj(A.p["name"][who]), "id_number": _obj(A.p["id_number"][who]),
        "phone": _obj(_person_phone(A, who)), "address": _obj(A.h["address"][hsrc]),
        "admin_code": _obj(A.h["village_code"][hsrc]), "housing_type": htype, "floor_area": area,
        "danger_rating": danger, "renovation_subsidy": subsidy, "updated_on": _days_before(as_of, rng, n, 0, 400),
    })


# --- employment ------------------------------------------------------------------------------

def employment(A: Arrays, rng: np.random.Generator, p: Profile, as_new: date,
               as_old: date) -> dict[date, pl.DataFrame]:
    N = A.p["age"].shape[0]
    age = A.p["age"]
    reg = A.p["in_employment_register"]
    st = A.p["employment_status"]
    d_new = dead_by(A, np.arange(N), as_new)
    d_old = dead_by(A, np.arange(N), as_old)
    retired = reg & (st == "退休")
    kept = pick(rng, d_new & retired, p.deceased_pension_kept, at_least=1)
    stopped_listed = d_new & retired & ~kept & (rng.random(N) < 0.4)   # listed, pension stopped
    gone_new = d_new & ~kept & ~stopped_listed
    gone_old = d_old & ~kept & ~stopped_listed
    entered = reg & (rng.random(N) < 0.02)
    leaver_cand = ~reg & (age >= 18) & (age < 60) & ~A.p["in_school"] & ~A.p["is_deceased"]
    leavers = pick(rng, leaver_cand, min(1.0, 0.015 * reg.sum() / max(1, leaver_cand.sum())))
    in_new = reg & ~gone_new
    in_old = ((reg & ~entered) | leavers) & ~gone_old
    idx = np.flatnonzero(in_new | in_old)
    dup = idx[pick(rng, in_new[idx] & in_old[idx], p.duplicate, at_least=1)]
    rows = np.concatenate([idx, dup])
    is_dup = np.concatenate([np.zeros(idx.size, bool), np.ones(dup.size, bool)])
    n = rows.size
    ids = A.p["id_number"][rows]
    sb = "SB" + _county_seq_keys(_obj(A.p["county_code"][rows]), rng, n, 8, A.chunk)
    key = np.where((ids != None) & ~is_dup & (rng.random(n) < 0.5), ids, sb).astype(object)  # noqa: E711
    status = A.p["employment_status"][rows].astype(object)
    wage = A.p["monthly_wage"][rows].copy()
    pension = A.p["monthly_pension"][rows].copy()
    pension = np.where(stopped_listed[rows], np.nan, pension)
    employer = A.p["employer"][rows].astype(object)
    since = A.p["unemployed_since"][rows]
    lv = leavers[rows]
    status[lv] = "在职"
    wage[lv] = np.round(rng.lognormal(np.log(3800), 0.3, int(lv.sum())), 0)
    base = {
        "record_id": key, "_pidx": rows, "_dup": is_dup | np.isin(rows, dup), "_guardian_id": np.zeros(n, bool),
        "_protect": np.zeros(n, bool), "name": _obj(A.p["name"][rows]), "id_number": _obj(ids),
        "sex": _obj(A.p["sex"][rows]), "birth_date": A.p["birth_date"][rows],
        "phone": _obj(np.where(is_dup & (rng.random(n) < 0.5), None, A.p["mobile"][rows])),
        "address": _obj(A.p["registered_address"][rows]), "employment_status": status,
        "unemployed_since": since, "employer": _obj(employer), "monthly_wage": wage,
        "monthly_pension": pension,
    }
    out = {}
    new_sel = in_new[rows] & ~lv
    df_new = frame({**base, "updated_on": _days_before(as_new, rng, n, 0, 60)})
    out[as_new] = df_new.filter(pl.Series(new_sel))
    # last month: the newly unemployed were still at work, some wages differed
    old_status = status.copy()
    newly = (status == "失业登记") & (since > np.datetime64(as_old, "D"))
    old_status[newly] = "在职"
    old_wage = np.where(newly, np.round(rng.lognormal(np.log(3600), 0.3, n), 0), wage)
    change = (old_status == "在职") & (rng.random(n) < 0.05)
    old_wage = np.where(change, np.round(old_wage * rng.uniform(0.9, 1.1, n), 0), old_wage)
    old_since = np.where(newly, np.datetime64("NaT"), since)
    old_employer = employer
    old_pension = np.where(stopped_listed[rows] & ~d_old[rows], A.p["monthly_pension"][rows], pension)
    df_old = frame({**base, "employment_status": old_status, "monthly_wage": old_wage,
                     "monthly_pension": old_pension,
                     "unemployed_since": old_since, "employer": _obj(old_employer),
                     "updated_on": _days_before(as_old, rng, n, 0, 60)})
    out[as_old] = df_old.filter(pl.Series(in_old[rows]))
    return out
