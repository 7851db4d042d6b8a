"""Sampling of training rows and label damage ("pure evil").

All functions are pure: they take labels, a fraction and a ``numpy.random.Generator`` and
return new arrays; their inputs are never modified.

Damage is stratified as in the R testbench (dplyr's ``group_by(label) %>% sample_frac(d)``):
within each class, ``round(d * class size)`` rows are chosen without replacement and each
chosen label is redrawn from that class's row of a K x K *transition rule*. Random damage
(symmetric: uniform over the K-1 other classes) and constant damage (pair: y -> y + shift mod
K) are two such rules; :func:`confusion_rule` makes one from a confusion matrix and
:func:`matrix_rule` checks one a user supplies. Instance-dependent damage
(:func:`instance_damage`) keeps the same stratified count but gives every row its own
transition row and its own chance of being chosen. :func:`transition_counts` is the realised
noise matrix of a damaged label vector.

The rules an experiment names (``damage = "random"``, ...) are registered in
:data:`datavsmath.noise.NOISE_RULES`, which builds on these functions; a new rule is added there.
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
    "symmetric_rule",
    "pair_rule",
    "confusion_rule",
    "matrix_rule",
    "instance_damage",
    "transition_counts",
]


def check_frac(frac, name: str = "frac") -> float:
    """A fraction, checked at the edge.

    Parameters
    ----------
    frac : real
        The value given.
    name : str
        Its name, for the message.

    Returns
    -------
    float
        ``frac`` as a float; ValueError unless it is a real number in [0, 1].
    """
    if isinstance(frac, (bool, np.bool_)) or not isinstance(frac, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1], got {frac!r}")
    frac = float(frac)
    if math.isnan(frac) or not 0.0 <= frac <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {frac!r}")
    return frac


def check_rng(rng) -> np.random.Generator:
    """A random generator, checked at the edge.

    Parameters
    ----------
    rng : numpy.random.Generator
        The value given.

    Returns
    -------
    numpy.random.Generator
        ``rng``; ValueError naming what to pass otherwise.
    """
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
    rows come back.

    Parameters
    ----------
    n_rows : int
        Rows to draw from, at least 1.
    frac : float
        Share drawn, in [0, 1].
    rng : numpy.random.Generator
        The draw's stream.

    Returns
    -------
    ndarray of int64, shape (floor(n_rows * frac),)
        The row indices.
    """
    frac = check_frac(frac)
    check_rng(rng)
    if isinstance(n_rows, (bool, np.bool_)) or not isinstance(n_rows, numbers.Integral) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    # the epsilon keeps e.g. 0.07 * 60000 from flooring to 4199 through binary rounding
    k = math.floor(n_rows * frac + 1e-9)
    return rng.choice(int(n_rows), size=k, replace=False)


def random_rule(n_classes: int = 10) -> np.ndarray:
    """Random damage: a damaged label moves uniformly to one of the other K-1 classes.

    Parameters
    ----------
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (n_classes, n_classes)
        1 / (K - 1) off the diagonal, 0 on it.
    """
    rule = np.full((n_classes, n_classes), 1.0 / (n_classes - 1))
    np.fill_diagonal(rule, 0.0)
    return rule


def constant_rule(n_classes: int = 10, shift: int = 1) -> np.ndarray:
    """Constant damage: a damaged label y always becomes (y + shift) mod K.

    Parameters
    ----------
    n_classes : int
        Classes K.
    shift : int
        The shift; ValueError if it maps every class to itself (a multiple of K).

    Returns
    -------
    ndarray, shape (n_classes, n_classes)
        A permutation matrix.
    """
    if shift % n_classes == 0:
        raise ValueError(f"shift={shift} maps every class to itself; choose a shift not divisible by {n_classes}")
    rule = np.zeros((n_classes, n_classes))
    rule[np.arange(n_classes), (np.arange(n_classes) + shift) % n_classes] = 1.0
    return rule


def swap_rule(pairs, n_classes: int = 10) -> np.ndarray:
    """Confusions between given class pairs, e.g. ``[(0, 6)]`` swaps T-shirt/top and Shirt.

    Classes in no pair keep their label (their damaged rows are drawn but left unchanged).

    Parameters
    ----------
    pairs : iterable of (int, int)
        The classes that swap labels.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (n_classes, n_classes)
        The transition matrix.
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

    Parameters
    ----------
    y : int array, shape (n,)
        Labels 0..n_classes-1.
    frac : float
        Share of each class chosen, in [0, 1].
    rng : numpy.random.Generator
        The draw's stream.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray of bool, shape (n,)
        True for the chosen rows.
    """
    y = _check_labels(y, n_classes)
    frac = check_frac(frac)
    check_rng(rng)
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
    y : int array, shape (n,)
        Clean labels in 0..n_classes-1.
    frac : float
        Share of each class to damage, in [0, 1].
    rule : array_like, shape (n_classes, n_classes)
        Row y is the distribution a damaged label y is redrawn from.
    rng : numpy.random.Generator
        The draws' stream; the same seed gives the same output.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (n,)
        A new array of y's dtype; rows not chosen keep their label.
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
    """R's random damage: chosen labels move uniformly to one of the other classes.

    Parameters
    ----------
    y : int array, shape (n,)
        Clean labels.
    frac : float
        Share of each class damaged, in [0, 1].
    rng : numpy.random.Generator
        The draws' stream.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (n,)
        The damaged labels (:func:`damage_labels` with :func:`random_rule`).
    """
    return damage_labels(y, frac, random_rule(n_classes), rng, n_classes)


def constant_damage(
    y, frac: float, rng: np.random.Generator, shift: int = 1, n_classes: int = 10
) -> np.ndarray:
    """R's constant damage: chosen labels become (y + shift) mod K ("0 becomes 1").

    Parameters
    ----------
    y : int array, shape (n,)
        Clean labels.
    frac : float
        Share of each class damaged, in [0, 1].
    rng : numpy.random.Generator
        The draws' stream.
    shift : int
        The shift (:func:`constant_rule`).
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (n,)
        The damaged labels.
    """
    return damage_labels(y, frac, constant_rule(n_classes, shift), rng, n_classes)


#: the noise literature's names for the R testbench's two rules: the same matrices, the same draws
symmetric_rule = random_rule
pair_rule = constant_rule


def _square(matrix, n_classes: int, name: str) -> np.ndarray:
    """A K x K matrix of non-negative finite numbers, or a ValueError naming ``name``."""
    try:
        m = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a {n_classes} x {n_classes} matrix of numbers ({exc})") from exc
    if m.shape != (n_classes, n_classes):
        raise ValueError(f"{name} must be a {n_classes} x {n_classes} matrix (one row and one column per "
                         f"class), got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        r, c = np.argwhere(~np.isfinite(m))[0]
        raise ValueError(f"{name}[{r}, {c}] is {m[r, c]}; entries must be finite")
    if np.any(m < 0):
        r, c = np.argwhere(m < 0)[0]
        raise ValueError(f"{name}[{r}, {c}] is {m[r, c]:g}; entries must be non-negative")
    return m


def _normalise_off_diagonal(m: np.ndarray, name: str) -> np.ndarray:
    sums = m.sum(axis=1)
    empty = np.flatnonzero(sums <= 0)
    if empty.size:
        raise ValueError(f"row {int(empty[0])} of {name} has no off-diagonal weight: a damaged label of "
                         f"class {int(empty[0])} would have nowhere to go; give it at least one positive entry")
    return m / sums[:, None]


def confusion_rule(confusion, n_classes: int = 10) -> np.ndarray:
    """Class-conditional damage from a confusion matrix: a damaged label y moves to class j with
    probability ``confusion[y, j] / sum_{k != y} confusion[y, k]`` (j != y).

    Parameters
    ----------
    confusion : array, shape (K, K)
        Non-negative counts or rates, rows the true class, columns the predicted one; the
        diagonal (correct predictions) is ignored, so "confusable" classes (Shirt and
        T-shirt/top) receive most of each other's damaged labels.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (K, K)
        A transition matrix with a zero diagonal and rows summing to 1.
    """
    m = _square(confusion, n_classes, "confusion").copy()
    np.fill_diagonal(m, 0.0)
    return _normalise_off_diagonal(m, "confusion")


def matrix_rule(matrix, n_classes: int = 10, *, atol: float = 1e-9) -> np.ndarray:
    """A user's transition matrix, checked.

    It must be (K, K), non-negative, finite, with a zero diagonal (a damaged label always
    changes, so the realised rate is the nominal one) and at least one positive entry per row.
    Rows are scaled to sum to 1, so counts or unnormalised weights work as well as
    probabilities.

    Parameters
    ----------
    matrix : array, shape (K, K)
        The matrix given.
    n_classes : int
        Classes K.
    atol : float
        Largest diagonal entry taken as 0.

    Returns
    -------
    ndarray, shape (K, K)
        The row-stochastic matrix; ValueError naming the entry that is wrong.
    """
    m = _square(matrix, n_classes, "matrix")
    diag = np.diag(m)
    if np.any(diag > atol):
        c = int(np.argmax(diag))
        raise ValueError(f"matrix[{c}, {c}] is {diag[c]:g}; the diagonal must be 0 (a damaged label must "
                         "change class; use the damage fraction for the share kept)")
    m = m.copy()
    np.fill_diagonal(m, 0.0)
    return _normalise_off_diagonal(m, "matrix")


#: added to every row's weight in instance-dependent damage, so that rows the scoring model is
#: certain about can still be chosen once the uncertain ones run out (exact counts need that)
INSTANCE_FLOOR = 1e-6


def instance_damage(y, frac: float, proba, rng: np.random.Generator, n_classes: int = 10) -> np.ndarray:
    """Instance-dependent damage.

    Within each class, ``round(frac * n_c)`` rows are chosen without replacement with
    probability proportional to the row's uncertainty ``1 - max(proba[i])`` (plus
    ``INSTANCE_FLOOR``), and each chosen label moves to another class j with probability
    proportional to ``proba[i, j]`` (plus ``INSTANCE_FLOOR``), j != y.

    Parameters
    ----------
    y : int array, shape (n,)
        The clean labels.
    frac : float
        Share of each class to damage, in [0, 1]; the count per class is exact, as for the
        class-conditional rules.
    proba : float array, shape (n, n_classes)
        A model's class probabilities for each row (e.g. out-of-fold, so that they are honest
        about the training rows).
    rng : numpy.random.Generator
        The draws' stream.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (n,)
        A new array of y's dtype; every chosen label changes, the others are kept.
    """
    y = _check_labels(y, n_classes)
    frac = check_frac(frac)
    check_rng(rng)
    p = np.asarray(proba, dtype=float)
    if p.shape != (y.size, n_classes):
        raise ValueError(f"proba must have shape (n rows, n_classes) = ({y.size}, {n_classes}), got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("proba must hold non-negative finite probabilities")
    uncertainty = 1.0 - p.max(axis=1) + INSTANCE_FLOOR
    out = y.copy()
    for c in range(n_classes):
        rows = np.flatnonzero(y == c)
        k = int(np.rint(frac * rows.size))
        if not k:
            continue
        w = uncertainty[rows]
        chosen = rng.choice(rows, size=k, replace=False, p=w / w.sum())
        dest = p[chosen] + INSTANCE_FLOOR
        dest[:, c] = 0.0
        cum = dest.cumsum(axis=1)
        # a categorical draw per row, vectorised: v lies in (0, total], so the first class whose
        # cumulative weight reaches v has positive weight; class c (weight 0) is never drawn
        v = (1.0 - rng.random(k)) * cum[:, -1]
        out[chosen] = (cum < v[:, None]).sum(axis=1)
    return out


def transition_counts(y_clean, y_damaged, n_classes: int = 10) -> np.ndarray:
    """The realised noise matrix: ``counts[i, j]`` rows whose clean label is i carry label j.

    Parameters
    ----------
    y_clean, y_damaged : int arrays, shape (n,)
        The labels before and after damage.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray of int64, shape (n_classes, n_classes)
        The counts; the diagonal holds the labels kept.
    """
    a = _check_labels(y_clean, n_classes)
    b = _check_labels(y_damaged, n_classes)
    if a.shape != b.shape:
        raise ValueError(f"clean and damaged labels differ in shape: {a.shape} vs {b.shape}")
    flat = a.astype(np.int64) * n_classes + b.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
