"""Test-set metrics, as the R testbench computed them.

``accuracy``: share of rows whose highest probability is the true class (ties: first class).
``multiclass_auc``: caret's ``multiClassSummary`` AUC, the plain mean over classes of the
one-vs-all ROC AUC of that class's probability column. It drops below 0.5 when damaged labels
teach a model to rank the true class low.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

__all__ = ["accuracy", "multiclass_auc", "score"]


def _check(y_true, proba) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or y_true.ndim != 1 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"expected labels of shape (n,) and probabilities of shape (n, K); got {y_true.shape} and {proba.shape}"
        )
    if y_true.size == 0:
        raise ValueError("no rows to score")
    if y_true.min() < 0 or y_true.max() >= proba.shape[1]:
        raise ValueError(f"labels must lie in 0..{proba.shape[1] - 1}")
    return y_true, proba


def accuracy(y_true, proba) -> float:
    """Share of rows whose argmax class (first on ties) equals the label.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True class labels, in 0..K-1.
    proba : array-like of float, shape (n, K)
        Predicted class probabilities, one column per class.

    Returns
    -------
    float
        Accuracy in [0, 1].

    Raises
    ------
    ValueError
        If the shapes disagree, there are no rows, or a label lies outside 0..K-1.
    """
    y_true, proba = _check(y_true, proba)
    return float(np.mean(np.argmax(proba, axis=1) == y_true))


def multiclass_auc(y_true, proba) -> float:
    """Mean one-vs-all ROC AUC over the K classes (ties count half, as in pROC/caret).

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True class labels, in 0..K-1.
    proba : array-like of float, shape (n, K)
        Predicted class probabilities, one column per class.

    Returns
    -------
    float
        The mean of the K one-vs-all AUCs, in [0, 1] (below 0.5 when the true class is ranked
        low).

    Raises
    ------
    ValueError
        If the shapes disagree, there are no rows, a label lies outside 0..K-1, or a class
        is every row or none of them (its AUC is undefined).
    """
    y_true, proba = _check(y_true, proba)
    aucs = []
    for k in range(proba.shape[1]):
        positive = y_true == k
        if positive.all() or not positive.any():
            raise ValueError(f"class {k} is {'all' if positive.all() else 'none'} of the rows; its AUC is undefined")
        aucs.append(roc_auc_score(positive, proba[:, k]))
    return float(np.mean(aucs))


def score(y_true, proba) -> dict[str, float]:
    """Both metrics of a set of predictions.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True class labels, in 0..K-1.
    proba : array-like of float, shape (n, K)
        Predicted class probabilities, one column per class.

    Returns
    -------
    dict of str to float
        ``{"acc": accuracy, "auc": multiclass AUC}``.

    Raises
    ------
    ValueError
        As :func:`accuracy` and :func:`multiclass_auc`.
    """
    return {"acc": accuracy(y_true, proba), "auc": multiclass_auc(y_true, proba)}
