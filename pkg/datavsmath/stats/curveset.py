"""The forms fitted to one learning curve: which of them may take part in the model choice,
the one selected by an information criterion, and Akaike-weighted averages over the admissible
ones (a parameter, the error floor, the rows needed to reach a target error).

Built by :func:`datavsmath.stats.learning.fit_learning_curves`, one per (model, metric, damage
level).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .averaging import mixture_interval, unconditional_se
from .cells import weighting_text
from .curves import CurveFit, Summary, never_chance

__all__ = ["CurveSet"]


@dataclass
class CurveSet:
    """All forms fitted to one learning curve: one (model, metric, damage level).

    ``fits`` maps form name -> :class:`CurveFit`; ``selected`` is the admissible form with the
    lowest ``criterion`` (None if none is admissible; ties go to the alphabetically first
    name, so the answer never depends on the order of the candidate list); ``cells`` is the
    :func:`cell_table`. :meth:`average_solve` gives the model-averaged n*.
    """

    experiment: str
    model: str
    metric: str
    frac_damage: float
    cells: pd.DataFrame
    fits: dict
    criterion: str = "aicc"
    selected: str | None = None
    notes: list = field(default_factory=list)

    @staticmethod
    def status(fit: CurveFit, criterion: str = "aicc") -> str:
        """Why a form can or cannot take part in the model choice: "ok", "not identifiable:
        ..." (no converged fit, or too few points for the criterion), "error rises with n"
        (its rate is negative, or the fitted curve rises anywhere over the sizes observed),
        "no decline" or "negative floor".

        Parameters
        ----------
        fit : CurveFit
            One form's fit.
        criterion : {"aicc", "aic", "bic"}, default "aicc"
            The information criterion of the model choice.

        Returns
        -------
        str
        """
        K, m = fit.n_params, fit.nobs
        if not fit.converged:
            if m < K:
                return f"not identifiable: {m} points for {K} parameters (sigma included)"
            return "not identifiable: no converged fit (see notes)"
        if not np.isfinite(getattr(fit, criterion)):
            return (f"not identifiable by {criterion.upper()}: {m} points, needs at least "
                    f"{K + 2} for {K} parameters")
        p = fit.params
        if fit.form.rate and not p[fit.form.rate] > 0:
            return "error rises with n" if p[fit.form.rate] < 0 else "no decline"
        if np.any(np.diff(fit.predict(np.unique(fit.x))) > 0):
            # a falling tail is not enough: vapor pressure with b < 0 peaks at n = -b/k, which
            # may lie inside the data
            return "error rises with n"
        # a floor estimate below 0 whose interval holds 0 is a floor of about 0, not a wrong form
        if "c" in p.index and p["c"] < 0 and fit.conf_int().loc["c", "ci_high"] < 0:
            return "negative floor"
        return "ok"

    @staticmethod
    def admissible(fit: CurveFit, criterion: str = "aicc") -> bool:
        """Converged, criterion defined, falling with n (b or k > 0) and a floor, if any,
        not below 0 (a floor whose whole interval lies below 0 is physically impossible: the
        form is then wrong).

        Parameters
        ----------
        fit : CurveFit
            One form's fit.
        criterion : {"aicc", "aic", "bic"}, default "aicc"
            The information criterion of the model choice.

        Returns
        -------
        bool
            :meth:`status` is "ok".
        """
        return CurveSet.status(fit, criterion) == "ok"

    @property
    def weighting(self) -> str:
        """How the cells were weighted, in words (what the intervals are conditional on)."""
        return weighting_text(self.cells)

    def comparison(self) -> pd.DataFrame:
        """One row per form: n_params (sigma included), llf, aic, aicc, bic, status (why a
        form is or is not in the choice), admissible, selected, and by the criterion: delta
        (to the best admissible form) and weight (exp(-delta/2) normalised over admissible
        forms: the Akaike weight when the criterion is AIC/AICc; NaN for the others)."""
        rows = []
        for name, fit in self.fits.items():
            st = self.status(fit, self.criterion)
            rows.append({"form": name, "formula": fit.form.formula, "n_params": fit.n_params,
                         "llf": fit.llf, "aic": fit.aic, "aicc": fit.aicc, "bic": fit.bic,
                         "status": st, "admissible": st == "ok",
                         "selected": name == self.selected})
        out = pd.DataFrame(rows).set_index("form")
        crit = out[self.criterion].where(out["admissible"])
        out["delta"] = crit - crit.min()
        w = np.exp(-0.5 * out["delta"])
        out["weight"] = w / w.sum() if w.notna().any() else np.nan
        return out

    def select(self) -> str | None:
        """Pick the admissible form with the lowest criterion (None, with a note, if none is).
        Forms left out because their criterion is undefined are named in a note."""
        comp = self.comparison()
        ok = comp[comp["admissible"]].sort_index()  # ties: alphabetical, not list order
        self.selected = ok[self.criterion].idxmin() if len(ok) else None
        label = f"{self.model} {self.metric}"
        unident = [f for f, st in comp["status"].items() if st.startswith("not identifiable")]
        if unident:
            self.notes.append(f"{label}, {len(self.cells)} cells: left out of the model "
                              "choice and the average: " + "; ".join(
                                  f"{f} ({comp.loc[f, 'status']})" for f in unident))
        if self.selected is None:
            why = "; ".join(f"{f}: {st}" for f, st in comp["status"].items())
            self.notes.append(f"{label}: no admissible fit, nothing selected ({why})")
        return self.selected

    @property
    def best(self) -> CurveFit | None:
        return self.fits.get(self.selected) if self.selected else None

    def _admissible_weights(self) -> pd.Series:
        comp = self.comparison()
        return comp.loc[comp["admissible"], "weight"]

    def average_floor(self, alpha: float = 0.05) -> dict:
        """The error floor averaged over the admissible forms: floor (sum w_i c_i), its MATA
        interval floor_ci_low, floor_ci_high (forms without a floor contribute a point mass at
        the 0 they assume), floor_assumed_weight (their Akaike weight). NaN when no form is
        admissible.

        Parameters
        ----------
        alpha : float, default 0.05
            One less the confidence level.

        Returns
        -------
        dict
            floor, floor_ci_low, floor_ci_high, floor_assumed_weight.
        """
        w = self._admissible_weights()
        out = {"floor": np.nan, "floor_ci_low": np.nan, "floor_ci_high": np.nan,
               "floor_assumed_weight": np.nan}
        if w.empty:
            return out
        fl = {f: self.fits[f].floor_interval(alpha) for f in w.index}
        est = np.array([fl[f]["floor"] for f in w.index])
        se = np.array([0.0 if fl[f]["floor_assumed"] else fl[f]["floor_se"] for f in w.index])
        df = np.array([self.fits[f].df_resid for f in w.index], float)
        lo, hi = mixture_interval(est, se, df, w.to_numpy(), alpha)
        return {"floor": float(w.to_numpy() @ est), "floor_ci_low": lo, "floor_ci_high": hi,
                "floor_assumed_weight": float(sum(w[f] for f in w.index
                                                  if fl[f]["floor_assumed"]))}

    def average_param(self, name: str, alpha: float = 0.05) -> dict:
        """A natural parameter (e.g. the exponent ``b``) averaged over the admissible forms
        that have it, weights renormalised among them: estimate (sum w_i theta_i), ci_low,
        ci_high (MATA-Wald: quantiles of the weighted mixture of the forms' t distributions),
        se (Burnham-Anderson unconditional), weight (the Akaike weight of the forms that have
        it: the average is conditional on that family, e.g. the power laws for b) and forms.

        Parameters
        ----------
        name : str
            A natural parameter, e.g. "b".
        alpha : float, default 0.05
            One less the confidence level.

        Returns
        -------
        dict
            param, estimate, ci_low, ci_high, se, weight, forms.
        """
        w = self._admissible_weights()
        have = [f for f in w.index if name in self.fits[f].form.natural]
        out = {"param": name, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
               "se": np.nan, "weight": float(w[have].sum()) if have else 0.0,
               "forms": ", ".join(f"{f} {w[f]:.2f}" for f in have)}
        if not have or not w[have].sum() > 0:
            return out
        tables = [self.fits[f].param_table(alpha).loc[name] for f in have]
        est = np.array([t["estimate"] for t in tables])
        se = np.array([t["std_err"] for t in tables])
        df = np.array([self.fits[f].df_resid for f in have], float)
        ww = w[have].to_numpy() / w[have].sum()
        lo, hi = mixture_interval(est, se, df, ww, alpha)
        mean, se_u = unconditional_se(est, se, ww)
        return out | {"estimate": mean, "ci_low": lo, "ci_high": hi, "se": se_u}

    def _earliest(self, form: str, y_target: float, alpha: float) -> float:
        """log n* of ``form`` with its floor at the lower (1 - alpha) limit: the earliest the
        target can be reached under it; nan where that does not reach it either."""
        fit = self.fits[form]
        fl = fit.floor_interval(alpha)
        if fl["floor_assumed"] or not np.isfinite(fl["floor_ci_low"]):
            return np.nan
        theta = fit.theta.copy()
        theta[fit.form.internal.index("c")] = fl["floor_ci_low"]
        xs, status = fit.form.inverse(theta, y_target)
        return float(np.log(xs * fit.x_ref)) if status == "ok" else np.nan

    def average_solve(self, y_target: float, alpha: float = 0.05) -> dict:
        """Model-averaged n* where the curve reaches error ``y_target``, over the admissible
        forms with their Akaike (criterion) weights w_i.

        Each form answers with a sampling distribution for log n*: a form whose floor (or
        whose failure to fall) puts the target out of reach says "never" (a point mass at
        +inf); a form reached before any data says n* = 0 (a mass at -inf); the others give
        log n*_i with its delta-method t distribution, of which the share P(c_i >= target)
        that their own floor interval assigns to "never" is moved to +inf. The interval is the
        MATA-Wald one (:func:`~datavsmath.stats.averaging.mixture_interval`): the 2.5% and
        97.5% quantiles of that mixture, so its upper limit is infinite when "never" weighs
        at least 2.5%. The point is the weighted mean of log n* over the reaching forms with
        Burnham and Anderson's unconditional standard error (se_log, kept for the derivative
        and the advisor, which draw log n* from t(df)); status "floor" (or "not_decreasing")
        when "never" weighs more than 1/2, "already_met" when n* = 0 does.

        Returns the keys of :meth:`CurveFit.solve` (the floor's from :meth:`average_floor`)
        plus weight_unreachable (the evidence for "never": sum_i w_i P_i(c_i >= target), each
        form's chance under its floor's t distribution, 1 for a form that does not fall),
        floor_assumed_weight and
        forms (the weights used, as text). The verdict (reachable, not reachable,
        undetermined) is :func:`datavsmath.stats.needed.verdict`'s.

        Parameters
        ----------
        y_target : float
            The target error (1 - target metric), in (0, 1).
        alpha : float, default 0.05
            One less the confidence level.
        """
        comp = self.comparison()
        ok = comp[comp["admissible"]]
        out = {"x": np.nan, "ci_low": np.nan, "ci_high": np.nan, "se_log": np.nan,
               "df": np.nan, "reachable": False, "status": "not fitted",
               "method": "model average", "floor": np.nan, "floor_ci_low": np.nan,
               "floor_ci_high": np.nan, "floor_assumed_weight": np.nan,
               "weight_unreachable": np.nan, "forms": ""}
        if ok.empty:
            statuses = set(comp["status"])
            if statuses & {"error rises with n", "no decline"}:
                out["status"] = "not_decreasing"
            elif all(st.startswith("not identifiable") for st in statuses):
                out["status"] = "not identifiable"
            return out
        out.update(self.average_floor(alpha))
        sols = {f: self.fits[f].solve(y_target, alpha=alpha) for f in ok.index}
        w = ok["weight"]
        never = [f for f, s in sols.items() if s["status"] in ("floor", "not_decreasing")]
        met = [f for f, s in sols.items() if s["status"] == "before_data"]
        reach = [f for f, s in sols.items() if s["status"] == "ok" and np.isfinite(s["se_log"])]
        used = never + met + reach
        total = float(w[used].sum())
        out["forms"] = ", ".join(f"{f} {w[f]:.2f}" for f in ok.index)
        if not used or not total > 0:
            out["status"] = "undefined"
            return out
        w_never, w_met = float(w[never].sum()) / total, float(w[met].sum()) / total
        # each form's own chance of "never": P(c >= target) under its floor's t distribution
        # (1 for a form that does not fall). Its weighted sum is the evidence that no data
        # reach the target; a form whose point floor is above the target is not certainty
        p_never = {f: 0.0 for f in used} | {f: never_chance(sols[f], y_target) for f in never + reach}
        out["weight_unreachable"] = float(sum(w[f] * p_never[f] for f in used)) / total
        ww = np.array([w[f] / total for f in reach])
        pn = np.array([p_never[f] for f in reach])
        lx = np.array([np.log(sols[f]["x"]) for f in reach])
        se = np.array([sols[f]["se_log"] for f in reach])
        dfs = np.array([sols[f]["df"] for f in reach], float)
        # a form whose floor estimate is above the target, but not surely, reaches it with
        # chance 1 - p if its floor is lower: no sooner than where it would with the floor at
        # its lower 95% limit, where that share of its weight goes (a point mass: a lower
        # limit that leans on it is conservative); the rest stays at +inf
        early = {f: self._earliest(f, y_target, alpha) for f in never}
        atoms = [f for f in never if np.isfinite(early[f]) and p_never[f] < 1]
        wa = np.array([w[f] / total * (1 - p_never[f]) for f in atoms])
        lo, hi = mixture_interval(
            np.r_[lx, [early[f] for f in atoms]], np.r_[se, np.zeros(len(atoms))],
            np.r_[dfs, np.ones(len(atoms))], np.r_[ww * (1 - pn), wa], alpha,
            mass_inf=float(ww @ pn) + w_never - float(wa.sum()), mass_ninf=w_met)
        out.update(ci_low=float(np.exp(lo)), ci_high=float(np.exp(hi)))
        if w_never > 0.5 or not reach:
            top = max(never or met, key=lambda f: w[f])
            out["status"] = sols[top]["status"]
            if out["status"] == "before_data":
                out.update(status="already_met", x=0.0, reachable=True, ci_low=0.0)
            return out
        if w_met >= 0.5:
            out.update(status="already_met", x=0.0, reachable=True, ci_low=0.0)
            return out
        mean, se_u = unconditional_se(lx, se, ww)
        out.update(x=float(np.exp(mean)), se_log=se_u, df=int(dfs.min()), reachable=True,
                   status="ok")
        return out

    def summary(self) -> Summary:
        """The forms' comparison, the selected form's parameters and the notes.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        label = f"{self.model}, 1 - {self.metric}"
        if self.experiment == "size_x_damage":
            label += f", damage {self.frac_damage:g}"
        s = Summary(f"Learning curves: {label} ({self.experiment}, {len(self.cells)} cells)")
        comp = self.comparison()[["n_params", "llf", "aic", "aicc", "bic", "delta", "weight",
                                  "status", "selected"]]
        s.add_df(comp, digits=5)
        s.add_text(f"weight: Akaike weight by {self.criterion.upper()} among forms with status "
                   f"ok. Cells: {self.weighting}.")
        if self.best is not None:
            s.add_text(f"Selected by {self.criterion.upper()}: {self.best.form.formula}")
            s.add_df(self.best.param_table(), digits=4)
        for fit in self.fits.values():
            for note in fit.notes:
                s.add_text(f"Note: {note}")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s
