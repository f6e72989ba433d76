"""What each department knows about a person or household, as latent truth.

Health (chronic illness, major illness, disability, out-of-pocket cost, hospital
stays), work (status, employer, wage, pension), schooling (stage, grade, school),
housing (tenure, area, danger rating) and the household's income are drawn here,
then the household's hardship reasons and whether civil affairs assists it. The
departments' extracts (``synth.deliveries``) only copy these values, so a household
that is in hardship shows it consistently across sources.

Hardship reasons (``HARDSHIP_REASONS``) and the rule used for the truth list:
a household is *in hardship* when it has at least two reasons; ``hardship.parquet``
lists those that civil affairs does not assist.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from synth import geography
from synth.population import Population

HARDSHIP_REASONS = ("low_income", "major_illness_high_cost", "severe_disability", "dangerous_house",
                    "registered_unemployed")
MAJOR_ILLNESSES = np.array(["恶性肿瘤", "尿毒症", "白血病", "重性精神病", "耐多药肺结核", "儿童先天性心脏病",
                            "慢性肾衰竭", "脑卒中后遗症"], dtype=object)
HIGH_COST = 20000.0
LOW_INCOME = {True: 7800.0, False: 5000.0}      # yearly per capita, urban / rural (about the 低保 line)
_EMPLOYER_KIND = ("有限公司", "机械厂", "建筑工程有限公司", "商贸有限公司", "农业专业合作社", "物流有限公司",
                  "人民医院", "中学", "食品有限公司", "电子科技有限公司")


def add(pop: Population, rng_for, as_of: date) -> Population:
    """Add latent department attributes to ``pop.persons`` and ``pop.households``."""
    P = pop.persons
    Hh = pop.households
    N, H = P.height, Hh.height
    age = P["age"].to_numpy()
    sex = P["sex"].to_numpy()
    h = P["hh_idx"].to_numpy()
    urban = P["is_urban"].to_numpy()
    mig = P["migrant_kind"].to_numpy()
    dead = P["is_deceased"].to_numpy()
    gen = P["generation"].to_numpy()
    as_np = np.datetime64(as_of, "D")

    # --- health ------------------------------------------------------------------
    rng = rng_for("health")
    chronic = rng.random(N) < np.select([age < 30, age < 50, age < 65], [0.03, 0.12, 0.3], 0.5)
    major_p = np.select([age < 40, age < 60], [0.004, 0.012], 0.03)
    major = np.where(rng.random(N) < major_p, MAJOR_ILLNESSES[rng.integers(MAJOR_ILLNESSES.size, size=N)], None)
    dis = rng.random(N) < np.select([age < 18, age < 60], [0.01, 0.03], 0.08)
    levels = np.array(["一级", "二级", "三级", "四级"], dtype=object)
    disability = np.where(dis, levels[rng.choice(4, size=N, p=[0.15, 0.25, 0.3, 0.3])], None)
    base = rng.lognormal(np.log(np.select([age < 18, age < 60], [300, 600], 1500)), 0.9)
    base = np.where(chronic, base * 2.5, base)
    oop = np.where(major != None, rng.uniform(8000, 80000, N), base)  # noqa: E711
    oop = np.round(oop, 1)
    stays = rng.poisson(np.where(major != None, 2.5, np.where(age >= 60, 0.3, 0.08)))  # noqa: E711

    # --- schooling ---------------------------------------------------------------------
    rng = rng_for("school")
    p_school = np.select([age < 3, age < 6, age < 16, age < 19, age < 23], [0.0, 0.85, 1.0, 0.85, 0.45], 0.0)
    in_school = (rng.random(N) < p_school) & ~dead
    stage = np.select([age < 6, age < 12, age < 15], ["学前", "小学", "初中"],
                      np.where(age < 19, np.where(rng.random(N) < 0.3, "中职", "高中"), "高校")).astype(object)
    stage = np.where(in_school, stage, None)

    # --- work ---------------------------------------------------------------------------
    rng = rng_for("work")
    retire_age = np.where(sex == "M", 60, np.where(urban, 55, 60))
    working_age = (age >= 16) & (age < retire_age) & ~in_school
    statuses = np.array(["在职", "灵活就业", "失业登记", "无业"], dtype=object)
    p_urban = [0.55, 0.2, 0.06, 0.19]
    p_rural = [0.15, 0.35, 0.04, 0.46]
    p_away = [0.4, 0.5, 0.0, 0.1]
    st = np.where(urban, statuses[rng.choice(4, size=N, p=p_urban)], statuses[rng.choice(4, size=N, p=p_rural)])
    st = np.where(mig == "works_away", statuses[rng.choice(4, size=N, p=p_away)], st)
    status = np.where(working_age, st, np.where(age >= retire_age, "退休", None)).astype(object)
    employee_pension = urban & (rng.random(N) < 0.6) | (rng.random(N) < 0.08)
    in_register = np.select(
        [status == "在职", status == "灵活就业", status == "失业登记", status == "退休", status == "无业"],
        [rng.random(N) < 0.97, rng.random(N) < 0.9, np.ones(N, bool), rng.random(N) < 0.95,
         rng.random(N) < 0.5], False)
    wage = np.select([status == "在职", status == "灵活就业"],
                     [rng.lognormal(np.log(np.where(urban, 4600, 3600)), 0.35), rng.lognormal(np.log(2800), 0.4)],
                     np.nan)
    pension = np.where(status == "退休", np.where(employee_pension, rng.normal(3300, 700, N).clip(1500),
                                                  rng.uniform(150, 350, N)), np.nan)
    wage, pension = np.round(wage, 0), np.round(pension, 1)
    unemployed_since = np.where(status == "失业登记",
                                as_np - rng.integers(20, 700, size=N).astype("timedelta64[D]"),
                                np.datetime64("NaT"))
    county_name = dict((c[0], c[1]) for c in geography.COUNTIES)
    cn = np.array([county_name[c] for c in P["county_code"].to_list()], dtype=object) if N else np.array([])
    emp_name = (geography.CITY.removesuffix("市") + np.where(rng.random(N) < 0.4, "", cn) +
                geography.place_names(rng, N) +
                np.array(_EMPLOYER_KIND, dtype=object)[rng.integers(len(_EMPLOYER_KIND), size=N)])
    away_emp = (np.array(["深圳", "东莞", "苏州", "宁波", "西安", "上海", "北京"], dtype=object)[
        rng.integers(7, size=N)] + geography.place_names(rng, N) + "电子有限公司")
    employer = np.where(status == "在职", np.where(mig == "works_away", away_emp, emp_name),
                        np.where((status == "灵活就业") & (rng.random(N) < 0.3), "个体", None))

    # --- household income ------------------------------------------------------------
    rng = rng_for("income")
    earn = np.nan_to_num(wage) * 12 + np.nan_to_num(pension) * 12
    earn = np.where(dead, 0.0, earn)
    farm = np.where(~urban & (age >= 16) & (age < 75) & ~in_school, rng.lognormal(np.log(6000), 0.5), 0.0)
    total = np.zeros(H)
    np.add.at(total, h, earn + farm)
    size = Hh["n_members"].to_numpy()
    income_pc = np.round(total / size * rng.lognormal(0, 0.25, H), 0)
    urban_h = Hh["is_urban"].to_numpy()
    low_income = income_pc < np.where(urban_h, LOW_INCOME[True], LOW_INCOME[False])

    # --- housing -------------------------------------------------------------------------
    rng = rng_for("housing")
    migrant_h = Hh["is_migrant"].to_numpy()
    r = rng.random(H)
    tenure = np.where(~urban_h, np.where(r < 0.95, "农村自建房", None),
                      np.where(r < 0.72, "自有住房", np.where(r < 0.8, "公租房", None))).astype(object)
    tenure = np.where(migrant_h, np.where(r < 0.12, "自有住房", np.where(r < 0.22, "租赁", None)), tenure)
    area = np.where(tenure == "农村自建房", rng.uniform(70, 220, H),
                    np.where(tenure == "公租房", rng.uniform(38, 60, H), rng.uniform(45, 140, H))).round(1)
    ratings = np.array(["A", "B", "C", "D"], dtype=object)
    danger = np.where(tenure == "农村自建房", ratings[rng.choice(4, size=H, p=[0.55, 0.33, 0.09, 0.03])],
                      ratings[rng.choice(4, size=H, p=[0.82, 0.16, 0.02, 0.0])])
    danger = np.where(tenure == None, None, danger)  # noqa: E711
    subsidy = np.where(((danger == "D") | (danger == "C")) & (rng.random(H) < 0.3),
                       rng.choice([15000.0, 25000.0, 35000.0], size=H), np.nan)

    # --- hardship and assistance ----------------------------------------------------------
    rng = rng_for("assistance")
    alive = ~dead

    def any_member(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(H, dtype=bool)
        out[h[mask & alive]] = True
        return out

    reasons = np.stack([
        low_income,
        any_member((major != None) & (oop >= HIGH_COST)),  # noqa: E711
        any_member(np.isin(disability, ["一级", "二级"])),
        danger == "D",
        any_member(status == "失业登记"),
    ], axis=1)
    n_reasons = reasons.sum(1)
    p_assist = np.select([n_reasons >= 2, low_income, n_reasons == 1], [0.72, 0.5, 0.06], 0.008)
    p_assist = np.where(migrant_h, p_assist * 0.1, p_assist)
    assisted = rng.random(H) < p_assist
    in_hardship = n_reasons >= 2
    shape = Hh["shape"].to_numpy()
    eld_alone = shape == "elderly_alone"
    category = np.select(
        [eld_alone & low_income, low_income, reasons[:, 1],
         income_pc < 1.5 * np.where(urban_h, LOW_INCOME[True], LOW_INCOME[False])],
        ["特困", "低保", "刚性支出困难", "低保边缘"], "临时救助").astype(object)
    # a stopped case is one whose hardship has eased (never one of the two-reason households)
    status_h = np.where((rng.random(H) < 0.07) & (n_reasons < 2), "停保", "在保").astype(object)
    hh_reasons = [[HARDSHIP_REASONS[j] for j in range(5) if reasons[i, j]] if n_reasons[i] else []
                  for i in range(H)]

    P = P.with_columns(
        pl.Series("chronic", chronic), pl.Series("major_illness", list(major), dtype=pl.String),
        pl.Series("disability_level", list(disability), dtype=pl.String), pl.Series("oop_medical", oop),
        pl.Series("hospital_stays", stays.astype(np.int64)),
        pl.Series("in_school", in_school), pl.Series("school_stage", list(stage), dtype=pl.String),
        pl.Series("employment_status", list(status), dtype=pl.String), pl.Series("in_employment_register", in_register),
        pl.Series("monthly_wage", wage), pl.Series("monthly_pension", pension),
        pl.Series("unemployed_since", unemployed_since).cast(pl.Date),
        pl.Series("employer", list(employer), dtype=pl.String),
    )
    Hh = Hh.with_columns(
        pl.Series("income_per_capita", income_pc), pl.Series("low_income", low_income),
        pl.Series("housing_type", list(tenure), dtype=pl.String), pl.Series("floor_area", area),
        pl.Series("danger_rating", list(danger), dtype=pl.String), pl.Series("renovation_subsidy", subsidy),
        pl.Series("hardship_reasons", hh_reasons, dtype=pl.List(pl.String)),
        pl.Series("in_hardship", in_hardship), pl.Series("assisted", assisted),
        pl.Series("assistance_category", list(np.where(assisted, category, None)), dtype=pl.String),
        pl.Series("assistance_status", list(np.where(assisted, status_h, None)), dtype=pl.String),
    )
    del gen
    return Population(geo=pop.geo, households=Hh, persons=P, chunk=pop.chunk)
