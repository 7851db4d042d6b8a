"""Statistics of the noise-models experiment: realised against nominal damage, and how much
each damage rule costs per unit of damage.

Cost per unit of damage: for each replicate r, the loss at level d is the clean cell's metric
minus the damaged cell's (the clean cell of replicate r trains on the same rows, so the
difference is paired), and the replicate's *slope* is the least-squares line through the origin,
``b_r = sum_d d * loss_r(d) / sum_d d**2`` (metric lost per unit of damage fraction over the
levels run). The slopes of the replicates give a t interval; two rules are compared by the
paired differences of their slopes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..noise import parse_counts, realised_rates, rule_matrix

__all__ = ["EXPERIMENT", "LEVEL", "damage_slopes", "noise_rows", "realised_table", "rule_comparison"]

EXPERIMENT = "noise_models"
LEVEL = 0.95
CLEAN = "none"


def noise_rows(results: pd.DataFrame, experiment: str = EXPERIMENT) -> pd.DataFrame:
    """The experiment's fits with a ``noise_rule`` for every row ("none" for the clean cells);
    empty when the results hold none.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    experiment : str, default "noise_models"
        The experiment.

    Returns
    -------
    pandas.DataFrame
    """
    df = results[results["experiment"] == experiment].copy()
    if df.empty:
        return df
    rule = df["noise_rule"] if "noise_rule" in df else df["damage"]
    df["noise_rule"] = rule.fillna(df["damage"]).where(df["frac_damage"] > 0, CLEAN)
    return df


def _t_interval(values, level: float) -> tuple[float, float, float, int]:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if v.size < 2:
        return m, math.nan, math.nan, int(v.size)
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return m, m - half, m + half, int(v.size)


def realised_table(results: pd.DataFrame, experiment: str = EXPERIMENT, dataset: str = "fashion") -> pd.DataFrame:
    """Realised against nominal damage, one row per (rule, frac_damage) over its cells.

    Columns: rule, frac_damage (nominal), cells (distinct training-label sets: models of a cell
    share them), realised (share of labels changed, mean over cells), worst_class (largest
    |class rate - nominal| over classes and cells: rounding of round(d * n_c)), matrix_tv
    (mean over damaged classes of the total-variation distance between the realised and the
    rule's transition row, pooled over cells; NaN for instance damage, whose rows differ per
    example), moved (labels changed, summed over cells). Cells without recorded counts are
    left out.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    experiment : str, default "noise_models"
        The experiment.
    dataset : str, default "fashion"
        The dataset, for the rules' nominal matrices.

    Returns
    -------
    pandas.DataFrame
    """
    df = noise_rows(results, experiment)
    cols = ["rule", "frac_damage", "cells", "realised", "worst_class", "matrix_tv", "moved"]
    if df.empty or "transition_counts" not in df:
        return pd.DataFrame(columns=cols)
    df = df[(df["frac_damage"] > 0) & df["transition_counts"].notna()]
    df = df.drop_duplicates(["noise_rule", "frac_damage", "frac_sample", "replicate"])
    rows = []
    for (rule, d), part in df.groupby(["noise_rule", "frac_damage"], sort=False):
        mats = [m for m in map(parse_counts, part["transition_counts"]) if m is not None]
        if not mats:  # only empty records: no counts to report
            continue
        k = mats[0].shape[0]
        rates = [realised_rates(m) for m in mats]
        pooled = np.sum(mats, axis=0)
        tv = math.nan
        if rule != "instance":
            try:
                nominal = rule_matrix(rule, k, dataset=dataset)
            except ValueError:
                nominal = None
            if nominal is not None:
                got = realised_rates(pooled)["matrix"]
                ok = ~np.isnan(got).any(axis=1)
                tv = float(0.5 * np.abs(got[ok] - nominal[ok]).sum(axis=1).mean()) if ok.any() else math.nan
        rows.append({"rule": rule, "frac_damage": float(d), "cells": len(mats),
                     "realised": float(np.mean([r["rate"] for r in rates])),
                     "worst_class": float(max(np.nanmax(np.abs(r["class_rates"] - d)) for r in rates)),
                     "matrix_tv": tv, "moved": int(pooled.sum() - np.trace(pooled))})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["rule", "frac_damage"], kind="stable").reset_index(drop=True)


def _replicate_slopes(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (model, rule, replicate): the replicate's slope through the origin."""
    clean = df[df["noise_rule"] == CLEAN].set_index(["model", "frac_sample", "replicate"])[metric]
    dmg = df[df["noise_rule"] != CLEAN].copy()
    base = clean.reindex(pd.MultiIndex.from_frame(dmg[["model", "frac_sample", "replicate"]])).to_numpy()
    dmg["loss"] = base - dmg[metric].to_numpy()
    dmg = dmg.dropna(subset=["loss"])
    rows = []
    for (model, rule, rep), part in dmg.groupby(["model", "noise_rule", "replicate"], sort=True):
        d, loss = part["frac_damage"].to_numpy(float), part["loss"].to_numpy(float)
        rows.append({"model": model, "rule": rule, "replicate": rep,
                     "slope": float((d * loss).sum() / (d * d).sum()),
                     "loss_at_max": float(loss[np.argmax(d)]), "max_damage": float(d.max())})
    return pd.DataFrame(rows, columns=["model", "rule", "replicate", "slope", "loss_at_max", "max_damage"])


def damage_slopes(results: pd.DataFrame, metric: str = "acc", level: float = LEVEL,
                  experiment: str = EXPERIMENT) -> pd.DataFrame:
    """Metric lost per unit of damage, per model and rule (see the module docstring).

    Columns: model, rule, replicates, slope (mean over replicates; e.g. 0.3: 10% damage costs
    3 accuracy points), ci_low, ci_high (t interval at ``level``; NaN with one replicate),
    loss_at_max (mean loss at the largest level), max_damage. Sorted by model, then slope
    (largest first).

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    level : float, default 0.95
        Confidence level.
    experiment : str, default "noise_models"
        The experiment.

    Returns
    -------
    pandas.DataFrame
    """
    df = noise_rows(results, experiment)
    cols = ["model", "rule", "replicates", "slope", "ci_low", "ci_high", "loss_at_max", "max_damage"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    reps = _replicate_slopes(df, metric)
    rows = []
    for (model, rule), part in reps.groupby(["model", "rule"], sort=True):
        m, lo, hi, n = _t_interval(part["slope"], level)
        rows.append({"model": model, "rule": rule, "replicates": n, "slope": m, "ci_low": lo, "ci_high": hi,
                     "loss_at_max": float(part["loss_at_max"].mean()), "max_damage": float(part["max_damage"].max())})
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["model", "slope"], ascending=[True, False], kind="stable").reset_index(drop=True)


def rule_comparison(results: pd.DataFrame, metric: str = "acc", level: float = LEVEL,
                    experiment: str = EXPERIMENT) -> pd.DataFrame:
    """Per model: the rule with the largest mean slope against the runner-up, by the paired
    differences of their replicate slopes (same replicates, same clean baseline).

    Columns: model, worst, runner_up, worst_slope, runner_slope, diff, diff_low, diff_high
    (t interval at ``level``; NaN with fewer than two paired replicates), replicates,
    separated (True when the interval lies above 0).

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    level : float, default 0.95
        Confidence level.
    experiment : str, default "noise_models"
        The experiment.

    Returns
    -------
    pandas.DataFrame
    """
    df = noise_rows(results, experiment)
    cols = ["model", "worst", "runner_up", "worst_slope", "runner_slope", "diff", "diff_low", "diff_high",
            "replicates", "separated"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    reps = _replicate_slopes(df, metric)
    slopes = damage_slopes(results, metric, level, experiment)
    rows = []
    for model, part in slopes.groupby("model", sort=True):
        if len(part) < 2:
            continue
        worst, runner = part.iloc[0], part.iloc[1]
        wide = reps[reps["model"] == model].pivot(index="replicate", columns="rule", values="slope")
        paired = (wide[worst["rule"]] - wide[runner["rule"]]).dropna()
        m, lo, hi, n = _t_interval(paired, level)
        rows.append({"model": model, "worst": worst["rule"], "runner_up": runner["rule"],
                     "worst_slope": worst["slope"], "runner_slope": runner["slope"], "diff": m,
                     "diff_low": lo, "diff_high": hi, "replicates": n,
                     "separated": bool(not math.isnan(lo) and lo > 0)})
    return pd.DataFrame(rows, columns=cols)
