"""Curated views of the statistics tables: the few columns a reader needs, intervals written
as 'est [lo, hi]', constant columns left to the caption. The full CSVs stay downloads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .findings import primary_derivative, set_rows
from .formatting import fmt_interval, is_missing, is_true, needed_text


def derivative_table(deriv: pd.DataFrame) -> pd.DataFrame:
    """The few columns of ``data_quality_derivative.csv`` a reader needs: per metric and step
    of quality (and over the whole range), the derivative in 60,000-row training sets per unit
    of quality and the elasticity, each as 'est [lo, hi]'. Model, threshold and form, constant
    in the table, are left to the caption.

    Parameters
    ----------
    deriv : pandas.DataFrame
        The ``data_quality_derivative.csv`` table.
    """
    if deriv is None or deriv.empty or "scope" not in deriv:
        return pd.DataFrame()
    deriv = primary_derivative(deriv)
    d = deriv[deriv["scope"].isin(["step", "overall"])]
    rows = []
    for r in d.itertuples(index=False):
        r = r._asdict()
        step = (f"{r['quality_high']:g} to {r['quality_low']:g}"
                if not is_missing(r.get("quality_high")) and not is_missing(r.get("quality_low")) else "")
        rows.append({
            "metric": f"{r['metric']} > {r['threshold']:g}" if not is_missing(r.get("threshold")) else r["metric"],
            "quality": step + (" (overall)" if r["scope"] == "overall" else ""),
            "d(data)/d(quality) [95% CI]": fmt_interval(
                r.get("derivative_frac"), r.get("ci_low_frac"), r.get("ci_high_frac")),
            "elasticity [95% CI]": fmt_interval(
                r.get("elasticity"), r.get("elasticity_ci_low"), r.get("elasticity_ci_high")),
        })
    return pd.DataFrame(rows)




def replicate_note(results: pd.DataFrame) -> str:
    """'single runs (no intervals)' or 'mean [95% CI] over up to N replicates', for captions.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).

    Returns
    -------
    str
    """
    keys = [c for c in ["experiment", "dataset", "model", "frac_sample", "frac_damage"] if c in results]
    hi = int(results.groupby(keys, dropna=False).size().max()) if len(results) else 0
    return "single runs, so no intervals" if hi <= 1 else f"mean [95% CI] over up to {hi} replicates"



def with_dataset(view: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """``view`` (one row per row of ``source``, in order) with a leading ``dataset`` column
    when ``source`` spans more than one dataset, so that no row is read as another's.

    Parameters
    ----------
    view : pandas.DataFrame
        The formatted table.
    source : pandas.DataFrame
        The rows it was made from, with a ``dataset`` column.

    Returns
    -------
    pandas.DataFrame
    """
    if "dataset" in source and source["dataset"].nunique() > 1:
        view = view.copy()
        view.insert(0, "dataset", list(source["dataset"]))
    return view


def fits_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Parameters of the selected curve form per model and metric with its Akaike weight
    (its intervals are conditional on that form), then the model averages ("average": the
    exponent over the power-law forms, the floor over all, intervals including the choice of
    form): 'est [lo, hi]'.

    Parameters
    ----------
    fits : pandas.DataFrame
        The ``learning_curve_fits.csv`` table.

    Returns
    -------
    pandas.DataFrame
    """
    sel = fits[fits["selected"].map(is_true) | (fits["form"] == "average")]
    sel = sel.sort_values(["metric", "model"], kind="stable")
    weight = sel["weight"] if "weight" in sel else pd.Series(np.nan, index=sel.index)
    return with_dataset(pd.DataFrame({
        "model": sel["model"].str.upper(), "metric": sel["metric"],
        "form (weight)": [f"{f} ({w:.2f})" if not is_missing(w) else f for f, w in zip(sel["form"], weight)],
        "formula": sel["formula"] if "formula" in sel else "",
        "parameter": sel["param"],
        "estimate [95% CI]": [fmt_interval(e, lo, hi, 4) for e, lo, hi in
                              zip(sel["estimate"], sel["ci_low"], sel["ci_high"])],
        "points": sel["n_points"] if "n_points" in sel else "",
    }).reset_index(drop=True), sel)



def choice_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Every candidate form per model and metric with the criterion selection uses (AICc when
    the table says so, its ``criterion`` column), its difference to the best and the weight,
    sorted by that difference.

    Parameters
    ----------
    fits : pandas.DataFrame
        The ``learning_curve_fits.csv`` table.

    Returns
    -------
    pandas.DataFrame
    """
    crit = (str(fits["criterion"].dropna().iloc[0]).lower()
            if "criterion" in fits and fits["criterion"].notna().any() else "aic")
    col = crit if crit in fits else "aic"
    label = {"aicc": "AICc", "aic": "AIC", "bic": "BIC"}.get(col, col)
    by = [k for k in ("dataset", "experiment", "frac_damage") if k in fits] + ["model", "metric"]
    c = fits[fits["form"] != "average"].drop_duplicates(by + ["form"]).copy()
    c["_delta"] = c[col] - c.groupby(by, dropna=False)[col].transform("min")
    c = c.sort_values([k for k in ("dataset",) if k in c] + ["metric", "model", "_delta"], na_position="last")
    out = pd.DataFrame({
        "model": c["model"].str.upper(), "metric": c["metric"], "form": c["form"],
        label: c[col].map(lambda v: "" if is_missing(v) else f"{v:.1f}"),
        f"Δ{label}": c["_delta"].map(lambda v: "not fitted" if is_missing(v) else f"{v:.1f}"),
        "weight": c["weight"].map(lambda v: "" if is_missing(v) else f"{v:.2f}") if "weight" in c else "",
        "selected": c["selected"].map(lambda v: "yes" if is_true(v) else ""),
    })
    return with_dataset(out.reset_index(drop=True), c)



def needed_table(needed: pd.DataFrame) -> pd.DataFrame:
    """Training rows needed per model, metric and target: 'est [lo, hi]', marked extrapolated
    (beyond the rows trained on) or not reachable.

    Parameters
    ----------
    needed : pandas.DataFrame
        The ``data_needed.csv`` table.

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    for r in needed.itertuples(index=False):
        r = r._asdict()
        rows.append({"model": str(r["model"]).upper(), "metric": r["metric"], "target": f"{r['target']:g}",
                     "form": r.get("form", ""), "training rows needed [95% CI]": needed_text(r)})
    return with_dataset(pd.DataFrame(rows), needed)



def breakdown_table(breakdown: pd.DataFrame) -> pd.DataFrame:
    """Breakdown damage per experiment and model: 'est [lo, hi]', or the grid bracket when the
    curve could not be fitted.

    Parameters
    ----------
    breakdown : pandas.DataFrame
        The ``breakdown_points.csv`` table.

    Returns
    -------
    pandas.DataFrame
    """
    rows = []
    for r in breakdown.itertuples(index=False):
        r = r._asdict()
        if is_missing(r.get("breakdown_frac")):
            val = (f"between {r['bracket_low']:g} and {r['bracket_high']:g} (grid bracket, not fitted)"
                   if not is_missing(r.get("bracket_low")) and not is_missing(r.get("bracket_high")) else "not found")
        else:
            val = fmt_interval(r["breakdown_frac"], r.get("ci_low"), r.get("ci_high"), 2)
            if is_true(r.get("extrapolated")):
                val += " (extrapolated)"
        rows.append({"damage": str(r["experiment"]).replace("_damage", ""), "model": str(r["model"]).upper(),
                     "metric": r.get("metric", "acc"),
                     "clean": "" if is_missing(r.get("clean")) else f"{r['clean']:.3f}",
                     "accuracy at breakdown": "" if is_missing(r.get("level")) else f"{r['level']:.3f}",
                     "damage fraction d [95% CI]": val})
    return pd.DataFrame(rows)



def derivative_caption(deriv: pd.DataFrame) -> str:
    """The caption of :func:`derivative_table`: the model(s) it is about and the units.

    Parameters
    ----------
    deriv : pandas.DataFrame
        The ``data_quality_derivative.csv`` table.

    Returns
    -------
    str
    """
    models = (", ".join(deriv["model"].dropna().astype(str).str.upper().unique())
              if "model" in deriv and deriv["model"].notna().any() else "model")
    averaged = "form" in deriv and (deriv["form"] == "average").any()
    rows = set_rows(deriv)
    unit = f"training sets of {rows:,} rows" if rows else "training sets (the dataset's training rows)"
    return (f"d(data)/d(quality) of the {models}, 95% intervals (data in {unit})"
            + ("; model-averaged over the curve forms (each form's own rows are in the download)"
               if averaged else ""))



def joint_law_view(joint: pd.DataFrame) -> pd.DataFrame:
    """``joint_size_quality_law.csv`` for reading: one row per parameter (g(q) and c(q) per
    label quality q, the shared a and b), its estimate with the 95% interval; a metric whose
    law is not identified (or did not converge) is one row saying so, with the reason.

    Parameters
    ----------
    joint : pandas.DataFrame
        The ``joint_size_quality_law.csv`` table.

    Returns
    -------
    pandas.DataFrame
    """
    if joint is None or joint.empty:
        return pd.DataFrame()
    rows, shown = [], set()
    for r in joint.itertuples(index=False):
        r = r._asdict()
        status = r.get("status")
        if isinstance(status, str) and status != "identified":
            # a law the data do not identify has no estimates to show, only the reason
            if r["metric"] not in shown:
                rows.append({"metric": r["metric"], "parameter": "(all)",
                             "estimate [95% CI]": status + " (the download keeps the numbers "
                                                           "for inspection)"})
                shown.add(r["metric"])
            continue
        what = r["param"] + (f" (q = {float(r['quality']):g})" if not is_missing(r.get("quality")) else "")
        rows.append({"metric": r["metric"], "parameter": what,
                     "estimate [95% CI]": fmt_interval(r["estimate"], r.get("ci_low"), r.get("ci_high"))})
    return pd.DataFrame(rows)


def coverage_view(study: pd.DataFrame) -> pd.DataFrame:
    """The simulation study for reading: truth, runs per cell, quantity, coverage of the 95%
    intervals with its Monte Carlo standard error, and the verdicts' shares where the
    quantity has them (wrong ones named).

    Parameters
    ----------
    study : pandas.DataFrame
        The coverage study (:func:`datavsmath.report.site.coverage_study`).

    Returns
    -------
    pandas.DataFrame
    """
    def pct(v):
        return "" if is_missing(v) else f"{v:.1%}"

    return pd.DataFrame({
        "truth e(n)": study["truth"],
        "runs": [f"{int(r)} x {'single runs' if int(k) == 1 else f'{int(k)} replicates'}"
                 for r, k in zip(study["runs"], study["replicates"])],
        "quantity": study["quantity"],
        "coverage": [("" if is_missing(c) else f"{c:.3f} ± {se:.3f}")
                     for c, se in zip(study["coverage"], study["coverage_se"])],
        "reachable / undetermined / not reachable": [
            "" if is_missing(a) else f"{pct(a)} / {pct(b)} / {pct(c)}"
            for a, b, c in zip(study["reachable"], study["undetermined"], study["not_reachable"])],
        "wrong verdicts": [
            "" if is_missing(a) else (f"{pct(a)} wrongly reachable" if a > 0 else "")
            + (", " if a > 0 and b > 0 else "") + (f"{pct(b)} wrongly not reachable" if b > 0 else "")
            or "none" for a, b in zip(study["wrong_reachable"], study["wrong_not_reachable"])],
    })


def backtest_view(bt: pd.DataFrame) -> pd.DataFrame:
    """``backtest.csv`` for reading: per curve and form, its Akaike weight, the held-out
    error and the share of held-out cells inside the 95% prediction interval.

    Parameters
    ----------
    bt : pandas.DataFrame
        The ``backtest.csv`` table.

    Returns
    -------
    pandas.DataFrame
    """
    if bt is None or bt.empty:
        return pd.DataFrame()
    out = pd.DataFrame({
        "model": bt["model"], "metric": bt["metric"], "form": bt["form"],
        "weight": bt["weight"].map(lambda v: "" if is_missing(v) else f"{v:.2f}"),
        "held-out RMSE": bt["rmse_held"].map(lambda v: "" if is_missing(v) else f"{v:.4f}"),
        "inside 95% PI": bt["pi_coverage"].map(lambda v: "" if is_missing(v) else f"{v:.0%}"),
        "status": bt["status"].fillna(""),
    })
    return out


def advice_view(results: pd.DataFrame, metric: str = "acc", threshold: float = 0.90,
                held: tuple = (6_000, 12_000, 30_000), qualities: tuple = (0.9, 0.8, 0.7),
                price_ratio: float = 0.25, cleaning: str = "review") -> tuple[pd.DataFrame, str]:
    """Collect or clean, for a few label sets one might hold (rows x quality), from the size x
    damage grid's CNN: the break-even price ratio (cleaning pays while one cleaning action
    costs less than that many new labels) and the cheapest plan when a cleaning action costs
    ``price_ratio`` new labels. Returns the view and a one-paragraph verdict.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    threshold : float, default 0.9
        The metric's threshold.
    held : tuple of int, default (6000, 12000, 30000)
        Training rows of the label sets considered.
    qualities : tuple of float, default (0.9, 0.8, 0.7)
        Their label qualities (1 - damage).
    price_ratio : float, default 0.25
        What one cleaning action costs, in new labels.
    cleaning : str, default "review"
        How labels are cleaned (:func:`datavsmath.stats.value.value_of_quality`).

    Returns
    -------
    tuple of (pandas.DataFrame, str)
        The view and the verdict (Markdown).
    """
    from ..stats.quality import data_quality_derivative
    from ..stats.value import value_of_quality

    cross = results[(results["experiment"] == "size_x_damage") & (results["model"] == "cnn")]
    if cross.empty:
        return pd.DataFrame(), "There are no size x damage results to price."
    levels = data_quality_derivative(cross, metric, threshold, quiet=True).levels
    out, answers = [], []
    for q in qualities:
        if not levels["quality"].min() - 1e-9 <= q <= levels["quality"].max() + 1e-9:
            continue
        for n in held:
            v = value_of_quality(levels, rows=n, quality=q, cost_label=1.0,
                                 cost_clean=price_ratio, cleaning=cleaning, model="cnn",
                                 metric=metric, threshold=threshold, n_draws=5000)
            best = v.plans.set_index("plan").loc["cheapest"]
            be = v.break_even
            plan = ("out of reach" if not best["reachable"] else
                    "collect only" if best["quality"] <= q + 1e-9 else
                    "clean only" if best["rows_to_collect"] == 0 else
                    f"clean to {best['quality']:.2f}, collect {best['rows_to_collect']:,.0f}")
            answers.append(v)
            out.append({"rows held": f"{n:,}", "quality": f"{q:g}",
                        "break-even ratio [95% CI]": (
                            "no plan reaches the target" if not best["reachable"] else
                            "any (collecting alone never reaches it)" if np.isinf(be["estimate"])
                            else fmt_interval(be["estimate"], be["ci_low"], be["ci_high"], 3)),
                        f"cheapest at ratio {price_ratio:g}": plan,
                        "cost in new labels [95% CI]": (
                            "" if not best["reachable"] else
                            fmt_interval(best["cost"], best["cost_ci_low"], best["cost_ci_high"], 3)),
                        "P(cleaning cheaper)": f"{v.p_clean_cheaper:.0%}"})
    view = pd.DataFrame(out)
    if not answers:
        return view, "The grid's label qualities do not cover the examples."
    if all(not v.plans.set_index("plan").loc["cheapest", "reachable"] for v in answers):
        return pd.DataFrame(), answers[0].verdict  # a table of refusals says nothing more
    wins = sum(v.p_clean_cheaper >= 0.95 for v in answers)
    loses = sum(v.p_clean_cheaper <= 0.05 for v in answers)
    text = (f"**At a price of {price_ratio:g} new labels per reviewed label, cleaning is the cheaper "
            f"way to {metric} > {threshold:g} in {wins} of {len(answers)} situations, collecting in "
            f"{loses}, and {len(answers) - wins - loses} are too close to call at 95%.** ")
    text += ("The break-even ratio is the price of a reviewed label, in new labels, below which "
             "cleaning pays; it depends on how many rows are held and how dirty they are, since "
             "cleaning reviews every row held while collecting only adds the missing ones.")
    return view, text


def talk_comparison(talk: pd.DataFrame, ours: pd.DataFrame | None, deriv: pd.DataFrame | None,
                    metric: str, threshold: float) -> pd.DataFrame:
    """One of the talk's "observations needed" tables beside ours, one row per label quality:
    the talk's value (one R run), ours by R's rule (``observations_needed_*.csv``; with
    replicates, R's rule on each run alone), and the modelled rows n* with its 95% interval
    and verdict from the learning curve at that quality (``data_quality_derivative.csv``,
    level rows). Observations are training rows; the metric of the selected cell follows in
    brackets.

    Parameters
    ----------
    talk : pandas.DataFrame
        The talk's table of this metric and threshold (:func:`datavsmath.report.site.r_talk_tables`).
    ours : pandas.DataFrame or None
        Our ``observations_needed_*.csv``.
    deriv : pandas.DataFrame or None
        Our ``data_quality_derivative.csv``.
    metric : {"acc", "auc"}
        The metric.
    threshold : float
        The metric's threshold.

    Returns
    -------
    pandas.DataFrame
    """
    t = talk[(talk["metric"] == metric) & np.isclose(talk["threshold"].astype(float), threshold)]
    qualities = sorted(set(t["quality"].round(6)) | (set(ours["quality"].round(6)) if ours is not None else set()),
                       reverse=True)
    level = pd.DataFrame()
    if deriv is not None and "scope" in deriv:
        level = deriv[(deriv["scope"] == "level") & (deriv["metric"] == metric)
                      & np.isclose(deriv["threshold"].astype(float), threshold)]
        if "form" in level and (level["form"] == "average").any():
            level = level[level["form"] == "average"]
    rows = []
    for q in qualities:
        row = {"quality": f"{q:g}"}
        tq = t[np.isclose(t["quality"], q)]
        row["the talk (one R run)"] = (f"{tq['num_obs'].iloc[0]:,.0f} ({tq['value'].iloc[0]:.3f})"
                                       if len(tq) else "not in the talk")
        oq = ours[np.isclose(ours["quality"], q)] if ours is not None else pd.DataFrame()
        row["ours, R's rule"] = (f"{oq['num_obs'].iloc[0]:,.0f} ({oq[metric].iloc[0]:.3f})"
                                 if len(oq) else "no cell reaches it")
        if ours is not None and "reaching" in ours.columns:
            row["each run alone"] = (runs_alone(*oq[["num_obs_median", "num_obs_min", "num_obs_max", "reaching",
                                                     "replicates"]].iloc[0]) if len(oq) else "")
        lq = level[np.isclose(level["quality"].astype(float), q)] if len(level) else level
        row["modelled n* [95% CI]"] = _modelled(lq.iloc[0].to_dict()) if len(lq) else "not fitted"
        rows.append(row)
    return pd.DataFrame(rows)


def runs_alone(median: float, low: float, high: float, reaching: float, runs: float) -> str:
    """One quality's observations needed by R's rule on each replicate alone, in words:
    "36,000 (30,000–42,000; 3 of 3 runs)"; a quality that no single run reaches says so.

    Parameters
    ----------
    median : float
        Median rows over the runs that reach the threshold.
    low : float
        The fewest.
    high : float
        The most.
    reaching : float
        Runs that reach it.
    runs : float
        Runs in all.

    Returns
    -------
    str
    """
    if not reaching:
        return f"none of {runs:.0f} runs reaches it"
    spread = "" if low == high else f"{low:,.0f}–{high:,.0f}; "
    return f"{median:,.0f} ({spread}{reaching:.0f} of {runs:.0f} runs)"


def _modelled(r: dict) -> str:
    """A level row's n* as 'est [lo, hi]', or its verdict and why."""
    return needed_text(r, "n_ci_low", "n_ci_high")
