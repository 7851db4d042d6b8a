"""The look every figure shares: ggthemes' ``theme_few`` and "Dark" palette, each model's
colour, replicate bands and captions, and writing PNGs.

The R plots used ggplot2 with ggthemes' ``theme_few`` and ``scale_color_few("Dark")``; this module
reproduces that look for plotnine so that :mod:`datavsmath.report.figures` (the talk's
figures) and :mod:`datavsmath.report.stats_figures` (ours) look alike.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd
from plotnine import (
    element_blank,
    element_line,
    element_rect,
    element_text,
    ggplot,
    labs,
    theme,
    theme_bw,
)

from .site import is_complete, read_provenance

# ggthemes' few palettes (Stephen Few, "Practical Rules for Using Color in Charts").
# The first entry of each palette (its gray/black) is reserved for non-data ink, so
# scale_color_few("Dark") draws from the remaining eight, in this order.
FEW_DARK = ["#265DAB", "#DF5C24", "#059748", "#E5126F", "#9D722A", "#7B3A96", "#C7B42E", "#CB2027"]



FEW_GRAY = "#4D4D4D"  # the "Medium" palette's gray: theme_few's lines, ticks and panel border



FEW_BLACK = "#000000"  # the "Dark" palette's first entry: theme_few's text



#: The four models in ggplot2's (alphabetical) legend order, with their R colours.
MODEL_COLORS = dict(zip(["cnn", "dnn", "rf", "xgb"], FEW_DARK))



#: Default PNG size in inches (16:9) and resolution: 1600 x 900 pixels at 300 dpi.
DEFAULT_SIZE = (16 / 3, 3.0)



DEFAULT_DPI = 300



DATASET_SUBTITLE = {"fashion": "Fashion MNIST Dataset", "mnist": "MNIST Dataset"}


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
    next unused entries in the given order (as ``scale_color_few`` would).

    Parameters
    ----------
    levels : iterable of str
        The levels (models, rules, ...).
    palette : list of str, default FEW_DARK
        Colours for levels without an R colour.

    Returns
    -------
    dict of str to str
    """
    levels = [str(v) for v in levels]
    if set(levels) <= set(MODEL_COLORS):
        return {m: MODEL_COLORS[m] for m in levels}
    if len(levels) > len(palette):
        raise ValueError(f"the few palette has {len(palette)} colours; {len(levels)} levels asked")
    return dict(zip(levels, palette))



def experiment_rows(results: pd.DataFrame, experiment: str, dataset: str) -> pd.DataFrame:
    """The rows of one experiment and dataset.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results.
    experiment : str
        The experiment.
    dataset : str
        The dataset (rows without one are kept).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        If there are no such rows (the message lists the experiments present).
    """
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

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy rows.
    by : list of str
        Grouping columns.
    metric : {"acc", "auc"}
        The metric.
    """
    if metric not in df.columns:
        raise ValueError(f"unknown metric {metric!r}; expected 'acc' or 'auc'")
    g = df.dropna(subset=[metric]).groupby(by, observed=True, sort=True)[metric]
    out = g.agg(mean="mean", lo="min", hi="max", n="count").reset_index()
    return out



def model_levels(models) -> list[str]:
    """ggplot2's order for a character column: sorted.

    Parameters
    ----------
    models : iterable of str
        Model names.

    Returns
    -------
    list of str
    """
    return sorted({str(m) for m in models})



def replicate_caption(summary: pd.DataFrame) -> str | None:
    """The caption line saying what lines and bands show, when there are replicates.

    Parameters
    ----------
    summary : pandas.DataFrame
        What :func:`replicate_summary` returned.

    Returns
    -------
    str or None
        None for single runs.
    """
    n = int(summary["n"].max()) if len(summary) else 1
    if n <= 1:
        return None
    lo = int(summary["n"].min())
    runs = f"{n}" if lo == n else f"{lo}-{n}"
    return f"Lines: mean of {runs} runs per point; bands: their range"



METRIC_NAME = {"acc": "accuracy", "auc": "AUC"}



def with_caption(plot: ggplot, line: str) -> ggplot:
    """``plot`` with ``line`` added below its caption.

    Parameters
    ----------
    plot : plotnine.ggplot
        The figure.
    line : str
        The line.

    Returns
    -------
    plotnine.ggplot
    """
    old = plot.labels.caption
    return plot + labs(caption=f"{old}\n{line}" if old else line)



def profile_note(folder: str | os.PathLike | None, results: pd.DataFrame) -> str | None:
    """A caption warning unless the results are a complete full run, e.g. "QUICK PREVIEW
    (profile quick), not the full grid"; None for a complete full run or R's own CSVs.

    Parameters
    ----------
    folder : str or os.PathLike or None
        The results folder (None: judge by ``results`` alone).
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).

    Returns
    -------
    str or None
    """
    prov = read_provenance(folder) if folder is not None and Path(folder).is_dir() else {}
    profiles = set(results["profile"].dropna()) if "profile" in results.columns else set()
    profile = prov.get("profile") or (profiles.pop() if len(profiles) == 1 else None)
    if profile is None:
        return None  # R's published CSVs, or a table without a profile column
    if profile == "full":
        return None if (not prov or folder is None or is_complete(folder)) else "INCOMPLETE full run: cells are missing"
    return f"{'QUICK PREVIEW' if profile == 'quick' else profile.upper()} (profile {profile}), not the full grid"



def save_png(plot: ggplot, path: str | os.PathLike, width: float = DEFAULT_SIZE[0],
             height: float = DEFAULT_SIZE[1], dpi: int = DEFAULT_DPI) -> Path:
    """Write ``plot`` to ``path`` as a PNG of ``width`` x ``height`` inches at ``dpi``
    (pixels: round(width * dpi) x round(height * dpi)). Creates the folder; returns the path.

    Parameters
    ----------
    plot : plotnine.ggplot
        The figure.
    path : str or os.PathLike
        The file.
    width : float, default DEFAULT_SIZE[0]
        Width in inches.
    height : float, default DEFAULT_SIZE[1]
        Height in inches.
    dpi : int, default DEFAULT_DPI
        Resolution.

    Returns
    -------
    pathlib.Path
    """
    if width <= 0 or height <= 0 or dpi <= 0:
        raise ValueError(f"width, height and dpi must be positive, got {width}, {height}, {dpi}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # single-point groups of a partial grid are drawn as points (see _line_figure)
        warnings.filterwarnings("ignore", message=".*only one observation.*")
        plot.save(path, format="png", width=width, height=height, units="in", dpi=dpi, verbose=False)
    return path

