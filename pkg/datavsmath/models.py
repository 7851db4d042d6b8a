"""The four models ("the math"), with the R testbench's exact settings.

Every model is a small scikit-learn-style estimator: ``fit(x, y)`` on images of shape
(n, h, w) (28x28 for Fashion-MNIST and MNIST) or feature rows (n, p) with integer labels, then
``predict_proba(x)`` -> float array (n, n_classes). Each does its own preprocessing: uint8 grey
levels divided by 255 (other numbers used as given); flat h*w features (784 for 28x28), or
h x w x 1 images for the CNN.

Other datasets keep R's settings where they apply and adapt where they cannot: the forest's
mtry is floor(sqrt(features)) as in R's randomForest (28 for 784 pixels, 8 for 8x8), the
networks' input and output layers follow the image shape and class count, and the CNN keeps
its layers down to 6x6 images (two 3x3 convolutions leave 2x2 for the 2x2 max-pool); below 6
pixels on a side its convolutions pad to keep the size ("same"), and below 2 the pooling is
left out. The CNN needs images: on feature rows it raises a ValueError.

The keras networks' layers, optimizers, loss and estimator are :mod:`datavsmath.networks`'s
(importable from here too); the forest, xgboost and the registry are this module's.

``MODELS`` is the registry: a fifth model is one ``register(ModelSpec(...))`` call. Beyond R,
``dnn_aug`` and ``cnn_aug`` are the two networks, recipes unchanged, trained on augmented images
(:mod:`datavsmath.augmentation`; images only, like the CNN).

``cnn_from_mnist`` and ``cnn_from_fashion`` are the CNN fine-tuned from a pretrained one (the
*pretraining* lever): every layer but the softmax head starts from the CNN trained on all
60,000 rows of the other dataset (:mod:`datavsmath.pretraining`, built once and cached).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .augmentation import augmented
from .devices import CPU_ONLY_NOISE, device_label, gpu_name, gpu_names, keras_backend, nvidia_gpu_present
from .networks import (
    CNN_RECIPE,
    KerasNet,
    ShapedBuild,
    build_cnn,
    build_dnn,
    cnn_optimizer,
    crossentropy,
    dnn_optimizer,
    flat_features,
    image_features,
    validation_cut,
)
from .pretraining import PretrainedBuild, describe_pretrained, pretrained_cnn, weights_info

__all__ = [
    "MODELS", "ModelSpec", "register", "make_model", "VoteFractionForest", "XGBSoftprob",
    "KerasNet", "ShapedBuild", "PretrainedBuild", "SMOKE_PRETRAIN_ROWS",
    "build_dnn", "build_cnn", "dnn_optimizer", "cnn_optimizer", "crossentropy", "validation_cut", "recipe",
    "flat_features", "image_features", "pretrained_fields",
    "gpu_name", "gpu_names", "keras_backend",
    "nvidia_gpu_present",
    "device_label", "CPU_ONLY_NOISE",
]


# --- random forest -------------------------------------------------------------------------

class VoteFractionForest:
    """R randomForest: 25 trees, mtry 28, bootstrap, grown to purity.

    ``max_features`` None is R's default mtry for classification, floor(sqrt(features)):
    28 for 784 pixels.

    ``predict_proba`` returns the fraction of trees voting for each class, as
    ``predict(type="prob")`` does in R; scikit-learn's own ``predict_proba`` averages leaf
    class frequencies instead, which differs wherever a leaf is impure (duplicate images with
    damaged labels make that common).

    Parameters
    ----------
    n_estimators : int
        Trees (R's ntree, 25 in the testbench).
    max_features : int, optional
        Features tried at each split (R's mtry); None: floor(sqrt(features)).
    n_classes : int
        Classes of the labels: the columns of ``predict_proba``, so that a class absent from
        a small training draw still gets its (zero) column.
    seed : int
        scikit-learn's ``random_state`` (bootstrap draws and feature choices).
    n_jobs : int
        Parallel jobs over trees; -1: every core.
    """

    def __init__(self, n_estimators: int = 25, max_features: int | None = None, n_classes: int = 10,
                 seed: int = 0, n_jobs: int = -1):
        self.n_estimators, self.max_features, self.n_classes = n_estimators, max_features, n_classes
        self.seed, self.n_jobs = seed, n_jobs

    def fit(self, x, y):
        """Grow the trees.

        Parameters
        ----------
        x : array-like, shape (n, h, w) or (n, p)
            Training examples (:func:`flat_features`).
        y : array-like of int, shape (n,)
            Labels in [0, n_classes).

        Returns
        -------
        VoteFractionForest
            This estimator, fitted (``forest_``).
        """
        from sklearn.ensemble import RandomForestClassifier

        xf = flat_features(x)
        mtry = self.max_features if self.max_features is not None else max(1, math.isqrt(xf.shape[1]))
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_estimators, max_features=mtry, bootstrap=True,
            min_samples_leaf=1, criterion="gini", n_jobs=self.n_jobs, random_state=self.seed,
        ).fit(xf, y)
        return self

    def predict_proba(self, x) -> np.ndarray:
        """The fraction of trees voting for each class.

        Parameters
        ----------
        x : array-like, shape (m, h, w) or (m, p)
            Examples shaped as in :meth:`fit`.

        Returns
        -------
        ndarray of float, shape (m, n_classes)
            Rows sum to 1; multiples of 1 / n_estimators.
        """
        xf = flat_features(x)
        votes = np.zeros((len(xf), self.n_classes))
        rows = np.arange(len(xf))
        classes = self.forest_.classes_.astype(int)
        for tree in self.forest_.estimators_:
            # a fitted sub-tree predicts indices into the forest's classes_
            votes[rows, classes[tree.predict(xf).astype(int)]] += 1.0
        return votes / len(self.forest_.estimators_)


# --- gradient boosting ---------------------------------------------------------------------

#: xgboost's CPU threads when a fit does not say (None: xgboost's default, every core), as
#: chosen by ``bench/run.py --sections threads`` (bench/README.md, "xgboost's threads"): on 2
#: cores every core, its boosting started from a fresh thread (see ``XGBSoftprob.fit``)
XGB_CPU_THREADS: int | None = None


def xgb_device() -> str:
    """"cuda" where a GPU is present and the installed xgboost was built with CUDA, else "cpu"
    (a CPU-only build, e.g. the ``xgboost-cpu`` wheel, then boosts on the cores beside the GPU)."""
    if not gpu_name():
        return "cpu"
    import xgboost as xgb

    return "cuda" if xgb.build_info().get("USE_CUDA") else "cpu"


def _on_fresh_thread(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` run on a new thread while this one waits; its exception raised here."""
    out = {}

    def run():
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the waiting thread
            out["error"] = exc

    thread = threading.Thread(target=run, name="xgboost-fit", daemon=True)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class XGBSoftprob:
    """R xgboost 0.82 settings: multi:softprob, eta 0.2, max_depth 5, subsample 1,
    colsample_bytree 0.5, 150 rounds.

    Histogram trees with 256 bins find the same candidate splits as 0.82's exact greedy
    method, because scaled pixels take at most 256 distinct values. ``base_score`` is pinned
    to 0.82's 0.5 (newer versions estimate it). Runs on CUDA when a GPU is present and
    xgboost was built with CUDA (:func:`xgb_device`).

    Parameters
    ----------
    n_classes : int
        Classes of the labels (``num_class``): the columns of ``predict_proba``.
    seed : int
        xgboost's seed (column subsampling).
    rounds : int
        Boosting rounds (R's nrounds, 150).
    device : str, optional
        "cpu" or "cuda"; None: :func:`xgb_device`.
    nthread : int, optional
        CPU threads (default :data:`XGB_CPU_THREADS`; None: all cores).
    """

    def __init__(self, n_classes: int = 10, seed: int = 0, rounds: int = 150, device: str | None = None,
                 nthread: int | None = None):
        self.n_classes, self.seed, self.rounds = n_classes, seed, rounds
        self.device, self.nthread = device, nthread

    def params(self) -> dict:
        """xgboost's training parameters, R 0.82's settings with the device and threads resolved.

        Returns
        -------
        dict
            The ``params`` of ``xgboost.train``.
        """
        return {
            "objective": "multi:softprob", "num_class": self.n_classes, "eta": 0.2, "max_depth": 5,
            "subsample": 1.0, "colsample_bytree": 0.5, "eval_metric": "mlogloss",
            "tree_method": "hist", "max_bin": 256, "base_score": 0.5, "seed": self.seed,
            "device": self.device or xgb_device(),
            **({"nthread": nthread} if (nthread := self.nthread or XGB_CPU_THREADS) else {}),
        }

    def fit(self, x, y):
        """Boost ``rounds`` rounds.

        Parameters
        ----------
        x : array-like, shape (n, h, w) or (n, p)
            Training examples (:func:`flat_features`).
        y : array-like of int, shape (n,)
            Labels in [0, n_classes); classes absent from the draw are allowed.

        Returns
        -------
        XGBSoftprob
            This estimator, fitted (``booster_``).
        """
        import xgboost as xgb

        # the low-level API accepts labels with absent classes; XGBClassifier does not
        dtrain = xgb.QuantileDMatrix(flat_features(x), label=np.asarray(y), max_bin=256)
        params = self.params()
        # on the CPU, boost from a fresh thread: started from the main thread, xgboost's 2-core
        # fits ran 5-9x slower on the loaded development machine, and a tenth faster on the
        # quiet one (bench/README.md, "xgboost's threads")
        train = _on_fresh_thread if params["device"] == "cpu" else (lambda fn, *a, **k: fn(*a, **k))
        self.booster_ = train(xgb.train, params, dtrain, num_boost_round=self.rounds)
        return self

    def predict_proba(self, x) -> np.ndarray:
        """The softmax class probabilities.

        Parameters
        ----------
        x : array-like, shape (m, h, w) or (m, p)
            Examples shaped as in :meth:`fit`.

        Returns
        -------
        ndarray of float32, shape (m, n_classes)
        """
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(flat_features(x))).reshape(len(x), self.n_classes)


def _net_build(build: Callable, input_shape) -> Callable:
    shape = tuple(int(d) for d in input_shape)
    return build if shape == (28, 28) else ShapedBuild(build, shape)


# --- registry ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    make : (seed, n_classes) -> an unfitted estimator with fit / predict_proba; or
        (seed, n_classes, input_shape) for a model that depends on the example shape
        ((28, 28) for Fashion-MNIST; (p,) for feature rows)
    cpu_seconds_full : measured seconds of one fit on all 60,000 rows on a 2-core CPU; the
        runner uses it only to weight its progress bar and ETA.
    recipe : version of what ``make`` trains (settings, loss, update rule), an integer from 1;
        raise it whenever a change would change the model's results. Every stored fit records
        the recipe it was trained under (one without the field counts as recipe 1), and a
        run retrains the stored fits of an older recipe, so that a results folder never mixes
        two recipes of one model. History: dnn and cnn 2 = keras 2.2's RMSprop update and
        loss (1: keras 3's own); rf and xgb 1.
    same_as : older recipes that are the same computation as the current one on some keras
        backends, ``{old recipe: (backend, ...)}``: a fit stored under such a recipe and
        trained on one of those backends (its record's ``versions["keras_backend"]``) counts
        as current, and is not retrained (retraining would change its label, not a number).
        Declare only what a test proves: ``tests/test_keras22.py`` trains the model both ways
        on each declared backend and requires identical weights. History: cnn 1 on JAX, where
        keras 3's categorical cross-entropy already is keras 2.2's (renormalise, clip, log) and
        Adadelta is keras 2.2's line for line; dnn 1 is not (keras 3's RMSprop).
    base : for one of R's models with a lever applied (augmentation, pretraining), the name of
        that plain model: the exchange rates price the lever in rows of the plain model's
        learning curve (:mod:`datavsmath.stats.exchange`).
    lever : the lever's family when ``base`` is set, e.g. "augmentation" or "pretraining".
    needs_images : True for a model that trains on images (h, w) only, not feature rows (the
        CNN, the augmented networks); a run checks it before loading anything else.
    pretrained : for a model that starts from pretrained weights, its network factory
        (:class:`PretrainedBuild`, naming the source dataset): a grid refuses to fine-tune it on
        its own source, and its stored fits record the weights.
    """

    name: str
    make: Callable[..., object]
    cpu_seconds_full: float
    description: str
    recipe: int = 1
    same_as: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    base: str | None = None
    lever: str | None = None
    needs_images: bool = False
    pretrained: PretrainedBuild | None = None

    def __post_init__(self):
        if (self.base is None) != (self.lever is None):
            raise ValueError(f"ModelSpec {self.name!r}: base and lever go together (a lever applied "
                             f"to a plain model), got base={self.base!r}, lever={self.lever!r}")
        if not isinstance(self.recipe, int) or isinstance(self.recipe, bool) or self.recipe < 1:
            raise ValueError(f"ModelSpec {self.name!r}: recipe must be an integer of at least 1, got {self.recipe!r}")
        bad = [old for old in self.same_as if not (isinstance(old, int) and 1 <= old < self.recipe)]
        if bad:
            raise ValueError(f"ModelSpec {self.name!r}: same_as names recipes {bad}, which are not older than "
                             f"the current recipe {self.recipe}")

    def counts_as_current(self, stored_recipe: int, backend: str | None) -> bool:
        """Whether a stored fit is the current recipe's computation (else a run retrains it).

        Parameters
        ----------
        stored_recipe : int
            The recipe the fit was trained under (1 for a record without the field).
        backend : str or None
            The keras backend it was trained on (its record's ``versions["keras_backend"]``;
            None when the record does not say).

        Returns
        -------
        bool
            True for the current recipe or a newer one, or an older one declared the same
            computation on ``backend`` (``same_as``).
        """
        return stored_recipe >= self.recipe or (backend is not None
                                                and backend in self.same_as.get(stored_recipe, ()))


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to :data:`MODELS` (replacing one of the same name).

    Parameters
    ----------
    spec : ModelSpec
        The model; its ``name`` is the key specs and ``--models`` use.

    Returns
    -------
    ModelSpec
        ``spec``, so that a call can also name it.
    """
    MODELS[spec.name] = spec
    return spec


def recipe(name: str) -> int:
    """The current recipe version of the registered model ``name`` (see :class:`ModelSpec`).

    Parameters
    ----------
    name : str
        A registered model.

    Returns
    -------
    int
        Its recipe, from 1.

    Raises
    ------
    ValueError
        When ``name`` is not registered.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    return MODELS[name].recipe


def make_model(name: str, seed: int, n_classes: int = 10, input_shape: tuple[int, ...] = (28, 28),
               dataset: str | None = None):
    """An unfitted estimator of the registered model ``name`` for examples of ``input_shape``.

    Parameters
    ----------
    name : a registered model (:data:`MODELS`)
    seed : its seed (initial weights, dropout, augmentation, trees)
    n_classes : classes of the labels
    input_shape : shape of one example, (h, w) for images or (p,) for feature rows
    dataset : the dataset's short name, for a model whose ``make`` takes a ``dataset`` argument
        (the augmented networks flip only where flips keep labels); others ignore it

    Returns
    -------
    an estimator with ``fit(x, y)`` and ``predict_proba(x)`` -> (n, n_classes)
    """
    import inspect

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    make = MODELS[name].make
    try:
        params: Mapping[str, inspect.Parameter] = inspect.signature(make).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        params = {}
    if "dataset" in params:
        return make(seed, n_classes, tuple(input_shape), dataset=dataset)
    return make(seed, n_classes, tuple(input_shape)) if len(params) >= 3 else make(seed, n_classes)


def _cnn(seed: int, k: int, shape=(28, 28)) -> KerasNet:
    if len(shape) != 2:
        build_cnn(k, shape)  # raises the error that says why
    return KerasNet(_net_build(build_cnn, shape), cnn_optimizer, image_features, epochs=12,
                    n_classes=k, seed=seed)


register(ModelSpec("rf", lambda seed, k, shape=(28, 28): VoteFractionForest(n_classes=k, seed=seed), 11,
                   "random forest, 25 trees, mtry 28 (floor(sqrt(features))), vote-fraction probabilities"))
register(ModelSpec("xgb", lambda seed, k, shape=(28, 28): XGBSoftprob(n_classes=k, seed=seed), 320,
                   "xgboost softprob, eta 0.2, depth 5, colsample 0.5, 150 rounds"))
register(ModelSpec("dnn", lambda seed, k, shape=(28, 28): KerasNet(_net_build(build_dnn, shape), dnn_optimizer,
                                                                   flat_features, epochs=30,
                                                                   n_classes=k, seed=seed), 57,
                   "dense 256-128 with dropout, RMSprop (keras 2.2's update), 30 epochs", recipe=2))
register(ModelSpec("cnn", _cnn, 1000, "conv 32-64, max-pool, dense 128, Adadelta lr 1.0, 12 epochs", recipe=CNN_RECIPE,
                   same_as={1: ("jax",)}, needs_images=True))


# the augmentation lever (datavsmath.augmentation): the DNN and CNN on shifted (and flipped)
# images. Their seconds per 60,000 rows are the plain models' times the augmented / plain ratio
# of the faster of two naive fits on the same 6,000 rows (2-core Intel Xeon): dnn 10.4 s,
# dnn_aug 11.2 s; cnn 43.5 s, cnn_aug 66.6 s
_AUG_TEXT = ("random shifts up to 10% (2.8 px at 28x28, black fill) and horizontal flips where they keep "
             "labels (Fashion-MNIST, not digits), in training only")
register(ModelSpec("dnn_aug", augmented("dnn", MODELS["dnn"].make), 61, f"dnn on augmented images: {_AUG_TEXT}", needs_images=True,
                   base="dnn", lever="augmentation"))
register(ModelSpec("cnn_aug", augmented("cnn", MODELS["cnn"].make), 1530, f"cnn on augmented images: {_AUG_TEXT}", needs_images=True,
                   base="cnn", lever="augmentation"))


#: the smoke profile's stand-ins are pretrained on 2,000 rows in a few seconds, for tests only
SMOKE_PRETRAIN_ROWS = 2000
for _name, _build in (("cnn_from_mnist", PretrainedBuild("mnist")), ("cnn_from_fashion", PretrainedBuild("fashion")),
                      ("cnn_from_mnist_smoke", PretrainedBuild("mnist", SMOKE_PRETRAIN_ROWS)),
                      ("cnn_from_fashion_smoke", PretrainedBuild("fashion", SMOKE_PRETRAIN_ROWS))):
    register(ModelSpec(_name, pretrained_cnn(_build), 1000, describe_pretrained(_build), pretrained=_build,
                       needs_images=True, base="cnn", lever="pretraining"))


#: how the shipped confusion matrix was made: a forest with R's rf settings on a draw of rows
CONFUSION_ROWS = 10000
CONFUSION_SEED = 2019


def make_confusion(data, n_rows: int = CONFUSION_ROWS, seed: int = CONFUSION_SEED) -> np.ndarray:
    """Test-set confusion counts (K, K) of the random forest (R's settings: 25 trees, mtry 28)
    trained on ``n_rows`` training rows drawn with ``seed``: rows the true class, columns the
    predicted one. About 5 s on 2 cores; the shipped file was made with the defaults.

    Parameters
    ----------
    data : Dataset
        A loaded dataset (:func:`datavsmath.data.load_dataset`).
    n_rows : int
        Training rows to draw, at most the dataset's.
    seed : int
        Seed of the draw and of the forest.

    Returns
    -------
    ndarray of int, shape (K, K)
        Counts of test examples by (true class, predicted class); K = ``data.n_classes``.
    """
    from .damage import sample_rows, transition_counts

    idx = sample_rows(len(data.y_train), n_rows / len(data.y_train), np.random.default_rng(seed))
    forest = make_model("rf", seed=seed, n_classes=data.n_classes).fit(data.x_train[idx], data.y_train[idx])
    predicted = forest.predict_proba(data.x_test).argmax(axis=1)
    return transition_counts(data.y_test, predicted, data.n_classes)


def write_shipped_confusion(dataset: str = "fashion") -> Path:
    """Recompute the shipped confusion matrix of ``dataset`` (:func:`make_confusion`) and write
    it to ``noise_data/``; returns the file. (Here, not in :mod:`datavsmath.noise`: making
    it trains a model, and the noise rules sit below the models.)

    Parameters
    ----------
    dataset : str
        A dataset's short name (e.g. "fashion"), loaded from its installed files.

    Returns
    -------
    Path
        The CSV file written (a comment line, a header, K rows of K counts).
    """
    from .data import load_dataset
    from .noise import CONFUSION_FILES, DATA_DIR, shipped_confusion

    data = load_dataset(dataset)
    counts = make_confusion(data)
    path = CONFUSION_FILES.get(dataset, DATA_DIR / f"{dataset}_confusion.csv")
    header = ",".join(f"pred_{i}" for i in range(data.n_classes))
    comment = (f"# test-set confusion counts of the random forest (25 trees, mtry 28, seed {CONFUSION_SEED}) "
               f"trained on {CONFUSION_ROWS:,} drawn training rows; rows: true class 0..{data.n_classes - 1}")
    lines = [comment, header] + [",".join(str(int(v)) for v in row) for row in counts]
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    shipped_confusion.cache_clear()
    return path


def pretrained_fields(name: str) -> dict:
    """What a stored fit of the registered model ``name`` records about its starting weights.

    Parameters
    ----------
    name : a registered model (:data:`MODELS`)

    Returns
    -------
    ``{"pretrained_on": source, "pretrained_sha256": SHA-256 of the weights file}`` for a
    pretrained model, ``{}`` for the others.
    """
    build = MODELS[name].pretrained if name in MODELS else None
    if build is None:
        return {}
    return {"pretrained_on": build.source, "pretrained_sha256": weights_info(build.weights())["weights_sha256"]}
