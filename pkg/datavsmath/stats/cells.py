"""The cells a fit sees: input checks, per-cell means and weights (binomial for single runs,
smoothed replicate variance otherwise), and the constants shared by the statistics."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .curves import ScalingWarning
from .forms import LEARNING_FORMS

__all__ = ["CHANCE", "CRITERIA", "CROSS_THRESHOLDS", "DEFAULT_TARGETS", "FORM_NAMES", "HORIZON",
           "N_TEST", "N_TOTAL", "cell_table", "check_frame", "check_metric", "fmt_number",
           "metric_list", "warn_note", "weighting_text"]

#: learning-curve forms, in report order
FORM_NAMES = tuple(LEARNING_FORMS)



#: rows of the full Fashion-MNIST training set; fractions are of this
N_TOTAL = 60000



#: no-information level of each metric (10 balanced classes)
CHANCE = {"acc": 0.1, "auc": 0.5}



#: targets of data_needed when none are given
DEFAULT_TARGETS = {"acc": (0.85, 0.90), "auc": (0.98, 0.99)}



#: thresholds of the talk's two size x damage tables
CROSS_THRESHOLDS = {"acc": 0.90, "auc": 0.98}



#: extrapolation horizon of data_needed: an n* beyond this many times the largest training
#: size observed is reported as not reachable within the horizon, not as a number (the data
#: cannot tell a floor above the target from a very slow decline that far out)
HORIZON = 100.0



#: test images every model is scored on: the binomial variance of one run's accuracy is
#: p (1 - p) / N_TEST
N_TEST = 10000



CRITERIA = ("aicc", "aic", "bic")



# ============================================================================================
# input handling
def check_metric(metric: str) -> str:
    """The metric's name, checked.

    Parameters
    ----------
    metric : str
        "acc" or "auc".

    Returns
    -------
    str
        ``metric``.

    Raises
    ------
    ValueError
        If it is neither.
    """
    if metric not in CHANCE:
        raise ValueError(f"metric must be one of {sorted(CHANCE)}, not {metric!r}")
    return metric



def metric_list(metric) -> tuple:
    """One metric or several as a tuple of checked names.

    Parameters
    ----------
    metric : str or iterable of str
        "acc", "auc", or several of them.

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        If a name is neither "acc" nor "auc".
    """
    return tuple(check_metric(m) for m in ([metric] if isinstance(metric, str) else metric))



def check_frame(df: pd.DataFrame, experiment: str | None) -> pd.DataFrame:
    """Rows of ``experiment`` (all rows if None); ValueError if absent or if the frame mixes
    datasets or sources (their cells would silently be averaged as replicates).

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    experiment : str or None
        The experiment whose rows are wanted; None for all rows.

    Returns
    -------
    pandas.DataFrame
        The rows.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame.
    ValueError
        If columns are missing, a metric column holds text, the experiment has no rows, or the
        frame mixes datasets or sources.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame of results, got {type(df).__name__}")
    missing = [c for c in ("model", "frac_sample", "frac_damage") if c not in df.columns]
    if missing:
        raise ValueError(f"results lack the column(s) {missing}; read them with "
                         "datavsmath.training.store.read_results")
    _check_metric_values(df)
    for col in ("dataset", "source"):
        if col in df.columns and df[col].nunique(dropna=True) > 1:
            raise ValueError(f"the results mix several {col}s ({sorted(df[col].dropna().unique())}); "
                             f"pass one, e.g. df[df.{col} == ...], or use analyze()")
    if experiment is not None and "experiment" in df.columns:
        rows = df[df["experiment"] == experiment]
        if rows.empty:
            raise ValueError(f"no rows of experiment {experiment!r}; the results hold "
                             f"{sorted(df['experiment'].dropna().unique())}")
        return rows
    return df



def _check_metric_values(df: pd.DataFrame) -> None:
    """ValueError naming the column, row and value if an accuracy or AUC column holds text:
    otherwise the fits end in a TypeError deep inside pandas. Missing values (NaN) pass, the
    fits drop them with a warning; so do values outside [0, 1], which simulated curves with
    noise produce (the datavsmath fit command rejects them in measured tables)."""
    for col in CHANCE:  # the metrics: "acc", "auc"
        if col not in df.columns:
            continue
        bad = df[col].notna() & pd.to_numeric(df[col], errors="coerce").isna()
        if bad.any():
            row = bad.idxmax()
            raise ValueError(f"column {col} holds {df.at[row, col]!r} (row {row}); accuracies and "
                             "AUCs are numbers")



def warn_note(notes: list, msg: str, quiet: bool = False):
    """Keep a note for the results' summary and, unless ``quiet``, issue it as a ``ScalingWarning``.

    Parameters
    ----------
    notes : list of str
        The notes of the results object being built; ``msg`` is appended.
    msg : str
        The note.
    quiet : bool, default False
        Do not warn.
    """
    notes.append(msg)
    if not quiet:
        warnings.warn(msg, ScalingWarning, stacklevel=3)



def cell_table(rows: pd.DataFrame, metric: str, by: str = "frac_sample",
               n_total: int = N_TOTAL, n_test: int = N_TEST,
               single_run: str | None = None) -> pd.DataFrame:
    """Per-cell summary of one model's rows, with inverse-variance weights.

    Parameters
    ----------
    rows : tidy results of one model (and one damage level, for learning curves)
    metric : "acc" or "auc"
    by : the cell key, "frac_sample" (learning curves) or "frac_damage" (damage curves)
    n_total : full training rows, for n where ``n_train`` is missing
    n_test : test rows each metric was computed on (10,000 for Fashion-MNIST)
    single_run : weights when no cell has replicates: "binomial" (inverse of p(1 - p) / n_test,
        p the cell's metric clipped to [0.01, 0.99]) or "equal"; default "binomial" for
        learning curves and "equal" for damage curves (whose runs near the breakdown vary far
        more than the test set's binomial noise, and whose accuracy reaches 0)

    Returns
    -------
    DataFrame indexed by ``by`` with columns ``n`` (training rows: mean ``n_train``, or
    ``n_total * frac_sample``), ``value`` (mean metric), ``error`` (1 - value), ``n_rep``,
    ``var`` (replicate variance, NaN for one replicate), ``var_model`` (variance of one run:
    smoothed replicate variance, or the binomial variance for single runs) and ``weight``
    (relative inverse variance of the cell mean, n_rep / var_model, mean 1). Rows with a
    missing metric are dropped.

    Notes
    -----
    A variance from 2-3 replicates is too noisy to weight by directly (its inverse has no
    finite mean), so the per-cell variances are smoothed by a variance function fitted by OLS
    on their logs: log var = alpha + gamma log z, with z = n for learning curves (noise shrinks
    with data) and z = p(1 - p) of the cell's mean metric for damage curves (noise peaks where
    the curve falls). With fewer than 3 replicated cells the pooled variance is used.
    """
    metric = check_metric(metric)
    rows = rows[rows[metric].notna()]
    n = n_total * rows["frac_sample"].astype(float)
    if "n_train" in rows.columns:
        n = pd.to_numeric(rows["n_train"], errors="coerce").where(lambda s: s.notna(), n)
    g = rows.assign(_n=n).groupby(by, sort=True)
    cells = pd.DataFrame({"n": g["_n"].mean(), "value": g[metric].mean(),
                          "n_rep": g[metric].count(), "var": g[metric].var(ddof=1)})
    cells["error"] = 1.0 - cells["value"]
    cells["var_model"] = np.nan
    cells["weight"] = 1.0
    if cells.empty:
        return cells
    if cells["n_rep"].max() < 2:
        if single_run is None:
            single_run = "binomial" if by == "frac_sample" else "equal"
        if single_run not in ("binomial", "equal"):
            raise ValueError(f"single_run must be 'binomial' or 'equal', not {single_run!r}")
        if single_run == "binomial":
            # a single run's metric on n_test images has at least the binomial variance; its
            # shape (largest near 0.5) is what the weights need: the scale is re-estimated.
            # The clip keeps a perfect cell (p = 1) from taking all the weight.
            p = cells["value"].clip(0.01, 0.99)
            cells["var_model"] = p * (1 - p) / n_test
            w = 1.0 / cells["var_model"]
            cells["weight"] = w / w.mean()
        return cells
    if by == "frac_sample":
        z = np.log(cells["n"].clip(lower=1.0))
    else:
        p = cells["value"].clip(1e-3, 1 - 1e-3)
        z = np.log(p * (1 - p))
    rep = (cells["n_rep"] >= 2) & (cells["var"] > 0)
    if rep.sum() >= 3 and np.ptp(z[rep]) > 0:
        import statsmodels.api as sm

        ols = sm.OLS(np.log(cells.loc[rep, "var"]), sm.add_constant(z[rep])).fit()
        cells["var_model"] = np.exp(ols.params.iloc[0] + ols.params.iloc[1] * z)
    else:
        dfree = (cells["n_rep"] - 1).clip(lower=0)
        pooled = float((dfree * cells["var"].fillna(0)).sum() / max(dfree.sum(), 1))
        cells["var_model"] = pooled if pooled > 0 else 1.0
    w = cells["n_rep"] / cells["var_model"]
    cells["weight"] = w / w.mean()
    return cells



def weighting_text(cells: pd.DataFrame) -> str:
    """How :func:`cell_table` weighted these cells, in words: what every interval of a fit to
    them is conditional on.

    Parameters
    ----------
    cells : pandas.DataFrame
        A :func:`cell_table`.

    Returns
    -------
    str
    """
    if len(cells) and cells["n_rep"].max() >= 2:
        return "replicate means, weights n_rep / smoothed replicate variance"
    if len(cells) and cells["var_model"].notna().any():
        return "single runs, weights 1 / (p(1-p)/n_test) (binomial)"
    return "single runs, equal weights"



def fmt_number(x, digits=4):
    """A number for a summary line: ``digits`` significant figures, "nan" when missing.

    Parameters
    ----------
    x : float or None
        The number.
    digits : int, default 4
        Significant figures.

    Returns
    -------
    str
    """
    return "nan" if x is None or np.isnan(x) else f"{x:.{digits}g}"

