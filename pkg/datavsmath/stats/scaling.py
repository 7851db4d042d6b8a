"""Scaling-law statistics: the talk's conclusions as estimates with uncertainty.

Everything here works on the tidy results frame of :mod:`datavsmath.training.store` (one dataset and one
source at a time; :func:`analyze` and :func:`write_tables` split bigger frames), including the
R-shaped CSVs read by :func:`datavsmath.training.store.read_results`.

* :func:`fit_learning_curves` -- error ``e = 1 - metric`` against training rows ``n`` (the
  ``n_train`` column where present, else ``60000 * frac_sample``), four forms (power law, power
  law with floor, exponential, exponential with floor; :mod:`datavsmath.stats.forms`), fitted
  by Gaussian maximum likelihood with statsmodels (:mod:`datavsmath.stats.curves`); the form
  the data support is picked by AICc among admissible fits.
* :func:`data_needed` -- the ``n`` at which a fitted curve reaches a target metric, with a 95%
  interval (delta method on log n, or a parametric bootstrap), or "not reachable".
* :func:`observations_needed` -- the R table method on the size x damage grid.
* :func:`data_quality_derivative` -- the modelled d(data)/d(quality) with intervals.
* :func:`breakdown_points` -- the damage at which a model loses half its skill, with intervals.

Replicates: cells (one training-set size, or damage level) with several replicates are
averaged and weighted by replicate count over a smoothed per-cell variance (a log-linear
variance function fitted to the replicate variances, see :func:`cell_table`); the common noise
scale is still estimated from the residuals. A single run per cell gets equal weights and the
residual variance.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tools.numdiff import approx_fprime

from .curves import CurveFit, ScalingWarning, Summary, fit_curve
from .forms import LEARNING_FORMS, get_form

__all__ = [
    "FORM_NAMES", "N_TOTAL", "CHANCE", "DEFAULT_TARGETS", "ScalingWarning",
    "cell_table", "fit_learning_curves", "data_needed", "observations_needed",
    "data_quality_derivative", "breakdown_points", "analyze", "write_tables",
    "CurveSet", "LearningCurveResults", "DataNeededResults", "ObservationsNeeded",
    "DataQualityDerivative", "BreakdownResults", "ScalingReport", "TABLE_FILES",
    "CROSS_THRESHOLDS",
]

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
CRITERIA = ("aicc", "aic", "bic")


# ============================================================================================
# input handling
def _check_metric(metric: str) -> str:
    if metric not in CHANCE:
        raise ValueError(f"metric must be one of {sorted(CHANCE)}, not {metric!r}")
    return metric


def _metrics(metric) -> tuple:
    return tuple(_check_metric(m) for m in ([metric] if isinstance(metric, str) else metric))


def _check_frame(df: pd.DataFrame, experiment: str | None) -> pd.DataFrame:
    """Rows of ``experiment`` (all rows if None); ValueError if absent or if the frame mixes
    datasets or sources (their cells would silently be averaged as replicates)."""
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


def _warn(notes: list, msg: str, quiet: bool = False):
    notes.append(msg)
    if not quiet:
        warnings.warn(msg, ScalingWarning, stacklevel=3)


def cell_table(rows: pd.DataFrame, metric: str, by: str = "frac_sample",
               n_total: int = N_TOTAL) -> pd.DataFrame:
    """Per-cell summary of one model's rows, with inverse-variance weights for replicates.

    Parameters
    ----------
    rows : tidy results of one model (and one damage level, for learning curves)
    metric : "acc" or "auc"
    by : the cell key, "frac_sample" (learning curves) or "frac_damage" (damage curves)

    Returns
    -------
    DataFrame indexed by ``by`` with columns ``n`` (training rows: mean ``n_train``, or
    ``n_total * frac_sample``), ``value`` (mean metric), ``error`` (1 - value), ``n_rep``,
    ``var`` (replicate variance, NaN for one replicate), ``var_model`` (smoothed variance of
    one run) and ``weight`` (relative inverse variance of the cell mean, n_rep / var_model;
    1 without replicates). Rows with a missing metric are dropped.

    Notes
    -----
    A variance from 2-3 replicates is too noisy to weight by directly (its inverse has no
    finite mean), so the per-cell variances are smoothed by a variance function fitted by OLS
    on their logs: log var = alpha + gamma log z, with z = n for learning curves (noise shrinks
    with data) and z = p(1 - p) of the cell's mean metric for damage curves (noise peaks where
    the curve falls). With fewer than 3 replicated cells the pooled variance is used.
    """
    metric = _check_metric(metric)
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
    if cells.empty or cells["n_rep"].max() < 2:
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


def _fmt(x, digits=4):
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


# ============================================================================================
# learning curves
@dataclass
class CurveSet:
    """All forms fitted to one learning curve: one (model, metric, damage level).

    ``fits`` maps form name -> :class:`CurveFit`; ``selected`` is the admissible form with the
    lowest ``criterion`` (None if none is admissible); ``cells`` is the :func:`cell_table`.
    """

    experiment: str
    model: str
    metric: str
    frac_damage: float
    cells: pd.DataFrame
    fits: dict
    criterion: str = "aicc"
    selected: str | None = None
    notes: list = field(default_factory=list)

    @staticmethod
    def admissible(fit: CurveFit, criterion: str = "aicc") -> bool:
        """Converged, criterion defined, falling with n (b or k > 0) and a floor, if any,
        not below 0 (a negative floor is physically impossible: the form is then wrong)."""
        if not fit.converged or not np.isfinite(getattr(fit, criterion)):
            return False
        p = fit.params
        if fit.form.rate and not p[fit.form.rate] > 0:
            return False
        return not ("c" in p.index and p["c"] < 0)

    def comparison(self) -> pd.DataFrame:
        """One row per form: n_params (sigma included), llf, aic, aicc, bic, admissible,
        selected, and by the criterion: delta (to the best admissible form) and weight
        (exp(-delta/2), normalised: the Akaike weight when the criterion is AIC/AICc)."""
        rows = []
        for name, fit in self.fits.items():
            rows.append({"form": name, "formula": fit.form.formula, "n_params": fit.n_params,
                         "llf": fit.llf, "aic": fit.aic, "aicc": fit.aicc, "bic": fit.bic,
                         "admissible": self.admissible(fit, self.criterion),
                         "selected": name == self.selected})
        out = pd.DataFrame(rows).set_index("form")
        crit = out[self.criterion].where(out["admissible"])
        out["delta"] = crit - crit.min()
        w = np.exp(-0.5 * out["delta"])
        out["weight"] = w / w.sum() if w.notna().any() else np.nan
        return out

    def select(self) -> str | None:
        """Pick the admissible form with the lowest criterion (None, with a note, if none is)."""
        comp = self.comparison()
        ok = comp[comp["admissible"]]
        self.selected = ok[self.criterion].idxmin() if len(ok) else None
        if self.selected is None:
            self.notes.append(f"{self.model} {self.metric}: no admissible fit among "
                              f"{list(self.fits)}; nothing selected")
        return self.selected

    @property
    def best(self) -> CurveFit | None:
        return self.fits.get(self.selected) if self.selected else None

    def summary(self) -> Summary:
        label = f"{self.model}, 1 - {self.metric}"
        if self.experiment == "size_x_damage":
            label += f", damage {self.frac_damage:g}"
        s = Summary(f"Learning curves: {label} ({self.experiment}, {len(self.cells)} cells)")
        comp = self.comparison()[["n_params", "llf", "aic", "aicc", "bic", "delta", "weight",
                                  "admissible", "selected"]]
        s.add_df(comp, digits=5)
        if self.best is not None:
            s.add_text(f"Selected by {self.criterion.upper()}: {self.best.form.formula}")
            s.add_df(self.best.param_table(), digits=4)
        for fit in self.fits.values():
            for note in fit.notes:
                s.add_text(f"Note: {note}")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s


class LearningCurveResults:
    """Learning-curve fits of one experiment: a :class:`CurveSet` per (model, metric, damage).

    ``get(model, metric, frac_damage=0.0)`` returns a CurveSet; ``fit(model, metric, form=None)``
    the selected (or the named) :class:`CurveFit`; ``table()`` the tidy long table and
    ``summary()`` the readable report.
    """

    def __init__(self, experiment: str, sets: list[CurveSet], criterion: str):
        self.experiment = experiment
        self.sets = sets
        self.criterion = criterion

    def __iter__(self):
        return iter(self.sets)

    def __len__(self):
        return len(self.sets)

    def get(self, model: str, metric: str = "acc", frac_damage: float = 0.0) -> CurveSet:
        for cs in self.sets:
            if cs.model == model and cs.metric == metric and np.isclose(cs.frac_damage, frac_damage):
                return cs
        raise KeyError(f"no learning curve for model={model!r}, metric={metric!r}, "
                       f"frac_damage={frac_damage}")

    def fit(self, model: str, metric: str = "acc", form: str | None = None,
            frac_damage: float = 0.0) -> CurveFit | None:
        cs = self.get(model, metric, frac_damage)
        return cs.best if form is None else cs.fits[form]

    def selected(self) -> pd.DataFrame:
        """model, metric, frac_damage -> selected form, with b (or k) of that form."""
        rows = []
        for cs in self.sets:
            row = {"model": cs.model, "metric": cs.metric, "frac_damage": cs.frac_damage,
                   "selected": cs.selected, "rate": None, "estimate": np.nan, "ci_low": np.nan,
                   "ci_high": np.nan}
            if cs.best is not None:
                rate = cs.best.form.rate
                row.update(rate=rate, **cs.best.param_table().loc[rate, ["estimate", "ci_low",
                                                                         "ci_high"]].to_dict())
            rows.append(row)
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """Tidy long table, one row per model x metric x form x parameter: estimate, std_err,
        ci_low, ci_high, the fit's aic, aicc, bic, delta, weight, n_points, sigma, converged,
        admissible, selected and notes."""
        rows = []
        for cs in self.sets:
            comp = cs.comparison()
            for name, fit in cs.fits.items():
                pt = fit.param_table()
                for par, r in pt.iterrows():
                    rows.append({
                        "experiment": cs.experiment, "frac_damage": cs.frac_damage,
                        "model": cs.model, "metric": cs.metric, "form": name,
                        "formula": fit.form.formula, "param": par, "estimate": r["estimate"],
                        "std_err": r["std_err"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                        "aic": fit.aic, "aicc": fit.aicc, "bic": fit.bic,
                        "delta": comp.loc[name, "delta"], "weight": comp.loc[name, "weight"],
                        "criterion": cs.criterion, "n_points": fit.nobs, "sigma": fit.sigma,
                        "converged": fit.converged, "admissible": comp.loc[name, "admissible"],
                        "selected": name == cs.selected, "notes": "; ".join(fit.notes)})
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        head = self.selected()
        s = Summary(f"Learning-curve fits ({self.experiment}): selected form per curve, "
                     f"by {self.criterion.upper()}")
        s.add_df(head, index=False, digits=4)
        s.add_text("rate: b of a power law (e ~ n^-b), k of an exponential (per training row); "
                   "95% t intervals.")
        for cs in self.sets:
            s.extend(cs.summary())
        return s

    def __repr__(self):
        return f"<LearningCurveResults {self.experiment}: {len(self.sets)} curves>"


def fit_learning_curves(df: pd.DataFrame, experiment: str = "size", metric="acc",
                        forms: Sequence[str] = FORM_NAMES, criterion: str = "aicc",
                        models: Sequence[str] | None = None, n_total: int = N_TOTAL,
                        quiet: bool = False) -> LearningCurveResults:
    """Fit the learning-curve forms to error = 1 - metric against training rows, per model
    (and per damage level, for "size_x_damage").

    Parameters
    ----------
    df : tidy results (one dataset); rows of other experiments are ignored
    experiment : "size" or "size_x_damage" (any experiment varying frac_sample works)
    metric : "acc", "auc", or a list of both
    forms : subset of :data:`FORM_NAMES`
    criterion : "aicc" (default; AIC corrected for ~28 points), "aic" or "bic"
    models : restrict to these models; default all present
    n_total : rows of the full training set, for ``n = n_total * frac_sample``
    quiet : collect degenerate-input messages in the results instead of warning

    Returns
    -------
    LearningCurveResults
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, not {criterion!r}")
    forms = [get_form(f).name for f in forms]
    if not forms or any(f not in LEARNING_FORMS for f in forms):
        raise ValueError(f"forms must be a non-empty subset of {FORM_NAMES}, got {forms}")
    rows = _check_frame(df, experiment)
    present = list(dict.fromkeys(rows["model"]))
    models = present if models is None else list(models)
    absent = [m for m in models if m not in present]
    if absent:
        raise ValueError(f"no rows for model(s) {absent} in {experiment!r}; present: {present}")
    sets = []
    for metric_ in _metrics(metric):
        for model in models:
            mrows = rows[rows["model"] == model]
            for dmg, drows in mrows.groupby("frac_damage", sort=True):
                notes: list = []
                label = f"{model} {metric_}" + (f" damage {dmg:g}" if experiment != "size" else "")
                n_missing = int(drows[metric_].isna().sum())
                if n_missing:
                    _warn(notes, f"{label}: {n_missing} row(s) with a missing {metric_} dropped", quiet)
                cells = cell_table(drows, metric_, "frac_sample", n_total)
                if (cells["value"] >= 1.0).any():
                    _warn(notes, f"{label}: {int((cells['value'] >= 1).sum())} cell(s) with "
                          f"{metric_} = 1 (error 0); the Gaussian fit keeps them", quiet)
                fits = {f: fit_curve(cells["n"].to_numpy(), cells["error"].to_numpy(), f,
                                     cells["weight"].to_numpy(), label=label, quiet=quiet)
                        for f in forms}
                cs = CurveSet(experiment, model, metric_, float(dmg), cells, fits, criterion,
                              notes=notes)
                cs.select()
                sets.append(cs)
    return LearningCurveResults(experiment, sets, criterion)


# ============================================================================================
# data needed for a target
_STATUS_NOTE = {
    "ok": "",
    "floor": "not reachable: the target error is at or below the fitted floor c",
    "not_decreasing": "not reachable: the error does not fall with n under this fit",
    "before_data": "reached already as n -> 0 under this form (n_needed = 0)",
    "not fitted": "no converged fit",
    "undefined": "no converged fit",
}


class DataNeededResults:
    """Training rows needed for target metrics; ``table()`` and ``summary()``."""

    def __init__(self, frame: pd.DataFrame, method: str):
        self.frame = frame
        self.method = method

    def table(self) -> pd.DataFrame:
        """experiment, frac_damage, model, metric, form, target, n_needed, ci_low, ci_high,
        frac_needed (n_needed / 60000), reachable, extrapolated, method, note."""
        return self.frame.copy()

    def summary(self) -> Summary:
        s = Summary("Training rows needed to reach a target")
        cols = ["model", "metric", "form", "target", "n_needed", "ci_low", "ci_high",
                "reachable", "extrapolated"]
        if self.frame["frac_damage"].nunique() > 1:
            cols.insert(1, "frac_damage")
        s.add_df(self.frame[cols], index=False, digits=5)
        s.add_text(f"Intervals: 95%, {self.method}. extrapolated: outside the sizes observed.")
        for r in self.frame.itertuples():
            if r.note:
                s.add_text(f"Note: {r.model} {r.metric} {r.target:g}: {r.note}")
        return s

    def __repr__(self):
        return f"<DataNeededResults {len(self.frame)} rows>"


def _method_text(method: str, n_boot: int) -> str:
    if method == "delta":
        return "delta method on log n (t quantiles)"
    return f"parametric bootstrap, {n_boot} refits, percentile"


def _targets_dict(targets, metrics) -> dict:
    if targets is None:
        return {m: DEFAULT_TARGETS[m] for m in metrics}
    if isinstance(targets, Mapping):
        out = {_check_metric(m): tuple(np.atleast_1d(np.asarray(v, float))) for m, v in targets.items()}
    else:
        if len(metrics) != 1:
            raise ValueError(f"the fits cover metrics {list(metrics)}; give targets as a dict, "
                             "e.g. {'acc': [0.85, 0.9], 'auc': [0.98]}")
        out = {metrics[0]: tuple(np.atleast_1d(np.asarray(targets, float)))}
    for m, vals in out.items():
        bad = [v for v in vals if not 0 < v < 1]
        if bad:
            raise ValueError(f"targets for {m} must lie strictly between 0 and 1, got {bad}")
    return out


def data_needed(fits, targets=None, form: str = "selected", method: str = "delta",
                n_boot: int = 200, seed: int = 0, n_total: int = N_TOTAL) -> DataNeededResults:
    """Training rows at which a fitted learning curve reaches each target metric.

    Parameters
    ----------
    fits : LearningCurveResults, or a tidy results frame (size experiment is then fitted
        for the metrics named in ``targets``)
    targets : {"acc": [0.85, 0.9], "auc": [0.98]}, or a list when the fits have one metric;
        default :data:`DEFAULT_TARGETS`
    form : "selected" (the form the data support), "all", or a form name
    method : "delta" -- Wald interval for log n* by the delta method (t quantiles), mapped
        back, upper limit infinite when the floor's interval reaches the target; or
        "bootstrap" -- parametric bootstrap (refit ``n_boot`` simulated curves), percentile
        interval, never-reaching draws counted as infinite
    n_total : full training rows, for ``frac_needed``

    Returns
    -------
    DataNeededResults; "not reachable" (``reachable = False``, NaN n_needed) when the target
    error lies at or below the fitted floor or the curve does not fall with n.
    """
    if isinstance(fits, pd.DataFrame):
        metrics = tuple(targets) if isinstance(targets, Mapping) else ("acc",)
        fits = fit_learning_curves(fits, metric=metrics)
    metrics = tuple(dict.fromkeys(cs.metric for cs in fits))
    tdict = _targets_dict(targets, metrics)
    rows = []
    for cs in fits:
        if cs.metric not in tdict:
            continue
        if form == "selected":
            names = [cs.selected]
        elif form == "all":
            names = list(cs.fits)
        else:
            if form not in cs.fits:
                raise ValueError(f"form {form!r} was not fitted; fitted: {list(cs.fits)}")
            names = [form]
        for name in names:
            fit = cs.fits.get(name) if name else None
            for target in tdict[cs.metric]:
                if fit is None:
                    sol = {"x": np.nan, "ci_low": np.nan, "ci_high": np.nan, "reachable": False,
                           "status": "not fitted"}
                else:
                    sol = fit.solve(1.0 - target, method=method, n_boot=n_boot, seed=seed)
                x = sol["x"]
                extrap = bool(np.isfinite(x) and fit is not None and
                              (x > fit.x.max() * (1 + 1e-9) or x < fit.x.min() * (1 - 1e-9)))
                rows.append({"experiment": cs.experiment, "frac_damage": cs.frac_damage,
                             "model": cs.model, "metric": cs.metric, "form": name,
                             "target": target, "n_needed": x if sol["reachable"] else np.nan,
                             "ci_low": sol["ci_low"], "ci_high": sol["ci_high"],
                             "se_log": sol.get("se_log", np.nan),
                             "frac_needed": x / n_total if sol["reachable"] else np.nan,
                             "reachable": bool(sol["reachable"]), "extrapolated": extrap,
                             "method": _method_text(method, n_boot),
                             "note": _STATUS_NOTE.get(sol["status"], sol["status"])})
    return DataNeededResults(pd.DataFrame(rows), _method_text(method, n_boot))


# ============================================================================================
# the R table method on the size x damage grid
def _cross_rows(df: pd.DataFrame) -> pd.DataFrame:
    if "experiment" in df.columns and df["experiment"].nunique(dropna=True) > 1:
        return _check_frame(df, "size_x_damage")
    return _check_frame(df, None)


class ObservationsNeeded:
    """The R table "observations needed for > threshold": ``table()`` and ``summary()``.

    ``missing_qualities`` lists qualities where no cell exceeds the threshold (no R row)."""

    def __init__(self, frame, metric, threshold, missing_qualities, model=None):
        self.frame = frame
        self.metric = metric
        self.threshold = threshold
        self.missing_qualities = missing_qualities
        self.model = model

    def table(self) -> pd.DataFrame:
        """quality, <metric> (3 decimals), frac_sample, num_obs, d_obs; decreasing quality."""
        return self.frame.copy()

    def summary(self) -> Summary:
        s = Summary(f"Observations needed for {self.metric} > {self.threshold:g} (R table method"
                    + (f", model {self.model})" if self.model else ")"))
        s.add_df(self.frame, index=False, digits=6)
        s.add_text("Per quality q = 1 - damage: the cell with the lowest metric above the threshold; "
                   "d_obs = relative change of num_obs from the previous (higher-quality) row.")
        if self.missing_qualities:
            s.add_text(f"Note: no cell exceeds the threshold at quality {self.missing_qualities}; "
                       "those rows are absent, as in R.")
        return s

    def __repr__(self):
        return f"<ObservationsNeeded {self.metric} > {self.threshold:g}: {len(self.frame)} rows>"


def observations_needed(df_cross: pd.DataFrame, metric: str = "acc", threshold: float = 0.90,
                        n_total: int = N_TOTAL, model: str | None = None) -> ObservationsNeeded:
    """The reference's table method for the size x damage grid, exactly.

    For each quality q = 1 - frac_damage, among the cells whose metric is strictly above
    ``threshold``, take the cell with the lowest metric (ties: the smaller sample); report q,
    the metric rounded to 3 decimals, frac_sample, num_obs = n_total * frac_sample and
    d_obs = (num_obs - previous num_obs) / previous num_obs, rows by decreasing q, NaN on the
    first. Qualities with no cell above the threshold give no row (as R's filter does).
    Replicates of a cell are averaged first.

    Parameters
    ----------
    df_cross : tidy results holding the size x damage grid (other experiments are ignored)
    metric, threshold : e.g. ("acc", 0.90) or ("auc", 0.98)
    model : which model's grid (default: the only one present; the R grid is CNN only)
    """
    metric = _check_metric(metric)
    rows = _cross_rows(df_cross)
    models = list(dict.fromkeys(rows["model"]))
    if model is None:
        if len(models) > 1:
            raise ValueError(f"the grid holds several models {models}; pass model=")
        model = models[0] if models else None
    rows = rows[(rows["model"] == model) & rows[metric].notna()]
    cells = (rows.groupby(["frac_damage", "frac_sample"], as_index=False)[metric].mean())
    cells["quality"] = np.round(1.0 - cells["frac_damage"].astype(float), 10)
    out, missing = [], []
    for q in sorted(cells["quality"].unique(), reverse=True):
        above = cells[(cells["quality"] == q) & (cells[metric] > threshold)]
        if above.empty:
            missing.append(float(q))
            continue
        best = above.sort_values([metric, "frac_sample"], kind="stable").iloc[0]
        out.append({"quality": float(q), metric: round(float(best[metric]), 3),
                    "frac_sample": float(best["frac_sample"]),
                    "num_obs": float(np.round(n_total * best["frac_sample"], 6))})
    frame = pd.DataFrame(out, columns=["quality", metric, "frac_sample", "num_obs"])
    prev = frame["num_obs"].shift(1)
    frame["d_obs"] = (frame["num_obs"] - prev) / prev
    return ObservationsNeeded(frame, metric, threshold, missing, model)


# ============================================================================================
# modelled d(data)/d(quality)
class DataQualityDerivative:
    """Modelled d n*/d q for one metric threshold.

    Attributes
    ----------
    levels : per quality q: n_needed, its interval and se of log n* (delta method)
    steps : derivative between neighbouring qualities
    overall : average derivative between the highest and lowest quality reaching the threshold
    fits : the per-quality LearningCurveResults
    """

    def __init__(self, metric, threshold, form, levels, steps, overall, fits, notes):
        self.metric, self.threshold, self.form = metric, threshold, form
        self.levels, self.steps, self.overall = levels, steps, overall
        self.fits, self.notes = fits, notes

    def table(self) -> pd.DataFrame:
        """Tidy rows of three kinds (column ``scope``), keyed by model, metric, threshold, form:

        * "level": n* at one quality -- quality, n_needed, n_ci_low, n_ci_high, frac_needed,
          reachable, extrapolated;
        * "step" (neighbouring qualities) and "overall" (highest to lowest quality reaching the
          threshold): quality_high, quality_low, derivative_obs / derivative_frac (observations,
          and fractions of 60,000, per unit quality) with ci_low_* / ci_high_*, below_minus_1
          (the whole 95% CI of the dataset-unit derivative lies below -1), elasticity
          (d log n*/d log q) with its CI and elasticity_below_minus_1.
        """
        lev = self.levels
        levels = pd.DataFrame({
            "model": lev["model"], "metric": lev["metric"], "threshold": lev["target"],
            "form": lev["form"], "scope": "level", "quality": lev["quality"],
            "n_needed": lev["n_needed"], "n_ci_low": lev["ci_low"], "n_ci_high": lev["ci_high"],
            "frac_needed": lev["frac_needed"], "reachable": lev["reachable"],
            "extrapolated": lev["extrapolated"], "method": lev["method"], "note": lev["note"]})
        return pd.concat([levels, self.steps, self.overall], ignore_index=True)

    def summary(self) -> Summary:
        s = Summary(f"d(data)/d(quality) for {self.metric} > {self.threshold:g}, "
                     f"modelled with {self.form}")
        cols = ["model", "quality", "n_needed", "ci_low", "ci_high", "reachable", "extrapolated"]
        s.add_df(self.levels[cols], index=False, digits=5)
        tab = pd.concat([self.steps, self.overall], ignore_index=True)
        cols = ["model", "scope", "quality_high", "quality_low", "derivative_frac", "ci_low_frac",
                "ci_high_frac", "elasticity", "elasticity_ci_low", "elasticity_ci_high"]
        s.add_df(tab[cols], index=False, digits=4)
        def verdict(flag):
            return {True: "holds (95% CI below -1)", False: "not established at 95%",
                    None: "undetermined"}[flag]

        for r in self.overall.itertuples():
            s.add_text(f"{r.model}, quality {_fmt(r.quality_high, 3)} to {_fmt(r.quality_low, 3)}: "
                       f"d(data)/d(quality) = {_fmt(r.derivative_frac, 3)} datasets per unit "
                       f"quality [{_fmt(r.ci_low_frac, 3)}, {_fmt(r.ci_high_frac, 3)}], '<< -1' "
                       f"{verdict(r.below_minus_1)}; elasticity d log n*/d log q = "
                       f"{_fmt(r.elasticity, 3)} [{_fmt(r.elasticity_ci_low, 3)}, "
                       f"{_fmt(r.elasticity_ci_high, 3)}], '<< -1' "
                       f"{verdict(r.elasticity_below_minus_1)}.")
        s.add_text("n* per quality: delta method on log n* (t quantiles). Derivatives: difference "
                   "quotients of independent fits (steps: neighbouring qualities; overall: the "
                   "extreme qualities reaching the threshold, i.e. the average slope), normal "
                   "95% intervals.")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    def __repr__(self):
        return f"<DataQualityDerivative {self.metric} > {self.threshold:g} ({self.form})>"


def _choose_common_form(fits: LearningCurveResults, model: str, metric: str, forms, criterion):
    """The one form with the lowest criterion summed over the damage levels, among forms that
    are admissible at every level (fallback: the most often admissible)."""
    sets = [cs for cs in fits if cs.model == model and cs.metric == metric]
    score = {}
    for f in forms:
        ok = [CurveSet.admissible(cs.fits[f], criterion) for cs in sets]
        total = sum(getattr(cs.fits[f], criterion) for cs, a in zip(sets, ok) if a)
        score[f] = (-sum(ok), total)
    return min(score, key=score.get)


def data_quality_derivative(df_cross: pd.DataFrame, metric: str = "acc", threshold: float = 0.90,
                            form: str = "auto", forms: Sequence[str] = FORM_NAMES,
                            criterion: str = "aicc", n_total: int = N_TOTAL,
                            quiet: bool = False) -> DataQualityDerivative:
    """Modelled d(data size)/d(quality) from the size x damage grid.

    Per quality q = 1 - frac_damage, fit the learning curve (one form for all q: ``form``, or
    with "auto" the form with the lowest criterion summed over q among forms admissible at
    every q, so that the n*(q) are comparable), and solve n*(q) where it reaches ``threshold``
    (delta method on log n*). The derivative is then a difference quotient of independent
    fits (their variances add; normal 95% intervals):

    * steps: (n*(q_i) - n*(q_j)) / (q_i - q_j) for neighbouring qualities -- the local slope;
    * overall: the same between the highest and the lowest quality at which the threshold is
      reachable -- the average derivative over that range (exactly the mean of dn*/dq there).

    Each is reported in observations per unit quality and in datasets (fractions of
    ``n_total``) per unit quality, with the elasticity d log n*/d log q (unit-free, the
    model-based counterpart of the R table's d_obs per relative quality step). "<< -1" is
    declared to hold when the whole 95% interval lies below -1. Qualities where the threshold
    is not reachable (floor above it) get no derivative, with a note.

    Returns
    -------
    DataQualityDerivative (``levels``: n* per quality; ``table()``: steps and overall rows)
    """
    metric = _check_metric(metric)
    rows = _cross_rows(df_cross)
    fits = fit_learning_curves(rows.assign(experiment="size_x_damage"), "size_x_damage", metric,
                               forms, criterion, n_total=n_total, quiet=quiet)
    notes: list = []
    levels, steps, overall = [], [], []
    chosen = {}
    for model in dict.fromkeys(cs.model for cs in fits):
        f = _choose_common_form(fits, model, metric, forms, criterion) if form == "auto" else form
        chosen[model] = f
        for cs in fits:
            if cs.model == model:
                cs.selected = f
        need = data_needed(fits, {metric: [threshold]}, form="selected", n_total=n_total).table()
        need = need[need["model"] == model].copy()
        need["quality"] = np.round(1.0 - need["frac_damage"], 10)
        need = need.sort_values("quality", ascending=False).reset_index(drop=True)
        levels.append(need)
        for r in need.itertuples():
            if not r.reachable:
                _warn(notes, f"{model}: {metric} > {threshold:g} {r.note} at quality {r.quality:g}",
                      quiet)
        good = need["reachable"] & np.isfinite(need["se_log"]) & (need["n_needed"] > 0)
        base = dict(model=model, metric=metric, threshold=threshold, form=f, n_total=n_total)
        for i in range(len(need) - 1):
            a, b = need.iloc[i], need.iloc[i + 1]
            ok = bool(good.iloc[i] and good.iloc[i + 1])
            steps.append(_difference(a, b, ok, scope="step", **base,
                                     note="" if ok else "threshold not reachable at one end"))
        idx = np.flatnonzero(good.to_numpy())
        ok = idx.size >= 2
        a, b = need.iloc[idx[0] if ok else 0], need.iloc[idx[-1] if ok else -1]
        note = "" if ok else "fewer than 2 qualities reach the threshold"
        if ok and idx.size < len(need):
            note = f"over the {idx.size} of {len(need)} qualities where the threshold is reachable"
        overall.append(_difference(a, b, ok, scope="overall", **base, note=note))
    levels = pd.concat(levels, ignore_index=True) if levels else pd.DataFrame()
    return DataQualityDerivative(metric, threshold, ", ".join(f"{m}: {f}" for m, f in chosen.items()),
                                 levels, pd.DataFrame(steps), pd.DataFrame(overall), fits, notes)


def _difference(a: pd.Series, b: pd.Series, ok: bool, *, model, metric, threshold, form,
                n_total, scope, note, alpha: float = 0.05) -> dict:
    """Difference quotient of n* between qualities a (higher) and b, with delta-method normal
    intervals; var(n*) = (n* se_log)^2, the two fits independent."""
    z = stats.norm.ppf(1 - alpha / 2)
    d = se = el = se_el = np.nan
    if ok:
        dq = a["quality"] - b["quality"]
        dlq = np.log(a["quality"] / b["quality"])
        d = (a["n_needed"] - b["n_needed"]) / dq
        se = np.hypot(a["n_needed"] * a["se_log"], b["n_needed"] * b["se_log"]) / dq
        el = (np.log(a["n_needed"]) - np.log(b["n_needed"])) / dlq
        se_el = np.hypot(a["se_log"], b["se_log"]) / abs(dlq)

    def below(x):
        return bool(x < -1) if np.isfinite(x) else None

    dhi = (d + z * se) / n_total
    return {"model": model, "metric": metric, "threshold": threshold, "form": form, "scope": scope,
            "quality_high": a["quality"], "quality_low": b["quality"],
            "derivative_obs": d, "ci_low_obs": d - z * se, "ci_high_obs": d + z * se,
            "derivative_frac": d / n_total, "ci_low_frac": (d - z * se) / n_total,
            "ci_high_frac": dhi, "below_minus_1": below(dhi),
            "elasticity": el, "elasticity_ci_low": el - z * se_el,
            "elasticity_ci_high": el + z * se_el, "elasticity_below_minus_1": below(el + z * se_el),
            "method": "difference quotient of independent fits, delta method", "note": note}


# ============================================================================================
# robustness to damage
BREAKDOWN_DEFINITIONS = {
    "half_skill": "metric half-way between its clean value and chance",
    "half_clean": "metric at half its clean value",
}


class BreakdownResults:
    """Breakdown points per model; ``table()``, ``summary()``, ``fits`` (model -> CurveFit)."""

    def __init__(self, experiment, metric, definition, frame, fits):
        self.experiment, self.metric, self.definition = experiment, metric, definition
        self.frame, self.fits = frame, fits

    def table(self) -> pd.DataFrame:
        """experiment, model, metric, definition, clean, level, breakdown_frac, ci_low, ci_high,
        std_err, bracket_low/bracket_high (the grid levels between which the observed metric
        first falls below the level: a model-free check), lower, e50, hill, n_points,
        converged, extrapolated, note."""
        return self.frame.copy()

    def summary(self) -> Summary:
        s = Summary(f"Breakdown points ({self.experiment}, {self.metric}): "
                     f"{BREAKDOWN_DEFINITIONS[self.definition]}")
        order = self.frame.sort_values("breakdown_frac", ascending=False)
        cols = ["model", "clean", "level", "breakdown_frac", "ci_low", "ci_high", "bracket_low",
                "bracket_high", "hill", "converged"]
        s.add_df(order[cols], index=False, digits=4)
        s.add_text("Damage fraction (0..1) where the fitted log-logistic curve crosses the level; "
                   "95% delta-method interval on the log scale (conditional on the curve's shape "
                   "between grid points); bracket: the grid levels between which the observed "
                   "metric crosses it. Higher = survives more damage.")
        for r in self.frame.itertuples():
            if r.note:
                s.add_text(f"Note: {r.model}: {r.note}")
        return s

    def __repr__(self):
        return f"<BreakdownResults {self.experiment} {self.metric}: {len(self.frame)} models>"


def _breakdown_x(theta, definition, chance):
    """Damage at which L + (U - L)/(1 + (d/e50)^h) reaches the breakdown level; NaN if the
    level is outside (L, U)."""
    U, L, le, lh = theta
    level = 0.5 * (U + chance) if definition == "half_skill" else 0.5 * U
    if not (min(U, L) < level < max(U, L)):
        return np.nan
    ratio = (U - L) / (level - L) - 1.0
    return float(np.exp(le + np.log(ratio) / np.exp(lh))) if ratio > 0 else np.nan


def _bracket(x: np.ndarray, y: np.ndarray, level: float) -> tuple[float, float]:
    """Model-free bracket: the grid damage levels between which the observed metric first
    falls below ``level`` (NaN if it never does, or already starts below)."""
    below = np.flatnonzero(y < level)
    if not np.isfinite(level) or below.size == 0 or below[0] == 0:
        return np.nan, np.nan
    return float(x[below[0] - 1]), float(x[below[0]])


def breakdown_points(df: pd.DataFrame, experiment: str, metric: str = "acc",
                     definition: str = "half_skill", chance: float | None = None,
                     models: Sequence[str] | None = None, quiet: bool = False) -> BreakdownResults:
    """Damage fraction at which a model's metric breaks down, per model, with a 95% interval.

    Definition (default ``"half_skill"``): the damage at which the metric falls half-way from
    its clean value U (the fitted value at zero damage) to chance (0.1 for accuracy, 10
    balanced classes; 0.5 for AUC), i.e. the model has lost half of its skill above guessing.
    This is preferred to "half the clean value" (``"half_clean"``) because the damage curves
    run down through chance to 0 (a model trained on mostly shifted labels learns the shift):
    chance, not 0, is where skill ends, and half-skill puts every model on the same scale
    whatever its clean accuracy -- the ED50 of dose-response analysis with chance as the floor.
    Label noise leaves the Bayes classifier unchanged until the labels carry no information
    (damage 0.9 for random damage, 0.5 for constant), so breakdown points are bounded by those
    values; compare models within one experiment.

    Estimation: a four-parameter log-logistic curve (drc's LL.4) ``y = L + (U - L) / (1 +
    (d / e50)^h)`` fitted by Gaussian ML with statsmodels to the per-level metric; the
    breakdown point is a smooth function of (U, L, e50, h) and gets a delta-method interval
    on the log scale (t quantiles). With the coarse damage grid (0.1 steps above 0.1) the
    interval leans on the curve's shape between grid points, so the table also gives the
    model-free bracket of grid levels between which the observed metric crosses the level.

    Returns
    -------
    BreakdownResults; a curve that never reaches the level or a fit that fails gives NaN and
    a note (e.g. AUC under constant damage, which has no lower plateau on the grid).
    """
    metric = _check_metric(metric)
    if definition not in BREAKDOWN_DEFINITIONS:
        raise ValueError(f"definition must be one of {sorted(BREAKDOWN_DEFINITIONS)}, not {definition!r}")
    chance = CHANCE[metric] if chance is None else float(chance)
    rows = _check_frame(df, experiment)
    models = list(dict.fromkeys(rows["model"])) if models is None else list(models)
    out, fits = [], {}
    for model in models:
        cells = cell_table(rows[rows["model"] == model], metric, "frac_damage")
        x, y = cells.index.to_numpy(dtype=float), cells["value"].to_numpy()
        label = f"{model} {metric} {experiment}"
        fit = fit_curve(x, y, "loglogistic", cells["weight"].to_numpy(), label=label, quiet=quiet)
        fits[model] = fit
        notes = list(fit.notes)
        est = lo = hi = se = np.nan
        if fit.converged:
            est = _breakdown_x(fit.theta, definition, chance)
            if np.isfinite(est):
                g = approx_fprime(fit.theta, lambda t: np.log(_breakdown_x(t, definition, chance)),
                                  centered=True).ravel()
                se_log = float(np.sqrt(g @ fit.cov_theta @ g))
                q = fit._q()
                lo, hi, se = est * np.exp(-q * se_log), est * np.exp(q * se_log), est * se_log
            else:
                _warn(notes, f"{label}: the fitted curve never crosses the breakdown level; "
                      "breakdown is NaN", quiet)
        p = fit.params
        # the level: from the fitted clean value, or the observed one where the fit failed
        clean = p["U"] if fit.converged else (y[0] if y.size else np.nan)
        level = 0.5 * (clean + chance) if definition == "half_skill" else 0.5 * clean
        b_lo, b_hi = _bracket(x, y, level)
        out.append({"experiment": experiment, "model": model, "metric": metric,
                    "definition": f"{definition}: {BREAKDOWN_DEFINITIONS[definition]}"
                                  + (f" ({chance:g})" if definition == "half_skill" else ""),
                    "clean": clean, "level": level, "breakdown_frac": est, "ci_low": lo,
                    "ci_high": hi, "std_err": se, "bracket_low": b_lo, "bracket_high": b_hi,
                    "lower": p["L"], "e50": p["e50"], "hill": p["h"], "n_points": fit.nobs,
                    "converged": fit.converged,
                    "extrapolated": bool(np.isfinite(est) and (est > x.max() or est < x.min())),
                    "note": "; ".join(notes)})
    return BreakdownResults(experiment, metric, definition, pd.DataFrame(out), fits)


# ============================================================================================
# everything at once
TABLE_FILES = {
    "learning_curve_fits": "learning_curve_fits.csv",
    "data_needed": "data_needed.csv",
    "observations_needed_acc90": "observations_needed_acc90.csv",
    "observations_needed_auc98": "observations_needed_auc98.csv",
    "data_quality_derivative": "data_quality_derivative.csv",
    "breakdown_points": "breakdown_points.csv",
}


class ScalingReport:
    """Every analysis that applies to a results frame. ``results`` is a list of
    (source, dataset, table name, results object); ``tables()`` the tidy frames by table name;
    ``summary()`` all summaries; ``write(out_dir)`` the CSVs under ``out_dir/tables/``."""

    def __init__(self, results: list):
        self.results = results

    def tables(self) -> dict[str, pd.DataFrame]:
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
        """Write each table to ``out_dir/tables/<name>.csv``; returns the paths written."""
        tdir = Path(out_dir) / "tables"
        tdir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, frame in self.tables().items():
            path = tdir / TABLE_FILES[name]
            frame.to_csv(path, index=False)
            written.append(path)
        return written

    def summary(self) -> str:
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

    * "size": learning-curve fits and data needed for ``targets`` (default
      :data:`DEFAULT_TARGETS`) for each metric;
    * "size_x_damage": the R tables (acc > 0.90, auc > 0.98) and the modelled derivative;
    * "random_damage", "constant_damage": breakdown points of accuracy (of AUC only when
      accuracy is not among ``metrics``; :func:`breakdown_points` does either).

    ``source`` comes from a "source" column when present (e.g. one per input file), else
    "results". Degenerate cases are reported in the summaries (``quiet``) rather than warned.
    """
    metrics = _metrics(metrics)
    df = df.copy()
    if "source" not in df.columns:
        df["source"] = "results"
    if "dataset" not in df.columns:
        df["dataset"] = "unknown"
    if "experiment" not in df.columns:
        raise ValueError("results lack an 'experiment' column; read them with "
                         "datavsmath.training.store.read_results")
    results = []
    for (source, dataset), part in df.groupby(["source", "dataset"], sort=False, dropna=False):
        present = set(part["experiment"].dropna())
        if "size" in present:
            lc = fit_learning_curves(part, "size", metrics, forms, criterion, quiet=quiet)
            results.append((source, dataset, "learning_curve_fits", lc))
            tg = {m: v for m, v in _targets_dict(targets, metrics).items() if m in metrics}
            results.append((source, dataset, "data_needed",
                            data_needed(lc, tg, method=ci_method, n_boot=n_boot, seed=seed)))
        if "size_x_damage" in present:
            cross = part[part["experiment"] == "size_x_damage"]
            for m in metrics:
                thr = CROSS_THRESHOLDS[m]
                for model in dict.fromkeys(cross["model"]):
                    on = observations_needed(cross, m, thr, model=model)
                    results.append((source, dataset, f"observations_needed_{m}{round(thr * 100)}",
                                    on))
                results.append((source, dataset, "data_quality_derivative",
                                data_quality_derivative(cross, m, thr, forms=forms,
                                                        criterion=criterion, quiet=quiet)))
        for exp in ("random_damage", "constant_damage"):
            if exp in present:
                for m in (("acc",) if "acc" in metrics else metrics):
                    results.append((source, dataset, "breakdown_points",
                                    breakdown_points(part, exp, m, breakdown, quiet=quiet)))
    if not results:
        raise ValueError("nothing to analyse: the results hold none of the experiments size, "
                         "size_x_damage, random_damage, constant_damage")
    return ScalingReport(results)


def write_tables(df: pd.DataFrame, out_dir: str | os.PathLike, **kwargs) -> list[Path]:
    """Compute whatever applies to the experiments in ``df`` (see :func:`analyze`, which takes
    the keyword arguments) and write the tidy CSVs to ``out_dir/tables/``; returns the paths."""
    return analyze(df, **kwargs).write(out_dir)
