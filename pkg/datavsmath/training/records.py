"""Result records: the tidy results schema, the key of a fit, the checks a stored record must
pass, and the model recipe it was trained under.

A record is one model fit, a dict whose fields are the columns of the tidy table; the store
(:mod:`datavsmath.training.store`) keeps one per cell file.

The tidy schema, one row per model fit (``COLUMNS``):

=================  ==========================================================================
experiment         "size", "random_damage", "constant_damage", "size_x_damage" (or a user's)
dataset            "fashion" or "mnist"
model              "rf", "xgb", "dnn", "cnn" (or a registered model)
frac_sample        share of the 60,000 training rows drawn (1.0: all rows, file order)
frac_damage        share of the drawn labels damaged (0 for the size experiment)
damage             "none" or the damage rule (datavsmath.noise.NOISE_RULES: "random", "constant",
                   "symmetric", "pair", "confusion", "matrix", "instance")
replicate          0, 1, ... independent repetitions of the cell
seed               the cell's seed, derived from (experiment, dataset, cell, replicate)
n_train            rows given to the model (networks train on the first 80% of them)
acc, auc           test metrics on all 10,000 test rows (see ``datavsmath.metrics``)
fit_seconds        wall seconds of training; predict_seconds: of scoring the test set
device             where it trained, e.g. "cpu" or "gpu:NVIDIA H100"
profile            "full", "quick", "smoke"
finished_at        UTC ISO time; host: machine name; versions: JSON of library versions
=================  ==========================================================================

A pruning experiment's records add ``selection`` ("random", "keep_easy", "keep_hard"); a
record without it is random, and only the other rules add it to the cell file's name, so the
folders of the other experiments are unchanged.

Extra columns after these: ``backend``, ``copies`` (how the fit ran), ``recipe``, the version of
the model's recipe it was trained under (:attr:`datavsmath.models.ModelSpec.recipe`; cells
written before recipes were recorded count as recipe 1), ``transition_counts``
(the realised noise matrix of the cell's training labels, compact JSON ``[[n00, n01, ...],
...]``, rows the clean class, columns the label trained on; absent in cells written before it
was recorded) and, in experiments with several damage rules, ``noise_rule`` (the cell's rule,
also part of its file name; "none" for the shared clean cells). A stored fit of an older recipe
than the registered model's is *outdated*: ``datavsmath status`` and the run plan count it, the
next run retrains it (``put`` replaces it), and :func:`outdated` marks its rows in a table.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pandas as pd

__all__ = ["COLUMNS", "REQUIRED", "CHECKSUM", "RECIPE", "cell_id", "cell_file_name", "checksum", "record_recipe",
           "record_backend", "effective_recipe", "outdated", "replicates_per_model", "describe_replicates",
           "check_values", "check_cell"]

COLUMNS = [
    "experiment", "dataset", "model", "frac_sample", "frac_damage", "damage", "replicate",
    "seed", "n_train", "acc", "auc", "fit_seconds", "predict_seconds", "device", "profile",
    "finished_at", "host", "versions",
]

#: fields every cell must hold, with the types they must have (``put`` refuses a record
#: without them, a read quarantines a cell without them)
REQUIRED = {"experiment": str, "dataset": str, "model": str, "frac_sample": (int, float),
            "frac_damage": (int, float), "replicate": int, "acc": (int, float), "auc": (int, float)}
#: the field of a cell file holding the SHA-256 of the rest of the record
CHECKSUM = "sha256"
#: the field of a cell file holding the model recipe it was trained under (absent: 1)
RECIPE = "recipe"


def cell_id(model: str, frac_sample: float, frac_damage: float, replicate: int, dataset: str,
            rule: str | None = None, selection: str = "random") -> str:
    """File-name-safe key of one fit; fractions printed exactly so keys never collide.

    Parameters
    ----------
    model : str
        The model's registered name.
    frac_sample, frac_damage : float
        The cell's sample and damage fractions, in [0, 1].
    replicate : int
        The replicate, from 0.
    dataset : str
        The dataset's name.
    rule : str, optional
        The damage rule of an experiment with several (its cells would collide without it).
    selection : str, default "random"
        A pruning rule other than random is added to the key.

    Returns
    -------
    str
        E.g. ``"fashion_rf_s0.1_d0.0_r0"``.
    """
    tail = (f"_{rule}" if rule else "") + ("" if selection == "random" else f"_{selection}")
    return f"{dataset}_{model}_s{frac_sample!r}_d{frac_damage!r}_r{int(replicate)}{tail}"


def checksum(record: dict) -> str:
    """SHA-256 of a record (without its checksum field) in the canonical JSON the store writes.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    str
        64 hex digits.
    """
    body = {k: v for k, v in record.items() if k != CHECKSUM}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def record_recipe(record: dict) -> int:
    """The model recipe a stored record was trained under.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    int
        Its ``recipe``; 1 for records written before recipes were recorded.
    """
    value = record.get(RECIPE)
    return 1 if value is None else int(value)


def record_backend(record: dict) -> str | None:
    """The keras backend a stored record was trained under (``versions["keras_backend"]``).

    Parameters
    ----------
    record : dict
        A result record (one fit). Its ``versions`` is a JSON string in cell files and
        results.csv, a dict in records built in memory.

    Returns
    -------
    str or None
        "tensorflow", "jax", or None when the record does not say.
    """
    versions = record.get("versions")
    if isinstance(versions, str):
        try:
            versions = json.loads(versions)
        except ValueError:
            return None
    return versions.get("keras_backend") if isinstance(versions, dict) else None


def effective_recipe(record: dict) -> int:
    """The recipe whose computation a stored record holds.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    int
        Its model's current recipe when the stored one is declared the same computation on the
        record's keras backend (:meth:`datavsmath.models.ModelSpec.counts_as_current`), else the
        stored recipe.
    """
    from ..models import MODELS

    stored = record_recipe(record)
    spec = MODELS.get(str(record.get("model")))
    if spec is not None and spec.counts_as_current(stored, record_backend(record)):
        return max(stored, spec.recipe)
    return stored


def outdated(df: pd.DataFrame) -> pd.Series:
    """Which rows of a tidy table are our fits trained under an older recipe than their
    model's current one (:func:`effective_recipe`: an older recipe declared the same
    computation on the fit's backend is current).

    Never outdated: models not registered here, and rows without ``finished_at`` (R's published
    results, read from its CSVs). A row without a recipe counts as recipe 1.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (:func:`read_results`).

    Returns
    -------
    pandas.Series of bool
        Aligned with ``df``.
    """
    from ..models import MODELS

    if df.empty:
        return pd.Series(False, index=df.index, dtype=bool)
    cols = [c for c in ("model", RECIPE, "versions") if c in df.columns]
    records = df[cols].to_dict("records")
    old = pd.Series([r.get("model") in MODELS
                     and effective_recipe({k: v for k, v in r.items() if not pd.isna(v)}) < MODELS[r["model"]].recipe
                     for r in records], index=df.index, dtype=bool)
    ours = df["finished_at"].notna() if "finished_at" in df.columns else pd.Series(False, index=df.index)
    return (old & ours).astype(bool)



def replicates_per_model(df: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Fewest and most replicates per cell of each model in a tidy table.

    A cell is an experiment, dataset, sample and damage fraction (and selection, noise rule
    where present).

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (:func:`read_results`).

    Returns
    -------
    dict of str to tuple of (int, int)
        ``{model: (fewest, most)}``, in the order the models first appear.
    """
    if df.empty:
        return {}
    keys = [c for c in ("experiment", "dataset", "model", "frac_sample", "frac_damage", "selection", "noise_rule")
            if c in df.columns]
    n = df.groupby(keys, dropna=False).size().groupby("model").agg(["min", "max"])
    return {m: (int(n.at[m, "min"]), int(n.at[m, "max"])) for m in dict.fromkeys(df["model"])}


def describe_replicates(counts: dict[str, tuple[int, int]]) -> str:
    """The replicates per cell in words, e.g. "replicates per cell: rf 3, xgb 1, cnn 1-2".

    Parameters
    ----------
    counts : dict of str to tuple of (int, int)
        What :func:`replicates_per_model` returns.

    Returns
    -------
    str
    """
    if not counts:
        return "replicates per cell: none stored"
    return "replicates per cell: " + ", ".join(f"{m} {lo}" + (f"-{hi}" if hi != lo else "")
                                               for m, (lo, hi) in counts.items())


def _is_type(value, types) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)


def _n_train_problem(record: dict) -> str | None:
    """Whether ``n_train`` is the row count ``frac_sample`` gives a named dataset:
    ``floor(N * frac + 1e-9)`` of its N training rows (:func:`datavsmath.damage.sample_rows`).
    A dataset of one's own does not record N, and any count fits some N, so none is checked."""
    from ..data import train_rows

    n, frac, total = record["n_train"], record["frac_sample"], train_rows(record["dataset"])
    if total is None:
        return None
    expected = math.floor(total * frac + 1e-9)
    if n != expected:
        return (f"n_train {n} does not match frac_sample {frac!r} of the {total:,} training rows "
                f"of {record['dataset']} ({expected})")
    return None


#: ranges of the numeric fields of a cell, (low, high, low included, high included); a field
#: listed here but absent from a record (written before it was recorded) is not checked
_RANGES = {"frac_sample": (0.0, 1.0, False, True), "frac_damage": (0.0, 1.0, True, True),
           "acc": (0.0, 1.0, True, True), "auc": (0.0, 1.0, True, True),
           "fit_seconds": (0.0, math.inf, True, False), "predict_seconds": (0.0, math.inf, True, False)}
#: integer fields and their least value (absent: not checked, except those in REQUIRED)
_INTEGERS = {"replicate": 0, "seed": 0, "n_train": 1, RECIPE: 1, "copies": 1, "program": 1}


def check_values(record: dict) -> str | None:
    """What is wrong with the fields of one result record, if anything.

    Sound: the required fields present with their types; acc, auc and the fractions finite and
    in range; replicate, seed, n_train, recipe and copies integers at least their least value;
    n_train the rows its sample fraction gives. Checked on every read whether the record
    carries a checksum or not: a checksum proves a record unchanged, not that what was
    written was sound.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    str or None
        The first problem found, or None when every field holds a value a fit can produce.
    """
    bad = [k for k, t in REQUIRED.items() if not _is_type(record.get(k), t)]
    if bad:
        return f"missing or mistyped fields {bad}"
    for key in ("experiment", "dataset", "model"):
        if not record[key]:
            return f"{key} is empty"
    for key, (lo, hi, lo_in, hi_in) in _RANGES.items():
        if key not in record:
            continue
        v = record[key]
        if not _is_type(v, (int, float)):
            return f"{key} must be a number, got {v!r}"
        inside = (lo <= v if lo_in else lo < v) and (v <= hi if hi_in else v < hi)
        if not (math.isfinite(v) and inside):
            span = f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"
            return f"{key} {v!r} is outside {span}"
    for key, least in _INTEGERS.items():
        if key in record and not (_is_type(record[key], int) and record[key] >= least):
            return f"{key} must be an integer of at least {least}, got {record[key]!r}"
    if "n_train" in record:
        return _n_train_problem(record)
    return None


def check_cell(path: Path, text: str) -> tuple[dict | None, str | None]:
    """Read and check the text of one cell file.

    Parameters
    ----------
    path : pathlib.Path
        The file (named in messages).
    text : str
        Its content.

    Returns
    -------
    tuple of (dict or None, str or None)
        (record, None) for a sound cell file, else (None, what is wrong with it).
    """
    try:
        record = json.loads(text)
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    problem = check_values(record)
    if problem is not None:
        return None, problem
    stored = record.pop(CHECKSUM, None)
    if stored is not None and stored != checksum(record):  # None: written before checksums
        return None, "checksum mismatch (the record was changed after it was written)"
    if path.parent.name != record["experiment"] or path.name != cell_file_name(record):
        return None, f"its record belongs to {record['experiment']}/{cell_file_name(record)}"
    return record, None


def cell_file_name(record: dict) -> str:
    """The name of a record's cell file: its :func:`cell_id` and ``.json``.

    Parameters
    ----------
    record : dict
        A result record (one fit); only its key fields are read.

    Returns
    -------
    str
    """
    return cell_id(record["model"], record["frac_sample"], record["frac_damage"],
                   record["replicate"], record["dataset"], record.get("noise_rule"),
                   record.get("selection", "random")) + ".json"
