"""Exchange rates: every lever stated in one unit, training rows of a baseline.

For a lever L (a better model, cleaner labels) at n real rows, the effective rows n_eff(n) are
the rows the baseline's fitted learning curve needs to reach L's fitted error at n; the
multiplier is n_eff / n and the rows gained n_eff - n. Beyond the horizon, or out of the
baseline's reach at any size, is an answer (a verdict), not a number.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .cells import HORIZON
from .curves import CurveFit, Summary
from .learning import CurveSet, fit_learning_curves
from .needed import status_note, verdict

__all__ = ["COLUMNS", "ExchangeResults", "effective_rows", "exchange_rates", "label_rates",
           "model_rates", "size_grid_at"]

#: the columns of :meth:`ExchangeResults.table`
COLUMNS = ["lever", "baseline", "n", "n_eff", "ci_low", "ci_high", "multiplier",
           "mult_ci_low", "mult_ci_high", "gained", "verdict", "note"]

_METHOD = ("parametric draws: both curves' internal parameters drawn from their fits' "
           "asymptotic normal laws (each conditional on its selected form); the lever's error "
           "at n is solved on the baseline's drawn curve; 2.5% and 97.5% quantiles of n_eff, "
           "draws that never reach it counted as infinite")


class ExchangeResults:
    """Effective rows of each lever against each baseline: ``table()`` and ``summary()``."""

    def __init__(self, frame: pd.DataFrame, metric: str, notes: Sequence[str] = ()):
        self.frame = frame
        self.metric = metric
        self.notes = list(notes)

    def table(self) -> pd.DataFrame:
        """lever, baseline, n (real rows of the lever), n_eff (baseline rows with the lever's
        error at n; NaN when the verdict is not "reachable"), ci_low, ci_high (95%; ci_high
        infinite when undetermined), multiplier (n_eff / n), mult_ci_low, mult_ci_high,
        gained (n_eff - n), verdict ("reachable", "not reachable", "undetermined"), note."""
        return self.frame.copy()

    def summary(self) -> Summary:
        s = Summary(f"Exchange rates in training rows (1 - {self.metric})")
        cols = ["lever", "baseline", "n", "n_eff", "ci_low", "ci_high", "multiplier", "verdict"]
        s.add_df(self.frame[cols], index=False, digits=4)
        s.add_text("n_eff: the baseline's rows reaching the lever's error at n; multiplier "
                   "n_eff / n. Intervals 95%. Better math: " + _METHOD + ". Cleaner labels: "
                   "n / g(q) from the joint law's g(q) interval.")
        for r in self.frame.itertuples():
            if r.note:
                s.add_text(f"Note: {r.lever} vs {r.baseline} at n = {r.n:g}: {r.note}")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    def __repr__(self):
        return f"<ExchangeResults {len(self.frame)} rows>"


def _draws(fit: CurveFit, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(n_draws, k) internal parameters from the fit's asymptotic normal law."""
    return rng.multivariate_normal(fit.theta, fit.cov_theta, size=n_draws,
                                   method="eigh", check_valid="ignore")


def _solve_draw(fit: CurveFit, theta: np.ndarray, y: float) -> float:
    """Rows where ``fit``'s curve with parameters ``theta`` reaches error ``y``: 0 before
    the data, inf when it never does (floor, or a curve that does not fall), NaN undefined."""
    xs, status = fit.form.inverse(theta, y)
    if status == "not_decreasing":
        return np.inf
    return xs * fit.x_ref if status != "undefined" else np.nan


def effective_rows(lever: CurveSet, baseline: CurveSet, n: float, n_draws: int = 1000,
                   seed: int = 0, horizon: float = HORIZON) -> dict:
    """Rows the baseline needs to reach the lever's fitted error at ``n`` rows.

    Method: parametric draws. Each curve's internal parameters are drawn ``n_draws`` times
    from its selected form's asymptotic normal law (``theta``, ``cov_theta``); for each pair
    of draws the lever's error at ``n`` is solved on the baseline's drawn curve. The interval
    is the 2.5% and 97.5% quantiles of those solutions (never reaching counts as infinite),
    so it holds both curves' uncertainty; the point is the baseline's fitted curve solved at
    the lever's fitted error. The verdict is :func:`datavsmath.stats.needed.verdict` with the
    share of draws that never reach as the evidence for "not reachable".

    Parameters
    ----------
    lever, baseline : CurveSet, learning curves of one metric (error = 1 - metric, rows)
    n : float, real rows of the lever (> 0)
    n_draws : int, parameter draws per curve
    seed : int, for the draws
    horizon : an n_eff above ``horizon`` times the baseline's largest size is undetermined

    Returns
    -------
    dict: y (the lever's error at n), n_eff, ci_low, ci_high, multiplier, mult_ci_low,
    mult_ci_high, gained, verdict, note.
    """
    if not (np.isfinite(n) and n > 0):
        raise ValueError(f"n must be a positive number of rows, got {n!r}")
    out = {"y": np.nan, "n_eff": np.nan, "ci_low": np.nan, "ci_high": np.inf,
           "verdict": "undetermined"}
    fl, fb = lever.best, baseline.best
    if fl is None or fb is None:
        which = ", ".join(f"{cs.model}" for cs in (lever, baseline) if cs.best is None)
        return _ratios(out | {"note": f"undetermined: no admissible fit for {which}"}, n)
    y = float(fl.predict([n])[0])
    sol = fb.solve(y)
    rng = np.random.default_rng(seed)
    tl, tb = _draws(fl, n_draws, rng), _draws(fb, n_draws, rng)
    ys = np.array([fl.form.mean(t, np.array([n / fl.x_ref]))[0] for t in tl])
    xs = np.array([_solve_draw(fb, t, yy) for t, yy in zip(tb, ys)])
    xs = xs[~np.isnan(xs)]
    with np.errstate(invalid="ignore"):
        lo, hi = np.quantile(xs, [0.025, 0.975]) if xs.size else (np.nan, np.nan)
    limit = horizon * float(baseline.cells["n"].max())
    sol.update(ci_low=float(lo), ci_high=float(hi), limit=limit, horizon=horizon,
               weight_unreachable=float(np.mean(np.isinf(xs))) if xs.size else np.nan)
    if sol["status"] == "before_data":
        sol.update(status="already_met", x=0.0)
    v = verdict(sol, y, limit)
    out.update(y=y, verdict=v, ci_low=sol["ci_low"], ci_high=sol["ci_high"])
    if v == "reachable":
        out["n_eff"] = float(sol["x"])
    elif v == "not reachable":
        out.update(ci_low=np.nan, ci_high=np.nan)
    else:
        sol["upper"] = sol["ci_high"]
        out["ci_high"] = np.inf
        if np.isfinite(sol["x"]) and sol["x"] > limit:
            sol.update(status="beyond_horizon", point=sol["x"])
    out["note"] = status_note(sol, y, v)
    return _ratios(out, n)


def _ratios(out: dict, n: float) -> dict:
    """Add the multiplier n_eff / n (with its interval) and the rows gained n_eff - n."""
    return out | {"multiplier": out["n_eff"] / n, "mult_ci_low": out["ci_low"] / n,
                  "mult_ci_high": out["ci_high"] / n, "gained": out["n_eff"] - n}


def size_grid_at(fits, at: Sequence[float] | None = None) -> list[float]:
    """The rows to price levers at: ``at``, or 6,000 and the largest size on the grid."""
    if at is not None:
        at = [float(a) for a in at]
        bad = [a for a in at if not (np.isfinite(a) and a > 0)]
        if bad:
            raise ValueError(f"--at rows must be positive numbers, got {bad}")
        return at
    n_max = max(float(cs.cells["n"].max()) for cs in fits)
    return sorted({min(6000.0, n_max), n_max})


def model_rates(fits, at: Sequence[float] | None = None, n_draws: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """The "better math" lever: each model as lever against each other model as baseline.

    Parameters
    ----------
    fits : LearningCurveResults of the size experiment (one metric)
    at : rows n to price at (default :func:`size_grid_at`'s)

    Returns
    -------
    DataFrame with :data:`COLUMNS`, one row per (lever, baseline, n).
    """
    sets = list(fits)
    rows = []
    for n in size_grid_at(sets, at):
        for lev in sets:
            for base in sets:
                if base is lev:
                    continue
                r = effective_rows(lev, base, n, n_draws=n_draws, seed=seed)
                rows.append({"lever": f"model {lev.model}", "baseline": base.model, "n": n} | r)
    return pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)


def label_rates(law, at: Sequence[float]) -> tuple[pd.DataFrame, list[str]]:
    """The "cleaner labels" lever from the joint law: a row at quality q is worth g(q) clean
    rows, so n clean rows are worth n / g(q) rows at quality q (multiplier 1 / g(q), its
    interval [1 / g_high, 1 / g_low]), the same at every n.

    Parameters
    ----------
    law : JointLawFit (:func:`datavsmath.stats.quality.joint_law`)
    at : rows n to state it at

    Returns
    -------
    (DataFrame with :data:`COLUMNS`, notes); no rows, and a note saying why, when the law is
    not identified.
    """
    if law.status != "identified":
        return (pd.DataFrame(columns=COLUMNS),
                [f"cleaner labels ({law.model}): the joint law is {law.status}; no rate"])
    rows = []
    for g in law.g().itertuples():
        if g.quality >= 1.0:
            continue
        for n in at:
            n_eff = n / g.g
            rows.append({"lever": "labels clean", "baseline": f"{law.model} at quality {g.quality:g}",
                         "n": n, "n_eff": n_eff, "ci_low": n / g.ci_high, "ci_high": n / g.ci_low,
                         "multiplier": 1 / g.g, "mult_ci_low": 1 / g.ci_high,
                         "mult_ci_high": 1 / g.ci_low, "gained": n_eff - n,
                         "verdict": "reachable", "note": ""})
    return pd.DataFrame(rows, columns=COLUMNS), []


def exchange_rates(df: pd.DataFrame, metric: str = "acc", at: Sequence[float] | None = None,
                   n_draws: int = 1000, seed: int = 0) -> ExchangeResults:
    """Every lever the results measure, in rows of a baseline.

    Parameters
    ----------
    df : tidy results of one dataset, holding the size experiment (and the size x damage grid
        for the cleaner-labels lever)
    metric : "acc" or "auc"
    at : rows to price at (default 6,000 and the largest size)

    Returns
    -------
    ExchangeResults
    """
    from .quality import joint_law

    fits = fit_learning_curves(df, experiment="size", metric=metric, quiet=True)
    at = size_grid_at(list(fits), at)
    parts = [model_rates(fits, at, n_draws=n_draws, seed=seed)]
    notes: list[str] = []
    if "size_x_damage" in set(df["experiment"]):
        labels, notes = label_rates(joint_law(df, metric), at)
        parts.append(labels)
    else:
        notes.append("cleaner labels: no size x damage grid in the results")
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(
        len(p) for p in parts) else pd.DataFrame(columns=COLUMNS)
    return ExchangeResults(frame, metric, notes)
