"""Data quality: the modelled d(data)/d(quality) with intervals ("not compensable" where a
quality cannot reach the threshold), and the joint size x quality law."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .cells import FORM_NAMES, HORIZON, N_TOTAL, cell_table, check_metric, fmt_number, warn_note
from .curves import Summary
from .forms import get_form
from .learning import LearningCurveResults, fit_learning_curves
from .needed import cross_model, cross_rows, data_needed

__all__ = ["DataQualityDerivative", "data_quality_derivative", "joint_law"]


# ============================================================================================
# modelled d(data)/d(quality)
def _verdict(flag) -> str:
    return {True: "holds (95% CI below -1)", False: "not established at 95%",
            None: "undetermined"}[flag]



class DataQualityDerivative:
    """Modelled d n*/d q for one metric threshold.

    Attributes
    ----------
    levels : per quality q: n_needed, its interval, se of log n*, reachability, floor
    steps : derivative between neighbouring qualities
    overall : average derivative between the highest and lowest quality reaching the threshold
    per_form : form name -> (levels, steps, overall) of that form alone (conditional on it)
    fits : the per-quality LearningCurveResults
    form : "average" or the form name, per model ("cnn: average")

    Parameters
    ----------
    metric : {"acc", "auc"}
        The metric.
    threshold : float
        The metric's threshold.
    form : str
        "average" or the form name, per model.
    levels, steps, overall : pandas.DataFrame
        As the attributes above.
    fits : dict
        The per-quality LearningCurveResults.
    notes : list of str
        Notes for the summary.
    per_form : dict, optional
        As the attribute above.
    """

    def __init__(self, metric, threshold, form, levels, steps, overall, fits, notes,
                 per_form=None):
        self.metric, self.threshold, self.form = metric, threshold, form
        self.levels, self.steps, self.overall = levels, steps, overall
        self.fits, self.notes = fits, notes
        self.per_form = per_form or {}

    @staticmethod
    def _level_rows(lev: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "model": lev["model"], "metric": lev["metric"], "threshold": lev["target"],
            "form": lev["form"], "scope": "level", "quality": lev["quality"],
            "n_needed": lev["n_needed"], "n_ci_low": lev["ci_low"], "n_ci_high": lev["ci_high"],
            "frac_needed": lev["frac_needed"], "verdict": lev["verdict"],
            "reachable": lev["reachable"],
            "extrapolated": lev["extrapolated"],
            "extrapolation_factor": lev["extrapolation_factor"], "floor": lev["floor"],
            "floor_ci_low": lev["floor_ci_low"], "floor_ci_high": lev["floor_ci_high"],
            "method": lev["method"], "conditional_on": lev["conditional_on"],
            "status": lev["status"], "note": lev["note"]})

    def table(self) -> pd.DataFrame:
        """Tidy rows of three kinds (column ``scope``), keyed by model, metric, threshold, form
        ("average": the model average; then one block per form, conditional on that form):

        * "level": n* at one quality -- quality, n_needed, n_ci_low, n_ci_high, frac_needed,
          reachable, extrapolated, extrapolation_factor, floor with its interval;
        * "step" (neighbouring qualities) and "overall" (highest to lowest quality reaching the
          threshold): quality_high, quality_low, derivative_obs / derivative_frac (observations,
          and fractions of 60,000, per unit quality) with ci_low_* / ci_high_*, below_minus_1
          (the whole 95% CI of the dataset-unit derivative lies below -1), elasticity
          (d log n*/d log q) with its CI and elasticity_below_minus_1, compensable (False: no
          amount of data reaches the threshold at the lower quality; the derivative is -inf).
        """
        parts = [self._level_rows(self.levels), self.steps, self.overall]
        for lev, st, ov in self.per_form.values():
            parts += [self._level_rows(lev), st, ov]
        return pd.concat([p for p in parts if len(p)], ignore_index=True)

    def summary(self) -> Summary:
        """n* per quality, the steps and the overall derivative, with notes.

        Returns
        -------
        Summary
            Printable (``print(...)``), also as HTML in a notebook.
        """
        s = Summary(f"d(data)/d(quality) for {self.metric} > {self.threshold:g}, "
                     f"modelled with {self.form}")
        cols = ["model", "quality", "verdict", "n_needed", "ci_low", "ci_high",
                "extrapolation_factor", "floor", "floor_ci_low", "floor_ci_high"]
        s.add_df(self.levels[cols], index=False, digits=4)
        tab = pd.concat([self.steps, self.overall], ignore_index=True)
        cols = ["model", "scope", "quality_high", "quality_low", "derivative_frac", "ci_low_frac",
                "ci_high_frac", "elasticity", "elasticity_ci_low", "elasticity_ci_high",
                "compensable"]
        s.add_df(tab[cols], index=False, digits=4)
        for r in self.overall.itertuples():
            s.add_text(self._overall_text(r, ""))
        for name, (_, _, ov) in self.per_form.items():
            for r in ov.itertuples():
                s.add_text(self._overall_text(r, f"[form {name} only] "))
        s.add_text("Intervals are conditional on the weighting of the cells and, per form, on "
                   "that form; the average's include the spread between forms (Akaike weights, "
                   "Burnham-Anderson unconditional variance of log n*). n*: t quantiles on log "
                   "n*. Derivatives: difference quotients of independent fits (steps: "
                   "neighbouring qualities; overall: the extreme qualities reaching the "
                   "threshold, i.e. the average slope); 95% intervals from 20,000 draws of the "
                   "two log n* (t with each side's df), so they are asymmetric like n*. "
                   "'not compensable': the floor at the lower quality is above the target, no "
                   "amount of data reaches it.")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s

    @staticmethod
    def _overall_text(r, prefix: str) -> str:
        return (f"{prefix}{r.model}, quality {fmt_number(r.quality_high, 3)} to "
                f"{fmt_number(r.quality_low, 3)}: d(data)/d(quality) = {fmt_number(r.derivative_frac, 3)} "
                f"datasets per unit quality [{fmt_number(r.ci_low_frac, 3)}, {fmt_number(r.ci_high_frac, 3)}], "
                f"'<< -1' {_verdict(r.below_minus_1)}; elasticity d log n*/d log q = "
                f"{fmt_number(r.elasticity, 3)} [{fmt_number(r.elasticity_ci_low, 3)}, "
                f"{fmt_number(r.elasticity_ci_high, 3)}], '<< -1' "
                f"{_verdict(r.elasticity_below_minus_1)}."
                + (f" ({r.note})" if r.note else ""))

    def __repr__(self):
        return f"<DataQualityDerivative {self.metric} > {self.threshold:g} ({self.form})>"



def data_quality_derivative(df_cross: pd.DataFrame, metric: str = "acc", threshold: float = 0.90,
                            form: str = "auto", forms: Sequence[str] = FORM_NAMES,
                            criterion: str = "aicc", n_total: int = N_TOTAL,
                            quiet: bool = False, horizon: float = HORIZON) -> DataQualityDerivative:
    """Modelled d(data size)/d(quality) from the size x damage grid.

    Per quality q = 1 - frac_damage, fit every learning-curve form and solve n*(q) where the
    curve reaches ``threshold``. With ``form="auto"`` (default) n*(q) is the model average
    over the forms admissible at that quality (Akaike weights, unconditional variance; see
    :meth:`CurveSet.average_solve`), which does not depend on the order of ``forms``; each
    form's own answer, conditional on it, is kept in ``per_form`` and in the table. A form
    name uses that form only. The derivative is then a difference quotient of independent
    fits:

    * steps: (n*(q_i) - n*(q_j)) / (q_i - q_j) for neighbouring qualities -- the local slope;
    * overall: the same between the highest and the lowest quality at which the threshold is
      reachable -- the average derivative over that range (exactly the mean of dn*/dq there).

    Each is reported in observations per unit quality and in datasets (fractions of
    ``n_total``) per unit quality, with the elasticity d log n*/d log q (unit-free, the
    model-based counterpart of the R table's d_obs per relative quality step). Intervals come
    from draws of the two log n* (t with each fit's residual df), so they respect that n* is
    positive and log-normal-like. "<< -1" is declared to hold when the whole 95% interval lies
    below -1. Where the verdict at the lower quality is "not reachable" (its floor is above the
    target error, see :func:`data_needed`) the step is "not compensable": derivative -inf,
    ``compensable = False``. Where it is "undetermined" (the floor's interval reaches the
    target, or n*'s upper limit lies beyond ``horizon`` times the largest size observed) the
    point estimate is used and the matching interval limit is infinite.

    Parameters
    ----------
    df_cross : pandas.DataFrame
        Tidy results of the size x damage grid (one model, or pass it through ``df[...]``).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    threshold : float, default 0.90
        The metric's threshold (target error 1 - threshold).
    form : str, default "auto"
        "auto" (the model average) or one form's name.
    forms : sequence of str, default every learning-curve form
        The candidate forms.
    criterion : {"aicc", "aic", "bic"}, default "aicc"
        The information criterion of the model choice.
    n_total : int, default 60000
        Rows of the full training set.
    quiet : bool, default False
        Collect notes without warning.
    horizon : float, default 100
        Times the largest size observed beyond which n* is undetermined.

    Returns
    -------
    DataQualityDerivative (``levels``: n* per quality; ``table()``: steps and overall rows)
    """
    metric = check_metric(metric)
    rows = cross_rows(df_cross)
    fits = fit_learning_curves(rows.assign(experiment="size_x_damage"), "size_x_damage", metric,
                               forms, criterion, n_total=n_total, quiet=quiet)
    notes: list = []
    main = "average" if form == "auto" else get_form(form).name
    names = [main] + ([get_form(f).name for f in forms] if form == "auto" else [])
    blocks: dict[str, tuple[list, list, list]] = {name: ([], [], []) for name in names}
    for model in dict.fromkeys(cs.model for cs in fits):
        sets = LearningCurveResults("size_x_damage",
                                    [cs for cs in fits if cs.model == model], criterion)
        for name in names:
            # the per-form blocks keep their notes in their rows: only the main one warns
            lev, st, ov = _derivative_block(sets, model, metric, threshold, name, n_total,
                                            notes if name == main else [],
                                            quiet or name != main, horizon)
            blocks[name][0].append(lev)
            blocks[name][1].append(st)
            blocks[name][2].append(ov)
    frames = {name: tuple(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
                          for parts in block) for name, block in blocks.items()}
    models = list(dict.fromkeys(cs.model for cs in fits))
    levels, steps, overall = frames.pop(main)
    return DataQualityDerivative(metric, threshold, ", ".join(f"{m}: {main}" for m in models),
                                 levels, steps, overall, fits, notes, per_form=frames)



def _derivative_block(sets, model, metric, threshold, name, n_total, notes, quiet, horizon):
    """levels, steps and overall frames of one model for one form (or "average")."""
    need = data_needed(sets, {metric: [threshold]}, form=name, n_total=n_total,
                       horizon=horizon).table()
    need["quality"] = np.round(1.0 - need["frac_damage"], 10)
    need = need.sort_values("quality", ascending=False).reset_index(drop=True)
    for r in need.itertuples():
        if r.verdict != "reachable":
            warn_note(notes, f"{model}: {metric} > {threshold:g} at quality {r.quality:g}: {r.note}",
                  quiet)
    # an undetermined n* with a point estimate still enters, its upper limit infinite (which
    # makes the derivative's matching limit infinite); "not reachable" is not compensable
    good = np.isfinite(need["n_needed"]) & np.isfinite(need["se_log"]) & (need["n_needed"] > 0)
    never = need["verdict"] == "not reachable"
    base = dict(model=model, metric=metric, threshold=threshold, form=name, n_total=n_total)
    steps = []
    for i in range(len(need) - 1):
        a, b = need.iloc[i], need.iloc[i + 1]
        ok = bool(good.iloc[i] and good.iloc[i + 1])
        if ok:
            note = ""
        elif good.iloc[i] and never.iloc[i + 1]:
            note = (f"not compensable: at quality {b['quality']:g} no amount of data reaches "
                    "the threshold (" + ("the error does not fall)" if b["status"] == "not_decreasing"
                                         else "floor above the target)"))
        else:
            note = "no estimate of n* within the horizon at one end (undetermined or not fitted)"
        steps.append(_difference(a, b, ok, scope="step", **base, note=note,
                                 never_low=bool(good.iloc[i] and never.iloc[i + 1])))
    idx = np.flatnonzero(good.to_numpy())
    ok = idx.size >= 2
    a, b = need.iloc[idx[0] if ok else 0], need.iloc[idx[-1] if ok else -1]
    note = "" if ok else "fewer than 2 qualities have an estimate of n* within the horizon"
    if ok and idx.size < len(need):
        note = (f"over the {idx.size} of {len(need)} qualities where n* has an estimate within "
                "the horizon")
        below = need.loc[never & (need["quality"] < b["quality"]), "quality"]
        if len(below):
            note += (f"; not compensable at quality {', '.join(f'{q:g}' for q in below)} "
                     "(floor above the target)")
    overall = [_difference(a, b, ok, scope="overall", **base, note=note)]
    return need, pd.DataFrame(steps), pd.DataFrame(overall)



def _log_draws(row: pd.Series, rng, size: int) -> np.ndarray:
    """Draws of log n* ~ log n_hat + se_log * t(df): the sampling model behind the n*
    interval, for propagating it through nonlinear functions of two n*."""
    df = row["df"] if np.isfinite(row["df"]) and row["df"] >= 1 else 1
    # capped so that exp() stays finite: a draw beyond e^700 rows is "never" for any purpose
    return np.minimum(np.log(row["n_needed"]) + row["se_log"] * rng.standard_t(df, size), 700.0)



def _difference(a: pd.Series, b: pd.Series, ok: bool, *, model, metric, threshold, form,
                n_total, scope, note, never_low: bool = False, alpha: float = 0.05,
                n_draws: int = 20000, seed: int = 0) -> dict:
    """Difference quotient of n* between qualities a (higher) and b, and the elasticity
    (log n*_a - log n*_b) / log(q_a / q_b), with (1 - alpha) percentile intervals of
    ``n_draws`` independent draws of the two log n* (t with each fit's residual df, seeded:
    Monte Carlo error of a 2.5% quantile about 1% of the interval's width). A side whose own
    n* interval is unbounded above makes the matching limit infinite. ``never_low``: the
    threshold is not reachable at quality b, the derivative is -inf (not compensable)."""
    nan = np.nan
    d = d_lo = d_hi = el = el_lo = el_hi = nan
    if ok:
        dq = a["quality"] - b["quality"]
        dlq = np.log(a["quality"] / b["quality"])
        rng = np.random.default_rng(seed)
        la, lb = _log_draws(a, rng, n_draws), _log_draws(b, rng, n_draws)
        with np.errstate(over="ignore", invalid="ignore"):
            dd = (np.exp(la) - np.exp(lb)) / dq
        ed = (la - lb) / dlq
        qs = [alpha / 2, 1 - alpha / 2]
        d = (a["n_needed"] - b["n_needed"]) / dq
        el = (np.log(a["n_needed"]) - np.log(b["n_needed"])) / dlq
        d_lo, d_hi = np.quantile(dd, qs, method="inverted_cdf")
        el_lo, el_hi = np.quantile(ed, qs, method="inverted_cdf")
        if not np.isfinite(b["ci_high"]):  # n*_b may be infinite: no lower bound
            d_lo, el_lo = -np.inf, -np.inf
        if not np.isfinite(a["ci_high"]):
            d_hi, el_hi = np.inf, np.inf
    elif never_low:
        d = d_lo = d_hi = el = el_lo = el_hi = -np.inf

    def below(x):
        return bool(x < -1) if not np.isnan(x) else None

    return {"model": model, "metric": metric, "threshold": threshold, "form": form, "scope": scope,
            "quality_high": a["quality"], "quality_low": b["quality"],
            "derivative_obs": d, "ci_low_obs": d_lo, "ci_high_obs": d_hi,
            "derivative_frac": d / n_total, "ci_low_frac": d_lo / n_total,
            "ci_high_frac": d_hi / n_total, "below_minus_1": below(d_hi / n_total),
            "elasticity": el, "elasticity_ci_low": el_lo, "elasticity_ci_high": el_hi,
            "elasticity_below_minus_1": below(el_hi), "compensable": not never_low,
            "method": ("difference quotient of independent fits; log n* draws, t quantiles"
                       if ok else ""), "note": note}



def joint_law(df_cross: pd.DataFrame, metric: str = "acc", model: str | None = None,
              n_total: int = N_TOTAL):
    """One law for size and quality on the whole size x damage grid:
    err(n, q) = c(q) + a (g(q) n)^(-b) with g(1) = 1 (see :mod:`datavsmath.stats.joint`).

    g(q) is the effective-data multiplier of label quality: one row at quality q is worth g(q)
    clean rows, with a 95% t interval from all cells at once; the fit is compared with separate
    per-quality fits by AICc. Cells are weighted as in :func:`cell_table` (binomial for single
    runs, replicate variance otherwise); cells with the metric outside [0, 1] are left out.

    Parameters
    ----------
    df_cross : pandas.DataFrame
        Tidy results of the size x damage grid.
    metric : {"acc", "auc"}, default "acc"
        The metric.
    model : str, optional
        The model; default the only one in the grid.
    n_total : int, default 60000
        Rows of the full training set.

    Returns
    -------
    :class:`datavsmath.stats.joint.JointLawFit` (``table()``, ``summary()``, ``g()``)
    """
    from .joint import fit_joint_law

    metric = check_metric(metric)
    rows, model = cross_model(df_cross, model)
    rows = rows[(rows["model"] == model) & rows[metric].between(0.0, 1.0)]
    cells = {float(np.round(1.0 - d, 10)): cell_table(part, metric, "frac_sample", n_total)
             for d, part in rows.groupby("frac_damage", sort=True)}
    return fit_joint_law(cells, model=model or "", metric=metric)

