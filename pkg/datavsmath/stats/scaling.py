"""Scaling-law statistics: the talk's conclusions as estimates with uncertainty.

Everything here works on the tidy results frame of :mod:`datavsmath.training.store` (one dataset and one
source at a time; :func:`analyze` and :func:`write_tables` split bigger frames), including the
R-shaped CSVs read by :func:`datavsmath.training.store.read_results`.

* :func:`fit_learning_curves` -- error ``e = 1 - metric`` against training rows ``n`` (the
  ``n_train`` column where present, else ``60000 * frac_sample``), four forms (power law, power
  law with floor, exponential, exponential with floor; :mod:`datavsmath.stats.forms`), fitted
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
    "FORM_NAMES", "N_TOTAL", "N_TEST", "HORIZON", "CHANCE", "DEFAULT_TARGETS", "ScalingWarning",
    "cell_table", "fit_learning_curves", "data_needed", "observations_needed",
    "data_quality_derivative", "joint_law", "backtest", "breakdown_points", "analyze",
    "write_tables", "BacktestResults",
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
               n_total: int = N_TOTAL, n_test: int = N_TEST,
               single_run: str | None = None) -> pd.DataFrame:
    """Per-cell summary of one model's rows, with inverse-variance weights.

    Parameters
    ----------
    rows : tidy results of one model (and one damage level, for learning curves)
    metric : "acc" or "auc"
    by : the cell key, "frac_sample" (learning curves) or "frac_damage" (damage curves)
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


def _fmt(x, digits=4):
    return "nan" if x is None or np.isnan(x) else f"{x:.{digits}g}"


# ============================================================================================
# learning curves
@dataclass
class CurveSet:
    """All forms fitted to one learning curve: one (model, metric, damage level).

    ``fits`` maps form name -> :class:`CurveFit`; ``selected`` is the admissible form with the
    lowest ``criterion`` (None if none is admissible; ties go to the alphabetically first
    name, so the answer never depends on the order of the candidate list); ``cells`` is the
    :func:`cell_table`. :meth:`average_solve` gives the model-averaged n*.
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
    def status(fit: CurveFit, criterion: str = "aicc") -> str:
        """Why a form can or cannot take part in the model choice: "ok", "not identifiable:
        ..." (no converged fit, or too few points for the criterion), "error rises with n",
        "no decline" or "negative floor"."""
        K, m = fit.n_params, fit.nobs
        if not fit.converged:
            if m < K:
                return f"not identifiable: {m} points for {K} parameters (sigma included)"
            return "not identifiable: no converged fit (see notes)"
        if not np.isfinite(getattr(fit, criterion)):
            return (f"not identifiable by {criterion.upper()}: {m} points, needs at least "
                    f"{K + 2} for {K} parameters")
        p = fit.params
        if fit.form.rate and not p[fit.form.rate] > 0:
            return "error rises with n" if p[fit.form.rate] < 0 else "no decline"
        if "c" in p.index and p["c"] < 0:
            return "negative floor"
        return "ok"

    @staticmethod
    def admissible(fit: CurveFit, criterion: str = "aicc") -> bool:
        """Converged, criterion defined, falling with n (b or k > 0) and a floor, if any,
        not below 0 (a negative floor is physically impossible: the form is then wrong)."""
        return CurveSet.status(fit, criterion) == "ok"

    @property
    def weighting(self) -> str:
        """How the cells were weighted, in words (what the intervals are conditional on)."""
        if len(self.cells) and self.cells["n_rep"].max() >= 2:
            return "replicate means, weights n_rep / smoothed replicate variance"
        if len(self.cells) and self.cells["var_model"].notna().any():
            return "single runs, weights 1 / (p(1-p)/n_test) (binomial)"
        return "equal weights"

    def comparison(self) -> pd.DataFrame:
        """One row per form: n_params (sigma included), llf, aic, aicc, bic, status (why a
        form is or is not in the choice), admissible, selected, and by the criterion: delta
        (to the best admissible form) and weight (exp(-delta/2) normalised over admissible
        forms: the Akaike weight when the criterion is AIC/AICc; NaN for the others)."""
        rows = []
        for name, fit in self.fits.items():
            st = self.status(fit, self.criterion)
            rows.append({"form": name, "formula": fit.form.formula, "n_params": fit.n_params,
                         "llf": fit.llf, "aic": fit.aic, "aicc": fit.aicc, "bic": fit.bic,
                         "status": st, "admissible": st == "ok",
                         "selected": name == self.selected})
        out = pd.DataFrame(rows).set_index("form")
        crit = out[self.criterion].where(out["admissible"])
        out["delta"] = crit - crit.min()
        w = np.exp(-0.5 * out["delta"])
        out["weight"] = w / w.sum() if w.notna().any() else np.nan
        return out

    def select(self) -> str | None:
        """Pick the admissible form with the lowest criterion (None, with a note, if none is).
        Forms left out because their criterion is undefined are named in a note."""
        comp = self.comparison()
        ok = comp[comp["admissible"]].sort_index()  # ties: alphabetical, not list order
        self.selected = ok[self.criterion].idxmin() if len(ok) else None
        label = f"{self.model} {self.metric}"
        unident = [f for f, st in comp["status"].items() if st.startswith("not identifiable")]
        if unident:
            self.notes.append(f"{label}, {len(self.cells)} cells: left out of the model "
                              "choice and the average: " + "; ".join(
                                  f"{f} ({comp.loc[f, 'status']})" for f in unident))
        if self.selected is None:
            why = "; ".join(f"{f}: {st}" for f, st in comp["status"].items())
            self.notes.append(f"{label}: no admissible fit, nothing selected ({why})")
        return self.selected

    @property
    def best(self) -> CurveFit | None:
        return self.fits.get(self.selected) if self.selected else None

    def average_solve(self, y_target: float, alpha: float = 0.05) -> dict:
        """Model-averaged n* where the curve reaches error ``y_target``, over the admissible
        forms with their Akaike (criterion) weights w_i.

        Forms for which the target lies at or below their floor say "never": their weight is
        the weight of evidence that the target is not reachable. If it exceeds 1/2 the answer
        is "not reachable" (with the floor of the best such form and its interval). Otherwise,
        over the forms that reach it (weights renormalised), log n* is averaged and gets
        Burnham and Anderson's (2002, eq. 4.9) unconditional standard error
        ``sum_i w_i sqrt(se_i^2 + (log n*_i - mean)^2)``, which adds the spread between forms
        to each form's own delta-method error; the interval is mean -/+ t se with the smallest
        residual df among them, mapped back. Its upper limit is infinite when forms that never
        reach the target, or whose own interval is unbounded, weigh at least alpha / 2.

        Returns the keys of :meth:`CurveFit.solve` plus weight_unreachable and forms (the
        weights used, as text).
        """
        comp = self.comparison()
        ok = comp[comp["admissible"]]
        out = {"x": np.nan, "ci_low": np.nan, "ci_high": np.nan, "se_log": np.nan,
               "df": np.nan, "reachable": False, "status": "not fitted",
               "method": "model average", "floor": np.nan, "floor_ci_low": np.nan,
               "floor_ci_high": np.nan, "weight_unreachable": np.nan, "forms": ""}
        if ok.empty:
            statuses = set(comp["status"])
            if statuses & {"error rises with n", "no decline"}:
                out["status"] = "not_decreasing"
            elif all(st.startswith("not identifiable") for st in statuses):
                out["status"] = "not identifiable"
            return out
        sols = {f: self.fits[f].solve(y_target, alpha=alpha) for f in ok.index}
        w = ok["weight"]
        never = [f for f, s in sols.items() if s["status"] in ("floor", "not_decreasing")]
        reach = [f for f, s in sols.items() if s["status"] == "ok" and np.isfinite(s["se_log"])]
        out["weight_unreachable"] = w_never = float(w[never].sum())
        out["forms"] = ", ".join(f"{f} {w[f]:.2f}" for f in ok.index)
        if w_never > 0.5 or not reach:
            top = max(never or list(ok.index), key=lambda f: w[f])
            out.update({k: sols[top][k] for k in ("floor", "floor_ci_low", "floor_ci_high")})
            out["status"] = sols[top]["status"] if never else (
                "before_data" if any(s["status"] == "before_data" for s in sols.values())
                else "undefined")
            if out["status"] == "before_data":
                out.update(x=0.0, reachable=True)
            return out
        v = w[reach] / w[reach].sum()
        lx = np.array([np.log(sols[f]["x"]) for f in reach])
        se = np.array([sols[f]["se_log"] for f in reach])
        mean = float(v @ lx)
        se_u = float(v @ np.sqrt(se ** 2 + (lx - mean) ** 2))
        df = int(min(sols[f]["df"] for f in reach))
        q = float(stats.t.ppf(1 - alpha / 2, df))
        unbounded = w_never + sum(w[f] for f in reach if not np.isfinite(sols[f]["ci_high"]))
        best = max(reach, key=lambda f: w[f])
        out.update({k: sols[best][k] for k in ("floor", "floor_ci_low", "floor_ci_high")})
        out.update(x=float(np.exp(mean)), se_log=se_u, df=df, reachable=True, status="ok",
                   ci_low=float(np.exp(mean - q * se_u)),
                   ci_high=np.inf if unbounded >= alpha / 2 else float(np.exp(mean + q * se_u)))
        return out

    def summary(self) -> Summary:
        label = f"{self.model}, 1 - {self.metric}"
        if self.experiment == "size_x_damage":
            label += f", damage {self.frac_damage:g}"
        s = Summary(f"Learning curves: {label} ({self.experiment}, {len(self.cells)} cells)")
        comp = self.comparison()[["n_params", "llf", "aic", "aicc", "bic", "delta", "weight",
                                  "status", "selected"]]
        s.add_df(comp, digits=5)
        s.add_text(f"weight: Akaike weight by {self.criterion.upper()} among forms with status "
                   f"ok. Cells: {self.weighting}.")
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
        ci_low, ci_high (95% t, the fit's residual df, conditional on the form and on the
        weighting), the fit's aic, aicc, bic, delta, weight (Akaike), n_points, sigma,
        converged, status (why a form is or is not in the model choice), admissible,
        weighting, conditional_on, selected and notes."""
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
                        "converged": fit.converged, "status": comp.loc[name, "status"],
                        "admissible": comp.loc[name, "admissible"], "weighting": cs.weighting,
                        "conditional_on": f"the form {name}; {cs.weighting}; t with "
                                          f"{fit.df_resid} df",
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
                bad = ~cells["value"].between(0.0, 1.0)
                if bad.any():  # validation is _check_frame's job; the fit must not use them
                    _warn(notes, f"{label}: {int(bad.sum())} cell(s) with {metric_} outside "
                          f"[0, 1] ({', '.join(f'{v:.4g}' for v in cells['value'][bad])}) "
                          "dropped: a proportion cannot lie there", quiet)
                    cells = cell_table(drows[drows[metric_].between(0.0, 1.0)], metric_,
                                       "frac_sample", n_total)
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
    "not_decreasing": "not reachable: the error rises (or does not fall) with n under this fit",
    "before_data": "reached already as n -> 0 under this form (n_needed = 0)",
    "not fitted": "no converged fit",
    "undefined": "no converged fit",
    "not identifiable": "not identifiable: too few points for any form's AICc",
}


def _status_note(sol: dict, y_target: float) -> str:
    """The note of a data-needed row: why a target is not reachable, with the floor's
    interval where the floor is the reason."""
    st = sol["status"]
    if st == "beyond_horizon":
        return (f"not reachable within the horizon: the estimate n* = {sol['x']:.3g} is "
                f"{sol['factor']:.3g} times the largest training size observed (horizon "
                f"{sol['horizon']:g}x); the data cannot tell a floor above the target from a "
                "very slow decline")
    if st == "floor":
        return (f"not reachable: the target error {y_target:.4g} is at or below the fitted floor "
                f"c = {sol['floor']:.4g} (95% CI [{sol['floor_ci_low']:.4g}, "
                f"{sol['floor_ci_high']:.4g}]): no amount of data reaches it")
    note = _STATUS_NOTE.get(st, st)
    if st == "ok" and np.isinf(sol["ci_high"]):
        note = ("reachable by the estimate, but the floor's interval (or forms with Akaike "
                "weight >= 2.5% whose floor is above the target) leaves the upper limit unbounded")
    return note


class DataNeededResults:
    """Training rows needed for target metrics; ``table()`` and ``summary()``."""

    def __init__(self, frame: pd.DataFrame, method: str):
        self.frame = frame
        self.method = method

    def table(self) -> pd.DataFrame:
        """experiment, frac_damage, model, metric, form ("average" for the model average),
        target, n_needed, ci_low, ci_high, se_log, df, frac_needed (n_needed / 60000),
        reachable, extrapolated, extrapolation_factor (n_needed / largest observed n; > 1
        is beyond the data), floor, floor_ci_low, floor_ci_high (the error asymptote and its
        interval; for the average, that of the weightiest form used, 0 for forms without a
        floor), weight_unreachable (Akaike weight of forms that never reach the target),
        forms (Akaike weights averaged over), status ("ok", "floor", "beyond_horizon",
        "not_decreasing", "not identifiable", ...), method, conditional_on, note."""
        return self.frame.copy()

    def summary(self) -> Summary:
        s = Summary("Training rows needed to reach a target")
        cols = ["model", "metric", "form", "target", "n_needed", "ci_low", "ci_high",
                "reachable", "extrapolation_factor"]
        if self.frame["frac_damage"].nunique() > 1:
            cols.insert(1, "frac_damage")
        s.add_df(self.frame[cols], index=False, digits=5)
        s.add_text(f"Intervals: 95%, {self.method}. extrapolation_factor: n_needed over the "
                   "largest training size observed (above 1: extrapolated, the interval then "
                   "also leans on the form holding beyond the data).")
        for cond in dict.fromkeys(self.frame["conditional_on"]):
            s.add_text(f"Conditional on: {cond}")
        for r in self.frame.itertuples():
            if r.note:
                s.add_text(f"Note: {r.model} {r.metric} {r.target:g}: {r.note}")
        return s

    def __repr__(self):
        return f"<DataNeededResults {len(self.frame)} rows>"


def _method_text(method: str, n_boot: int) -> str:
    if method == "average":
        return ("model average over forms (Akaike weights), Burnham-Anderson unconditional "
                "variance of log n*, t quantiles")
    if method == "delta":
        return "delta method on log n* (t quantiles, the fit's residual df)"
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


def data_needed(fits, targets=None, form: str = "average", method: str = "delta",
                n_boot: int = 200, seed: int = 0, n_total: int = N_TOTAL,
                horizon: float = HORIZON) -> DataNeededResults:
    """Training rows at which a fitted learning curve reaches each target metric.

    Parameters
    ----------
    fits : LearningCurveResults, or a tidy results frame (size experiment is then fitted
        for the metrics named in ``targets``)
    targets : {"acc": [0.85, 0.9], "auc": [0.98]}, or a list when the fits have one metric;
        default :data:`DEFAULT_TARGETS`
    form : "average" (default: Akaike-weighted average over the admissible forms, interval
        with the between-form spread, see :meth:`CurveSet.average_solve`), "selected" (the
        form with the lowest criterion; interval conditional on it), "all" (one row per
        form, each conditional on its form), or a form name
    method : for single forms: "delta" -- Wald interval for log n* by the delta method (t
        quantiles), mapped back, upper limit infinite when the floor's interval reaches the
        target; or "bootstrap" -- parametric bootstrap (refit ``n_boot`` simulated curves),
        percentile interval, never-reaching draws counted as infinite. The model average
        uses the delta method per form (ValueError with "bootstrap").
    n_total : full training rows, for ``frac_needed``
    horizon : an n* above ``horizon`` times the largest training size observed is "not
        reachable within the horizon" (status "beyond_horizon", the estimate in the note)

    Returns
    -------
    DataNeededResults; "not reachable" (``reachable = False``, NaN n_needed, the floor and its
    interval in the row) when the target error lies at or below the fitted floor, the curve
    does not fall with n, or n* lies beyond the horizon. Every reachable n* carries its
    extrapolation_factor (n* over the largest size observed).
    """
    if method not in ("delta", "bootstrap"):
        raise ValueError(f"method must be 'delta' or 'bootstrap', not {method!r}")
    if form == "average" and method == "bootstrap":
        raise ValueError("the model average uses the delta method per form; with "
                         "method='bootstrap' pass form='selected', 'all' or a form name")
    if isinstance(fits, pd.DataFrame):
        metrics = tuple(targets) if isinstance(targets, Mapping) else ("acc",)
        fits = fit_learning_curves(fits, metric=metrics)
    metrics = tuple(dict.fromkeys(cs.metric for cs in fits))
    tdict = _targets_dict(targets, metrics)
    rows = []
    for cs in fits:
        if cs.metric not in tdict:
            continue
        if form in ("selected", "average"):
            names = [cs.selected if form == "selected" else "average"]
        elif form == "all":
            names = list(cs.fits)
        else:
            if form not in cs.fits:
                raise ValueError(f"form {form!r} was not fitted; fitted: {list(cs.fits)}")
            names = [form]
        for name in names:
            for target in tdict[cs.metric]:
                rows.append(_need_row(cs, name, target, method, n_boot, seed, n_total,
                                      horizon))
    label = _method_text("average" if form == "average" else method, n_boot)
    return DataNeededResults(pd.DataFrame(rows), label)


def _need_row(cs: CurveSet, name, target: float, method: str, n_boot: int, seed: int,
              n_total: int, horizon: float = HORIZON) -> dict:
    """One row of the data-needed table: form ``name`` of ``cs`` ("average": the model
    average; None: nothing selected) solved for error 1 - target."""
    y = 1.0 - target
    if name == "average":
        sol = cs.average_solve(y)
        comp = cs.comparison()
        out = [f for f, st in comp["status"].items() if st.startswith("not identifiable")]
        cond = ("the admissible forms with their Akaike weights (column forms)"
                + (f", without {', '.join(out)} (not identifiable)" if out else "")
                + f"; {cs.weighting}")
    elif name is None or cs.fits.get(name) is None:
        sol = cs.average_solve(y)  # for the reason (not identifiable, rising, ...)
        sol.update(x=np.nan, ci_low=np.nan, ci_high=np.nan, reachable=False)
        if sol["status"] == "ok":
            sol["status"] = "not fitted"
        cond = cs.weighting
    else:
        fit = cs.fits[name]
        sol = fit.solve(y, method=method, n_boot=n_boot, seed=seed)
        cond = f"the form {name} being right; {cs.weighting}"
        status = CurveSet.status(fit, cs.criterion)
        if status != "ok" and fit.converged:  # a conditional answer the model choice excludes
            cond += f" (form outside the model choice: {status})"
    x = sol["x"]
    n_max = float(cs.cells["n"].max()) if len(cs.cells) else np.nan
    factor = x / n_max if sol["reachable"] and np.isfinite(x) else np.nan
    if np.isfinite(factor) and factor > horizon:
        sol.update(status="beyond_horizon", reachable=False, factor=factor, horizon=horizon,
                   ci_low=np.nan, ci_high=np.nan)
        factor = np.nan
    return {"experiment": cs.experiment, "frac_damage": cs.frac_damage, "model": cs.model,
            "metric": cs.metric, "form": name, "target": target,
            "n_needed": x if sol["reachable"] else np.nan,
            "ci_low": sol["ci_low"], "ci_high": sol["ci_high"],
            "se_log": sol.get("se_log", np.nan), "df": sol.get("df", np.nan),
            "frac_needed": x / n_total if sol["reachable"] else np.nan,
            "reachable": bool(sol["reachable"]),
            "extrapolated": bool(np.isfinite(factor) and factor > 1 + 1e-9),
            "extrapolation_factor": factor,
            "floor": sol.get("floor", np.nan), "floor_ci_low": sol.get("floor_ci_low", np.nan),
            "floor_ci_high": sol.get("floor_ci_high", np.nan),
            "weight_unreachable": sol.get("weight_unreachable", np.nan),
            "forms": sol.get("forms", ""), "status": sol["status"],
            "method": _method_text("average" if name == "average" else method, n_boot),
            "conditional_on": cond, "note": _status_note(sol, y)}


# ============================================================================================
# backtesting: fit the small sizes, predict the large ones
class BacktestResults:
    """Out-of-sample check of each form: ``table()`` and ``summary()``."""

    def __init__(self, frame: pd.DataFrame, split: float):
        self.frame, self.split = frame, split

    def table(self) -> pd.DataFrame:
        """experiment, frac_damage, model, metric, form, aicc and weight (on all cells, for
        side-by-side reading), n_fit / n_held (cells fitted / held out), n_max_fit (largest
        size fitted), rmse_held (root mean square error of the predicted error on the held-out
        cells), pi_coverage (share of held-out cells inside the 95% prediction interval),
        status, note."""
        return self.frame.copy()

    def summary(self) -> Summary:
        s = Summary(f"Backtest: fit sizes up to {self.split:g} x the largest, predict the rest")
        cols = ["model", "metric", "form", "aicc", "weight", "n_fit", "n_held", "rmse_held",
                "pi_coverage", "status"]
        if self.frame["frac_damage"].nunique() > 1:
            cols.insert(2, "frac_damage")
        s.add_df(self.frame[cols], index=False, digits=4)
        s.add_text("aicc, weight: all cells (the model choice); rmse_held: error of the "
                   "extrapolation to the held-out larger sizes; pi_coverage: share of them "
                   "inside the 95% prediction interval (t, the small-size fit's df; cell "
                   "weights as in the fit). A form that fits well in sample but extrapolates "
                   "badly shows here.")
        return s

    def __repr__(self):
        return f"<BacktestResults {len(self.frame)} rows>"


def backtest(fits: "LearningCurveResults", split: float = 0.5) -> BacktestResults:
    """Fit every form to the cells with n <= ``split`` x the largest n and predict the others.

    Parameters
    ----------
    fits : LearningCurveResults (their cells and forms are reused)
    split : share of the largest training size up to which cells are fitted (0 < split < 1)

    Returns
    -------
    BacktestResults: per curve and form, the root mean square prediction error on the
    held-out (larger) cells and the share of them inside the 95% prediction interval.
    """
    if not 0 < split < 1:
        raise ValueError(f"split must lie strictly between 0 and 1, got {split}")
    rows = []
    for cs in fits:
        comp = cs.comparison()
        cells = cs.cells
        small = cells["n"] <= split * cells["n"].max()
        fit_c, held = cells[small], cells[~small]
        for name in cs.fits:
            row = {"experiment": cs.experiment, "frac_damage": cs.frac_damage, "model": cs.model,
                   "metric": cs.metric, "form": name, "aicc": comp.loc[name, "aicc"],
                   "weight": comp.loc[name, "weight"], "n_fit": int(small.sum()),
                   "n_held": int((~small).sum()),
                   "n_max_fit": float(fit_c["n"].max()) if len(fit_c) else np.nan,
                   "rmse_held": np.nan, "pi_coverage": np.nan, "status": "", "note": ""}
            fit = fit_curve(fit_c["n"], fit_c["error"], name, fit_c["weight"],
                            x_ref=float(cells["n"].max()), quiet=True) if len(held) else None
            if fit is None or not fit.converged or fit.df_resid < 1:
                row.update(status="not fitted", note="; ".join(fit.notes) if fit else
                           "no held-out cells")
            else:
                pi = fit.predict_interval(held["n"], held["weight"])
                err = held["error"].to_numpy()
                row.update(rmse_held=float(np.sqrt(np.mean((pi["mean"] - err) ** 2))),
                           pi_coverage=float(np.mean((pi["pi_low"] <= err) & (err <= pi["pi_high"]))),
                           status=CurveSet.status(fit, cs.criterion))
            rows.append(row)
    return BacktestResults(pd.DataFrame(rows), split)


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
def _verdict(flag) -> str:
    return {True: "holds (95% CI below -1)", False: "not established at 95%",
            None: "undetermined"}[flag]


class DataQualityDerivative:
    """Modelled d n*/d q for one metric threshold.

    Attributes
    ----------
    levels : per quality q: n_needed, its interval, se of log n*, reachability, floor
    steps : derivative between neighbouring qualities
    overall : average derivative between the highest and lowest quality reaching the threshold
    per_form : form name -> (levels, steps, overall) of that form alone (conditional on it)
    fits : the per-quality LearningCurveResults
    form : "average" or the form name, per model ("cnn: average")
    """

    def __init__(self, metric, threshold, form, levels, steps, overall, fits, notes,
                 per_form=None):
        self.metric, self.threshold, self.form = metric, threshold, form
        self.levels, self.steps, self.overall = levels, steps, overall
        self.fits, self.notes = fits, notes
        self.per_form = per_form or {}

    @staticmethod
    def _level_rows(lev: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "model": lev["model"], "metric": lev["metric"], "threshold": lev["target"],
            "form": lev["form"], "scope": "level", "quality": lev["quality"],
            "n_needed": lev["n_needed"], "n_ci_low": lev["ci_low"], "n_ci_high": lev["ci_high"],
            "frac_needed": lev["frac_needed"], "reachable": lev["reachable"],
            "extrapolated": lev["extrapolated"],
            "extrapolation_factor": lev["extrapolation_factor"], "floor": lev["floor"],
            "floor_ci_low": lev["floor_ci_low"], "floor_ci_high": lev["floor_ci_high"],
            "method": lev["method"], "conditional_on": lev["conditional_on"],
            "note": lev["note"]})

    def table(self) -> pd.DataFrame:
        """Tidy rows of three kinds (column ``scope``), keyed by model, metric, threshold, form
        ("average": the model average; then one block per form, conditional on that form):

        * "level": n* at one quality -- quality, n_needed, n_ci_low, n_ci_high, frac_needed,
          reachable, extrapolated, extrapolation_factor, floor with its interval;
        * "step" (neighbouring qualities) and "overall" (highest to lowest quality reaching the
          threshold): quality_high, quality_low, derivative_obs / derivative_frac (observations,
          and fractions of 60,000, per unit quality) with ci_low_* / ci_high_*, below_minus_1
          (the whole 95% CI of the dataset-unit derivative lies below -1), elasticity
          (d log n*/d log q) with its CI and elasticity_below_minus_1, compensable (False: no
          amount of data reaches the threshold at the lower quality; the derivative is -inf).
        """
        parts = [self._level_rows(self.levels), self.steps, self.overall]
        for lev, st, ov in self.per_form.values():
            parts += [self._level_rows(lev), st, ov]
        return pd.concat([p for p in parts if len(p)], ignore_index=True)

    def summary(self) -> Summary:
        s = Summary(f"d(data)/d(quality) for {self.metric} > {self.threshold:g}, "
                     f"modelled with {self.form}")
        cols = ["model", "quality", "n_needed", "ci_low", "ci_high", "reachable",
                "extrapolation_factor", "floor", "floor_ci_low", "floor_ci_high"]
        s.add_df(self.levels[cols], index=False, digits=4)
        tab = pd.concat([self.steps, self.overall], ignore_index=True)
        cols = ["model", "scope", "quality_high", "quality_low", "derivative_frac", "ci_low_frac",
                "ci_high_frac", "elasticity", "elasticity_ci_low", "elasticity_ci_high",
                "compensable"]
        s.add_df(tab[cols], index=False, digits=4)
        for r in self.overall.itertuples():
            s.add_text(self._overall_text(r, ""))
        for name, (_, _, ov) in self.per_form.items():
            for r in ov.itertuples():
                s.add_text(self._overall_text(r, f"[form {name} only] "))
        s.add_text("Intervals are conditional on the weighting of the cells and, per form, on "
                   "that form; the average's include the spread between forms (Akaike weights, "
                   "Burnham-Anderson unconditional variance of log n*). n*: t quantiles on log "
                   "n*. Derivatives: difference quotients of independent fits (steps: "
                   "neighbouring qualities; overall: the extreme qualities reaching the "
                   "threshold, i.e. the average slope); 95% intervals from 20,000 draws of the "
                   "two log n* (t with each side's df), so they are asymmetric like n*. "
                   "'not compensable': the floor at the lower quality is above the target, no "
                   "amount of data reaches it.")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    @staticmethod
    def _overall_text(r, prefix: str) -> str:
        return (f"{prefix}{r.model}, quality {_fmt(r.quality_high, 3)} to "
                f"{_fmt(r.quality_low, 3)}: d(data)/d(quality) = {_fmt(r.derivative_frac, 3)} "
                f"datasets per unit quality [{_fmt(r.ci_low_frac, 3)}, {_fmt(r.ci_high_frac, 3)}], "
                f"'<< -1' {_verdict(r.below_minus_1)}; elasticity d log n*/d log q = "
                f"{_fmt(r.elasticity, 3)} [{_fmt(r.elasticity_ci_low, 3)}, "
                f"{_fmt(r.elasticity_ci_high, 3)}], '<< -1' "
                f"{_verdict(r.elasticity_below_minus_1)}."
                + (f" ({r.note})" if r.note else ""))

    def __repr__(self):
        return f"<DataQualityDerivative {self.metric} > {self.threshold:g} ({self.form})>"


def data_quality_derivative(df_cross: pd.DataFrame, metric: str = "acc", threshold: float = 0.90,
                            form: str = "auto", forms: Sequence[str] = FORM_NAMES,
                            criterion: str = "aicc", n_total: int = N_TOTAL,
                            quiet: bool = False, horizon: float = HORIZON) -> DataQualityDerivative:
    """Modelled d(data size)/d(quality) from the size x damage grid.

    Per quality q = 1 - frac_damage, fit every learning-curve form and solve n*(q) where the
    curve reaches ``threshold``. With ``form="auto"`` (default) n*(q) is the model average
    over the forms admissible at that quality (Akaike weights, unconditional variance; see
    :meth:`CurveSet.average_solve`), which does not depend on the order of ``forms``; each
    form's own answer, conditional on it, is kept in ``per_form`` and in the table. A form
    name uses that form only. The derivative is then a difference quotient of independent
    fits:

    * steps: (n*(q_i) - n*(q_j)) / (q_i - q_j) for neighbouring qualities -- the local slope;
    * overall: the same between the highest and the lowest quality at which the threshold is
      reachable -- the average derivative over that range (exactly the mean of dn*/dq there).

    Each is reported in observations per unit quality and in datasets (fractions of
    ``n_total``) per unit quality, with the elasticity d log n*/d log q (unit-free, the
    model-based counterpart of the R table's d_obs per relative quality step). Intervals come
    from draws of the two log n* (t with each fit's residual df), so they respect that n* is
    positive and log-normal-like. "<< -1" is declared to hold when the whole 95% interval lies
    below -1. Where the threshold is not reachable at the lower quality (its floor is above the
    target error, or n* lies beyond ``horizon`` times the largest size observed, see
    :func:`data_needed`) the step is "not compensable": derivative -inf,
    ``compensable = False``.

    Returns
    -------
    DataQualityDerivative (``levels``: n* per quality; ``table()``: steps and overall rows)
    """
    metric = _check_metric(metric)
    rows = _cross_rows(df_cross)
    fits = fit_learning_curves(rows.assign(experiment="size_x_damage"), "size_x_damage", metric,
                               forms, criterion, n_total=n_total, quiet=quiet)
    notes: list = []
    main = "average" if form == "auto" else get_form(form).name
    names = [main] + ([get_form(f).name for f in forms] if form == "auto" else [])
    blocks = {name: ([], [], []) for name in names}
    for model in dict.fromkeys(cs.model for cs in fits):
        sets = LearningCurveResults("size_x_damage",
                                    [cs for cs in fits if cs.model == model], criterion)
        for name in names:
            # the per-form blocks keep their notes in their rows: only the main one warns
            lev, st, ov = _derivative_block(sets, model, metric, threshold, name, n_total,
                                            notes if name == main else [],
                                            quiet or name != main, horizon)
            blocks[name][0].append(lev)
            blocks[name][1].append(st)
            blocks[name][2].append(ov)
    frames = {name: tuple(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
                          for parts in block) for name, block in blocks.items()}
    models = list(dict.fromkeys(cs.model for cs in fits))
    levels, steps, overall = frames.pop(main)
    return DataQualityDerivative(metric, threshold, ", ".join(f"{m}: {main}" for m in models),
                                 levels, steps, overall, fits, notes, per_form=frames)


def _derivative_block(sets, model, metric, threshold, name, n_total, notes, quiet, horizon):
    """levels, steps and overall frames of one model for one form (or "average")."""
    need = data_needed(sets, {metric: [threshold]}, form=name, n_total=n_total,
                       horizon=horizon).table()
    need["quality"] = np.round(1.0 - need["frac_damage"], 10)
    need = need.sort_values("quality", ascending=False).reset_index(drop=True)
    for r in need.itertuples():
        if not r.reachable:
            _warn(notes, f"{model}: {metric} > {threshold:g} at quality {r.quality:g}: {r.note}",
                  quiet)
    good = need["reachable"] & np.isfinite(need["se_log"]) & (need["n_needed"] > 0)
    never = need["status"].isin(["floor", "beyond_horizon"])
    base = dict(model=model, metric=metric, threshold=threshold, form=name, n_total=n_total)
    steps = []
    for i in range(len(need) - 1):
        a, b = need.iloc[i], need.iloc[i + 1]
        ok = bool(good.iloc[i] and good.iloc[i + 1])
        if ok:
            note = ""
        elif good.iloc[i] and never.iloc[i + 1]:
            note = (f"not compensable: at quality {b['quality']:g} no amount of data reaches "
                    "the threshold (" + ("floor above the target)" if b["status"] == "floor"
                                         else f"not within {horizon:g}x the data)"))
        else:
            note = "threshold not reachable (or n* undefined) at one end"
        steps.append(_difference(a, b, ok, scope="step", **base, note=note,
                                 never_low=bool(good.iloc[i] and never.iloc[i + 1])))
    idx = np.flatnonzero(good.to_numpy())
    ok = idx.size >= 2
    a, b = need.iloc[idx[0] if ok else 0], need.iloc[idx[-1] if ok else -1]
    note = "" if ok else "fewer than 2 qualities reach the threshold"
    if ok and idx.size < len(need):
        note = f"over the {idx.size} of {len(need)} qualities where the threshold is reachable"
        below = need.loc[never & (need["quality"] < b["quality"]), "quality"]
        if len(below):
            note += (f"; not compensable at quality {', '.join(f'{q:g}' for q in below)} "
                     f"(floor above the target, or beyond {horizon:g}x the data)")
    overall = [_difference(a, b, ok, scope="overall", **base, note=note)]
    return need, pd.DataFrame(steps), pd.DataFrame(overall)


def _log_draws(row: pd.Series, rng, size: int) -> np.ndarray:
    """Draws of log n* ~ log n_hat + se_log * t(df): the sampling model behind the n*
    interval, for propagating it through nonlinear functions of two n*."""
    df = row["df"] if np.isfinite(row["df"]) and row["df"] >= 1 else 1
    # capped so that exp() stays finite: a draw beyond e^700 rows is "never" for any purpose
    return np.minimum(np.log(row["n_needed"]) + row["se_log"] * rng.standard_t(df, size), 700.0)


def _difference(a: pd.Series, b: pd.Series, ok: bool, *, model, metric, threshold, form,
                n_total, scope, note, never_low: bool = False, alpha: float = 0.05,
                n_draws: int = 20000, seed: int = 0) -> dict:
    """Difference quotient of n* between qualities a (higher) and b, and the elasticity
    (log n*_a - log n*_b) / log(q_a / q_b), with (1 - alpha) percentile intervals of
    ``n_draws`` independent draws of the two log n* (t with each fit's residual df, seeded:
    Monte Carlo error of a 2.5% quantile about 1% of the interval's width). A side whose own
    n* interval is unbounded above makes the matching limit infinite. ``never_low``: the
    threshold is not reachable at quality b, the derivative is -inf (not compensable)."""
    nan = np.nan
    d = d_lo = d_hi = el = el_lo = el_hi = nan
    if ok:
        dq = a["quality"] - b["quality"]
        dlq = np.log(a["quality"] / b["quality"])
        rng = np.random.default_rng(seed)
        la, lb = _log_draws(a, rng, n_draws), _log_draws(b, rng, n_draws)
        with np.errstate(over="ignore", invalid="ignore"):
            dd = (np.exp(la) - np.exp(lb)) / dq
        ed = (la - lb) / dlq
        qs = [alpha / 2, 1 - alpha / 2]
        d = (a["n_needed"] - b["n_needed"]) / dq
        el = (np.log(a["n_needed"]) - np.log(b["n_needed"])) / dlq
        d_lo, d_hi = np.quantile(dd, qs, method="inverted_cdf")
        el_lo, el_hi = np.quantile(ed, qs, method="inverted_cdf")
        if not np.isfinite(b["ci_high"]):  # n*_b may be infinite: no lower bound
            d_lo, el_lo = -np.inf, -np.inf
        if not np.isfinite(a["ci_high"]):
            d_hi, el_hi = np.inf, np.inf
    elif never_low:
        d = d_lo = d_hi = el = el_lo = el_hi = -np.inf

    def below(x):
        return bool(x < -1) if not np.isnan(x) else None

    return {"model": model, "metric": metric, "threshold": threshold, "form": form, "scope": scope,
            "quality_high": a["quality"], "quality_low": b["quality"],
            "derivative_obs": d, "ci_low_obs": d_lo, "ci_high_obs": d_hi,
            "derivative_frac": d / n_total, "ci_low_frac": d_lo / n_total,
            "ci_high_frac": d_hi / n_total, "below_minus_1": below(d_hi / n_total),
            "elasticity": el, "elasticity_ci_low": el_lo, "elasticity_ci_high": el_hi,
            "elasticity_below_minus_1": below(el_hi), "compensable": not never_low,
            "method": ("difference quotient of independent fits; log n* draws, t quantiles"
                       if ok else ""), "note": note}


def joint_law(df_cross: pd.DataFrame, metric: str = "acc", model: str | None = None,
              n_total: int = N_TOTAL):
    """One law for size and quality on the whole size x damage grid:
    err(n, q) = c(q) + a (g(q) n)^(-b) with g(1) = 1 (see :mod:`datavsmath.stats.joint`).

    g(q) is the effective-data multiplier of label quality: one row at quality q is worth g(q)
    clean rows, with a 95% t interval from all cells at once; the fit is compared with separate
    per-quality fits by AICc. Cells are weighted as in :func:`cell_table` (binomial for single
    runs, replicate variance otherwise); cells with the metric outside [0, 1] are left out.

    Returns
    -------
    :class:`datavsmath.stats.joint.JointLawFit` (``table()``, ``summary()``, ``g()``)
    """
    from .joint import fit_joint_law

    metric = _check_metric(metric)
    rows = _cross_rows(df_cross)
    models = list(dict.fromkeys(rows["model"]))
    if model is None:
        if len(models) > 1:
            raise ValueError(f"the grid holds several models {models}; pass model=")
        model = models[0]
    rows = rows[(rows["model"] == model) & rows[metric].between(0.0, 1.0)]
    cells = {float(np.round(1.0 - d, 10)): cell_table(part, metric, "frac_sample", n_total)
             for d, part in rows.groupby("frac_damage", sort=True)}
    return fit_joint_law(cells, model=model, metric=metric)


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
        converged, extrapolated, conditional_on (what the interval assumes), note."""
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
                    "conditional_on": f"the log-logistic form; equal weights; t with "
                                      f"{fit.df_resid} df",
                    "note": "; ".join(notes)})
    return BreakdownResults(experiment, metric, definition, pd.DataFrame(out), fits)


# ============================================================================================
# everything at once
TABLE_FILES = {
    "learning_curve_fits": "learning_curve_fits.csv",
    "backtest": "backtest.csv",
    "data_needed": "data_needed.csv",
    "observations_needed_acc90": "observations_needed_acc90.csv",
    "observations_needed_auc98": "observations_needed_auc98.csv",
    "data_quality_derivative": "data_quality_derivative.csv",
    "joint_law": "joint_size_quality_law.csv",
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

    * "size": learning-curve fits, their backtest (:func:`backtest`) and data needed for
      ``targets`` (default :data:`DEFAULT_TARGETS`) for each metric;
    * "size_x_damage": the R tables (acc > 0.90, auc > 0.98), the modelled derivative and
      the joint law err = c(q) + a (g(q) n)^-b per model and metric;
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
            results.append((source, dataset, "backtest", backtest(lc)))
            tg = {m: v for m, v in _targets_dict(targets, metrics).items() if m in metrics}
            # the bootstrap is per form: with it, the selected form (conditional on it)
            results.append((source, dataset, "data_needed",
                            data_needed(lc, tg, form="average" if ci_method == "delta"
                                        else "selected", method=ci_method, n_boot=n_boot,
                                        seed=seed)))
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
                for model in dict.fromkeys(cross["model"]):
                    if cross.loc[cross["model"] == model, "frac_damage"].nunique() >= 2:
                        results.append((source, dataset, "joint_law",
                                        joint_law(cross, m, model=model)))
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
