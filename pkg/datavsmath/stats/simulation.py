"""Simulation study of the statistics: interval coverage and verdict errors where the truth is
known, run through the public API with the package's defaults.

Each truth is an error curve e(n); a run is one size experiment on R's grid (28 sample
fractions of 60,000 rows) whose accuracy is Binomial(10,000, 1 - e(n)) / 10,000, the test-set
noise of a single trained model (with ``replicates`` > 1, that many runs per cell). Every run
is fitted with :func:`~datavsmath.stats.learning.fit_learning_curves` (the four default forms,
AICc weights) and asked:

* the exponent ``b``, model-averaged over the power-law forms
  (:meth:`~datavsmath.stats.curveset.CurveSet.average_param`), and the selected form's own
  interval beside it (conditional on the choice, for comparison);
* the training rows n* that reach the error of the truth at given sizes (inside the data, and
  at 2.5 and 3 times the largest size), and targets below the floor that no data reach, with
  :func:`~datavsmath.stats.needed.data_needed`'s model average and verdict.

An n* interval covers when the truth lies inside it; an "undetermined" answer, whose interval
is [lower limit, infinity), covers when its lower limit is below the truth; "not reachable"
never covers a reachable truth. ``python -m datavsmath.stats.simulation`` prints the table the
Methods page shows (``data/coverage-study.csv``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["Truth", "TRUTHS", "SIZES", "simulate_run", "coverage_study"]

#: R's size grid: 28 fractions of the 60,000 training rows
FRACS = np.r_[np.arange(1, 10) / 100, np.arange(1, 10) / 10, np.arange(91, 101) / 100]
SIZES = 60000 * FRACS
N_TEST = 10000


@dataclass(frozen=True)
class Truth:
    """A known learning curve: ``error(n)``, its power-law exponent (None for other shapes),
    its floor, and the questions asked of it: reachable targets as the sizes n* at which
    the truth reaches them, unreachable ones as error levels below the floor."""

    name: str
    formula: str
    error: Callable
    floor: float
    exponent: float | None = None
    n_star: tuple = ()
    below_floor: tuple = ()
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _power_floor(c, a, b):
    return lambda n: c + a * np.asarray(n, float) ** -b


def _exp_floor(c, a, s):
    return lambda n: c + a * np.exp(-np.asarray(n, float) / s)


#: the truths of the study (the cases named in the statistics issues: honest ones, a floor
#: just below the target, an exponential approach, and floors above the target)
TRUTHS = {
    "power_floor": Truth("power_floor", "0.08 + 1.5 n^-0.35", _power_floor(0.08, 1.5, 0.35),
                         0.08, 0.35, n_star=(15000, 150000, 180000), below_floor=(0.077,)),
    "power": Truth("power", "1.2 n^-0.25", _power_floor(0.0, 1.2, 0.25), 0.0, 0.25,
                   n_star=(15000, 150000, 180000)),
    "near_floor": Truth("near_floor", "0.095 + 0.324 n^-0.35", _power_floor(0.095, 0.324, 0.35),
                        0.095, 0.35, n_star=(15000, 150000), below_floor=(0.092,)),
    "exp_floor": Truth("exp_floor", "0.06 + 0.2 exp(-n / 40,000)", _exp_floor(0.06, 0.2, 40000),
                       0.06, None, n_star=(15000, 150000, 180000), below_floor=(0.057,)),
}


def simulate_run(truth: Truth, rng: np.random.Generator, replicates: int = 1) -> pd.DataFrame:
    """One size experiment from ``truth``: tidy rows (replicates x 28) with a binomial
    single-run accuracy on 10,000 test images.

    Parameters
    ----------
    truth : Truth
        The known curve.
    rng : numpy.random.Generator
        Draws the binomial test errors.
    replicates : int, default 1
        Runs per size.

    Returns
    -------
    pandas.DataFrame
        Columns experiment, model, frac_sample, frac_damage, replicate, acc.
    """
    p = 1.0 - truth.error(SIZES)
    return pd.concat([pd.DataFrame({"experiment": "size", "model": "m", "frac_sample": FRACS,
                                    "frac_damage": 0.0, "replicate": r,
                                    "acc": rng.binomial(N_TEST, p) / N_TEST})
                      for r in range(replicates)], ignore_index=True)


def _one_run(truth: Truth, df: pd.DataFrame) -> list[dict]:
    from .learning import fit_learning_curves
    from .needed import data_needed

    res = fit_learning_curves(df, quiet=True)
    cs = res.get("m")
    rows = []
    if truth.exponent is not None:
        b = cs.average_param("b")
        rows.append({"quantity": "exponent b (model average over power forms)",
                     "covers": b["ci_low"] <= truth.exponent <= b["ci_high"], "verdict": ""})
        best = cs.best
        if best is not None and "b" in best.form.natural:
            ci = best.conf_int().loc["b"]
            covers: bool | float = bool(ci["ci_low"] <= truth.exponent <= ci["ci_high"])
        else:  # an exponential selected: its interval says nothing about b
            covers = False
        rows.append({"quantity": "exponent b (selected form, conditional)", "covers": covers,
                     "verdict": ""})
    n_max = SIZES.max()
    targets = [1.0 - float(truth.error(n)) for n in truth.n_star]
    targets += [1.0 - e for e in truth.below_floor]
    need = data_needed(res, {"acc": targets}).table()
    for n, (_, r) in zip(list(truth.n_star) + [np.inf] * len(truth.below_floor), need.iterrows()):
        if np.isfinite(n):
            where = "inside the data" if n <= n_max else f"at {n / n_max:g}x the largest size"
            label = f"n* {where} ({n:,.0f} rows)"
            if r["verdict"] == "reachable":
                covers = r["ci_low"] <= n <= r["ci_high"]
            elif r["verdict"] == "undetermined":
                covers = not (r["ci_low"] > n)  # [lower, inf): covers unless the lower is above
            else:
                covers = False
        else:
            label = f"target below the floor (error {1 - r['target']:.3g})"
            covers = np.nan
        rows.append({"quantity": label, "covers": covers, "verdict": r["verdict"],
                     "reachable_truth": bool(np.isfinite(n))})
    return rows


def coverage_study(truths=None, n_runs: int = 300, seed: int = 2026,
                   replicates: int = 1) -> pd.DataFrame:
    """Run the study: per truth and quantity, runs, coverage (share of 95% intervals holding
    the truth) with its Monte Carlo standard error, and the verdicts' shares: reachable,
    undetermined, not reachable, and the wrong ones (wrong_reachable: a target below the
    floor called reachable; wrong_not_reachable: a reachable target called not reachable).

    ``truths``: names of :data:`TRUTHS` (default all); seeded, so the table is deterministic.

    Parameters
    ----------
    truths : list of str, optional
        Names of :data:`TRUTHS` (default all).
    n_runs : int, default 300
        Simulated experiments per truth.
    seed : int, default 2026
        Seed of the study: the table is deterministic.
    replicates : int, default 1
        Runs per size in each simulated experiment.

    Returns
    -------
    pandas.DataFrame
    """
    from .curves import ScalingWarning

    names = list(TRUTHS) if truths is None else list(truths)
    out = []
    for name in names:
        truth = TRUTHS[name]
        rng = np.random.default_rng([seed, list(TRUTHS).index(name)])
        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingWarning)
            for _ in range(n_runs):
                rows += _one_run(truth, simulate_run(truth, rng, replicates))
        df = pd.DataFrame(rows)
        for quantity, g in df.groupby("quantity", sort=False):
            cov = g["covers"].astype(float)
            row = {"truth": truth.formula, "case": name, "replicates": replicates,
                   "quantity": quantity, "runs": len(g),
                   "coverage": float(cov.mean()) if cov.notna().any() else np.nan,
                   "coverage_se": float(np.sqrt(cov.mean() * (1 - cov.mean()) / len(g)))
                   if cov.notna().any() else np.nan}
            if g["verdict"].astype(bool).any():
                share = g["verdict"].value_counts(normalize=True)
                row.update({v.replace(" ", "_"): float(share.get(v, 0.0))
                            for v in ("reachable", "undetermined", "not reachable")})
                reach = bool(g["reachable_truth"].iloc[0])
                row["wrong_reachable"] = 0.0 if reach else row["reachable"]
                row["wrong_not_reachable"] = row["not_reachable"] if reach else 0.0
            out.append(row)
    return pd.DataFrame(out)


if __name__ == "__main__":  # pragma: no cover - the Methods page's table
    import argparse

    ap = argparse.ArgumentParser(description="interval coverage and verdict errors by simulation")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--replicates", type=int, default=1)
    ap.add_argument("--out", help="write the table to this CSV")
    a = ap.parse_args()
    table = coverage_study(n_runs=a.runs, replicates=a.replicates)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if a.out:
        table.to_csv(a.out, index=False)
