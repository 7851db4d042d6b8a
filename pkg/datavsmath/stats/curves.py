"""Maximum-likelihood fit of one nonlinear curve with statsmodels, and its inference.

Why one module: the fit and its inference share the same state and are read together (the
likelihood and its optimiser are :mod:`datavsmath.stats.likelihood`;
:class:`~datavsmath.stats.summary.Summary`, which prints a fit, has its own module).

Model: ``y_i = mean(theta, x_i) + eps_i`` with ``eps_i ~ N(0, sigma^2 / w_i)``, independent,
``sigma`` profiled out (:class:`~datavsmath.stats.likelihood.CurveModel`).

Inference is that of (weighted) nonlinear least squares, with its textbook covariance (the R
testbench fitted no curves, so there is no R fit to compare with; the check is statsmodels'
GLM where a log link applies, see tests/test_scaling.py): the covariance is the inverse observed information rescaled
from the ML variance RSS/m to the unbiased RSS/(m - k), and intervals use Student-t quantiles
with the fit's residual degrees of freedom m - k. Intervals of positive natural
parameters (amplitudes, e50, Hill slope) are computed on the log scale; everything derived
(natural parameters, data needed) goes through the delta method, or a parametric bootstrap
(simulate from the fitted curve with the fitted noise, refit) on request.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tools.numdiff import approx_fprime

from .forms import Form, get_form
from .likelihood import CurveModel, optimise
from .summary import Summary

__all__ = ["CurveModel", "CurveFit", "ScalingWarning", "Summary", "fit_curve", "never_chance"]


class ScalingWarning(UserWarning):
    """A fit or a derived quantity is degenerate or untrustworthy; the message says why."""


class CurveFit:
    """One fitted curve: natural-scale estimates, standard errors, intervals and criteria.

    Build it with :func:`fit_curve`. ``x`` given to methods is in natural units (training rows
    for learning curves). Degenerate fits have ``converged = False``, NaN estimates and the
    reason in ``notes``.

    Attributes
    ----------
    form : Form
    nobs : int, points fitted (cells, when replicates were averaged)
    x_ref : float, scale of x (x / x_ref was fitted)
    theta, cov_theta : internal estimates (k,) and covariance (k, k), RSS/(m-k) based
    df_resid : int, m - k
    llf : float, maximised log-likelihood (sigma profiled out)
    sigma : float, residual standard deviation at weight 1, sqrt(RSS_w / (m - k))
    converged : bool, optimiser converged and the information matrix is positive definite
    notes : list of str, warnings raised while fitting
    sm_results : the statsmodels results object of the final optimisation (internal scale)
    w_scale : float, mean of the weights given to :func:`fit_curve` (``weights`` are relative to it)

    Parameters
    ----------
    form : Form
        The curve form.
    x, y : numpy.ndarray, shape (m,)
        The points fitted, ``x`` in natural units.
    weights : numpy.ndarray, shape (m,)
        Their relative weights.
    x_ref : float
        Scale of x.
    theta : numpy.ndarray, shape (k,)
        Internal estimates.
    cov_theta : numpy.ndarray, shape (k, k)
        Their covariance.
    llf : float
        Maximised log-likelihood.
    converged : bool
        Whether the optimiser converged and the fit is sound.
    notes : list of str
        Notes.
    sm_results : statsmodels results, optional
        The statsmodels fit behind it.
    """

    alpha = 0.05

    def __init__(self, form, x, y, weights, x_ref, theta, cov_theta, llf, converged,
                 notes, sm_results=None):
        self.form = form
        self.x = np.asarray(x, float)
        self.y = np.asarray(y, float)
        self.weights = np.asarray(weights, float)
        self.x_ref = float(x_ref)
        self.nobs = int(self.y.size)
        self.theta = np.asarray(theta, float)
        self.cov_theta = np.asarray(cov_theta, float)
        self.llf = float(llf)
        self.converged = bool(converged)
        self.notes = list(notes)
        self.sm_results = sm_results
        self.df_resid = self.nobs - form.k
        self.w_scale = 1.0  # mean of the weights given, which fit_curve divides out
        self._boot = None

    # ---- criteria ---------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Parameters counted by the information criteria: the form's k plus sigma."""
        return self.form.k + 1

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.n_params

    @property
    def aicc(self) -> float:
        """AIC with the small-sample correction 2K(K+1)/(m-K-1); NaN when m <= K + 1."""
        K, m = self.n_params, self.nobs
        return self.aic + 2 * K * (K + 1) / (m - K - 1) if m - K - 1 > 0 else np.nan

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * self.n_params

    @property
    def sigma(self) -> float:
        if not self.converged or self.df_resid < 1:
            return np.nan
        r = self.y - self.form.mean(self.theta, self.x / self.x_ref)
        return float(np.sqrt(np.sum(self.weights * r * r) / self.df_resid))

    def _q(self, alpha=None) -> float:
        alpha = self.alpha if alpha is None else alpha
        return float(stats.t.ppf(1 - alpha / 2, self.df_resid)) if self.df_resid >= 1 else np.nan

    # ---- natural parameters -----------------------------------------------------------------
    @property
    def params(self) -> pd.Series:
        """Natural-scale estimates (e.g. a, b, c of e = c + a n^-b)."""
        vals = self.form.to_natural(self.theta, self.x_ref) if self.converged else np.full(
            len(self.form.natural), np.nan)
        return pd.Series(vals, index=list(self.form.natural), name="estimate")

    def _nat_cov(self) -> np.ndarray:
        p = len(self.form.natural)
        if not self.converged:
            return np.full((p, p), np.nan)
        G = approx_fprime(self.theta, lambda t: self.form.to_natural(t, self.x_ref), centered=True)
        return G.reshape(p, -1) @ self.cov_theta @ G.reshape(p, -1).T

    @property
    def bse(self) -> pd.Series:
        """Delta-method standard errors of the natural parameters."""
        return pd.Series(np.sqrt(np.diag(self._nat_cov())), index=list(self.form.natural),
                         name="std_err")

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """(1 - alpha) Wald intervals (t quantiles); log scale for the parameters in
        ``form.log_ci``, so those stay positive. Columns ci_low, ci_high.

        Parameters
        ----------
        alpha : float, optional
            One less the confidence level; default the class's ``alpha`` (0.05).

        Returns
        -------
        pandas.DataFrame
            Indexed by the natural parameters.
        """
        est, se, q = self.params.to_numpy(), self.bse.to_numpy(), self._q(alpha)
        lo, hi = est - q * se, est + q * se
        for i, name in enumerate(self.form.natural):
            if name in self.form.log_ci and est[i] > 0:
                f = np.exp(q * se[i] / est[i])
                lo[i], hi[i] = est[i] / f, est[i] * f
        return pd.DataFrame({"ci_low": lo, "ci_high": hi}, index=list(self.form.natural))

    def param_table(self, alpha: float | None = None) -> pd.DataFrame:
        """estimate, std_err, ci_low, ci_high per natural parameter.

        Parameters
        ----------
        alpha : float, optional
            One less the confidence level; default the class's ``alpha`` (0.05).

        Returns
        -------
        pandas.DataFrame
        """
        return pd.concat([self.params, self.bse, self.conf_int(alpha)], axis=1)

    def predict(self, x) -> np.ndarray:
        """Fitted curve at natural ``x`` (e.g. training rows).

        Parameters
        ----------
        x : array-like of float, shape (m,)
            Natural units (training rows for learning curves).

        Returns
        -------
        numpy.ndarray, shape (m,)
        """
        return self.form.mean(self.theta, np.asarray(x, float) / self.x_ref)

    def predict_interval(self, x, weights=None, alpha: float | None = None) -> pd.DataFrame:
        """(1 - alpha) prediction interval for a new observation at natural ``x`` (m,):
        mean -/+ t(df_resid) sqrt(var of the fitted mean (delta method) + sigma^2 / w), with
        ``weights`` (m,) on the scale of the weights given to :func:`fit_curve` (default the
        mean fitted weight). Columns x, mean, pi_low, pi_high.

        Parameters
        ----------
        x : array-like of float, shape (m,)
            Natural units.
        weights : array-like of float, shape (m,), optional
            The new observations' weights.
        alpha : float, optional
            One less the confidence level; default the class's ``alpha`` (0.05).

        Returns
        -------
        pandas.DataFrame
        """
        x = np.asarray(x, float)
        w = (np.ones_like(x) if weights is None
             else np.asarray(weights, float) / self.w_scale)
        mean = self.predict(x)
        jac = self.form.jac(self.theta, x / self.x_ref)
        var_mean = np.einsum("ij,jk,ik->i", jac, self.cov_theta, jac)
        half = self._q(alpha) * np.sqrt(var_mean + self.sigma ** 2 / w)
        return pd.DataFrame({"x": x, "mean": mean, "pi_low": mean - half, "pi_high": mean + half})

    @property
    def floor(self) -> float:
        return float(self.form.floor(self.theta)) if self.converged else np.nan

    def floor_interval(self, alpha: float | None = None) -> dict:
        """The asymptote (error as n -> infinity) and its (1 - alpha) t interval: floor,
        floor_ci_low, floor_ci_high, floor_se, floor_assumed. Forms without a floor assume it
        is 0: floor 0, floor_assumed True and no interval (NaN), since nothing was
        estimated; NaN when not converged.

        Parameters
        ----------
        alpha : float, optional
            One less the confidence level; default the class's ``alpha`` (0.05).

        Returns
        -------
        dict
        """
        out = {"floor": np.nan, "floor_ci_low": np.nan, "floor_ci_high": np.nan,
               "floor_se": np.nan, "floor_assumed": "c" not in self.form.natural}
        if not self.converged:
            return out
        if out["floor_assumed"]:
            return out | {"floor": 0.0}
        ci = self.conf_int(alpha).loc["c"]
        return out | {"floor": self.floor, "floor_ci_low": float(ci["ci_low"]),
                      "floor_ci_high": float(ci["ci_high"]), "floor_se": float(self.bse["c"])}

    # ---- inverse: x at which the curve reaches y -------------------------------------------
    def solve(self, y_target: float, method: str = "delta", alpha: float | None = None,
              n_boot: int = 200, seed: int = 0) -> dict:
        """``x`` (natural units) where the fitted curve reaches ``y_target``, with an interval.

        ``method="delta"``: Wald interval for log x* (t quantile) from the delta method, mapped
        back; when the target lies within the floor's interval the upper limit is infinite
        (the data cannot rule out that the target is never reached). ``method="bootstrap"``:
        parametric bootstrap, percentile interval; draws that never reach the target count
        as infinite.

        Reachability is judged against the fitted floor c with its interval (forms without a
        floor have c = 0): status ``"floor"`` (not reachable) when the target is at or below
        c; when only the floor's interval reaches the target, x* is reported but its upper
        limit is infinite.

        Returns a dict: x, ci_low, ci_high, se_log (delta-method standard error of log x*,
        whatever the method), df (residual degrees of freedom of the t quantile), reachable
        (bool), status, method, floor, floor_ci_low, floor_ci_high (the asymptote and its 95%
        t interval; 0 for forms without a floor).

        Parameters
        ----------
        y_target : float
            The target value of the curve (an error, for learning curves).
        method : {"delta", "bootstrap"}, default "delta"
            How the interval is computed.
        alpha : float, optional
            One less the confidence level; default the class's ``alpha`` (0.05).
        n_boot : int, default 200
            Bootstrap refits.
        seed : int, default 0
            The bootstrap's seed.
        """
        if self.form.inverse is None:
            raise ValueError(f"form {self.form.name} cannot be inverted")
        if method not in ("delta", "bootstrap"):
            raise ValueError(f"method must be 'delta' or 'bootstrap', not {method!r}")
        out = {"x": np.nan, "ci_low": np.nan, "ci_high": np.nan, "se_log": np.nan, "reachable": False,
               "status": "not fitted", "method": method, "df": self.df_resid}
        out.update(self.floor_interval(alpha))
        if not self.converged:
            return out
        xs, status = self.form.inverse(self.theta, y_target)
        out.update(status=status, reachable=status in ("ok", "before_data"),
                   x=xs * self.x_ref if status != "not_decreasing" else np.nan)
        if status != "ok":
            return out
        lo, hi, out["se_log"] = self._solve_delta(y_target, alpha)
        if method == "bootstrap":
            lo, hi = self._solve_boot(y_target, alpha, n_boot, seed)
        out.update(ci_low=lo, ci_high=hi)
        return out

    def _log_inverse(self, theta, y_target):
        xs, status = self.form.inverse(theta, y_target)
        return np.log(xs * self.x_ref) if status == "ok" else np.nan

    def _solve_delta(self, y_target, alpha):
        lx = self._log_inverse(self.theta, y_target)
        g = approx_fprime(self.theta, lambda t: self._log_inverse(t, y_target), centered=True)
        se = float(np.sqrt(g.ravel() @ self.cov_theta @ g.ravel()))
        q = self._q(alpha)
        with np.errstate(over="ignore"):  # an interval past e^709 rows is unbounded
            lo, hi = np.exp(lx - q * se), np.exp(lx + q * se)
        if "c" in self.form.natural:  # the floor's own interval reaching the target: unbounded
            c_hi = self.conf_int(alpha).loc["c", "ci_high"]
            if c_hi >= y_target:
                hi = np.inf
        return (lo, hi, se) if np.isfinite(se) else (np.nan, np.nan, np.nan)

    def bootstrap(self, n_boot: int = 200, seed: int = 0) -> np.ndarray:
        """Parametric bootstrap: (n_boot, k) internal estimates refitted to the fitted curve
        plus N(0, sigma^2 / w) noise; rows of NaN where a refit failed. Cached per (n_boot, seed).

        Parameters
        ----------
        n_boot : int, default 200
            Refits.
        seed : int, default 0
            Seed of the noise.

        Returns
        -------
        numpy.ndarray, shape (n_boot, k)
        """
        if self._boot is not None and self._boot[0] == (n_boot, seed):
            return self._boot[1]
        rng = np.random.default_rng(seed)
        mu = self.form.mean(self.theta, self.x / self.x_ref)
        draws = np.full((n_boot, self.form.k), np.nan)
        for i in range(n_boot):
            yb = mu + self.sigma * rng.standard_normal(self.nobs) / np.sqrt(self.weights)
            fit = fit_curve(self.x, yb, self.form, self.weights, x_ref=self.x_ref,
                            starts=[self.theta], quiet=True)
            if fit.converged:
                draws[i] = fit.theta
        self._boot = ((n_boot, seed), draws)
        return draws

    def _solve_boot(self, y_target, alpha, n_boot, seed):
        alpha = self.alpha if alpha is None else alpha
        draws = self.bootstrap(n_boot, seed)
        ok = np.all(np.isfinite(draws), axis=1)
        vals = []
        for t in draws[ok]:
            xs, status = self.form.inverse(t, y_target)
            vals.append(np.inf if status in ("floor", "not_decreasing") else xs * self.x_ref)
        if len(vals) < 0.8 * n_boot:
            self.notes.append(f"bootstrap: only {len(vals)} of {n_boot} refits converged")
            if len(vals) < 20:
                return np.nan, np.nan
        lo, hi = np.quantile(np.asarray(vals), [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
        return float(lo), float(hi)

    # ---- display ----------------------------------------------------------------------------
    def criteria(self) -> dict:
        """The fit's log-likelihood, information criteria, points, sigma and convergence.

        Returns
        -------
        dict
            llf, aic, aicc, bic, n_points, sigma, converged.
        """
        return {"llf": self.llf, "aic": self.aic, "aicc": self.aicc, "bic": self.bic,
                "n_points": self.nobs, "sigma": self.sigma, "converged": self.converged}

    def summary(self, title: str | None = None) -> Summary:
        """Parameter table, criteria and notes.

        Parameters
        ----------
        title : str, optional
            The heading (default "Curve fit: " and the form's formula).

        Returns
        -------
        Summary
        """
        s = Summary(title or f"Curve fit: {self.form.formula}")
        s.add_df(pd.DataFrame([{"form": self.form.name, "points": self.nobs,
                                "df_resid": self.df_resid, "converged": self.converged,
                                "log-lik": self.llf, "AIC": self.aic, "AICc": self.aicc,
                                "BIC": self.bic, "sigma": self.sigma}]), index=False, digits=5)
        s.add_df(self.param_table())
        s.add_text("Intervals: 95%, t with df_resid degrees of freedom; log scale for "
                   + (", ".join(sorted(self.form.log_ci)) or "none") + ".")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    def __repr__(self):
        return f"<CurveFit {self.form.name} m={self.nobs} converged={self.converged}>"


def _nan_fit(form, x, y, w, x_ref, notes) -> CurveFit:
    k = form.k
    return CurveFit(form, x, y, w, x_ref, np.full(k, np.nan), np.full((k, k), np.nan), np.nan,
                    False, notes)


def _warn(notes, msg, quiet):
    notes.append(msg)
    if not quiet:
        warnings.warn(msg, ScalingWarning, stacklevel=3)



def fit_curve(x, y, form: "str | Form", weights=None, *, x_ref: float | None = None,
              starts=None, label: str = "", quiet: bool = False) -> CurveFit:
    """Fit ``y = form(x)`` by Gaussian maximum likelihood with statsmodels.

    Parameters
    ----------
    x : (m,) array, predictor in natural units (training rows, or damage fraction)
    y : (m,) array, response (error = 1 - metric for learning curves; the metric for damage)
    form : form name (see :mod:`datavsmath.stats.forms`) or a :class:`Form`
    weights : (m,) positive relative weights (inverse variances up to a common factor)
    x_ref : scale for x; default max(x) for learning curves, 1 otherwise
    starts : starting values (internal scale); default the form's own
    label : prefix for the messages (e.g. "cnn acc")
    quiet : collect messages in ``notes`` without raising :class:`ScalingWarning`

    Returns
    -------
    CurveFit; degenerate input (too few points, flat curve, no convergence, parameters not
    identified) gives ``converged = False``, NaN estimates and a note, never an exception.
    """
    form = get_form(form)
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    w = np.ones_like(y) if weights is None else np.asarray(weights, float).ravel()
    if not (x.size == y.size == w.size):
        raise ValueError(f"x, y and weights must have the same length ({x.size}, {y.size}, {w.size})")
    notes: list[str] = []
    prefix = f"{label}, {form.name}: " if label else f"{form.name}: "
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (w > 0)
    if form.scaled:
        keep &= x > 0
    if not keep.all():
        _warn(notes, prefix + f"dropped {int((~keep).sum())} point(s) with missing or invalid values",
              quiet)
        x, y, w = x[keep], y[keep], w[keep]
    if x_ref is None:
        x_ref = float(np.max(x)) if (form.scaled and x.size) else 1.0
    if y.size < form.k + 1:
        _warn(notes, prefix + f"{y.size} point(s) for {form.k} parameters plus the noise variance; "
              "need at least " + str(form.k + 1) + "; estimates are NaN", quiet)
        return _nan_fit(form, x, y, w, x_ref, notes)
    if np.ptp(y) == 0:
        _warn(notes, prefix + f"the curve is flat (every value is {y[0]:.4g}): nothing to fit; "
              "estimates are NaN", quiet)
        return _nan_fit(form, x, y, w, x_ref, notes)
    w_scale = float(np.mean(w))
    w = w / w_scale  # relative weights: keep them O(1)
    xs = x / x_ref
    model = CurveModel(y, xs, form, w)
    best, said = None, []
    for start in (starts if starts is not None else form.starts(xs, y, w)):
        res, msgs = optimise(model, start)
        if res is not None and (best is None or res.llf > best.llf):
            best, said = res, msgs
    if best is None:
        _warn(notes, prefix + "the optimiser failed from every starting value; estimates are NaN",
              quiet)
        return _nan_fit(form, x, y, w, x_ref, notes)
    theta = np.asarray(best.params, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = -model.hessian(theta)
        eig = np.linalg.eigvalsh(info) if np.all(np.isfinite(info)) else np.array([np.nan])
    if not np.all(np.isfinite(eig)) or eig.min() <= 1e-10 * max(eig.max(), 1e-300):
        _warn(notes, prefix + "the parameters are not identified by these data (singular "
              "information matrix: the curve's shape does not pin down every parameter of this "
              "form, e.g. a floor without curvature, or a shape parameter running to its bound where the "
              "form reduces to a simpler one, e.g. power4 with d -> 0); estimates are NaN",
              quiet)
        return _nan_fit(form, x, y, w, x_ref, notes)
    m = y.size
    cov = np.linalg.inv(info) * m / (m - form.k) if m > form.k else np.full_like(info, np.nan)
    grad = model.score(theta)
    step = np.abs(grad) * np.sqrt(np.abs(np.diag(np.linalg.inv(info))))
    # convergence as the optimiser reported it; where it said no (or nothing), the fit is kept
    # only at a stationary point (every Newton step under 1e-3 standard errors), with a note
    reported = best.mle_retvals.get("converged")
    stationary = bool(np.all(step < 1e-3))
    converged = reported is True or stationary
    for msg in said:
        notes.append(prefix + "the optimiser warned: " + msg)
    if converged and reported is not True:
        notes.append(prefix + "the optimiser " + ("did not report convergence" if reported is None
                     else "reported no convergence") + f" ({best.mle_settings.get('optimizer', '')}"
                     "); kept because the score is at a stationary point (largest Newton step "
                     f"{float(np.max(step)):.2g} standard errors)")
    if not converged:
        _warn(notes, prefix + "the optimiser did not converge (the likelihood may keep rising toward "
              "an edge of this form, e.g. b -> 0 with c -> -inf: the form does not describe these "
              "data); estimates are NaN", quiet)
        return _nan_fit(form, x, y, w, x_ref, notes)
    fit = CurveFit(form, x, y, w, x_ref, theta, cov, best.llf, True, notes, best)
    fit.w_scale = w_scale
    if m == form.k + 1:
        _warn(fit.notes, prefix + "as many points as parameters plus one: intervals are very wide",
              quiet)
    if form.rate is not None:
        est = fit.params[form.rate]
        if est <= 0:
            _warn(fit.notes, prefix + f"{form.rate} = {est:.3g} <= 0: the error does not fall "
                  "with more data under this form", quiet)
        elif fit.conf_int().loc[form.rate, "ci_low"] <= 0:
            _warn(fit.notes, prefix + f"no evidence that the error falls with more data "
                  f"(the 95% interval of {form.rate} includes 0)", quiet)
    if "c" in form.natural and fit.params["c"] < 0:
        c_hi = fit.conf_int().loc["c", "ci_high"]
        _warn(fit.notes, prefix + f"negative floor c = {fit.params['c']:.3g} (95% CI up to "
              f"{c_hi:.3g}): " + ("the data exclude a floor at or above 0; the form is wrong for "
                                   "them" if c_hi < 0 else "consistent with a floor of 0"), quiet)
    return fit


def never_chance(sol: dict, y_target: float) -> float:
    """P(floor >= target) for one form's solution (:meth:`CurveFit.solve`): the chance that the
    curve never reaches error ``y_target``.

    Parameters
    ----------
    sol : a :meth:`CurveFit.solve` result (status, floor, floor_se, floor_assumed, df)
    y_target : target error

    Returns
    -------
    float in [0, 1]: 1 when the curve does not fall, 0 when its floor is assumed (0), else the
    upper tail of the floor's t distribution (the fit's residual df) beyond the target; without
    a usable standard error, whether the point floor is at or above the target.
    """
    if sol["status"] == "not_decreasing":
        return 1.0
    if sol.get("floor_assumed") or not np.isfinite(sol.get("floor", np.nan)):
        return 0.0
    se, df = sol.get("floor_se", np.nan), sol.get("df", np.nan)
    if not (np.isfinite(se) and se > 0 and np.isfinite(df) and df >= 1):
        return float(sol["floor"] >= y_target)
    return float(stats.t.sf((y_target - sol["floor"]) / se, df))
