"""Data needed: the training rows at which a learning curve reaches a target (model-averaged
over forms, log-scale intervals, reachability against the floor), and the talk's
"observations needed" tables by R's rule."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .cells import DEFAULT_TARGETS, HORIZON, N_TOTAL, check_frame, check_metric
from .curves import Summary, never_chance
from .learning import CurveSet, fit_learning_curves

__all__ = ["VERDICTS", "DataNeededResults", "ObservationsNeeded", "cross_model", "cross_rows",
           "data_needed", "observations_needed", "status_note", "targets_dict", "verdict"]


# ============================================================================================
# why a target is or is not reachable, in words
_STATUS_NOTE = {
    "not_decreasing": "not reachable: the error rises (or does not fall) with n under this fit",
    "not fitted": "undetermined: no converged fit",
    "undefined": "undetermined: no converged fit",
    "not identifiable": "undetermined: not identifiable (too few points for any form's AICc)",
}


def _g(v) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _floor_text(sol: dict) -> str:
    if sol.get("floor_assumed"):
        return "floor assumed 0 (the form has none)"
    lo, hi = sol.get("floor_ci_low", np.nan), sol.get("floor_ci_high", np.nan)
    return f"floor {sol['floor']:.4g} (95% CI [{lo:.4g}, {hi:.4g}])"


def status_note(sol: dict, y_target: float, verdict: str = "") -> str:
    """The note of a data-needed row: why its verdict is what it is, with the floor's
    interval, the weight of the forms that never reach the target and the horizon.

    Parameters
    ----------
    sol : dict
        A solution of :meth:`CurveSet.average_solve` or :meth:`CurveFit.solve`.
    y_target : float
        The target error.
    verdict : str, default ""
        The row's verdict (:func:`verdict`).

    Returns
    -------
    str
        The note; "" when there is nothing to say.
    """
    st = sol["status"]
    if st in _STATUS_NOTE:
        return _STATUS_NOTE[st]
    if st == "already_met":
        return ("already met: the fitted curve is at or below the target error before the "
                "smallest training size (n* = 0): no rows are needed beyond any run's")
    limit = sol.get("limit", np.inf)
    horizon = f"{sol.get('horizon', np.inf):g}x the largest training size"
    w_never = sol.get("weight_unreachable", np.nan)
    # a chance below 0.5% explains nothing
    never = (f"; the forms give it a {w_never:.0%} chance of never being reached"
             if np.isfinite(w_never) and w_never >= 0.005 else "")
    if verdict == "not reachable":
        return (f"not reachable: the target error {y_target:.4g} is at or below the "
                f"{_floor_text(sol)}{never}: no amount of data reaches it")
    if verdict == "reachable":
        return ""
    why = []
    if st == "beyond_horizon":
        why.append(f"the estimate n* = {_g(sol['point'])} lies beyond the horizon ({horizon})")
    hi_f = sol.get("floor_ci_high", np.nan)
    if np.isfinite(hi_f) and hi_f >= y_target:
        why.append(f"the {_floor_text(sol)} reaches the target error {y_target:.4g}")
    if never:
        why.append(never[2:])
    upper = sol.get("upper", np.nan)
    if np.isfinite(upper) and upper > limit and st != "beyond_horizon":
        why.append(f"the upper limit {_g(upper)} lies beyond the horizon ({horizon})")
    if not why:
        why.append("the upper limit is unbounded")
    lo = sol.get("ci_low", np.nan)
    at_least = f"at least {_g(lo)} rows (95% lower limit); " if np.isfinite(lo) else ""
    return f"undetermined: {at_least}" + "; ".join(why)


class DataNeededResults:
    """Training rows needed for target metrics; ``table()`` and ``summary()``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The columns of :meth:`table`.
    method : str
        How the intervals were computed, in words.
    """

    def __init__(self, frame: pd.DataFrame, method: str):
        self.frame = frame
        self.method = method

    def table(self) -> pd.DataFrame:
        """experiment, frac_damage, model, metric, form ("average" for the model average),
        target, verdict ("reachable", "not reachable" or "undetermined": see :func:`verdict`),
        n_needed (the point estimate where it lies within the horizon, also when
        undetermined; 0 when the target is met already), ci_low, ci_high (infinite when
        undetermined), se_log, df, frac_needed (n_needed / 60000), reachable (the verdict
        is "reachable"), extrapolated, extrapolation_factor (n_needed / largest observed n;
        > 1 is beyond the data), floor, floor_ci_low, floor_ci_high (the error asymptote and
        its interval; for the average, the Akaike-weighted mixture over the forms),
        floor_assumed (every form used assumes a floor of 0: no interval), weight_unreachable
        (the chance, over the forms' Akaike weights and their floors' intervals, that no data
        reach the target), forms (Akaike weights averaged over), status ("ok", "floor",
        "beyond_horizon", "already_met", "not_decreasing", "not identifiable", ...), method,
        conditional_on, note."""
        return self.frame.copy()

    def summary(self) -> Summary:
        """The rows needed per model, metric, form and target, with the interval method.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        s = Summary("Training rows needed to reach a target")
        cols = ["model", "metric", "form", "target", "verdict", "n_needed", "ci_low", "ci_high",
                "extrapolation_factor"]
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



def targets_dict(targets, metrics) -> dict:
    """Target values per metric, checked.

    Parameters
    ----------
    targets : None, float, sequence of float, or dict of str to float or sequence
        None: :data:`DEFAULT_TARGETS`; a number or list: the targets of the only metric;
        a dict: metric -> target(s).
    metrics : sequence of str
        The metrics fitted.

    Returns
    -------
    dict of str to tuple of float
        Metric -> targets, each strictly between 0 and 1.

    Raises
    ------
    ValueError
        If targets are not a dict while several metrics were fitted, or a target lies
        outside (0, 1).
    """
    if targets is None:
        return {m: DEFAULT_TARGETS[m] for m in metrics}
    if isinstance(targets, Mapping):
        out = {check_metric(m): tuple(np.atleast_1d(np.asarray(v, float))) for m, v in targets.items()}
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
    n_boot : bootstrap refits per form, with ``method="bootstrap"``
    seed : the bootstrap's seed
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
    tdict = targets_dict(targets, metrics)
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



#: the three answers to "how much data reaches the target?"
VERDICTS = ("reachable", "not reachable", "undetermined")

#: statuses that say no fit answered (the verdict is then "undetermined", with the reason)
_NO_ANSWER = ("not fitted", "undefined", "not identifiable")


def verdict(sol: dict, y_target: float, limit: float = np.inf) -> str:
    """The verdict on a target error ``y_target`` from a solution of :meth:`CurveSet.average_solve`
    or :meth:`CurveFit.solve`, with n* limited to ``limit`` rows (the horizon):

    * "not reachable": the floor's lower 95% limit is at or above the target, or the forms
      that never reach it carry at least 97.5% of the weight (a single form: it never does);
    * "reachable": the target is met already (n* = 0), or the floor's upper limit (an assumed
      floor of 0 for forms without one) is below the target and n*'s interval is finite and
      within ``limit``;
    * "undetermined" otherwise: the data do not decide, and the interval is [lower limit,
      infinity).

    Parameters
    ----------
    sol : dict
        The solution (``status``, ``ci_high``, the floor's interval, ``weight_unreachable``, ...).
    y_target : float
        The target error, in (0, 1).
    limit : float, default inf
        The horizon: the most training rows an answer may need.

    Returns
    -------
    str
        "reachable", "not reachable" or "undetermined".
    """
    status = sol["status"]
    if status in _NO_ANSWER:
        return "undetermined"
    if status in ("already_met", "before_data"):
        return "reachable"
    w_never = sol.get("weight_unreachable", np.nan)
    if not np.isfinite(w_never):  # one form: its floor's chance of lying at or above the target
        w_never = never_chance(sol, y_target)
    floor_lo, floor_hi = sol.get("floor_ci_low", np.nan), sol.get("floor_ci_high", np.nan)
    if sol.get("floor_assumed"):
        floor_lo = floor_hi = 0.0
    if (np.isfinite(floor_lo) and floor_lo >= y_target) or w_never >= 0.975:
        return "not reachable"
    if (np.isfinite(floor_hi) and floor_hi < y_target and np.isfinite(sol["ci_high"])
            and sol["ci_high"] <= limit and status == "ok"):
        return "reachable"
    return "undetermined"


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
        if sol["status"] == "before_data":
            sol.update(status="already_met", x=0.0, ci_low=0.0)
        cond = f"the form {name} being right; {cs.weighting}"
        status = CurveSet.status(fit, cs.criterion)
        if status != "ok" and fit.converged:  # a conditional answer the model choice excludes
            cond += f" (form outside the model choice: {status})"
    if "floor_assumed_weight" in sol:  # the average: its floor is assumed when every form's is
        sol["floor_assumed"] = bool(sol["floor_assumed_weight"] >= 1 - 1e-12)
    n_max = float(cs.cells["n"].max()) if len(cs.cells) else np.nan
    limit = horizon * n_max
    sol.update(horizon=horizon, limit=limit)
    v = verdict(sol, y, limit)
    x = sol["x"]
    if v == "not reachable":
        x = np.nan
        sol.update(ci_low=np.nan, ci_high=np.nan)
    elif v == "undetermined":
        sol["upper"] = sol["ci_high"]  # what the note explains: beyond the horizon, or unbounded
        sol["ci_high"] = np.inf
        if np.isfinite(x) and x > limit:
            sol.update(status="beyond_horizon", point=x)
            x = np.nan
    factor = x / n_max if np.isfinite(x) else np.nan
    return {"experiment": cs.experiment, "frac_damage": cs.frac_damage, "model": cs.model,
            "metric": cs.metric, "form": name, "target": target, "verdict": v,
            "n_needed": x, "ci_low": sol["ci_low"], "ci_high": sol["ci_high"],
            "se_log": sol.get("se_log", np.nan) if np.isfinite(x) else np.nan,
            "df": sol.get("df", np.nan),
            "frac_needed": x / n_total,
            "reachable": v == "reachable",
            "extrapolated": bool(np.isfinite(factor) and factor > 1 + 1e-9),
            "extrapolation_factor": factor,
            "floor": sol.get("floor", np.nan), "floor_ci_low": sol.get("floor_ci_low", np.nan),
            "floor_ci_high": sol.get("floor_ci_high", np.nan),
            "floor_assumed": bool(sol.get("floor_assumed", False)),
            "weight_unreachable": sol.get("weight_unreachable", np.nan),
            "forms": sol.get("forms", ""), "status": sol["status"],
            "method": _method_text("average" if name == "average" else method, n_boot),
            "conditional_on": cond, "note": status_note(sol, y, v)}



# ============================================================================================
# the R table method on the size x damage grid
def cross_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The size x damage rows of a results frame, checked (:func:`check_frame`).

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results: the grid's rows alone, or several experiments.

    Returns
    -------
    pandas.DataFrame
    """
    if "experiment" in df.columns and df["experiment"].nunique(dropna=True) > 1:
        return check_frame(df, "size_x_damage")
    return check_frame(df, None)


def cross_model(df_cross: pd.DataFrame, model: str | None) -> tuple[pd.DataFrame, str | None]:
    """The size x damage rows and the model they are about: ``model``, or the only one there.

    Parameters
    ----------
    df_cross : pandas.DataFrame
        Tidy results holding the size x damage grid.
    model : str or None
        The model; None when the grid holds one.

    Returns
    -------
    tuple of (pandas.DataFrame, str or None)
        The rows and the model (None when there are no rows).

    Raises
    ------
    ValueError
        If ``model`` is None and the grid holds several models.
    """
    rows = cross_rows(df_cross)
    models = list(dict.fromkeys(rows["model"]))
    if model is None:
        if len(models) > 1:
            raise ValueError(f"the grid holds several models {models}; pass model=")
        model = models[0] if models else None
    return rows, model



class ObservationsNeeded:
    """The R table "observations needed for > threshold": ``table()`` and ``summary()``.

    ``missing_qualities`` lists qualities where no cell exceeds the threshold (no R row).

    Parameters
    ----------
    frame : pandas.DataFrame
        R's table: quality, the metric, frac_sample, num_obs, d_obs.
    metric : {"acc", "auc"}
        The metric.
    threshold : float
        The metric's threshold.
    missing_qualities : list of float
        Qualities without a cell above the threshold.
    model : str, optional
        The model.
    spread : pandas.DataFrame, optional
        The rule per replicate (:meth:`replicate_spread`); None with one replicate.
    """

    def __init__(self, frame, metric, threshold, missing_qualities, model=None, spread=None):
        self.frame = frame
        self.metric = metric
        self.threshold = threshold
        self.missing_qualities = missing_qualities
        self.model = model
        self.spread = spread

    def table(self) -> pd.DataFrame:
        """quality, <metric> (3 decimals), frac_sample, num_obs, d_obs; decreasing quality.
        With replicates, the rule's spread across them follows (:meth:`replicate_spread`'s
        columns replicates, reaching, num_obs_min, num_obs_median, num_obs_max)."""
        if self.spread is None:
            return self.frame.copy()
        extra = self.spread.drop(columns="num_obs_by_replicate")
        return self.frame.merge(extra, on="quality", how="left")

    def replicate_spread(self) -> pd.DataFrame | None:
        """R's rule applied to each replicate on its own (None with one replicate): per
        quality, replicates (with cells at that quality), reaching (those with a cell above
        the threshold), num_obs_min / _median / _max over the reaching ones, and
        num_obs_by_replicate ("r0: 6000; r1: none; ..."); decreasing quality."""
        return None if self.spread is None else self.spread.copy()

    def summary(self) -> Summary:
        """R's table for the threshold, with notes on missing qualities and replicates.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        s = Summary(f"Observations needed for {self.metric} > {self.threshold:g} (R table method"
                    + (f", model {self.model})" if self.model else ")"))
        s.add_df(self.frame, index=False, digits=6)
        s.add_text("Per quality q = 1 - damage: the cell with the lowest metric above the threshold; "
                   "d_obs = relative change of num_obs from the previous (higher-quality) row.")
        if self.missing_qualities:
            s.add_text(f"Note: no cell exceeds the threshold at quality {self.missing_qualities}; "
                       "those rows are absent, as in R.")
        if self.spread is not None:
            s.add_text("The table averages the replicates of each cell first. R's rule on each "
                       "replicate alone (one run, as R had), num_obs per quality:")
            s.add_df(self.spread, index=False, digits=6)
        return s

    def __repr__(self):
        return f"<ObservationsNeeded {self.metric} > {self.threshold:g}: {len(self.frame)} rows>"



def observations_needed(df_cross: pd.DataFrame, metric: str = "acc", threshold: float = 0.90,
                        n_total: int = N_TOTAL, model: str | None = None,
                        ties: str = "first") -> ObservationsNeeded:
    """The reference's table method for the size x damage grid, exactly.

    For each quality q = 1 - frac_damage, among the cells whose metric is strictly above
    ``threshold``, take the cell with the lowest metric; report q, the metric rounded to 3
    decimals, frac_sample, num_obs = n_total * frac_sample and d_obs = (num_obs - previous
    num_obs) / previous num_obs, rows by decreasing q, NaN on the first (d_obs is not rounded).
    Qualities with no cell above the threshold give no row (as R's filter does). Replicates of
    a cell are averaged first. The order of the rows given does not matter: the rows are put
    in the reference's order (decreasing q) before d_obs is computed.

    Parameters
    ----------
    df_cross : tidy results holding the size x damage grid (other experiments are ignored)
    metric, threshold : e.g. ("acc", 0.90) or ("auc", 0.98)
    n_total : full training rows: num_obs = n_total * frac_sample, as R computes it
    model : which model's grid (default: the only one present; the R grid is CNN only)
    ties : cells of one quality tied for the lowest metric (exactly equal means).
        "first" (default): one row per quality, the smallest sample among them (the first
        in R's loop order, sample fractions ascending), as the reference's "the cell" reads.
        "all": every tied cell is a row, by ascending sample fraction, as dplyr's ``top_n``
        keeps ties; d_obs then also steps between the tied rows of one quality.

    Returns
    -------
    ObservationsNeeded: ``table()`` with columns quality, <metric>, frac_sample, num_obs,
    d_obs; ``missing_qualities`` lists the qualities without a row.
    """
    if ties not in ("first", "all"):
        raise ValueError(f"ties must be 'first' or 'all', got {ties!r}")
    metric = check_metric(metric)
    rows, model = cross_model(df_cross, model)
    rows = rows[(rows["model"] == model) & rows[metric].notna()]
    frame, missing = _r_rule(rows, metric, threshold, n_total, ties)
    spread = None
    reps = sorted(rows["replicate"].dropna().unique()) if "replicate" in rows.columns else []
    if len(reps) >= 2:
        spread = _replicate_spread(rows, reps, metric, threshold, n_total)
    return ObservationsNeeded(frame, metric, threshold, missing, model, spread)


def _r_rule(rows: pd.DataFrame, metric: str, threshold: float, n_total: int,
            ties: str) -> tuple[pd.DataFrame, list[float]]:
    """The reference's rule on ``rows`` (replicates of a cell averaged): the R table frame and
    the qualities without a row."""
    cells = (rows.groupby(["frac_damage", "frac_sample"], as_index=False)[metric].mean())
    cells["quality"] = np.round(1.0 - cells["frac_damage"].astype(float), 10)
    out, missing = [], []
    for q in sorted(cells["quality"].unique(), reverse=True):
        above = cells[(cells["quality"] == q) & (cells[metric] > threshold)]
        if above.empty:
            missing.append(float(q))
            continue
        lowest = above[above[metric] == above[metric].min()].sort_values("frac_sample", kind="stable")
        for best in (lowest.iloc[:1] if ties == "first" else lowest).itertuples():
            out.append({"quality": float(q), metric: round(float(getattr(best, metric)), 3),
                        "frac_sample": float(best.frac_sample),
                        "num_obs": float(np.round(n_total * best.frac_sample, 6))})
    frame = pd.DataFrame(out, columns=["quality", metric, "frac_sample", "num_obs"])
    prev = frame["num_obs"].shift(1)
    frame["d_obs"] = (frame["num_obs"] - prev) / prev
    return frame, missing


def _replicate_spread(rows: pd.DataFrame, reps, metric: str, threshold: float, n_total: int) -> pd.DataFrame:
    """R's rule on each replicate alone (ties: the first), summarised per quality."""
    per = {}
    for r in reps:
        one = rows[rows["replicate"] == r]
        frame, _ = _r_rule(one, metric, threshold, n_total, "first")
        qualities = np.round(1.0 - one["frac_damage"].astype(float), 10).unique()
        per[r] = ({float(q): None for q in qualities}
                  | {float(q): float(n) for q, n in zip(frame["quality"], frame["num_obs"])})
    out = []
    for q in sorted({q for found in per.values() for q in found}, reverse=True):
        seen = {r: found[q] for r, found in per.items() if q in found}
        reached = [n for n in seen.values() if n is not None]
        out.append({"quality": q, "replicates": len(seen), "reaching": len(reached),
                    "num_obs_min": min(reached, default=np.nan),
                    "num_obs_median": float(np.median(reached)) if reached else np.nan,
                    "num_obs_max": max(reached, default=np.nan),
                    "num_obs_by_replicate": "; ".join(f"r{int(r)}: {'none' if n is None else f'{n:g}'}"
                                                      for r, n in seen.items())})
    return pd.DataFrame(out)
