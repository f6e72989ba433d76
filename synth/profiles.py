"""How messy a generated landing zone is: one object of rates per profile.

Every rate is a probability per record (or per person where noted). ``clean`` still
injects the audit findings (the auditors' rules need something to find) but almost
no messy values; ``typical`` has a few percent of each form; ``hard`` is what the
worst county extracts look like (many blank IDs for elderly, rural and minority
people, more typos, more 15-digit IDs, more duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    # persons without any ID number at all (per person); the second rate applies to
    # the vulnerable subgroup (rural people aged 70+, minority names, infants)
    no_id: float
    no_id_vulnerable: float
    # ID number forms (per record)
    id_blank: float
    id_blank_vulnerable: float
    id_typo: float            # one wrong digit or two adjacent digits swapped -> bad check digit
    id_15: float              # written in the pre-1999 15-digit form (people born before 1980 only)
    id_fullwidth: float
    id_spaces: float
    id_lower_x: float         # share of IDs ending in X written with a lower-case x
    id_excel: float           # damaged by a spreadsheet's number format
    guardian_id: float        # a child's record carries the guardian's ID (education, health)
    # names
    name_spaces: float
    name_fullwidth: float
    name_traditional: float
    name_typo: float
    name_sep_variant: float   # minority names: `•` or `.` instead of `·`
    # other values
    other_form: float         # sex/date/phone/money written in a non-primary form
    blank: float              # optional person fields left blank
    address_variant: float
    admin_blank: float
    duplicate: float          # the same person twice in one source's delivery
    # findings (rates among the candidates; at least one of each is always injected)
    deceased_assisted_kept: float
    deceased_pension_kept: float
    duplicate_assistance: float
    not_enrolled: float
    review_overdue: float
    conflict: float


PROFILES: dict[str, Profile] = {
    "clean": Profile(
        name="clean", no_id=0.0005, no_id_vulnerable=0.005,
        id_blank=0.001, id_blank_vulnerable=0.005, id_typo=0.001, id_15=0.002, id_fullwidth=0.0005,
        id_spaces=0.0005, id_lower_x=0.05, id_excel=0.0005, guardian_id=0.001,
        name_spaces=0.001, name_fullwidth=0.0005, name_traditional=0.0005, name_typo=0.001,
        name_sep_variant=0.05, other_form=0.002, blank=0.003, address_variant=0.05, admin_blank=0.002,
        duplicate=0.001, deceased_assisted_kept=0.05, deceased_pension_kept=0.05,
        duplicate_assistance=0.001, not_enrolled=0.002, review_overdue=0.02, conflict=0.0005,
    ),
    "typical": Profile(
        name="typical", no_id=0.003, no_id_vulnerable=0.03,
        id_blank=0.02, id_blank_vulnerable=0.06, id_typo=0.015, id_15=0.05, id_fullwidth=0.005,
        id_spaces=0.01, id_lower_x=0.3, id_excel=0.01, guardian_id=0.01,
        name_spaces=0.02, name_fullwidth=0.005, name_traditional=0.01, name_typo=0.015,
        name_sep_variant=0.4, other_form=0.03, blank=0.03, address_variant=0.3, admin_blank=0.03,
        duplicate=0.008, deceased_assisted_kept=0.25, deceased_pension_kept=0.2,
        duplicate_assistance=0.006, not_enrolled=0.01, review_overdue=0.08, conflict=0.003,
    ),
    "hard": Profile(
        name="hard", no_id=0.01, no_id_vulnerable=0.12,
        id_blank=0.06, id_blank_vulnerable=0.2, id_typo=0.04, id_15=0.15, id_fullwidth=0.02,
        id_spaces=0.03, id_lower_x=0.6, id_excel=0.03, guardian_id=0.03,
        name_spaces=0.05, name_fullwidth=0.02, name_traditional=0.03, name_typo=0.04,
        name_sep_variant=0.6, other_form=0.1, blank=0.08, address_variant=0.6, admin_blank=0.1,
        duplicate=0.02, deceased_assisted_kept=0.4, deceased_pension_kept=0.35,
        duplicate_assistance=0.015, not_enrolled=0.025, review_overdue=0.15, conflict=0.008,
    ),
}


def get_profile(name: str) -> Profile:
    """The named profile; raises ``ValueError`` naming the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile '{name}' (known: {', '.join(PROFILES)})") from None


def scaled(p: Profile, factor: float) -> Profile:
    """A profile with every messy-value rate multiplied (sources differ in care)."""
    keys = ("id_blank", "id_blank_vulnerable", "id_typo", "id_fullwidth", "id_spaces", "id_excel",
            "name_spaces", "name_fullwidth", "name_traditional", "name_typo", "other_form", "blank")
    return replace(p, **{k: min(0.9, getattr(p, k) * factor) for k in keys})
