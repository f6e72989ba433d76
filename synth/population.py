"""The synthetic population: households of real shapes and the people in them.

Everything here is the truth the departments' extracts are later drawn from. Built
column-wise with numpy (no Python loop per person) because 1M people must take
seconds, in three steps:

1. households: a village, a shape (couple with children, three generations,
   grandparents with left-behind children whose parents work away, elderly alone or
   as a couple, single parent, single adult, couple without children, in-migrants)
   and the number of grandparents (G), parents (P) and children (C);
2. people: ages derived from the oldest child (mother 21-36 years older, father about
   2 years older than the mother, grandparents 23-33 years older than the father),
   so ages, sexes and birth dates agree within a family; twins share a birth date;
   surnames pass down the paternal line; given names follow the birth era;
3. identity: GB 11643 IDs from the one routine in ``ingest.normalise.gb11643``, with
   the county as region for natives and another province for in-migrants; phones;
   deaths; addresses (residence, and the registered 户籍 address where it differs).

A large population is built one chunk of households at a time (``synth.chunks``): the
chunk carries where uids start and which share of the ID sequences and phone digits it
may draw from, so that nothing repeats across chunks.

Department-level attributes (health, work, housing, assistance) are in
``synth.attributes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from ingest.normalise import gb11643
from synth import geography, names
from synth.chunks import Chunk
from synth.geography import Geography
from synth.profiles import Profile

SHAPES = ("couple_children", "three_generation", "left_behind", "elderly_alone", "elderly_couple",
          "single_parent", "single_adult", "couple_only", "in_migrant")
_P_URBAN = np.array([0.31, 0.10, 0.02, 0.09, 0.10, 0.06, 0.12, 0.08, 0.12])
_P_RURAL = np.array([0.24, 0.18, 0.11, 0.11, 0.11, 0.05, 0.06, 0.08, 0.06])
# (grandparents lo, hi), (parents lo, hi), (children lo, hi) per shape, inclusive
_COUNTS = {
    "couple_children": ((0, 0), (2, 2), (1, 3)), "three_generation": ((1, 2), (2, 2), (1, 3)),
    "left_behind": ((1, 2), (2, 2), (1, 3)), "elderly_alone": ((0, 0), (1, 1), (0, 0)),
    "elderly_couple": ((0, 0), (2, 2), (0, 0)), "single_parent": ((0, 0), (1, 1), (1, 2)),
    "single_adult": ((0, 0), (1, 1), (0, 0)), "couple_only": ((0, 0), (2, 2), (0, 0)),
    "in_migrant": ((0, 0), (1, 2), (0, 2)),
}
# age of the oldest child (years) by shape
_CHILD_AGE = {"couple_children": (0, 25), "three_generation": (0, 20), "left_behind": (1, 15),
              "single_parent": (1, 18), "in_migrant": (0, 14)}
MOBILE_PREFIX = np.array(["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                          "152", "153", "155", "156", "157", "158", "159", "166", "176", "177", "180",
                          "181", "182", "183", "185", "186", "187", "188", "189", "198", "199"], dtype=object)


@dataclass
class Population:
    """Households and persons as polars frames (the truth), plus the geography and the chunk they are."""

    geo: Geography
    households: pl.DataFrame
    persons: pl.DataFrame
    chunk: Chunk = field(default_factory=Chunk)


def zpad(values: np.ndarray, width: int) -> np.ndarray:
    """Integers as zero-padded strings (object array), vectorised through polars."""
    return pl.Series(np.asarray(values, dtype=np.int64)).cast(pl.String).str.zfill(width).to_numpy().astype(object)


def _repeats(values: np.ndarray) -> np.ndarray:
    """True where a value already occurred earlier in the array."""
    return ~pl.Series(list(values), dtype=pl.String).is_first_distinct().to_numpy()


def _digits(rng: np.random.Generator, n: int, k: int, chunk: Chunk) -> np.ndarray:
    """``k`` random digits from the chunk's share of the numbers (no clash with another chunk)."""
    return zpad(chunk.share(rng, 10**k, n), k)


def _unique_mobiles(rng: np.random.Generator, n: int, chunk: Chunk) -> np.ndarray:
    out = MOBILE_PREFIX[rng.integers(MOBILE_PREFIX.size, size=n)] + _digits(rng, n, 8, chunk)
    while True:
        dup = _repeats(out)
        if not dup.any():
            return out
        k = int(dup.sum())
        out[dup] = MOBILE_PREFIX[rng.integers(MOBILE_PREFIX.size, size=k)] + _digits(rng, k, 8, chunk)


def _households(persons: int, geo: Geography, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Villages, shapes and member counts for exactly ``persons`` people."""
    est = int(persons / 2.6) + 50
    while True:
        vill = rng.choice(len(geo), size=est, p=geo.weight)
        urban = geo.is_urban[vill]
        shape = np.where(urban, rng.choice(len(SHAPES), size=est, p=_P_URBAN / _P_URBAN.sum()),
                         rng.choice(len(SHAPES), size=est, p=_P_RURAL / _P_RURAL.sum()))
        counts = np.zeros((est, 3), dtype=np.int64)
        for si, s in enumerate(SHAPES):
            m = shape == si
            for g in range(3):
                lo, hi = _COUNTS[s][g]
                if g == 2 and hi > lo:
                    # fewer third children
                    w = {(1, 3): [0.45, 0.45, 0.10], (1, 2): [0.6, 0.4], (0, 2): [0.35, 0.4, 0.25]}[(lo, hi)]
                    counts[m, g] = lo + rng.choice(len(w), size=int(m.sum()), p=np.array(w))
                else:
                    counts[m, g] = rng.integers(lo, hi + 1, size=int(m.sum()))
        size = counts.sum(1)
        cum = np.cumsum(size)
        if cum[-1] >= persons:
            break
        est *= 2
    keep = cum <= persons
    vill, shape, counts = vill[keep], shape[keep], counts[keep]
    short = persons - int(counts.sum())
    if short:
        # fill with one-person households (elderly alone / single adult)
        extra_v = rng.choice(len(geo), size=short, p=geo.weight)
        extra_s = np.where(rng.random(short) < 0.5, SHAPES.index("elderly_alone"), SHAPES.index("single_adult"))
        vill = np.concatenate([vill, extra_v])
        shape = np.concatenate([shape, extra_s])
        counts = np.concatenate([counts, np.tile([0, 1, 0], (short, 1))])
    return {"village": vill, "shape": shape, "n_g": counts[:, 0], "n_p": counts[:, 1], "n_c": counts[:, 2]}


def build(persons: int, rng_for, as_of: date, profile: Profile, geo: Geography,
          chunk: Chunk | None = None) -> Population:
    """The population of one chunk (by default the whole). ``rng_for(name)`` gives the named random stream."""
    chunk = chunk or Chunk()
    rng = rng_for("households")
    hh = _households(persons, geo, rng)
    H = hh["shape"].shape[0]
    shape_name = np.array(SHAPES, dtype=object)[hh["shape"]]
    n_g, n_p, n_c = hh["n_g"], hh["n_p"], hh["n_c"]
    vill = hh["village"]
    urban_h = geo.is_urban[vill]

    # --- household-level ages (years, float) -------------------------------------------
    u = rng.random((H, 12))
    a_child = np.zeros((H, 3))
    lo = np.zeros(H)
    hi = np.zeros(H)
    for s, (a, b) in _CHILD_AGE.items():
        m = shape_name == s
        lo[m], hi[m] = a, b
    a_child[:, 0] = lo + (hi - lo) * u[:, 0]
    for k in (1, 2):
        prev = a_child[:, k - 1]
        gap = 1.2 + 5 * u[:, k]
        twin = (u[:, 3 + k] < 0.02) | (prev < 1.0)
        # no spike of births on one day: a sibling too young for the gap gets a spread-out age
        nxt = np.where(prev - gap > 0.05, prev - gap, 0.05 + (prev - 1.0).clip(0) * u[:, 8 + k])
        a_child[:, k] = np.where(twin, prev, nxt)
    mother = a_child[:, 0] + 21 + 15 * u[:, 6]
    father = mother + np.clip(rng.normal(2, 2.5, H), -3, 10)
    no_kids = n_c == 0
    s = shape_name
    eld_m = 60 + np.minimum(rng.exponential(8, H), 36)
    mother = np.where(no_kids & (s == "elderly_couple"), eld_m - np.clip(rng.normal(2, 2.5, H), -3, 10), mother)
    father = np.where(no_kids & (s == "elderly_couple"), eld_m, father)
    eld1 = 60 + np.minimum(rng.exponential(9, H), 38)
    single = 18 + rng.beta(1.5, 2.5, H) * 42
    couple = np.where(u[:, 7] < 0.5, 22 + 10 * u[:, 8], 45 + 23 * u[:, 8])
    for nm, val in (("elderly_alone", eld1), ("single_adult", single), ("couple_only", couple)):
        m = s == nm
        father[m] = val[m] + (2 if nm == "couple_only" else 0)
        mother[m] = val[m]
    im = no_kids & (s == "in_migrant")
    father[im] = 20 + 25 * u[im, 9]
    mother[im] = father[im] - 2
    gf = father + 23 + 10 * u[:, 10]
    gm = gf - np.clip(rng.normal(2, 2.5, H), -3, 8)
    gf = np.where(gf > 97, 97 - 4 * u[:, 11], gf)
    gm = np.where(gm > 97, 96 - 4 * u[:, 11], gm)

    g_sex1 = np.where(rng.random(H) < 0.35, "M", "F")                 # lone grandparent
    p_sex1 = np.full(H, "M", dtype=object)                              # lone parent / adult
    r = rng.random(H)
    p_sex1[s == "single_parent"] = np.where(r[s == "single_parent"] < 0.75, "F", "M")
    p_sex1[s == "elderly_alone"] = np.where(r[s == "elderly_alone"] < 0.62, "F", "M")
    p_sex1[s == "single_adult"] = np.where(r[s == "single_adult"] < 0.42, "F", "M")
    p_sex1[s == "in_migrant"] = np.where(r[s == "in_migrant"] < 0.35, "F", "M")
    head_is_g = ((s == "three_generation") & (rng.random(H) < 0.5)) | ((s == "left_behind") & (rng.random(H) < 0.7))
    maternal = rng.random(H) < 0.1
    minority = rng.random(H) < 0.015
    latin_spouse = (n_p == 2) & (rng.random(H) < 0.002) & ~minority
    sur = names.surnames(rng, H)
    sur_m = names.surnames(rng, H)
    sur_ex = names.surnames(rng, H)
    origin = rng.integers(len(geography.ORIGINS), size=H)
    origin = np.where(minority & (rng.random(H) < 0.7),
                      np.array(geography.MINORITY_ORIGINS)[rng.integers(2, size=H)], origin)
    minority_migrant = minority & (rng.random(H) < 0.5)
    shape_in_mig = (s == "in_migrant") | minority_migrant

    # --- persons -------------------------------------------------------------------------
    size = n_g + n_p + n_c
    N = int(size.sum())
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    h = np.repeat(np.arange(H), size)
    pos = np.arange(N) - starts[h]
    gen = np.where(pos < n_g[h], 0, np.where(pos < n_g[h] + n_p[h], 1, 2))     # 0 G, 1 P, 2 C
    rank = pos - np.where(gen == 0, 0, np.where(gen == 1, n_g[h], n_g[h] + n_p[h]))
    rng = rng_for("persons")
    sex = np.where(rng.random(N) < 0.52, "M", "F").astype(object)
    g = gen == 0
    sex[g] = np.where(n_g[h[g]] == 2, np.where(rank[g] == 0, "M", "F"), g_sex1[h[g]])
    p = gen == 1
    sex[p] = np.where(n_p[h[p]] == 2, np.where(rank[p] == 0, "M", "F"), p_sex1[h[p]])
    age = np.empty(N)
    age[g] = np.where(sex[g] == "M", gf[h[g]], gm[h[g]])
    age[p] = np.where(sex[p] == "M", father[h[p]], mother[h[p]])
    c = gen == 2
    age[c] = a_child[h[c], np.minimum(rank[c], 2)]
    as_of_np = np.datetime64(as_of, "D")
    birth = as_of_np - np.floor(age * 365.25).astype("timedelta64[D]")
    age_int = _age_years(birth, as_of)

    # relation to the head of household
    rel = np.empty(N, dtype=object)
    hg = head_is_g[h]
    mat = maternal[h]
    rel[g & hg] = np.where(rank[g & hg] == 0, "户主", "配偶")
    rel[g & ~hg] = np.where(mat[g & ~hg], "其他", np.where(sex[g & ~hg] == "M", "父亲", "母亲"))
    pm = p & hg
    rel[pm] = np.where(sex[pm] == "M", np.where(mat[pm], "女婿", "子"), np.where(mat[pm], "女", "儿媳"))
    pn = p & ~hg
    rel[pn] = np.where(rank[pn] == 0, "户主", "配偶")
    rel[c & hg] = np.where(sex[c & hg] == "M", "孙子", "孙女")
    rel[c & ~hg] = np.where(sex[c & ~hg] == "M", "子", "女")

    # surnames down the paternal line
    sname = np.empty(N, dtype=object)
    sname[:] = names.surnames(rng, N)
    gm_line = g & (sex == "M")
    sname[gm_line] = np.where(mat[gm_line], sur_m[h[gm_line]], sur[h[gm_line]])
    pmale = p & (sex == "M")
    sname[pmale] = sur[h[pmale]]
    pfem = p & (sex == "F")
    sname[pfem] = sur_m[h[pfem]]
    single_mother = (n_p[h] == 1) & (p_sex1[h] == "F")
    kid_s = np.where(rng.random(N) < 0.95, sur[h], sur_m[h])
    kid_s = np.where(single_mother, np.where(rng.random(N) < 0.8, sur_ex[h], sur_m[h]), kid_s)
    sname[c] = kid_s[c]
    byear = birth.astype("datetime64[Y]").astype(int) + 1970
    era = np.where(byear < 1965, 0, np.where(byear < 1990, 1, 2))
    full = sname + names.given_names(rng, sex, era)

    # minority households: given·father's given
    is_min = minority[h]
    mg = names.minority_given(rng, sex)
    father_part = names.minority_given(rng, np.full(N, "M", dtype=object))
    p0 = starts + n_g                           # index of the first parent (if any)
    g0 = starts                                 # index of the first grandparent (if any)
    has_p0_male = (n_p > 0) & (sex[np.minimum(p0, N - 1)] == "M")
    has_g0_male = (n_g > 0) & (sex[g0] == "M")
    cm = c & has_p0_male[h]
    father_part[cm] = mg[p0[h[cm]]]
    pmg = p & (sex == "M") & has_g0_male[h]
    father_part[pmg] = mg[g0[h[pmg]]]
    full = np.where(is_min, mg + "·" + father_part, full)
    is_latin = latin_spouse[h] & p & (rank == 1)
    full[is_latin] = names.latin_names(rng, sex[is_latin])

    # namesakes: a few adults share name, sex and birth date with someone of another household
    rng = rng_for("namesakes")
    namesake_of = np.full(N, -1)
    adults = np.flatnonzero((age_int >= 20) & ~is_min & ~is_latin & ~c)
    if adults.size > 20:
        key = (sex[adults] == "M") * 1000 + age_int[adults]
        order = np.argsort(key, kind="stable")
        sk, sa = key[order], adults[order]
        for a in rng.choice(adults, size=max(2, N // 1000), replace=False):
            ka = (sex[a] == "M") * 1000 + age_int[a]
            lo_i, hi_i = np.searchsorted(sk, ka), np.searchsorted(sk, ka, side="right")
            b = sa[lo_i + int(rng.integers(hi_i - lo_i))]
            if h[b] != h[a] and namesake_of[a] < 0 and namesake_of[b] < 0 and b != a:
                full[b], birth[b], namesake_of[b] = full[a], birth[a], a

    # migration
    mig = np.full(N, "none", dtype=object)
    mig[shape_in_mig[h]] = "in_migrant"
    away = (s == "left_behind")[h] & p
    away |= (shape_name == "couple_children")[h] & c & (age_int >= 18) & (age_int <= 35) & ~urban_h[h] & (
        rng.random(N) < 0.3)
    mig[away] = "works_away"

    # --- identity numbers ------------------------------------------------------------
    rng = rng_for("ids")
    county_h = geo.county_code[vill]
    region = county_h[h].copy()
    other_county = np.array([c[0] for c in geography.COUNTIES], dtype=object)[
        rng.integers(len(geography.COUNTIES), size=N)]
    married_in = (p & (sex == "F") & (n_p[h] == 2)) | (g & (sex == "F"))
    region = np.where(married_in & (rng.random(N) < 0.25), other_county, region)
    origin_code = np.array([o[0] for o in geography.ORIGINS], dtype=object)[origin]
    born_here = c & (rng.random(N) < 0.5)
    region = np.where((mig == "in_migrant") & ~born_here, origin_code[h], region)
    seq = 2 * chunk.share(rng, 500, N) + (sex == "M")
    ids = _make_ids(region, birth, seq)
    for attempt in range(60):
        dup = _repeats(ids)
        if not dup.any():
            break
        if attempt == 59:
            raise RuntimeError("synth: could not make ID numbers unique")
        seq[dup] = 2 * chunk.share(rng, 500, int(dup.sum())) + (sex[dup] == "M")
        ids[dup] = _make_ids(region[dup], birth[dup], seq[dup])
    rural_p = ~urban_h[h]
    vulnerable = (rural_p & (age_int >= 70)) | is_min | (age_int < 1)
    no_id = rng.random(N) < np.where(vulnerable, profile.no_id_vulnerable, profile.no_id)
    no_id |= is_latin
    no_id |= (age_int < 1) & (rng.random(N) < 0.15)
    ids = np.where(no_id, None, ids)

    # --- deaths ----------------------------------------------------------------------------
    rng = rng_for("deaths")
    q = np.select([age_int < 60, age_int < 70, age_int < 80, age_int < 90], [0.0008, 0.012, 0.035, 0.09], 0.2)
    dead = rng.random(N) < q * 1.6
    death = as_of_np - rng.integers(15, 700, size=N).astype("timedelta64[D]")
    death = np.maximum(death, birth + np.timedelta64(1, "D"))

    # --- phones --------------------------------------------------------------------------
    rng = rng_for("phones")
    p_mob = np.select([age_int < 12, age_int < 18, age_int < 70], [0.0, 0.4, 0.95], 0.5)
    has_mob = rng.random(N) < p_mob
    mobile = np.where(has_mob, _unique_mobiles(rng, N, chunk), None)
    landline = np.where(rng.random(H) < np.where(urban_h, 0.05, 0.02),
                        geography.AREA_CODE + "-" + _digits(rng, H, 7, chunk), None)
    # household contact: the head's mobile, else the first member with one, else the landline
    is_head = rel == "户主"
    mob_order = np.where(has_mob, np.where(is_head, 0, 1 + pos), 10**6)
    best = np.full(H, 10**6)
    np.minimum.at(best, h, mob_order)
    first_mob = np.full(H, -1)
    sel = has_mob & (mob_order == best[h])
    first_mob[h[sel]] = np.flatnonzero(sel)
    contact = np.where(first_mob >= 0, mobile[np.maximum(first_mob, 0)], landline)

    # --- guardians ---------------------------------------------------------------------------
    rng = rng_for("guardians")
    guardian = np.full(N, -1)
    p1 = p0 + 1
    par_pick = np.where((n_p == 2) & (rng.random(H) < 0.4), p1, p0)
    gp_pick = g0 + ((n_g == 2) & (rng.random(H) < 0.5))
    g_of_h = np.where((s == "left_behind") | (n_p == 0), np.where(n_g > 0, gp_pick, -1), par_pick)
    guardian[c] = g_of_h[h[c]]

    # --- addresses -----------------------------------------------------------------------
    rng = rng_for("addresses")
    group = 1 + (rng.random(H) * geo.n_groups[vill]).astype(np.int64)
    house_no = rng.integers(1, 60, size=H)
    with_no = rng.random(H) < 0.25
    est_pick = rng.random(H)
    bld, unit = rng.integers(1, 25, size=H), rng.integers(1, 5, size=H)
    floor, room = rng.integers(1, 19, size=H), rng.integers(1, 5, size=H)
    detail = np.empty(H, dtype=object)
    for i in range(H):
        if urban_h[i]:
            est = geo.estates[vill[i]]
            detail[i] = f"{est[int(est_pick[i] * len(est))]}{bld[i]}号楼{unit[i]}单元{floor[i]}{room[i]:02d}室"
        else:
            detail[i] = f"{group[i]}组{house_no[i]}号" if with_no[i] else f"{group[i]}组"
    county_n, town_n, vill_n = geo.county_name[vill], geo.township_name[vill], geo.village_name[vill]
    address = geography.PROVINCE + geography.CITY + county_n + town_n + vill_n + detail
    origin_prefix = np.array([o[1] for o in geography.ORIGINS], dtype=object)[origin]
    reg_addr = (origin_prefix + geography.place_names(rng, H) + "镇" + geography.place_names(rng, H) + "村"
                + rng.integers(1, 9, size=H).astype(str).astype(object) + "组")
    # the registered address of natives is the village (rural) or the flat (urban)
    native_reg = np.where(urban_h, address, geography.PROVINCE + geography.CITY + county_n + town_n + vill_n
                          + group.astype(str).astype(object) + "组")
    registered_h = np.where(shape_in_mig, reg_addr, native_reg)
    workplace = np.array(geography.WORKPLACES, dtype=object)[rng.integers(len(geography.WORKPLACES), size=N)]
    away_addr = workplace + geography.place_names(rng, N) + np.where(rng.random(N) < 0.5, "小区", "城中村")
    residence = np.where(mig == "works_away", away_addr, address[h])
    registered = registered_h[h]
    registered = np.where((mig == "in_migrant") & born_here, address[h], registered)

    hh_uid = "H" + zpad(chunk.household_offset + np.arange(1, H + 1), 7)
    p_uid = "P" + zpad(chunk.person_offset + np.arange(1, N + 1), 8)
    households = pl.DataFrame({
        "household_uid": hh_uid, "shape": shape_name.astype(str),
        "county_code": county_h.astype(str), "township_code": geo.township_code[vill].astype(str),
        "village_code": geo.village_code[vill].astype(str), "county": county_n.astype(str),
        "township": town_n.astype(str), "village": vill_n.astype(str), "is_urban": urban_h,
        "address_detail": detail.astype(str), "address": address.astype(str),
        "registered_address": registered_h.astype(str), "landline": _str(landline), "contact_phone": _str(contact),
        "is_minority": minority, "is_migrant": shape_in_mig, "n_members": size,
    })
    persons_df = pl.DataFrame({
        "person_uid": p_uid, "household_uid": hh_uid[h], "hh_idx": h, "generation": gen, "rank": rank,
        "relation": rel.astype(str), "name": full.astype(str), "sex": sex.astype(str),
        "birth_date": birth, "age": age_int, "id_number": _str(ids), "is_minority": is_min, "is_latin": is_latin,
        "migrant_kind": mig.astype(str), "is_migrant": mig != "none", "region_code": region.astype(str),
        "county_code": county_h[h].astype(str), "township_code": geo.township_code[vill][h].astype(str),
        "village_code": geo.village_code[vill][h].astype(str), "is_urban": urban_h[h],
        "is_deceased": dead, "death_date": np.where(dead, death, np.datetime64("NaT")),
        "mobile": _str(mobile), "guardian_idx": guardian,
        "residence_address": residence.astype(str), "registered_address": registered.astype(str),
        "vulnerable": vulnerable, "namesake_of_idx": namesake_of,
    }).with_columns(pl.col("birth_date").cast(pl.Date), pl.col("death_date").cast(pl.Date),
                    pl.col("age").cast(pl.Int32))
    persons_df = persons_df.with_columns(
        guardian_uid=pl.when(pl.col("guardian_idx") >= 0)
        .then(pl.col("person_uid").gather(pl.col("guardian_idx").clip(0))),
        namesake_of=pl.when(pl.col("namesake_of_idx") >= 0)
        .then(pl.col("person_uid").gather(pl.col("namesake_of_idx").clip(0))),
    ).drop("namesake_of_idx")
    return Population(geo=geo, households=households, persons=persons_df, chunk=chunk)


def _str(a: np.ndarray) -> pl.Series:
    return pl.Series(list(a), dtype=pl.String)


def _age_years(birth: np.ndarray, as_of: date) -> np.ndarray:
    """Completed years at ``as_of``."""
    y = birth.astype("datetime64[Y]").astype(int) + 1970
    m = birth.astype("datetime64[M]").astype(int) % 12 + 1
    d = (birth - birth.astype("datetime64[M]")).astype(int) + 1
    before = (m > as_of.month) | ((m == as_of.month) & (d > as_of.day))
    return (as_of.year - y - before).astype(np.int64)


def _make_ids(region: np.ndarray, birth: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Valid 18-digit IDs through ``gb11643.make_id`` (the one check-digit routine)."""
    df = pl.DataFrame({"r": region.astype(str), "b": birth, "s": seq.astype(np.int64)}).with_columns(
        pl.col("b").cast(pl.Date))
    out = df.select(gb11643.make_id(pl.col("r"), pl.col("b"), pl.col("s")).alias("id"))["id"]
    return out.to_numpy().astype(object)
