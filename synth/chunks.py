"""Large populations in chunks of whole households, generated and written one at a time.

Why: the generator holds a population and its records in memory (about 6 GB at 1M
persons), so 5M persons at once would not fit. Above ``chunk_persons`` (default 1M,
``HHLINK_SYNTH_CHUNK_PERSONS`` or ``generate(..., chunk_persons=...)``) the population is
cut into equal chunks of households; each chunk is built, rendered and appended to the
landing zone and the truth, then dropped. A population that fits one chunk is generated
exactly as before (same seed, same bytes).

Chunks share the prefecture (its size follows the whole population) and nothing else:
nobody has a relative, a guardian or a record in another chunk, so every finding stays
inside its chunk. What must be unique over the whole population is made so by
construction, without comparing with earlier chunks:

- person and household uids continue the previous chunk's numbering (``*_offset``);
- 户编号 (and the 房屋编号 built from it) continue each village's household numbering;
- numbers drawn at random (the 3-digit ID sequence, mobile and landline digits, record-key
  sequences) come from this chunk's share of the space: the values ``v`` with
  ``v mod count == index`` (``Chunk.share``), so two chunks can never draw the same one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

#: persons per chunk unless told otherwise (1M persons is about 6 GB at the peak)
DEFAULT_CHUNK_PERSONS = 1_000_000
CHUNK_ENV = "HHLINK_SYNTH_CHUNK_PERSONS"
#: the ID sequence has 500 values per sex; each chunk keeps at least 5 of them
MAX_CHUNKS = 100


@dataclass(frozen=True)
class Chunk:
    """One chunk of the population and where its numbering starts."""

    index: int = 0
    count: int = 1
    person_offset: int = 0
    household_offset: int = 0
    #: households already numbered in each village (by village code) by earlier chunks
    village_households: Mapping[str, int] = field(default_factory=dict)

    def stream_name(self, name: str) -> str:
        """The random stream's name for this chunk (the first chunk keeps the plain name)."""
        return name if self.index == 0 else f"{name}#chunk{self.index}"

    def share(self, rng: np.random.Generator, high: int, size: int) -> np.ndarray:
        """``size`` integers in ``[0, high)`` from this chunk's residue class modulo ``count``.

        With one chunk this is exactly ``rng.integers(0, high, size)``.
        """
        return rng.integers(0, high // self.count, size=size) * self.count + self.index


def chunk_persons_from_env(value: int | None) -> int:
    """The chunk size: ``value`` if given, else the environment's, else the default."""
    if value is None:
        raw = os.environ.get(CHUNK_ENV, "").strip()
        if not raw:
            return DEFAULT_CHUNK_PERSONS
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ValueError(f"{CHUNK_ENV}='{raw}' is not a whole number of persons") from None
    if value < 100:
        raise ValueError("a chunk must hold at least 100 persons")
    return value


def chunk_sizes(persons: int, chunk_persons: int) -> list[int]:
    """Persons per chunk: as few chunks as fit ``chunk_persons``, sizes differing by at most one."""
    count = -(-persons // chunk_persons)
    if count > MAX_CHUNKS:
        raise ValueError(f"{persons:,} persons in chunks of {chunk_persons:,} would make {count} chunks "
                         f"(at most {MAX_CHUNKS}): use larger chunks")
    base, extra = divmod(persons, count)
    return [base + (i < extra) for i in range(count)]
