"""Figures of the statistics (ours, not the talk's): learning curves with their fitted forms,
data needed for a target, breakdown points, and parity with R."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from mizani.labels import label_comma, label_percent
from plotnine import (
    aes,
    facet_wrap,
    geom_errorbar,
    geom_hline,
    geom_line,
    geom_point,
    geom_ribbon,
    ggplot,
    labs,
    position_dodge,
    scale_color_manual,
    scale_fill_manual,
    scale_x_continuous,
    scale_x_log10,
    scale_y_log10,
)

from ..stats import forms
from .theme import (
    DATASET_SUBTITLE,
    FEW_GRAY,
    METRIC_NAME,
    experiment_rows,
    few_colors,
    model_levels,
    theme_few,
)


def _training_rows(df: pd.DataFrame) -> pd.Series:
    """Rows given to each fit: ``n_train`` when recorded, else floor(N x frac_sample) of the
    dataset's N training rows."""
    from .findings import training_rows

    drawn = np.floor(training_rows(df) * df["frac_sample"].astype(float) + 1e-9)
    if "n_train" in df.columns:
        return df["n_train"].astype(float).fillna(drawn)
    return drawn



def of_size_run(table: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The rows of a statistics table that belong to ``dataset``'s clean size run (columns the
    table lacks are not filtered on): a figure draws one dataset's fits over that dataset's data.

    Parameters
    ----------
    table : pandas.DataFrame
        A statistics table.
    dataset : str
        The dataset's name.
    """
    keep = pd.Series(True, index=table.index)
    if "dataset" in table:
        keep &= table["dataset"] == dataset
    if "experiment" in table:
        keep &= table["experiment"] == "size"
    if "frac_damage" in table:
        keep &= table["frac_damage"].fillna(0).astype(float) == 0.0
    return table[keep]


def fitted_curves(fits: pd.DataFrame, metric: str, n: np.ndarray) -> pd.DataFrame:
    """The selected learning curve of each model evaluated at training sizes ``n``.

    ``fits``: the statistics table ``learning_curve_fits.csv`` (long: one row per model,
    metric, form and parameter, with a boolean ``selected``). Forms outside
    :mod:`datavsmath.stats.forms`, or with missing parameters, are skipped. Returns columns model, n,
    error (= 1 - metric).

    Parameters
    ----------
    fits : pandas.DataFrame
        The ``learning_curve_fits.csv`` table.
    metric : {"acc", "auc"}
        The metric.
    n : numpy.ndarray
        Training sizes (rows).
    """
    need = {"model", "metric", "form", "param", "estimate", "selected"}
    if fits is None or not need <= set(fits.columns):
        return pd.DataFrame(columns=["model", "n", "error"])
    sel = fits[(fits["metric"] == metric) & fits["selected"].astype(str).str.lower().isin(["true", "1"])]
    parts = []
    for (model, form), grp in sel.groupby(["model", "form"]):
        params = dict(zip(grp["param"], grp["estimate"].astype(float)))
        try:
            err = forms.curve(form, params, n)
        except KeyError:
            continue
        parts.append(pd.DataFrame({"model": model, "n": n, "error": err}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "n", "error"])



def learning_curve_figure(results: pd.DataFrame, metric: str = "acc", dataset: str = "fashion",
                          fits: pd.DataFrame | None = None) -> ggplot:
    """Size run on log-log axes: test error (1 - ``metric``) against training rows, one line
    per model (replicate means; points are single runs); with ``fits`` (the
    learning_curve_fits table) the selected curve of each model is drawn dashed.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    dataset : str, default "fashion"
        The dataset's name.
    fits : pandas.DataFrame, optional
        The ``learning_curve_fits.csv`` table.

    Returns
    -------
    plotnine.ggplot
    """
    df = experiment_rows(results, "size", dataset)
    df = df.assign(n=_training_rows(df), error=1.0 - df[metric])
    levels = model_levels(df["model"])
    colors = few_colors(levels)
    mean = df.groupby(["model", "n"], as_index=False)["error"].mean()
    for frame in (df, mean):
        frame["model"] = pd.Categorical(frame["model"], levels)
    p = (ggplot(mean, aes("n", "error", color="model"))
         + geom_point(data=df, size=0.8, alpha=0.5)
         + geom_line(size=1))
    caption = None
    if fits is not None:
        fits = of_size_run(fits, dataset)
        grid = np.geomspace(df["n"].min(), df["n"].max(), 100)
        curves = fitted_curves(fits, metric, grid)
        curves = curves[curves["model"].isin(levels) & (curves["error"] > 0)]
        if len(curves):
            curves["model"] = pd.Categorical(curves["model"], levels)
            p += geom_line(data=curves, mapping=aes("n", "error", color="model"), linetype="dashed", size=0.6)
            caption = "Solid: replicate means; dashed: the selected learning-curve fit"
    name = METRIC_NAME[metric]
    return (p + scale_x_log10(labels=label_comma()) + scale_y_log10()
            + scale_color_manual(values=colors, name="Model Type") + theme_few()
            + labs(title="Learning Curves", subtitle=f"{DATASET_SUBTITLE.get(dataset, dataset)}, log-log axes",
                   x="Training rows", y=f"Test error (1 - {name})", caption=caption))



def _ordered(values, preferred: list[str]) -> list[str]:
    """Category order: ``preferred`` first (those present), then the rest sorted."""
    present = set(map(str, values))
    return [v for v in preferred if v in present] + sorted(present - set(preferred))



def _interval_figure(df: pd.DataFrame, x: str, y: str, lo: str, hi: str, labels: dict,
                     facet: str | None = None, log_y: bool = False) -> ggplot:
    """Points with interval bars, one colour per model, optionally faceted."""
    levels = model_levels(df["model"])
    df = df.assign(model=pd.Categorical(df["model"].astype(str), levels))
    p = (ggplot(df, aes(x, y, color="model"))
         + geom_errorbar(aes(ymin=lo, ymax=hi), width=0.25, position=position_dodge(width=0.5))
         + geom_point(size=2, position=position_dodge(width=0.5))
         + scale_color_manual(values=few_colors(levels), name="Model Type") + theme_few())
    if log_y:
        p += scale_y_log10(labels=label_comma())
    if facet:
        p += facet_wrap(facet, scales="free")
    return p + labs(**labels)



def data_needed_figure(table: pd.DataFrame, metric: str | None = None, dataset: str = "fashion") -> ggplot:
    """Training rows needed to reach each target (``data_needed.csv``) on ``dataset``, with 95%
    intervals, one colour per model, log scale, one panel per metric (or only ``metric``);
    targets whose verdict is not "reachable" are left out.

    Parameters
    ----------
    table : pandas.DataFrame
        The ``data_needed.csv`` table.
    metric : {"acc", "auc"}, optional
        Only this metric (default both).
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    plotnine.ggplot
    """
    table = table[table["dataset"] == dataset] if "dataset" in table else table
    df = table if metric is None else table[table["metric"] == metric]
    if "reachable" in df.columns:
        df = df[df["reachable"].astype(str).str.lower().isin(["true", "1"])]
    df = df.dropna(subset=["n_needed"]).copy()
    if df.empty:
        raise ValueError("no reachable targets in the data-needed table")
    df["target"] = df["target"].map(lambda t: f"{float(t):g}")
    df["panel"] = df["metric"].map(lambda m: f"target {METRIC_NAME.get(m, m)}")
    df["panel"] = pd.Categorical(df["panel"], _ordered(df["panel"], ["target accuracy", "target AUC"]))
    return _interval_figure(df, "target", "n_needed", "ci_low", "ci_high", {
        "title": "Data Needed for a Target",
        "subtitle": f"{DATASET_SUBTITLE.get(dataset, dataset)}: training rows to reach a test accuracy or AUC",
        "x": "Target", "y": "Training rows needed (log scale)",
        "caption": "Bars: 95% confidence intervals; targets whose verdict is not reachable "
                   "or undetermined are not drawn"},
        facet="~panel", log_y=True)



def breakdown_figure(table: pd.DataFrame) -> ggplot:
    """Breakdown points (``breakdown_points.csv``): the damage fraction at which each model
    breaks down, with 95% intervals, one panel per experiment.

    Parameters
    ----------
    table : pandas.DataFrame
        The ``breakdown_points.csv`` table.

    Returns
    -------
    plotnine.ggplot
    """
    df = table.dropna(subset=["breakdown_frac"]).copy()
    if df.empty:
        raise ValueError("the breakdown table has no finite breakdown points")
    df["experiment"] = df["experiment"].astype(str).str.replace("_", " ")
    df["experiment"] = pd.Categorical(df["experiment"], _ordered(df["experiment"], ["random damage", "constant damage"]))
    return _interval_figure(df, "model", "breakdown_frac", "ci_low", "ci_high", {
        "title": "Breakdown Points", "subtitle": "Damage fraction at which each model breaks down",
        "x": "Model", "y": "Damage fraction", "caption": "Bars: 95% confidence intervals"},
        facet="~experiment")



def parity_figure(cells: pd.DataFrame, metric: str = "acc") -> ggplot:
    """Ours minus R per cell, one line per model, one panel per experiment: x is the sample
    fraction (size) or the correctly labelled fraction 1 - d (damage); bands show our 95%
    interval for one run, shifted by R's value, so a band that covers 0 means agreement.

    ``cells``: columns experiment, model, frac_sample, frac_damage, metric, r, diff, lo, hi
    (as made by the reports' parity helpers).

    Parameters
    ----------
    cells : pandas.DataFrame
        Rows of :func:`datavsmath.stats.parity.parity_cells`.
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    plotnine.ggplot
    """
    df = cells[cells["metric"] == metric].copy()
    if df.empty:
        raise ValueError(f"no {metric} cells to compare")
    df["x"] = np.where(df["experiment"] == "size", df["frac_sample"], 1.0 - df["frac_damage"])
    panels = {"size": "size (x: sample fraction)", "random_damage": "random damage (x: 1 - d)",
              "constant_damage": "constant damage (x: 1 - d)"}
    df["panel"] = df["experiment"].map(panels).fillna(df["experiment"])
    df["panel"] = pd.Categorical(df["panel"], _ordered(df["panel"], list(panels.values())))
    df["band_lo"], df["band_hi"] = df["lo"] - df["r"], df["hi"] - df["r"]
    levels = model_levels(df["model"].astype(str))
    df["model"] = pd.Categorical(df["model"].astype(str), levels)
    colors = few_colors(levels)
    p = ggplot(df, aes("x", "diff", color="model", group="model")) + geom_hline(yintercept=0, color=FEW_GRAY)
    if df["band_lo"].notna().any():
        p += geom_ribbon(aes(ymin="band_lo", ymax="band_hi", fill="model"), alpha=0.15, color="none",
                         show_legend=False)
        p += scale_fill_manual(values=colors, guide=None)
    name = METRIC_NAME[metric]
    return (p + geom_line(size=0.8) + geom_point(size=0.8)
            + scale_color_manual(values=colors, name="Model Type") + facet_wrap("~panel", scales="free")
            + scale_x_continuous(labels=label_percent()) + theme_few()
            + labs(title="Ours Minus R", subtitle=f"Difference in test {name} per cell",
                   x="Fraction of training rows, or of correct labels",
                   y=f"{name[0].upper() + name[1:]} difference (ours - R)",
                   caption="Bands: our 95% interval for one run minus R's value"))



def scaling_figures(results: pd.DataFrame, tables_dir: str | os.PathLike | None = None,
                    dataset: str = "fashion") -> dict[str, ggplot]:
    """Learning curves (with the selected fits when ``tables_dir`` holds them), and the
    data-needed and breakdown charts when their tables exist in ``tables_dir``.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    tables_dir : str or os.PathLike, optional
        A folder of statistics tables.
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    dict of str to plotnine.ggplot
    """
    tables = Path(tables_dir) if tables_dir is not None else None

    def table(name):
        path = tables / name if tables is not None else None
        return pd.read_csv(path) if path is not None and path.is_file() else None

    figs: dict[str, ggplot] = {}
    fits, needed, breakdown = (table("learning_curve_fits.csv"), table("data_needed.csv"),
                               table("breakdown_points.csv"))
    has_size = ((results["experiment"] == "size") & (results.get("dataset", dataset) == dataset)).any()
    for metric in ("acc", "auc"):
        if has_size:
            figs[f"{metric}-learning-curves"] = learning_curve_figure(results, metric, dataset, fits)
    if dataset == "fashion" and needed is not None:
        try:
            figs["data-needed"] = data_needed_figure(needed)
        except ValueError:  # no reachable target: nothing to draw
            pass
    if dataset == "fashion" and breakdown is not None and breakdown["breakdown_frac"].notna().any():
        figs["breakdown-points"] = breakdown_figure(breakdown)
    return figs

