"""The findings' arithmetic: what the index page's headline says, from the tidy results.

A step of less data against a step of label damage of the same size, per model, each loss with
a 95% interval over replicates (:func:`headline`), and plain words for which costs more
(:func:`compare_costs`); the grid's steps and cells they are read from, and the tables of cell
means. How the numbers are written: :mod:`datavsmath.report.formatting`; the pages' verdicts in
words: :mod:`datavsmath.report.verdicts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats.parity import diff_ci, mean_ci, model_order
from .formatting import compact

__all__ = ["Steps", "cell_means_table", "chance_accuracy", "compare_costs", "cost_difference",
           "headline", "headline_table", "nearest", "primary_derivative", "rows_at", "set_rows",
           "steps", "training_rows", "values"]


def values(results: pd.DataFrame, experiment: str, model: str, metric: str,
           frac_sample: float | None = None, frac_damage: float | None = None,
           dataset: str = "fashion") -> np.ndarray:
    """The replicate values of one Fashion-MNIST (or ``dataset``) cell; empty if absent.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    experiment : str
        The experiment.
    model : str
        The model.
    metric : {"acc", "auc"}
        The metric.
    frac_sample : float, optional
        The cell's sample fraction (any when None).
    frac_damage : float, optional
        The cell's damage fraction (any when None).
    dataset : str, default "fashion"
        The dataset.

    Returns
    -------
    numpy.ndarray of float, shape (replicates,)
    """
    df = results[(results["experiment"] == experiment) & (results["model"] == model)]
    if "dataset" in df and df["dataset"].notna().any():
        df = df[df["dataset"] == dataset]
    if frac_sample is not None:
        df = df[np.isclose(df["frac_sample"], frac_sample)]
    if frac_damage is not None:
        df = df[np.isclose(df["frac_damage"], frac_damage)]
    return df[metric].to_numpy(dtype=float)


def nearest(available, target: float, exclude: float | None = None) -> float | None:
    """The available fraction closest to ``target`` (never ``exclude``), or None.

    Parameters
    ----------
    available : iterable of float
        The fractions of the grid.
    target : float
        The fraction wanted.
    exclude : float, optional
        A fraction never returned.

    Returns
    -------
    float or None
    """
    cands = sorted({float(v) for v in available if exclude is None or not np.isclose(v, exclude)})
    return min(cands, key=lambda v: (abs(v - target), v)) if cands else None


@dataclass
class Steps:
    """The comparable steps the headline uses: the largest sample s_max, a smaller sample
    s_less (about 10% fewer rows), and the damage fraction d of about the same size."""

    s_max: float | None
    s_less: float | None
    d: float | None

    @property
    def data_share(self) -> float | None:
        if self.s_max is None or self.s_less is None:
            return None
        return 1 - self.s_less / self.s_max


def _dataset_of(results: pd.DataFrame) -> str:
    """The dataset most of these results ran on (Fashion-MNIST when they do not say)."""
    names = results["dataset"].dropna() if "dataset" in results else pd.Series(dtype=object)
    return str(names.mode().iloc[0]) if len(names) else "fashion"


def training_rows(results: pd.DataFrame) -> int:
    """Training rows of the dataset these results ran on (60,000 for Fashion-MNIST), from the
    dataset registry, else from the fits' own ``n_train`` at their largest sample fraction.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).

    Returns
    -------
    int
    """
    from ..data import train_rows

    known = train_rows(_dataset_of(results))
    if known:
        return int(known)
    top = results.loc[results["frac_sample"].idxmax()]
    return int(round(float(top["n_train"]) / float(top["frac_sample"])))


def rows_at(results: pd.DataFrame, frac: float) -> int:
    """Rows drawn at sample fraction ``frac`` of the dataset: floor(N x frac), as the runner draws.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    frac : float
        The sample fraction.

    Returns
    -------
    int
    """
    return math.floor(training_rows(results) * frac + 1e-9)


def chance_accuracy(results: pd.DataFrame) -> float | None:
    """Accuracy of guessing: 1 / number of classes of the dataset (None when it is not known).

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).

    Returns
    -------
    float or None
    """
    from ..data import class_count

    k = class_count(_dataset_of(results))
    return 1.0 / k if k else None


def set_rows(deriv: pd.DataFrame) -> int | None:
    """The rows of one "training set", the unit of ``data_quality_derivative.csv``'s ``_frac``
    columns (the dataset's training rows, 60,000 for Fashion-MNIST), read back from the table
    (``derivative_obs`` / ``derivative_frac``); None when no row has both.

    Parameters
    ----------
    deriv : pandas.DataFrame or None
        The ``data_quality_derivative.csv`` table.

    Returns
    -------
    int or None
    """
    if deriv is None or not {"derivative_obs", "derivative_frac"} <= set(deriv.columns):
        return None
    both = deriv[["derivative_obs", "derivative_frac"]].astype(float)
    both = both[np.isfinite(both).all(axis=1) & (both["derivative_frac"] != 0)]
    return int(round(float((both["derivative_obs"] / both["derivative_frac"]).median()))) if len(both) else None


def steps(results: pd.DataFrame) -> Steps:
    """The headline's steps on the Fashion-MNIST grid at hand (see :class:`Steps`).

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).

    Returns
    -------
    Steps
    """
    if "dataset" in results and results["dataset"].notna().any():
        results = results[results["dataset"] == "fashion"]
    size = results[results["experiment"] == "size"]
    s_max = float(size["frac_sample"].max()) if len(size) else None
    s_less = nearest(size["frac_sample"], 0.9 * s_max, exclude=s_max) if s_max else None
    share = 1 - s_less / s_max if s_less and s_max else 0.1
    dam = results[results["experiment"].isin(["random_damage", "constant_damage"])]
    d = nearest(dam["frac_damage"], share, exclude=0.0) if len(dam) else None
    return Steps(s_max, s_less, d)


def headline(results: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """Per model: the metric at the largest sample, and what it loses with a step of less data
    and with the same-sized step of random or constant label damage (each with a 95% CI over
    replicates). Numeric columns end in _est/_lo/_hi.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    pandas.DataFrame
        One row per model.
    """
    st = steps(results)
    rows = []
    models = model_order(results["model"])
    for m in models:
        row: dict[str, object] = {"model": m}
        full: np.ndarray | list = values(results, "size", m, metric, frac_sample=st.s_max) if st.s_max else []
        row["best_est"], row["best_lo"], row["best_hi"], row["n"] = mean_ci(full)
        less: np.ndarray | list = values(results, "size", m, metric, frac_sample=st.s_less) if st.s_less else []
        row["data_est"], row["data_lo"], row["data_hi"] = diff_ci(full, less)
        for kind in ("random", "constant"):
            exp = f"{kind}_damage"
            clean = values(results, exp, m, metric, frac_damage=0.0)
            hurt: np.ndarray | list = values(results, exp, m, metric, frac_damage=st.d) if st.d else []
            row[f"{kind}_est"], row[f"{kind}_lo"], row[f"{kind}_hi"] = diff_ci(clean, hurt)
        rows.append(row)
    return pd.DataFrame(rows)


def cost_difference(data: tuple, damage: tuple) -> tuple[float, float, float]:
    """The damage loss minus the data loss, (est, lo, hi), from each loss's (est, lo, hi) 95%
    interval: the half-widths add in quadrature, as for two independent estimates (the two
    steps are measured on different runs); the bounds are NaN when either loss has none.

    Parameters
    ----------
    data : tuple of float
        (est, lo, hi) of the loss with less data.
    damage : tuple of float
        (est, lo, hi) of the loss with damaged labels.

    Returns
    -------
    tuple of (float, float, float)
    """
    (de, dlo, dhi), (ge, glo, ghi) = data, damage
    est = ge - de
    half = math.hypot((dhi - dlo) / 2.0, (ghi - glo) / 2.0)
    return est, est - half, est + half


def compare_costs(data: tuple, damage: tuple) -> str:
    """Plain words for 'is the damage step costlier than the data step?' given (est, lo, hi)
    of each loss, decided on the difference's 95% interval (:func:`cost_difference`): larger
    or smaller only when it excludes zero, else undetermined, and undetermined for single runs.

    Parameters
    ----------
    data : tuple of float
        (est, lo, hi) of the loss with less data.
    damage : tuple of float
        (est, lo, hi) of the loss with damaged labels.

    Returns
    -------
    str
    """
    if any(math.isnan(x) for x in (data[0], damage[0])):
        return "cannot be compared (a cell is missing)"
    est, lo, hi = cost_difference(data, damage)
    if math.isnan(lo) or math.isnan(hi):
        return f"undetermined: single runs carry no interval (damage loss minus data loss {est:+.3f} in this run)"
    if lo > 0:
        return f"larger: damage loss minus data loss {est:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    if hi < 0:
        return f"smaller: damage loss minus data loss {est:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return (f"undetermined: damage loss minus data loss {est:+.3f} [{lo:+.3f}, {hi:+.3f}] includes zero at "
            "this number of replicates")


def headline_table(h: pd.DataFrame, st: Steps, metric: str = "acc") -> pd.DataFrame:
    """The headline frame formatted for reading.

    Parameters
    ----------
    h : pandas.DataFrame
        What :func:`headline` returned.
    st : Steps
        The steps it used (:func:`steps`).
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    pandas.DataFrame
    """
    name = {"acc": "accuracy", "auc": "AUC"}[metric]
    less = f"{st.data_share:.0%}" if st.data_share is not None else "?"
    d = f"{st.d:.0%}" if st.d is not None else "?"
    s_max = f"{st.s_max:.0%}" if st.s_max is not None else "?"
    out = pd.DataFrame({"model": h["model"]})
    def cell(r):
        return compact(*r)
    out[f"{name} at {s_max} of the rows"] = [cell(r) for r in h[["best_est", "best_lo", "best_hi"]].to_numpy()]
    out[f"lost with {less} fewer rows"] = [cell(r) for r in h[["data_est", "data_lo", "data_hi"]].to_numpy()]
    out[f"lost with {d} random damage"] = [cell(r) for r in h[["random_est", "random_lo", "random_hi"]].to_numpy()]
    out[f"lost with {d} constant damage"] = [cell(r) for r in h[["constant_est", "constant_lo", "constant_hi"]].to_numpy()]
    return out


def cell_means_table(results: pd.DataFrame, experiment: str, metric: str) -> pd.DataFrame:
    """One row per level of the experiment's grid axis (sample fraction for ``size``, damage
    fraction otherwise), one column per model: the mean over replicates with its 95% interval,
    as :func:`fmt_ci` writes it.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    experiment : str
        The experiment.
    metric : {"acc", "auc"}
        The metric.

    Returns
    -------
    pandas.DataFrame
    """
    df = results[results["experiment"] == experiment]
    by_size = experiment == "size"
    axis = "frac_sample" if by_size else "frac_damage"
    models = model_order(df["model"])
    rows = []
    for level in sorted(df[axis].unique()):
        row = ({"sample fraction": f"{level:.0%}", "rows": f"{rows_at(df, level):,}"} if by_size
               else {"damage d": f"{level:.0%}", "correct 1 - d": f"{1 - level:.0%}"})
        for m in models:
            vals = values(results, experiment, m, metric, **{axis: level})
            row[m] = compact(*mean_ci(vals)[:3])
        rows.append(row)
    return pd.DataFrame(rows)


def primary_derivative(deriv: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows a reader sees first: the model average over curve forms where the table has
    one (``form == "average"``); each form's own rows stay in the download.

    Parameters
    ----------
    deriv : pandas.DataFrame or None
        The ``data_quality_derivative.csv`` table.

    Returns
    -------
    pandas.DataFrame or None
    """
    if deriv is None or "form" not in deriv or not (deriv["form"] == "average").any():
        return deriv
    return deriv[deriv["form"] == "average"]
