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
from .lever_curves import lever_curves, lever_of, rule_curves
from .needed import status_note, verdict

__all__ = ["COLUMNS", "FAMILIES", "ExchangeResults", "applied_rates", "dataset_rates",
           "effective_rows", "exchange_rates", "label_rates", "level_rates", "model_rates",
           "pair_rates", "parameter_draws", "rows_at", "selection_rates", "size_grid_at"]

#: the columns of :meth:`ExchangeResults.table`
COLUMNS = ["dataset", "family", "lever", "baseline", "n", "n_eff", "ci_low", "ci_high",
           "multiplier", "mult_ci_low", "mult_ci_high", "gained", "verdict", "note"]

#: the lever families, in the order of the table: a better model, cleaner labels, the same
#: model with augmented images or pretrained weights, and rows kept by a pruning rule
FAMILIES = ("better math", "cleaner labels", "augmentation", "pretraining", "pruning")

_METHOD = ("parametric draws: both curves' internal parameters drawn from their fits' "
           "asymptotic normal laws (each conditional on its selected form); the lever's error "
           "at n is solved on the baseline's drawn curve; 2.5% and 97.5% quantiles of n_eff, "
           "draws that never reach it counted as infinite")


class ExchangeResults:
    """Effective rows of each lever against each baseline: ``table()`` and ``summary()``.

    Built by :func:`exchange_rates`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rates, with :data:`COLUMNS` (see :meth:`table`).
    metric : {"acc", "auc"}
        The metric whose error (1 - metric) the curves describe.
    notes : sequence of str
        What could not be priced and why, shown under the table.
    """

    def __init__(self, frame: pd.DataFrame, metric: str, notes: Sequence[str] = ()):
        self.frame = frame
        self.metric = metric
        self.notes = list(notes)

    def table(self) -> pd.DataFrame:
        """One row per (dataset, lever, baseline, n).

        Returns
        -------
        DataFrame with :data:`COLUMNS`: dataset; family (:data:`FAMILIES`); lever and
        baseline (labels); n (real rows of the lever); n_eff (baseline rows reaching the
        lever's error at n; NaN unless the verdict is "reachable"); ci_low, ci_high (95%;
        ci_high infinite when undetermined); multiplier (n_eff / n) with mult_ci_low,
        mult_ci_high; gained (n_eff - n); verdict ("reachable", "not reachable",
        "undetermined"); note.
        """
        return self.frame.copy()

    def summary(self) -> Summary:
        """The table in text (one block per dataset when there are several), the method and
        the notes."""
        s = Summary(f"Exchange rates in training rows (1 - {self.metric})")
        cols = ["family", "lever", "baseline", "n", "n_eff", "ci_low", "ci_high", "multiplier", "verdict"]
        several = self.frame["dataset"].nunique() > 1
        for name, part in self.frame.groupby("dataset", sort=False):
            if several:
                s.add_text(f"Dataset {name}:")
            s.add_df(part[cols], index=False, digits=4)
        s.add_text("n_eff: the baseline's rows reaching the lever's error at n; multiplier "
                   "n_eff / n. Intervals 95%. Better math, augmentation, pretraining and pruning: "
                   + _METHOD + "; cleaner labels the same, with the curves at each label quality. "
                   "Rows marked (joint law): n / g(q) from the joint law's g(q) interval.")
        noted = self.frame[self.frame["note"].astype(bool)]
        for (lever, base, note), rows in noted.groupby(["lever", "baseline", "note"], sort=False):
            at = " and ".join(f"{n:,.0f}" for n in rows["n"])
            s.add_text(f"Note: {lever} vs {base} at n = {at}: {note}")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    def __repr__(self):
        return f"<ExchangeResults {len(self.frame)} rows>"


def parameter_draws(fit: CurveFit, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of a fit's internal parameters from its asymptotic normal law.

    Parameters
    ----------
    fit : CurveFit
        A converged fit (``theta``, ``cov_theta``).
    n_draws : int
        How many.
    rng : numpy.random.Generator
        The source of the draws.

    Returns
    -------
    ndarray, shape (n_draws, k)
    """
    return rng.multivariate_normal(fit.theta, fit.cov_theta, size=n_draws,
                                   method="eigh", check_valid="ignore")


def rows_at(fit: CurveFit, theta: np.ndarray, y: float) -> float:
    """Rows where ``fit``'s form with internal parameters ``theta`` (a draw) reaches error ``y``.

    Parameters
    ----------
    fit : CurveFit
        The fit whose form and row scale (``x_ref``) are used.
    theta : ndarray, shape (k,)
        Internal parameters, e.g. one row of :func:`parameter_draws`.
    y : float
        Target error.

    Returns
    -------
    float
        Rows; 0 before the data, inf when it never does (floor, or a curve that does not
        fall), NaN when undefined.
    """
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
    lever, baseline : CurveSet
        Learning curves of one metric (error = 1 - metric, against training rows).
    n : float
        Real rows of the lever (> 0).
    n_draws : int
        Parameter draws per curve.
    seed : int
        Seed of the draws.
    horizon : float
        An n_eff above ``horizon`` times the baseline's largest size is undetermined.

    Returns
    -------
    dict
        y (the lever's error at n), n_eff, ci_low, ci_high (rows), multiplier, mult_ci_low,
        mult_ci_high, gained (rows), verdict, note.

    Raises
    ------
    ValueError
        If ``n`` is not a positive number.
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
    tl, tb = parameter_draws(fl, n_draws, rng), parameter_draws(fb, n_draws, rng)
    ys = np.array([fl.form.mean(t, np.array([n / fl.x_ref]))[0] for t in tl])
    xs = np.array([rows_at(fb, t, yy) for t, yy in zip(tb, ys)])
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
    n_max = float(lever.cells["n"].max())
    if n > n_max:  # the lever's error there is its curve's extrapolation, not a measurement
        extra = f"the lever's curve is extrapolated beyond its largest size {n_max:,.0f}"
        out["note"] = f"{out['note']}; {extra}" if out["note"] else extra
    return _ratios(out, n)


def _ratios(out: dict, n: float) -> dict:
    """Add the multiplier n_eff / n (with its interval) and the rows gained n_eff - n."""
    return out | {"multiplier": out["n_eff"] / n, "mult_ci_low": out["ci_low"] / n,
                  "mult_ci_high": out["ci_high"] / n, "gained": out["n_eff"] - n}


def size_grid_at(fits, at: Sequence[float] | None = None) -> list[float]:
    """The rows to price levers at.

    Parameters
    ----------
    fits : iterable of CurveSet
        The size experiment's learning curves (their cells give the largest size).
    at : sequence of float, optional
        Rows chosen by the user (``--at``); each a positive number.

    Returns
    -------
    list of float
        ``at`` as given, else 6,000 (or less, the largest size, if the grid stops below it) and
        the largest size on the grid: one typical size and the most the data support.

    Raises
    ------
    ValueError
        If some value of ``at`` is not a positive number.
    """
    if at is not None:
        at = [float(a) for a in at]
        bad = [a for a in at if not (np.isfinite(a) and a > 0)]
        if bad:
            raise ValueError(f"--at rows must be positive numbers, got {bad}")
        return at
    n_max = max(float(cs.cells["n"].max()) for cs in fits)
    return sorted({min(6000.0, n_max), n_max})



def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)


def pair_rates(pairs: Sequence[tuple[str, CurveSet, str, CurveSet]], family: str,
               at: Sequence[float], n_draws: int = 1000, seed: int = 0) -> pd.DataFrame:
    """:func:`effective_rows` of each (lever, baseline) pair at each n.

    Parameters
    ----------
    pairs : sequence of (str, CurveSet, str, CurveSet)
        (lever label, lever's curves, baseline label, baseline's curves), all of one metric.
    family : str
        The levers' family, one of :data:`FAMILIES`.
    at : sequence of float
        Real rows n of the lever to price at.
    n_draws : int
        Parameter draws per curve behind each interval.
    seed : int
        Seed of the draws (the same seed, the same intervals).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` (``dataset`` left empty), one row per (n, pair).
    """
    rows = []
    for n in at:
        for lever_label, lever, base_label, base in pairs:
            r = effective_rows(lever, base, n, n_draws=n_draws, seed=seed)
            rows.append({"dataset": "", "family": family, "lever": lever_label,
                         "baseline": base_label, "n": n} | r)
    return _frame(rows)


def model_rates(fits, at: Sequence[float] | None = None, n_draws: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """The "better math" lever: each model as lever against each other model as baseline.

    Models that apply a lever to one of R's (:func:`lever_of`) are left out here; they are
    priced against their plain model by :func:`applied_rates`.

    Parameters
    ----------
    fits : LearningCurveResults
        The size experiment's learning curves (one metric).
    at : sequence of float, optional
        Rows n to price at (default :func:`size_grid_at`'s).
    n_draws : int
        Parameter draws per curve behind each interval.
    seed : int
        Seed of the draws (the same seed, the same intervals).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per (n, lever, baseline).
    """
    sets = [cs for cs in fits if lever_of(cs.model) is None]
    pairs = [(lev.model, lev, base.model, base) for lev in sets for base in sets if base is not lev]
    return pair_rates(pairs, "better math", size_grid_at(list(fits), at), n_draws, seed)


def applied_rates(df: pd.DataFrame, size_fits, metric: str, at: Sequence[float],
                  n_draws: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Augmentation, pretraining and any other lever applied to one of R's models.

    The lever model's learning curve (from its own experiment's size grid) is priced in rows of
    the plain model's curve on the size experiment (the same draws of rows, see the specs).

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results of one dataset.
    size_fits : LearningCurveResults
        Its size experiment's learning curves (of ``metric``).
    metric : {"acc", "auc"}
        The metric.
    at : sequence of float
        Real rows n of the lever to price at.
    n_draws : int
        Parameter draws per curve behind each interval.
    seed : int
        Seed of the draws (the same seed, the same intervals).

    Returns
    -------
    (pandas.DataFrame, list of str)
        :data:`COLUMNS`, one row per (n, lever model); notes on levers that could not be priced.
    """
    parts, notes = [], []
    present = {cs.model for cs in size_fits}
    for family, model, base, curves in lever_curves(df, metric):
        if base not in present:
            notes.append(f"{family} ({model}): the size experiment holds no {base} to price it against")
            continue
        pairs = [(model, curves, base, size_fits.get(base, metric))]
        parts.append(pair_rates(pairs, family, at, n_draws, seed))
    return _concat(parts), notes


def selection_rates(df: pd.DataFrame, metric: str, at: Sequence[float], n_draws: int = 1000,
                    seed: int = 0, experiment: str = "pruning") -> pd.DataFrame:
    """The pruning lever: n rows kept by a pruning rule priced in rows drawn at random.

    For the same model on the pruning experiment: a rule (keep easy, keep hard) is worth its
    multiplier in random rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results of one dataset holding ``experiment`` with a ``selection`` column.
    metric : {"acc", "auc"}
        The metric.
    at : sequence of float
        Real rows n of the lever to price at.
    n_draws : int
        Parameter draws per curve behind each interval.
    seed : int
        Seed of the draws (the same seed, the same intervals).
    experiment : str
        The pruning experiment's name.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per (n, model, rule); empty without the experiment or its
        random-rows rule.
    """
    by_rule = rule_curves(df, metric, experiment)
    if "random" not in by_rule:
        return _frame([])
    random = by_rule.pop("random")
    pairs = [(f"{cs.model}, {rule.replace('_', ' ')}", cs, f"{cs.model}, random rows",
              random.get(cs.model, metric))
             for rule, fits in by_rule.items() for cs in fits
             if cs.model in {r.model for r in random}]
    return pair_rates(pairs, "pruning", at, n_draws, seed)


def level_rates(df: pd.DataFrame, metric: str, at: Sequence[float], n_draws: int = 1000,
                seed: int = 0, experiment: str = "size_x_damage") -> pd.DataFrame:
    """The cleaner-labels lever from each label quality's own learning curve.

    n rows with clean labels are priced in rows at quality q = 1 - frac_damage, for the same
    model on the size x damage grid. Needs no joint law, so it answers where the law is not
    identified.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results of one dataset holding ``experiment``.
    metric : {"acc", "auc"}
        The metric.
    at : sequence of float
        Real rows n of the lever to price at.
    n_draws : int
        Parameter draws per curve behind each interval.
    seed : int
        Seed of the draws (the same seed, the same intervals).
    experiment : str
        The size x damage experiment's name.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per (n, model, damaged quality); empty without the experiment
        or its clean level.
    """
    rows = df[df["experiment"] == experiment]
    if rows.empty:
        return _frame([])
    fits = fit_learning_curves(rows, experiment=experiment, metric=metric, quiet=True)
    clean = {cs.model: cs for cs in fits if cs.frac_damage == 0.0}
    pairs = [(f"{cs.model}, clean labels", clean[cs.model],
              f"{cs.model} at quality {1.0 - cs.frac_damage:g}", cs)
             for cs in fits if cs.frac_damage > 0.0 and cs.model in clean]
    return pair_rates(pairs, "cleaner labels", at, n_draws, seed)


def label_rates(law, at: Sequence[float]) -> tuple[pd.DataFrame, list[str]]:
    """The "cleaner labels" lever from the joint law: a row at quality q is worth g(q) clean
    rows, so n clean rows are worth n / g(q) rows at quality q (multiplier 1 / g(q), its
    interval [1 / g_high, 1 / g_low]), the same at every n.

    Parameters
    ----------
    law : JointLawFit
        The joint law of size and label quality (:func:`datavsmath.stats.quality.joint_law`).
    at : sequence of float
        Rows n to state it at.

    Returns
    -------
    (pandas.DataFrame, list of str)
        :data:`COLUMNS`, one row per (n, damaged quality), and notes; no rows, and a note
        saying why, when the law is not identified.
    """
    if law.status != "identified":
        return _frame([]), [f"cleaner labels ({law.model}): the joint law is {law.status}; no rate"]
    rows = []
    for g in law.g().itertuples():
        if g.quality >= 1.0:
            continue
        for n in at:
            n_eff = n / g.g
            rows.append({"dataset": "", "family": "cleaner labels", "lever": f"{law.model}, clean labels",
                         "baseline": f"{law.model} at quality {g.quality:g} (joint law)",
                         "n": n, "n_eff": n_eff, "ci_low": n / g.ci_high, "ci_high": n / g.ci_low,
                         "multiplier": 1 / g.g, "mult_ci_low": 1 / g.ci_high,
                         "mult_ci_high": 1 / g.ci_low, "gained": n_eff - n,
                         "verdict": "reachable", "note": ""})
    return _frame(rows), []


def _concat(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else _frame([])


def dataset_rates(df: pd.DataFrame, metric: str = "acc", at: Sequence[float] | None = None,
                  n_draws: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Every lever measured on one dataset's results.

    Better math, cleaner labels (with a size x damage grid), levers applied to R's models
    (augmentation, pretraining) and pruning.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results of one dataset, holding its size experiment.
    metric : {"acc", "auc"}
        The metric.
    at : sequence of float, optional
        Rows to price at (default 6,000 and the largest size of the size experiment).
    n_draws : int
        Parameter draws per curve behind each interval.
    seed : int
        Seed of the draws (the same seed, the same intervals).

    Returns
    -------
    (pandas.DataFrame, list of str)
        :data:`COLUMNS` with ``dataset`` left empty; notes on what is not measured or could not
        be priced.
    """
    from .quality import joint_law

    size = df[df["experiment"] == "size"]
    plain = [m for m in dict.fromkeys(size["model"]) if lever_of(m) is None]
    fits = fit_learning_curves(size, experiment="size", metric=metric, models=plain, quiet=True)
    at = size_grid_at(list(fits), at)
    parts = [model_rates(fits, at, n_draws=n_draws, seed=seed)]
    notes: list[str] = []
    if "size_x_damage" in set(df["experiment"]):
        parts.append(level_rates(df, metric, at, n_draws, seed))
        labels, more = label_rates(joint_law(df, metric), at)
        parts.append(labels)
        notes += more
    else:
        notes.append("cleaner labels: no size x damage grid in the results")
    applied, more = applied_rates(df, fits, metric, at, n_draws, seed)
    parts.append(applied)
    notes += more
    parts.append(selection_rates(df, metric, at, n_draws, seed))
    measured = {f for p in parts for f in p["family"]}
    missing = [f for f in FAMILIES if f not in measured and f != "cleaner labels"]
    if missing:
        notes.append(f"not measured in these results: {', '.join(missing)}")
    return _concat(parts), notes


def exchange_rates(df: pd.DataFrame, metric: str = "acc", at: Sequence[float] | None = None,
                   n_draws: int = 1000, seed: int = 0) -> ExchangeResults:
    """Every lever the results measure, in rows of a baseline.

    For each dataset that has a size experiment (:func:`dataset_rates`); a dataset without
    one is named in the notes.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (one or more datasets; a frame without a ``dataset`` column is one).
    metric : {"acc", "auc"}
        The metric.
    at : sequence of float, optional
        Rows to price at (default 6,000 and the largest size).
    n_draws : int
        Parameter draws per curve behind each interval.
    seed : int
        Seed of the draws (the same seed, the same intervals).

    Returns
    -------
    ExchangeResults

    Raises
    ------
    ValueError
        If no dataset in the results has a size experiment.
    """
    if "dataset" not in df.columns:
        df = df.assign(dataset="")
    parts, notes = [], []
    for name, rows in df.groupby("dataset", sort=False):
        if not (rows["experiment"] == "size").any():
            notes.append(f"{name}: no size experiment, so no baseline curve to price levers in")
            continue
        frame, more = dataset_rates(rows, metric, at, n_draws, seed)
        parts.append(frame.assign(dataset=name))
        notes += [f"{name}: {m}" if df["dataset"].nunique() > 1 else m for m in more]
    if not parts:
        raise ValueError("no dataset in the results has a size experiment; `datavsmath run size` makes one")
    return ExchangeResults(_concat(parts), metric, notes)
