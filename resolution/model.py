"""The Splink model: Chinese-aware comparisons, blocking, training and its parameters.

Settings are *built in Python per backend* (STACK-NOTES: a settings object serialised
after building SQL for DuckDB fails on Spark), so what is versioned is not Splink's
JSON but the trained m/u values per comparison level, keyed by comparison name and
level label, in ``resolution/model_params.json``. `settings_for` rebuilds the levels
for a dialect and puts those numbers back.

Why the levels look as they do:

* ID. Two *valid* IDs that differ in one or two digits are twins or siblings (GB 11643's
  check digit catches every single-digit typo and adjacent swap), so the typo level
  requires a side whose check digit is wrong or unverifiable (an upgraded 15-digit ID
  gets a fresh check digit). IDs sharing region + birth date but nothing else are
  their own level: that is what twins look like, and it must weigh *against* a match.
* Name. DuckDB's string metrics count a Han character as one character, so Latin
  Jaro-Winkler thresholds never fire; same pinyin (homophone typo, the commonest
  input-method error) and one character different (similar-shape typo) are levels.
  Exact agreement is term-frequency adjusted: 王伟 agreeing says little.
* Phone is weak evidence (households share it; a child's phone is a guardian's) and
  term-frequency adjusted, so a number on five records weighs less.
* Place goes from the dwelling down to county; rural addresses often stop at the
  village group, so an equal address that names no dwelling counts as a village group.
* Phone and place agree for every member of a household, so they are not independent
  given a non-match: the guards and the name comparison keep relatives apart.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import splink.comparison_level_library as cll
from splink import SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.comparison_library import CustomComparison

PARAMS_PATH = Path(__file__).with_name("model_params.json")

_CHECK_UNSURE = "('bad_check', 'upgraded_15')"
_DAMAGED = "('bad_check', 'excel_damaged')"


@dataclass(frozen=True)
class Dialect:
    """The few SQL functions that are spelled differently per backend."""
    name: str
    hamming: str  # hamming(a, b) on equal-length strings

    def ham(self, a: str, b: str) -> str:
        return self.hamming.format(a=a, b=b)


DIALECTS = {
    "duckdb": Dialect("duckdb", "hamming({a}, {b})"),
    # Spark has no hamming(): count the positions that differ (NULL on unequal lengths,
    # where DuckDB's hamming fails; IDs are normalised to 18 characters). Levenshtein
    # would not do: it is 2 for an ID shifted by one digit, where hamming counts most digits.
    "spark": Dialect("spark", "CASE WHEN length({a}) = length({b}) THEN size(filter(sequence(1, length({a})), "
                              "pos -> substring({a}, pos, 1) <> substring({b}, pos, 1))) END"),
}


def level_label(lvl) -> str:
    """The label a level is known by (configured, else Splink's default)."""
    return getattr(lvl, "label_for_charts", None) or lvl.create_label_for_charts()


def _lvl(sql: str, label: str) -> cll.CustomLevel:
    return cll.CustomLevel(sql, label_for_charts=label)


def comparisons(d: Dialect) -> list[CustomComparison]:
    """The comparisons, each level labelled (labels key the stored parameters)."""
    idc = CustomComparison(output_column_name="id", comparison_description="citizen ID number", comparison_levels=[
        _lvl("id_head_l IS NULL OR id_head_r IS NULL", "ID missing").configure(is_null_level=True),
        _lvl("id_l = id_r", "same ID"),
        _lvl(f"(id_status_l IN {_CHECK_UNSURE} OR id_status_r IN {_CHECK_UNSURE}) AND {d.ham('id_l', 'id_r')} <= 2",
             "ID one or two digits off, check digit wrong"),
        # A spreadsheet's number cell loses the tail; read back, the tail is the double's
        # decimal expansion (…047936), so the damage shows as a wrong check digit.
        _lvl(f"id_head_l = id_head_r AND (id_l IS NULL OR id_r IS NULL OR id_status_l IN {_DAMAGED} "
             f"OR id_status_r IN {_DAMAGED})", "damaged ID, same first 14 digits"),
        # Fixed, not trained: a damaged ID that happens to pass the check digit (1 in 11)
        # lands here too and would teach EM that twins match.
        _lvl("id_head_l = id_head_r", "same region and birth date, other sequence (twins)").configure(
            m_probability=1e-6, fix_m_probability=True),
        cll.ElseLevel().configure(label_for_charts="different ID"),
    ])
    name = CustomComparison(output_column_name="name", comparison_description="name", comparison_levels=[
        cll.NullLevel("name"),
        cll.ExactMatchLevel("name", term_frequency_adjustments=True).configure(label_for_charts="same name"),
        _lvl("name_pinyin_l = name_pinyin_r", "same pinyin (homophone)"),
        _lvl("length(name_l) = length(name_r) AND length(name_l) >= 3 AND levenshtein(name_l, name_r) = 1",
             "one character different (3+ characters)"),
        _lvl("levenshtein(name_pinyin_l, name_pinyin_r) <= 2 AND surname_py_l = surname_py_r",
             "near pinyin, same surname"),
        _lvl("length(name_l) = length(name_r) AND levenshtein(name_l, name_r) = 1",
             "one character different (2 characters)"),
        # Fixed, not trained: in the session blocked on the ID, a guardian's ID in a child's
        # field shows EM "the same person under another name" (the link guard stops those).
        cll.ElseLevel().configure(label_for_charts="different name", m_probability=1e-3, fix_m_probability=True),
    ])
    parts = "(year(dob_l) = year(dob_r))::INT + (month(dob_l) = month(dob_r))::INT + (day(dob_l) = day(dob_r))::INT"
    if d.name == "spark":
        parts = parts.replace("::INT", "")
        parts = " + ".join(f"CAST({p.strip()} AS INT)" for p in parts.split("+"))
    dob = CustomComparison(output_column_name="dob", comparison_description="birth date", comparison_levels=[
        cll.NullLevel("dob"),
        cll.ExactMatchLevel("dob").configure(label_for_charts="same birth date"),
        _lvl(f"{parts} = 2", "one of year/month/day different"),
        _lvl("year(dob_l) = year(dob_r) AND month(dob_l) = day(dob_r) AND day(dob_l) = month(dob_r)",
             "month and day swapped"),
        cll.ElseLevel().configure(label_for_charts="different birth date"),
    ])
    sex = CustomComparison(output_column_name="sex", comparison_description="sex", comparison_levels=[
        cll.NullLevel("sex"),
        cll.ExactMatchLevel("sex").configure(label_for_charts="same sex"),
        cll.ElseLevel().configure(label_for_charts="different sex"),
    ])
    phone = CustomComparison(output_column_name="phone", comparison_description="phone", comparison_levels=[
        cll.NullLevel("phone"),
        cll.ExactMatchLevel("phone", term_frequency_adjustments=True).configure(label_for_charts="same phone"),
        cll.ElseLevel().configure(label_for_charts="different phone"),
    ])
    # "different place" needs something comparable on both sides: a record with only a
    # county code and one with only a village name are not in different places.
    both = " OR ".join(f"({c}_l IS NOT NULL AND {c}_r IS NOT NULL)"
                       for c in ("address_key", "village", "town", "county"))
    place = CustomComparison(output_column_name="place", comparison_description="address and admin area",
                             comparison_levels=[
        _lvl(f"NOT ({both})", "no place").configure(is_null_level=True),
        _lvl("address_key_l = address_key_r AND address_dwelling_l", "same dwelling"),
        _lvl("vgroup_l = vgroup_r OR address_key_l = address_key_r", "same village group"),
        _lvl("village_l = village_r", "same village/community"),
        _lvl("town_l = town_r", "same township"),
        _lvl("county_l = county_r", "same county"),
        cll.ElseLevel().configure(label_for_charts="different place"),
    ])
    return [idc, name, dob, sex, phone, place]


#: Candidate pairs. Each rule is an equi-join on something rare, so pair counts stay
#: near one per record; the rules after the ID ones let records without an ID link.
def blocking_rules() -> list:
    return [
        block_on("id"),
        block_on("id_head"),
        block_on("name", "dob"),
        block_on("name_pinyin", "dob"),
        block_on("name", "phone"),
        block_on("name", "village"),
        block_on("name_pinyin", "village"),
        block_on("dob", "village"),
        block_on("dob", "phone"),
        CustomRule("l.name_pinyin = r.name_pinyin AND l.phone = r.phone"),
    ]


#: EM sessions, in order: blocking on the ID trains everything else; blocking on
#: name + birth date trains the ID (and name, through the ID session).
EM_RULES = (("id",), ("name", "dob"), ("dob", "village"))


def _default_params() -> dict[str, Any]:
    if PARAMS_PATH.exists():
        return json.loads(PARAMS_PATH.read_text(encoding="utf-8"))
    return {}


def settings_for(dialect: str = "duckdb", params: dict[str, Any] | None = None,
                 n_records: int | None = None) -> SettingsCreator:
    """Settings for a backend dialect, with trained parameters put back when given.

    ``n_records`` rescales the prior: matches grow with the records, pairs with their
    square, so the probability that two random records match scales as 1/n.
    """
    params = _default_params() if params is None else params
    comps = comparisons(DIALECTS[dialect])
    levels = params.get("levels", {})
    for comp in comps:
        for lvl in comp._comparison_levels:
            label = level_label(lvl)
            got = levels.get(f"{comp._output_column_name}|{label}")
            if got and not getattr(lvl, "is_null_level", False):
                lvl.configure(m_probability=got["m"], u_probability=got["u"])
    prior = params.get("probability_two_random_records_match", 1e-5)
    if n_records and params.get("n_records"):
        prior = min(0.5, prior * params["n_records"] / max(n_records, 1))
    return SettingsCreator(
        link_type="link_and_dedupe",
        comparisons=comps,
        blocking_rules_to_generate_predictions=blocking_rules(),
        probability_two_random_records_match=prior,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=[],
        max_iterations=20,
        em_convergence=1e-4,
    )


def params_from_linker(linker, n_records: int) -> dict[str, Any]:
    """The trained m/u values of a linker, keyed by comparison and level label."""
    out: dict[str, Any] = {"n_records": n_records,
                           "probability_two_random_records_match":
                               linker._settings_obj._probability_two_random_records_match,
                           "levels": {}}
    for cc in linker._settings_obj.comparisons:
        for cl in cc._comparison_levels_excluding_null:
            # 12 significant digits: DuckDB's parallel sums differ in the last bits between runs
            m, u = (None if v is None else float(f"{v:.12g}") for v in (cl.m_probability, cl.u_probability))
            out["levels"][f"{cc.output_column_name}|{cl.label_for_charts}"] = {
                "m": m, "u": u, "weight": round(math.log2(m / u), 3) if m and u else None,
                "m_trained": cl._has_estimated_m_values, "u_trained": cl._has_estimated_u_values}
    return out


def save_params(params: dict[str, Any], path: Path = PARAMS_PATH) -> None:
    path.write_text(json.dumps(params, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
