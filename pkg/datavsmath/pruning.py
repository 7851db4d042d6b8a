"""Data pruning by prototypicality (Sorscher et al. 2022, "Beyond neural scaling laws").

Each training image gets a *difficulty score*: its cosine distance to the nearest k-means
centroid in an unsupervised embedding. Small distances are prototypical ("easy") images, large
ones atypical ("hard"). A pruned training set of n rows keeps the n easiest or the n hardest
(:func:`select_rows`); the size experiment's uniform draw (:func:`datavsmath.damage.sample_rows`)
is the third rule, "random".

The embedding (a documented deviation from the paper, which used SwAV, a self-supervised
ResNet-50 trained on ImageNet, and no such network exists for 28 x 28 grey images without
training one): pixels scaled to [0, 1], scikit-learn's PCA to :data:`N_COMPONENTS` whitened
components (randomized SVD), each row L2-normalised so that Euclidean k-means works on the
sphere and its distances order rows as cosine distances do. PCA is the cheapest embedding that
captures a garment's global shape, which is what makes an image typical of its cluster here;
it needs no labels, as SwAV needs none. k-means (scikit-learn, k = :data:`N_CLUSTERS`, one per
class as the brief of the experiment asks, on all rows at once: the clusters are found without
labels, as in the paper).

Class balance: the paper prunes globally. Kept globally, the 600 easiest images of
Fashion-MNIST can leave out whole classes, and the comparison would measure missing classes,
not easy against hard examples. :func:`select_rows` therefore keeps each class's share of the
full training set (``stratify=True``, the default): within each class the easiest or hardest
rows, with class quotas by largest remainder. ``stratify=False`` prunes globally, as the paper.
"""

from __future__ import annotations

import functools
import math
import numbers
import threading

import numpy as np

__all__ = [
    "EMBEDDING",
    "N_CLUSTERS",
    "N_COMPONENTS",
    "SELECTIONS",
    "class_quotas",
    "dataset_scores",
    "prototype_scores",
    "select_rows",
]

#: the row-selection rules of a pruning experiment, in report order
SELECTIONS = ("random", "keep_easy", "keep_hard")
#: whitened principal components of the embedding
N_COMPONENTS = 50
#: k-means clusters (one per Fashion-MNIST class)
N_CLUSTERS = 10
#: the embedding in words, for tables and pages
EMBEDDING = (f"PCA ({N_COMPONENTS} whitened components of the pixels scaled to [0, 1]), rows "
             f"L2-normalised, k-means with k = {N_CLUSTERS}; score = cosine distance to the "
             "nearest centroid")


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def prototype_scores(x, seed: int, *, n_components: int = N_COMPONENTS,
                     n_clusters: int = N_CLUSTERS) -> np.ndarray:
    """Difficulty of each image: cosine distance to its nearest k-means centroid.

    Parameters
    ----------
    x : array (n, 28, 28) or (n, d), grey levels 0..255 (any shape per row; rows are flattened)
    seed : non-negative integer; PCA's randomized SVD and k-means use it, so the same seed
        gives the same scores
    n_components : whitened PCA components kept (at most min(n, d))
    n_clusters : k of k-means (at most n)

    Returns
    -------
    float64 array (n,), each in [0, 2]: 0 for an image on a centroid's direction, larger for
    less typical images.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    seed = _check_seed(seed)
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must hold one image per row, got shape {x.shape}")
    flat = x.reshape(len(x), -1).astype(np.float32) / 255.0
    if not 1 <= n_components <= min(flat.shape):
        raise ValueError(f"n_components must lie in 1..{min(flat.shape)} for {flat.shape[0]} "
                         f"rows of {flat.shape[1]} values, got {n_components}")
    if not 1 <= n_clusters <= len(flat):
        raise ValueError(f"n_clusters must lie in 1..{len(flat)}, got {n_clusters}")
    z = PCA(n_components, whiten=True, svd_solver="randomized", random_state=seed).fit_transform(flat)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters, n_init=3, random_state=seed).fit(z)
    centres = km.cluster_centers_ / np.maximum(
        np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True), 1e-12)
    # rows and centres are unit vectors: cosine distance is 1 - their dot product
    return (1.0 - (z @ centres.T).max(axis=1)).astype(np.float64)


class _Same:
    """An array as a cache key: equal only to itself (numpy arrays are not hashable, and hashing
    60,000 images per call would cost more than it saves). The key holds the array, so its id
    cannot come to name another array while it is cached."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    def __hash__(self) -> int:
        return id(self.array)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.array is self.array


@functools.lru_cache(maxsize=4)  # a run uses one dataset and a few replicates
def _cached_scores(images: _Same, seed: int) -> np.ndarray:
    scores = prototype_scores(images.array, seed)
    scores.setflags(write=False)
    return scores


_score_lock = threading.Lock()  # tree fits run on background threads: score once, not per thread


def dataset_scores(data, seed: int) -> np.ndarray:
    """:func:`prototype_scores` of a dataset's training images, computed once per (dataset,
    seed) in a process and reused by every cell (they take seconds; a grid has dozens of cells).

    Parameters
    ----------
    data : datavsmath.data.Dataset
        The dataset; its ``x_train`` (n, 28, 28) is scored (the same array object, the same
        scores: the cache knows arrays by identity, the four most recent).
    seed : int
        Non-negative seed of PCA and k-means (:func:`prototype_scores`).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        Read-only difficulty scores, one per training row.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer.
    """
    seed = _check_seed(seed)
    with _score_lock:
        return _cached_scores(_Same(data.x_train), seed)


def class_quotas(y, n: int, n_classes: int | None = None) -> np.ndarray:
    """Rows per class of an n-row subset that keeps the class shares of ``y``: floor of each
    class's exact share, the rest to the largest remainders (ties to the lower class).

    Parameters
    ----------
    y : array-like of int, shape (N,)
        Class labels, in 0..K-1.
    n : int
        Rows of the subset, at most N.
    n_classes : int, optional
        K; by default the largest label plus one.

    Returns
    -------
    numpy.ndarray of int64, shape (K,)
        Rows per class, summing to ``n``, each at most the class's count.
    """
    y = np.asarray(y)
    k = int(y.max()) + 1 if n_classes is None else int(n_classes)
    counts = np.bincount(y, minlength=k).astype(np.int64)
    exact = n * counts / counts.sum()
    quota = np.floor(exact + 1e-9).astype(np.int64)
    order = np.lexsort((np.arange(k), -(exact - quota)))
    quota[order[: n - int(quota.sum())]] += 1
    return quota


def select_rows(scores, y, frac: float, rule: str, rng: np.random.Generator, *,
                stratify: bool = True) -> np.ndarray:
    """The training rows a pruning rule keeps: ``floor(len(y) * frac)`` of them, in random order.

    Parameters
    ----------
    scores : float array (N,), difficulty per row (:func:`prototype_scores`); larger is harder
    y : int array (N,), labels (used only with ``stratify``)
    frac : share of the N rows kept, in [0, 1]
    rule : "keep_easy" (smallest scores) or "keep_hard" (largest); "random" is
        :func:`datavsmath.damage.sample_rows`, which this function does not replace
    rng : numpy.random.Generator; only the order of the kept rows depends on it
    stratify : keep each class's share of the N rows (:func:`class_quotas`) and rank within
        classes; False ranks all rows together, as the paper

    Returns
    -------
    int64 array (floor(N * frac),) of distinct row indices. They come shuffled: the networks
    train on the first 80% of the rows they are given, so a sorted order would drop the
    hardest fifth of every selection.
    """
    from .damage import check_frac, check_rng

    frac = check_frac(frac)
    check_rng(rng)
    if rule not in SELECTIONS[1:]:
        raise ValueError(f"rule must be one of {', '.join(map(repr, SELECTIONS[1:]))}, got {rule!r}"
                         + ("; draw random rows with datavsmath.damage.sample_rows" if rule == "random" else ""))
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(y)
    if scores.ndim != 1 or scores.shape != y.shape:
        raise ValueError(f"scores and y must be 1-D of the same length, got shapes {scores.shape} and {y.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    n = math.floor(len(y) * frac + 1e-9)  # as sample_rows: 0.07 * 60000 is 4200, not 4199
    # a stable sort of the signed scores: ties go to the lower row index either way
    key = scores if rule == "keep_easy" else -scores
    if stratify:
        quota = class_quotas(y, n)
        parts = []
        for c, q in enumerate(quota):
            rows = np.flatnonzero(y == c)
            parts.append(rows[np.argsort(key[rows], kind="stable")[:q]])
        kept = np.concatenate(parts) if parts else np.empty(0, np.int64)
    else:
        kept = np.argsort(key, kind="stable")[:n]
    return rng.permutation(kept.astype(np.int64))
