"""The policy file: the rules behind early-warning flags, the discovery list and the thin-file list.

Policy changes more often than code and is owned by the people who run assistance,
so every threshold lives in a TOML file (``marts/policy.toml``, or the file named by
``HHLINK_POLICY``). A file that does not fit is refused whole with one line naming
the file, the key and what is wrong: a silently ignored typo in a threshold would
change who is visited.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parent / "policy.toml"

#: Every early-warning flag, in report order (the seed's 病学残失业, plus housing and income).
FLAGS = ("low_income", "illness", "schooling", "disability", "unemployment", "dangerous_house")


class PolicyError(ValueError):
    """The policy file cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class Standard:
    """最低生活保障标准, yuan per person per month."""

    urban: float
    rural: float


@dataclass(frozen=True)
class Policy:
    name: str
    source: str                       # the file it came from
    imputed_rural_income_per_worker: float
    worker_age: tuple[int, int]
    employment_age: tuple[int, int]
    absent_adults_unknown: bool
    default_standard: Standard
    county_standards: dict[str, Standard]
    unknown_area: str                 # "urban" or "rural"
    major_illness_min_oop: float
    oop_share_of_income: float
    min_oop: float
    disability_levels: tuple[str, ...]
    unemployment_statuses: tuple[str, ...]
    unemployment_min_days: int
    danger_ratings: tuple[str, ...]
    schooling_statuses: tuple[str, ...]
    school_age_not_enrolled: bool
    discovery_flags: tuple[str, ...]
    min_flags: int
    receiving_statuses: tuple[str, ...]
    actions: dict[str, str]
    household_min_sources: int
    income_unknown: bool
    facet_max_age_days: int
    person_no_verified_id: bool
    person_age_unknown: bool

    def standard(self, county: str | None) -> Standard:
        return self.county_standards.get(county or "", self.default_standard)


class _Reader:
    """Typed access to one table of the file; every complaint names file and key."""

    def __init__(self, path: Path, table: dict[str, Any], prefix: str = "") -> None:
        self.path, self.table, self.prefix = path, table, prefix
        self.used: set[str] = set()

    def fail(self, key: str, problem: str) -> PolicyError:
        return PolicyError(f"policy file {self.path}: {self.prefix}{key}: {problem}")

    def get(self, key: str) -> Any:
        self.used.add(key)
        if key not in self.table:
            raise self.fail(key, "missing")
        return self.table[key]

    def section(self, key: str) -> _Reader:
        value = self.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return _Reader(self.path, value, f"{self.prefix}{key}.")

    def number(self, key: str, lo: float = 0.0, hi: float | None = None) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if value < lo or (hi is not None and value > hi):
            raise self.fail(key, f"{value} is out of range ({lo} to {hi if hi is not None else 'any'})")
        return float(value)

    def integer(self, key: str, lo: int = 0) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise self.fail(key, f"must be a whole number of at least {lo}, not {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def text(self, key: str, choices: tuple[str, ...] = ()) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be non-empty text, not {value!r}")
        if choices and value not in choices:
            raise self.fail(key, f"'{value}' is not one of {', '.join(choices)}")
        return value

    def texts(self, key: str, choices: tuple[str, ...] = (), allow_empty: bool = False) -> tuple[str, ...]:
        value = self.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of text values")
        if not value and not allow_empty:
            raise self.fail(key, "must not be empty")
        wrong = [v for v in value if choices and v not in choices]
        if wrong:
            raise self.fail(key, f"'{wrong[0]}' is not one of {', '.join(choices)}")
        return tuple(value)

    def ages(self, key: str) -> tuple[int, int]:
        value = self.get(key)
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(a, int) and not isinstance(a, bool) for a in value)
                or not 0 <= value[0] <= value[1]):
            raise self.fail(key, f"must be [youngest, oldest] in whole years, not {value!r}")
        return value[0], value[1]

    def standard(self, key: str) -> Standard:
        s = self.section(key)
        out = Standard(urban=s.number("urban"), rural=s.number("rural"))
        s.done()
        return out

    def done(self) -> None:
        extra = sorted(set(self.table) - self.used)
        if extra:
            raise self.fail(extra[0], "unknown key (a typo?)")


def _parse(path: Path, data: dict[str, Any]) -> Policy:
    top = _Reader(path, data)
    name = top.text("name")

    inc = top.section("income")
    imputed = inc.number("imputed_rural_income_per_worker")
    ages = inc.ages("worker_age")
    employment_age = inc.ages("employment_age")
    absent_unknown = inc.flag("absent_adults_unknown")
    inc.done()

    low = top.section("low_income")
    default = low.standard("default")
    unknown_area = low.text("unknown_area", ("urban", "rural"))
    counties_r = low.section("county")
    counties = {}
    for code in counties_r.table:
        if not (len(code) == 6 and code.isdigit()):
            raise counties_r.fail(code, "a county is a 6-digit code")
        counties[code] = counties_r.standard(code)
    low.done()

    ill = top.section("illness")
    major_min = ill.number("major_illness_min_oop")
    share = ill.number("oop_share_of_income", 0.0, 100.0)
    min_oop = ill.number("min_oop")
    ill.done()

    dis = top.section("disability")
    levels = dis.texts("levels", ("一级", "二级", "三级", "四级"))
    dis.done()
    un = top.section("unemployment")
    statuses = un.texts("statuses", ("在职", "灵活就业", "失业登记", "退休", "无业"))
    min_days = un.integer("min_days")
    un.done()
    house = top.section("dangerous_house")
    ratings = house.texts("ratings", ("A", "B", "C", "D"))
    house.done()
    sch = top.section("schooling")
    sch_statuses = sch.texts("statuses", ("在读", "休学", "辍学", "毕业", "转出"), allow_empty=True)
    not_enrolled = sch.flag("school_age_not_enrolled")
    sch.done()

    disc = top.section("discovery")
    flags = disc.texts("flags", FLAGS)
    min_flags = disc.integer("min_flags", 1)
    if min_flags > len(flags):
        raise disc.fail("min_flags", f"{min_flags} is more than the {len(flags)} flags listed")
    receiving = disc.texts("receiving_statuses", ("在保", "停保"))
    acts = disc.section("actions")
    actions = {f: acts.text(f) for f in FLAGS if f in acts.table}
    missing = [f for f in flags if f not in actions]
    if missing:
        raise acts.fail(missing[0], "missing (every flag in discovery.flags needs an action)")
    acts.done()
    disc.done()

    thin = top.section("thin_file")
    out = Policy(
        name=name, source=str(path), imputed_rural_income_per_worker=imputed, worker_age=ages,
        employment_age=employment_age, absent_adults_unknown=absent_unknown,
        default_standard=default, county_standards=counties, unknown_area=unknown_area,
        major_illness_min_oop=major_min, oop_share_of_income=share, min_oop=min_oop, disability_levels=levels,
        unemployment_statuses=statuses, unemployment_min_days=min_days, danger_ratings=ratings,
        schooling_statuses=sch_statuses, school_age_not_enrolled=not_enrolled, discovery_flags=flags,
        min_flags=min_flags, receiving_statuses=receiving, actions=actions,
        household_min_sources=thin.integer("household_min_sources", 1), income_unknown=thin.flag("income_unknown"),
        facet_max_age_days=thin.integer("facet_max_age_days"), person_no_verified_id=thin.flag("person_no_verified_id"),
        person_age_unknown=thin.flag("person_age_unknown"),
    )
    thin.done()
    top.done()
    return out


def policy_path() -> Path:
    """``HHLINK_POLICY`` when set, else the built-in ``marts/policy.toml``."""
    env = os.environ.get("HHLINK_POLICY")
    return Path(env) if env else DEFAULT_PATH


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy from `path` (default: `policy_path()`), or a PolicyError in one line."""
    p = Path(path) if path is not None else policy_path()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {p} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {p} is not valid TOML: {exc}") from None
    return _parse(p, data)
