"""Model averaging over curve forms: a parameter's interval that includes the choice of form.

A table that shows the selected form's interval as if no choice had been made is too narrow
whenever the data leave the form in doubt (measured: a power law whose floor lies just below
the target, AICc picking a wrong form in a third of the runs, gave exponent intervals covering
0.64 instead of 0.95). The remedy used here is the model-averaged tail-area (MATA) Wald
interval of Turek and Fletcher (2012): the interval's limits are the alpha/2 and 1 - alpha/2
quantiles of the Akaike-weighted mixture of each form's own t sampling distribution,

    sum_i w_i F_t,df_i((theta_L - theta_i) / se_i) = alpha / 2, and likewise for theta_U.

It reduces to the form's own t interval when one form carries all the weight, widens with the
spread between forms, and takes point masses naturally: a form whose answer is "never" (a
target at or below its floor) puts its weight at +infinity, a form whose floor is assumed (0
for forms without one) a point mass at 0. Burnham and Anderson's (2002, eq. 4.9) unconditional
standard error, sum_i w_i sqrt(se_i^2 + (theta_i - mean)^2), is kept beside it for reference;
which of the two the intervals use was decided by measured coverage (Methods page, "Coverage of
the intervals"; ``tests/test_scaling_coverage.py``).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

__all__ = ["mixture_cdf", "mixture_interval", "unconditional_se"]


def _normalised(weights, mass_inf: float, mass_ninf: float) -> np.ndarray:
    w = np.asarray(weights, float)
    total = w.sum() + mass_inf + mass_ninf
    if not total > 0:
        raise ValueError("the weights sum to 0: nothing to average")
    return w / total


def mixture_cdf(x: float, est, se, df, weights, mass_inf: float = 0.0,
                mass_ninf: float = 0.0) -> float:
    """P(X <= x) for the mixture of t distributions ``est_i + se_i t(df_i)`` with ``weights``
    (k,), plus point masses at +inf and -inf; a component with ``se_i = 0`` is a point mass
    at ``est_i``. Weights and masses are normalised together.

    Parameters
    ----------
    x : float
        Where the distribution function is evaluated.
    est, se, df : array-like of float, shape (k,)
        Each component's centre, scale and degrees of freedom.
    weights : array-like of float, shape (k,)
        Non-negative component weights.
    mass_inf, mass_ninf : float, default 0
        Point masses at +inf and -inf, on the scale of ``weights``.

    Returns
    -------
    float
        P(X <= x), in [0, 1].
    """
    est, se, df = (np.asarray(v, float) for v in (est, se, df))
    w = _normalised(weights, mass_inf, mass_ninf)
    ninf = mass_ninf / (np.asarray(weights, float).sum() + mass_inf + mass_ninf)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - est) / np.where(se > 0, se, 1.0)
        comp = np.where(se > 0, stats.t.cdf(z, np.maximum(df, 1.0)), (x >= est).astype(float))
    return float(w @ comp + ninf)


def mixture_interval(est, se, df, weights, alpha: float = 0.05, mass_inf: float = 0.0,
                     mass_ninf: float = 0.0) -> tuple[float, float]:
    """The MATA-Wald (1 - alpha) interval: the alpha/2 and 1 - alpha/2 quantiles of the mixture
    (see :func:`mixture_cdf`). A limit is +inf (-inf) when the mass at +inf (-inf) exceeds
    alpha / 2 of the total; NaN when no component is finite.

    Parameters
    ----------
    est, se, df : array-like of float, shape (k,)
        Each component's centre, scale and degrees of freedom; components with a non-finite
        centre or scale, or weight 0, are left out.
    weights : array-like of float, shape (k,)
        Non-negative component weights.
    alpha : float, default 0.05
        One less the confidence level.
    mass_inf, mass_ninf : float, default 0
        Point masses at +inf and -inf, on the scale of ``weights``.

    Returns
    -------
    tuple of (float, float)
        The lower and upper limits.
    """
    est, se, df = (np.asarray(v, float) for v in (est, se, df))
    w = np.asarray(weights, float)
    ok = np.isfinite(est) & np.isfinite(se) & (w > 0)
    if not ok.any():
        return (np.nan, np.nan)
    est, se, df, w = est[ok], se[ok], df[ok], w[ok]
    scale = w.sum() + mass_inf + mass_ninf
    spread = np.max(np.where(se > 0, se, 0.0))
    width = 60.0 * max(spread, 1e-12) + 1.0
    lo_b, hi_b = float(est.min() - width), float(est.max() + width)

    def quantile(p: float) -> float:
        if p <= mass_ninf / scale:
            return -np.inf
        if p >= 1.0 - mass_inf / scale:
            return np.inf

        def f(x):
            return mixture_cdf(x, est, se, df, w, mass_inf, mass_ninf) - p

        if f(lo_b) > 0 or f(hi_b) < 0:  # heavy t tails (df 1-2) beyond the bracket
            return -np.inf if f(lo_b) > 0 else np.inf
        root = float(optimize.brentq(f, lo_b, hi_b, xtol=1e-12 * max(1.0, abs(hi_b))))
        # at a point mass the CDF jumps: the root finder lands within its tolerance of it
        atoms = est[se == 0]
        near = atoms[np.abs(atoms - root) <= 1e-9 * max(1.0, abs(hi_b))]
        return float(near[0]) if near.size else root

    return quantile(alpha / 2), quantile(1 - alpha / 2)


def unconditional_se(est, se, weights) -> tuple[float, float]:
    """Burnham and Anderson's model-averaged estimate sum w_i est_i and its unconditional
    standard error sum w_i sqrt(se_i^2 + (est_i - mean)^2), weights renormalised to 1.

    Parameters
    ----------
    est, se : array-like of float, shape (k,)
        Each form's estimate and standard error.
    weights : array-like of float, shape (k,)
        Akaike weights (any positive scale).

    Returns
    -------
    tuple of (float, float)
        The averaged estimate and its unconditional standard error.
    """
    est, se, w = (np.asarray(v, float) for v in (est, se, weights))
    w = w / w.sum()
    mean = float(w @ est)
    return mean, float(w @ np.sqrt(se ** 2 + (est - mean) ** 2))
