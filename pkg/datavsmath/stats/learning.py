"""Learning curves: every form fitted to error against training rows, Akaike weights by AICc,
forms that cannot be identified named, and backtests of extrapolation.

The forms fitted to one curve, their choice and averages, are a
:class:`~datavsmath.stats.curveset.CurveSet` (importable from here too)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .cells import (
    CRITERIA,
    FORM_NAMES,
    N_TOTAL,
    cell_table,
    check_frame,
    metric_list,
    warn_note,
)
from .curves import CurveFit, Summary, fit_curve
from .curveset import CurveSet
from .forms import ALL_LEARNING_FORMS, get_form

__all__ = ["CurveSet", "LearningCurveResults", "fit_learning_curves"]


def _average_rows(cs: CurveSet) -> list[dict]:
    """Rows of form "average" for the long table: the exponent b over the power-law forms
    and the floor c over all admissible forms, with intervals that include the choice of
    form (MATA); ``weight`` is the Akaike weight of the forms averaged over."""
    rows = []
    base = {"experiment": cs.experiment, "frac_damage": cs.frac_damage, "model": cs.model,
            "metric": cs.metric, "form": "average", "criterion": cs.criterion,
            "n_points": len(cs.cells), "converged": True, "status": "model average",
            "admissible": False, "weighting": cs.weighting, "selected": False}
    b = cs.average_param("b")
    if np.isfinite(b["estimate"]):
        rows.append(base | {"formula": "power-law forms, Akaike-weighted", "param": "b",
                            "estimate": b["estimate"], "std_err": b["se"],
                            "ci_low": b["ci_low"], "ci_high": b["ci_high"],
                            "weight": b["weight"], "conditional_on": (
                                f"the power-law forms ({b['forms']}), MATA interval; "
                                f"{cs.weighting}"), "notes": ""})
    fl = cs.average_floor()
    if np.isfinite(fl["floor"]):
        rows.append(base | {"formula": "all admissible forms, Akaike-weighted (no floor: 0 "
                                       "assumed)", "param": "c", "estimate": fl["floor"],
                            "std_err": np.nan, "ci_low": fl["floor_ci_low"],
                            "ci_high": fl["floor_ci_high"], "weight": 1.0,
                            "conditional_on": (f"the admissible forms, MATA interval; forms "
                                               f"assuming a floor of 0 weigh "
                                               f"{fl['floor_assumed_weight']:.2f}; "
                                               f"{cs.weighting}"), "notes": ""})
    return rows


class LearningCurveResults:
    """Learning-curve fits of one experiment: a :class:`CurveSet` per (model, metric, damage).

    ``get(model, metric, frac_damage=0.0)`` returns a CurveSet; ``fit(model, metric, form=None)``
    the selected (or the named) :class:`CurveFit`; ``table()`` the tidy long table and
    ``summary()`` the readable report.

    Parameters
    ----------
    experiment : str
        The experiment fitted.
    sets : list of CurveSet
        One per (model, metric, damage level).
    criterion : {"aicc", "aic", "bic"}
        The information criterion of the model choice.
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
        """The curve of one model, metric and damage level.

        Parameters
        ----------
        model : str
            The model.
        metric : {"acc", "auc"}, default "acc"
            The metric.
        frac_damage : float, default 0.0
            The damage level (size x damage grids have several).

        Returns
        -------
        CurveSet

        Raises
        ------
        KeyError
            If there is no such curve.
        """
        for cs in self.sets:
            if cs.model == model and cs.metric == metric and np.isclose(cs.frac_damage, frac_damage):
                return cs
        raise KeyError(f"no learning curve for model={model!r}, metric={metric!r}, "
                       f"frac_damage={frac_damage}")

    def fit(self, model: str, metric: str = "acc", form: str | None = None,
            frac_damage: float = 0.0) -> CurveFit | None:
        """The selected (or the named) form's fit of one curve.

        Parameters
        ----------
        model : str
            The model.
        metric : {"acc", "auc"}, default "acc"
            The metric.
        form : str, optional
            A form's name (default: the selected form).
        frac_damage : float, default 0.0
            The damage level.

        Returns
        -------
        CurveFit or None
            None when no form was selected.

        Raises
        ------
        KeyError
            If there is no such curve or form.
        """
        cs = self.get(model, metric, frac_damage)
        return cs.best if form is None else cs.fits[form]

    def selected(self) -> pd.DataFrame:
        """model, metric, frac_damage -> selected form, with its rate b (or k) and that form's
        interval (conditional on the choice), then b_average, b_ci_low, b_ci_high: the
        exponent averaged over the power-law forms, its interval including the choice of form
        (MATA), and b_weight, their Akaike weight."""
        rows = []
        for cs in self.sets:
            row = {"model": cs.model, "metric": cs.metric, "frac_damage": cs.frac_damage,
                   "selected": cs.selected, "rate": None, "estimate": np.nan, "ci_low": np.nan,
                   "ci_high": np.nan}
            if cs.best is not None:
                rate = cs.best.form.rate
                row.update(rate=rate, **cs.best.param_table().loc[rate, ["estimate", "ci_low",
                                                                         "ci_high"]].to_dict())
            b = cs.average_param("b")
            row.update(b_average=b["estimate"], b_ci_low=b["ci_low"], b_ci_high=b["ci_high"],
                       b_weight=b["weight"])
            rows.append(row)
        return pd.DataFrame(rows)

    def table(self) -> pd.DataFrame:
        """Tidy long table, one row per model x metric x form x parameter, then per curve
        the rows of form "average" (b over the power-law forms and the floor c, model-averaged
        with intervals that include the choice of form, see :meth:`CurveSet.average_param`):
        estimate, std_err,
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
            rows += _average_rows(cs)
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        """The selected form per curve with its rate, then each curve's comparison.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        head = self.selected()
        s = Summary(f"Learning-curve fits ({self.experiment}): selected form per curve, "
                     f"by {self.criterion.upper()}")
        s.add_df(head, index=False, digits=4)
        s.add_text("rate: b of a power law (e ~ n^-b), k of an exponential (per training row) "
                   "or of vapor pressure, h of the sigmoid forms (mmf, weibull, log_power); "
                   "95% t intervals of the selected form, conditional on its choice. "
                   "b_average: the exponent averaged over the power-law forms (b_weight: their "
                   "Akaike weight), its 95% MATA interval including the choice of form.")
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
    rows = check_frame(df, experiment)
    present = list(dict.fromkeys(rows["model"]))
    models = present if models is None else list(models)
    absent = [m for m in models if m not in present]
    if absent:
        raise ValueError(f"no rows for model(s) {absent} in {experiment!r}; present: {present}")
    sets = []
    for metric_ in metric_list(metric):
        for model in models:
            mrows = rows[rows["model"] == model]
            for dmg, drows in mrows.groupby("frac_damage", sort=True):
                notes: list = []
                label = f"{model} {metric_}" + (f" damage {dmg:g}" if experiment != "size" else "")
                n_missing = int(drows[metric_].isna().sum())
                if n_missing:
                    warn_note(notes, f"{label}: {n_missing} row(s) with a missing {metric_} dropped", quiet)
                cells = cell_table(drows, metric_, "frac_sample", n_total)
                bad = ~cells["value"].between(0.0, 1.0)
                if bad.any():  # validation is check_frame's job; the fit must not use them
                    warn_note(notes, f"{label}: {int(bad.sum())} cell(s) with {metric_} outside "
                          f"[0, 1] ({', '.join(f'{v:.4g}' for v in cells['value'][bad])}) "
                          "dropped: a proportion cannot lie there", quiet)
                    cells = cell_table(drows[drows[metric_].between(0.0, 1.0)], metric_,
                                       "frac_sample", n_total)
                if (cells["value"] >= 1.0).any():
                    warn_note(notes, f"{label}: {int((cells['value'] >= 1).sum())} cell(s) with "
                          f"{metric_} = 1 (error 0); the Gaussian fit keeps them", quiet)
                fits = {f: fit_curve(cells["n"].to_numpy(), cells["error"].to_numpy(), f,
                                     cells["weight"].to_numpy(), label=label, quiet=quiet)
                        for f in forms}
                cs = CurveSet(experiment, model, metric_, float(dmg), cells, fits, criterion,
                              notes=notes)
                cs.select()
                sets.append(cs)
    return LearningCurveResults(experiment, sets, criterion)
