"""Noise models as data: the named damage rules, matrices from files, and what a damaged cell
realised.

A damage rule is a K x K transition matrix plus :mod:`datavsmath.damage`'s stratified count
rule (``round(d * n_c)`` rows of each class c). The rules an experiment may name
(:data:`NOISE_RULES`):

=============  ===================================================================================
random         R's random damage: uniform over the K-1 other classes
symmetric      the same rule under the noise literature's name (identical draws)
constant       R's constant damage: y -> (y + shift) mod K
pair           the same rule under the noise literature's name (identical draws)
confusion      class-conditional: off-diagonal rows of a confusion matrix (default: the shipped
               Fashion-MNIST one, :func:`shipped_confusion`), e.g. Shirt <-> T-shirt/top
matrix         a user's K x K transition matrix from a CSV file (:func:`read_matrix`)
instance       instance-dependent: rows a cheap model is unsure of are damaged first, towards
               the classes it confuses them with (:func:`uncertainty_proba`)
=============  ===================================================================================

Every damaged cell records its realised transition counts (:func:`counts_text`), so reports
compare realised with nominal rates (:func:`realised_rates`).
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import damage as D

__all__ = [
    "CONFUSION_FILES",
    "NOISE_RULES",
    "RULE_NEEDS_MATRIX",
    "counts_text",
    "damage_by_rule",
    "parse_counts",
    "parse_damage_option",
    "read_matrix",
    "realised_rates",
    "rule_matrix",
    "shipped_confusion",
    "uncertainty_proba",
]

#: rule name -> one line on what it does (the spec schema and ``--help`` list these)
NOISE_RULES = {
    "random": "uniform over the other classes (R's random damage)",
    "symmetric": "the same as random (identical draws)",
    "constant": "y -> (y + damage_shift) mod classes (R's constant damage)",
    "pair": "the same as constant (identical draws)",
    "confusion": "class-conditional, from a confusion matrix of counts (damage_matrix, default the "
                 "shipped Fashion-MNIST one)",
    "matrix": "a K x K transition matrix from a CSV file (damage_matrix; zero diagonal)",
    "instance": "instance-dependent: uncertain rows first, towards the classes a cheap model confuses",
}
#: rules that read ``damage_matrix`` (``matrix`` must have one; ``confusion`` may)
RULE_NEEDS_MATRIX = {"matrix": True, "confusion": False}

DATA_DIR = Path(__file__).resolve().parent / "noise_data"
#: dataset -> its shipped confusion matrix (see noise_data/README.md for how it was made)
CONFUSION_FILES = {"fashion": DATA_DIR / "fashion_confusion.csv"}

#: the cheap model behind instance-dependent damage: a small forest, out-of-fold probabilities
UNCERTAINTY_TREES = 25
UNCERTAINTY_FOLDS = 3


def read_matrix(path: str | Path, n_classes: int) -> np.ndarray:
    """A K x K matrix from a CSV file: K lines of K comma-separated numbers; lines starting
    with ``#`` are comments, and a first line holding any non-number is taken as a header.

    Returns a float array (n_classes, n_classes); ValueError naming the file and what is wrong.
    """
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the matrix file {path}: {exc}") from exc
    rows = [[t.strip() for t in ln.split(",")] for ln in lines]
    if rows and not all(_is_number(t) for t in rows[0]):
        rows = rows[1:]  # a header line
    if len(rows) != n_classes or any(len(r) != n_classes for r in rows):
        shape = f"{len(rows)} rows of {sorted({len(r) for r in rows}) or [0]} columns"
        raise ValueError(f"{path} must hold a {n_classes} x {n_classes} matrix (one row and one column per "
                         f"class of the dataset), found {shape}")
    for i, r in enumerate(rows):
        for j, t in enumerate(r):
            if not _is_number(t):
                raise ValueError(f"{path}: row {i}, column {j} is {t!r}, not a number")
    return np.array([[float(t) for t in r] for r in rows])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=4)
def shipped_confusion(dataset: str = "fashion") -> np.ndarray:
    """The confusion matrix shipped for ``dataset``: int counts (K, K), rows the true test class,
    columns the predicted one (how it was made: ``noise_data/README.md``)."""
    if dataset not in CONFUSION_FILES:
        raise ValueError(f"no confusion matrix is shipped for dataset {dataset!r} (only for "
                         f"{', '.join(CONFUSION_FILES)}); give one with damage_matrix")
    m = read_matrix(CONFUSION_FILES[dataset], 10)
    return m.astype(np.int64)


def rule_matrix(rule: str, n_classes: int, *, shift: int = 1, matrix_file: str | Path | None = None,
                dataset: str = "fashion") -> np.ndarray:
    """The (K, K) transition matrix of a class-conditional rule (every rule but ``instance``)."""
    if rule in ("random", "symmetric"):
        return D.symmetric_rule(n_classes)
    if rule in ("constant", "pair"):
        return D.pair_rule(n_classes, shift)
    if rule == "confusion":
        counts = read_matrix(matrix_file, n_classes) if matrix_file else shipped_confusion(dataset)
        return D.confusion_rule(counts, n_classes)
    if rule == "matrix":
        if not matrix_file:
            raise ValueError("damage rule 'matrix' needs a matrix file (damage_matrix, or --damage matrix:FILE)")
        return D.matrix_rule(read_matrix(matrix_file, n_classes), n_classes)
    raise ValueError(f"rule {rule!r} has no single transition matrix; class-conditional rules: "
                     f"{', '.join(r for r in NOISE_RULES if r != 'instance')}")


_PROBA_CACHE: dict = {}


def uncertainty_proba(x, y, seed: int, n_classes: int = 10) -> np.ndarray:
    """Out-of-fold class probabilities of a small random forest on the (clean) training rows.

    x : (n, ...) images (flattened here, pixels / 255); y : (n,) int labels; seed : the forest's
    and the fold split's seed, so the same seed gives the same probabilities. Each row is scored
    by the forest fitted on the other folds (3 stratified folds, 25 trees, R's rf settings
    otherwise), since a forest grown to purity is certain about its own training rows.
    Returns float (n, n_classes), rows summing to 1. The last result is cached: all damage
    levels and rules of one training draw share it.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    y, x = np.asarray(y), np.ascontiguousarray(x)
    # the images are part of the key: the same labels on other images score differently
    key = (int(seed), n_classes, y.tobytes(), x.shape, hashlib.blake2b(x.data, digest_size=16).digest())
    if key in _PROBA_CACHE:
        return _PROBA_CACHE[key]
    flat = np.asarray(x, dtype=np.float32).reshape(len(y), -1) / 255.0
    proba = np.zeros((len(y), n_classes))
    counts = np.bincount(y, minlength=n_classes)
    folds = int(min(UNCERTAINTY_FOLDS, counts[counts > 0].min())) if len(y) else 0
    if folds < 2:
        # a class with one row cannot be split; such a tiny draw gets the uniform score
        proba[:] = 1.0 / n_classes
    else:
        split = StratifiedKFold(folds, shuffle=True, random_state=seed % 2**31)
        for i, (fit_rows, score_rows) in enumerate(split.split(flat, y)):
            # R's mtry, floor(sqrt(features)): 28 for 28x28 images, 8 for 8x8 digits
            forest = RandomForestClassifier(n_estimators=UNCERTAINTY_TREES, max_features=max(1, math.isqrt(flat.shape[1])),
                                            random_state=(seed + i) % 2**31, n_jobs=1)
            forest.fit(flat[fit_rows], y[fit_rows])
            proba[np.ix_(score_rows, forest.classes_)] = forest.predict_proba(flat[score_rows])
    _PROBA_CACHE.clear()
    _PROBA_CACHE[key] = proba
    return proba


def damage_by_rule(y, frac: float, rule: str, rng: np.random.Generator, n_classes: int = 10, *,
                   shift: int = 1, matrix_file=None, dataset: str = "fashion", x=None,
                   proba_seed: int | None = None) -> np.ndarray:
    """Damage ``frac`` of each class of ``y`` (shape (n,)) by the named ``rule``.

    ``random``/``symmetric`` and ``constant``/``pair`` go through
    :func:`datavsmath.damage.damage_labels` exactly as R's two rules always have (same seed,
    same labels). ``instance`` needs the images ``x`` (n, ...) and ``proba_seed`` for
    :func:`uncertainty_proba`. Returns the damaged labels, shape (n,).
    """
    if rule not in NOISE_RULES:
        raise ValueError(f"unknown damage rule {rule!r}; choose from {', '.join(NOISE_RULES)}")
    if rule == "instance":
        if x is None or proba_seed is None:
            raise ValueError("damage rule 'instance' needs the training images x and proba_seed")
        return D.instance_damage(y, frac, uncertainty_proba(x, y, proba_seed, n_classes), rng, n_classes)
    matrix = rule_matrix(rule, n_classes, shift=shift, matrix_file=matrix_file, dataset=dataset)
    return D.damage_labels(y, frac, matrix, rng, n_classes)


def counts_text(y_clean, y_damaged, n_classes: int = 10) -> str:
    """The realised transition counts as compact JSON, ``[[n00, n01, ...], ...]`` (rows: clean
    class, columns: label given), as a cell record stores them."""
    counts = D.transition_counts(y_clean, y_damaged, n_classes)
    return json.dumps(counts.tolist(), separators=(",", ":"))


def parse_counts(text) -> np.ndarray | None:
    """A record's ``transition_counts`` back as an int array (K, K); None when absent."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or text == "":
        return None
    m = np.array(json.loads(text) if isinstance(text, str) else text, dtype=np.int64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"transition counts must be a square matrix, got shape {m.shape}")
    return m


def realised_rates(counts) -> dict:
    """From transition counts (K, K): ``rate`` (share of labels changed, all classes),
    ``class_rates`` (K,) per clean class, ``matrix`` (K, K) the realised transition
    probabilities of the changed labels (rows with none changed are NaN)."""
    m = np.asarray(counts, dtype=float)
    n = m.sum(axis=1)
    off = m.copy()
    np.fill_diagonal(off, 0.0)
    moved = off.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"rate": float(moved.sum() / n.sum()) if n.sum() else float("nan"),
                "class_rates": moved / n,
                "matrix": off / moved[:, None]}


def parse_damage_option(text: str) -> tuple[str, str | None]:
    """``--damage RULE`` or ``--damage RULE:FILE`` (FILE for matrix and confusion) -> (rule, file);
    ValueError saying what is accepted."""
    rule, _, path = text.partition(":")
    rule = rule.strip()
    if rule not in NOISE_RULES:
        raise ValueError(f"unknown damage rule {rule!r}; choose from {', '.join(NOISE_RULES)} "
                         "(matrix:FILE for a transition matrix, confusion[:FILE] for a confusion matrix)")
    if path and rule not in RULE_NEEDS_MATRIX:
        raise ValueError(f"damage rule {rule!r} takes no file (got {text!r}); only matrix:FILE and "
                         "confusion:FILE do")
    if RULE_NEEDS_MATRIX.get(rule) and not path:
        raise ValueError("--damage matrix needs a file: --damage matrix:FILE.csv (K lines of K numbers)")
    return rule, path or None
