"""One law for training size and label quality, fitted to the whole size x damage grid.

Model, for training rows n and label quality q = 1 - damage (one level per damage fraction)::

    err(n, q) = c(q) + a (g(q) n)^(-b),      g(1) = 1,

with independent Gaussian noise of variance sigma^2 / w per cell (the weights of
:func:`datavsmath.stats.scaling.cell_table`: binomial for single runs). ``g(q)`` is the
*effective-data multiplier* of label quality: a training row at quality q is worth g(q) clean
rows, so "how much data is a unit of quality worth" becomes a parameter with an interval,
estimated from all cells at once instead of from differences of separate fits. ``c(q)`` is the
floor at quality q; ``a`` and ``b`` are shared.

Estimation: weighted nonlinear least squares (scipy's ``least_squares``, several starts from
the per-quality power-law-with-floor fits), covariance s^2 (J' W J)^-1 with s^2 = RSS_w / (m - p),
Student-t intervals with m - p degrees of freedom; g(q) and a on the log scale. The law is
compared with separate power-law-with-floor fits per quality (3 parameters each, one common
noise variance) by AICc on the same weighted Gaussian likelihood.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .curves import Summary, fit_curve

__all__ = ["JointLawFit", "fit_joint_law"]


def _unpack(theta: np.ndarray, J: int):
    """theta = [log A, b, log g_2..log g_J, c_1..c_J] -> (log A, b, log g (J,), c (J,))."""
    log_g = np.r_[0.0, theta[2:J + 1]]
    return theta[0], theta[1], log_g, theta[J + 1:]


def _mean(theta, x, level, J):
    """err at scaled size x = n / n_ref (m,) and level index (m,) -> (m,). The exponent is
    capped at 700 so that a trial step of the optimiser far from the data gives a huge but
    finite residual (whose gradient still points back) instead of inf."""
    log_a, b, log_g, c = _unpack(theta, J)
    return c[level] + np.exp(np.minimum(log_a - b * (log_g[level] + np.log(x)), 700.0))


#: the joint law is "not identified" when an interval of g(q) or a spans more than this
#: factor (two orders of magnitude: the data then say nothing useful about that parameter),
#: when the exponent b's interval holds 0 (g enters only through g^-b, so it is then not
#: determined), or when the information matrix is numerically singular
IDENTIFIED_SPAN = 100.0
_COND_LIMIT = 1e12


def _identification(theta, cov, jac, params: pd.DataFrame) -> str:
    """'' when the law is identified, else the reason, naming the parameters."""
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        return "the information matrix is singular (no finite standard errors)"
    scale = np.sqrt(np.sum(jac ** 2, axis=0))
    if np.all(scale > 0):
        cond = np.linalg.cond(jac / scale) ** 2  # that of J'J, columns scaled to unit length
        if not cond < _COND_LIMIT:
            return f"the information matrix is near-singular (condition number {cond:.2g})"
    why = []
    b = params[params["param"] == "b"].iloc[0]
    if b["ci_low"] <= 0 <= b["ci_high"]:
        why.append(f"b = {b['estimate']:.3g} [{b['ci_low']:.3g}, {b['ci_high']:.3g}] holds 0, "
                   "so g(q), which enters as g^-b, is not determined")
    spans = params[params["param"].str.startswith("g(") | (params["param"] == "a")]
    wide = spans[(spans["ci_high"] / spans["ci_low"]) > IDENTIFIED_SPAN]
    if len(wide):
        why.append("intervals spanning more than a factor " f"{IDENTIFIED_SPAN:g}: "
                   + ", ".join(f"{r.param} = {r.estimate:.3g} [{r.ci_low:.3g}, {r.ci_high:.3g}]"
                               for r in wide.itertuples()))
    return "; ".join(why)


def _llf(rss: float, w: np.ndarray) -> float:
    """Gaussian log-likelihood with sigma profiled out (weights w normalised to mean 1)."""
    m = w.size
    return float(-0.5 * m * (np.log(2 * np.pi * max(rss, 1e-300) / m) + 1) + 0.5 * np.log(w).sum())


def _aicc(llf: float, K: int, m: int) -> float:
    return -2 * llf + 2 * K + (2 * K * (K + 1) / (m - K - 1) if m - K - 1 > 0 else np.nan)


class JointLawFit:
    """The fitted joint law. ``params`` (table of a, b, g(q), c(q) with intervals),
    ``comparison`` (AICc against separate per-quality fits), ``n_needed(target_error, q)``,
    ``table()`` and ``summary()``.

    Attributes
    ----------
    qualities : (J,) label qualities, the first is the reference (g = 1, the highest quality)
    theta, cov : internal estimates (p,) and covariance (p, p)
    df_resid : m - p; sigma : residual sd at weight 1
    converged : bool, the optimiser's report; not_identified : str, why the identification
    check failed ("" when it passed); status : "identified", "not identified: ..." or
    "not converged"; notes : list of str

    Parameters
    ----------
    model, metric : str
        Labels for the tables.
    qualities : array-like of float, shape (J,)
        Label qualities, the reference first.
    n_ref : float
        The training rows at which ``a`` is parametrised internally.
    theta : array-like of float, shape (p,)
        Internal estimates.
    cov : array-like of float, shape (p, p)
        Their covariance.
    rss : float
        Weighted residual sum of squares.
    w : numpy.ndarray, shape (m,)
        Cell weights.
    resid : numpy.ndarray, shape (m,)
        Residuals (error units).
    converged : bool
        The optimiser's report.
    notes : list of str
        Notes for the summary.
    separate : dict or None
        AICc and fit of separate per-quality power laws with floor, for :meth:`comparison`.
    level : numpy.ndarray of int, shape (m,), optional
        Each cell's index into ``qualities``.
    """

    alpha = 0.05

    def __init__(self, model, metric, qualities, n_ref, theta, cov, rss, w, resid, converged,
                 notes, separate, level=None):
        self.model, self.metric = model, metric
        self.qualities = np.asarray(qualities, float)
        self.n_ref = float(n_ref)
        self.theta, self.cov = np.asarray(theta, float), np.asarray(cov, float)
        self.nobs = int(w.size)
        self.k = self.theta.size
        self.df_resid = self.nobs - self.k
        self.rss = float(rss)
        self.llf = _llf(rss, w)
        self.resid = resid
        self.w = w
        self.level = level
        self.converged = converged
        self.not_identified = ""  # the reason, when the identification check fails
        self.notes = list(notes)
        self.separate = separate
        self.sigma = float(np.sqrt(rss / self.df_resid)) if self.df_resid > 0 else np.nan

    @property
    def status(self) -> str:
        """"identified", "not identified: <reason>" or "not converged" (the optimiser's word)."""
        if not self.converged:
            return "not converged"
        return f"not identified: {self.not_identified}" if self.not_identified else "identified"

    @property
    def aicc(self) -> float:
        return _aicc(self.llf, self.k + 1, self.nobs)

    def _q(self) -> float:
        return float(stats.t.ppf(1 - self.alpha / 2, self.df_resid))

    def params(self) -> pd.DataFrame:
        """One row per natural parameter: param (a, b, g(q=...), c(q=...)), quality, estimate,
        std_err, ci_low, ci_high (95% t, df_resid; log scale for a and g)."""
        J, q = self.qualities.size, self._q()
        se = np.sqrt(np.clip(np.diag(self.cov), 0, None))
        rows = []
        log_a_nat = self.theta[0] + self.theta[1] * np.log(self.n_ref)  # a for n in rows
        # var of log a_nat = var(log A) + log(n_ref)^2 var(b) + 2 log(n_ref) cov
        ln = np.log(self.n_ref)
        se_la = np.sqrt(max(self.cov[0, 0] + ln ** 2 * self.cov[1, 1] + 2 * ln * self.cov[0, 1], 0))
        rows.append(("a", np.nan, np.exp(log_a_nat), np.exp(log_a_nat) * se_la,
                     np.exp(log_a_nat - q * se_la), np.exp(log_a_nat + q * se_la)))
        b = self.theta[1]
        rows.append(("b", np.nan, b, se[1], b - q * se[1], b + q * se[1]))
        for j in range(J):
            lg, s = (0.0, 0.0) if j == 0 else (self.theta[1 + j], se[1 + j])
            rows.append((f"g(q={self.qualities[j]:g})", self.qualities[j], np.exp(lg),
                         np.exp(lg) * s, np.exp(lg - q * s), np.exp(lg + q * s)))
        for j in range(J):
            c, s = self.theta[J + 1 + j], se[J + 1 + j]
            rows.append((f"c(q={self.qualities[j]:g})", self.qualities[j], c, s, c - q * s,
                         c + q * s))
        return pd.DataFrame(rows, columns=["param", "quality", "estimate", "std_err", "ci_low",
                                           "ci_high"])

    def g(self) -> pd.DataFrame:
        """quality, g (effective clean rows per row at that quality), ci_low, ci_high."""
        p = self.params()
        p = p[p["param"].str.startswith("g(")]
        return p[["quality", "estimate", "ci_low", "ci_high"]].rename(columns={"estimate": "g"})

    def comparison(self) -> pd.DataFrame:
        """AICc, log-likelihood, parameters and residual sd of the joint law and of separate
        power-law-with-floor fits per quality (one common noise variance), same weights."""
        rows = [{"model": "joint law c(q) + a (g(q) n)^-b", "n_params": self.k + 1,
                 "llf": self.llf, "aicc": self.aicc, "sigma": self.sigma}]
        if self.separate is not None:
            rows.append({k: v for k, v in self.separate.items() if k != "failed"})
        out = pd.DataFrame(rows)
        out["delta_aicc"] = out["aicc"] - out["aicc"].min()
        return out

    def residuals_by_quality(self) -> pd.DataFrame:
        """quality, cells, rms of the weighted residuals sqrt(w) r over the overall sigma:
        near 1 where the joint law's common noise level fits that quality, far above 1 where
        the quality's cells scatter more than the law allows (e.g. a damage level at which the
        model stops learning)."""
        z = np.sqrt(self.w) * self.resid / self.sigma
        return pd.DataFrame({"quality": self.qualities,
                             "cells": [int(np.sum(self.level == j)) for j in range(self.qualities.size)],
                             "rms_std_resid": [float(np.sqrt(np.mean(z[self.level == j] ** 2)))
                                               for j in range(self.qualities.size)]})

    def table(self) -> pd.DataFrame:
        """The parameter table with model, metric, n_points, df_resid, aicc, aicc of the
        separate fits, converged and conditional_on columns."""
        tab = self.params()
        tab.insert(0, "metric", self.metric)
        tab.insert(0, "experiment", "size_x_damage")
        tab.insert(0, "model", self.model)
        sep = self.separate["aicc"] if self.separate else np.nan
        return tab.assign(n_points=self.nobs, df_resid=self.df_resid, aicc=self.aicc,
                          aicc_separate=sep, converged=self.converged, status=self.status,
                          conditional_on="the joint form (shared a and b across qualities); "
                                         "cell weights; t quantiles with df_resid",
                          notes="; ".join(self.notes))

    def summary(self) -> Summary:
        """Status, parameters, comparison with separate fits and residuals by quality.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        s = Summary(f"Joint size x quality law for {self.model}, 1 - {self.metric}: "
                    "err = c(q) + a (g(q) n)^(-b)")
        s.add_text(f"Status: {self.status}.")
        s.add_df(self.params(), index=False, digits=4)
        s.add_df(self.comparison(), index=False, digits=5)
        s.add_df(self.residuals_by_quality(), index=False, digits=3)
        s.add_text(f"{self.nobs} cells, {self.df_resid} residual df. g(q): clean training rows "
                   "that one row at quality q is worth (g(1) = 1); 95% t intervals, log scale "
                   "for a and g, conditional on the joint form. delta_aicc compares the joint "
                   "law with separate power-law-with-floor fits per quality; rms_std_resid: "
                   "residual scatter per quality relative to the common noise level.")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    def __repr__(self):
        return f"<JointLawFit {self.model} {self.metric}: {self.qualities.size} qualities>"


def _starts(cells: list[pd.DataFrame], n_ref: float) -> list[np.ndarray]:
    """Starting values from per-quality power-law-with-floor fits (the first is the
    reference), plus a neutral one (g = 1, floors at half the smallest error)."""
    J = len(cells)
    fits = [fit_curve(c["n"], c["error"], "power_floor", c["weight"], x_ref=n_ref, quiet=True)
            for c in cells]
    neutral = np.r_[np.log(max(cells[0]["error"].mean(), 1e-3)), 0.3, np.zeros(J - 1),
                    [0.5 * c["error"].min() for c in cells]]
    out = [neutral]
    ref = fits[0]
    if ref.converged and ref.theta[1] > 0:
        log_A, b = ref.theta[0], ref.theta[1]
        log_g, c = [], []
        for f, cl in zip(fits, cells):
            if f.converged and f.theta[1] > 0:
                log_g.append(-(f.theta[0] - log_A) / b)  # A_j = A g_j^-b
                c.append(max(f.theta[2], 0.0))
            else:
                log_g.append(0.0)
                c.append(0.5 * cl["error"].min())
        out.insert(0, np.r_[log_A, b, log_g[1:], c])
    return out


def fit_joint_law(cells: dict, model: str = "", metric: str = "acc") -> JointLawFit:
    """Fit err(n, q) = c(q) + a (g(q) n)^(-b) with g at the highest quality fixed to 1.

    Parameters
    ----------
    cells : {quality: cell_table frame (columns n, error, weight)}, at least 2 qualities
    model, metric : labels for the tables

    Returns
    -------
    JointLawFit; ``converged = False`` with a note if the optimiser fails.
    """
    qualities = sorted(cells, reverse=True)
    if len(qualities) < 2:
        raise ValueError("the joint law needs at least two label qualities")
    frames = [cells[q] for q in qualities]
    J = len(frames)
    n = np.concatenate([f["n"].to_numpy(float) for f in frames])
    y = np.concatenate([f["error"].to_numpy(float) for f in frames])
    w = np.concatenate([f["weight"].to_numpy(float) for f in frames])
    level = np.concatenate([np.full(len(f), j) for j, f in enumerate(frames)])
    w = w / w.mean()
    n_ref = float(n.max())
    x = n / n_ref
    sw = np.sqrt(w)
    notes: list[str] = []

    def resid(theta):
        with np.errstate(over="ignore"):
            return sw * (y - _mean(theta, x, level, J))

    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the per-quality starting fits' own messages
        starts = _starts(frames, n_ref)
    for start in starts:
        res = optimize.least_squares(resid, start, method="lm", xtol=1e-12, ftol=1e-12,
                                     max_nfev=20000)
        if np.isfinite(res.cost) and (best is None or res.cost < best.cost):
            best = res
    p = starts[0].size
    if best is None:
        notes.append("the optimiser gave no finite fit from any start")
        theta, Jm = np.full(p, np.nan), np.full((y.size, p), np.nan)
    else:
        theta, Jm = best.x, best.jac
    rss = float(np.sum(resid(theta) ** 2))
    converged = best is not None and bool(best.success)
    if best is not None and not best.success:
        notes.append(f"the optimiser reported no convergence: {best.message}")
    try:
        cov = np.linalg.inv(Jm.T @ Jm) * rss / (y.size - p)
    except np.linalg.LinAlgError:
        cov = np.full((p, p), np.nan)
    if theta[1] <= 0:
        notes.append(f"b = {theta[1]:.3g} <= 0: the error does not fall with n under the joint law")
    neg = [f"{q:g}" for q, c in zip(qualities, theta[J + 1:]) if c < 0]
    if neg:
        notes.append(f"negative floor c(q) at quality {', '.join(neg)}: the joint form does not "
                     "describe these data well; see the residuals by quality")
    separate = _separate(frames, qualities, w, level, n_ref)
    if separate.get("failed"):
        notes.append("no AICc for the separate per-quality fits: the power law with floor "
                     f"did not converge at quality {separate['failed']}, so the comparison "
                     "with the joint law is not available")
    fit = JointLawFit(model, metric, qualities, n_ref, theta, cov, rss, w,
                      y - _mean(theta, x, level, J), converged, notes, separate, level)
    if converged:
        fit.not_identified = _identification(theta, cov, Jm, fit.params())
        if fit.not_identified:
            fit.notes.append("not identified: " + fit.not_identified + "; the parameters are "
                             "shown for inspection, not as estimates")
    return fit


def _separate(frames, qualities, w, level, n_ref) -> dict:
    """Separate power-law-with-floor fits per quality on the same normalised weights, one
    common noise variance: their log-likelihood, AICc and residual sd."""
    rss, k = 0.0, 0
    for j, f in enumerate(frames):
        wj = w[level == j]
        fit = fit_curve(f["n"], f["error"], "power_floor", wj, x_ref=n_ref, quiet=True)
        if not fit.converged:
            return {"model": "separate power_floor per quality (a fit failed)",
                    "n_params": np.nan, "llf": np.nan, "aicc": np.nan, "sigma": np.nan,
                    "failed": f"{qualities[j]:g}"}
        r = f["error"].to_numpy(float) - fit.predict(f["n"].to_numpy(float))
        rss += float(np.sum(wj * r * r))
        k += fit.form.k
    m = w.size
    llf = _llf(rss, w)
    return {"model": "separate c_q + a_q n^-b_q per quality", "n_params": k + 1, "llf": llf,
            "aicc": _aicc(llf, k + 1, m), "sigma": float(np.sqrt(rss / (m - k)))}
