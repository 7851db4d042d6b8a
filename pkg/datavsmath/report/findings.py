"""The findings' arithmetic: what the index page's headline says, from the tidy results.

A step of less data against a step of label damage of the same size, per model, each loss with
a 95% interval over replicates (:func:`headline`), and plain words for which costs more
(:func:`compare_costs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats.parity import diff_ci, mean_ci, model_order


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


def fmt_ci(est: float, lo: float, hi: float, digits: int = 3, signed: bool = False) -> str:
    """'0.921 (95% CI 0.918 to 0.924)', or '0.921 (single run, no CI)' without bounds.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float
        Lower limit of its 95% interval (NaN: none).
    hi : float
        Upper limit of its 95% interval (NaN: none).
    digits : int, default 3
        Significant figures.
    signed : bool, default False
        Write the sign of positive numbers too.

    Returns
    -------
    str
    """
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "n/a"
    sign = "+" if signed else ""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{est:{sign}.{digits}f} (single run, no CI)"
    return f"{est:{sign}.{digits}f} (95% CI {lo:{sign}.{digits}f} to {hi:{sign}.{digits}f})"


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


# --------------------------------------------------------------------------------------------
# Verdicts: one or two sentences per page, computed from the results the page shows
# --------------------------------------------------------------------------------------------

def is_true(v) -> bool:
    """Whether a table cell reads as true ("True", "true", "1", "1.0"): CSV columns read back as text.

    Parameters
    ----------
    v : object
        The cell.

    Returns
    -------
    bool
    """
    return str(v).strip().lower() in ("true", "1", "1.0")


def is_missing(v) -> bool:
    """Whether a table cell holds no number (None, NaN, or text that is not a number).

    Parameters
    ----------
    v : object
        The cell.

    Returns
    -------
    bool
    """
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def fmt_num(v: float | None, digits: int = 3) -> str:
    """A number for prose: thousands with separators ('27,733'), small values to ``digits``
    significant figures ('0.0282'), huge ones in scientific notation ('2.5e+14').

    Parameters
    ----------
    v : float or None
        The number (missing: 'n/a').
    digits : int, default 3
        Significant figures.

    Returns
    -------
    str
    """
    if v is None or is_missing(v):
        return "n/a"
    v = float(v)
    if abs(v) >= 1e7:
        return f"{v:.2g}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def fmt_interval(est: float | None, lo: float | None, hi: float | None, digits: int = 3) -> str:
    """'27,733 [23,258, 33,068]'; 'est (single run, no interval)' without bounds.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float
        Lower limit of its 95% interval (NaN: none).
    hi : float
        Upper limit of its 95% interval (NaN: none).
    digits : int, default 3
        Significant figures.

    Returns
    -------
    str
    """
    if is_missing(est):
        return "n/a"
    if est == float("-inf"):  # the lower quality cannot reach the target at any size
        return "not compensable (no amount of data)"
    if is_missing(lo) or is_missing(hi):
        return f"{fmt_num(est, digits)} (no interval)"
    return f"{fmt_num(est, digits)} [{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def needed_text(r: dict, lo_key: str = "ci_low", hi_key: str = "ci_high") -> str:
    """A data-needed row (of ``data_needed.csv`` or a derivative level) in words, by its
    verdict: 'est [lo, hi]' when reachable (marked extrapolated beyond the rows trained on),
    'undetermined: est [lo, no upper limit]' or 'undetermined: at least lo' with the reason,
    'not reachable' with it. Tables written before the verdict existed are read by
    ``reachable``.

    Parameters
    ----------
    r : dict
        The row.
    lo_key : str, default "ci_low"
        Its lower limit's column.
    hi_key : str, default "ci_high"
        Its upper limit's column.

    Returns
    -------
    str
    """
    verdict = r.get("verdict")
    if is_missing(verdict) if not isinstance(verdict, str) else not verdict:
        verdict = "reachable" if is_true(r.get("reachable")) and not is_missing(r.get("n_needed")) \
            else "not reachable"
    note, status = str(r.get("note", "")), str(r.get("status", ""))
    if verdict == "not reachable":
        return "not reachable" + (" (the error does not fall)" if status == "not_decreasing"
                                  else " (floor at or above the target)" if "floor" in note
                                  else "")
    est, lo = r.get("n_needed"), r.get(lo_key)
    if verdict == "reachable":
        if status == "already_met":
            return "0 (met already)"
        text = fmt_interval(est, lo, r.get(hi_key))
        return text + (" (extrapolated)" if is_true(r.get("extrapolated")) else "")
    why = ("beyond the horizon" if "horizon" in note else
           "the floor may lie above the target" if "floor" in note else
           "no fit" if "no converged fit" in note or "identifiable" in note else
           "unbounded")
    if is_missing(est) and is_missing(lo):
        return f"undetermined ({why})"
    if is_missing(est):
        return f"undetermined: at least {fmt_num(lo)} ({why})"
    return f"undetermined: {fmt_num(est)} [{fmt_num(lo)}, no upper limit] ({why})"


def compact(est: float, lo: float, hi: float) -> str:
    """A table cell: '0.880 [0.871, 0.889]' with an interval, '0.880' for a single run.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float
        Lower limit of its 95% interval (NaN: none).
    hi : float
        Upper limit of its 95% interval (NaN: none).

    Returns
    -------
    str
    """
    if is_missing(est):
        return ""
    if is_missing(lo) or is_missing(hi):
        return f"{est:.3f}" if abs(est) < 100 else fmt_num(est)
    return f"{est:.3f} [{lo:.3f}, {hi:.3f}]" if abs(est) < 100 else fmt_interval(est, lo, hi)


def _replicate_words(results: pd.DataFrame) -> str:
    keys = [c for c in ["experiment", "dataset", "model", "frac_sample", "frac_damage"] if c in results]
    n = results.groupby(keys, dropna=False).size() if len(results) else pd.Series(dtype=int)
    hi = int(n.max()) if len(n) else 0
    return ("a single run per cell, so differences between cells carry no interval"
            if hi <= 1 else f"up to {hi} replicates per cell, 95% intervals over replicates")


def loss_words(est: float, lo: float = float("nan"), hi: float = float("nan"), what: str = "accuracy",
               digits: int = 3) -> str:
    """A drop written with its sign in words: 'loses 0.028 accuracy (95% CI 0.020 to 0.035)'
    for a positive ``est`` (clean minus worse), 'gains 0.004 accuracy' for a negative one.

    Parameters
    ----------
    est : float
        The estimate.
    lo : float, default float('nan')
        Lower limit of its 95% interval (NaN: none).
    hi : float, default float('nan')
        Upper limit of its 95% interval (NaN: none).
    what : str, default "accuracy"
        The metric in words.
    digits : int, default 3
        Significant figures.

    Returns
    -------
    str
    """
    if is_missing(est):
        return f"has no {what} to compare (a cell is missing)"
    verb = "loses" if est >= 0 else "gains"
    e = abs(est)
    if is_missing(lo) or is_missing(hi):
        return f"{verb} {e:.{digits}f} {what} (single run, no interval)"
    if lo >= 0 or hi <= 0:
        a, b = sorted((abs(lo), abs(hi)))
        return f"{verb} {e:.{digits}f} {what} (95% CI {a:.{digits}f} to {b:.{digits}f})"
    return (f"{verb} {e:.{digits}f} {what} (95% CI from a gain of {-lo:.{digits}f} "
            f"to a loss of {hi:.{digits}f})")


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


def derivative_verdict(deriv: pd.DataFrame | None, metric: str = "acc") -> str:
    """Whether the talk's d(data)/d(quality) << -1 holds, from ``data_quality_derivative.csv``
    (the ``overall`` row of ``metric``: the derivative in dataset sizes (60,000 rows) per unit
    of quality, with its 95% interval, and the elasticity d log n / d log q).

    Parameters
    ----------
    deriv : pandas.DataFrame or None
        The ``data_quality_derivative.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    deriv = primary_derivative(deriv)
    if deriv is None or deriv.empty:
        return "The d(data)/d(quality) table is not in the results folder, so the claim is not tested here."
    d = deriv[deriv["metric"] == metric] if "metric" in deriv else deriv
    rows = d[d["scope"] == "overall"] if "scope" in d else d
    rows = rows.dropna(subset=["derivative_frac"]) if "derivative_frac" in rows else rows.iloc[0:0]
    if rows.empty:
        levels = d[d["scope"] == "level"] if "scope" in d else d.iloc[0:0]
        notes = levels["note"].dropna().astype(str) if "note" in levels else pd.Series(dtype=str)
        if len(notes) and notes.str.startswith("not identifiable").all():
            return (f"**Undetermined for {name}:** with this few training-set sizes per quality no curve "
                    "form can be identified (AICc needs more points than the form has parameters, plus "
                    "one), so the model-averaged data needed, and with it d(data)/d(quality), cannot be "
                    "estimated here; each form's own answer, conditional on that form, is in the "
                    "download. The full grid's 28 sizes per quality answer it.")
        return (f"No overall d(data)/d(quality) could be estimated for {name} from these results "
                "(fewer than two quality levels reach the threshold), so the claim is not tested here.")
    r = rows.iloc[0]
    est, lo, hi = float(r["derivative_frac"]), float(r["ci_low_frac"]), float(r["ci_high_frac"])
    thr = f" {float(r['threshold']):g}" if "threshold" in r and not is_missing(r["threshold"]) else ""
    span = (f" from quality {float(r['quality_high']):g} to {float(r['quality_low']):g}"
            if not is_missing(r.get("quality_high")) and not is_missing(r.get("quality_low")) else "")
    model = str(r.get("model", "")).upper() or "the model"
    if not is_missing(hi) and hi < -1:
        answer = "**Yes: d(data)/d(quality) << -1 holds here.**"
        why = "the whole 95% interval lies below -1"
    elif not is_missing(lo) and lo > -1:
        answer = "**No: d(data)/d(quality) << -1 does not hold here.**"
        why = "the whole 95% interval lies above -1"
    elif is_missing(lo) or is_missing(hi):
        answer = "**Not established: no interval could be computed.**"
        why = "the estimate has no interval"
    else:
        answer = "**Not established by these results.**"
        why = "the 95% interval includes -1" + (" and 0" if lo < 0 < hi else "")
    text = (f"{answer} For the {model} at {name}{thr}{span}, the data needed changes by "
            f"{fmt_interval(est, lo, hi)} training sets{f' of {set_rows(deriv):,} rows' if set_rows(deriv) else ''} "
            "per unit of label quality: "
            f"{why}.")
    if "elasticity" in r and not is_missing(r["elasticity"]):
        el, elo, ehi = float(r["elasticity"]), float(r["elasticity_ci_low"]), float(r["elasticity_ci_high"])
        side = ("wholly below -1" if ehi < -1 else "wholly above -1" if elo > -1 else "including -1")
        text += (f" As an elasticity (percent more data per percent less quality) it is "
                 f"{fmt_interval(el, elo, ehi)}, {side}.")
    if "extrapolated" in d and d["extrapolated"].astype(str).str.lower().eq("true").any():
        text += " Some of the data-needed values behind it are extrapolated beyond the rows trained on."
    return text


def size_verdict(results: pd.DataFrame, metric: str = "acc") -> str:
    """Which model is best at the largest sample, and how much each gains from the smallest
    to the largest sample.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    size = results[results["experiment"] == "size"]
    if "dataset" in size and size["dataset"].notna().any():
        size = size[size["dataset"] == "fashion"]
    if size.empty:
        return "There are no size results to judge."
    s_lo, s_hi = float(size["frac_sample"].min()), float(size["frac_sample"].max())
    models = model_order(size["model"])
    at_hi = {m: mean_ci(values(results, "size", m, metric, frac_sample=s_hi))[0] for m in models}
    at_lo = {m: mean_ci(values(results, "size", m, metric, frac_sample=s_lo))[0] for m in models}
    ok = {m: v for m, v in at_hi.items() if not is_missing(v)}
    if not ok:
        return "There are no size results to judge."
    best = max(ok, key=ok.__getitem__)
    worst = min(ok, key=ok.__getitem__)
    gain = {m: at_hi[m] - at_lo[m] for m in models if not is_missing(at_hi[m]) and not is_missing(at_lo[m])}
    most = max(gain, key=gain.__getitem__) if gain else best
    rows = lambda s: f"{rows_at(size, s):,}"  # noqa: E731
    math_gap = at_hi[best] - at_hi[worst]
    data_gain = gain.get(best, float("nan"))
    hi_best = values(results, "size", best, metric, frac_sample=s_hi)
    diff, lo, hi = cost_difference(diff_ci(hi_best, values(results, "size", worst, metric, frac_sample=s_hi)),
                                   diff_ci(hi_best, values(results, "size", best, metric, frac_sample=s_lo)))
    data_words = f"{data_gain:+.3f} for the {best.upper()} from {s_lo:.0%} to {s_hi:.0%} of the rows"
    math_words = f"{math_gap:.3f} between the best and the weakest model"
    if is_missing(data_gain):
        lead = f"**The {best.upper()} is the best model at the largest sample.**"
    elif is_missing(lo) or is_missing(hi):
        bigger = "more data moved" if data_gain > math_gap else "the choice of model moved"
        lead = (f"**Undetermined at one run per cell:** in these single runs {bigger} {name} more "
                f"({data_words}, against {math_words}), but single runs carry no interval.")
    elif lo > 0:
        lead = (f"**More data moved {name} more than the choice of model:** {data_words}, against "
                f"{math_words} (difference {diff:+.3f} [{lo:+.3f}, {hi:+.3f}]).")
    elif hi < 0:
        lead = (f"**The choice of model moved {name} more than more data:** {math_words}, against "
                f"{data_words} (difference {-diff:+.3f} [{-hi:+.3f}, {-lo:+.3f}]).")
    else:
        lead = (f"**Undetermined:** {data_words} against {math_words}; the difference "
                f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}] includes zero.")
    text = (f"{lead} With {s_hi:.0%} of the "
            f"rows ({rows(s_hi)}), the {best.upper()} is best at {name} {at_hi[best]:.3f}, "
            f"{at_hi[best] - at_hi[worst]:.3f} above the {worst.upper()} ({at_hi[worst]:.3f}). ")
    if gain and s_lo < s_hi:
        text += (f"Going from {s_lo:.0%} ({rows(s_lo)} rows) to {s_hi:.0%} gains "
                 + ", ".join(f"{compact(*diff_ci(values(results, 'size', m, metric, frac_sample=s_hi), values(results, 'size', m, metric, frac_sample=s_lo)))} ({m.upper()})" for m in models if m in gain)
                 + f"; the {most.upper()} gains most. ")
    return text + f"Based on {_replicate_words(size)}."


def breakdown_verdict(results: pd.DataFrame, damage: str, breakdown: pd.DataFrame | None = None,
                      metric: str = "acc") -> str:
    """At which damage each model breaks down (accuracy half-way from its clean value to chance),
    from ``breakdown_points.csv`` when it has an estimate, else bracketed by the grid.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    damage : str
        "random" or "constant".
    breakdown : pandas.DataFrame or None, optional
        The ``breakdown_points.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    str
        Markdown.
    """
    exp = f"{damage}_damage"
    df = results[results["experiment"] == exp]
    if "dataset" in df and df["dataset"].notna().any():
        df = df[df["dataset"] == "fashion"]
    if df.empty:
        return f"There are no {damage}-damage results to judge."
    models = model_order(df["model"])
    levels = sorted(df["frac_damage"].unique())
    chance = chance_accuracy(df)
    parts, never = [], []
    for m in models:
        b = None
        if breakdown is not None and len(breakdown):
            sel = breakdown[(breakdown["experiment"] == exp) & (breakdown["model"] == m)]
            if "metric" in sel:
                sel = sel[sel["metric"] == metric]
            b = sel.iloc[0] if len(sel) else None
        if b is not None and not is_missing(b.get("breakdown_frac")):
            parts.append(f"{m.upper()} at d = {fmt_interval(b['breakdown_frac'], b.get('ci_low'), b.get('ci_high'), 2)}")
            continue
        means = [(d, mean_ci(values(results, exp, m, metric, frac_damage=d))[0]) for d in levels]
        clean = means[0][1]
        half = (clean + (chance or 0.0)) / 2
        below = [d for d, v in means if not is_missing(v) and v < half]
        if below:
            prev = max([d for d in levels if d < below[0]], default=0.0)
            parts.append(f"{m.upper()} between d = {prev:g} and {below[0]:g} (grid bracket, no fit)")
        else:
            never.append(m.upper())
    rows = sorted(df["frac_sample"].unique())
    on = ("" if rows == [1.0] else
          f" These runs train on {', '.join(f'{rows_at(df, s):,}' for s in rows)} rows, not {training_rows(df):,}.")
    to = f"chance, {chance:.2g}" if chance else "0 (the class count is not known)"
    text = (f"**Where the models break down under {damage} damage** (accuracy half-way from its clean "
            f"value to {to}): " + "; ".join(parts) + "." if parts else
            f"**No model breaks down under {damage} damage in this grid.**")
    if never:
        text += f" {', '.join(never)} never fell below that point up to d = {levels[-1]:g}."
    hi = levels[-1]
    accs = {m: mean_ci(values(results, exp, m, metric, frac_damage=hi))[0] for m in models}
    text += (f" At d = {hi:g} accuracy is " + ", ".join(f"{accs[m]:.3f} ({m.upper()})" for m in models)
             + f".{on} Based on {_replicate_words(df)}.")
    return text


def size_x_damage_verdict(results: pd.DataFrame, metric: str = "acc", threshold: float = 0.9) -> str:
    """The CNN's metric at the largest sample per quality, and which qualities reach ``threshold``.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    threshold : float, default 0.9
        The metric's threshold.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    df = results[(results["experiment"] == "size_x_damage") & (results["model"] == "cnn")]
    if df.empty:
        return "There are no size x damage results to judge."
    s_hi = float(df["frac_sample"].max())
    levels = sorted(df["frac_damage"].unique())
    at = {d: mean_ci(values(results, "size_x_damage", "cnn", metric, frac_sample=s_hi, frac_damage=d))[0]
          for d in levels}
    means = df.groupby(["frac_damage", "frac_sample"])[metric].mean()
    reach = sorted({1 - d for (d, s), v in means.items() if v > threshold})
    s_lo = float(df["frac_sample"].min())
    clean_lo = mean_ci(values(results, "size_x_damage", "cnn", metric, frac_sample=s_lo, frac_damage=levels[0]))[0]
    data_gain, damage_loss = at[levels[0]] - clean_lo, at[levels[0]] - at[levels[-1]]
    cell = lambda s, d: values(results, "size_x_damage", "cnn", metric, frac_sample=s, frac_damage=d)  # noqa: E731
    diff, lo, hi = cost_difference(diff_ci(cell(s_hi, levels[0]), cell(s_lo, levels[0])),
                                   diff_ci(cell(s_hi, levels[0]), cell(s_hi, levels[-1])))
    facts = (f"{levels[-1]:.0%} constant damage loses {damage_loss:.3f}, while {s_hi / s_lo:.0f} times the rows "
             f"({s_lo:.0%} to {s_hi:.0%}) gain {data_gain:.3f} on clean labels")
    bigger = "label damage moved" if damage_loss > data_gain else "data moved"
    if is_missing(lo) or is_missing(hi):
        lead = (f"**Undetermined at one run per cell:** in these single runs {bigger} the CNN's {name} more: "
                f"{facts}.")
    elif lo > 0 or hi < 0:
        lead = (f"**{bigger[0].upper() + bigger[1:]} the CNN's {name} more:** {facts} (difference "
                f"{abs(diff):.3f} [{min(abs(lo), abs(hi)):.3f}, {max(abs(lo), abs(hi)):.3f}]).")
    else:
        lead = (f"**Undetermined:** {facts}; the difference {diff:+.3f} [{lo:+.3f}, {hi:+.3f}] (damage minus "
                "data) includes zero.")
    text = (f"{lead} With "
            f"{s_hi:.0%} of the rows ({rows_at(df, s_hi):,}), {name} falls from "
            f"{at[levels[0]]:.3f} with clean labels to {at[levels[-1]]:.3f} at {levels[-1]:.0%} constant "
            f"damage. ")
    if reach:
        text += (f"{name[0].upper() + name[1:]} above {threshold:g} is reached at quality "
                 f"{', '.join(f'{q:g}' for q in sorted(reach, reverse=True))} within this grid")
    else:
        text += (f"No cell reaches {name} above {threshold:g} at any quality in this grid "
                 f"(largest sample {s_hi:.0%}), so the observations-needed table for it is empty")
    return text + f". Based on {_replicate_words(df)}."


def scaling_verdict(fits: pd.DataFrame | None, needed: pd.DataFrame | None, metric: str = "acc",
                    target: float = 0.9) -> str:
    """Which curve form the AICc selects per model, and the rows each model needs for ``target``.

    Parameters
    ----------
    fits : pandas.DataFrame or None
        The ``learning_curve_fits.csv`` table.
    needed : pandas.DataFrame or None
        The ``data_needed.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.
    target : float, default 0.9
        The target metric.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    parts = []
    if fits is not None and len(fits):
        sel = fits[fits["selected"].astype(str).str.lower().isin(["true", "1"]) & (fits["metric"] == metric)]
        forms = sel.drop_duplicates("model").set_index("model")["form"]
        crit = str(fits["criterion"].dropna().iloc[0]).upper().replace("AICC", "AICc") if "criterion" in fits and fits["criterion"].notna().any() else "AICc"
        if len(forms):
            parts.append(f"By {crit}, the {name} learning curves are best described by "
                         + ", ".join(f"{forms[m]} ({m.upper()})" for m in model_order(forms.keys())) + ".")
    if needed is not None and len(needed):
        nd = needed[(needed["metric"] == metric) & np.isclose(needed["target"].astype(float), target)]
        if "frac_damage" in nd:
            nd = nd[np.isclose(nd["frac_damage"].fillna(0).astype(float), 0.0)]
        bits, best = [], None
        for m in model_order(nd["model"]):
            r = nd[nd["model"] == m].iloc[0]
            bits.append(f"{m.upper()}: {needed_text(r.to_dict())}")
            if not is_true(r.get("reachable")) or is_missing(r["n_needed"]):
                continue
            ext = " (extrapolated)" if is_true(r.get("extrapolated")) else ""
            if best is None or r["n_needed"] < best[1]:
                best = (m, float(r["n_needed"]), ext)
        if best is not None:
            parts.insert(0, f"**To reach {name} {target:g}, the {best[0].upper()} needs the fewest training rows, "
                            f"about {fmt_num(best[1])}{best[2]}.**")
        if bits:
            parts.append(f"Training rows needed for {name} {target:g} [95% CI]: " + "; ".join(bits) + ".")
    return " ".join(parts) or "The statistics tables are not in the results folder, so nothing is fitted here."
