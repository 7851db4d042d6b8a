"""Scaling-law statistics: the talk's conclusions as estimates with uncertainty.

This module runs them all on a results frame (:func:`analyze`, :func:`write_tables`) and is the
one place to import them from; each lives in a module of its own: :mod:`.cells` (input checks,
cell means and weights), :mod:`.learning` (learning curves, backtests), :mod:`.needed` (data
and observations needed), :mod:`.quality` (d(data)/d(quality), the joint law via
:mod:`.joint`) and :mod:`.breakdown`.

Everything here works on the tidy results frame of :mod:`datavsmath.training.store` (one dataset and one
source at a time; :func:`analyze` and :func:`write_tables` split bigger frames), including the
R-shaped CSVs read by :func:`datavsmath.training.store.read_results`.

* :func:`fit_learning_curves` -- error ``e = 1 - metric`` against training rows ``n`` (the
  ``n_train`` column where present, else ``60000 * frac_sample``), four forms (power law, power
  law with floor, exponential, exponential with floor; :mod:`datavsmath.stats.forms`; five more
  from the literature on request: ``forms=learning_forms("all")``), fitted
  by Gaussian maximum likelihood with statsmodels (:mod:`datavsmath.stats.curves`); Akaike
  weights by AICc among admissible fits, forms with an undefined AICc marked not identifiable.
* :func:`backtest` -- each form fitted to the small sizes, predicting the large ones.
* :func:`data_needed` -- the ``n`` at which the curve reaches a target metric: model-averaged
  over forms (or per form), with a 95% interval on the log scale, its extrapolation factor,
  or "not reachable" with the floor's interval.
* :func:`observations_needed` -- the R table method on the size x damage grid.
* :func:`data_quality_derivative` -- the modelled d(data)/d(quality) with intervals, "not
  compensable" where a quality cannot reach the threshold.
* :func:`joint_law` -- err(n, q) = c(q) + a (g(q) n)^-b on the whole size x damage grid.
* :func:`breakdown_points` -- the damage at which a model loses half its skill, with intervals.
* :func:`fit_pruning` -- per row-selection rule of the pruning experiment, the power law's
  exponent and constant against random selection, and where keep-easy and keep-hard cross
  (:mod:`.pruning`).

Weights: cells (one training-set size, or damage level) with several replicates are averaged
and weighted by replicate count over a smoothed per-cell variance (a log-linear variance
function fitted to the replicate variances, see :func:`cell_table`). A single run per cell is
weighted by the inverse binomial variance of its metric on the test set, p(1 - p) / n_test
(accuracy on 10,000 test images; used as an approximation for AUC too). Either way the weights
are relative: the common noise scale is estimated from the residuals, so training noise larger
than the test set's binomial noise widens the intervals rather than being ignored.

Model uncertainty: every form is fitted; forms whose AICc is undefined (too few points for the
form) are marked not identifiable, never silently ranked; n* and its derivatives are averaged
over forms with Akaike weights and get Burnham and Anderson's unconditional variance on the log
scale, which adds the between-form spread (:meth:`CurveSet.average_solve`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .backtest import BacktestResults, backtest
from .breakdown import BreakdownResults, breakdown_points
from .cells import (
    CHANCE,
    CROSS_THRESHOLDS,
    DEFAULT_TARGETS,
    FORM_NAMES,
    HORIZON,
    N_TEST,
    N_TOTAL,
    cell_table,
    metric_list,
)
from .curves import ScalingWarning
from .forms import EXTENDED_FORMS, learning_forms
from .learning import CurveSet, LearningCurveResults, fit_learning_curves
from .needed import DataNeededResults, ObservationsNeeded, data_needed, observations_needed, targets_dict
from .pruning import PruningCrossover, PruningResults, fit_pruning
from .quality import DataQualityDerivative, data_quality_derivative, joint_law

__all__ = [
    "FORM_NAMES", "EXTENDED_FORMS", "learning_forms", "N_TOTAL", "N_TEST", "HORIZON", "CHANCE",
    "DEFAULT_TARGETS", "ScalingWarning",
    "cell_table", "fit_learning_curves", "data_needed", "observations_needed",
    "data_quality_derivative", "joint_law", "backtest", "breakdown_points", "analyze",
    "write_tables", "BacktestResults",
    "CurveSet", "LearningCurveResults", "DataNeededResults", "ObservationsNeeded",
    "DataQualityDerivative", "BreakdownResults", "ScalingReport", "TABLE_FILES",
    "CROSS_THRESHOLDS", "fit_pruning", "PruningResults", "PruningCrossover",
]


#: the tables write_tables writes, by key
TABLE_FILES = {
    "learning_curve_fits": "learning_curve_fits.csv",
    "backtest": "backtest.csv",
    "data_needed": "data_needed.csv",
    "observations_needed_acc90": "observations_needed_acc90.csv",
    "observations_needed_auc98": "observations_needed_auc98.csv",
    "data_quality_derivative": "data_quality_derivative.csv",
    "joint_law": "joint_size_quality_law.csv",
    "breakdown_points": "breakdown_points.csv",
    "pruning_fits": "pruning_fits.csv",
    "pruning_crossover": "pruning_crossover.csv",
}


class ScalingReport:
    """Every analysis that applies to a results frame. ``results`` is a list of
    (source, dataset, table name, results object); ``tables()`` the tidy frames by table name;
    ``summary()`` all summaries; ``write(out_dir)`` the CSVs under ``out_dir/tables/``.

    Parameters
    ----------
    results : list of tuple
        (source, dataset, table name, results object) per analysis, as :func:`analyze` builds it.
    """

    def __init__(self, results: list):
        self.results = results

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tidy tables of every analysis, concatenated by table name.

        Returns
        -------
        dict of str to pandas.DataFrame
            Table name -> its rows over all sources and datasets (columns source, dataset first).
        """
        parts: dict[str, list] = {}
        for source, dataset, name, res in self.results:
            tab = res.table()
            if isinstance(res, DataQualityDerivative):
                tab.insert(0, "experiment", "size_x_damage")
            elif isinstance(res, ObservationsNeeded):  # R columns, keyed by model
                tab.insert(0, "model", res.model)
                tab.insert(0, "experiment", "size_x_damage")
            parts.setdefault(name, []).append(_prefix(tab, source, dataset))
        return {k: pd.concat(v, ignore_index=True) for k, v in parts.items() if v}

    def write(self, out_dir: str | os.PathLike) -> list[Path]:
        """Write each table to ``out_dir/tables/<name>.csv``; returns the paths written.

        Parameters
        ----------
        out_dir : str or os.PathLike
            The results folder; ``tables/`` is created in it.

        Returns
        -------
        list of pathlib.Path
        """
        tdir = Path(out_dir) / "tables"
        tdir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in self.tables().items():
            path = tdir / TABLE_FILES[name]
            frame.to_csv(path, index=False)
            written.append(path)
        return written

    def summary(self) -> str:
        """Every analysis's summary, one block per (source, dataset, table).

        Returns
        -------
        str
        """
        blocks = []
        for source, dataset, name, res in self.results:
            blocks.append(f"##### {source} / {dataset}: {name}\n{res.summary()}")
        return "\n\n".join(blocks)


def _prefix(tab: pd.DataFrame, source, dataset) -> pd.DataFrame:
    tab = tab.copy()
    tab.insert(0, "dataset", dataset)
    tab.insert(0, "source", source)
    return tab


def analyze(df: pd.DataFrame, targets=None, metrics: Sequence[str] = ("acc", "auc"),
            forms: Sequence[str] = FORM_NAMES, criterion: str = "aicc", ci_method: str = "delta",
            breakdown: str = "half_skill", n_boot: int = 200, seed: int = 0,
            quiet: bool = True) -> ScalingReport:
    """Run every analysis that applies, per (source, dataset):

    * "size": learning-curve fits, their backtest (:func:`backtest`) and data needed for
      ``targets`` (default :data:`DEFAULT_TARGETS`) for each metric;
    * "size_x_damage": the R tables (acc > 0.90, auc > 0.98), the modelled derivative and
      the joint law err = c(q) + a (g(q) n)^-b per model and metric;
    * "random_damage", "constant_damage": breakdown points of accuracy (of AUC only when
      accuracy is not among ``metrics``; :func:`breakdown_points` does either).
    * an experiment with row-selection rules (a ``selection`` column other than "random",
      e.g. "pruning"): :func:`fit_pruning` (power law per selection against random) and
      its crossover of keep_easy and keep_hard.

    ``source`` comes from a "source" column when present (e.g. one per input file), else
    "results". Degenerate cases are reported in the summaries (``quiet``) rather than warned.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`), possibly of several
        experiments, datasets and sources.
    targets : None, float, sequence or dict, optional
        Target metrics of the data-needed table (:func:`targets_dict`).
    metrics : sequence of str, default ("acc", "auc")
        The metrics analysed.
    forms : sequence of str, default every learning-curve form
        The candidate forms.
    criterion : {"aicc", "aic", "bic"}, default "aicc"
        The information criterion of the model choice.
    ci_method : {"delta", "bootstrap"}, default "delta"
        Intervals of n* (:func:`data_needed`).
    breakdown : {"half_skill", "half_clean"}, default "half_skill"
        The breakdown level (:func:`breakdown_points`).
    n_boot : int, default 200
        Bootstrap refits, with ``ci_method="bootstrap"``.
    seed : int, default 0
        The bootstrap's seed.
    quiet : bool, default True
        Collect notes in the summaries without warning.

    Returns
    -------
    ScalingReport

    Raises
    ------
    ValueError
        If no analysis applies to the experiments in ``df``.
    """
    metrics = metric_list(metrics)
    df = df.copy()
    if "source" not in df.columns:
        df["source"] = "results"
    if "dataset" not in df.columns:
        df["dataset"] = "unknown"
    if "experiment" not in df.columns:
        raise ValueError("results lack an 'experiment' column; read them with "
                         "datavsmath.training.store.read_results")
    # (source, dataset, table name, one of the stats modules' result objects)
    results: list[tuple[Any, Any, str, Any]] = []
    for (source, dataset), part in df.groupby(["source", "dataset"], sort=False, dropna=False):
        present = set(part["experiment"].dropna())
        n_total = dataset_rows(part, dataset)
        if "size" in present:
            lc = fit_learning_curves(part, "size", metrics, forms, criterion, quiet=quiet, n_total=n_total)
            results.append((source, dataset, "learning_curve_fits", lc))
            results.append((source, dataset, "backtest", backtest(lc)))
            tg = {m: v for m, v in targets_dict(targets, metrics).items() if m in metrics}
            # the bootstrap is per form: with it, the selected form (conditional on it)
            results.append((source, dataset, "data_needed",
                            data_needed(lc, tg, form="average" if ci_method == "delta"
                                        else "selected", method=ci_method, n_boot=n_boot,
                                        seed=seed, n_total=n_total)))
        if "size_x_damage" in present:
            cross = part[part["experiment"] == "size_x_damage"]
            for m in metrics:
                thr = CROSS_THRESHOLDS[m]
                for model in dict.fromkeys(cross["model"]):
                    on = observations_needed(cross, m, thr, model=model, n_total=n_total)
                    results.append((source, dataset, f"observations_needed_{m}{round(thr * 100)}",
                                    on))
                results.append((source, dataset, "data_quality_derivative",
                                data_quality_derivative(cross, m, thr, forms=forms, criterion=criterion,
                                                        quiet=quiet, n_total=n_total)))
                for model in dict.fromkeys(cross["model"]):
                    if cross.loc[cross["model"] == model, "frac_damage"].nunique() >= 2:
                        results.append((source, dataset, "joint_law",
                                        joint_law(cross, m, model=model, n_total=n_total)))
        if "selection" in part.columns:
            pruned = part[part["selection"].fillna("random") != "random"]
            for exp in dict.fromkeys(pruned["experiment"].dropna()):
                pr = fit_pruning(part, exp, metrics, quiet=quiet)
                results.append((source, dataset, "pruning_fits", pr))
                results.append((source, dataset, "pruning_crossover", pr.crossover()))
        for exp in ("random_damage", "constant_damage"):
            if exp in present:
                for m in (("acc",) if "acc" in metrics else metrics):
                    results.append((source, dataset, "breakdown_points",
                                    breakdown_points(part, exp, m, breakdown, quiet=quiet)))
    if not results:
        raise ValueError("nothing to analyse: the results hold none of the experiments size, "
                         "size_x_damage, random_damage, constant_damage, pruning")
    return ScalingReport(results)


def dataset_rows(df: pd.DataFrame, dataset) -> int:
    """Training rows of ``dataset`` (what sample fractions are fractions of): known for the
    named datasets (60,000 for Fashion-MNIST and MNIST, 1,437 for digits); for a file, the
    smallest count consistent with every cell's ``n_train = floor(rows x frac_sample)``
    (exact when a cell used all rows), else 60,000.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results of one dataset.
    dataset : str
        Its name (or a file's).

    Returns
    -------
    int
    """
    from ..data import train_rows

    known = train_rows(str(dataset))
    if known is not None:
        return known
    if "n_train" not in df.columns:
        return N_TOTAL
    cells = df[["n_train", "frac_sample"]].apply(pd.to_numeric, errors="coerce").dropna()
    cells = cells[cells["frac_sample"] > 0]
    if cells.empty:
        return N_TOTAL
    return int(np.ceil((cells["n_train"] / cells["frac_sample"]).max() - 1e-6))


def write_tables(df: pd.DataFrame, out_dir: str | os.PathLike, **kwargs) -> list[Path]:
    """Compute whatever applies to the experiments in ``df`` (see :func:`analyze`, which takes
    the keyword arguments) and write the tidy CSVs to ``out_dir/tables/``; returns the paths.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results.
    out_dir : str or os.PathLike
        The results folder.
    **kwargs
        Passed to :func:`analyze`.

    Returns
    -------
    list of pathlib.Path
    """
    return analyze(df, **kwargs).write(out_dir)
