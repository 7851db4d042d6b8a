"""Sampling of training rows and label damage ("pure evil").

All functions are pure: they take labels, a fraction and a ``numpy.random.Generator`` and
return new arrays; their inputs are never modified.

Damage is stratified as in the R testbench (dplyr's ``group_by(label) %>% sample_frac(d)``):
within each class, ``round(d * class size)`` rows are chosen without replacement and each
chosen label is redrawn from that class's row of a K x K *transition rule*. Random damage
(uniform over the K-1 other classes) and constant damage (y -> y + shift mod K) are two such
rules; a user can pass any other, e.g. one that swaps Shirt and T-shirt.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "sample_rows",
    "random_rule",
    "constant_rule",
    "swap_rule",
    "damaged_rows",
    "damage_labels",
    "random_damage",
    "constant_damage",
]


def _check_frac(frac, name: str = "frac") -> float:
    if isinstance(frac, (bool, np.bool_)) or not isinstance(frac, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1], got {frac!r}")
    frac = float(frac)
    if math.isnan(frac) or not 0.0 <= frac <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {frac!r}")
    return frac


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def _check_labels(y, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("labels are empty; nothing to damage")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must have an integer dtype, got {y.dtype}")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= n_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"label {bad} is outside 0..{n_classes - 1}")
    return y


def sample_rows(n_rows: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Draw ``floor(n_rows * frac)`` distinct row indices uniformly, in random order.

    This corrects the R code's off-by-one (its drawn index 0 selected nothing and its last
    row could never be drawn): every row has the same chance, and exactly ``floor(n*frac)``
    rows come back. Returns int64 indices of shape (floor(n_rows * frac),).
    """
    frac = _check_frac(frac)
    _check_rng(rng)
    if isinstance(n_rows, (bool, np.bool_)) or not isinstance(n_rows, numbers.Integral) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    # the epsilon keeps e.g. 0.07 * 60000 from flooring to 4199 through binary rounding
    k = math.floor(n_rows * frac + 1e-9)
    return rng.choice(int(n_rows), size=k, replace=False)


def random_rule(n_classes: int = 10) -> np.ndarray:
    """Random damage: a damaged label moves uniformly to one of the other K-1 classes."""
    rule = np.full((n_classes, n_classes), 1.0 / (n_classes - 1))
    np.fill_diagonal(rule, 0.0)
    return rule


def constant_rule(n_classes: int = 10, shift: int = 1) -> np.ndarray:
    """Constant damage: a damaged label y always becomes (y + shift) mod K."""
    if shift % n_classes == 0:
        raise ValueError(f"shift={shift} maps every class to itself; choose a shift not divisible by {n_classes}")
    rule = np.zeros((n_classes, n_classes))
    rule[np.arange(n_classes), (np.arange(n_classes) + shift) % n_classes] = 1.0
    return rule


def swap_rule(pairs, n_classes: int = 10) -> np.ndarray:
    """Confusions between given class pairs, e.g. ``[(0, 6)]`` swaps T-shirt/top and Shirt.

    Classes in no pair keep their label (their damaged rows are drawn but left unchanged).
    """
    rule = np.eye(n_classes)
    for a, b in pairs:
        rule[a, a] = rule[b, b] = 0.0
        rule[a, b] = rule[b, a] = 1.0
    return rule


def _check_rule(rule, n_classes: int) -> np.ndarray:
    rule = np.asarray(rule, dtype=float)
    if rule.shape != (n_classes, n_classes):
        raise ValueError(f"rule must be a {n_classes} x {n_classes} matrix, got shape {rule.shape}")
    if not np.all(np.isfinite(rule)) or np.any(rule < 0):
        raise ValueError("rule must hold non-negative finite probabilities")
    sums = rule.sum(axis=1)
    if not np.allclose(sums, 1.0):
        bad = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(f"row {bad} of rule sums to {sums[bad]:.6g}; each row must sum to 1")
    return rule


def damaged_rows(y, frac: float, rng: np.random.Generator, n_classes: int = 10) -> np.ndarray:
    """Boolean mask of the rows chosen for damage: ``round(frac * n_c)`` per class c.

    ``round`` is round-half-to-even, as R's ``round`` (which dplyr's ``sample_frac`` uses).
    Returns a bool array of the same shape as ``y``.
    """
    y = _check_labels(y, n_classes)
    frac = _check_frac(frac)
    _check_rng(rng)
    mask = np.zeros(y.shape, dtype=bool)
    for c in range(n_classes):
        rows = np.flatnonzero(y == c)
        k = int(np.rint(frac * rows.size))
        if k:
            mask[rng.choice(rows, size=k, replace=False)] = True
    return mask


def damage_labels(
    y, frac: float, rule, rng: np.random.Generator, n_classes: int = 10
) -> np.ndarray:
    """Damage a stratified ``frac`` of labels by redrawing each from ``rule[label]``.

    Parameters
    ----------
    y : int array, shape (n,), labels in 0..n_classes-1
    frac : share of each class to damage, in [0, 1]
    rule : array (n_classes, n_classes); row y is the distribution of a damaged label y
    rng : numpy.random.Generator; the same seed gives the same output

    Returns a new array of y's dtype; rows not chosen keep their label.
    """
    y = _check_labels(y, n_classes)
    rule = _check_rule(rule, n_classes)
    mask = damaged_rows(y, frac, rng, n_classes)
    out = y.copy()
    for c in range(n_classes):
        rows = np.flatnonzero(mask & (y == c))
        if rows.size:
            out[rows] = rng.choice(n_classes, size=rows.size, p=rule[c])
    return out


def random_damage(y, frac: float, rng: np.random.Generator, n_classes: int = 10) -> np.ndarray:
    """R's random damage: chosen labels move uniformly to one of the other classes."""
    return damage_labels(y, frac, random_rule(n_classes), rng, n_classes)


def constant_damage(
    y, frac: float, rng: np.random.Generator, shift: int = 1, n_classes: int = 10
) -> np.ndarray:
    """R's constant damage: chosen labels become (y + shift) mod K ("0 becomes 1")."""
    return damage_labels(y, frac, constant_rule(n_classes, shift), rng, n_classes)


#: damage kinds the experiment specs may name
RULES = {"random": random_rule, "constant": constant_rule}
