"""Noise models as data: the named damage rules, matrices from files, and what a damaged cell
realised.

A damage rule draws new labels for a stratified share of each class (``round(d * n_c)`` rows
of class c, :mod:`datavsmath.damage`'s count rule). Every rule an experiment may name is
registered here, in :data:`NOISE_RULES` (:func:`register_rule`): its name, what it does, the
spec keys it reads and the function that draws the labels. The spec schema, ``run --damage``
and its ``--help``, and the runner all read this registry; a new rule is one
:func:`register_rule` call below. Rules shipped:

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

The first six are class-conditional: a K x K transition matrix (``NoiseRule.matrix``) and
:func:`datavsmath.damage.damage_labels`.

Every damaged cell records its realised transition counts (:func:`counts_text`), so reports
compare realised with nominal rates (:func:`realised_rates`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import damage as D

__all__ = [
    "CONFUSION_FILES",
    "NOISE_RULES",
    "NoiseRule",
    "register_rule",
    "get_rule",
    "RULE_NEEDS_MATRIX",
    "check_rule_file",
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

DATA_DIR = Path(__file__).resolve().parent / "noise_data"
#: dataset -> its shipped confusion matrix (see noise_data/README.md for how it was made)
CONFUSION_FILES = {"fashion": DATA_DIR / "fashion_confusion.csv"}

#: the cheap model behind instance-dependent damage: a small forest, out-of-fold probabilities
UNCERTAINTY_TREES = 25
UNCERTAINTY_FOLDS = 3


def read_matrix(path: str | Path, n_classes: int) -> np.ndarray:
    """A K x K matrix from a CSV file: K lines of K comma-separated numbers; lines starting
    with ``#`` are comments, and a first line holding any non-number is taken as a header.

    Parameters
    ----------
    path : str or Path
        The file.
    n_classes : int
        K, the dataset's classes.

    Returns
    -------
    ndarray of float, shape (n_classes, n_classes)
        The matrix; ValueError naming the file and what is wrong.
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


@functools.lru_cache(maxsize=4)
def shipped_confusion(dataset: str = "fashion") -> np.ndarray:
    """The confusion matrix shipped for ``dataset`` (how it was made: ``noise_data/README.md``).

    Parameters
    ----------
    dataset : str
        A dataset with a shipped matrix (:data:`CONFUSION_FILES`).

    Returns
    -------
    ndarray of int64, shape (K, K)
        Counts, rows the true test class, columns the predicted one.
    """
    if dataset not in CONFUSION_FILES:
        raise ValueError(f"no confusion matrix is shipped for dataset {dataset!r} (only for "
                         f"{', '.join(CONFUSION_FILES)}); give one with damage_matrix")
    m = read_matrix(CONFUSION_FILES[dataset], 10)
    return m.astype(np.int64)


class _Draw:
    """One training draw's images and labels, keyed by content (the images are part of the
    key: the same labels on other images score differently)."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y
        self.key = (y.tobytes(), x.shape, hashlib.blake2b(x.data, digest_size=16).digest())

    def __eq__(self, other) -> bool:
        return isinstance(other, _Draw) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def uncertainty_proba(x, y, seed: int, n_classes: int = 10) -> np.ndarray:
    """Out-of-fold class probabilities of a small random forest on the (clean) training rows.

    Each row is scored by the forest fitted on the other folds (3 stratified folds, 25 trees,
    R's rf settings otherwise), since a forest grown to purity is certain about its own
    training rows. The last result is cached: all damage levels and rules of one training draw
    share it.

    Parameters
    ----------
    x : array, shape (n, ...)
        The rows' images (flattened here, pixels / 255).
    y : int array, shape (n,)
        Their clean labels.
    seed : int
        The forest's and the fold split's seed: the same seed gives the same probabilities.
    n_classes : int
        Classes K.

    Returns
    -------
    ndarray, shape (n, n_classes)
        Probabilities, rows summing to 1.
    """
    return _oof_proba(_Draw(np.ascontiguousarray(x), np.asarray(y)), int(seed), n_classes)


@functools.lru_cache(maxsize=1)
def _oof_proba(draw: _Draw, seed: int, n_classes: int) -> np.ndarray:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    x, y = draw.x, draw.y
    flat = np.asarray(x, dtype=np.float32).reshape(len(y), -1) / 255.0
    proba = np.zeros((len(y), n_classes))
    counts = np.bincount(y, minlength=n_classes)
    folds = int(min(UNCERTAINTY_FOLDS, counts[counts > 0].min())) if len(y) else 0
    if folds < 2:
        # a class with one row cannot be split; such a tiny draw gets the uniform score
        proba[:] = 1.0 / n_classes
        return proba
    split = StratifiedKFold(folds, shuffle=True, random_state=seed % 2**31)
    for i, (fit_rows, score_rows) in enumerate(split.split(flat, y)):
        # R's mtry, floor(sqrt(features)): 28 for 28x28 images, 8 for 8x8 digits
        forest = RandomForestClassifier(n_estimators=UNCERTAINTY_TREES, max_features=max(1, math.isqrt(flat.shape[1])),
                                        random_state=(seed + i) % 2**31, n_jobs=1)
        forest.fit(flat[fit_rows], y[fit_rows])
        proba[np.ix_(score_rows, forest.classes_)] = forest.predict_proba(flat[score_rows])
    return proba


# --- the registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class NoiseRule:
    """A registered damage rule.

    Attributes
    ----------
    name : str
        What specs (``damage``), ``run --damage`` and result records call it.
    summary : str
        One line on what it does (the spec schema and ``--help`` list these).
    draw : callable
        ``draw(y, frac, rng, n_classes, *, shift, matrix_file, dataset, x, proba_seed)`` ->
        the damaged labels, shape (n,), of labels ``y`` (n,): ``frac`` of each class redrawn
        with ``rng``; ``x`` (n, ...) are the rows' images (read by ``instance`` only).
    matrix : callable or None
        ``matrix(n_classes, *, shift, matrix_file, dataset)`` -> the (K, K) transition matrix of
        a class-conditional rule; None for a rule without one (``instance``).
    matrix_file : str or None
        What the rule reads from ``damage_matrix`` (a spec key; ``--damage RULE:FILE``), e.g.
        "confusion counts"; None: it reads no file.
    needs_file : bool
        The rule cannot run without ``damage_matrix``.
    keys : tuple of str
        The spec keys besides ``damage`` that the rule reads (``damage_shift``, ``damage_matrix``).
    """

    name: str
    summary: str
    draw: Callable
    matrix: Callable | None = None
    matrix_file: str | None = None
    needs_file: bool = False
    keys: tuple[str, ...] = ()


#: the damage rules by name, in the order they are listed (:func:`register_rule`)
NOISE_RULES: dict[str, NoiseRule] = {}


def register_rule(name: str, summary: str, *, matrix: Callable | None = None, draw: Callable | None = None,
                  matrix_file: str | None = None, needs_file: bool = False, keys: tuple[str, ...] = ()) -> NoiseRule:
    """Register a damage rule in :data:`NOISE_RULES` (see :class:`NoiseRule` for the fields).

    Parameters
    ----------
    name, summary : str
        The rule's name and one line on what it does.
    matrix : callable, optional
        A class-conditional rule's transition matrix; its labels are then drawn by
        :func:`datavsmath.damage.damage_labels` (give ``draw`` instead for any other rule).
    draw : callable, optional
        The function that draws the damaged labels, for a rule without a matrix.
    matrix_file, needs_file, keys
        What the rule reads from the spec (see :class:`NoiseRule`).

    Returns
    -------
    NoiseRule
        The registered rule.
    """
    if (matrix is None) == (draw is None):
        raise ValueError(f"damage rule {name!r}: give a transition matrix or a draw function, one of the two")
    if draw is None:
        draw = functools.partial(_draw_by_matrix, matrix)
    rule = NoiseRule(name, summary, draw, matrix, matrix_file, needs_file, keys)
    NOISE_RULES[name] = rule
    return rule


def get_rule(name: str) -> NoiseRule:
    """The registered rule ``name``.

    Parameters
    ----------
    name : str
        A rule name.

    Returns
    -------
    NoiseRule
        Its entry of :data:`NOISE_RULES`; ValueError listing the rules otherwise.
    """
    try:
        return NOISE_RULES[name]
    except KeyError:
        raise ValueError(f"unknown damage rule {name!r}; choose from {', '.join(NOISE_RULES)}") from None


def _draw_by_matrix(matrix, y, frac, rng, n_classes, *, shift, matrix_file, dataset, x=None, proba_seed=None):
    return D.damage_labels(y, frac, matrix(n_classes, shift=shift, matrix_file=matrix_file, dataset=dataset),
                           rng, n_classes)


def _symmetric(n_classes, **_):
    return D.symmetric_rule(n_classes)


def _pair(n_classes, *, shift, **_):
    return D.pair_rule(n_classes, shift)


def _confusion(n_classes, *, matrix_file, dataset, **_):
    counts = read_matrix(matrix_file, n_classes) if matrix_file else shipped_confusion(dataset)
    return D.confusion_rule(counts, n_classes)


def _transition(n_classes, *, matrix_file, **_):
    if not matrix_file:
        raise ValueError("damage rule 'matrix' needs a matrix file (damage_matrix, or --damage matrix:FILE)")
    return D.matrix_rule(read_matrix(matrix_file, n_classes), n_classes)


def _instance(y, frac, rng, n_classes, *, x=None, proba_seed=None, **_):
    if x is None or proba_seed is None:
        raise ValueError("damage rule 'instance' needs the training images x and proba_seed")
    return D.instance_damage(y, frac, uncertainty_proba(x, y, proba_seed, n_classes), rng, n_classes)


register_rule("random", "uniform over the other classes (R's random damage)", matrix=_symmetric)
register_rule("symmetric", "the same as random (identical draws)", matrix=_symmetric)
register_rule("constant", "y -> (y + damage_shift) mod classes (R's constant damage)", matrix=_pair,
              keys=("damage_shift",))
register_rule("pair", "the same as constant (identical draws)", matrix=_pair, keys=("damage_shift",))
register_rule("confusion", "class-conditional, from a confusion matrix of counts (damage_matrix, default the "
              "shipped Fashion-MNIST one)", matrix=_confusion, matrix_file="confusion counts",
              keys=("damage_matrix",))
register_rule("matrix", "a K x K transition matrix from a CSV file (damage_matrix; zero diagonal)",
              matrix=_transition, matrix_file="a transition matrix, zero diagonal", needs_file=True,
              keys=("damage_matrix",))
register_rule("instance", "instance-dependent: uncertain rows first, towards the classes a cheap model confuses",
              draw=_instance)

#: rules that read ``damage_matrix``: True where they must have one (``matrix``), False where
#: they may (``confusion``); those that must first
RULE_NEEDS_MATRIX = {r.name: r.needs_file for r in sorted(NOISE_RULES.values(), key=lambda r: not r.needs_file)
                     if r.matrix_file}


def rule_matrix(rule: str, n_classes: int, *, shift: int = 1, matrix_file: str | Path | None = None,
                dataset: str = "fashion") -> np.ndarray:
    """The transition matrix of a class-conditional rule (every rule but ``instance``).

    Parameters
    ----------
    rule : str
        A registered rule with a matrix.
    n_classes : int
        Classes K.
    shift : int
        ``damage_shift``, for constant and pair.
    matrix_file : str or Path, optional
        ``damage_matrix``, for matrix (required) and confusion (default: the shipped matrix).
    dataset : str
        The dataset whose shipped confusion matrix ``confusion`` uses without a file.

    Returns
    -------
    ndarray, shape (n_classes, n_classes)
        Row c: the distribution of a damaged label of class c.
    """
    spec = get_rule(rule)
    if spec.matrix is None:
        raise ValueError(f"rule {rule!r} has no single transition matrix; class-conditional rules: "
                         f"{', '.join(r.name for r in NOISE_RULES.values() if r.matrix is not None)}")
    return spec.matrix(n_classes, shift=shift, matrix_file=matrix_file, dataset=dataset)


def damage_by_rule(y, frac: float, rule: str, rng: np.random.Generator, n_classes: int = 10, *,
                   shift: int = 1, matrix_file=None, dataset: str = "fashion", x=None,
                   proba_seed: int | None = None) -> np.ndarray:
    """Damage ``frac`` of each class of ``y`` by the registered ``rule``.

    ``random``/``symmetric`` and ``constant``/``pair`` go through
    :func:`datavsmath.damage.damage_labels` exactly as R's two rules always have (same seed,
    same labels).

    Parameters
    ----------
    y : int array, shape (n,)
        Clean labels 0..n_classes-1.
    frac : float
        Share of each class to damage, in [0, 1].
    rule : str
        A rule of :data:`NOISE_RULES`.
    rng : numpy.random.Generator
        The draws' stream; the same seed gives the same labels.
    n_classes : int
        Classes K.
    shift, matrix_file, dataset
        What the rule reads (:func:`rule_matrix`).
    x : array, shape (n, ...), optional
        The rows' images, for ``instance``.
    proba_seed : int, optional
        The seed of :func:`uncertainty_proba`, for ``instance``.

    Returns
    -------
    ndarray, shape (n,)
        The damaged labels.
    """
    return get_rule(rule).draw(y, frac, rng, n_classes, shift=shift, matrix_file=matrix_file, dataset=dataset,
                               x=x, proba_seed=proba_seed)


def counts_text(y_clean, y_damaged, n_classes: int = 10) -> str:
    """The realised transition counts as compact JSON, as a cell record stores them.

    Parameters
    ----------
    y_clean, y_damaged : int arrays, shape (n,)
        The labels before and after damage.
    n_classes : int
        Classes K.

    Returns
    -------
    str
        ``[[n00, n01, ...], ...]``, rows the clean class, columns the label given.
    """
    counts = D.transition_counts(y_clean, y_damaged, n_classes)
    return json.dumps(counts.tolist(), separators=(",", ":"))


def parse_counts(text) -> np.ndarray | None:
    """A record's ``transition_counts`` back as an array.

    Parameters
    ----------
    text : str, list, float or None
        The stored field (JSON text, a nested list, or NaN / None / "" when absent).

    Returns
    -------
    ndarray of int64, shape (K, K), or None
        The counts; None when absent; ValueError if they are not square.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or text == "":
        return None
    m = np.array(json.loads(text) if isinstance(text, str) else text, dtype=np.int64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"transition counts must be a square matrix, got shape {m.shape}")
    return m


def realised_rates(counts) -> dict:
    """The damage a cell's transition counts realised.

    Parameters
    ----------
    counts : array, shape (K, K)
        Transition counts (:func:`parse_counts`).

    Returns
    -------
    dict
        ``rate``: share of labels changed, all classes; ``class_rates`` (K,): per clean class;
        ``matrix`` (K, K): the realised transition probabilities of the changed labels (rows
        with none changed are NaN).
    """
    m = np.asarray(counts, dtype=float)
    n = m.sum(axis=1)
    off = m.copy()
    np.fill_diagonal(off, 0.0)
    moved = off.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"rate": float(moved.sum() / n.sum()) if n.sum() else float("nan"),
                "class_rates": moved / n,
                "matrix": off / moved[:, None]}


def check_rule_file(rule: str, matrix_file) -> NoiseRule:
    """The registered ``rule``, checked against the file it is given: a file only for a rule that
    reads one, and one for a rule that needs it.

    Parameters
    ----------
    rule : str
        A rule name.
    matrix_file : str or None
        The file given with it.

    Returns
    -------
    NoiseRule
        The rule; ValueError saying what is accepted otherwise.
    """
    if rule not in NOISE_RULES:
        raise ValueError(f"unknown damage rule {rule!r}; choose from {', '.join(NOISE_RULES)} "
                         "(matrix:FILE for a transition matrix, confusion[:FILE] for a confusion matrix)")
    spec = NOISE_RULES[rule]
    if matrix_file and not spec.matrix_file:
        readers = " and ".join(f"{r}:FILE" for r in RULE_NEEDS_MATRIX)
        raise ValueError(f"damage rule {rule!r} takes no file (got {rule}:{matrix_file}); only {readers} do")
    if spec.needs_file and not matrix_file:
        raise ValueError(f"--damage {rule} needs a file: --damage {rule}:FILE.csv (K lines of K numbers)")
    return spec


def parse_damage_option(text: str) -> tuple[str, str | None]:
    """``--damage RULE`` or ``--damage RULE:FILE`` (FILE for the rules that read a matrix).

    Parameters
    ----------
    text : str
        The option's value.

    Returns
    -------
    (str, str or None)
        The rule and its file; ValueError saying what is accepted.
    """
    rule, _, path = text.partition(":")
    rule = rule.strip()
    check_rule_file(rule, path or None)
    return rule, path or None
