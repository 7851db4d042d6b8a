"""What the noise-models page shows: the metric against damage per rule, realised against
nominal damage, the cost per unit of damage with intervals, and the verdict in words. The
numbers come from :mod:`datavsmath.stats.noise`."""

from __future__ import annotations

import math

import pandas as pd
from plotnine import (
    aes,
    facet_wrap,
    geom_line,
    geom_point,
    geom_ribbon,
    ggplot,
    labs,
    scale_color_manual,
    scale_fill_manual,
)

from ..stats.noise import (
    CLEAN,
    EXPERIMENT,
    LEVEL,
    damage_slopes,
    noise_rows,
    realised_table,
    rule_comparison,
)
from .theme import FEW_DARK, replicate_summary, theme_few

__all__ = ["RULE_NAMES", "noise_figure", "noise_verdict", "realised_view", "slopes_view"]

#: how the page names each rule
RULE_NAMES = {"symmetric": "symmetric (R's random)", "pair": "pair (R's constant, y -> y + 1)",
              "random": "random", "constant": "constant", "confusion": "confusion (class-conditional)",
              "matrix": "user matrix", "instance": "instance-dependent"}
_METRIC = {"acc": "accuracy", "auc": "AUC"}


def _rule_order(rules) -> list[str]:
    known = [r for r in RULE_NAMES if r in set(rules)]
    return known + sorted(set(rules) - set(known) - {CLEAN})


def noise_figure(results: pd.DataFrame, metric: str = "acc", experiment: str = EXPERIMENT) -> ggplot:
    """``metric`` against the damage fraction, one line per rule, one panel per model; every
    rule's line starts at the shared clean cells (mean over replicates, band: their range).

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    experiment : str, default "noise_models"
        The experiment.

    Returns
    -------
    plotnine.ggplot
    """
    df = noise_rows(results, experiment)
    if df.empty:
        raise ValueError(f"no {experiment!r} results to draw")
    rules = _rule_order(df["noise_rule"].unique())
    clean = df[df["noise_rule"] == CLEAN]
    # the clean cells are every rule's d = 0 point
    parts = [df[df["noise_rule"] != CLEAN]] + [clean.assign(noise_rule=r) for r in rules]
    s = replicate_summary(pd.concat(parts, ignore_index=True), ["model", "noise_rule", "frac_damage"], metric)
    s["noise_rule"] = pd.Categorical(s["noise_rule"], rules)
    colors = dict(zip(rules, FEW_DARK))
    p = ggplot(s, aes("frac_damage", "mean", color="noise_rule", group="noise_rule"))
    if s["n"].max() > 1:
        p += geom_ribbon(aes(ymin="lo", ymax="hi", fill="noise_rule"), alpha=0.15, color="none", show_legend=False)
        p += scale_fill_manual(values=colors, guide=None)
    p += geom_line(size=1)
    p += geom_point(size=1.5)
    p += scale_color_manual(values=colors, name="Damage rule")
    p += facet_wrap("model", scales="free_y")
    n = int(s["n"].max())
    caption = f"Mean of {n} replicates per point; bands: their range" if n > 1 else None
    return p + theme_few() + labs(x="Damaged fraction of the training labels", y=f"Test {_METRIC[metric]}",
                                  title=f"Test {_METRIC[metric]} by damage rule", caption=caption)


def _interval(lo: float, hi: float, digits: int = 3) -> str:
    return "" if math.isnan(lo) or math.isnan(hi) else f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def realised_view(results: pd.DataFrame, experiment: str = EXPERIMENT) -> pd.DataFrame:
    """The realised-against-nominal table in the page's words.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    experiment : str, default "noise_models"
        The experiment.

    Returns
    -------
    pandas.DataFrame
    """
    t = realised_table(results, experiment)
    return pd.DataFrame({
        "rule": t["rule"].map(lambda r: RULE_NAMES.get(r, r)),
        "nominal d": t["frac_damage"].map(lambda v: f"{v:.2f}"),
        "realised": t["realised"].map(lambda v: f"{v:.4f}"),
        "worst class deviation": t["worst_class"].map(lambda v: f"{v:.4f}"),
        "labels moved": t["moved"].map(lambda v: f"{v:,}"),
        "distance to the rule's matrix": t["matrix_tv"].map(lambda v: "per example" if math.isnan(v) else f"{v:.3f}"),
    })


def slopes_view(results: pd.DataFrame, metric: str = "acc", level: float = LEVEL,
                experiment: str = EXPERIMENT) -> pd.DataFrame:
    """Cost per unit of damage, per model and rule, in the page's words.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    level : float, default 0.95
        Confidence level.
    experiment : str, default "noise_models"
        The experiment.

    Returns
    -------
    pandas.DataFrame
    """
    t = damage_slopes(results, metric, level, experiment)
    return pd.DataFrame({
        "model": t["model"],
        "rule": t["rule"].map(lambda r: RULE_NAMES.get(r, r)),
        f"{_METRIC[metric]} lost per unit of damage": t["slope"].map(lambda v: f"{v:.3f}"),
        f"{level:.0%} interval": [_interval(a, b) for a, b in zip(t["ci_low"], t["ci_high"])],
        "replicates": t["replicates"],
        "loss at the largest level": [f"{v:.3f} at d = {d:g}" for v, d in zip(t["loss_at_max"], t["max_damage"])],
    })


def noise_verdict(results: pd.DataFrame, metric: str = "acc", level: float = LEVEL,
                  experiment: str = EXPERIMENT) -> str:
    """Which damage rule costs the most ``metric`` per unit of damage, per model, and whether
    its interval separates it from the runner-up; then whether the realised damage matched
    the nominal.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).
    metric : {"acc", "auc"}, default "acc"
        The metric.
    level : float, default 0.95
        Confidence level.
    experiment : str, default "noise_models"
        The experiment.

    Returns
    -------
    str
        Markdown.
    """
    comp = rule_comparison(results, metric, level, experiment)
    if comp.empty:
        return (f"**Undetermined**: the results hold no damaged {experiment} cells with a clean baseline, "
                "so no rule can be compared; `datavsmath run noise_models` produces them.")
    name = _METRIC[metric]
    lines = []
    models = ", ".join(comp["model"])
    open_ = comp.loc[~comp["separated"], "model"].tolist()
    if comp["worst"].nunique() == 1:
        rule = RULE_NAMES.get(comp["worst"].iloc[0], comp["worst"].iloc[0])
        rule = rule[0].upper() + rule[1:]
        if not open_:
            lines.append(f"**{rule} damage hurts most per unit of damage** for every model here ({models}).")
        else:
            lines.append(f"**{rule} damage has the largest mean cost per unit of damage** for every model here "
                         f"({models}), but its lead over the runner-up is **not established** for "
                         f"{', '.join(open_)} at this size.")
    else:
        lines.append("**The most harmful rule depends on the model**" + (
            f"; the lead is not established for {', '.join(open_)}." if open_ else "."))
    lines.append("")  # Markdown starts a list only after a blank line
    for row in comp.itertuples():
        diff = f"{row.diff:+.3f} {_interval(row.diff_low, row.diff_high)}".strip()
        if row.separated:
            how = f"more than {RULE_NAMES.get(row.runner_up, row.runner_up)} by {diff} per unit ({level:.0%} interval, " \
                  f"{row.replicates} paired replicates): separated"
        elif math.isnan(row.diff_low):
            how = f"ahead of {RULE_NAMES.get(row.runner_up, row.runner_up)} by {row.diff:+.3f}, with too few " \
                  "replicates for an interval: not established"
        else:
            how = f"ahead of {RULE_NAMES.get(row.runner_up, row.runner_up)} by {diff} per unit ({level:.0%} interval, " \
                  f"{row.replicates} paired replicates), which includes 0: not separated at this size"
        lines.append(f"- {row.model}: {RULE_NAMES.get(row.worst, row.worst)} costs {row.worst_slope:.3f} {name} per "
                     f"unit of damage, {how}.")
    slopes = damage_slopes(results, metric, level, experiment)
    ranks = {m: " > ".join(part["rule"]) for m, part in slopes.groupby("model", sort=True)}
    if len(set(ranks.values())) == 1:
        lines.append(f"\nRanking by mean cost per unit of damage, the same for every model: {next(iter(ranks.values()))}.")
    else:
        lines.append("\nRanking by mean cost per unit of damage: "
                     + "; ".join(f"{m}: {r}" for m, r in ranks.items()) + ".")
    real = realised_table(results, experiment)
    if not real.empty:
        dev = float((real["realised"] - real["frac_damage"]).abs().max())
        worst_class = float(real["worst_class"].max())
        lines.append(f"\nRealised damage matched the nominal rates: the share of labels changed is within "
                     f"{dev:.4f} of the nominal level in every cell (each class within {worst_class:.4f}, the "
                     "rounding of round(d x class size)).")
    return "\n".join(lines)
