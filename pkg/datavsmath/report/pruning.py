"""What the pruning page shows: accuracy against training rows by selection rule, and the
verdict on exponent, constant and crossover from ``pruning_fits.csv`` and
``pruning_crossover.csv`` (written by ``datavsmath fit``; :mod:`datavsmath.stats.pruning`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    facet_wrap,
    geom_line,
    geom_point,
    ggplot,
    labs,
    scale_color_manual,
    scale_x_log10,
)

from ..stats.parity import model_order
from .formatting import fmt_interval, fmt_num, is_missing
from .theme import FEW_DARK, experiment_rows, replicate_summary, theme_few

__all__ = [
    "SELECTION_COLORS",
    "SELECTION_NAMES",
    "crossover_view",
    "pruning_figure",
    "pruning_verdict",
    "pruning_view",
]

SELECTION_NAMES = {"random": "random", "keep_easy": "keep easy", "keep_hard": "keep hard"}
#: random keeps the size figures' neutral blue; easy and hard the palette's green and pink
SELECTION_COLORS = {"random": FEW_DARK[0], "keep_easy": FEW_DARK[2], "keep_hard": FEW_DARK[3]}
_METRIC = {"acc": "accuracy", "auc": "AUC"}


def pruning_figure(results: pd.DataFrame, metric: str = "acc", experiment: str = "pruning",
                   dataset: str = "fashion") -> ggplot:
    """``metric`` against training rows kept (log scale), one line per selection rule, one
    panel per model. ``results``: tidy results with a ``selection`` column.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    experiment : str, default "pruning"
        The experiment.
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    plotnine.ggplot
    """
    df = experiment_rows(results, experiment, dataset)
    df = df.assign(selection=df["selection"].fillna("random") if "selection" in df else "random",
                   rows=df["n_train"].astype(float))
    s = replicate_summary(df, ["model", "selection", "rows"], metric)
    levels = [k for k in SELECTION_NAMES if k in set(s["selection"])]
    s["selection"] = pd.Categorical(s["selection"], levels)
    s["model"] = pd.Categorical(s["model"].str.upper(),
                                [m.upper() for m in model_order(s["model"])])
    return (ggplot(s, aes("rows", "mean", color="selection", group="selection"))
            + geom_line(size=1) + geom_point(size=1.8)
            + scale_x_log10(labels=lambda xs: [f"{x:,.0f}" for x in xs])
            + scale_color_manual(values=SELECTION_COLORS, labels=SELECTION_NAMES, name="Rows kept")
            + facet_wrap("model") + theme_few()
            + labs(title="Data pruning: which rows are kept",
                   x="Training rows kept (log scale)", y=f"Test {_METRIC.get(metric, metric)}"))


def pruning_view(fits: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """``pruning_fits.csv`` for reading: per model and selection, the exponent b and the error at
    n_mid with their intervals, and against random the differences and the change.

    Parameters
    ----------
    fits : pandas.DataFrame
        The ``pruning_fits.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.
    """
    d = fits[fits["metric"] == metric]
    def ci(r, k, lo, hi, digits=3):
        return fmt_interval(r[k], r[lo], r[hi], digits)
    return pd.DataFrame({
        "model": d["model"].str.upper(),
        "rows kept": d["selection"].map(lambda s: SELECTION_NAMES.get(s, s)),
        "exponent b [95% CI]": [ci(r, "b", "b_ci_low", "b_ci_high") for _, r in d.iterrows()],
        "b minus random's": ["" if is_missing(r["b_diff"]) else ci(r, "b_diff", "b_diff_ci_low", "b_diff_ci_high")
                             for _, r in d.iterrows()],
        "error at n_mid": [ci(r, "error_mid", "error_mid_ci_low", "error_mid_ci_high") for _, r in d.iterrows()],
        "log error ratio to random": ["" if is_missing(r["log_ratio_mid"]) else
                                      ci(r, "log_ratio_mid", "log_ratio_ci_low", "log_ratio_ci_high")
                                      for _, r in d.iterrows()],
        "change": d["change"],
    })


def crossover_view(cross: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """``pruning_crossover.csv`` for reading.

    Parameters
    ----------
    cross : pandas.DataFrame
        The ``pruning_crossover.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    pandas.DataFrame
    """
    d = cross[cross["metric"] == metric]
    return pd.DataFrame({
        "model": d["model"].str.upper(),
        "crossover n [95% CI]": [_cross_words(r) for _, r in d.iterrows()],
        "lower below it": d["lower_below"].map(lambda s: SELECTION_NAMES.get(s, s) if isinstance(s, str) else ""),
        "observed order changes": d["observed_bracket"],
        "status": d["status"],
    })


def _cross_words(r) -> str:
    if is_missing(r["n_cross"]):
        return "none"
    if r.get("interval") == "delta method":
        return fmt_interval(r["n_cross"], r["ci_low"], r["ci_high"])
    return f"{fmt_num(r['n_cross'])} (point estimate, no interval)"


def _truthy(v) -> bool:
    return str(v).strip().lower() in ("true", "1")


def _keep_advice(fits: pd.DataFrame, cross: pd.DataFrame | None, metric: str) -> str:
    """The practical point, per model: which rows to keep, from the error ratio to random at the
    geometric-mean size and where keep-easy and keep-hard cross."""
    out = []
    for model in model_order(fits.loc[fits["metric"] == metric, "model"]):
        d = fits[(fits["metric"] == metric) & (fits["model"] == model) & (fits["selection"] != "random")
                 & fits["log_ratio_mid"].notna()]
        if d.empty:
            continue
        ratio = {r["selection"]: float(np.exp(r["log_ratio_mid"])) for _, r in d.iterrows()}
        best = min(ratio, key=ratio.__getitem__)
        n_mid = fmt_num(d["n_mid"].iloc[0])
        said = ", ".join(f"{SELECTION_NAMES.get(k, k)} {v:.2f}x" for k, v in sorted(ratio.items(), key=lambda kv: kv[1]))
        text = (f"{model.upper()}: random rows (at {n_mid} rows the pruning rules err {said} random's error)"
                if ratio[best] >= 1 else
                f"{model.upper()}: {SELECTION_NAMES.get(best, best)} (at {n_mid} rows its error is {ratio[best]:.2f}x random's)")
        c = cross[(cross["metric"] == metric) & (cross["model"] == model)] if cross is not None and len(cross) else pd.DataFrame()
        if len(c) and not is_missing(c.iloc[0]["n_cross"]):
            r = c.iloc[0]
            below = SELECTION_NAMES.get(r["lower_below"], r["lower_below"])
            above = SELECTION_NAMES.get(r["high"] if r["lower_below"] == r["low"] else r["low"], "")
            text += f"; between the two pruning rules, {below} below {_cross_words(r)} rows and {above} above"
        out.append(text)
    return ("**Which rows to keep:** " + "; ".join(out) + ".") if out else ""


def pruning_verdict(fits: pd.DataFrame | None, cross: pd.DataFrame | None, metric: str = "acc") -> str:
    """Whether pruning changes the exponent or only the constant, per model, and where keep-easy
    and keep-hard cross, from the two tables (``metric`` rows).

    Parameters
    ----------
    fits : pandas.DataFrame or None
        The ``pruning_fits.csv`` table.
    cross : pandas.DataFrame or None
        The ``pruning_crossover.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    str
        Markdown.
    """
    name = _METRIC.get(metric, metric)
    if fits is None or fits.empty:
        return "The pruning statistics are not in the results folder (`datavsmath fit` writes them), so nothing is judged here."
    d = fits[(fits["metric"] == metric) & (fits["selection"] != "random")]
    if d.empty or d["change"].isin(["not fitted"]).all():
        return (f"**Undetermined for {name}:** no selection's power law could be fitted and compared with "
                "random (too few training-set sizes, or no random curve).")
    changes = set(d["change"])
    lead = ("**Pruning changes the exponent of the learning curve**" if "exponent" in changes else
            "**Pruning shifts the learning curve but does not change its exponent**" if "constant only" in changes else
            "**No change from pruning is detected**")
    parts = []
    for model in model_order(d["model"]):
        ref = fits[(fits["metric"] == metric) & (fits["model"] == model) & (fits["selection"] == "random")]
        b, b_lo, b_hi = ref.iloc[0][["b", "b_ci_low", "b_ci_high"]] if len(ref) else (None,) * 3
        rb = (f"random's b = {fmt_interval(b, b_lo, b_hi, digits=2)}"
              if len(ref) and not is_missing(ref.iloc[0]["b"]) else "random's b not fitted")
        bits = []
        for _, r in d[d["model"] == model].iterrows():
            sel = SELECTION_NAMES.get(r["selection"], r["selection"])
            if r["change"] == "not fitted":
                bits.append(f"{sel}: not fitted")
                continue
            overlap = "overlapping" if _truthy(r["b_ci_overlap"]) else "not overlapping"
            what = {"exponent": "changes the exponent", "constant only": "changes only the constant",
                    "none detected": "no change detected"}[r["change"]]
            bits.append(f"{sel} {what} (b = {fmt_interval(r['b'], r['b_ci_low'], r['b_ci_high'], 2)}, "
                        f"{overlap} random's; difference {fmt_interval(r['b_diff'], r['b_diff_ci_low'], r['b_diff_ci_high'], 2)}; "
                        f"error at {fmt_num(r['n_mid'])} rows {np.exp(r['log_ratio_mid']):.2f} times random's)")
        parts.append(f"{model.upper()} ({rb}): " + "; ".join(bits))
    text = (_keep_advice(fits, cross, metric) + f" {lead} for {name} in these results. "
            + ". ".join(parts) + ".")
    if cross is not None and len(cross):
        c = cross[cross["metric"] == metric]
        words = []
        for _, r in c.iterrows():
            m = str(r["model"]).upper()
            if is_missing(r["n_cross"]):
                lower = SELECTION_NAMES.get(r["lower_below"], r["lower_below"]) if isinstance(r["lower_below"], str) and r["lower_below"] else ""
                words.append(f"{m}: no crossover" + (f", {lower} lower throughout the range searched" if lower else ""))
                continue
            where = "inside the sizes run" if _truthy(r["inside_data"]) else "extrapolated beyond the sizes run"
            side = SELECTION_NAMES.get(r["lower_below"], r["lower_below"])
            agrees = "as Sorscher et al. predict" if _truthy(r["matches_sorscher"]) else "the opposite of Sorscher et al.'s prediction"
            words.append(f"{m}: at {_cross_words(r)} rows, {where}; {side} is lower below it, {agrees}")
        if words:
            text += " Keep easy against keep hard: " + "; ".join(words) + "."
    return text
