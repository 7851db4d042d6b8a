"""The talk's figures, drawn with plotnine from tidy results.

Every figure follows the R testbench's ggplot: the same titles, subtitles, axis titles, legend
titles and layout (one line per model, or one line per damage fraction for the CNN cross
product), ggthemes' ``theme_few`` look and the "Dark" palette of ``scale_color_few``. Where we
have several replicates of a cell (R had one run), the line is their mean and a light band
spans their range; the caption says so.

Colours follow ggplot2's rule for a character column: levels in alphabetical order take the
palette in turn, so ``cnn`` is blue, ``dnn`` orange, ``rf`` green and ``xgb`` pink, exactly as
in the R plots. Each model keeps its colour on every figure, even when another is absent.

Functions take the tidy results of :func:`datavsmath.store.read_results` (see that module for
the columns) and return ``plotnine.ggplot`` objects; :func:`save_png` and
:func:`export_figures` write them as PNG files (16:9 at 300 dpi by default).

Results folders (:func:`default_results_dir`): ``$DATAVSMATH_RESULTS`` if set (relative paths
are taken from the project root), else ``results/full`` when its ``provenance.json`` says the
full run finished, else ``results/quick``.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from mizani.labels import label_comma, label_percent
from plotnine import (
    aes,
    element_blank,
    element_line,
    element_rect,
    element_text,
    facet_wrap,
    geom_col,
    geom_errorbar,
    geom_hline,
    geom_label,
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
    theme,
    theme_bw,
)

__all__ = [
    "FEW_DARK",
    "FEW_GRAY",
    "MODEL_COLORS",
    "DEFAULT_SIZE",
    "theme_few",
    "few_colors",
    "replicate_summary",
    "size_figure",
    "damage_figure",
    "size_x_damage_figure",
    "damaged_label_counts",
    "damaged_labels_figure",
    "learning_curve_figure",
    "fitted_curves",
    "data_needed_figure",
    "breakdown_figure",
    "parity_figure",
    "talk_figures",
    "scaling_figures",
    "illustration_figures",
    "training_labels",
    "save_png",
    "with_caption",
    "profile_note",
    "export_figures",
    "default_results_dir",
    "is_complete",
    "load_results",
    "read_provenance",
]

# ggthemes' few palettes (Stephen Few, "Practical Rules for Using Color in Charts").
# The first entry of each palette (its gray/black) is reserved for non-data ink, so
# scale_color_few("Dark") draws from the remaining eight, in this order.
FEW_DARK = ["#265DAB", "#DF5C24", "#059748", "#E5126F", "#9D722A", "#7B3A96", "#C7B42E", "#CB2027"]
FEW_GRAY = "#4D4D4D"  # the "Medium" palette's gray: theme_few's lines, ticks and panel border
FEW_BLACK = "#000000"  # the "Dark" palette's first entry: theme_few's text

#: The four models in ggplot2's (alphabetical) legend order, with their R colours.
MODEL_COLORS = dict(zip(["cnn", "dnn", "rf", "xgb"], FEW_DARK))

#: Default PNG size in inches (16:9) and resolution.
DEFAULT_SIZE = (8.0, 4.5)
DEFAULT_DPI = 300

_DATASET_SUBTITLE = {"fashion": "Fashion MNIST Dataset", "mnist": "MNIST Dataset"}
_METRIC_Y = {  # the R scripts' y-axis titles
    "size": {"acc": "Inference Accuracy (OVA)", "auc": "AUC (OVA)"},
    "damage": {"acc": "Accuracy (OVA)", "auc": "AUC (OVA)"},
}
_DAMAGE_TITLE = {"random": "Model Architectures and Random Bias",
                 "constant": "Model Architectures and Constant Bias"}
_ILLUSTRATION_TITLE = {"random": "Randomly Biased Labels", "constant": "Constant Biased Labels"}


# --------------------------------------------------------------------------------------------
# Look
# --------------------------------------------------------------------------------------------

class theme_few(theme_bw):
    """ggthemes' ``theme_few`` for plotnine: white, no grid lines, a thin gray panel border.

    Parameters
    ----------
    base_size : base font size in points (ggthemes' default is 12).
    base_family : font family, or None for plotnine's default.
    """

    def __init__(self, base_size: float = 12, base_family: str | None = None):
        super().__init__(base_size, base_family)
        self += theme(
            line=element_line(color=FEW_GRAY),
            rect=element_rect(fill="white", color="none"),
            text=element_text(color=FEW_BLACK),
            axis_ticks=element_line(color=FEW_GRAY),
            legend_key=element_rect(color="none"),
            panel_border=element_rect(color=FEW_GRAY, fill="none"),
            panel_grid=element_blank(),
            strip_background=element_rect(fill="white", color="none"),
        )


def few_colors(levels, palette: list[str] = FEW_DARK) -> dict[str, str]:
    """Colour per level: known models keep their R colour, anything else takes the palette's
    next unused entries in the given order (as ``scale_color_few`` would)."""
    levels = [str(v) for v in levels]
    if set(levels) <= set(MODEL_COLORS):
        return {m: MODEL_COLORS[m] for m in levels}
    if len(levels) > len(palette):
        raise ValueError(f"the few palette has {len(palette)} colours; {len(levels)} levels asked")
    return dict(zip(levels, palette))


# --------------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------------

def _select(results: pd.DataFrame, experiment: str, dataset: str) -> pd.DataFrame:
    df = results[results["experiment"] == experiment]
    if "dataset" in df.columns and df["dataset"].notna().any():
        df = df[df["dataset"] == dataset]
    if df.empty:
        have = sorted(results["experiment"].dropna().unique().tolist())
        raise ValueError(f"no {experiment!r} results for dataset {dataset!r}; experiments present: {have}")
    return df


def replicate_summary(df: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean, range and count of ``metric`` over replicates, one row per ``by`` group.

    Returns columns ``by + ["mean", "lo", "hi", "n"]`` where lo/hi are the smallest and largest
    replicate values (equal to the mean when there is a single run).
    """
    if metric not in df.columns:
        raise ValueError(f"unknown metric {metric!r}; expected 'acc' or 'auc'")
    g = df.dropna(subset=[metric]).groupby(by, observed=True, sort=True)[metric]
    out = g.agg(mean="mean", lo="min", hi="max", n="count").reset_index()
    return out


def _model_levels(models) -> list[str]:
    """ggplot2's order for a character column: sorted."""
    return sorted({str(m) for m in models})


def _replicate_caption(summary: pd.DataFrame) -> str | None:
    n = int(summary["n"].max()) if len(summary) else 1
    if n <= 1:
        return None
    lo = int(summary["n"].min())
    runs = f"{n}" if lo == n else f"{lo}-{n}"
    return f"Lines: mean of {runs} runs per point; bands: their range"


def _line_figure(summary: pd.DataFrame, x: str, group: str, legend: str, labels: dict,
                 percent_x: bool, note: str | None = None) -> ggplot:
    """The R line chart: ``geom_line(size=1) + geom_point(color="white", size=0.2)`` per group,
    plus a range band when there are replicates."""
    levels = list(summary[group].cat.categories)
    colors = few_colors(levels)
    p = ggplot(summary, aes(x=x, y="mean", color=group, group=group))
    if summary["n"].max() > 1:
        p += geom_ribbon(aes(ymin="lo", ymax="hi", fill=group), alpha=0.18, color="none",
                         show_legend=False)
        p += scale_fill_manual(values=colors, guide=None)
    if summary.groupby(group, observed=True).size().min() < 2:
        # a line needs two points; a partial grid would otherwise draw nothing for that group
        p += geom_point(size=2)
    p += geom_line(size=1)
    # R's white specks: ggplot2 draws a size-0.2 point at about half the 1-mm line's width;
    # plotnine adds the full default stroke (0.5) to the diameter, so thin it to keep that ratio
    p += geom_point(color="white", size=0.2, stroke=0.2)
    p += scale_color_manual(values=colors, name=legend)
    if percent_x:
        p += scale_x_continuous(labels=label_percent())
    caption = "\n".join(c for c in (note, _replicate_caption(summary)) if c)
    if caption:
        labels = {**labels, "caption": caption}
    return p + theme_few() + labs(**labels)


# --------------------------------------------------------------------------------------------
# The talk's figures
# --------------------------------------------------------------------------------------------

def size_figure(results: pd.DataFrame, metric: str = "acc", dataset: str = "fashion") -> ggplot:
    """Size run: ``metric`` ("acc" or "auc") against the sample fraction, one line per model.

    ``results``: tidy results holding ``experiment == "size"`` rows. Fractions are shares of
    the 60,000 training rows; the metric is on the 10,000 test rows.
    """
    df = _select(results, "size", dataset)
    s = replicate_summary(df, ["model", "frac_sample"], metric)
    s["model"] = pd.Categorical(s["model"], _model_levels(s["model"]))
    return _line_figure(s, "frac_sample", "model", "Model Type", {
        "title": "Model Architectures and Training Batch Size",
        "subtitle": _DATASET_SUBTITLE.get(dataset, dataset),
        "x": "Fraction of Training Data\n(60,000 * x = # of samples)",
        "y": _METRIC_Y["size"][metric],
    }, percent_x=False)


def damage_figure(results: pd.DataFrame, damage: str = "random", metric: str = "acc",
                  dataset: str = "fashion") -> ggplot:
    """Damage run (``damage`` "random" or "constant"): ``metric`` against the correctly
    labelled fraction 1 - d of the 60,000 training labels, one line per model."""
    if damage not in _DAMAGE_TITLE:
        raise ValueError(f"damage must be 'random' or 'constant', got {damage!r}")
    df = _select(results, f"{damage}_damage", dataset)
    s = replicate_summary(df, ["model", "frac_damage"], metric)
    s["unbiased"] = 1.0 - s["frac_damage"]
    s["model"] = pd.Categorical(s["model"], _model_levels(s["model"]))
    return _line_figure(s, "unbiased", "model", "Model Type", {
        "title": _DAMAGE_TITLE[damage],
        "subtitle": _DATASET_SUBTITLE.get(dataset, dataset),
        "x": "Correctly labeled training data\n(percent of 60,000 obs)",
        "y": _METRIC_Y["damage"][metric],
    }, percent_x=True, note=_subsample_note(df))


def _subsample_note(df: pd.DataFrame) -> str | None:
    """Caption line when a damage run trained on a draw instead of all 60,000 rows."""
    fracs = sorted(df["frac_sample"].dropna().unique())
    if not fracs or fracs == [1.0]:
        return None
    shown = ", ".join(f"{f:.0%}" for f in fracs)
    rows = ", ".join(f"{math.floor(60000 * f + 1e-9):,}" for f in fracs)
    return f"Trained on a {shown} draw ({rows} rows), not all 60,000"


def size_x_damage_figure(results: pd.DataFrame, metric: str = "acc", dataset: str = "fashion") -> ggplot:
    """Size x damage (CNN only): ``metric`` against the sample fraction, one line per
    constant-damage fraction (legend "Bias Fraction", as in R)."""
    df = _select(results, "size_x_damage", dataset)
    df = df[df["model"] == "cnn"]
    if df.empty:
        raise ValueError("the size x damage results hold no CNN rows")
    s = replicate_summary(df, ["frac_damage", "frac_sample"], metric)
    # R turned frac_damage into a factor, so the legend reads 0, 0.1, ..., 0.5
    s["frac_damage"] = pd.Categorical(s["frac_damage"].map(_fmt_frac),
                                      [_fmt_frac(v) for v in sorted(s["frac_damage"].unique())])
    return _line_figure(s, "frac_sample", "frac_damage", "Bias Fraction", {
        "title": "CNN Architecture and Bias",
        "subtitle": _DATASET_SUBTITLE.get(dataset, dataset),
        "x": "Number of Samples\n(percent of 60,000 obs)",
        "y": _METRIC_Y["damage"][metric],
    }, percent_x=True)


def _fmt_frac(v: float) -> str:
    return f"{v:g}"


# --------------------------------------------------------------------------------------------
# Illustrations of damaged labels
# --------------------------------------------------------------------------------------------

def damaged_label_counts(y, damage: str = "random", frac: float = 0.3, true_label: int = 5,
                         shift: int = 3, seed: int = 2019) -> pd.DataFrame:
    """Counts of the labels that rows of class ``true_label`` carry after damage.

    Damages the whole label vector ``y`` (int array, labels 0..9) with
    :func:`datavsmath.damage.random_damage` or :func:`~datavsmath.damage.constant_damage`
    (``shift`` only for constant damage; the talk's illustration used +3, the experiments +1),
    then counts, for the rows whose true label is ``true_label``, each damaged label 0..9.
    Returns columns ``damaged`` (int 0..9) and ``n`` (int); labels never reached have n = 0.
    """
    from .damage import constant_damage, random_damage

    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    if damage == "random":
        damaged = random_damage(y, frac, rng)
    elif damage == "constant":
        damaged = constant_damage(y, frac, rng, shift=shift)
    else:
        raise ValueError(f"damage must be 'random' or 'constant', got {damage!r}")
    counts = np.bincount(damaged[y == true_label], minlength=10)
    return pd.DataFrame({"damaged": np.arange(counts.size), "n": counts.astype(int)})


def damaged_labels_figure(y, damage: str = "random", frac: float = 0.3, true_label: int = 5,
                          shift: int = 3, seed: int = 2019) -> ggplot:
    """The talk's bar chart of damaged labels for one true label (defaults: label 5, 30%).

    ``y``: the training labels (e.g. ``load_dataset("fashion").y_train``). Bars count the rows
    of class ``true_label`` by the label they carry after damage, each bar labelled with its
    count. See :func:`damaged_label_counts` for the arguments.
    """
    counts = damaged_label_counts(y, damage, frac, true_label, shift, seed)
    counts["damaged"] = pd.Categorical(counts["damaged"].astype(str), [str(i) for i in range(10)])
    return (
        ggplot(counts, aes(x="damaged", y="n"))
        + geom_col()
        + geom_label(aes(label="n"))
        + theme_few()
        + labs(title=_ILLUSTRATION_TITLE[damage], subtitle=f"True Label = {true_label}",
               caption=f"{round(frac * 100):d}% Damage", x="Damaged Label", y="Count")
    )


def training_labels(dataset: str = "fashion") -> tuple[np.ndarray, str]:
    """The real training labels, or (if the dataset cannot be found) 6,000 rows of each class:
    the same class sizes, hence the same counts for one class under stratified damage."""
    from .data import load_dataset
    from .errors import UserError

    try:
        return load_dataset(dataset).y_train, "training labels"
    except (UserError, OSError):
        return np.repeat(np.arange(10, dtype=np.uint8), 6000), "balanced stand-in labels"


def illustration_figures(y=None, frac: float = 0.3, true_label: int = 5) -> dict[str, ggplot]:
    """Both illustrations, keyed by the R file names ("random-bias", "constant-bias")."""
    if y is None:
        y, _ = training_labels()
    return {
        "random-bias": damaged_labels_figure(y, "random", frac, true_label),
        "constant-bias": damaged_labels_figure(y, "constant", frac, true_label, shift=3),
    }


# --------------------------------------------------------------------------------------------
# Scaling-law and parity figures (ours, not the talk's)
# --------------------------------------------------------------------------------------------

#: error e(n) of the learning-curve forms, n in training rows (see the statistics tables)
LEARNING_FORMS = {
    "power": lambda n, p: p["a"] * n ** -p["b"],
    "power_floor": lambda n, p: p["c"] + p["a"] * n ** -p["b"],
    "exp": lambda n, p: p["a"] * np.exp(-p["k"] * n),
    "exp_floor": lambda n, p: p["c"] + p["a"] * np.exp(-p["k"] * n),
}
_METRIC_NAME = {"acc": "accuracy", "auc": "AUC"}


def _training_rows(df: pd.DataFrame) -> pd.Series:
    """Rows given to each fit: ``n_train`` when recorded, else floor(60,000 x frac_sample)."""
    drawn = np.floor(60000 * df["frac_sample"].astype(float) + 1e-9)
    if "n_train" in df.columns:
        return df["n_train"].astype(float).fillna(drawn)
    return drawn


def fitted_curves(fits: pd.DataFrame, metric: str, n: np.ndarray) -> pd.DataFrame:
    """The selected learning curve of each model evaluated at training sizes ``n``.

    ``fits``: the statistics table ``learning_curve_fits.csv`` (long: one row per model,
    metric, form and parameter, with a boolean ``selected``). Forms outside
    :data:`LEARNING_FORMS` or with missing parameters are skipped. Returns columns model, n,
    error (= 1 - metric).
    """
    need = {"model", "metric", "form", "param", "estimate", "selected"}
    if fits is None or not need <= set(fits.columns):
        return pd.DataFrame(columns=["model", "n", "error"])
    sel = fits[(fits["metric"] == metric) & fits["selected"].astype(str).str.lower().isin(["true", "1"])]
    parts = []
    for (model, form), grp in sel.groupby(["model", "form"]):
        params = dict(zip(grp["param"], grp["estimate"].astype(float)))
        curve = LEARNING_FORMS.get(form)
        if curve is None:
            continue
        try:
            err = curve(n.astype(float), params)
        except KeyError:
            continue
        parts.append(pd.DataFrame({"model": model, "n": n, "error": err}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "n", "error"])


def learning_curve_figure(results: pd.DataFrame, metric: str = "acc", dataset: str = "fashion",
                          fits: pd.DataFrame | None = None) -> ggplot:
    """Size run on log-log axes: test error (1 - ``metric``) against training rows, one line
    per model (replicate means; points are single runs); with ``fits`` (the
    learning_curve_fits table) the selected curve of each model is drawn dashed."""
    df = _select(results, "size", dataset)
    df = df.assign(n=_training_rows(df), error=1.0 - df[metric])
    levels = _model_levels(df["model"])
    colors = few_colors(levels)
    mean = df.groupby(["model", "n"], as_index=False)["error"].mean()
    for frame in (df, mean):
        frame["model"] = pd.Categorical(frame["model"], levels)
    p = (ggplot(mean, aes("n", "error", color="model"))
         + geom_point(data=df, size=0.8, alpha=0.5)
         + geom_line(size=1))
    caption = None
    if fits is not None:
        grid = np.geomspace(df["n"].min(), df["n"].max(), 100)
        curves = fitted_curves(fits, metric, grid)
        curves = curves[curves["model"].isin(levels) & (curves["error"] > 0)]
        if len(curves):
            curves["model"] = pd.Categorical(curves["model"], levels)
            p += geom_line(data=curves, mapping=aes("n", "error", color="model"), linetype="dashed", size=0.6)
            caption = "Solid: replicate means; dashed: the selected learning-curve fit"
    name = _METRIC_NAME[metric]
    return (p + scale_x_log10(labels=label_comma()) + scale_y_log10()
            + scale_color_manual(values=colors, name="Model Type") + theme_few()
            + labs(title="Learning Curves", subtitle=f"{_DATASET_SUBTITLE.get(dataset, dataset)}, log-log axes",
                   x="Training rows", y=f"Test error (1 - {name})", caption=caption))


def _ordered(values, preferred: list[str]) -> list[str]:
    """Category order: ``preferred`` first (those present), then the rest sorted."""
    present = set(map(str, values))
    return [v for v in preferred if v in present] + sorted(present - set(preferred))


def _interval_figure(df: pd.DataFrame, x: str, y: str, lo: str, hi: str, labels: dict,
                     facet: str | None = None, log_y: bool = False) -> ggplot:
    """Points with interval bars, one colour per model, optionally faceted."""
    levels = _model_levels(df["model"])
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


def data_needed_figure(table: pd.DataFrame, metric: str | None = None) -> ggplot:
    """Training rows needed to reach each target (``data_needed.csv``), with 95% intervals,
    one colour per model, log scale, one panel per metric (or only ``metric``); unreachable
    targets are left out."""
    df = table if metric is None else table[table["metric"] == metric]
    if "reachable" in df.columns:
        df = df[df["reachable"].astype(str).str.lower().isin(["true", "1"])]
    df = df.dropna(subset=["n_needed"]).copy()
    if df.empty:
        raise ValueError("no reachable targets in the data-needed table")
    df["target"] = df["target"].map(lambda t: f"{float(t):g}")
    df["panel"] = df["metric"].map(lambda m: f"target {_METRIC_NAME.get(m, m)}")
    df["panel"] = pd.Categorical(df["panel"], _ordered(df["panel"], ["target accuracy", "target AUC"]))
    return _interval_figure(df, "target", "n_needed", "ci_low", "ci_high", {
        "title": "Data Needed for a Target", "subtitle": "Training rows to reach a test accuracy or AUC",
        "x": "Target", "y": "Training rows needed (log scale)",
        "caption": "Bars: 95% confidence intervals; unreachable targets are not drawn"},
        facet="~panel", log_y=True)


def breakdown_figure(table: pd.DataFrame) -> ggplot:
    """Breakdown points (``breakdown_points.csv``): the damage fraction at which each model
    breaks down, with 95% intervals, one panel per experiment."""
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
    (as made by the reports' parity helpers)."""
    df = cells[cells["metric"] == metric].copy()
    if df.empty:
        raise ValueError(f"no {metric} cells to compare")
    df["x"] = np.where(df["experiment"] == "size", df["frac_sample"], 1.0 - df["frac_damage"])
    panels = {"size": "size (x: sample fraction)", "random_damage": "random damage (x: 1 - d)",
              "constant_damage": "constant damage (x: 1 - d)"}
    df["panel"] = df["experiment"].map(panels).fillna(df["experiment"])
    df["panel"] = pd.Categorical(df["panel"], _ordered(df["panel"], list(panels.values())))
    df["band_lo"], df["band_hi"] = df["lo"] - df["r"], df["hi"] - df["r"]
    levels = _model_levels(df["model"].astype(str))
    df["model"] = pd.Categorical(df["model"].astype(str), levels)
    colors = few_colors(levels)
    p = ggplot(df, aes("x", "diff", color="model", group="model")) + geom_hline(yintercept=0, color=FEW_GRAY)
    if df["band_lo"].notna().any():
        p += geom_ribbon(aes(ymin="band_lo", ymax="band_hi", fill="model"), alpha=0.15, color="none",
                         show_legend=False)
        p += scale_fill_manual(values=colors, guide=None)
    name = _METRIC_NAME[metric]
    return (p + geom_line(size=0.8) + geom_point(size=0.8)
            + scale_color_manual(values=colors, name="Model Type") + facet_wrap("~panel", scales="free")
            + scale_x_continuous(labels=label_percent()) + theme_few()
            + labs(title="Ours Minus R", subtitle=f"Difference in test {name} per cell",
                   x="Fraction of training rows, or of correct labels",
                   y=f"{name[0].upper() + name[1:]} difference (ours - R)",
                   caption="Bands: our 95% interval for one run minus R's value"))


# --------------------------------------------------------------------------------------------
# All figures and PNG export
# --------------------------------------------------------------------------------------------

def talk_figures(results: pd.DataFrame, dataset: str = "fashion") -> dict[str, ggplot]:
    """Every line figure the results allow, keyed by the R plot names (e.g. "acc-size",
    "auc-rand-bias", "acc-const-bias", "acc-cnn-bias"); missing experiments are skipped."""
    experiments = set(results["experiment"].dropna())
    if "dataset" in results.columns and results["dataset"].notna().any():
        experiments = set(results.loc[results["dataset"] == dataset, "experiment"].dropna())
    figs: dict[str, ggplot] = {}
    for metric in ("acc", "auc"):
        if "size" in experiments:
            figs[f"{metric}-size"] = size_figure(results, metric, dataset)
        if "random_damage" in experiments:
            figs[f"{metric}-rand-bias"] = damage_figure(results, "random", metric, dataset)
        if "constant_damage" in experiments:
            figs[f"{metric}-const-bias"] = damage_figure(results, "constant", metric, dataset)
        if "size_x_damage" in experiments and (results["model"] == "cnn").any():
            figs[f"{metric}-cnn-bias"] = size_x_damage_figure(results, metric, dataset)
    return dict(sorted(figs.items()))


def with_caption(plot: ggplot, line: str) -> ggplot:
    """``plot`` with ``line`` added below its caption."""
    old = plot.labels.caption
    return plot + labs(caption=f"{old}\n{line}" if old else line)


def profile_note(folder: str | os.PathLike | None, results: pd.DataFrame) -> str | None:
    """A caption warning unless the results are a complete full run, e.g. "QUICK PREVIEW
    (profile quick), not the full grid"; None for a complete full run or R's own CSVs."""
    prov = read_provenance(folder) if folder is not None and Path(folder).is_dir() else {}
    profiles = set(results["profile"].dropna()) if "profile" in results.columns else set()
    profile = prov.get("profile") or (profiles.pop() if len(profiles) == 1 else None)
    if profile is None:
        return None  # R's published CSVs, or a table without a profile column
    if profile == "full":
        return None if (not prov or is_complete(folder)) else "INCOMPLETE full run: cells are missing"
    return f"{'QUICK PREVIEW' if profile == 'quick' else profile.upper()} (profile {profile}), not the full grid"


def save_png(plot: ggplot, path: str | os.PathLike, width: float = DEFAULT_SIZE[0],
             height: float = DEFAULT_SIZE[1], dpi: int = DEFAULT_DPI) -> Path:
    """Write ``plot`` to ``path`` as a PNG of ``width`` x ``height`` inches at ``dpi``
    (pixels: round(width * dpi) x round(height * dpi)). Creates the folder; returns the path."""
    if width <= 0 or height <= 0 or dpi <= 0:
        raise ValueError(f"width, height and dpi must be positive, got {width}, {height}, {dpi}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # single-point groups of a partial grid are drawn as points (see _line_figure)
        warnings.filterwarnings("ignore", message=".*only one observation.*")
        plot.save(path, format="png", width=width, height=height, units="in", dpi=dpi, verbose=False)
    return path


def scaling_figures(results: pd.DataFrame, tables_dir: str | os.PathLike | None = None,
                    dataset: str = "fashion") -> dict[str, ggplot]:
    """Learning curves (with the selected fits when ``tables_dir`` holds them), and the
    data-needed and breakdown charts when their tables exist in ``tables_dir``."""
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


def export_figures(results: pd.DataFrame | None, out_dir: str | os.PathLike, *, dpi: int = DEFAULT_DPI,
                   width: float = DEFAULT_SIZE[0], height: float = DEFAULT_SIZE[1],
                   illustrations: bool = True, tables_dir: str | os.PathLike | None = None,
                   note: str | None = None) -> list[Path]:
    """Write every figure the results allow as ``<out_dir>/<name>.png``: the talk's figures
    (per dataset present; digit-MNIST files get an ``mnist-`` prefix), the learning curves and,
    from ``tables_dir``, the statistics charts, plus (if ``illustrations``) the two
    damaged-label charts. ``note`` (e.g. "QUICK PREVIEW") is added to the caption of every
    figure drawn from the results. Returns the written paths."""
    out_dir = Path(out_dir)
    figs: dict[str, ggplot] = {}
    if results is not None and len(results):
        datasets = ["fashion"]
        if "dataset" in results.columns and results["dataset"].notna().any():
            datasets = sorted(results["dataset"].dropna().unique())
        for dataset in datasets:
            prefix = "" if dataset == "fashion" else f"{dataset}-"
            figs.update({prefix + k: v for k, v in talk_figures(results, dataset).items()})
            figs.update({prefix + k: v for k, v in scaling_figures(results, tables_dir, dataset).items()})
    if note:
        figs = {k: with_caption(v, note) for k, v in figs.items()}
    if illustrations:
        figs.update(illustration_figures())
    return [save_png(p, out_dir / f"{name}.png", width, height, dpi) for name, p in figs.items()]


# --------------------------------------------------------------------------------------------
# Where results live
# --------------------------------------------------------------------------------------------

def project_root() -> Path:
    """The repository root (the folder holding pyproject.toml), else the working directory."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def read_provenance(folder: str | os.PathLike) -> dict:
    """``provenance.json`` of a results folder as a dict ({} if there is none, or if it is
    damaged: :func:`datavsmath.provenance.read_provenance` reports that instead of failing)."""
    from .provenance import read_provenance as read

    return read(folder)


def is_complete(folder: str | os.PathLike) -> bool:
    """True if the folder's provenance says a ``full`` run finished (an explicit
    ``"complete"`` key wins when present)."""
    prov = read_provenance(folder)
    if not prov:
        return False
    if "complete" in prov:
        return bool(prov["complete"])
    return prov.get("profile") == "full" and bool(prov.get("finished_at"))


def default_results_dir(root: str | os.PathLike | None = None) -> Path:
    """The results folder reports and ``datavsmath figures`` read by default.

    ``$DATAVSMATH_RESULTS`` if set (relative to ``root``, the project root by default); else
    ``results/full`` if :func:`is_complete`; else ``results/quick``. The folder may not exist.
    """
    root = Path(root) if root is not None else project_root()
    env = os.environ.get("DATAVSMATH_RESULTS")
    if env:
        path = Path(env).expanduser()
        return path if path.is_absolute() else root / path
    full = root / "results" / "full"
    return full if is_complete(full) else root / "results" / "quick"


def load_results(source: str | os.PathLike) -> pd.DataFrame:
    """Tidy results from a results folder, a results.csv, an R-shaped CSV, or a folder of
    R-shaped CSVs named as R named them (e.g. ``data/r-results/``)."""
    from .store import R_FILES, read_r_csv, read_results

    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if source.is_dir() and not (source / "cells").is_dir() and not (source / "results.csv").is_file():
        parts = [read_r_csv(source / name, experiment, dataset)
                 for (dataset, experiment), name in sorted(R_FILES.items()) if (source / name).is_file()]
        if not parts:
            raise FileNotFoundError(f"{source} holds no cells/, results.csv or R result CSVs")
        return pd.concat(parts, ignore_index=True)
    return read_results(source)


