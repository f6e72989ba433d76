"""Named random streams derived from one seed.

Each part of the generator draws from its own ``Generator(PCG64([seed, tag]))`` so that
adding draws in one part never shifts the numbers another part sees; the same seed
therefore gives the same bytes even as the generator evolves piece by piece.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """A reproducible generator for one named purpose."""
    return np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFF, zlib.crc32(name.encode())]))


def pick(rng: np.random.Generator, mask: np.ndarray, rate: float, at_least: int = 0) -> np.ndarray:
    """Boolean mask selecting about ``rate`` of the True positions of ``mask``.

    ``at_least`` forces that many picks when candidates exist, so that small runs still
    show every injected finding.
    """
    idx = np.flatnonzero(mask)
    out = np.zeros(mask.shape[0], dtype=bool)
    if idx.size == 0:
        return out
    chosen = rng.random(idx.size) < rate
    k = min(at_least, idx.size)
    if chosen.sum() < k:
        chosen[rng.choice(idx.size, size=k, replace=False)] = True
    out[idx[chosen]] = True
    return out
