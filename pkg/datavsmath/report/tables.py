"""Curated views of the statistics tables: the few columns a reader needs, intervals written
as 'est [lo, hi]', constant columns left to the caption. The full CSVs stay downloads."""

from __future__ import annotations

import pandas as pd

from .findings import _nan, fmt_interval, primary_derivative


def derivative_table(deriv: pd.DataFrame) -> pd.DataFrame:
    """The few columns of ``data_quality_derivative.csv`` a reader needs: per metric and step
    of quality (and over the whole range), the derivative in 60,000-row training sets per unit
    of quality and the elasticity, each as 'est [lo, hi]'. Model, threshold and form, constant
    in the table, are left to the caption."""
    if deriv is None or deriv.empty or "scope" not in deriv:
        return pd.DataFrame()
    deriv = primary_derivative(deriv)
    d = deriv[deriv["scope"].isin(["step", "overall"])]
    rows = []
    for r in d.itertuples(index=False):
        r = r._asdict()
        step = (f"{r['quality_high']:g} to {r['quality_low']:g}"
                if not _nan(r.get("quality_high")) and not _nan(r.get("quality_low")) else "")
        rows.append({
            "metric": f"{r['metric']} > {r['threshold']:g}" if not _nan(r.get("threshold")) else r["metric"],
            "quality": step + (" (overall)" if r["scope"] == "overall" else ""),
            "d(data)/d(quality) [95% CI]": fmt_interval(
                r.get("derivative_frac"), r.get("ci_low_frac"), r.get("ci_high_frac")),
            "elasticity [95% CI]": fmt_interval(
                r.get("elasticity"), r.get("elasticity_ci_low"), r.get("elasticity_ci_high")),
        })
    return pd.DataFrame(rows)




def replicate_note(results: pd.DataFrame) -> str:
    """'single runs (no intervals)' or 'mean [95% CI] over up to N replicates', for captions."""
    keys = [c for c in ["experiment", "dataset", "model", "frac_sample", "frac_damage"] if c in results]
    hi = int(results.groupby(keys, dropna=False).size().max()) if len(results) else 0
    return "single runs, so no intervals" if hi <= 1 else f"mean [95% CI] over up to {hi} replicates"



def _true(v) -> bool:
    return str(v).strip().lower() in ("true", "1", "1.0")



def fits_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Parameters of the selected curve form per model and metric: 'est [lo, hi]'."""
    sel = fits[fits["selected"].map(_true)]
    return pd.DataFrame({
        "model": sel["model"].str.upper(), "metric": sel["metric"], "form": sel["form"],
        "formula": sel["formula"] if "formula" in sel else "",
        "parameter": sel["param"],
        "estimate [95% CI]": [fmt_interval(e, lo, hi, 4) for e, lo, hi in
                              zip(sel["estimate"], sel["ci_low"], sel["ci_high"])],
        "points": sel["n_points"] if "n_points" in sel else "",
    }).reset_index(drop=True)



def choice_table(fits: pd.DataFrame) -> pd.DataFrame:
    """Every candidate form per model and metric with the criterion selection uses (AICc when
    the table says so, its ``criterion`` column), its difference to the best and the weight,
    sorted by that difference."""
    crit = (str(fits["criterion"].dropna().iloc[0]).lower()
            if "criterion" in fits and fits["criterion"].notna().any() else "aic")
    col = crit if crit in fits else "aic"
    label = {"aicc": "AICc", "aic": "AIC", "bic": "BIC"}.get(col, col)
    c = fits.drop_duplicates(["model", "metric", "form"]).copy()
    c["_delta"] = c[col] - c.groupby(["model", "metric"])[col].transform("min")
    c = c.sort_values(["metric", "model", "_delta"], na_position="last")
    out = pd.DataFrame({
        "model": c["model"].str.upper(), "metric": c["metric"], "form": c["form"],
        label: c[col].map(lambda v: "" if _nan(v) else f"{v:.1f}"),
        f"Δ{label}": c["_delta"].map(lambda v: "not fitted" if _nan(v) else f"{v:.1f}"),
        "weight": c["weight"].map(lambda v: "" if _nan(v) else f"{v:.2f}") if "weight" in c else "",
        "selected": c["selected"].map(lambda v: "yes" if _true(v) else ""),
    })
    return out.reset_index(drop=True)



def needed_table(needed: pd.DataFrame) -> pd.DataFrame:
    """Training rows needed per model, metric and target: 'est [lo, hi]', marked extrapolated
    (beyond the rows trained on) or not reachable."""
    rows = []
    for r in needed.itertuples(index=False):
        r = r._asdict()
        if not _true(r.get("reachable")) or _nan(r.get("n_needed")):
            val = "not reachable"
        else:
            val = fmt_interval(r["n_needed"], r.get("ci_low"), r.get("ci_high"))
            if _true(r.get("extrapolated")):
                val += " (extrapolated)"
        rows.append({"model": str(r["model"]).upper(), "metric": r["metric"], "target": f"{r['target']:g}",
                     "form": r.get("form", ""), "training rows needed [95% CI]": val})
    return pd.DataFrame(rows)



def breakdown_table(breakdown: pd.DataFrame) -> pd.DataFrame:
    """Breakdown damage per experiment and model: 'est [lo, hi]', or the grid bracket when the
    curve could not be fitted."""
    rows = []
    for r in breakdown.itertuples(index=False):
        r = r._asdict()
        if _nan(r.get("breakdown_frac")):
            val = (f"between {r['bracket_low']:g} and {r['bracket_high']:g} (grid bracket, not fitted)"
                   if not _nan(r.get("bracket_low")) and not _nan(r.get("bracket_high")) else "not found")
        else:
            val = fmt_interval(r["breakdown_frac"], r.get("ci_low"), r.get("ci_high"), 2)
            if _true(r.get("extrapolated")):
                val += " (extrapolated)"
        rows.append({"damage": str(r["experiment"]).replace("_damage", ""), "model": str(r["model"]).upper(),
                     "metric": r.get("metric", "acc"),
                     "clean": "" if _nan(r.get("clean")) else f"{r['clean']:.3f}",
                     "accuracy at breakdown": "" if _nan(r.get("level")) else f"{r['level']:.3f}",
                     "damage fraction d [95% CI]": val})
    return pd.DataFrame(rows)



def derivative_caption(deriv: pd.DataFrame) -> str:
    """The caption of :func:`derivative_table`: the model(s) it is about and the units."""
    models = (", ".join(deriv["model"].dropna().astype(str).str.upper().unique())
              if "model" in deriv and deriv["model"].notna().any() else "model")
    averaged = "form" in deriv and (deriv["form"] == "average").any()
    return (f"d(data)/d(quality) of the {models}, 95% intervals (data in training sets of 60,000 rows)"
            + ("; model-averaged over the curve forms (each form's own rows are in the download)"
               if averaged else ""))



def joint_law_view(joint: pd.DataFrame) -> pd.DataFrame:
    """``joint_size_quality_law.csv`` for reading: one row per parameter (g(q) and c(q) per
    label quality q, the shared a and b), its estimate with the 95% interval."""
    if joint is None or joint.empty:
        return pd.DataFrame()
    rows = []
    for r in joint.itertuples(index=False):
        r = r._asdict()
        what = r["param"] + (f" (q = {float(r['quality']):g})" if not _nan(r.get("quality")) else "")
        rows.append({"metric": r["metric"], "parameter": what,
                     "estimate [95% CI]": fmt_interval(r["estimate"], r.get("ci_low"), r.get("ci_high"))})
    return pd.DataFrame(rows)


def backtest_view(bt: pd.DataFrame) -> pd.DataFrame:
    """``backtest.csv`` for reading: per curve and form, its Akaike weight, the held-out
    error and the share of held-out cells inside the 95% prediction interval."""
    if bt is None or bt.empty:
        return pd.DataFrame()
    out = pd.DataFrame({
        "model": bt["model"], "metric": bt["metric"], "form": bt["form"],
        "weight": bt["weight"].map(lambda v: "" if _nan(v) else f"{v:.2f}"),
        "held-out RMSE": bt["rmse_held"].map(lambda v: "" if _nan(v) else f"{v:.4f}"),
        "inside 95% PI": bt["pi_coverage"].map(lambda v: "" if _nan(v) else f"{v:.0%}"),
        "status": bt["status"].fillna(""),
    })
    return out
