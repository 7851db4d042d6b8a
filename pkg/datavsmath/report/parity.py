"""Parity with R in words and readable tables (the numbers come from :mod:`datavsmath.stats.parity`)."""

from __future__ import annotations

import math

import pandas as pd

from .site import EXPERIMENT_NAMES


def _pct(v) -> str:
    return "n/a" if pd.isna(v) else f"{v:.0%}"


def readable_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`parity_summary` with plain column names and formatted numbers.

    Parameters
    ----------
    summary : pandas.DataFrame
        What :func:`datavsmath.stats.parity.parity_summary` returned.

    Returns
    -------
    pandas.DataFrame
    """
    out = summary.copy()
    if "experiment" in out:
        out["experiment"] = out["experiment"].map(lambda e: EXPERIMENT_NAMES.get(e, e))
        if "dataset" in out:
            # one column, not two: Fashion-MNIST is the default, any other dataset is named
            out["experiment"] = [e if d == "fashion" else f"{e} ({d})"
                                 for e, d in zip(out["experiment"], out["dataset"])]
            out = out.drop(columns="dataset")
    out["mean_diff"] = out["mean_diff"].map(lambda v: f"{v:+.4f}")
    out["mean_abs_diff"] = out["mean_abs_diff"].map(lambda v: f"{v:.4f}")
    if "max_abs_diff" in out:
        out["max_abs_diff"] = out["max_abs_diff"].map(lambda v: f"{v:.4f}")
    out["ours_higher"] = out["ours_higher"].map(_pct)
    out["consistent"] = out["consistent"].map(_pct)
    # short headers: the table has to fit an 800 px window; the captions say what they mean
    return out.rename(columns={"cells": "cells", "mean_diff": "mean ours - R",
                               "mean_abs_diff": "mean |diff|",
                               "max_abs_diff": "max |diff|", "ours_higher": "ours higher",
                               "consistent": "R inside", "with_interval": "with interval"})


def readable_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """:func:`parity_cells` rows formatted for reading (one experiment at a time).

    Parameters
    ----------
    cells : pandas.DataFrame
        Rows of :func:`datavsmath.stats.parity.parity_cells`.

    Returns
    -------
    pandas.DataFrame
    """
    out = pd.DataFrame({
        "sample": cells["frac_sample"].map(lambda v: f"{v:.0%}"),
        "damage": cells["frac_damage"].map(lambda v: f"{v:.0%}"),
        "metric": cells["metric"], "model": cells["model"].astype(str),
        "R": cells["r"].map(lambda v: f"{v:.4f}"), "ours (mean)": cells["ours"].map(lambda v: f"{v:.4f}"),
        "runs": cells["n"],
        "our interval for one run": [("n/a" if pd.isna(lo) else f"{lo:.4f} to {hi:.4f}")
                                     for lo, hi in zip(cells["lo"], cells["hi"])],
        "ours - R": cells["diff"].map(lambda v: f"{v:+.4f}"),
        "R inside": cells["inside"].map({1.0: "yes", 0.0: "no"}).fillna("n/a"),
    })
    return out


#: implementation facts (from the specification and the port) that can move a model's numbers
KNOWN_DIFFERENCES = {
    "rf": "R's randomForest and our forest draw different bootstrap samples and split candidates; "
          "with only 25 trees, vote-fraction probabilities are coarse, so AUC is sensitive to them.",
    "xgb": "xgboost 0.82's exact greedy method versus our histogram method (the same candidate "
           "splits for 256-level pixels, but different floating-point accumulation) and a newer xgboost.",
    "dnn": "keras 2.2 on TensorFlow 1 versus today's Keras 3 / TensorFlow 2: the RMSprop update and "
           "the loss follow keras 2.2's formulas (recipe 2), but the random streams of the initialisers, "
           "dropout and per-epoch shuffling, and the order of float sums, differ.",
    "cnn": "keras 2.2 on TensorFlow 1 versus today's Keras 3 / TensorFlow 2 (Adadelta, learning "
           "rate 1.0, is kept); GPU kernels are not bit-reproducible.",
}


def describe_systematic(row: pd.Series) -> str:
    """One plain-words sentence for a row of :func:`systematic_differences`.

    Parameters
    ----------
    row : pandas.Series
        A row of :func:`datavsmath.stats.parity.systematic_differences`.

    Returns
    -------
    str
    """
    exp = EXPERIMENT_NAMES.get(row["experiment"], row["experiment"])
    metric = {"acc": "accuracy", "auc": "AUC"}.get(row["metric"], row["metric"])
    direction = "higher" if row["mean_diff"] > 0 else "lower"
    count = row["higher"] if row["mean_diff"] > 0 else row["nonzero"] - row["higher"]
    where = (f"{row['worst_frac_sample']:.0%} of the rows" if row["experiment"] == "size"
             else f"{row['worst_frac_damage']:.0%} damage")
    consistent = ("" if math.isnan(row["consistent"]) else
                  f" R's value still lies inside our replicate interval in {row['consistent']:.0%} of these cells.")
    dataset = "" if row["dataset"] == "fashion" else f" ({row['dataset']})"
    return (f"**{exp.capitalize()}{dataset}, {row['model']}, {metric}:** ours is {direction} than R's in "
            f"{count} of {row['nonzero']} cells (mean difference {row['mean_diff']:+.4f}; sign test "
            f"p = {row['p']:.1g}, {row['p_adjusted']:.1g} after Bonferroni); the largest gap, "
            f"{row['worst_diff']:+.4f}, is at {where}.{consistent} Known implementation "
            f"differences for this model: {KNOWN_DIFFERENCES.get(row['model'], 'none recorded')}")



#: cells R published on Fashion-MNIST: 3 experiments x 4 models x 28 levels
R_FASHION_CELLS = 336


def parity_verdict_text(cells: pd.DataFrame, r_cells: int = R_FASHION_CELLS) -> str:
    """Two sentences answering "does our port reproduce R?" from :func:`parity_cells` rows.

    Parameters
    ----------
    cells : pandas.DataFrame
        Rows of :func:`datavsmath.stats.parity.parity_cells`.
    r_cells : int, default R_FASHION_CELLS
        Cells R published for Fashion-MNIST.

    Returns
    -------
    str
        Markdown.
    """
    if cells.empty:
        return "No cell of these results matches one of R's, so parity cannot be judged."
    fashion = cells[cells["dataset"] == "fashion"]
    n = int(len(fashion[fashion["metric"] == "acc"]))
    parts = []
    for metric, name in (("acc", "accuracy"), ("auc", "AUC")):
        m = fashion[fashion["metric"] == metric]
        judged = m["inside"].dropna()
        if len(judged):
            parts.append(f"{name} in {judged.mean():.0%} of {len(judged)} cells "
                         f"(mean |ours - R| {m['diff'].abs().mean():.4f})")
    head = f"We compare {n} of R's {r_cells} published Fashion-MNIST cells."
    if not parts:
        return head + " None has a known run-to-run spread, so none can be called consistent or not."
    return (head + " R's single run lies inside our 95% prediction interval for one run for "
            + " and for ".join(parts) + "; with a correct port about 95% are expected.")
