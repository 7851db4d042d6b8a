"""Parity with R's published tables, and the small replicate statistics it rests on.

R published one run per cell. Ours may have several replicates; a cell agrees with R when
R's value lies inside our 95% prediction interval for one new run (mean +- t * sd *
sqrt(1 + 1/n)), which is the right yardstick for a single draw. Every function takes the tidy
results frame (one row per fit; :func:`datavsmath.training.store.read_results`) and returns
plain numbers or frames; the report pages and ``datavsmath parity`` format them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from ..experiments import R_EXPERIMENTS

__all__ = ["EXPERIMENT_ORDER", "KEYS", "LEVEL", "MIN_POOLED_DF", "diff_ci", "mean_ci",
           "model_order", "outliers", "parity_cells", "parity_summary", "prediction_interval",
           "run_spread", "systematic_differences"]

def model_order(present) -> list[str]:
    """The models in ``present`` in the registry's order (rf, xgb, dnn, cnn, then any model
    registered later), followed by unregistered ones sorted: no model is dropped.

    Parameters
    ----------
    present : iterable of str
        Model names, repeats allowed (e.g. a results column).

    Returns
    -------
    list of str
        Each name once, registered models first.
    """
    from ..models import MODELS

    present = set(present)
    return [m for m in MODELS if m in present] + sorted(present - set(MODELS))


#: the order of R's result rows and of the experiments in every table
EXPERIMENT_ORDER = list(R_EXPERIMENTS)
#: the confidence level of every interval here
LEVEL = 0.95


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return v[~np.isnan(v)]


def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """The mean over replicates with its t-interval (statsmodels ``DescrStatsW``).

    Parameters
    ----------
    values : array-like of float, shape (n,)
        One value per replicate (accuracy or AUC); NaN values are left out.
    level : float, default 0.95
        Confidence level of the interval, in (0, 1).

    Returns
    -------
    tuple of (float, float, float, int)
        ``(mean, low, high, n)``: NaN bounds when fewer than 2 values, all NaN when none.
    """
    v = _finite(values)
    n = v.size
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, math.nan, math.nan, n
    low, high = DescrStatsW(v).tconfint_mean(alpha=1 - level)
    return m, float(low), float(high), n


def prediction_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """Interval expected to hold one more run with probability ``level`` (normal replicates):
    mean +- t * sd * sqrt(1 + 1/n). NaN if fewer than 2 replicates. This is the right yardstick
    for R's single run of a cell.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        One value per replicate; NaN values are left out.
    level : float, default 0.95
        Probability that the interval holds one more run.

    Returns
    -------
    tuple of (float, float)
        The lower and upper limits.
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = v.size
    if n < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) * math.sqrt(1 + 1 / n)
    return float(v.mean() - half), float(v.mean() + half)


def diff_ci(a, b, level: float = LEVEL) -> tuple[float, float, float]:
    """mean(a) - mean(b) with a Welch t-interval (statsmodels ``CompareMeans``, unequal
    variances).

    Parameters
    ----------
    a, b : array-like of float, shapes (n_a,) and (n_b,)
        The replicate values of two cells; NaN values are left out.
    level : float, default 0.95
        Confidence level of the interval, in (0, 1).

    Returns
    -------
    tuple of (float, float, float)
        ``(difference, low, high)``: NaN bounds when either has fewer than 2 values, all NaN
        when either has none; a zero-width interval when both sets are constant.
    """
    a, b = _finite(a), _finite(b)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    d = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return d, math.nan, math.nan
    if a.var() == 0 and b.var() == 0:  # no spread: Welch's degrees of freedom are 0/0
        return d, d, d
    low, high = CompareMeans(DescrStatsW(a), DescrStatsW(b)).tconfint_diff(alpha=1 - level, usevar="unequal")
    return d, float(low), float(high)


KEYS = ["dataset", "experiment", "model", "frac_sample", "frac_damage"]
#: pooled spreads with fewer residual degrees of freedom are not used (their t quantile explodes)
MIN_POOLED_DF = 5


def _rounded(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    return df.dropna(subset=[metric]).assign(frac_sample=lambda d: d["frac_sample"].round(6),
                                             frac_damage=lambda d: d["frac_damage"].round(6))


def run_spread(ours: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """The spread of a single run: the pooled within-cell standard deviation of ``metric`` over
    the cells that have at least 2 replicates, per group ``by``.

    Returns one row per group with ``sd`` (pooled, in metric units), ``df`` (residual degrees of
    freedom: replicates minus cells) and ``cells`` (cells that contributed). Pooling assumes the
    run-to-run spread is about the same in every cell of a group; it is what makes a prediction
    interval possible for a cell run once.

    Parameters
    ----------
    ours : pandas.DataFrame
        Tidy results with replicates.
    metric : {"acc", "auc"}
        The metric.
    by : list of str
        Grouping columns, e.g. ``["dataset", "experiment", "model"]``.

    Returns
    -------
    pandas.DataFrame
    """
    o = _rounded(ours, metric)
    # cells of one level under different damage rules are not replicates of each other
    keys = KEYS + (["noise_rule"] if "noise_rule" in o else [])
    if "noise_rule" in o:
        o = o.assign(noise_rule=o["noise_rule"].fillna(""))
    g = o.groupby(keys, observed=True)[metric]
    per_cell = pd.DataFrame({"ss": g.apply(lambda v: float(((v - v.mean()) ** 2).sum())),
                             "n": g.size()}).reset_index()
    per_cell = per_cell[per_cell["n"] >= 2]
    out = (per_cell.assign(df=per_cell["n"] - 1).groupby(by, observed=True)
           .agg(ss=("ss", "sum"), df=("df", "sum"), cells=("n", "size")).reset_index())
    out["sd"] = np.sqrt(out["ss"] / out["df"])
    return out.drop(columns="ss")


def _spread_for(key: dict, vals: np.ndarray, by_experiment: dict, by_model: dict,
                min_df: int) -> tuple[float, float, str]:
    """(sd, df, basis) for one cell: its experiment and model's pooled spread, else the
    model's over all experiments, else the cell's own replicates, else none."""
    pooled = by_experiment.get((key["dataset"], key["experiment"], key["model"]))
    if pooled is not None and pooled[1] >= min_df:
        return pooled[0], pooled[1], f"pooled over {key['experiment']} cells"
    pooled = by_model.get((key["dataset"], key["model"]))
    if pooled is not None and pooled[1] >= min_df:
        return pooled[0], pooled[1], "pooled over all experiments"
    if vals.size >= 2:
        return float(vals.std(ddof=1)), float(vals.size - 1), "this cell's replicates"
    return math.nan, math.nan, "none (single run)"


def parity_cells(ours: pd.DataFrame, r: pd.DataFrame, metric: str, level: float = LEVEL,
                 min_df: int = MIN_POOLED_DF) -> pd.DataFrame:
    """One row per cell present in both: R's value against ours.

    Columns: the cell's keys, ``metric``, ``r`` (R's single run), ``ours`` (mean of our ``n``
    replicates), ``sd`` and ``df`` (the spread of one run and its degrees of freedom, with
    ``basis`` saying where it comes from: :func:`run_spread` pooled over the experiment and
    model's replicated cells, else over the model's cells in every experiment, else the cell's
    own replicates), ``ci_lo``/``ci_hi`` (t interval of our mean), ``lo``/``hi`` (the
    prediction interval for one new run, mean +- t * sd * sqrt(1 + 1/n): the yardstick for R's
    single run), ``diff`` (ours - R), ``z`` (diff over the prediction's standard error) and
    ``inside`` (1.0 if R lies inside the prediction interval, NaN where no spread is known).
    Cells match on dataset, experiment, model, frac_sample and frac_damage (6 decimals).

    Parameters
    ----------
    ours : pandas.DataFrame
        Our tidy results.
    r : pandas.DataFrame
        R's published results in the tidy schema (:func:`datavsmath.training.store.read_r_csv`).
    metric : {"acc", "auc"}
        The metric compared.
    level : float, default 0.95
        Level of both intervals.
    min_df : int, default 5
        Pooled spreads with fewer residual degrees of freedom are not used.

    Returns
    -------
    pandas.DataFrame
        Sorted by dataset, R's experiment order, metric, fractions and model.
    """
    o, rr = _rounded(ours, metric), _rounded(r, metric)
    # spreads come from the experiments R ran: another experiment's cells (other grids, other
    # damage rules, e.g. noise_models) are no yardstick for R's single runs
    o = o[o["experiment"].isin(set(rr["experiment"]))]
    by_exp = {tuple(k): (sd, df) for *k, df, _, sd in
              run_spread(o, metric, ["dataset", "experiment", "model"]).itertuples(index=False)}
    by_model = {tuple(k): (sd, df) for *k, df, _, sd in
                run_spread(o, metric, ["dataset", "model"]).itertuples(index=False)}
    r_index = rr.groupby(KEYS, observed=True)[metric].first()
    rows = []
    for key, grp in o.groupby(KEYS, sort=False, observed=True):
        if key not in r_index.index:
            continue
        cell = dict(zip(KEYS, key))
        r_val = float(r_index.loc[key])
        vals = grp[metric].to_numpy(dtype=float)
        n, mean = vals.size, float(vals.mean())
        sd, df, basis = _spread_for(cell, vals, by_exp, by_model, min_df)
        t = stats.t.ppf(0.5 + level / 2, df) if not math.isnan(df) else math.nan
        pred_se = sd * math.sqrt(1 + 1 / n)
        lo, hi = mean - t * pred_se, mean + t * pred_se
        inside = math.nan if math.isnan(lo) else float(lo <= r_val <= hi)
        rows.append(dict(cell, metric=metric, r=r_val, ours=mean, n=n, sd=sd, df=df, basis=basis,
                         ci_lo=mean - t * sd / math.sqrt(n), ci_hi=mean + t * sd / math.sqrt(n),
                         lo=lo, hi=hi, diff=mean - r_val,
                         z=(mean - r_val) / pred_se if pred_se > 0 else math.nan, inside=inside))
    cols = KEYS + ["metric", "r", "ours", "n", "sd", "df", "basis", "ci_lo", "ci_hi", "lo", "hi",
                   "diff", "z", "inside"]
    out = pd.DataFrame(rows, columns=cols)
    out["model"] = pd.Categorical(out["model"], model_order(out["model"]))
    order = {e: i for i, e in enumerate(EXPERIMENT_ORDER)}
    out = out.assign(_e=out["experiment"].map(order))
    return (out.sort_values(["dataset", "_e", "metric", "frac_damage", "frac_sample", "model"])
            .drop(columns="_e").reset_index(drop=True))


def outliers(cells: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The cells where R lies outside our prediction interval, farthest (largest |z|) first.

    Parameters
    ----------
    cells : pandas.DataFrame
        The :func:`parity_cells` table.
    top : int, default 10
        Rows at most.

    Returns
    -------
    pandas.DataFrame
    """
    out = cells[cells["inside"] == 0.0]
    return (out.assign(_far=out["z"].abs()).sort_values("_far", ascending=False)
            .drop(columns="_far").head(top))


def parity_summary(cells: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: cells compared, mean, mean absolute and largest absolute difference, the share
    of cells where ours is higher, and the share of cells consistent with R (R inside our
    prediction interval) among the ``with_interval`` cells that have one.

    Parameters
    ----------
    cells : pandas.DataFrame
        The :func:`parity_cells` table.
    by : list of str
        Grouping columns, e.g. ``["experiment", "model"]``.

    Returns
    -------
    pandas.DataFrame
        One row per group.
    """
    g = cells.groupby(by, observed=True, sort=True)
    out = g.agg(cells=("diff", "size"), mean_diff=("diff", "mean"),
                mean_abs_diff=("diff", lambda d: d.abs().mean()),
                max_abs_diff=("diff", lambda d: d.abs().max()),
                ours_higher=("diff", lambda d: (d > 0).mean()),
                consistent=("inside", "mean"), with_interval=("inside", "count")).reset_index()
    return out


def systematic_differences(cells: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Sign tests of whether differences lean one way, per (dataset, experiment, metric, model).

    Groups with at least 6 non-zero differences (the fewest with which a two-sided sign test
    can reach 5%) are tested; ``systematic`` is True where the Bonferroni-adjusted p-value
    (over all groups tested) is below ``alpha``. Returns one row per tested group.

    Parameters
    ----------
    cells : pandas.DataFrame
        The :func:`parity_cells` table.
    alpha : float, default 0.05
        Family-wise significance level.
    """
    keys = ["dataset", "experiment", "metric", "model"]
    rows = []
    for key, grp in cells.groupby(keys, observed=True, sort=True):
        d = grp["diff"].to_numpy()
        nz = d[d != 0]
        if nz.size < 6:
            continue
        k = int((nz > 0).sum())
        p = stats.binomtest(k, nz.size, 0.5).pvalue
        worst = grp.loc[grp["diff"].abs().idxmax()]
        rows.append(dict(zip(keys, key), cells=len(grp), higher=k, nonzero=nz.size, p=p,
                         mean_diff=float(d.mean()), worst_diff=float(worst["diff"]),
                         worst_frac_sample=float(worst["frac_sample"]),
                         worst_frac_damage=float(worst["frac_damage"]),
                         consistent=float(grp["inside"].mean()) if grp["inside"].notna().any() else math.nan))
    out = pd.DataFrame(rows, columns=keys + ["cells", "higher", "nonzero", "p", "mean_diff", "worst_diff",
                                             "worst_frac_sample", "worst_frac_damage", "consistent"])
    out["p_adjusted"] = np.minimum(out["p"] * len(out), 1.0)
    out["systematic"] = out["p_adjusted"] < alpha
    return out

