"""Training the model deterministically, and the check that every level was trained.

u values come from seeded random sampling (``max_pairs=1e7`` was as accurate as 1e8
and 6x faster, STACK-NOTES); m values from EM sessions with fixed blocking rules.
Levels that are rare among non-matches (an ID typo, twins) may never be sampled or
seen by EM, and Splink then silently keeps a default: `untrained_levels` names them
and `train_linker` fills them from `FALLBACK` (documented judgement, not data).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
from splink import block_on

from resolution.model import EM_RULES, PARAMS_PATH, params_from_linker, save_params

log = logging.getLogger("hhlink.resolution")

#: m and u for levels the data did not train, by "comparison|label": chosen so that
#: the level means what the docstring of model.py says (twins weigh against a match).
FALLBACK: dict[str, dict[str, float]] = {
    "id|ID one or two digits off, check digit wrong": {"m": 0.01, "u": 1e-7},
    "id|damaged ID, same first 14 digits": {"m": 0.005, "u": 1e-7},
    "id|same region and birth date, other sequence (twins)": {"m": 1e-6, "u": 1e-6},  # m fixed in model.py
    "dob|month and day swapped": {"m": 0.002, "u": 5e-5},
    # the same person's birth dates differ in two or more parts only through rare errors
    # (an ID whose date disagrees that much is not trusted, see prepare.py)
    "dob|different birth date": {"m": 0.001, "u": 0.99},
    # only civil affairs and housing carry a county code, and both also give the village
    "place|same county": {"m": 0.01, "u": 0.0015},
}


def train_linker(linker, seed: int = 42, max_pairs: float = 1e7) -> None:
    """u by seeded sampling, then one EM session per rule of `EM_RULES`."""
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    for rule in EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), estimate_without_term_frequencies=True)
    _fill_untrained(linker)


def untrained_levels(linker) -> list[str]:
    out = []
    for cc in linker._settings_obj.comparisons:
        for cl in cc._comparison_levels_excluding_null:
            if not (cl._has_estimated_m_values and cl._has_estimated_u_values):
                out.append(f"{cc.output_column_name}|{cl.label_for_charts}")
    return out


def _fill_untrained(linker) -> None:
    for cc in linker._settings_obj.comparisons:
        for cl in cc._comparison_levels_excluding_null:
            key = f"{cc.output_column_name}|{cl.label_for_charts}"
            fb = FALLBACK.get(key)
            if fb is None:
                continue
            if not cl._has_estimated_m_values:
                cl.m_probability = fb["m"]
            if not cl._has_estimated_u_values:
                cl.u_probability = fb["u"]
            log.info("level %s not trained by the data: fallback used where missing", key)


def train_params(inputs: pa.Table, seed: int = 42, out: Path | None = PARAMS_PATH) -> dict[str, Any]:
    """Train on a linkage input (e.g. generated data) and write the versioned parameters."""
    from resolution.link import LinkConfig, build_linker

    linker, _ = build_linker(inputs, LinkConfig(train=True))
    train_linker(linker, seed=seed)
    params = params_from_linker(linker, inputs.num_rows)
    params["untrained_before_fallback"] = untrained_levels(linker)
    params["seed"] = seed
    if out is not None:
        save_params(params, out)
    return params


def train_on_generated(persons: int = 20_000, seed: int = 5, profile: str = "typical",
                       workdir: Path | None = None, out: Path | None = PARAMS_PATH) -> dict[str, Any]:
    """Generate, ingest and train: how the versioned `model_params.json` is (re)made."""
    import tempfile

    from ingest import db
    from pipelines.bench import _ingest_once
    from resolution.prepare import prepare
    from synth import generate

    with tempfile.TemporaryDirectory(prefix="hhlink-train-") as tmp:
        root = Path(workdir or tmp)
        generate(persons, seed, root, profile)
        wh = root / "train.duckdb"
        _ingest_once(str(root / "landing"), str(wh))
        with db.connect(wh, read_only=True) as con:
            inputs = prepare(con)
    params = train_params(inputs, seed=seed, out=None)
    params["trained_on"] = f"hhlink generate --persons {persons} --seed {seed} --profile {profile}"
    if out is not None:
        save_params(params, out)
    return params
