"""R-shaped result tables: the CSVs of the R testbench (one per dataset and experiment),
written from the tidy schema and read back into it, so that the two compare 1:1."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .records import COLUMNS

__all__ = ["R_FILES", "to_r_shape", "read_r_csv"]

#: R result file per (dataset, experiment); the size x damage CSV was not published in R.
R_FILES = {
    ("fashion", "size"): "fashion-data-size-results.csv",
    ("fashion", "random_damage"): "fashion-mnist-damage-results.csv",
    ("fashion", "constant_damage"): "fashion-mnist-const-damage-results.csv",
    ("fashion", "size_x_damage"): "fashion-size-x-damage-results.csv",
    ("mnist", "size"): "data-size-results.csv",
}

_DAMAGE_OF = {"size": "none", "random_damage": "random", "constant_damage": "constant",
              "size_x_damage": "constant"}


def to_r_shape(df: pd.DataFrame) -> pd.DataFrame:
    """R's columns for one experiment's tidy rows.

    ``frac,exp_name,acc,auc`` or, for the cross product, ``frac_damage,frac_sample,exp_name,acc,auc``;
    a ``replicate`` column only if there are several, and a trailing ``preview`` column ("QUICK
    PREVIEW ...") for any profile but ``full``. Rows follow R's order: by fraction, then the
    models in the order rf, xgb, dnn, cnn.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy rows of one experiment.

    Returns
    -------
    pandas.DataFrame
    """
    experiment = df["experiment"].iloc[0]
    order = {m: i for i, m in enumerate(["rf", "xgb", "dnn", "cnn"])}
    df = df.assign(_m=df["model"].map(lambda m: order.get(m, len(order))))
    if experiment == "size_x_damage":
        cols = ["frac_damage", "frac_sample"]
    else:
        by_size = experiment == "size" or (df["frac_damage"].nunique() == 1 and df["frac_sample"].nunique() > 1)
        df = df.assign(frac=df["frac_sample" if by_size else "frac_damage"])
        cols = ["frac"]
    if "noise_rule" in df and df["noise_rule"].notna().any():
        cols.append("noise_rule")  # several damage rules: a row without its rule means nothing
    if "selection" in df and (df["selection"].fillna("random") != "random").any():
        cols.append("selection")
    df = df.sort_values(cols + ["replicate", "_m"], kind="stable")
    keep = cols + ["exp_name", "acc", "auc"] + (["replicate"] if df["replicate"].nunique() > 1 else [])
    profiles = sorted(set(df["profile"].dropna()) - {"full"}) if "profile" in df else []
    if profiles:
        # a preview must say so wherever it goes, also in a file shaped like R's tables; the
        # trailing column is dropped again by read_r_csv
        label = "QUICK PREVIEW" if profiles == ["quick"] else " / ".join(p.upper() for p in profiles)
        df = df.assign(preview=f"{label} (profile {', '.join(profiles)}), not the R grid")
        keep.append("preview")
    return df.rename(columns={"model": "exp_name"})[keep].reset_index(drop=True)


def read_r_csv(path: str | os.PathLike, experiment: str | None = None, dataset: str | None = None) -> pd.DataFrame:
    """Read an R-shaped result CSV into the tidy schema (missing fields are NaN).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV.
    experiment, dataset : str, optional
        Default to what the file name says (see ``R_FILES``).

    Returns
    -------
    pandas.DataFrame
        Columns ``COLUMNS``.

    Raises
    ------
    ValueError
        If the file name says neither and they are not given.
    """
    path = Path(path)
    if experiment is None or dataset is None:
        by_name = {v: k for k, v in R_FILES.items()}
        if path.name not in by_name and (experiment is None or dataset is None):
            raise ValueError(f"cannot tell the experiment of {path.name}; pass experiment= and dataset=")
        dataset = dataset or by_name[path.name][0]
        experiment = experiment or by_name[path.name][1]
    raw = pd.read_csv(path)
    df = raw.rename(columns={"exp_name": "model"})
    if "frac" in df.columns:
        target = "frac_sample" if experiment == "size" else "frac_damage"
        df = df.rename(columns={"frac": target})
    df = df.assign(experiment=experiment, dataset=dataset, damage=_DAMAGE_OF.get(experiment, "none"))
    df["frac_sample"] = df.get("frac_sample", 1.0)
    df["frac_damage"] = df.get("frac_damage", 0.0)
    if "replicate" not in df.columns:
        df["replicate"] = 0
    return df.reindex(columns=COLUMNS)
