"""The verdicts of the report pages: one or two sentences per page, computed from the results
the page shows, each led by its answer in bold (or "undetermined" and why) with 95% intervals.

The size page (:func:`size_verdict`), the damage pages (:func:`breakdown_verdict`), the size x
damage page (:func:`size_x_damage_verdict`, :func:`derivative_verdict`) and the scaling page
(:func:`scaling_verdict`). The arithmetic they rest on is :mod:`datavsmath.report.findings`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats.parity import diff_ci, mean_ci, model_order
from .findings import (
    chance_accuracy,
    cost_difference,
    primary_derivative,
    rows_at,
    set_rows,
    training_rows,
    values,
)
from .formatting import compact, fmt_interval, fmt_num, is_missing, is_true, needed_text

__all__ = ["breakdown_verdict", "derivative_verdict", "scaling_verdict", "size_verdict", "size_x_damage_verdict"]


def size_verdict(results: pd.DataFrame, metric: str = "acc") -> str:
    """Which model is best at the largest sample, and how much each gains from the smallest
    to the largest sample.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    size = results[results["experiment"] == "size"]
    if "dataset" in size and size["dataset"].notna().any():
        size = size[size["dataset"] == "fashion"]
    if size.empty:
        return "There are no size results to judge."
    s_lo, s_hi = float(size["frac_sample"].min()), float(size["frac_sample"].max())
    models = model_order(size["model"])
    at_hi = {m: mean_ci(values(results, "size", m, metric, frac_sample=s_hi))[0] for m in models}
    at_lo = {m: mean_ci(values(results, "size", m, metric, frac_sample=s_lo))[0] for m in models}
    ok = {m: v for m, v in at_hi.items() if not is_missing(v)}
    if not ok:
        return "There are no size results to judge."
    best = max(ok, key=ok.__getitem__)
    worst = min(ok, key=ok.__getitem__)
    gain = {m: at_hi[m] - at_lo[m] for m in models if not is_missing(at_hi[m]) and not is_missing(at_lo[m])}
    most = max(gain, key=gain.__getitem__) if gain else best
    rows = lambda s: f"{rows_at(size, s):,}"  # noqa: E731
    math_gap = at_hi[best] - at_hi[worst]
    data_gain = gain.get(best, float("nan"))
    hi_best = values(results, "size", best, metric, frac_sample=s_hi)
    diff, lo, hi = cost_difference(diff_ci(hi_best, values(results, "size", worst, metric, frac_sample=s_hi)),
                                   diff_ci(hi_best, values(results, "size", best, metric, frac_sample=s_lo)))
    data_words = f"{data_gain:+.3f} for the {best.upper()} from {s_lo:.0%} to {s_hi:.0%} of the rows"
    math_words = f"{math_gap:.3f} between the best and the weakest model"
    if is_missing(data_gain):
        lead = f"**The {best.upper()} is the best model at the largest sample.**"
    elif is_missing(lo) or is_missing(hi):
        bigger = "more data moved" if data_gain > math_gap else "the choice of model moved"
        lead = (f"**Undetermined at one run per cell:** in these single runs {bigger} {name} more "
                f"({data_words}, against {math_words}), but single runs carry no interval.")
    elif lo > 0:
        lead = (f"**More data moved {name} more than the choice of model:** {data_words}, against "
                f"{math_words} (difference {diff:+.3f} [{lo:+.3f}, {hi:+.3f}]).")
    elif hi < 0:
        lead = (f"**The choice of model moved {name} more than more data:** {math_words}, against "
                f"{data_words} (difference {-diff:+.3f} [{-hi:+.3f}, {-lo:+.3f}]).")
    else:
        lead = (f"**Undetermined:** {data_words} against {math_words}; the difference "
                f"{diff:+.3f} [{lo:+.3f}, {hi:+.3f}] includes zero.")
    text = (f"{lead} With {s_hi:.0%} of the "
            f"rows ({rows(s_hi)}), the {best.upper()} is best at {name} {at_hi[best]:.3f}, "
            f"{at_hi[best] - at_hi[worst]:.3f} above the {worst.upper()} ({at_hi[worst]:.3f}). ")
    if gain and s_lo < s_hi:
        text += (f"Going from {s_lo:.0%} ({rows(s_lo)} rows) to {s_hi:.0%} gains "
                 + ", ".join(f"{compact(*diff_ci(values(results, 'size', m, metric, frac_sample=s_hi), values(results, 'size', m, metric, frac_sample=s_lo)))} ({m.upper()})" for m in models if m in gain)
                 + f"; the {most.upper()} gains most. ")
    return text + f"Based on {_replicate_words(size)}."


def breakdown_verdict(results: pd.DataFrame, damage: str, breakdown: pd.DataFrame | None = None,
                      metric: str = "acc") -> str:
    """At which damage each model breaks down (accuracy half-way from its clean value to chance),
    from ``breakdown_points.csv`` when it has an estimate, else bracketed by the grid.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    damage : str
        "random" or "constant".
    breakdown : pandas.DataFrame or None, optional
        The ``breakdown_points.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    str
        Markdown.
    """
    exp = f"{damage}_damage"
    df = results[results["experiment"] == exp]
    if "dataset" in df and df["dataset"].notna().any():
        df = df[df["dataset"] == "fashion"]
    if df.empty:
        return f"There are no {damage}-damage results to judge."
    models = model_order(df["model"])
    levels = sorted(df["frac_damage"].unique())
    chance = chance_accuracy(df)
    parts, never = [], []
    for m in models:
        b = None
        if breakdown is not None and len(breakdown):
            sel = breakdown[(breakdown["experiment"] == exp) & (breakdown["model"] == m)]
            if "metric" in sel:
                sel = sel[sel["metric"] == metric]
            b = sel.iloc[0] if len(sel) else None
        if b is not None and not is_missing(b.get("breakdown_frac")):
            parts.append(f"{m.upper()} at d = {fmt_interval(b['breakdown_frac'], b.get('ci_low'), b.get('ci_high'), 2)}")
            continue
        means = [(d, mean_ci(values(results, exp, m, metric, frac_damage=d))[0]) for d in levels]
        clean = means[0][1]
        half = (clean + (chance or 0.0)) / 2
        below = [d for d, v in means if not is_missing(v) and v < half]
        if below:
            prev = max([d for d in levels if d < below[0]], default=0.0)
            parts.append(f"{m.upper()} between d = {prev:g} and {below[0]:g} (grid bracket, no fit)")
        else:
            never.append(m.upper())
    rows = sorted(df["frac_sample"].unique())
    on = ("" if rows == [1.0] else
          f" These runs train on {', '.join(f'{rows_at(df, s):,}' for s in rows)} rows, not {training_rows(df):,}.")
    to = f"chance, {chance:.2g}" if chance else "0 (the class count is not known)"
    text = (f"**Where the models break down under {damage} damage** (accuracy half-way from its clean "
            f"value to {to}): " + "; ".join(parts) + "." if parts else
            f"**No model breaks down under {damage} damage in this grid.**")
    if never:
        text += f" {', '.join(never)} never fell below that point up to d = {levels[-1]:g}."
    hi = levels[-1]
    accs = {m: mean_ci(values(results, exp, m, metric, frac_damage=hi))[0] for m in models}
    text += (f" At d = {hi:g} accuracy is " + ", ".join(f"{accs[m]:.3f} ({m.upper()})" for m in models)
             + f".{on} Based on {_replicate_words(df)}.")
    return text


def size_x_damage_verdict(results: pd.DataFrame, metric: str = "acc", threshold: float = 0.9) -> str:
    """The CNN's metric at the largest sample per quality, and which qualities reach ``threshold``.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    threshold : float, default 0.9
        The metric's threshold.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    df = results[(results["experiment"] == "size_x_damage") & (results["model"] == "cnn")]
    if df.empty:
        return "There are no size x damage results to judge."
    s_hi = float(df["frac_sample"].max())
    levels = sorted(df["frac_damage"].unique())
    at = {d: mean_ci(values(results, "size_x_damage", "cnn", metric, frac_sample=s_hi, frac_damage=d))[0]
          for d in levels}
    means = df.groupby(["frac_damage", "frac_sample"])[metric].mean()
    reach = sorted({1 - d for (d, s), v in means.items() if v > threshold})
    s_lo = float(df["frac_sample"].min())
    clean_lo = mean_ci(values(results, "size_x_damage", "cnn", metric, frac_sample=s_lo, frac_damage=levels[0]))[0]
    data_gain, damage_loss = at[levels[0]] - clean_lo, at[levels[0]] - at[levels[-1]]
    cell = lambda s, d: values(results, "size_x_damage", "cnn", metric, frac_sample=s, frac_damage=d)  # noqa: E731
    diff, lo, hi = cost_difference(diff_ci(cell(s_hi, levels[0]), cell(s_lo, levels[0])),
                                   diff_ci(cell(s_hi, levels[0]), cell(s_hi, levels[-1])))
    facts = (f"{levels[-1]:.0%} constant damage loses {damage_loss:.3f}, while {s_hi / s_lo:.0f} times the rows "
             f"({s_lo:.0%} to {s_hi:.0%}) gain {data_gain:.3f} on clean labels")
    bigger = "label damage moved" if damage_loss > data_gain else "data moved"
    if is_missing(lo) or is_missing(hi):
        lead = (f"**Undetermined at one run per cell:** in these single runs {bigger} the CNN's {name} more: "
                f"{facts}.")
    elif lo > 0 or hi < 0:
        lead = (f"**{bigger[0].upper() + bigger[1:]} the CNN's {name} more:** {facts} (difference "
                f"{abs(diff):.3f} [{min(abs(lo), abs(hi)):.3f}, {max(abs(lo), abs(hi)):.3f}]).")
    else:
        lead = (f"**Undetermined:** {facts}; the difference {diff:+.3f} [{lo:+.3f}, {hi:+.3f}] (damage minus "
                "data) includes zero.")
    text = (f"{lead} With "
            f"{s_hi:.0%} of the rows ({rows_at(df, s_hi):,}), {name} falls from "
            f"{at[levels[0]]:.3f} with clean labels to {at[levels[-1]]:.3f} at {levels[-1]:.0%} constant "
            f"damage. ")
    if reach:
        text += (f"{name[0].upper() + name[1:]} above {threshold:g} is reached at quality "
                 f"{', '.join(f'{q:g}' for q in sorted(reach, reverse=True))} within this grid")
    else:
        text += (f"No cell reaches {name} above {threshold:g} at any quality in this grid "
                 f"(largest sample {s_hi:.0%}), so the observations-needed table for it is empty")
    return text + f". Based on {_replicate_words(df)}."


def scaling_verdict(fits: pd.DataFrame | None, needed: pd.DataFrame | None, metric: str = "acc",
                    target: float = 0.9) -> str:
    """Which curve form the AICc selects per model, and the rows each model needs for ``target``.

    Parameters
    ----------
    fits : pandas.DataFrame or None
        The ``learning_curve_fits.csv`` table.
    needed : pandas.DataFrame or None
        The ``data_needed.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.
    target : float, default 0.9
        The target metric.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    parts = []
    if fits is not None and len(fits):
        sel = fits[fits["selected"].astype(str).str.lower().isin(["true", "1"]) & (fits["metric"] == metric)]
        forms = sel.drop_duplicates("model").set_index("model")["form"]
        crit = str(fits["criterion"].dropna().iloc[0]).upper().replace("AICC", "AICc") if "criterion" in fits and fits["criterion"].notna().any() else "AICc"
        if len(forms):
            parts.append(f"By {crit}, the {name} learning curves are best described by "
                         + ", ".join(f"{forms[m]} ({m.upper()})" for m in model_order(forms.keys())) + ".")
    if needed is not None and len(needed):
        nd = needed[(needed["metric"] == metric) & np.isclose(needed["target"].astype(float), target)]
        if "frac_damage" in nd:
            nd = nd[np.isclose(nd["frac_damage"].fillna(0).astype(float), 0.0)]
        bits, best = [], None
        for m in model_order(nd["model"]):
            r = nd[nd["model"] == m].iloc[0]
            bits.append(f"{m.upper()}: {needed_text(r.to_dict())}")
            if not is_true(r.get("reachable")) or is_missing(r["n_needed"]):
                continue
            ext = " (extrapolated)" if is_true(r.get("extrapolated")) else ""
            if best is None or r["n_needed"] < best[1]:
                best = (m, float(r["n_needed"]), ext)
        if best is not None:
            parts.insert(0, f"**To reach {name} {target:g}, the {best[0].upper()} needs the fewest training rows, "
                            f"about {fmt_num(best[1])}{best[2]}.**")
        if bits:
            parts.append(f"Training rows needed for {name} {target:g} [95% CI]: " + "; ".join(bits) + ".")
    return " ".join(parts) or "The statistics tables are not in the results folder, so nothing is fitted here."


def derivative_verdict(deriv: pd.DataFrame | None, metric: str = "acc") -> str:
    """Whether the talk's d(data)/d(quality) << -1 holds, from ``data_quality_derivative.csv``
    (the ``overall`` row of ``metric``: the derivative in dataset sizes (60,000 rows) per unit
    of quality, with its 95% interval, and the elasticity d log n / d log q).

    Parameters
    ----------
    deriv : pandas.DataFrame or None
        The ``data_quality_derivative.csv`` table.
    metric : {"acc", "auc"}, default "acc"
        The metric.

    Returns
    -------
    str
        Markdown.
    """
    name = {"acc": "accuracy", "auc": "AUC"}.get(metric, metric)
    deriv = primary_derivative(deriv)
    if deriv is None or deriv.empty:
        return "The d(data)/d(quality) table is not in the results folder, so the claim is not tested here."
    d = deriv[deriv["metric"] == metric] if "metric" in deriv else deriv
    rows = d[d["scope"] == "overall"] if "scope" in d else d
    rows = rows.dropna(subset=["derivative_frac"]) if "derivative_frac" in rows else rows.iloc[0:0]
    if rows.empty:
        levels = d[d["scope"] == "level"] if "scope" in d else d.iloc[0:0]
        notes = levels["note"].dropna().astype(str) if "note" in levels else pd.Series(dtype=str)
        if len(notes) and notes.str.startswith("not identifiable").all():
            return (f"**Undetermined for {name}:** with this few training-set sizes per quality no curve "
                    "form can be identified (AICc needs more points than the form has parameters, plus "
                    "one), so the model-averaged data needed, and with it d(data)/d(quality), cannot be "
                    "estimated here; each form's own answer, conditional on that form, is in the "
                    "download. The full grid's 28 sizes per quality answer it.")
        return (f"No overall d(data)/d(quality) could be estimated for {name} from these results "
                "(fewer than two quality levels reach the threshold), so the claim is not tested here.")
    r = rows.iloc[0]
    est, lo, hi = float(r["derivative_frac"]), float(r["ci_low_frac"]), float(r["ci_high_frac"])
    thr = f" {float(r['threshold']):g}" if "threshold" in r and not is_missing(r["threshold"]) else ""
    span = (f" from quality {float(r['quality_high']):g} to {float(r['quality_low']):g}"
            if not is_missing(r.get("quality_high")) and not is_missing(r.get("quality_low")) else "")
    model = str(r.get("model", "")).upper() or "the model"
    if not is_missing(hi) and hi < -1:
        answer = "**Yes: d(data)/d(quality) << -1 holds here.**"
        why = "the whole 95% interval lies below -1"
    elif not is_missing(lo) and lo > -1:
        answer = "**No: d(data)/d(quality) << -1 does not hold here.**"
        why = "the whole 95% interval lies above -1"
    elif is_missing(lo) or is_missing(hi):
        answer = "**Not established: no interval could be computed.**"
        why = "the estimate has no interval"
    else:
        answer = "**Not established by these results.**"
        why = "the 95% interval includes -1" + (" and 0" if lo < 0 < hi else "")
    text = (f"{answer} For the {model} at {name}{thr}{span}, the data needed changes by "
            f"{fmt_interval(est, lo, hi)} training sets{f' of {set_rows(deriv):,} rows' if set_rows(deriv) else ''} "
            "per unit of label quality: "
            f"{why}.")
    if "elasticity" in r and not is_missing(r["elasticity"]):
        el, elo, ehi = float(r["elasticity"]), float(r["elasticity_ci_low"]), float(r["elasticity_ci_high"])
        side = ("wholly below -1" if ehi < -1 else "wholly above -1" if elo > -1 else "including -1")
        text += (f" As an elasticity (percent more data per percent less quality) it is "
                 f"{fmt_interval(el, elo, ehi)}, {side}.")
    if "extrapolated" in d and d["extrapolated"].astype(str).str.lower().eq("true").any():
        text += " Some of the data-needed values behind it are extrapolated beyond the rows trained on."
    return text


def _replicate_words(results: pd.DataFrame) -> str:
    keys = [c for c in ["experiment", "dataset", "model", "frac_sample", "frac_damage"] if c in results]
    n = results.groupby(keys, dropna=False).size() if len(results) else pd.Series(dtype=int)
    hi = int(n.max()) if len(n) else 0
    return ("a single run per cell, so differences between cells carry no interval"
            if hi <= 1 else f"up to {hi} replicates per cell, 95% intervals over replicates")
