"""Curve forms for the scaling statistics: learning curves and a dose-response curve.

A :class:`Form` is the deterministic part of a nonlinear regression ``y = mean(theta, x) + noise``.
It knows its mean and Jacobian, how to map its *internal* parameters ``theta`` (the ones the
optimiser sees) to the *natural* parameters that are reported, starting values, and how to
invert the curve (which ``x`` gives a target ``y``).

Learning curves are fitted on a scaled size ``x = n / n_ref`` (``n_ref`` = the largest training
size) so that all internal parameters are of order one; the natural parameters refer to ``n`` in
training rows. Positive amplitudes are fitted on the log scale (``log_amp``); exponents, rates
and floors are left unconstrained so that a non-decreasing curve or a negative floor shows up
as an estimate (and a warning) rather than being hidden by a constraint.

The default set, :data:`LEARNING_FORMS` (what ``datavsmath fit`` and ``fit_learning_curves``
use unless told otherwise), is kept small: four forms whose parameters 5 to 28 sizes can pin
down.

================  =========================  ===============================  ===============
form              error e(n)                 internal theta                   natural params
================  =========================  ===============================  ===============
``power``         a n^-b                     log A, b  (A = e at n_ref)       a, b
``power_floor``   c + a n^-b                 log A, b, c                      a, b, c
``exp``           a exp(-k n)                log a, k n_ref                   a, k
``exp_floor``     c + a exp(-k n)            log a, k n_ref, c                a, k, c
================  =========================  ===============================  ===============

Opt-in forms, :data:`EXTENDED_FORMS` (``--forms extended`` or ``all``, or by name), from the
learning-curve literature (Domhan et al. 2015; Viering & Loog 2022). Their shape parameters
are positive by construction (fitted on the log scale: these are their bounds, listed in
``Form.bounds``); ``M = m / n_ref``, ``S = s / n_ref``, ``D = d / n_ref``:

==================  ============================  =======================  ==============
form                error e(n)                    internal theta           natural params
==================  ============================  =======================  ==============
``power4``          c + a (n + d)^-b, d > 0        log A, b, log D, c       a, b, d, c
``mmf``             c + a / (1 + (n / m)^h)        log a, log M, log h, c   a, m, h, c
``weibull``         c + a exp(-(n / s)^h)          log a, log S, log h, c   a, s, h, c
``vapor_pressure``  exp(a + b / n - k log n)       alpha, beta, k           a, b, k
``log_power``       a / (1 + (n / m)^h)            log a, log M, log h      a, m, h
==================  ============================  =======================  ==============

and the dose-response curve for metric vs damage (not a learning curve):

================  =========================  ===============================  ===============
``loglogistic``   L + (U-L)/(1+(d/e50)^h)    U, L, log e50, log h             U, L, e50, h
================  =========================  ===============================  ===============

Adding a learning-curve form (its parts: :mod:`datavsmath.stats.form_parts`): write its mean
and analytic Jacobian on the scaled x (a floor form is its floorless core through
:func:`~datavsmath.stats.form_parts.with_floor`, with c as the last internal parameter
and named ``c`` among the natural ones: fits, reachability and floor intervals look for that
name, so no other parameter may be called ``c``); ``to_natural`` mapping theta to parameters in
rows; ``starts`` giving several candidates ranked by ``best_starts``; an ``inverse`` via
``inverse_from`` (closed form, or ``root_log_x`` for numeric root finding); ``floor``,
``rate`` (the natural parameter that must be positive for the error to fall), ``log_ci`` and
``bounds``. Register it in :data:`EXTENDED_FORMS` (opt-in; the default set changes only with
the methods text), and add it to the truth table of ``tests/test_forms.py``, which checks the
Jacobian, the inverse and the recovery of simulated truth for every extended form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .form_parts import (
    FLOOR_SHARES,
    best_starts,
    floor_grid,
    hill,
    inverse_from,
    loglin,
    lstsq,
    root_log_x,
    simple_start,
    with_floor,
)

__all__ = ["Form", "FORMS", "LEARNING_FORMS", "EXTENDED_FORMS", "ALL_LEARNING_FORMS", "FORM_SETS",
           "LOGLOGISTIC", "get_form", "learning_forms"]


@dataclass(frozen=True)
class Form:
    """A parametric curve ``y = mean(theta, x)``; see the module docstring for the forms.

    Attributes
    ----------
    name, formula : str
        Short key and a human-readable equation in natural units.
    internal, natural : tuple of str
        Names of the internal (optimised) and the natural (reported) parameters.
    log_ci : frozenset of str
        Natural parameters that are positive by construction; their confidence intervals are
        computed on the log scale and mapped back (so they stay positive).
    mean : callable (theta (k,), x (m,)) -> (m,)
    jac : callable (theta (k,), x (m,)) -> (m, k)
        Derivative of ``mean`` with respect to ``theta``.
    to_natural : callable (theta (k,), x_ref float) -> (p,)
    starts : callable (x (m,), y (m,), w (m,)) -> list of theta
        Candidate starting values, most promising first.
    inverse : callable (theta, y_target) -> (x, status) or None
        ``x`` (scaled units) at which the curve reaches ``y_target``; status is ``"ok"``,
        ``"floor"`` (target at or below the asymptote: never reached), ``"not_decreasing"`` or
        ``"before_data"`` (reached already as x -> 0). ``None`` for forms that are not inverted.
    floor : callable theta -> float
        The asymptote as x -> infinity (0 for forms without a floor).
    rate : str
        Natural parameter that must be positive for the curve to fall with x.
    scaled : bool
        Whether ``x`` is divided by its maximum before fitting (learning curves) or used as is.
    bounds : dict of str -> (low, high)
        Natural parameters whose range the parameterisation enforces (fitted on the log
        scale, so they stay inside whatever the data say); the others are unconstrained.
    at : callable (params dict of natural parameters, n (m,)) -> (m,)
        The curve in natural units, as ``formula`` writes it: what reports draw from a table of
        fitted parameters (:func:`curve`); ``tests/test_forms.py`` checks it against ``mean``.
    """

    name: str
    formula: str
    internal: tuple
    natural: tuple
    mean: Callable
    jac: Callable
    to_natural: Callable
    starts: Callable
    inverse: Callable | None = None
    floor: Callable = field(default=lambda theta: 0.0)
    rate: str | None = None
    log_ci: frozenset = frozenset()
    scaled: bool = True
    bounds: dict = field(default_factory=dict)
    at: Callable | None = None

    @property
    def k(self) -> int:
        """Number of mean parameters (the noise variance is not counted here)."""
        return len(self.internal)


# --------------------------------------------------------------------------------------------
# the four learning curves (x = n / n_ref, y = error)
def _power_mean(t, x):
    return np.exp(t[0]) * x ** (-t[1])


def _power_jac(t, x):
    m = _power_mean(t, x)
    return np.column_stack([m, -m * np.log(x)])


def _exp_mean(t, x):
    return np.exp(t[0] - t[1] * x)


def _exp_jac(t, x):
    m = _exp_mean(t, x)
    return np.column_stack([m, -x * m])


_powerf_mean, _powerf_jac = with_floor(_power_mean, _power_jac)
_expf_mean, _expf_jac = with_floor(_exp_mean, _exp_jac)


def _exp_log_x(theta, gap):
    x = (theta[0] - np.log(gap)) / theta[1]
    return None if x <= 0 else np.log(x)


def _power_log_x(theta, gap):
    return (theta[0] - np.log(gap)) / theta[1]


POWER = Form(
    name="power", formula="e = a n^(-b)", internal=("log_A", "b"), natural=("a", "b"),
    mean=_power_mean, jac=_power_jac,
    to_natural=lambda t, xr: np.array([np.exp(t[0] + t[1] * np.log(xr)), t[1]]),
    starts=lambda x, y, w: simple_start(x, y, w, log_x=True),
    inverse=inverse_from(_power_log_x, lambda t: 0.0, lambda t: t[1]),
    rate="b", log_ci=frozenset({"a"}),
    at=lambda p, n: p["a"] * n ** -p["b"],
)
POWER_FLOOR = Form(
    name="power_floor", formula="e = c + a n^(-b)", internal=("log_A", "b", "c"),
    natural=("a", "b", "c"), mean=_powerf_mean, jac=_powerf_jac,
    to_natural=lambda t, xr: np.array([np.exp(t[0] + t[1] * np.log(xr)), t[1], t[2]]),
    starts=lambda x, y, w: floor_grid(x, y, w, _powerf_mean, log_x=True),
    inverse=inverse_from(_power_log_x, lambda t: t[2], lambda t: t[1]),
    floor=lambda t: t[2], rate="b", log_ci=frozenset({"a"}),
    at=lambda p, n: p["c"] + p["a"] * n ** -p["b"],
)
EXP = Form(
    name="exp", formula="e = a exp(-k n)", internal=("log_a", "k_nref"), natural=("a", "k"),
    mean=_exp_mean, jac=_exp_jac,
    to_natural=lambda t, xr: np.array([np.exp(t[0]), t[1] / xr]),
    starts=lambda x, y, w: simple_start(x, y, w, log_x=False),
    inverse=inverse_from(_exp_log_x, lambda t: 0.0, lambda t: t[1]),
    rate="k", log_ci=frozenset({"a"}),
    at=lambda p, n: p["a"] * np.exp(-p["k"] * n),
)
EXP_FLOOR = Form(
    name="exp_floor", formula="e = c + a exp(-k n)", internal=("log_a", "k_nref", "c"),
    natural=("a", "k", "c"), mean=_expf_mean, jac=_expf_jac,
    to_natural=lambda t, xr: np.array([np.exp(t[0]), t[1] / xr, t[2]]),
    starts=lambda x, y, w: floor_grid(x, y, w, _expf_mean, log_x=False),
    inverse=inverse_from(_exp_log_x, lambda t: t[2], lambda t: t[1]),
    floor=lambda t: t[2], rate="k", log_ci=frozenset({"a"}),
    at=lambda p, n: p["c"] + p["a"] * np.exp(-p["k"] * n),
)


# --------------------------------------------------------------------------------------------
# four-parameter log-logistic dose-response curve (drc's LL.4), for metric vs damage
def _ll_parts(t, x):
    return hill(x, t[2], t[3])


def _ll_mean(t, x):
    _, _, g = _ll_parts(t, x)
    return t[1] + (t[0] - t[1]) * g


def _ll_jac(t, x):
    z, lr, g = _ll_parts(t, x)
    h, span = np.exp(t[3]), t[0] - t[1]
    zlr = np.where(z > 0, z * np.where(np.isfinite(lr), lr, 0.0), 0.0)
    return np.column_stack([g, 1.0 - g, span * g * g * h * z, -span * g * g * h * zlr])


def _ll_starts(x, y, w):
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    upper = float(np.median(ys[:3]))
    lower = float(np.min(ys))
    mid = 0.5 * (upper + lower)
    below = np.nonzero(ys <= mid)[0]
    if below.size and below[0] > 0:
        i = below[0]  # interpolate the first crossing of the mid level
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        e50 = x0 + (x1 - x0) * (y0 - mid) / (y0 - y1) if y0 != y1 else x1
    else:
        e50 = float(np.median(xs[xs > 0])) if np.any(xs > 0) else 0.5
    e50 = max(e50, 1e-3)
    cands = [np.array([upper, lower, np.log(e50), np.log(h)]) for h in (2.0, 6.0, 20.0)]
    return best_starts(cands, _ll_mean, x, y, w, n_keep=2)


LOGLOGISTIC = Form(
    name="loglogistic", formula="y = L + (U - L) / (1 + (d / e50)^h)",
    internal=("U", "L", "log_e50", "log_h"), natural=("U", "L", "e50", "h"),
    mean=_ll_mean, jac=_ll_jac,
    to_natural=lambda t, xr: np.array([t[0], t[1], np.exp(t[2]), np.exp(t[3])]),
    starts=_ll_starts, log_ci=frozenset({"e50", "h"}), scaled=False,
    at=lambda p, d: p["L"] + (p["U"] - p["L"]) / (1 + (d / p["e50"]) ** p["h"]),
)

# --------------------------------------------------------------------------------------------
# opt-in learning curves from the literature (Domhan et al. 2015; Viering & Loog 2022).
# Shape parameters (shift d, scale m or s, Hill/Weibull slope h) are positive by construction:
# they are fitted on the log scale, which is how their bounds are enforced; amplitudes too.
# power law with a shift, Rosenfeld's 4-parameter form: theta = (log A, b, log D, c)
def _shifted_power_mean(t, x):
    return np.exp(t[0] - t[1] * np.log(x + np.exp(t[2])))


def _shifted_power_jac(t, x):
    m, d = _shifted_power_mean(t, x), np.exp(t[2])
    return np.column_stack([m, -m * np.log(x + d), -t[1] * m * d / (x + d)])


def _power4_log_x(theta, gap):
    x = np.exp((theta[0] - np.log(gap)) / theta[1]) - np.exp(theta[2])
    return None if x <= 0 else np.log(x)


def _power4_starts(x, y, w):
    """Floor grid x shift grid (d = 0.3%, 3%, 30% of n_ref), each linearised as a power law."""
    ymin, cands = np.min(y), []
    for log_d in np.log([0.003, 0.03, 0.3]):
        for share in FLOOR_SHARES:
            c = share * ymin if ymin > 0 else 0.0
            start = loglin(np.log(x + np.exp(log_d)), y, w, c)
            if start is not None:
                cands.append(np.array([start[0], start[1], log_d, c]))
    return (best_starts(cands, _power4_mean, x, y, w, n_keep=3)
            or [np.array([np.log(max(np.mean(y), 1e-6)), 0.3, np.log(0.03), 0.0])])


_power4_mean, _power4_jac = with_floor(_shifted_power_mean, _shifted_power_jac)


# sigmoids in log x that fall from c + a (x -> 0) to c: theta = (log a, log m, log h[, c])
def _logpow_mean(t, x):
    return np.exp(t[0]) * hill(x, t[1], t[2])[2]


def _logpow_jac(t, x):
    z, lr, g = hill(x, t[1], t[2])
    m, h = np.exp(t[0]) * g, np.exp(t[2])
    return np.column_stack([m, m * g * h * z, -m * g * h * z * lr])


def _weibull_core_mean(t, x):
    with np.errstate(divide="ignore"):
        return np.exp(t[0] - np.exp(np.exp(t[2]) * (np.log(x) - t[1])))


def _weibull_core_jac(t, x):
    lr, h = np.log(x) - t[1], np.exp(t[2])
    m, u = _weibull_core_mean(t, x), np.exp(h * lr)  # u = (x / s)^h
    return np.column_stack([m, m * u * h, -m * u * h * lr])


# how a sigmoid's excess ratio r = a / (e - c) > 1 becomes a line in log x:
# log link(r) = h (log x - log m); MMF/log-power: link = r - 1, Weibull: link = log r
_MMF_LINK = lambda r: r - 1.0  # noqa: E731
_WEIBULL_LINK = np.log


def _sigmoid_log_x(link):
    """Closed-form inverse of a sigmoid form: log x = log m + log(link(a / gap)) / h."""

    def log_x_of(theta, gap):
        z = link(np.exp(theta[0]) / gap)
        return None if z <= 0 else theta[1] + np.log(z) / np.exp(theta[2])

    return log_x_of


def _sigmoid_starts(link, form_mean, floored: bool):
    """Starting values of a sigmoid form: for floors c below min(y) and spans a above the data
    (1.5, 3, 10 x the range), log link(a / (y - c)) is a line in log x; the 3 best by RSS."""

    def starts(x, y, w):
        ymin, ymax, cands = np.min(y), np.max(y), []
        for share in (FLOOR_SHARES if floored else (0.0,)):
            c = share * ymin if ymin > 0 else 0.0
            for mult in (1.5, 3.0, 10.0):
                a = mult * max(ymax - c, 1e-6)
                with np.errstate(all="ignore"):
                    z = np.log(link(a / (y - c)))
                ok = np.isfinite(z) & (y > c)
                if ok.sum() < 2:
                    continue
                icpt, slope = lstsq(np.column_stack([np.ones(ok.sum()), np.log(x[ok])]),
                                     z[ok], w[ok])
                if slope > 0:
                    cands.append(np.array([np.log(a), -icpt / slope, np.log(slope)]
                                          + ([c] if floored else [])))
        fallback = np.array([np.log(max(ymax, 1e-6)), 0.0, 0.0] + ([0.0] if floored else []))
        return best_starts(cands, form_mean, x, y, w, n_keep=3) or [fallback]

    return starts


# vapor pressure: log e linear in (1, 1/x, -log x): theta = (alpha, beta, k)
def _vapor_design(x):
    return np.column_stack([np.ones_like(x), 1.0 / x, -np.log(x)])


def _vapor_mean(t, x):
    return np.exp(_vapor_design(x) @ np.asarray(t, float))


def _vapor_jac(t, x):
    return _vapor_design(x) * _vapor_mean(t, x)[:, None]


def _vapor_starts(x, y, w):
    """Weighted OLS of log y on (1, 1/x, -log x), and the pure power law (beta = 0)."""
    ok = y > 0
    if ok.sum() < 3:
        return [np.array([np.log(max(np.mean(np.abs(y)), 1e-6)), 0.0, 0.3])]
    full = lstsq(_vapor_design(x[ok]), np.log(y[ok]), w[ok])
    power = loglin(np.log(x), y, w, 0.0)
    cands = [full] + ([np.array([power[0], 0.0, power[1]])] if power else [])
    return best_starts(cands, _vapor_mean, x, y, w, n_keep=2) or [full]


def _sigmoid_natural(t, xr):
    """(a, m or s, h[, c]) of a sigmoid form: exp of the log parameters, the scale in rows
    (times n_ref), the floor as is."""
    nat = np.exp(np.asarray(t[:3], float)) * np.array([1.0, xr, 1.0])
    return np.concatenate([nat, np.asarray(t[3:], float)])


_POSITIVE = (0.0, np.inf)


def _sigmoid(name, formula, scale, link, core_mean, core_jac, at, floored=True) -> Form:
    """A sigmoid form in log x falling from c + a to c (mmf, weibull; log_power without the floor):
    theta = (log a, log of the scale over n_ref, log h[, c]); a, the scale and h are positive."""
    mean, jac = with_floor(core_mean, core_jac) if floored else (core_mean, core_jac)
    floor: Callable = (lambda t: t[3]) if floored else (lambda t: 0.0)
    shape = ("a", scale, "h")
    return Form(name=name, formula=formula, internal=("log_a", f"log_{scale.upper()}", "log_h") + ("c",) * floored,
                natural=shape + ("c",) * floored, mean=mean, jac=jac, to_natural=_sigmoid_natural,
                starts=_sigmoid_starts(link, mean, floored),
                inverse=inverse_from(_sigmoid_log_x(link), floor, lambda t: np.exp(t[2])), floor=floor,
                rate="h", log_ci=frozenset(shape), bounds=dict.fromkeys(shape, _POSITIVE), at=at)


POWER4 = Form(
    name="power4", formula="e = c + a (n + d)^(-b)", internal=("log_A", "b", "log_D", "c"),
    natural=("a", "b", "d", "c"), mean=_power4_mean, jac=_power4_jac,
    to_natural=lambda t, xr: np.array([np.exp(t[0] + t[1] * np.log(xr)), t[1],
                                       np.exp(t[2]) * xr, t[3]]),
    starts=_power4_starts,
    inverse=inverse_from(_power4_log_x, lambda t: t[3], lambda t: t[1]),
    floor=lambda t: t[3], rate="b", log_ci=frozenset({"a", "d"}),
    bounds={"a": _POSITIVE, "d": _POSITIVE},
    at=lambda p, n: p["c"] + p["a"] * (n + p["d"]) ** -p["b"],
)
VAPOR_PRESSURE = Form(
    name="vapor_pressure", formula="e = exp(a + b / n - k log n)",
    internal=("alpha", "beta", "k"), natural=("a", "b", "k"),
    mean=_vapor_mean, jac=_vapor_jac,
    to_natural=lambda t, xr: np.array([t[0] + t[2] * np.log(xr), t[1] * xr, t[2]]),
    starts=_vapor_starts,
    inverse=inverse_from(root_log_x(_vapor_mean), lambda t: 0.0, lambda t: t[2]),
    rate="k",
    at=lambda p, n: np.exp(p["a"] + p["b"] / n - p["k"] * np.log(n)),
)
MMF = _sigmoid("mmf", "e = c + a / (1 + (n / m)^h)", "m", _MMF_LINK, _logpow_mean, _logpow_jac,
               at=lambda p, n: p["c"] + p["a"] / (1 + (n / p["m"]) ** p["h"]))
WEIBULL = _sigmoid("weibull", "e = c + a exp(-(n / s)^h)", "s", _WEIBULL_LINK, _weibull_core_mean,
                   _weibull_core_jac, at=lambda p, n: p["c"] + p["a"] * np.exp(-(n / p["s"]) ** p["h"]))
LOG_POWER = _sigmoid("log_power", "e = a / (1 + (n / m)^h)", "m", _MMF_LINK, _logpow_mean, _logpow_jac,
                     at=lambda p, n: p["a"] / (1 + (n / p["m"]) ** p["h"]), floored=False)


#: the learning-curve forms by name, in the order they are reported
LEARNING_FORMS = {f.name: f for f in (POWER, POWER_FLOOR, EXP, EXP_FLOOR)}
#: opt-in learning-curve forms (``--forms extended`` / ``all``)
EXTENDED_FORMS = {f.name: f for f in (POWER4, MMF, WEIBULL, VAPOR_PRESSURE, LOG_POWER)}
ALL_LEARNING_FORMS = {**LEARNING_FORMS, **EXTENDED_FORMS}
FORMS = {**ALL_LEARNING_FORMS, LOGLOGISTIC.name: LOGLOGISTIC}
#: names that select a set of learning-curve forms
FORM_SETS = {"default": tuple(LEARNING_FORMS), "extended": tuple(EXTENDED_FORMS),
             "all": tuple(ALL_LEARNING_FORMS)}


def curve(form: str, params: dict, n) -> np.ndarray:
    """A fitted curve from its natural parameters, as the statistics tables report them.

    Parameters
    ----------
    form : str
        A form of :data:`FORMS`.
    params : dict of str -> float
        Its natural parameters, ``{name: estimate}``.
    n : array_like
        Training rows (damage for the log-logistic).

    Returns
    -------
    ndarray
        The curve at ``n``; KeyError naming the form or the missing parameter.
    """
    if form not in FORMS:
        raise KeyError(f"unknown form {form!r}; known: {', '.join(FORMS)}")
    at = FORMS[form].at
    if at is None:
        raise KeyError(f"form {form!r} has no formula in natural units to draw")
    missing = [p for p in FORMS[form].natural if p not in params]
    if missing:
        raise KeyError(f"form {form!r} needs parameters {missing}")
    return at(params, np.asarray(n, dtype=float))


def learning_forms(spec: "str | Sequence[str]") -> tuple:
    """Learning-curve form names from a ``--forms`` value.

    Parameters
    ----------
    spec : str or sequence of str
        Comma-separated (or a list of) form names and set names (default, extended, all).

    Returns
    -------
    tuple of str
        Expanded in order, duplicates dropped; ValueError naming the unknown entries and the
        choices.
    """
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for item in items if item for n in FORM_SETS.get(item, (item,))]
    bad = [n for n in names if n not in ALL_LEARNING_FORMS]
    if not names or bad:
        raise ValueError(f"unknown form(s) {bad or spec!r}; choose learning-curve forms from "
                         f"{', '.join(ALL_LEARNING_FORMS)} or a set: {', '.join(FORM_SETS)}")
    return tuple(dict.fromkeys(names))


def get_form(form: "str | Form") -> Form:
    """A form by name.

    Parameters
    ----------
    form : str or Form
        A name of :data:`FORMS`, or a form (returned as it is).

    Returns
    -------
    Form
        ValueError for unknown names.
    """
    if isinstance(form, Form):
        return form
    try:
        return FORMS[form]
    except KeyError:
        raise ValueError(f"unknown curve form {form!r}; choose from {sorted(FORMS)}") from None
