"""The talk's figures, drawn with plotnine from tidy results.

Every figure follows the R testbench's ggplot: the same titles, subtitles, axis titles, legend
titles and layout (one line per model, or one line per damage fraction for the CNN cross
product), ggthemes' ``theme_few`` look and the "Dark" palette of ``scale_color_few``. Where we
have several replicates of a cell (R had one run), the line is their mean and a light band
spans their range; the caption says so.

Colours follow ggplot2's rule for a character column: levels in alphabetical order take the
palette in turn, so ``cnn`` is blue, ``dnn`` orange, ``rf`` green and ``xgb`` pink, exactly as
in the R plots. Each model keeps its colour on every figure, even when another is absent.

Functions take the tidy results of :func:`datavsmath.training.store.read_results` (see that module for
the columns) and return ``plotnine.ggplot`` objects; :func:`save_png` and
:func:`export_figures` write them as PNG files (16:9 at 300 dpi by default).

Which results folder a page or ``datavsmath figures`` reads: :mod:`datavsmath.report.site`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from mizani.labels import label_percent
from plotnine import (
    aes,
    geom_col,
    geom_label,
    geom_line,
    geom_point,
    geom_ribbon,
    ggplot,
    labs,
    scale_color_manual,
    scale_fill_manual,
    scale_x_continuous,
)

from .findings import rows_at, training_rows
from .stats_figures import (
    breakdown_figure,
    data_needed_figure,
    fitted_curves,
    learning_curve_figure,
    parity_figure,
    scaling_figures,
)
from .theme import (
    DATASET_SUBTITLE,
    DEFAULT_DPI,
    DEFAULT_SIZE,
    FEW_DARK,
    FEW_GRAY,
    MODEL_COLORS,
    experiment_rows,
    few_colors,
    model_levels,
    profile_note,
    replicate_caption,
    replicate_summary,
    save_png,
    theme_few,
    with_caption,
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
    "sample_images_figure",
    "sample_images",
    "training_labels",
    "save_png",
    "with_caption",
    "profile_note",
    "export_figures",
]


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


# --------------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------------


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
    caption = "\n".join(c for c in (note, replicate_caption(summary)) if c)
    if caption:
        labels = {**labels, "caption": caption}
    return p + theme_few() + labs(**labels)


# --------------------------------------------------------------------------------------------
# The talk's figures
# --------------------------------------------------------------------------------------------

def size_figure(results: pd.DataFrame, metric: str = "acc", dataset: str = "fashion") -> ggplot:
    """Size run: ``metric`` ("acc" or "auc") against the sample fraction, one line per model.

    ``results``: tidy results holding ``experiment == "size"`` rows. Fractions are shares of
    the dataset's training rows (60,000 for Fashion-MNIST); the metric is on all its test rows.
    R titled this figure "... Training Batch Size"; it plots the training-set size.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    plotnine.ggplot
    """
    df = experiment_rows(results, "size", dataset)
    s = replicate_summary(df, ["model", "frac_sample"], metric)
    s["model"] = pd.Categorical(s["model"], model_levels(s["model"]))
    return _line_figure(s, "frac_sample", "model", "Model Type", {
        "title": "Model Architectures and Training Set Size",
        "subtitle": DATASET_SUBTITLE.get(dataset, dataset),
        "x": f"Fraction of Training Data\n({training_rows(df):,} * x = # of samples)",
        "y": _METRIC_Y["size"][metric],
    }, percent_x=False)


def damage_figure(results: pd.DataFrame, damage: str = "random", metric: str = "acc",
                  dataset: str = "fashion") -> ggplot:
    """Damage run (``damage`` "random" or "constant"): ``metric`` against the correctly
    labelled fraction 1 - d of the training labels, one line per model.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    damage : str, default "random"
        "random" or "constant".
    metric : {"acc", "auc"}, default "acc"
        The metric.
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    plotnine.ggplot
    """
    if damage not in _DAMAGE_TITLE:
        raise ValueError(f"damage must be 'random' or 'constant', got {damage!r}")
    df = experiment_rows(results, f"{damage}_damage", dataset)
    s = replicate_summary(df, ["model", "frac_damage"], metric)
    s["unbiased"] = 1.0 - s["frac_damage"]
    s["model"] = pd.Categorical(s["model"], model_levels(s["model"]))
    return _line_figure(s, "unbiased", "model", "Model Type", {
        "title": _DAMAGE_TITLE[damage],
        "subtitle": DATASET_SUBTITLE.get(dataset, dataset),
        "x": f"Correctly labeled training data\n(percent of {_rows_trained(df)} obs)",
        "y": _METRIC_Y["damage"][metric],
    }, percent_x=True, note=_subsample_note(df))


def _rows_trained(df: pd.DataFrame) -> str:
    """The training rows of a damage run, for the axis title: '60,000' as in R when the run
    used every row, else the rows it did use (e.g. '3,000' for the quick profile's 5% draw)."""
    if "n_train" in df and df["n_train"].notna().any():
        rows = sorted({int(v) for v in df["n_train"].dropna()})
    else:
        rows = sorted({rows_at(df, f) for f in df["frac_sample"].dropna()})
    return " or ".join(f"{r:,}" for r in rows) if rows else f"{training_rows(df):,}"


def _subsample_note(df: pd.DataFrame) -> str | None:
    """Caption line when a damage run trained on a draw instead of all the training rows."""
    fracs = sorted(df["frac_sample"].dropna().unique())
    if not fracs or fracs == [1.0]:
        return None
    shown = ", ".join(f"{f:.0%}" for f in fracs)
    rows = ", ".join(f"{rows_at(df, f):,}" for f in fracs)
    return f"Trained on a {shown} draw ({rows} rows), not all {training_rows(df):,}"


def size_x_damage_figure(results: pd.DataFrame, metric: str = "acc", dataset: str = "fashion") -> ggplot:
    """Size x damage (CNN only): ``metric`` against the sample fraction, one line per
    constant-damage fraction (legend "Bias Fraction", as in R).

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    plotnine.ggplot
    """
    df = experiment_rows(results, "size_x_damage", dataset)
    df = df[df["model"] == "cnn"]
    if df.empty:
        raise ValueError("the size x damage results hold no CNN rows")
    s = replicate_summary(df, ["frac_damage", "frac_sample"], metric)
    # R turned frac_damage into a factor, so the legend reads 0, 0.1, ..., 0.5
    s["frac_damage"] = pd.Categorical(s["frac_damage"].map(_fmt_frac),
                                      [_fmt_frac(v) for v in sorted(s["frac_damage"].unique())])
    return _line_figure(s, "frac_sample", "frac_damage", "Bias Fraction", {
        "title": "CNN Architecture and Bias",
        "subtitle": DATASET_SUBTITLE.get(dataset, dataset),
        "x": f"Number of Samples\n(percent of {training_rows(df):,} obs)",
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

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n,)
        Training labels, 0..9.
    damage : str, default "random"
        "random" or "constant".
    frac : float, default 0.3
        Damage fraction.
    true_label : int, default 5
        The class shown.
    shift : int, default 3
        Constant damage's shift (y -> y + shift mod 10).
    seed : int, default 2019
        Seed of the damage.

    Returns
    -------
    pandas.DataFrame
    """
    from ..damage import constant_damage, random_damage

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

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n,)
        Training labels, 0..9.
    damage : str, default "random"
        "random" or "constant".
    frac : float, default 0.3
        Damage fraction.
    true_label : int, default 5
        The class shown.
    shift : int, default 3
        Constant damage's shift (y -> y + shift mod 10).
    seed : int, default 2019
        Seed of the damage.

    Returns
    -------
    plotnine.ggplot
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
    the same class sizes, hence the same counts for one class under stratified damage.

    Parameters
    ----------
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    tuple of (numpy.ndarray, str)
        The labels and where they come from.
    """
    from ..data import load_dataset
    from ..errors import UserError

    try:
        return load_dataset(dataset).y_train, "training labels"
    except (UserError, OSError):
        return np.repeat(np.arange(10, dtype=np.uint8), 6000), "balanced stand-in labels"


def illustration_figures(y=None, frac: float = 0.3, true_label: int = 5) -> dict[str, ggplot]:
    """Both illustrations, keyed by the R file names ("random-bias", "constant-bias").

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n,), optional
        Training labels (default :func:`training_labels`).
    frac : float, default 0.3
        Damage fraction.
    true_label : int, default 5
        The class shown.

    Returns
    -------
    dict of str to plotnine.ggplot
    """
    if y is None:
        y, _ = training_labels()
    return {
        "random-bias": damaged_labels_figure(y, "random", frac, true_label),
        "constant-bias": damaged_labels_figure(y, "constant", frac, true_label, shift=3),
    }


# --------------------------------------------------------------------------------------------
# Scaling-law and parity figures (ours, not the talk's)
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# All figures and PNG export
# --------------------------------------------------------------------------------------------

def talk_figures(results: pd.DataFrame, dataset: str = "fashion") -> dict[str, ggplot]:
    """Every line figure the results allow, keyed by the R plot names (e.g. "acc-size",
    "auc-rand-bias", "acc-const-bias", "acc-cnn-bias"); missing experiments are skipped.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    dict of str to plotnine.ggplot
    """
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


def export_figures(results: pd.DataFrame | None, out_dir: str | os.PathLike, *, dpi: int = DEFAULT_DPI,
                   width: float = DEFAULT_SIZE[0], height: float = DEFAULT_SIZE[1],
                   illustrations: bool = True, tables_dir: str | os.PathLike | None = None,
                   note: str | None = None, progress=None) -> list[Path]:
    """Write every figure the results allow as ``<out_dir>/<name>.png``: the talk's figures
    (per dataset present; digit-MNIST files get an ``mnist-`` prefix), the learning curves and,
    from ``tables_dir``, the statistics charts, plus (if ``illustrations``) the two
    damaged-label charts. ``note`` (e.g. "QUICK PREVIEW") is added to the caption of every
    figure drawn from the results. Returns the written paths.

    Parameters
    ----------
    results : pandas.DataFrame or None
        Tidy results (None: the illustrations only).
    out_dir : str or os.PathLike
        The folder written to.
    dpi : int, default DEFAULT_DPI
        Resolution.
    width : float, default DEFAULT_SIZE[0]
        Width in inches.
    height : float, default DEFAULT_SIZE[1]
        Height in inches.
    illustrations : bool, default True
        Also draw the damaged-label bar charts.
    tables_dir : str or os.PathLike, optional
        A folder of statistics tables.
    note : str, optional
        A caption line added to every figure.
    progress : callable, optional
        ``progress(i, n, name)``, called before the i-th of n figures is drawn (drawing
        takes about a second each).

    Returns
    -------
    list of pathlib.Path
    """
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
        for dataset in datasets:
            samples = sample_images(dataset)
            if samples is not None:
                figs[("" if dataset == "fashion" else f"{dataset}-") + "sample-images"] = samples
    written = []
    for i, (name, p) in enumerate(figs.items(), 1):
        if progress is not None:
            progress(i, len(figs), name)
        written.append(save_png(p, out_dir / f"{name}.png", width, height, dpi))
    return written


def sample_images_figure(x: np.ndarray, y: np.ndarray, class_names: list[str], per_class: int = 1,
                         title: str = "Fashion-MNIST: the ten classes") -> ggplot:
    """The talk's sample grid: the first ``per_class`` training images of each class, one panel
    per image, titled 'label: class name', in rows of five. ``x``: (n, 28, 28) grey levels
    0..255, ``y``: (n,) integer labels; a class without images has no panel.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, 28, 28)
        Grey levels 0..255.
    y : numpy.ndarray of int, shape (n,)
        Labels.
    class_names : list of str
        Name per class.
    per_class : int, default 1
        Images per class.
    title : str, default "Fashion-MNIST: the ten classes"
        The title.

    Returns
    -------
    plotnine.ggplot
    """
    from plotnine import coord_fixed, element_blank, facet_wrap, geom_raster, scale_fill_gradient, theme

    parts = []
    for k, name in enumerate(class_names):
        for j, i in enumerate(np.flatnonzero(y == k)[:per_class]):
            img = np.asarray(x[i], dtype=float)
            rr, cc = np.indices(img.shape)
            label = f"{k}: {name}" + (f" ({j + 1})" if per_class > 1 else "")
            parts.append(pd.DataFrame({"panel": label, "col": cc.ravel(), "row": -rr.ravel(),
                                       "grey": img.ravel()}))
    df = pd.concat(parts, ignore_index=True)
    df["panel"] = pd.Categorical(df["panel"], list(dict.fromkeys(df["panel"])))
    return (ggplot(df, aes("col", "row", fill="grey")) + geom_raster()
            + facet_wrap("panel", ncol=5) + coord_fixed()
            + scale_fill_gradient(low="white", high="black", guide=None)
            + theme_few()
            + theme(axis_text=element_blank(), axis_ticks=element_blank(), axis_title=element_blank(),
                    axis_line=element_blank(), panel_border=element_blank(), panel_background=element_blank())
            + labs(title=title))


def sample_images(dataset: str = "fashion") -> ggplot | None:
    """:func:`sample_images_figure` of the dataset's training images (titled after the
    dataset), or None when the dataset's files cannot be found.

    Parameters
    ----------
    dataset : str, default "fashion"
        The dataset's name.

    Returns
    -------
    plotnine.ggplot or None
    """
    from ..data import load_dataset
    from ..errors import UserError

    try:
        ds = load_dataset(dataset)
    except (UserError, OSError):
        return None
    title = "Fashion-MNIST: the ten classes" if dataset == "fashion" else "MNIST: the ten digits"
    return sample_images_figure(ds.x_train, ds.y_train, ds.class_names, title=title)
