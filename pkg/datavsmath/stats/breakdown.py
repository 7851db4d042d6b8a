"""Breakdown points: the damage at which a model loses half its skill, with intervals."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from statsmodels.tools.numdiff import approx_fprime

from .cells import CHANCE, cell_table, check_frame, check_metric, warn_note, weighting_text
from .curves import Summary, fit_curve

__all__ = ["BREAKDOWN_DEFINITIONS", "BreakdownResults", "breakdown_points"]

# ============================================================================================
# robustness to damage
BREAKDOWN_DEFINITIONS = {
    "half_skill": "metric half-way between its clean value and chance",
    "half_clean": "metric at half its clean value",
}



class BreakdownResults:
    """Breakdown points per model; ``table()``, ``summary()``, ``fits`` (model -> CurveFit).

    Parameters
    ----------
    experiment : str
        "random_damage" or "constant_damage".
    metric : str
        "acc" or "auc".
    definition : str
        The breakdown level's definition (a key of ``BREAKDOWN_DEFINITIONS``).
    frame : pandas.DataFrame
        One row per model: the columns of :meth:`table`.
    fits : dict of str to CurveFit
        Model -> its fitted log-logistic damage curve.
    """

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
        """The breakdown points per model, highest first, with notes.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
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

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results holding the experiment's rows.
    experiment : str
        "random_damage" or "constant_damage".
    metric : {"acc", "auc"}, default "acc"
        The metric whose breakdown is found.
    definition : {"half_skill", "half_clean"}, default "half_skill"
        The breakdown level (see above).
    chance : float, optional
        The metric's chance level; default 0.1 for accuracy, 0.5 for AUC.
    models : sequence of str, optional
        Only these models (default all in ``df``).
    quiet : bool, default False
        Collect notes without issuing ``ScalingWarning``.

    Returns
    -------
    BreakdownResults; a curve that never reaches the level or a fit that fails gives NaN and
    a note (e.g. AUC under constant damage, which has no lower plateau on the grid).
    """
    metric = check_metric(metric)
    if definition not in BREAKDOWN_DEFINITIONS:
        raise ValueError(f"definition must be one of {sorted(BREAKDOWN_DEFINITIONS)}, not {definition!r}")
    chance = CHANCE[metric] if chance is None else float(chance)
    rows = check_frame(df, experiment)
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
                warn_note(notes, f"{label}: the fitted curve never crosses the breakdown level; "
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
                    "conditional_on": f"the log-logistic form; {weighting_text(cells)}; t with "
                                      f"{fit.df_resid} df",
                    "note": "; ".join(notes)})
    return BreakdownResults(experiment, metric, definition, pd.DataFrame(out), fits)

