"""Backtests of the learning-curve forms: each fitted to the small training sizes and asked to
predict the large ones, so that a form that fits well in sample but extrapolates badly shows
beside the AICc that chose among the forms."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .curves import Summary, fit_curve
from .learning import CurveSet, LearningCurveResults

__all__ = ["BacktestResults", "backtest"]


class BacktestResults:
    """Out-of-sample check of each form: ``table()`` and ``summary()``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per (curve, form): the columns of :meth:`table`.
    split : float
        The share of the largest training size up to which cells were fitted.
    """

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
        """The backtest per curve and form, with how to read it.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
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



def backtest(fits: LearningCurveResults, split: float = 0.5) -> BacktestResults:
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

