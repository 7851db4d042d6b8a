"""Learning curves: every form fitted to error against training rows, Akaike weights by AICc,
forms that cannot be identified named, and backtests of extrapolation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .cells import CRITERIA, FORM_NAMES, N_TOTAL, _check_frame, _metrics, _warn, cell_table
from .curves import CurveFit, Summary, fit_curve
from .forms import ALL_LEARNING_FORMS, get_form


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
        ..." (no converged fit, or too few points for the criterion), "error rises with n"
        (its rate is negative, or the fitted curve rises anywhere over the sizes observed),
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
        if np.any(np.diff(fit.predict(np.unique(fit.x))) > 0):
            # a falling tail is not enough: vapor pressure with b < 0 peaks at n = -b/k, which
            # may lie inside the data
            return "error rises with n"
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
        s.add_text("rate: b of a power law (e ~ n^-b), k of an exponential (per training row) "
                   "or of vapor pressure, h of the sigmoid forms (mmf, weibull, log_power); "
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
    forms : learning-curve form names: default :data:`FORM_NAMES` (the four of
        :data:`~datavsmath.stats.forms.LEARNING_FORMS`); the opt-in ones of
        :data:`~datavsmath.stats.forms.EXTENDED_FORMS` may be added
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
    if not forms or any(f not in ALL_LEARNING_FORMS for f in forms):
        raise ValueError(f"forms must be a non-empty subset of {tuple(ALL_LEARNING_FORMS)}, "
                         f"got {forms}")
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

