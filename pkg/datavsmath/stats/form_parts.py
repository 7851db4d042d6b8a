"""What the curve forms of :mod:`datavsmath.stats.forms` are built from: starting values by
linearised weighted least squares, the floor added to a floorless core, inverses in closed form
or by root finding, and the Hill term of the sigmoid forms. A new form is written with these
(see "Adding a learning-curve form" in :mod:`datavsmath.stats.forms`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FLOOR_SHARES", "best_starts", "floor_grid", "hill", "inverse_from", "loglin", "loglin_start", "lstsq",
           "root_log_x", "simple_start", "with_floor"]


# starting values: linearise and solve by (weighted) least squares
def lstsq(design: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares.

    Parameters
    ----------
    design : ndarray, shape (m, p)
        The design matrix.
    z : ndarray, shape (m,)
        The response.
    w : ndarray, shape (m,)
        Non-negative weights.

    Returns
    -------
    ndarray, shape (p,)
        The coefficients.
    """
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], z * sw, rcond=None)
    return coef


def loglin(u, y, w, c):
    """The weighted OLS of log(y - c) on u.

    Parameters
    ----------
    u : ndarray, shape (m,)
        The regressor (log x or x).
    y, w : ndarray, shape (m,)
        Errors and weights.
    c : float
        The floor subtracted.

    Returns
    -------
    (float, float) or None
        (intercept, -slope); None if fewer than 2 points lie above c.
    """
    ok = (y - c) > 0
    if ok.sum() < 2:
        return None
    coef = lstsq(np.column_stack([np.ones(ok.sum()), u[ok]]), np.log(y[ok] - c), w[ok])
    return coef[0], -coef[1]


def loglin_start(x, y, w, c, log_x: bool):
    """(log amplitude, slope) of a power law (log x) or an exponential (x) through the points,
    linearised as :func:`loglin`.

    Parameters
    ----------
    x, y, w : ndarray, shape (m,)
        Scaled sizes, errors and weights.
    c : float
        The floor subtracted.
    log_x : bool
        Regress on log x (power law) rather than x (exponential).

    Returns
    -------
    (float, float) or None
        None if too few points lie above c.
    """
    return loglin(np.log(x) if log_x else x, y, w, c)


def best_starts(cands, form_mean, x, y, w, n_keep: int):
    """The candidate thetas with the smallest weighted RSS (finite ones only), so the optimiser
    starts from several distinct, plausible points rather than one guess.

    Parameters
    ----------
    cands : list of ndarray
        Candidate internal parameters.
    form_mean : callable
        ``form_mean(theta, x)``, the form's mean.
    x, y, w : ndarray, shape (m,)
        Scaled sizes, errors and weights.
    n_keep : int
        Candidates kept.

    Returns
    -------
    list of ndarray
        At most ``n_keep``, best first (empty when none is finite).
    """
    scored = []
    for theta in cands:
        with np.errstate(all="ignore"):
            rss = np.sum(w * (y - form_mean(theta, x)) ** 2)
        if np.all(np.isfinite(theta)) and np.isfinite(rss):
            scored.append((rss, theta))
    scored.sort(key=lambda t: t[0])
    return [t for _, t in scored[:n_keep]]


#: shares of min(y) tried as the floor c when linearising a floor form
FLOOR_SHARES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99)


def floor_grid(x, y, w, form_mean, log_x: bool, n_keep: int = 2):
    """Starting values for the floor forms (power law or exponential with a floor): the floor
    profiled over :data:`FLOOR_SHARES` of min(y).

    Parameters
    ----------
    x, y, w : ndarray, shape (m,)
        Scaled sizes, errors and weights.
    form_mean : callable
        The floor form's mean, for ranking (:func:`best_starts`).
    log_x : bool
        Power law (True) or exponential.
    n_keep : int
        Candidates kept.

    Returns
    -------
    list of ndarray
        Thetas (log amplitude, rate, c); a neutral guess when no line fits.
    """
    ymin = np.min(y)
    cands = []
    for share in FLOOR_SHARES:
        c = share * ymin if ymin > 0 else 0.0
        start = loglin_start(x, y, w, c, log_x)
        if start is not None:
            cands.append(np.array([start[0], start[1], c]))
    return (best_starts(cands, form_mean, x, y, w, n_keep)
            or [np.array([np.log(max(np.mean(y), 1e-6)), 0.3, 0.0])])


def simple_start(x, y, w, log_x: bool):
    """The starting value of a power law or exponential without a floor.

    Parameters
    ----------
    x, y, w : ndarray, shape (m,)
        Scaled sizes, errors and weights.
    log_x : bool
        Power law (True) or exponential.

    Returns
    -------
    list of ndarray
        One theta (log amplitude, rate).
    """
    start = loglin_start(x, y, w, 0.0, log_x)
    if start is None:
        return [np.array([np.log(max(np.mean(np.abs(y)), 1e-6)), 0.3])]
    return [np.array(start)]


def with_floor(core_mean, core_jac):
    """A floor form from its floorless core: the floor c is the last internal parameter, so the
    form's mean is ``c + core(theta[:-1], x)`` and its Jacobian the core's plus a column of ones.

    Parameters
    ----------
    core_mean, core_jac : callable
        The core's mean (theta, x) -> (m,) and Jacobian (theta, x) -> (m, k).

    Returns
    -------
    (callable, callable)
        The floor form's mean and Jacobian.
    """

    def mean(t, x):
        return t[-1] + core_mean(t[:-1], x)

    def jac(t, x):
        return np.column_stack([core_jac(t[:-1], x), np.ones_like(x)])

    return mean, jac


def inverse_from(log_x_of, floor_of, rate_of):
    """A form's inverse (:attr:`datavsmath.stats.forms.Form.inverse`), from where its excess over
    the floor reaches a gap.

    Parameters
    ----------
    log_x_of : callable
        ``log_x_of(theta, gap)``: log x at which the curve's excess over the floor equals
        ``gap`` > 0; None if already below it as x -> 0, inf if never reached.
    floor_of : callable
        ``floor_of(theta)``: the asymptote.
    rate_of : callable
        ``rate_of(theta)``: the parameter that must be positive for the curve to fall.

    Returns
    -------
    callable
        ``inverse(theta, y)`` -> (x, status), status "ok", "floor", "not_decreasing",
        "before_data" or "undefined".
    """

    def inverse(theta, y):
        if not np.all(np.isfinite(theta)):
            return np.nan, "undefined"
        if rate_of(theta) <= 0:
            return np.nan, "not_decreasing"
        gap = y - floor_of(theta)
        if gap <= 0:
            return np.inf, "floor"
        lx = log_x_of(theta, gap)
        if lx is None:
            return 0.0, "before_data"
        if not np.isfinite(lx):  # not reached within the root finder's range: as a floor
            return np.inf, "floor"
        return float(np.exp(lx)), "ok"

    return inverse


def hill(x, log_m, log_h):
    """The Hill term of the sigmoid forms; z is 0 and log(x / m) is -inf at x = 0, and the
    exponent is clipped so z never overflows.

    Parameters
    ----------
    x : ndarray, shape (m,)
        Sizes (or damage), >= 0.
    log_m, log_h : float
        Log of the scale m and of the slope h.

    Returns
    -------
    (ndarray, ndarray, ndarray)
        z = (x / m)^h, log(x / m) and g = 1 / (1 + z), each (m,).
    """
    with np.errstate(divide="ignore"):
        lr = np.log(x) - log_m
    z = np.exp(np.clip(np.exp(log_h) * lr, -700, 700))
    return z, lr, 1.0 / (1.0 + z)


def root_log_x(excess, lo: float = -30.0, hi: float = 60.0):
    """A ``log_x_of`` for :func:`inverse_from` by root finding, for forms without a closed-form
    inverse.

    The last crossing of the gap on a grid of log x in [lo, hi] is bracketed and refined by
    Brent's method on log x (the curve may rise before it falls, e.g. vapor pressure with b < 0).

    Parameters
    ----------
    excess : callable
        ``excess(theta, x)``: mean - floor, (m,) for x (m,).
    lo, hi : float
        The range of log x searched.

    Returns
    -------
    callable
        ``log_x_of(theta, gap)``: None when the excess is below the gap already at x = e^lo
        (reached before the data); inf when it is still above at e^hi.
    """
    from scipy.optimize import brentq

    grid = np.linspace(lo, hi, 181)

    def f(theta, lx, gap):
        with np.errstate(all="ignore"):
            return np.log(excess(theta, np.exp(np.atleast_1d(lx)))) - np.log(gap)

    def log_x_of(theta, gap):
        above = np.flatnonzero(f(theta, grid, gap) > 0)
        if above.size == 0:
            return None
        i = above[-1]
        if i == grid.size - 1:
            return np.inf
        return brentq(lambda lx: f(theta, lx, gap)[0], grid[i], grid[i + 1], xtol=1e-12)

    return log_x_of
