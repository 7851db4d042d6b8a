"""Scaling laws under data pruning: does keeping the easiest or hardest rows change the
exponent of the learning curve, or only its constant, and where do keep-easy and keep-hard cross?

Sorscher et al. (2022, "Beyond neural scaling laws") predict that pruning to the easiest
examples helps when data is scarce and pruning to the hardest helps when it is plentiful, and
that good pruning can bend the power law (change its exponent), not only shift it.

Per (model, metric, selection) one curve form is fitted to error = 1 - metric against training
rows (:func:`~datavsmath.stats.curves.fit_curve`, cells weighted as in
:func:`~datavsmath.stats.cells.cell_table`): a power law, with or without a floor, since the
question is about its exponent b. Against the "random" curve of the same model and metric:

* exponent: the difference b_sel - b_random with a 95% t interval (the fits are independent:
  their standard errors add in quadrature, Welch-Satterthwaite degrees of freedom); whether
  the two 95% intervals of b overlap is reported beside it, but the verdict uses the
  difference's interval (overlapping intervals do not mean no difference);
* constant: the log ratio of the fitted errors at ``n_mid``, the geometric mean of the sizes
  observed (inside the data, where the level is best determined and least tied to b), with
  its interval the same way;
* change: "exponent" when the exponent's interval excludes 0, else "constant only" when the
  constant's does, else "none detected".

The crossover of keep_easy and keep_hard is the n where their fitted curves meet (searched
from a tenth of the smallest to ten times the largest size observed), with a delta-method
interval for log n* from both fits (implicit function theorem). Where their exponents are
not distinguishable the crossover's position is ill-determined (its derivative divides by
the exponents' difference), so it is reported as a point estimate without an interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .cells import N_TOTAL, cell_table, check_frame, metric_list, warn_note
from .curves import CurveFit, Summary, fit_curve
from .forms import get_form

__all__ = ["PRUNING_FORMS", "PruningCrossover", "PruningResults", "fit_pruning"]

#: curve forms whose exponent b the comparison is about
PRUNING_FORMS = ("power", "power_floor")
#: how far beyond the sizes observed the crossover is searched (factor each way)
CROSS_RANGE = 10.0


def _welch(se1: float, df1: float, se2: float, df2: float) -> tuple[float, float]:
    """Standard error of a difference of two independent estimates and its Welch-Satterthwaite
    degrees of freedom."""
    se = float(np.hypot(se1, se2))
    denom = se1 ** 4 / df1 + se2 ** 4 / df2 if df1 >= 1 and df2 >= 1 else np.nan
    return se, float(se ** 4 / denom) if denom and np.isfinite(denom) and denom > 0 else np.nan


def _interval(est: float, se: float, df: float, alpha: float) -> tuple[float, float]:
    if not (np.isfinite(est) and np.isfinite(se) and np.isfinite(df) and df >= 1):
        return np.nan, np.nan
    q = float(stats.t.ppf(1 - alpha / 2, df))
    return est - q * se, est + q * se


def _log_error_at(fit: CurveFit, n: float) -> tuple[float, float]:
    """(log of the fitted error at n, its delta-method standard error)."""
    if not fit.converged:
        return np.nan, np.nan
    x = np.array([n / fit.x_ref])
    mean = float(fit.form.mean(fit.theta, x)[0])
    if not mean > 0:
        return np.nan, np.nan
    g = fit.form.jac(fit.theta, x)[0] / mean
    return float(np.log(mean)), float(np.sqrt(max(g @ fit.cov_theta @ g, 0.0)))


class PruningResults:
    """Fits of one curve form per (model, metric, selection) of a pruning experiment.

    ``fits`` maps (model, metric, selection) -> :class:`CurveFit`; ``cells`` the same keys ->
    the :func:`cell_table` fitted. :meth:`table` compares every selection with ``reference``,
    :meth:`crossover` keep_easy with keep_hard (a results object of its own), :meth:`summary`
    prints the comparison.

    Parameters
    ----------
    experiment : str
        The experiment.
    fits : dict
        (model, metric, selection) -> :class:`CurveFit`.
    cells : dict
        The same keys -> the :func:`cell_table` fitted.
    form : {"power", "power_floor"}
        The form fitted.
    alpha : float, default 0.05
        One less the interval level.
    reference : str, default "random"
        The selection the others are compared with.
    notes : list of str, optional
        Notes for the summary.
    """

    def __init__(self, experiment: str, fits: dict, cells: dict, form: str, alpha: float = 0.05,
                 reference: str = "random", notes: list | None = None):
        self.experiment, self.fits, self.cells = experiment, fits, cells
        self.form, self.alpha, self.reference = form, alpha, reference
        self.notes = list(notes or [])

    @property
    def n_mid(self) -> float:
        """Geometric mean of every training size fitted: where the constants are compared."""
        ns = np.concatenate([c["n"].to_numpy(float) for c in self.cells.values()] or [np.array([np.nan])])
        return float(np.exp(np.mean(np.log(np.unique(ns)))))

    def _rate(self, fit: CurveFit) -> tuple[float, float, float, float]:
        """(b, se, ci_low, ci_high) of the fit's exponent."""
        if not fit.converged:
            return (np.nan,) * 4
        row = fit.param_table(self.alpha).loc[fit.form.rate]
        return (float(row["estimate"]), float(row["std_err"]), float(row["ci_low"]),
                float(row["ci_high"]))

    def table(self) -> pd.DataFrame:
        """One row per model x metric x selection: form, n_points, n_min, n_max; b (the exponent,
        e ~ n^-b) with std_err and ci; a (the power law's constant, error at n = 1; log-scale
        ci); c (the floor, power_floor only); n_mid and error_mid (fitted error there, with
        ci); against ``reference`` (NaN on its own rows): b_diff (b_sel - b_ref) with ci and
        Welch df, b_ci_overlap (do the two b intervals overlap), log_ratio_mid (log of
        error_mid over the reference's) with ci, and change ("exponent", "constant only",
        "none detected", "reference", "not fitted"); note. Intervals at 1 - alpha, t."""
        rows, n_mid = [], self.n_mid
        for (model, metric, sel), fit in self.fits.items():
            cells = self.cells[(model, metric, sel)]
            b, b_se, b_lo, b_hi = self._rate(fit)
            pt = fit.param_table(self.alpha) if fit.converged else None
            le, le_se = _log_error_at(fit, n_mid)
            e_lo, e_hi = _interval(le, le_se, fit.df_resid, self.alpha)
            row = {"experiment": self.experiment, "model": model, "metric": metric, "selection": sel,
                   "form": fit.form.name, "n_points": fit.nobs,
                   "n_min": float(cells["n"].min()) if len(cells) else np.nan,
                   "n_max": float(cells["n"].max()) if len(cells) else np.nan,
                   "b": b, "b_std_err": b_se, "b_ci_low": b_lo, "b_ci_high": b_hi,
                   "a": float(pt.loc["a", "estimate"]) if pt is not None else np.nan,
                   "a_ci_low": float(pt.loc["a", "ci_low"]) if pt is not None else np.nan,
                   "a_ci_high": float(pt.loc["a", "ci_high"]) if pt is not None else np.nan,
                   "c": float(pt.loc["c", "estimate"]) if pt is not None and "c" in pt.index else np.nan,
                   "n_mid": n_mid, "error_mid": np.exp(le), "error_mid_ci_low": np.exp(e_lo),
                   "error_mid_ci_high": np.exp(e_hi), "df_resid": fit.df_resid,
                   "b_diff": np.nan, "b_diff_ci_low": np.nan, "b_diff_ci_high": np.nan,
                   "b_diff_df": np.nan, "b_ci_overlap": None, "log_ratio_mid": np.nan,
                   "log_ratio_ci_low": np.nan, "log_ratio_ci_high": np.nan,
                   "change": "reference" if sel == self.reference else "not fitted",
                   "note": "; ".join(fit.notes)}
            ref = self.fits.get((model, metric, self.reference))
            if sel != self.reference and ref is not None and fit.converged and ref.converged:
                rb, rb_se, rb_lo, rb_hi = self._rate(ref)
                se, df = _welch(b_se, fit.df_resid, rb_se, ref.df_resid)
                d_lo, d_hi = _interval(b - rb, se, df, self.alpha)
                rle, rle_se = _log_error_at(ref, n_mid)
                lse, ldf = _welch(le_se, fit.df_resid, rle_se, ref.df_resid)
                l_lo, l_hi = _interval(le - rle, lse, ldf, self.alpha)
                exponent = np.isfinite(d_lo) and (d_lo > 0 or d_hi < 0)
                constant = np.isfinite(l_lo) and (l_lo > 0 or l_hi < 0)
                row.update(b_diff=b - rb, b_diff_ci_low=d_lo, b_diff_ci_high=d_hi, b_diff_df=df,
                           b_ci_overlap=bool(b_lo <= rb_hi and rb_lo <= b_hi),
                           log_ratio_mid=le - rle, log_ratio_ci_low=l_lo, log_ratio_ci_high=l_hi,
                           change="exponent" if exponent else "constant only" if constant
                           else "none detected" if np.isfinite(d_lo) else "not fitted")
            elif sel != self.reference and ref is None:
                row["note"] = "; ".join(filter(None, [row["note"], f"no {self.reference} curve to compare with"]))
            rows.append(row)
        return pd.DataFrame(rows)

    def crossover(self, low: str = "keep_easy", high: str = "keep_hard") -> PruningCrossover:
        """Where the ``low`` and ``high`` selections' fitted curves cross, per model and metric.

        Parameters
        ----------
        low, high : str, default "keep_easy" and "keep_hard"
            The two selections.

        Returns
        -------
        PruningCrossover
        """
        rows = []
        for (model, metric, sel), fe in self.fits.items():
            fh = self.fits.get((model, metric, high))
            if sel != low or fh is None:
                continue
            cells = pd.concat([self.cells[(model, metric, low)], self.cells[(model, metric, high)]])
            rows.append(_crossover(model, metric, fe, fh, cells, self.cells[(model, metric, low)],
                                   self.cells[(model, metric, high)], low, high, self.alpha))
        return PruningCrossover(pd.DataFrame(rows), low, high, self.alpha)

    def summary(self) -> Summary:
        """Each selection against the reference: exponents, constants and the change.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        cols = ["model", "metric", "selection", "b", "b_ci_low", "b_ci_high", "b_diff",
                "b_diff_ci_low", "b_diff_ci_high", "error_mid", "log_ratio_mid",
                "log_ratio_ci_low", "log_ratio_ci_high", "change"]
        s = Summary(f"Pruning ({self.experiment}): {get_form(self.form).formula} per selection, "
                    f"against {self.reference}")
        tab = self.table()
        s.add_df(tab[cols] if len(tab) else tab, index=False, digits=4)
        s.add_text(f"b: exponent (e ~ n^-b); b_diff: b minus the {self.reference} curve's b; "
                   f"error_mid: fitted error at n_mid = {self.n_mid:,.0f} rows (geometric mean of the "
                   "sizes); log_ratio_mid: log of error_mid over the reference's. Intervals "
                   f"{1 - self.alpha:.0%}, t; differences with Welch df. change: 'exponent' when "
                   "b_diff's interval excludes 0, 'constant only' when only log_ratio_mid's does.")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    def __repr__(self):
        return f"<PruningResults {self.experiment}: {len(self.fits)} curves, form {self.form}>"


class PruningCrossover:
    """Crossover of two selections' fitted curves per model and metric: :meth:`table`,
    :meth:`summary`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The columns of :meth:`table`.
    low, high : str
        The two selections compared.
    alpha : float
        One less the interval level.
    """

    def __init__(self, frame: pd.DataFrame, low: str, high: str, alpha: float):
        self.frame, self.low, self.high, self.alpha = frame, low, high, alpha

    def table(self) -> pd.DataFrame:
        """model, metric, n_cross (training rows where the two fitted curves meet; NaN when
        they do not within the range searched) with ci_low, ci_high (delta method on log n,
        t with the smaller residual df; NaN when only a point estimate is defensible),
        interval ("delta method" or "point estimate only"), lower_below (the selection with
        the lower fitted error below n_cross, or throughout when they do not cross),
        matches_sorscher (lower_below is keep_easy: easy examples when data is scarce),
        inside_data (n_cross within the sizes observed), observed_bracket (the sizes between
        which the observed errors change order, or none), b_diff (b_low - b_high) with ci,
        status and note."""
        return self.frame.copy()

    def summary(self) -> Summary:
        """Where the two selections' curves cross, per model and metric.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        s = Summary(f"Crossover of {self.low} and {self.high}")
        cols = ["model", "metric", "n_cross", "ci_low", "ci_high", "interval", "lower_below",
                "inside_data", "observed_bracket", "status"]
        s.add_df(self.frame[cols] if len(self.frame) else self.frame, index=False, digits=4)
        s.add_text(f"n_cross: where the fitted curves of {self.low} and {self.high} meet; "
                   f"lower_below: which has the lower error at smaller n. Sorscher et al. predict "
                   f"{self.low} lower below the crossover.")
        return s

    def __repr__(self):
        return f"<PruningCrossover {self.low} vs {self.high}: {len(self.frame)} curves>"


def _gap(fe: CurveFit, fh: CurveFit, u):
    """log error_low - log error_high at log n = u (array)."""
    n = np.exp(np.asarray(u, float))
    with np.errstate(all="ignore"):
        return np.log(fe.predict(n)) - np.log(fh.predict(n))


def _crossover(model, metric, fe: CurveFit, fh: CurveFit, both: pd.DataFrame, ce: pd.DataFrame,
               ch: pd.DataFrame, low: str, high: str, alpha: float) -> dict:
    out = {"model": model, "metric": metric, "low": low, "high": high, "n_cross": np.nan,
           "ci_low": np.nan, "ci_high": np.nan, "interval": "", "lower_below": "",
           "matches_sorscher": None, "inside_data": None, "observed_bracket": _observed(ce, ch, low, high),
           "b_diff": np.nan, "b_diff_ci_low": np.nan, "b_diff_ci_high": np.nan,
           "status": "not fitted", "note": ""}
    if not (fe.converged and fh.converged) or both.empty:
        out["note"] = f"no converged fit of {low if not fe.converged else high}"
        return out
    rate = fe.form.rate
    be, bh = (f.param_table(alpha).loc[rate] for f in (fe, fh))
    se, df_w = _welch(float(be["std_err"]), fe.df_resid, float(bh["std_err"]), fh.df_resid)
    d = float(be["estimate"] - bh["estimate"])
    d_lo, d_hi = _interval(d, se, df_w, alpha)
    out.update(b_diff=d, b_diff_ci_low=d_lo, b_diff_ci_high=d_hi)
    n_lo, n_hi = float(both["n"].min()), float(both["n"].max())
    u = np.linspace(np.log(n_lo / CROSS_RANGE), np.log(n_hi * CROSS_RANGE), 801)
    g = _gap(fe, fh, u)
    ok = np.isfinite(g)
    flips = np.flatnonzero(ok[:-1] & ok[1:] & (np.sign(g[:-1]) * np.sign(g[1:]) < 0))
    if not len(flips):
        finite = g[ok]
        lower = low if finite.size and np.median(finite) < 0 else high
        out.update(status="no crossover in range", lower_below=lower,
                   matches_sorscher=False if lower == high else None,
                   note=f"{lower} has the lower fitted error from {n_lo / CROSS_RANGE:,.0f} to "
                        f"{n_hi * CROSS_RANGE:,.0f} rows")
        return out
    i = int(flips[0])
    u_star = optimize.brentq(lambda v: float(_gap(fe, fh, [v])[0]), u[i], u[i + 1])
    lower = low if g[i] < 0 else high
    n_star = float(np.exp(u_star))
    out.update(n_cross=n_star, lower_below=lower, matches_sorscher=lower == low,
               inside_data=bool(n_lo <= n_star <= n_hi),
               status="crossover" if n_lo <= n_star <= n_hi else "crossover, extrapolated")
    if len(flips) > 1:
        out["note"] = f"the curves cross {len(flips)} times in the range searched; the first is reported"
    if not (np.isfinite(d_lo) and (d_lo > 0 or d_hi < 0)):
        why = (f"the exponents of {low} and {high} are not distinguishable, so where the curves "
               "cross is not determined by the data beyond this point estimate")
        out.update(interval="point estimate only", note="; ".join(filter(None, [out["note"], why])))
        return out
    # implicit function theorem: F(u, th_e, th_h) = log m_e - log m_h = 0
    x_e, x_h = np.array([n_star / fe.x_ref]), np.array([n_star / fh.x_ref])
    ge = fe.form.jac(fe.theta, x_e)[0] / fe.form.mean(fe.theta, x_e)[0]
    gh = fh.form.jac(fh.theta, x_h)[0] / fh.form.mean(fh.theta, x_h)[0]
    h = 1e-5
    dfdu = float((_gap(fe, fh, [u_star + h])[0] - _gap(fe, fh, [u_star - h])[0]) / (2 * h))
    var = (ge @ fe.cov_theta @ ge + gh @ fh.cov_theta @ gh) / dfdu ** 2
    lo, hi = _interval(u_star, float(np.sqrt(var)), min(fe.df_resid, fh.df_resid), alpha)
    out.update(ci_low=float(np.exp(lo)), ci_high=float(np.exp(hi)), interval="delta method")
    return out


def _observed(ce: pd.DataFrame, ch: pd.DataFrame, low: str, high: str) -> str:
    """Where the observed cell errors of the two selections change order, in words."""
    both = ce[["n", "error"]].merge(ch[["n", "error"]], on="n", suffixes=("_l", "_h")).sort_values("n")
    if both.empty:
        return "no common sizes"
    sign = np.sign(both["error_l"] - both["error_h"]).to_numpy()
    ns = both["n"].to_numpy()
    flips = [f"{ns[i]:,.0f} and {ns[i + 1]:,.0f}" for i in range(len(sign) - 1)
             if sign[i] * sign[i + 1] < 0]
    if flips:
        return "between " + "; ".join(flips)
    return f"none: {low if sign.mean() < 0 else high} lower at every size observed"


def fit_pruning(df: pd.DataFrame, experiment: str = "pruning", metric="acc", *,
                form: str = "power", models: Sequence[str] | None = None,
                reference: str = "random", alpha: float = 0.05, n_total: int = N_TOTAL,
                quiet: bool = False) -> PruningResults:
    """Fit ``form`` to error = 1 - metric against training rows, per model, metric and
    selection of a pruning experiment.

    Parameters
    ----------
    df : tidy results (one dataset) with a ``selection`` column; rows of other experiments
        are ignored
    experiment : the experiment whose selections are compared
    metric : "acc", "auc", or a list of both
    form : "power" (e = a n^-b, default: 2 parameters, identifiable from 5 or so sizes) or
        "power_floor" (e = c + a n^-b)
    models : restrict to these models; default all present
    reference : the selection every other one is compared with
    alpha : 1 - the interval level
    n_total : rows of the full training set, for n where ``n_train`` is missing
    quiet : collect degenerate-fit messages in the results instead of warning

    Returns
    -------
    PruningResults
    """
    if form not in PRUNING_FORMS:
        raise ValueError(f"form must be one of {PRUNING_FORMS} (the comparison is about the power "
                         f"law's exponent), got {form!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    rows = check_frame(df, experiment)
    if "selection" not in rows.columns:
        raise ValueError(f"the {experiment!r} rows have no 'selection' column: they come from an "
                         "experiment without row-selection rules")
    rows = rows.assign(selection=rows["selection"].fillna("random"))
    present = list(dict.fromkeys(rows["model"]))
    models = present if models is None else list(models)
    absent = [m for m in models if m not in present]
    if absent:
        raise ValueError(f"no rows for model(s) {absent} in {experiment!r}; present: {present}")
    selections = list(dict.fromkeys(rows["selection"]))
    order = {s: i for i, s in enumerate(("random", "keep_easy", "keep_hard"))}
    selections.sort(key=lambda s: (order.get(s, len(order)), s))
    fits, cells = {}, {}
    notes: list[str] = []
    for metric_ in metric_list(metric):
        for model in models:
            for sel in selections:
                part = rows[(rows["model"] == model) & (rows["selection"] == sel)]
                if part.empty:
                    continue
                label = f"{model} {metric_} {sel}"
                ct = cell_table(part, metric_, "frac_sample", n_total)
                bad = ~ct["value"].between(0.0, 1.0)
                if bad.any():
                    warn_note(notes, f"{label}: {int(bad.sum())} cell(s) outside [0, 1] dropped", quiet)
                    ct = ct[~bad]
                fits[(model, metric_, sel)] = fit_curve(ct["n"], ct["error"], form, ct["weight"],
                                                        label=label, quiet=quiet)
                cells[(model, metric_, sel)] = ct
    if reference not in selections:
        warn_note(notes, f"no {reference!r} rows: nothing to compare the other selections with", quiet)
    return PruningResults(experiment, fits, cells, form, alpha, reference, notes)
