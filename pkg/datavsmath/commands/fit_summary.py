"""The short summary that ``datavsmath fit`` prints by default: about one screen, built from
the tables of the analyses' results objects (``ScalingReport.tables()``), so that the
numbers are the ones written to the CSVs (``--verbose`` prints every summary in full)."""

from __future__ import annotations

import math

import pandas as pd

#: the widest line the short summary aims for
WIDTH = 100


def count(x: float) -> str:
    """Training rows as the summary prints them.

    Parameters
    ----------
    x : float or None
        Rows; may be infinite (never reached) or NaN / None (not estimated).

    Returns
    -------
    str
        A whole number with thousands separators (24,571), "inf" when unbounded, "n/a" when
        missing.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return "inf" if math.isinf(x) else f"{x:,.0f}"


def share(x: float, digits: int = 3) -> str:
    """A rate, floor or fraction as the summary prints it.

    Parameters
    ----------
    x : float or None
        The value; NaN or None when not estimated.
    digits : int
        Decimals shown.

    Returns
    -------
    str
        ``x`` to ``digits`` decimals (0.245), "inf" or "-inf" when infinite, "n/a" when missing.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:.{digits}f}"


def interval(est, low, high, fmt=share) -> str:
    """An estimate with its interval, all three in one format.

    Parameters
    ----------
    est, low, high : float or None
        The estimate and the interval's ends.
    fmt : callable float -> str
        The format (:func:`share` or :func:`count`).

    Returns
    -------
    str
        ``est [low, high]``.
    """
    return f"{fmt(est)} [{fmt(low)}, {fmt(high)}]"


def _curves(fits: pd.DataFrame, needed: pd.DataFrame | None) -> list[str]:
    """Per model and metric (clean labels): the selected form, the model-averaged exponent b
    and floor c, and the rows needed for each target."""
    head = fits[(fits["frac_damage"] == 0) & fits["param"].isin(["b", "c"])]
    chosen = fits[fits["selected"].astype(bool) & (fits["frac_damage"] == 0)]
    lines = ["  model metric selected      exponent b (95%)       floor c (95%)"]
    for (model, metric), part in head.groupby(["model", "metric"], sort=False):
        avg = part[part["form"] == "average"].set_index("param")
        form = chosen.loc[(chosen["model"] == model) & (chosen["metric"] == metric), "form"]
        b = avg.loc["b"] if "b" in avg.index else None
        c = avg.loc["c"] if "c" in avg.index else None
        b_txt = interval(b["estimate"], b["ci_low"], b["ci_high"]) if b is not None else "n/a"
        c_txt = ("0 (assumed)" if c is None or (c["estimate"] == 0 and c["ci_high"] == 0)
                 else interval(c["estimate"], c["ci_low"], c["ci_high"]))
        lines.append(f"  {model:<5} {metric:<6} {(form.iloc[0] if len(form) else 'n/a'):<13} "
                     f"{b_txt:<22} {c_txt}")
        targets = _targets(needed, model, metric)
        if targets:
            lines.append(f"        rows needed for {metric} " + "; ".join(targets))
    return lines


def _targets(needed, model: str, metric: str) -> list[str]:
    """``acc 0.9: 24,571 [21,971, 27,527]`` per target, or its verdict when there is no number."""
    if needed is None:
        return []
    rows = needed[(needed["model"] == model) & (needed["metric"] == metric) & (needed["frac_damage"] == 0)]
    out = []
    for r in rows.itertuples():
        what = (interval(r.n_needed, r.ci_low, r.ci_high, count) if r.verdict == "reachable"
                else f"{r.verdict}" + (f", at least {count(r.ci_low)}" if r.verdict == "undetermined"
                                       and math.isfinite(r.ci_low) else ""))
        out.append(f"{r.target:g}: {what}")
    return out


def _quality(deriv: pd.DataFrame) -> list[str]:
    """The label-quality verdict per model and metric: the overall d(data)/d(quality)."""
    rows = deriv[(deriv["scope"] == "overall") & (deriv["form"] == "average")]
    lines = []
    for r in rows.itertuples():
        head = f"  {r.model} {r.metric} > {r.threshold:g}, quality {r.quality_high:g} to {r.quality_low:g}: "
        if not math.isfinite(r.derivative_frac):
            lines.append(head + "undetermined")
            lines.append(f"    ({r.note})")
            continue
        verdict = ("below -1 at 95%" if r.below_minus_1 is True or r.below_minus_1 == "True"
                   else "below -1 not established at 95%")
        lines.append(head + f"{share(r.derivative_frac, 2)} datasets per unit quality "
                     f"[{share(r.ci_low_frac, 2)}, {share(r.ci_high_frac, 2)}]")
        lines.append(f"    elasticity {interval(r.elasticity, r.elasticity_ci_low, r.elasticity_ci_high, lambda x: share(x, 2))}; "
                     f"{verdict}")
    return lines


def _breakdown(points: pd.DataFrame) -> list[str]:
    """Damage at which each model loses half its skill, one line per experiment."""
    lines = []
    for exp, part in points.groupby("experiment", sort=False):
        cells = [f"{r.model} " + (interval(r.breakdown_frac, r.ci_low, r.ci_high, lambda x: share(x, 2))
                                  if math.isfinite(r.breakdown_frac) else "n/a")
                 for r in part.itertuples()]
        lines.append(f"  {exp} ({part['metric'].iloc[0]}): " + "; ".join(cells[:2]))
        for i in range(2, len(cells), 2):
            lines.append("    " + "; ".join(cells[i:i + 2]))
    return lines


def _pruning(fits: pd.DataFrame) -> list[str]:
    """The exponent of each row-selection rule against random selection."""
    lines = []
    for r in fits[fits["selection"] != "random"].itertuples():
        lines.append(f"  {r.model} {r.metric} {r.selection}: b {interval(r.b, r.b_ci_low, r.b_ci_high)}"
                     + (f"; against random: {CHANGES.get(r.change, r.change)}"
                        if isinstance(r.change, str) and r.change else ""))
    return lines


#: pruning_fits' "change" column in words
CHANGES = {"exponent": "the exponent differs", "constant only": "only the constant differs",
           "none detected": "no difference detected", "not fitted": "not fitted"}


def short_summary(report, tables_dir, written) -> str:
    """About one screen: per source and dataset the learning curves with the rows needed, the
    label-quality verdict, the breakdown points and the pruning exponents, then where the
    tables went.

    Parameters
    ----------
    report : datavsmath.stats.scaling.ScalingReport
        What :func:`~datavsmath.stats.scaling.analyze` returned.
    tables_dir : path-like
        The folder the tables were written to (``DIR/tables``).
    written : list of pathlib.Path
        The tables written.

    Returns
    -------
    str, lines of at most about :data:`WIDTH` characters.
    """
    tables = report.tables()
    groups = []
    for name in ("learning_curve_fits", "data_quality_derivative", "breakdown_points", "pruning_fits"):
        if name in tables:
            groups += [key for key in tables[name][["source", "dataset"]].drop_duplicates().itertuples(index=False)
                       if key not in groups]
    out = []
    for source, dataset in groups:
        def part(name):
            t = tables.get(name)
            return None if t is None else t[(t["source"] == source) & (t["dataset"] == dataset)]

        out.append(f"{source} / {dataset}")
        fits, needed = part("learning_curve_fits"), part("data_needed")
        if fits is not None and len(fits):
            out.append(" Learning curves (size): error e = 1 - metric against rows n, model-averaged")
            out += _curves(fits, needed)
        deriv = part("data_quality_derivative")
        if deriv is not None and len(deriv):
            out.append(" Label quality: d(data)/d(quality), rows needed per unit of quality, in datasets")
            out += _quality(deriv)
        points = part("breakdown_points")
        if points is not None and len(points):
            out.append(" Breakdown: damage share at which a model loses half its skill (95%)")
            out += _breakdown(points)
        pruned = part("pruning_fits")
        if pruned is not None and len(pruned):
            out.append(" Pruning: exponent b of each row-selection rule")
            out += _pruning(pruned)
    out.append(f"wrote {len(written)} tables to {tables_dir}/ (--verbose: every fit, note and table)")
    return "\n".join(out)
