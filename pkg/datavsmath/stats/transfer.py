"""Effective data transferred: what pretraining is worth in training rows, fitted as k n^alpha.

Hernandez et al. (2021, "Scaling laws for transfer") measure a pretrained model by the data it
saves: the effective data transferred D_T(n) is the rows a model trained from scratch would
need beyond the n the fine-tuned model saw to reach the fine-tuned model's error,

    D_T(n) = n_eff(n) - n,

and over a range of n it follows a power law, D_T = k n^alpha (alpha < 1: the pretraining is
worth relatively less the more target rows there are). Here n_eff is the project's one
currency (:func:`datavsmath.stats.exchange.effective_rows`): the rows the baseline's fitted
learning curve (the CNN from scratch) needs to reach the fine-tuned CNN's fitted error at n,
with a 95% interval from parametric draws of both curves.

The fit: least squares of log D_T on log n (statsmodels OLS), log D_T = log k + alpha log n,
at the lever's sizes, gives the point estimates. The intervals come from parametric draws, the
method of ``effective_rows``: both curves' internal parameters are drawn from their fits'
asymptotic normal laws, each draw gives a whole D_T curve over the sizes (the lever's error
solved on the baseline's drawn curve at every size, with one draw of each curve), and the same
least squares on it gives one (k, alpha); the 2.5% and 97.5% quantiles of those are the 95%
intervals. The draws keep what weights from each point's own interval would lose: the points
share the two fitted curves, so their errors are strongly correlated (a residual scale from
their scatter about a smooth curve would be far too small). A draw in which fewer than 3 sizes
have a positive, finite D_T gives no (k, alpha); their share is reported.

D_T is read off the fitted learning curves, so it is as good as they are: on synthetic curves
with a known law the intervals hold k and alpha where the fine-tuned curve stays close to a
fitted form (k = 10 to 100 with alpha = 0.45 to 0.8, tests/test_pretraining.py); a gain of
several times n at the smallest sizes (k = 300, alpha = 0.35) bends the fine-tuned curve away
from every form, and the fitted alpha came out low (0.30, interval 0.34 at most).

Sizes whose verdict is not "reachable" (the baseline never gets there, or only beyond the
horizon) or whose D_T is not positive (pretraining did not help there, or hurt) are reported
in the table with the reason and left out of the fit: a power law describes a gain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from .cells import HORIZON
from .curves import Summary
from .exchange import effective_rows, parameter_draws, rows_at
from .learning import CurveSet, fit_learning_curves
from .lever_curves import lever_curves

__all__ = ["TransferResults", "transfer_fit", "transfer_table", "COLUMNS", "LAW_COLUMNS"]

#: the columns of :func:`transfer_table`
LAW_COLUMNS = ["dataset", "lever", "baseline", "k", "k_ci_low", "k_ci_high", "alpha", "alpha_ci_low",
               "alpha_ci_high", "sizes_fitted", "note"]

#: the columns of :meth:`TransferResults.table`
COLUMNS = ["n", "n_eff", "ci_low", "ci_high", "d_t", "d_t_low", "d_t_high", "verdict", "fitted", "reason"]


@dataclass
class TransferResults:
    """The effective data transferred of a fine-tuned model against a baseline from scratch.

    Attributes
    ----------
    lever, baseline : the two models' names
    metric : the metric the curves were fitted to ("acc" or "auc"; error = 1 - metric)
    frame : one row per size (see :meth:`table`)
    k, alpha : the fitted power law D_T = k n^alpha (NaN when fewer than 3 sizes were fitted)
    k_ci, alpha_ci : their 95% intervals, (low, high)
    failed_draws : share of the parameter draws that gave no (k, alpha)
    notes : what the reader should know (points left out, too few points)
    """

    lever: str
    baseline: str
    metric: str
    frame: pd.DataFrame
    k: float = np.nan
    alpha: float = np.nan
    k_ci: tuple[float, float] = (np.nan, np.nan)
    alpha_ci: tuple[float, float] = (np.nan, np.nan)
    failed_draws: float = np.nan
    notes: list = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per size: n (target rows), n_eff with its 95% interval (ci_low, ci_high),
        d_t = n_eff - n with its interval (d_t_low, d_t_high), verdict (of :func:`~datavsmath.stats.exchange.effective_rows`),
        fitted (whether the power law used it) and reason (why not)."""
        return self.frame.copy()

    def predict(self, n) -> np.ndarray:
        """The fitted D_T at rows ``n``.

        Parameters
        ----------
        n : array-like of rows (> 0)

        Returns
        -------
        ndarray of rows, the shape of ``n``
        """
        n = np.asarray(n, dtype=float)
        return self.k * n ** self.alpha

    def summary(self) -> Summary:
        """The table, k and alpha with their intervals, the method and the notes, as text."""
        s = Summary(f"Effective data transferred: {self.lever} against {self.baseline} (1 - {self.metric})")
        s.add_df(self.frame[["n", "n_eff", "ci_low", "ci_high", "d_t", "verdict", "fitted"]],
                 index=False, digits=4)
        if np.isfinite(self.k):
            s.add_text(f"D_T = k n^alpha: k = {self.k:.4g} (95% CI {self.k_ci[0]:.4g} to {self.k_ci[1]:.4g}), "
                       f"alpha = {self.alpha:.3f} (95% CI {self.alpha_ci[0]:.3f} to {self.alpha_ci[1]:.3f}), "
                       f"from {int(self.frame['fitted'].sum())} sizes.")
        s.add_text("D_T(n) = n_eff(n) - n: the rows beyond n that the baseline needs to reach the fine-tuned "
                   "model's error at n (Hernandez et al. 2021). Least squares of log D_T on log n; 95% "
                   "intervals from parametric draws of both curves, each draw a whole D_T curve fitted the "
                   f"same way ({self.failed_draws:.0%} of the draws gave no fit).")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    def __repr__(self):
        return f"<TransferResults {self.lever} vs {self.baseline}: k={self.k:.4g}, alpha={self.alpha:.3g}>"


def _row(lever: CurveSet, baseline: CurveSet, n: float, n_draws: int, seed: int, horizon: float) -> dict:
    r = effective_rows(lever, baseline, n, n_draws=n_draws, seed=seed, horizon=horizon)
    d_t, low, high = r["n_eff"] - n, r["ci_low"] - n, r["ci_high"] - n
    reason = ""
    if r["verdict"] != "reachable":
        reason = f"{r['verdict']}: {r['note']}" if r.get("note") else r["verdict"]
    elif not d_t > 0:
        reason = f"no gain: n_eff {r['n_eff']:.0f} is not above n"
    return {"n": n, "n_eff": r["n_eff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "d_t": d_t,
            "d_t_low": low, "d_t_high": high, "verdict": r["verdict"], "fitted": not reason,
            "reason": reason}


def transfer_fit(lever: CurveSet, baseline: CurveSet, at: Sequence[float] | None = None, n_draws: int = 1000,
                 seed: int = 0, horizon: float = HORIZON) -> TransferResults:
    """Fit the effective data transferred D_T(n) = n_eff(n) - n as k n^alpha.

    Parameters
    ----------
    lever : CurveSet, the fine-tuned model's learning curve (e.g. cnn_from_mnist)
    baseline : CurveSet, the baseline's from scratch, same metric (e.g. the size experiment's cnn)
    at : rows to evaluate D_T at (> 0); default the lever's own sizes
    n_draws, seed, horizon : passed to :func:`~datavsmath.stats.exchange.effective_rows`

    Returns
    -------
    TransferResults, with k and alpha NaN (and a note) when fewer than 3 sizes have a positive,
    reachable D_T.
    """
    if lever.metric != baseline.metric:
        raise ValueError(f"the lever's curve is of {lever.metric} and the baseline's of {baseline.metric}; "
                         "give two curves of one metric")
    sizes = sorted({float(n) for n in (lever.cells["n"] if at is None else at)})
    bad = [n for n in sizes if not (np.isfinite(n) and n > 0)]
    if bad:
        raise ValueError(f"rows to evaluate at must be positive numbers, got {bad}")
    frame = pd.DataFrame([_row(lever, baseline, n, n_draws, seed, horizon) for n in sizes], columns=COLUMNS)
    out = TransferResults(lever.model, baseline.model, lever.metric, frame)
    left = frame[~frame["fitted"]]
    if len(left):
        out.notes.append(f"{len(left)} of {len(frame)} sizes left out of the fit: "
                         + "; ".join(f"n = {r.n:g}: {r.reason}" for r in left.itertuples()))
    used = frame[frame["fitted"]]
    if len(used) < 3:
        out.notes.append(f"{len(used)} sizes with a positive, reachable D_T: k and alpha need at least 3")
        return out
    return _fit_power_law(out, used["n"].to_numpy(), used["d_t"].to_numpy(), lever, baseline, n_draws, seed)


def _fit_power_law(out: TransferResults, n: np.ndarray, d_t: np.ndarray, lever: CurveSet, baseline: CurveSet,
                   n_draws: int, seed: int) -> TransferResults:
    """Least squares of log D_T on log n (the point), intervals from parametric draws."""
    import statsmodels.api as sm

    log_k, alpha = sm.OLS(np.log(d_t), sm.add_constant(np.log(n))).fit().params
    out.k, out.alpha = float(np.exp(log_k)), float(alpha)
    draws = _drawn_laws(lever, baseline, n, n_draws, seed)
    out.failed_draws = 1.0 - len(draws) / n_draws
    if len(draws):
        (k_lo, a_lo), (k_hi, a_hi) = np.quantile(draws, [0.025, 0.975], axis=0)
        out.k_ci, out.alpha_ci = (float(np.exp(k_lo)), float(np.exp(k_hi))), (float(a_lo), float(a_hi))
    return out


def _drawn_laws(lever: CurveSet, baseline: CurveSet, n: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """(m, 2) rows (log k, alpha), one per parameter draw of both curves that leaves at least
    3 sizes with a positive, finite D_T (m <= ``n_draws``)."""
    fl, fb = lever.best, baseline.best
    if fl is None or fb is None:  # a reachable n_eff needs both fits; kept for the type checker
        return np.empty((0, 2))
    rng = np.random.default_rng(seed)
    drawn = [parameter_draws(f, n_draws, rng) for f in (fl, fb)]
    log_n = np.log(n)
    out = []
    for tl, tb in zip(*drawn):
        errors = fl.form.mean(tl, n / fl.x_ref)
        d = np.array([rows_at(fb, tb, y) for y in errors]) - n
        ok = np.isfinite(d) & (d > 0)
        if ok.sum() >= 3:
            alpha, log_k = np.polyfit(log_n[ok], np.log(d[ok]), 1)
            out.append((log_k, alpha))
    return np.array(out).reshape(-1, 2)


def transfer_table(df: pd.DataFrame, metric: str = "acc", n_draws: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """:func:`transfer_fit` for every pretrained model in the results (a model registered with
    ``lever="pretraining"``) against its plain model on the size experiment of its dataset.

    Parameters
    ----------
    df : tidy results (one or more datasets)
    metric : "acc" or "auc"
    n_draws, seed : for the parametric draws

    Returns
    -------
    DataFrame with :data:`LAW_COLUMNS`, one row per (dataset, pretrained model); k and alpha NaN,
    with the reason in ``note``, when the law could not be fitted.
    """
    rows = []
    for dataset, part in df.groupby("dataset", sort=True):
        for family, model, base, fine in lever_curves(part, metric):
            size = part[(part["experiment"] == "size") & (part["model"] == base)]
            if family != "pretraining" or size.empty:
                continue
            res = transfer_fit(fine, fit_learning_curves(size, "size", metric, quiet=True).get(base, metric),
                               n_draws=n_draws, seed=seed)
            rows.append({"dataset": dataset, "lever": model, "baseline": base, "k": res.k,
                         "k_ci_low": res.k_ci[0], "k_ci_high": res.k_ci[1], "alpha": res.alpha,
                         "alpha_ci_low": res.alpha_ci[0], "alpha_ci_high": res.alpha_ci[1],
                         "sizes_fitted": int(res.frame["fitted"].sum()), "note": "; ".join(res.notes)})
    return pd.DataFrame(rows, columns=LAW_COLUMNS)
