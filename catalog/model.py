"""The shape of a table's documentation, shared by every layer that declares tables.

Each layer declares its own tables (`catalog.tables` for the contract's and the linked
and audit tables, `marts.catalog` for the marts); one registry gathers them for
`COMMENT ON`, the data dictionary and the analyst database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How a column may leave the restricted warehouse:
#: ``none`` as it is; ``pseudonymise`` replaced by a keyed pseudonym (record keys, ids that
#: embed ID numbers); ``drop`` never (ID numbers, names, phones, addresses below the village,
#: free text that can hold them).
Pii = Literal["none", "pseudonymise", "drop"]


@dataclass(frozen=True)
class Column:
    name: str
    doc: str
    pii: Pii = "none"


@dataclass(frozen=True)
class Table:
    name: str                 # as in SQL, schema-qualified unless in main (e.g. "marts.household_profile")
    doc: str
    columns: tuple[Column, ...]
    analyst: bool = True      # published (with pii columns treated) to the analyst database
    examples: tuple[str, ...] = ()  # example SQL for the data dictionary
