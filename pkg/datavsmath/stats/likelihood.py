"""The likelihood of one nonlinear curve and its maximisation with statsmodels.

Model: ``y_i = mean(theta, x_i) + eps_i`` with ``eps_i ~ N(0, sigma^2 / w_i)``, independent;
``w_i`` are known relative weights (1 for single runs; replicate counts over per-cell variances
when there are replicates). ``sigma`` is concentrated out of the likelihood (its MLE is the
weighted residual mean square), which leaves a well-conditioned problem in ``theta`` only;
statsmodels' :class:`~statsmodels.base.model.GenericLikelihoodModel` maximises it (BFGS with the
analytic score, then a Newton polish with the Hessian of the analytic score). The fit built on
it, and its inference, are :mod:`datavsmath.stats.curves`'.
"""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.base.model import GenericLikelihoodModel
from statsmodels.tools.numdiff import approx_fprime

from .forms import Form

__all__ = ["CurveModel", "optimise"]


class CurveModel(GenericLikelihoodModel):
    """Gaussian nonlinear regression ``y = form.mean(theta, x) + N(0, sigma^2 / w)`` with
    ``sigma`` profiled out, so ``params`` are the form's internal parameters only.

    Parameters
    ----------
    y : (m,) array, response (e.g. error = 1 - accuracy)
    x : (m,) array, predictor already on the form's scale (n / n_ref for learning curves)
    form : Form
    weights : (m,) array of positive relative weights, default all 1
    """

    def __init__(self, y, x, form: Form, weights=None):
        y = np.asarray(y, dtype=float)
        super().__init__(y, None, extra_params_names=list(form.internal))
        self.x = np.asarray(x, dtype=float)
        self.form = form
        self.w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
        self.nobs_used = y.size
        self._const = 0.5 * np.sum(np.log(self.w))

    def _rss(self, params):
        with np.errstate(all="ignore"):
            r = self.endog - self.form.mean(params, self.x)
            return np.sum(self.w * r * r), r

    def loglike(self, params):
        """Profile log-likelihood: -m/2 (log(2 pi RSS_w / m) + 1) + 1/2 sum log w.

        Parameters
        ----------
        params : numpy.ndarray, shape (k,)
            The form's internal parameters.

        Returns
        -------
        float
        """
        rss, _ = self._rss(params)
        m = self.nobs_used
        if not np.isfinite(rss):
            return -np.inf
        rss = max(rss, 1e-300)  # an exact fit: keep the log finite
        return -0.5 * m * (np.log(2 * np.pi * rss / m) + 1.0) + self._const

    def score(self, params):
        """Analytic gradient m J'Wr / RSS of the profile log-likelihood.

        Parameters
        ----------
        params : numpy.ndarray, shape (k,)
            The form's internal parameters.

        Returns
        -------
        numpy.ndarray, shape (k,)
        """
        rss, r = self._rss(params)
        rss = max(rss, 1e-300)
        with np.errstate(all="ignore"):
            g = self.nobs_used * (self.form.jac(params, self.x).T @ (self.w * r)) / rss
        return np.where(np.isfinite(g), g, 0.0) if np.isfinite(rss) else np.zeros_like(params)

    def hessian(self, params):
        """Central differences of the analytic score, symmetrised.

        Parameters
        ----------
        params : numpy.ndarray, shape (k,)
            The form's internal parameters.

        Returns
        -------
        numpy.ndarray, shape (k, k)
        """
        h = approx_fprime(np.asarray(params, float), self.score, centered=True)
        return 0.5 * (h + h.T)



def _fit_recording(model: CurveModel, **kwargs):
    """``model.fit(**kwargs)`` and the distinct warnings it raised about its result
    (floating-point warnings met by trial steps of the line search are not about the result)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(disp=0, skip_hessian=True, **kwargs)
    said = dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught
                         if not issubclass(w.category, RuntimeWarning))
    return res, list(said)



def optimise(model: CurveModel, start):
    """Maximise the likelihood by BFGS from ``start``, then polish it by Newton's method.

    The polish is kept where it does not lower the likelihood; an optimiser that fails
    (singular steps, overflow) or ends at non-finite parameters gives None.

    Parameters
    ----------
    model : CurveModel
        The likelihood to maximise.
    start : array-like of float, shape (k,)
        Starting values of the form's internal parameters.

    Returns
    -------
    tuple of (statsmodels results or None, list of str)
        The results of the optimisation kept, and the distinct warnings its optimiser raised
        about its result.
    """
    try:
        res, said = _fit_recording(model, start_params=np.asarray(start, float), method="bfgs",
                                   maxiter=400, gtol=1e-9)
        if np.all(np.isfinite(res.params)):
            polished, p_said = _fit_recording(model, start_params=res.params, method="newton",
                                              maxiter=30, tol=1e-12)
            if np.isfinite(polished.llf) and polished.llf >= res.llf - 1e-9:
                res, said = polished, p_said
    except (np.linalg.LinAlgError, ValueError, OverflowError, FloatingPointError):
        return None, []
    ok = np.all(np.isfinite(res.params)) and np.isfinite(res.llf)
    return (res if ok else None), said
