"""What a unit of label quality is worth: buy a target accuracy with new rows or clean labels.

The size x damage grid gives, per label quality q (= 1 - damage fraction), the training rows
n*(q) at which a model reaches a target (:func:`datavsmath.stats.quality.data_quality_derivative`,
model-averaged over learning-curve forms, with a log-scale interval, or "not reachable" where
the error floor is above the target). A user who holds ``rows`` labelled rows at quality
``quality`` can reach the target in three ways:

* **collect**: label new rows at today's quality until there are n*(q0);
* **clean**: review the labels already held until the quality is high enough that the rows
  held suffice, n*(q) <= rows;
* **mix**: clean to some quality q between the two, and collect (and clean the same way) the
  rows still missing at that quality, n*(q) - rows.

Costs, with ``cost_label`` per newly labelled row and ``cost_clean`` per cleaning action:

* ``cleaning="review"`` (default): errors are not known in advance, so raising the quality
  from q0 to q means reviewing a share f = (q - q0) / (1 - q0) of the rows (each reviewed
  label is corrected): cost_clean per reviewed row. This is the honest default for people
  checking labels by hand.
* ``cleaning="targeted"``: a detector finds exactly the wrong labels, so only the n (q - q0)
  corrected labels are paid for. An optimistic bound: real detectors miss and flag wrongly.

The cost of a plan that cleans to q is therefore
``rows * s(q) * cost_clean + max(0, n*(q) - rows) * (cost_label + s(q) * cost_clean)``, with
s(q) = f (review) or q - q0 (targeted). n*(q) between the grid's qualities is interpolated
linearly in log n* (a segment one of whose ends is not reachable counts as not reachable:
nothing is claimed where the grid says nothing). Since costs are linear in the two prices,
the plans compare through one number, the **break-even ratio**: cleaning some labels is the
cheaper way to the target exactly when cost_clean / cost_label is below
max over q of (A(q0) - A(q)) / B(q), A the rows to collect and B the cleaning actions.

Uncertainty: n*(q) at each grid quality is drawn as log n* ~ log n_hat + se_log t(df) (the
sampling model behind its interval, independent across qualities because each quality's curve
is fitted to its own cells), the whole cost curve is recomputed per draw, and intervals are
percentiles of the draws. ``p_clean_cheaper`` is the share of draws in which the cheapest plan
that cleans beats collecting; the verdict needs 95% of them either way.

The answer is conditional on the damage rule of the grid (R's size x damage grid uses the
constant rule: each damaged label moves to one fixed other class), on the model, and on the
learning-curve forms holding where n* is extrapolated beyond the rows observed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cells import check_metric
from .curves import Summary

__all__ = ["QualityValue", "advise", "value_of_quality"]

CLEANING = ("review", "targeted")

#: qualities at which the cost curve is evaluated between q0 and 1 (plus the grid's own)
_Q_STEPS = 401


def _check_inputs(rows, quality, cost_label, cost_clean, cleaning):
    from ..errors import UserError

    if not np.isfinite(rows) or rows <= 0:
        raise UserError(f"rows held must be a positive number of labelled rows, got {rows!r}")
    if not (0 < quality <= 1):
        raise UserError(f"label quality must lie in (0, 1] (1 = every label right), got {quality!r}")
    for name, v in (("cost per labelled row", cost_label), ("cost per cleaned label", cost_clean)):
        if not np.isfinite(v) or v < 0:
            raise UserError(f"{name} must be a non-negative number, got {v!r}")
    if cost_label == 0 and cost_clean == 0:
        raise UserError("both costs are 0: every plan is free; give at least one positive cost")
    if cleaning not in CLEANING:
        raise UserError(f"cleaning must be one of {', '.join(CLEANING)}, got {cleaning!r}")


def _levels_frame(levels: pd.DataFrame) -> pd.DataFrame:
    """Grid qualities ascending with log n* (NaN unless the verdict is reachable: an
    undetermined n* has no upper limit to price), se_log and df."""
    need = {"quality", "n_needed", "reachable", "se_log", "df"}
    missing = need - set(levels.columns)
    if missing:
        raise ValueError(f"levels lack columns {sorted(missing)}; pass DataQualityDerivative.levels")
    lev = levels.sort_values("quality").reset_index(drop=True)
    if lev["quality"].duplicated().any():
        raise ValueError("levels hold one quality twice: pass the rows of one model")
    n = lev["n_needed"].to_numpy(float)
    # n* = 0 ("reached already as n -> 0") is kept as one row: any rows held suffice
    ok = lev["reachable"].astype(bool).to_numpy() & np.isfinite(n) & (n >= 0)
    log_n = np.where(ok, np.log(np.where(ok, np.maximum(n, 1.0), 1.0)), np.nan)
    se = lev["se_log"].to_numpy(float)
    se = np.where(ok & np.isfinite(se), se, 0.0)
    df = lev["df"].to_numpy(float)
    df = np.where(np.isfinite(df) & (df >= 1), df, 1.0)
    status = (lev["status"].astype(str).to_numpy() if "status" in lev
              else np.where(ok, "ok", "not reachable"))
    return pd.DataFrame({"quality": lev["quality"].to_numpy(float), "log_n": log_n, "se": se,
                         "df": df, "status": status})


def _interp_log_n(q_grid: np.ndarray, log_n: np.ndarray, q: np.ndarray) -> np.ndarray:
    """log n* at qualities q (G,) from values at the grid's qualities: log_n (D, J) -> (D, G).

    Linear in q between neighbouring grid qualities; NaN (not reachable) on a segment with a
    NaN end and outside the grid. At a grid quality itself only that quality counts."""
    J = q_grid.size
    j = np.clip(np.searchsorted(q_grid, q, side="right") - 1, 0, J - 2)
    t = (q - q_grid[j]) / (q_grid[j + 1] - q_grid[j])
    out = log_n[:, j] + t * (log_n[:, j + 1] - log_n[:, j])  # NaN when either end is NaN
    k = np.minimum(np.searchsorted(q_grid, q), J - 1)
    exact = np.abs(q_grid[k] - q) < 1e-12
    out[:, exact] = log_n[:, k[exact]]
    out[:, (q < q_grid[0] - 1e-12) | (q > q_grid[-1] + 1e-12)] = np.nan
    return out


class QualityValue:
    """Plans to reach a target by collecting rows or cleaning labels, with costs and intervals.

    Built by :func:`value_of_quality`; ``summary()`` prints it, ``table()`` gives it tidy.

    Parameters
    ----------
    model, metric : str
        The model the plans are for and the metric of the target ("acc" or "auc").
    threshold : float
        The target value of ``metric``.
    rows : float
        Labelled rows held (count).
    quality : float
        Their label quality q0 in (0, 1].
    cost_label, cost_clean : float
        Price of one newly labelled row and of one cleaning action, in one currency.
    cleaning : {"review", "targeted"}
        What a cleaning action is (the module notes).
    plans : pandas.DataFrame
        One row per plan (see Attributes).
    break_even : dict
        ``estimate``, ``ci_low``, ``ci_high`` of the break-even ratio.
    p_clean_cheaper : float
        Share of draws in which the cheapest plan that cleans beats collecting.
    grid : pandas.DataFrame
        The grid's qualities with log n*, its standard error, df and status.
    n_draws : int
        Monte Carlo draws behind the intervals.

    Attributes
    ----------
    plans : pandas.DataFrame
        One row per plan ("collect", "clean", "cheapest"): target quality, rows needed, rows to
        collect, cleaning actions, cost with its 95% interval, reachable.
    break_even : dict
        The ratio cost_clean / cost_label below which cleaning is the cheaper way to the target,
        with its 95% interval (inf: collecting alone never reaches it).
    p_clean_cheaper : float
        Share of draws in which the cheapest plan that cleans beats collecting.
    verdict : str
        One sentence; a side is named only when 95% of the draws agree.
    """

    alpha = 0.05

    def __init__(self, *, model, metric, threshold, rows, quality, cost_label, cost_clean,
                 cleaning, plans, break_even, p_clean_cheaper, grid, n_draws):
        self.model, self.metric, self.threshold = model, metric, threshold
        self.rows, self.quality = rows, quality
        self.cost_label, self.cost_clean, self.cleaning = cost_label, cost_clean, cleaning
        self.plans, self.break_even = plans, break_even
        self.p_clean_cheaper = p_clean_cheaper
        self.grid, self.n_draws = grid, n_draws

    @property
    def advised(self) -> bool:
        """Whether some plan reaches the target, so that plans can be compared at all."""
        return bool(self.plans.iloc[2]["reachable"])

    @property
    def verdict(self) -> str:
        target = f"{self.metric} > {self.threshold:g}"
        p = self.p_clean_cheaper
        collect, best = self.plans.iloc[0], self.plans.iloc[2]
        if not best["reachable"]:
            unfit = self.grid["status"].str.contains("identifiable|not fitted|undefined", regex=True)
            if unfit.all():
                return (f"No advice: the learning curve of the {self.model} could not be fitted "
                        "at any label quality (too few training sizes per quality); run a bigger "
                        "profile of the size x damage experiment.")
            return (f"Neither collecting nor cleaning reaches {target} for the {self.model}: at "
                    "every quality from today's up the target is out of reach or not "
                    "determined by the data (error floor above it or its interval reaching it, "
                    "beyond the data's horizon, or no curve fitted there).")
        if p >= 1 - self.alpha:
            how = ("clean only" if best["rows_to_collect"] == 0
                   else f"clean to quality {best['quality']:.3g}, then collect")
            return (f"Cleaning is cheaper: {how} for {_money(best['cost'])} "
                    f"[{_money(best['cost_ci_low'])}, {_money(best['cost_ci_high'])}] against "
                    + (f"{_money(collect['cost'])} for collecting alone"
                       if collect["reachable"] else "no amount of collecting at today's quality")
                    + f" (cheaper in {p:.0%} of draws).")
        if p <= self.alpha:
            return (f"Collecting is cheaper: {_money(collect['cost'])} "
                    f"[{_money(collect['cost_ci_low'])}, {_money(collect['cost_ci_high'])}] "
                    f"(cleaning wins in only {p:.0%} of draws).")
        return (f"Too close to call at 95%: cleaning is cheaper in {p:.0%} of draws; it pays "
                f"while a cleaned label costs less than {self.break_even['estimate']:.3g} new "
                "labels.")

    def table(self) -> pd.DataFrame:
        """The plans with the inputs as columns (tidy, one row per plan)."""
        return self.plans.assign(model=self.model, metric=self.metric, threshold=self.threshold,
                                 rows_held=self.rows, quality_held=self.quality,
                                 cost_label=self.cost_label, cost_clean=self.cost_clean,
                                 cleaning=self.cleaning,
                                 break_even_ratio=self.break_even["estimate"],
                                 break_even_ci_low=self.break_even["ci_low"],
                                 break_even_ci_high=self.break_even["ci_high"],
                                 p_clean_cheaper=self.p_clean_cheaper)

    def summary(self) -> Summary:
        """The plans, the break-even ratio, the verdict and the cleaning model as a report.

        Returns
        -------
        Summary
            Printable as text (``str``) or HTML (in notebooks).
        """
        s = Summary(f"Collect or clean? {self.model}, {self.metric} > {self.threshold:g}, "
                    f"{self.rows:,.0f} rows at quality {self.quality:g}")
        cols = ["plan", "quality", "n_needed", "rows_to_collect", "cleaning_actions", "cost",
                "cost_ci_low", "cost_ci_high", "reachable"]
        s.add_df(self.plans[cols], index=False, digits=4)
        be = self.break_even
        if self.advised:
            s.add_text(f"Break-even: cleaning pays while cost_clean / cost_label < {be['estimate']:.4g} "
                       f"[{be['ci_low']:.4g}, {be['ci_high']:.4g}] (here "
                       + (f"{self.cost_clean / self.cost_label:.4g})." if self.cost_label > 0
                          else "inf).")
                       + f" Cleaning cheaper in {self.p_clean_cheaper:.1%} of {self.n_draws} draws.")
        else:
            s.add_text("Break-even: undetermined, since no plan reaches the target.")
        s.add_text(f"Verdict: {self.verdict}")
        s.add_text(f"Cleaning model: {self.cleaning} ("
                   + ("a share (q - q0) / (1 - q0) of the rows is reviewed, each review paid"
                      if self.cleaning == "review" else
                      "only the wrong labels are found and paid for: an optimistic bound")
                   + "). n*(q) interpolated linearly in log n between the grid's qualities; "
                   "95% percentile intervals of draws of each quality's log n*.")
        return s

    def __repr__(self):
        return f"<QualityValue {self.model} {self.metric}>{self.threshold:g}: {self.verdict}>"


def _money(x: float) -> str:
    return "never" if not np.isfinite(x) else f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def value_of_quality(levels: pd.DataFrame, *, rows: float, quality: float, cost_label: float,
                     cost_clean: float, cleaning: str = "review", model: str = "",
                     metric: str = "acc", threshold: float = float("nan"), n_draws: int = 20000,
                     seed: int = 0) -> QualityValue:
    """Cheapest way to a target: collect rows, clean labels, or both (see the module notes).

    Parameters
    ----------
    levels : pandas.DataFrame
        n* per grid quality for one model: columns quality, n_needed, reachable, se_log, df
        (``DataQualityDerivative.levels`` filtered to one model).
    rows : float
        Labelled rows held (count).
    quality : float
        Their label quality q0 in (0, 1], within the grid's range of qualities.
    cost_label, cost_clean : float
        Price of one newly labelled row and of one cleaning action, in any one currency (only
        their ratio decides which plan wins; the costs come out in that currency).
    cleaning : {"review", "targeted"}
        Pay per reviewed row, or per corrected label (an optimistic bound).
    model, metric : str
        The model and the target's metric, for the labels of the result (``levels`` decides).
    threshold : float
        The target value of ``metric``, for the labels of the result.
    n_draws, seed : int
        Monte Carlo draws of the log n* for the intervals, and their seed (reproducible).

    Returns
    -------
    QualityValue

    Raises
    ------
    UserError
        If an input is out of range, the grid has fewer than two qualities or ``quality`` lies
        outside them.
    """
    from ..errors import UserError

    _check_inputs(rows, quality, cost_label, cost_clean, cleaning)
    lev = _levels_frame(levels)
    q_grid = lev["quality"].to_numpy()
    if q_grid.size < 2:
        raise UserError("the grid has fewer than two label qualities: nothing to compare")
    if not (q_grid[0] - 1e-9 <= quality <= q_grid[-1] + 1e-9):
        raise UserError(f"quality {quality:g} lies outside the grid's qualities "
                        f"[{q_grid[0]:g}, {q_grid[-1]:g}]: the law says nothing there")
    q = np.unique(np.r_[np.linspace(quality, q_grid[-1], _Q_STEPS),
                        q_grid[q_grid >= quality - 1e-12]])
    q = q[q >= quality - 1e-12]
    rng = np.random.default_rng(seed)
    point = lev["log_n"].to_numpy()[None, :]
    draws = point + lev["se"].to_numpy() * rng.standard_t(lev["df"].to_numpy(), (n_draws, len(lev)))
    log_n = _interp_log_n(q_grid, np.vstack([point, draws]), q)  # row 0: the point estimate
    with np.errstate(over="ignore", invalid="ignore"):
        n_star = np.where(np.isfinite(log_n), np.exp(np.minimum(log_n, 700.0)), np.inf)
        span = 1.0 - quality
        share = (q - quality) / span if (cleaning == "review" and span > 0) else (q - quality)
        reach = np.isfinite(n_star)
        collect_rows = np.where(reach, np.maximum(n_star - rows, 0.0), np.inf)   # A(q), (D+1, G)
        actions = np.where(reach, (rows + collect_rows) * share, np.inf)          # B(q)
        cost = np.where(reach, collect_rows * cost_label + actions * cost_clean, np.inf)
    best = np.argmin(cost, axis=1)
    cleans = q > quality + 1e-12
    clean_best = np.min(np.where(cleans[None, :], cost, np.inf), axis=1)
    p_clean = float(np.mean(clean_best[1:] < cost[1:, 0]))
    # the break-even ratio: cleaning plan q beats collecting iff r < (A(q0) - A(q)) / B(q);
    # when collecting alone never reaches the target, any reachable cleaning plan wins
    usable = reach & cleans[None, :] & (actions > 0)
    ratio = np.full(cost.shape, -np.inf)
    with np.errstate(invalid="ignore"):
        gain = collect_rows[:, :1] - collect_rows
        ratio[usable] = (gain / np.where(usable, actions, 1.0))[usable]
    be = np.max(ratio, axis=1)

    def interval(values):
        lo, hi = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
        return float(lo), float(hi)

    def plan(name, g_index):
        col = cost[1:, g_index]
        lo, hi = interval(col)
        reach = bool(np.isfinite(cost[0, g_index]))
        return {"plan": name, "quality": float(q[g_index]), "n_needed": float(n_star[0, g_index]),
                "rows_to_collect": float(np.ceil(collect_rows[0, g_index])) if reach else np.inf,
                "cleaning_actions": float(np.ceil(actions[0, g_index])) if reach else np.inf,
                "cost": float(cost[0, g_index]), "cost_ci_low": lo, "cost_ci_high": hi,
                "reachable": reach}

    # clean only: the lowest quality at which the rows held suffice (point estimate)
    enough = np.flatnonzero(np.isfinite(n_star[0]) & (n_star[0] <= rows))
    rows_out = [plan("collect", 0)]
    if enough.size:
        rows_out.append(plan("clean", int(enough[0])))
    else:
        rows_out.append({"plan": "clean", "quality": np.nan, "n_needed": np.nan,
                         "rows_to_collect": np.nan, "cleaning_actions": np.nan, "cost": np.inf,
                         "cost_ci_low": np.inf, "cost_ci_high": np.inf, "reachable": False})
    rows_out.append(plan("cheapest", int(best[0])))
    lo, hi = interval(be[1:])
    return QualityValue(model=model, metric=metric, threshold=threshold, rows=float(rows),
                        quality=float(quality), cost_label=float(cost_label),
                        cost_clean=float(cost_clean), cleaning=cleaning,
                        plans=pd.DataFrame(rows_out),
                        break_even={"estimate": float(max(be[0], 0.0)), "ci_low": max(lo, 0.0),
                                    "ci_high": max(hi, 0.0)},
                        p_clean_cheaper=p_clean, grid=lev, n_draws=n_draws)


def advise(df_cross: pd.DataFrame, *, rows: float, quality: float, cost_label: float,
           cost_clean: float, metric: str = "acc", threshold: float = 0.90,
           model: str | None = None, cleaning: str = "review", form: str = "auto",
           n_draws: int = 20000, seed: int = 0) -> QualityValue:
    """:func:`value_of_quality` on a size x damage results frame.

    Fits the learning curve at every label quality
    (:func:`datavsmath.stats.quality.data_quality_derivative`, model average over forms by
    default) and prices the plans for one model.

    Parameters
    ----------
    df_cross : pandas.DataFrame
        Tidy results holding the size x damage grid (alone, or with other experiments).
    rows, quality, cost_label, cost_clean, cleaning, n_draws, seed
        As for :func:`value_of_quality`.
    metric : {"acc", "auc"}
        The target's metric.
    threshold : float
        The target value of ``metric``.
    model : str, optional
        The model; default the grid's only one.
    form : str
        Learning-curve form, or "auto" for the model average over forms.

    Returns
    -------
    QualityValue

    Raises
    ------
    ValueError
        If the grid holds several models and none is chosen, or holds no rows.
    """
    from .needed import cross_model
    from .quality import data_quality_derivative

    metric = check_metric(metric)
    rows_cross, model = cross_model(df_cross, model)
    if model is None:
        raise ValueError("the results hold no size x damage rows: run that experiment first")
    rows_cross = rows_cross[rows_cross["model"] == model]
    deriv = data_quality_derivative(rows_cross, metric, threshold, form=form, quiet=True)
    levels = deriv.levels[deriv.levels["model"] == model]
    return value_of_quality(levels, rows=rows, quality=quality, cost_label=cost_label,
                            cost_clean=cost_clean, cleaning=cleaning, model=model, metric=metric,
                            threshold=threshold, n_draws=n_draws, seed=seed)
