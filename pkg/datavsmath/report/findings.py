"""The findings' arithmetic: what the index page's headline says, from the tidy results.

A step of less data against a step of label damage of the same size, per model, each loss with
a 95% interval over replicates (:func:`headline`), and plain words for which costs more
(:func:`compare_costs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..stats.parity import MODEL_ORDER, diff_ci, mean_ci


def values(results: pd.DataFrame, experiment: str, model: str, metric: str,
           frac_sample: float | None = None, frac_damage: float | None = None,
           dataset: str = "fashion") -> np.ndarray:
    """The replicate values of one Fashion-MNIST (or ``dataset``) cell; empty if absent."""
    df = results[(results["experiment"] == experiment) & (results["model"] == model)]
    if "dataset" in df and df["dataset"].notna().any():
        df = df[df["dataset"] == dataset]
    if frac_sample is not None:
        df = df[np.isclose(df["frac_sample"], frac_sample)]
    if frac_damage is not None:
        df = df[np.isclose(df["frac_damage"], frac_damage)]
    return df[metric].to_numpy(dtype=float)


def nearest(available, target: float, exclude: float | None = None) -> float | None:
    """The available fraction closest to ``target`` (never ``exclude``), or None."""
    cands = sorted({float(v) for v in available if exclude is None or not np.isclose(v, exclude)})
    return min(cands, key=lambda v: (abs(v - target), v)) if cands else None


@dataclass
class Steps:
    """The comparable steps the headline uses: the largest sample s_max, a smaller sample
    s_less (about 10% fewer rows), and the damage fraction d of about the same size."""

    s_max: float | None
    s_less: float | None
    d: float | None

    @property
    def data_share(self) -> float | None:
        if self.s_max is None or self.s_less is None:
            return None
        return 1 - self.s_less / self.s_max


def steps(results: pd.DataFrame) -> Steps:
    """The headline's steps on the Fashion-MNIST grid at hand (see :class:`Steps`)."""
    if "dataset" in results and results["dataset"].notna().any():
        results = results[results["dataset"] == "fashion"]
    size = results[results["experiment"] == "size"]
    s_max = float(size["frac_sample"].max()) if len(size) else None
    s_less = nearest(size["frac_sample"], 0.9 * s_max, exclude=s_max) if s_max else None
    share = 1 - s_less / s_max if s_less else 0.1
    dam = results[results["experiment"].isin(["random_damage", "constant_damage"])]
    d = nearest(dam["frac_damage"], share, exclude=0.0) if len(dam) else None
    return Steps(s_max, s_less, d)


def headline(results: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """Per model: the metric at the largest sample, and what it loses with a step of less data
    and with the same-sized step of random or constant label damage (each with a 95% CI over
    replicates). Numeric columns end in _est/_lo/_hi."""
    st = steps(results)
    rows = []
    models = [m for m in MODEL_ORDER if m in set(results["model"])]
    for m in models:
        row = {"model": m}
        full = values(results, "size", m, metric, frac_sample=st.s_max) if st.s_max else []
        row["best_est"], row["best_lo"], row["best_hi"], row["n"] = mean_ci(full)
        less = values(results, "size", m, metric, frac_sample=st.s_less) if st.s_less else []
        row["data_est"], row["data_lo"], row["data_hi"] = diff_ci(full, less)
        for kind in ("random", "constant"):
            exp = f"{kind}_damage"
            clean = values(results, exp, m, metric, frac_damage=0.0)
            hurt = values(results, exp, m, metric, frac_damage=st.d) if st.d else []
            row[f"{kind}_est"], row[f"{kind}_lo"], row[f"{kind}_hi"] = diff_ci(clean, hurt)
        rows.append(row)
    return pd.DataFrame(rows)


def compare_costs(data: tuple, damage: tuple) -> str:
    """Plain words for 'is the damage step costlier than the data step?' given (est, lo, hi)
    of each loss: 'clearly larger' only when the intervals do not overlap."""
    (de, dlo, dhi), (ge, glo, ghi) = data, damage
    if any(math.isnan(x) for x in (de, ge)):
        return "cannot be compared (a cell is missing)"
    if not any(math.isnan(x) for x in (dlo, dhi, glo, ghi)):
        if glo > dhi:
            return "clearly larger (the 95% intervals do not overlap)"
        if ghi < dlo:
            return "clearly smaller (the 95% intervals do not overlap)"
        return "not distinguishable at this number of replicates (the 95% intervals overlap)"
    word = "larger" if ge > de else "smaller"
    return f"{word} in these single runs (no replicates, so no interval)"



def fmt_ci(est: float, lo: float, hi: float, digits: int = 3, signed: bool = False) -> str:
    """'0.921 (95% CI 0.918 to 0.924)', or '0.921 (single run, no CI)' without bounds."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "n/a"
    sign = "+" if signed else ""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{est:{sign}.{digits}f} (single run, no CI)"
    return f"{est:{sign}.{digits}f} (95% CI {lo:{sign}.{digits}f} to {hi:{sign}.{digits}f})"


def headline_table(h: pd.DataFrame, st: Steps, metric: str = "acc") -> pd.DataFrame:
    """The headline frame formatted for reading."""
    name = {"acc": "accuracy", "auc": "AUC"}[metric]
    less = f"{st.data_share:.0%}" if st.data_share is not None else "?"
    d = f"{st.d:.0%}" if st.d is not None else "?"
    s_max = f"{st.s_max:.0%}" if st.s_max is not None else "?"
    out = pd.DataFrame({"model": h["model"]})
    out[f"{name} at {s_max} of the rows"] = [fmt_ci(*r) for r in h[["best_est", "best_lo", "best_hi"]].to_numpy()]
    out[f"lost with {less} fewer rows"] = [fmt_ci(*r, signed=True) for r in h[["data_est", "data_lo", "data_hi"]].to_numpy()]
    out[f"lost with {d} random damage"] = [fmt_ci(*r, signed=True) for r in h[["random_est", "random_lo", "random_hi"]].to_numpy()]
    out[f"lost with {d} constant damage"] = [fmt_ci(*r, signed=True) for r in h[["constant_est", "constant_lo", "constant_hi"]].to_numpy()]
    return out



def cell_means_table(results: pd.DataFrame, experiment: str, metric: str) -> pd.DataFrame:
    """One row per level of the experiment's grid axis (sample fraction for ``size``, damage
    fraction otherwise), one column per model: the mean over replicates with its 95% interval,
    as :func:`fmt_ci` writes it."""
    df = results[results["experiment"] == experiment]
    by_size = experiment == "size"
    axis = "frac_sample" if by_size else "frac_damage"
    models = [m for m in MODEL_ORDER if m in set(df["model"])]
    rows = []
    for level in sorted(df[axis].unique()):
        row = ({"sample fraction": f"{level:.0%}", "rows": f"{int(60000 * level + 1e-9):,}"} if by_size
               else {"damage d": f"{level:.0%}", "correct 1 - d": f"{1 - level:.0%}"})
        for m in models:
            vals = values(results, experiment, m, metric, **{axis: level})
            row[m] = fmt_ci(*mean_ci(vals)[:3])
        rows.append(row)
    return pd.DataFrame(rows)
