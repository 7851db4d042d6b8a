"""Which learning curves a lever has: the models that apply a lever to one of R's models
(registered with ``ModelSpec(base=..., lever=...)``), and the pruning experiment's
row-selection rules. The exchange rates (:mod:`datavsmath.stats.exchange`), the advisor over
levers (:mod:`datavsmath.stats.levers`) and the transfer laws
(:mod:`datavsmath.stats.transfer`) all find their curves here.
"""

from __future__ import annotations

import pandas as pd

from .learning import CurveSet, fit_learning_curves

__all__ = ["lever_curves", "lever_of", "rule_curves"]


def lever_of(model: str) -> tuple[str, str] | None:
    """The lever a registered model applies to one of R's models, if any.

    Parameters
    ----------
    model : str
        A model name (registered or not).

    Returns
    -------
    (str, str) or None
        (family, plain model) from :class:`datavsmath.models.ModelSpec`'s ``lever`` and
        ``base``; None for a plain or an unregistered model.
    """
    from ..models import MODELS

    spec = MODELS.get(model)
    if spec is None or spec.base is None or spec.lever is None:
        return None
    return spec.lever, spec.base


def lever_curves(df: pd.DataFrame, metric: str) -> list[tuple[str, str, str, CurveSet]]:
    """The learning curve of every model in ``df`` that applies a lever to one of R's models
    (:func:`lever_of`), fitted on its own experiment's size grid.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results of one dataset.
    metric : {"acc", "auc"}
        The metric.

    Returns
    -------
    list of (family, lever model, plain model, CurveSet)
        In the order of (experiment, model).
    """
    out = []
    for (experiment, model), _ in df.groupby(["experiment", "model"], sort=True):
        lever = lever_of(model)
        if lever is not None and experiment != "size":
            fits = fit_learning_curves(df, experiment=experiment, metric=metric, models=[model], quiet=True)
            out.append((lever[0], model, lever[1], fits.get(model, metric)))
    return out


def rule_curves(df: pd.DataFrame, metric: str, experiment: str = "pruning") -> dict:
    """The learning curves of each row-selection rule of the pruning experiment.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results of one dataset.
    metric : {"acc", "auc"}
        The metric.
    experiment : str
        The pruning experiment's name.

    Returns
    -------
    dict of str -> LearningCurveResults
        Rule ("random", "keep_easy", ...) -> its models' curves; empty without the experiment
        or its ``selection`` column.
    """
    rows = df[df["experiment"] == experiment]
    if rows.empty or "selection" not in rows.columns:
        return {}
    return {rule: fit_learning_curves(part, experiment=experiment, metric=metric, quiet=True)
            for rule, part in rows.groupby("selection", sort=True)}
