"""The cheapest lever to a target: every measured way of reaching a target accuracy (or AUC),
priced with the user's prices, with intervals and break-even prices.

Each path is a learning curve the results measure on clean labels: each of R's models on the
size experiment (collect rows for it), each lever applied to a model (augmentation,
pretraining: :func:`datavsmath.stats.lever_curves.lever_of`) on its own experiment, and each
pruning rule on the pruning experiment (label only the rows the rule keeps from a pool of
unlabelled images). For a path, n* is the rows its curve needs to reach the target (model
average over the curve forms, :meth:`CurveSet.average_solve`, with its 95% interval and the
verdict of :func:`datavsmath.stats.needed.verdict`). Its cost, for a user holding ``rows``
labelled rows at label quality ``quality``:

* new labels: max(0, n* - rows) at ``price_label`` each;
* review: when ``quality`` < 1, the rows held are reviewed once (``price_review`` each) so
  that they are clean, since every curve here is measured on clean labels;
* compute: the fit's hours at n* rows, from the seconds the results measured (proportional
  to rows, fitted per model through the origin) at ``price_hour``; for pretraining also the
  pretraining fit, once.

The cost interval is the cost at n*'s interval limits (cost is monotone in n*). The break-even
price of a path against collecting for the baseline model is the price per new label at which
both cost the same (the path pays while new labels cost more than that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cells import HORIZON, check_metric
from .curves import Summary
from .learning import CurveSet, fit_learning_curves
from .lever_curves import lever_curves, lever_of, rule_curves
from .needed import status_note, verdict

__all__ = ["LeverAdvice", "advise_levers", "fit_hours", "path_curves"]

#: the columns of :meth:`LeverAdvice.table`
COLUMNS = ["path", "model", "n_star", "n_ci_low", "n_ci_high", "verdict", "new_labels", "reviews",
           "hours", "cost", "cost_ci_low", "cost_ci_high", "break_even_label_price", "pays_when", "note"]


def fit_hours(df: pd.DataFrame) -> dict[str, float]:
    """Measured training hours per row for each model: least squares through the origin of
    ``fit_seconds`` on ``n_train`` over the results' fits.

    Parameters
    ----------
    df : tidy results with model, n_train and fit_seconds

    Returns
    -------
    {model: hours per training row}; models without timings are left out.
    """
    out: dict[str, float] = {}
    if not {"fit_seconds", "n_train"} <= set(df.columns):
        return out
    for model, rows in df.dropna(subset=["fit_seconds", "n_train"]).groupby("model"):
        n, s = rows["n_train"].to_numpy(float), rows["fit_seconds"].to_numpy(float)
        if (n > 0).any():
            out[model] = float(n @ s / (n @ n)) / 3600.0
    return out


def path_curves(df: pd.DataFrame, metric: str) -> list[tuple[str, str, CurveSet]]:
    """Every path's learning curve: (path label, model, CurveSet).

    Parameters
    ----------
    df : tidy results of one dataset
    metric : "acc" or "auc"

    Returns
    -------
    list of (path, model, curves): "collect for <model>" for the size experiment's plain
    models, "<family>: <model>" for levers applied to a model, "pruning: <model>, <rule>".
    """
    out = []
    size = df[df["experiment"] == "size"]
    if not size.empty:
        for cs in fit_learning_curves(size, "size", metric, quiet=True):
            if lever_of(cs.model) is None:
                out.append((f"collect for {cs.model}", cs.model, cs))
    out += [(f"{family}: {model}", model, cs) for family, model, _, cs in lever_curves(df, metric)]
    for rule, fits in rule_curves(df, metric).items():
        if rule != "random":
            out += [(f"pruning: {cs.model}, {rule.replace('_', ' ')}", cs.model, cs) for cs in fits]
    return out


@dataclass
class LeverAdvice:
    """The paths to a target, priced: ``table()``, ``cheapest`` and ``summary()``."""

    metric: str
    threshold: float
    rows: float
    quality: float
    prices: dict
    baseline: str
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per path.

        Returns
        -------
        DataFrame with :data:`COLUMNS`: path, model, n_star (rows its curve needs) with
        n_ci_low, n_ci_high (95%), verdict, new_labels, reviews, hours (compute at n*), cost
        with cost_ci_low, cost_ci_high, break_even_label_price (against collecting for the
        baseline; NaN when the two never cost the same), pays_when ("label price above" the
        break-even for a path needing fewer new labels, "label price below" for one needing
        more), note. Sorted by cost.
        """
        return self.frame.copy()

    @property
    def cheapest(self) -> pd.Series | None:
        """The reachable path of lowest cost, or None when no path is reachable."""
        ok = self.frame[self.frame["verdict"] == "reachable"]
        return None if ok.empty else ok.iloc[0]

    def verdict_text(self) -> str:
        """The advice in one sentence."""
        best = self.cheapest
        target = f"{self.metric} {self.threshold:g}"
        if best is None:
            return f"No measured path reaches {target} with an interval that closes; see the notes."
        return (f"Cheapest path to {target}: {best['path']}, about {best['cost']:,.2f} "
                f"[{best['cost_ci_low']:,.2f}, {_money(best['cost_ci_high'])}] "
                f"({best['n_star']:,.0f} rows [{best['n_ci_low']:,.0f}, {_money(best['n_ci_high'], 0)}]).")

    def summary(self) -> Summary:
        """The paths, the advice and the notes as text."""
        s = Summary(f"Paths to {self.metric} {self.threshold:g} from {self.rows:,.0f} rows at "
                    f"quality {self.quality:g}")
        cols = ["path", "n_star", "n_ci_low", "n_ci_high", "verdict", "cost", "cost_ci_low",
                "cost_ci_high", "break_even_label_price", "pays_when"]
        s.add_df(self.frame[cols], index=False, digits=4)
        s.add_text(self.verdict_text())
        p = self.prices
        s.add_text(f"Prices: new label {p['label']:g}, reviewed label {p['review']:g}, compute hour "
                   f"{p['hour']:g}. Break-even: the price per new label at which the path costs "
                   f"the same as collecting for {self.baseline}.")
        for note in self.notes:
            s.add_text(f"Note: {note}")
        return s


def _money(v: float, digits: int = 2) -> str:
    return "no upper limit" if not np.isfinite(v) else f"{v:,.{digits}f}"


def advise_levers(df: pd.DataFrame, *, threshold: float, rows: float, price_label: float,
                  price_review: float = 0.0, price_hour: float = 0.0, quality: float = 1.0,
                  metric: str = "acc", baseline: str = "cnn", pretrain_rows: int = 60000,
                  pool_rows: int = 60000, horizon: float = HORIZON) -> LeverAdvice:
    """Price every measured path to ``metric`` >= ``threshold`` (see the module doc).

    Parameters
    ----------
    df : tidy results of one dataset (the size experiment, and the lever experiments)
    threshold : target accuracy or AUC, in (0, 1)
    rows : labelled rows held (>= 0)
    price_label, price_review, price_hour : per new label, per reviewed label, per compute hour
        (any one currency; >= 0)
    quality : share of right labels among the rows held, in (0, 1]
    metric : "acc" or "auc"
    baseline : the model whose "collect" path the break-even prices compare with
    pretrain_rows : rows of the pretraining fit, for its compute
    pool_rows : the pool a pruning rule keeps its rows from (the training set)
    horizon : an n* beyond ``horizon`` times a curve's largest size is undetermined

    Returns
    -------
    LeverAdvice
    """
    metric = check_metric(metric)
    if not 0 < threshold < 1:
        raise ValueError(f"the target {metric} must lie strictly between 0 and 1, got {threshold:g}")
    if not 0 < quality <= 1:
        raise ValueError(f"quality must lie in (0, 1], got {quality:g}")
    bad = {k: v for k, v in {"rows": rows, "price_label": price_label, "price_review": price_review,
                             "price_hour": price_hour}.items() if not (np.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(f"these must be non-negative numbers: {bad}")
    y = 1.0 - threshold
    hours = fit_hours(df)
    notes: list[str] = []
    reviews = rows if quality < 1 else 0.0
    records = []
    for path, model, cs in path_curves(df, metric):
        sol = cs.average_solve(y)
        limit = horizon * float(cs.cells["n"].max())
        v = verdict(sol, y, limit)
        n, lo, hi = (float(sol["x"]), float(sol["ci_low"]), float(sol["ci_high"])) if v == "reachable" \
            else (np.nan, float(sol["ci_low"]), np.inf)
        note = status_note(sol, y, v) if v != "reachable" else ""
        if path.startswith("pruning") and np.isfinite(n) and n > pool_rows:
            v, n, hi = "undetermined", np.nan, np.inf  # a rule keeps rows of the pool, no more
            note = f"needs more rows than the pool of {pool_rows:,} the rule keeps them from"
        per_row = hours.get(model, np.nan)
        extra = per_row * pretrain_rows if path.startswith("pretraining") else 0.0

        def cost(x, per_row=per_row, extra=extra):
            h = per_row * x + extra if np.isfinite(per_row) else 0.0  # unmeasured compute is not priced
            return max(0.0, x - rows) * price_label + reviews * price_review + h * price_hour

        if not np.isfinite(per_row) and price_hour > 0:
            notes.append(f"{path}: no measured fit seconds for {model}; its compute is not priced")
        records.append({"path": path, "model": model, "n_star": n, "n_ci_low": lo, "n_ci_high": hi,
                        "verdict": v, "new_labels": max(0.0, n - rows) if np.isfinite(n) else np.nan,
                        "reviews": reviews, "hours": per_row * n + extra,
                        "cost": cost(n) if np.isfinite(n) else np.nan,
                        "cost_ci_low": cost(lo) if np.isfinite(lo) else np.nan,
                        "cost_ci_high": cost(hi) if np.isfinite(hi) else np.inf,
                        "pays_when": "", "note": note})
    frame = pd.DataFrame(records, columns=COLUMNS)
    base = frame[frame["path"] == f"collect for {baseline}"]
    if base.empty:
        notes.append(f"no size-experiment curve for {baseline}: no break-even prices")
    else:
        b = base.iloc[0]
        fixed = frame["cost"] - frame["new_labels"] * price_label
        b_fixed = b["cost"] - b["new_labels"] * price_label
        fewer = b["new_labels"] - frame["new_labels"]
        with np.errstate(divide="ignore", invalid="ignore"):
            be = (fixed - b_fixed) / fewer
        ok = np.isfinite(be) & (be >= 0)
        frame["break_even_label_price"] = be.where(ok)
        frame["pays_when"] = np.where(ok, np.where(fewer > 0, "label price above", "label price below"), "")
    if quality < 1:
        notes.append(f"every path reviews the {rows:,.0f} rows held once (quality {quality:g} -> 1), "
                     "since the curves are measured on clean labels; `datavsmath advise` without "
                     "--levers prices collecting at quality q against cleaning")
    if any(frame["path"].str.startswith("pruning")):
        notes.append(f"pruning paths label only the rows the rule keeps from a pool of {pool_rows:,} "
                     "unlabelled images; they need that pool")
    if price_hour > 0:
        notes.append("compute hours are the fit seconds the results measured, on their machines")
    frame = frame.sort_values("cost", na_position="last").reset_index(drop=True)
    return LeverAdvice(metric, float(threshold), float(rows), float(quality),
                       {"label": price_label, "review": price_review, "hour": price_hour},
                       baseline, frame, notes)
