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

``MODELS`` is the registry: a fifth model is one ``register(ModelSpec(...))`` call.

``cnn_from_mnist`` and ``cnn_from_fashion`` are the CNN fine-tuned from a pretrained one (the
*pretraining* lever): every layer but the softmax head starts from the CNN trained on all
60,000 rows of the other dataset (:mod:`datavsmath.pretraining`, built once and cached), the
head from the fit's seed, and all weights then train with R's recipe on the target rows.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import math
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .pretraining import PretrainedBuild, pretrained_cnn

#: whether the user chose TensorFlow's log level; if so, what it prints is left to them
_USER_SET_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ
# keep TensorFlow's C++ start-up chatter out of logs and progress bars
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: what TensorFlow prints on a machine without an NVIDIA GPU while it looks for CUDA, whatever
#: TF_CPP_MIN_LOG_LEVEL says (absl writes it before its logging starts; cuInit's failure is an
#: ERROR there): noise on such a machine, and all TensorFlow has to say about CUDA there
CPU_ONLY_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    # TensorFlow's notice that oneDNN's kernels may round differently (also written before its
    # logging starts, twice): what that means for the numbers is measured and stated by the
    # reproducibility envelope (``datavsmath verify``, the README), not by every command
    "oneDNN custom operations are on",
)

__all__ = [
    "MODELS", "ModelSpec", "register", "make_model", "VoteFractionForest", "XGBSoftprob",
    "KerasNet", "ShapedBuild", "PretrainedBuild", "pretrained_fields", "SMOKE_PRETRAIN_ROWS",
    "build_dnn", "build_cnn", "dnn_optimizer", "cnn_optimizer", "crossentropy", "recipe",
    "gpu_name", "gpu_names", "keras_backend",
    "nvidia_gpu_present",
    "device_label",
]


# --- preprocessing -------------------------------------------------------------------------

def _scaled(x) -> np.ndarray:
    """uint8 grey levels / 255 (R's preprocessing); other numbers are features, as given."""
    x = np.asarray(x)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def flat_features(x: np.ndarray) -> np.ndarray:
    """(n, h, w) or (n, p) -> (n, h*w) or (n, p) float32; uint8 (n, 28, 28) -> (n, 784) in [0, 1]."""
    return _scaled(x).reshape(len(x), -1)


def image_features(x: np.ndarray) -> np.ndarray:
    """(n, h, w) -> (n, h, w, 1) float32; uint8 grey levels in [0, 1]."""
    x = _scaled(x)
    if x.ndim != 3:
        raise ValueError(f"the CNN needs images of shape (n, height, width), got {x.shape}")
    return x.reshape(*x.shape[:3], 1)


# --- devices -------------------------------------------------------------------------------

def nvidia_gpu_present() -> bool:
    """Whether this machine shows an NVIDIA GPU (a device node or driver entry, or WSL's GPU
    bridge), found without loading CUDA: cheap enough to ask before TensorFlow starts."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*")
                or os.path.exists("/dev/dxg"))


@contextlib.contextmanager
def _drop_stderr_lines(patterns):
    """Pass every line written to file descriptor 2 (C++ logs included) through, except those
    containing one of ``patterns``. A thread relays the lines as they come, so that nothing
    is held back if the process dies inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()

    def relay():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not any(p.encode() in line for p in patterns):
                    os.write(saved, line)

    thread = threading.Thread(target=relay, name="stderr-filter", daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the relay reads to the end and stops
        thread.join(timeout=10)
        os.close(saved)


@functools.lru_cache(maxsize=1)
def keras_backend() -> str:
    """The keras backend in use ("tensorflow", the default, or "jax"; ``$KERAS_BACKEND``).

    The first call starts keras. On a machine without an NVIDIA GPU, unless the user set
    TF_CPP_MIN_LOG_LEVEL, TensorFlow's search for CUDA (at import and at its first look at the
    devices, done here) would print the ``CPU_ONLY_NOISE`` lines on every command: those lines
    are dropped, everything else TensorFlow prints passes through.
    """
    quiet = not _USER_SET_TF_LOG_LEVEL and not nvidia_gpu_present()
    with _drop_stderr_lines(CPU_ONLY_NOISE) if quiet else contextlib.nullcontext():
        import keras

        backend = keras.backend.backend()
        if quiet and backend == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # the CUDA probe, once, while filtered
    return backend


@functools.lru_cache(maxsize=1)
def gpu_names() -> tuple[str, ...]:
    """Names of the GPUs the keras backend sees; empty on a CPU-only machine."""
    if keras_backend() == "jax":
        import jax

        return tuple(d.device_kind for d in jax.devices() if d.platform == "gpu")
    import tensorflow as tf

    return tuple(tf.config.experimental.get_device_details(g).get("device_name", g.name)
                 for g in tf.config.list_physical_devices("GPU"))


def gpu_name() -> str | None:
    """Name of the first GPU the keras backend sees, or None on a CPU-only machine."""
    names = gpu_names()
    return names[0] if names else None


def device_label() -> str:
    """"gpu:<name>" when a GPU is used, else "cpu" (recorded with every result)."""
    name = gpu_name()
    return f"gpu:{name}" if name else "cpu"


# --- random forest -------------------------------------------------------------------------

class VoteFractionForest:
    """R randomForest: 25 trees, mtry 28, bootstrap, grown to purity.

    ``max_features`` None is R's default mtry for classification, floor(sqrt(features)):
    28 for 784 pixels.

    ``predict_proba`` returns the fraction of trees voting for each class, as
    ``predict(type="prob")`` does in R; scikit-learn's own ``predict_proba`` averages leaf
    class frequencies instead, which differs wherever a leaf is impure (duplicate images with
    damaged labels make that common).
    """

    def __init__(self, n_estimators: int = 25, max_features: int | None = None, n_classes: int = 10,
                 seed: int = 0, n_jobs: int = -1):
        self.n_estimators, self.max_features, self.n_classes = n_estimators, max_features, n_classes
        self.seed, self.n_jobs = seed, n_jobs

    def fit(self, x, y):
        from sklearn.ensemble import RandomForestClassifier

        xf = flat_features(x)
        mtry = self.max_features if self.max_features is not None else max(1, math.isqrt(xf.shape[1]))
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_estimators, max_features=mtry, bootstrap=True,
            min_samples_leaf=1, criterion="gini", n_jobs=self.n_jobs, random_state=self.seed,
        ).fit(xf, y)
        return self

    def predict_proba(self, x) -> np.ndarray:
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
    ``nthread``: CPU threads (default :data:`XGB_CPU_THREADS`; None: all cores).
    """

    def __init__(self, n_classes: int = 10, seed: int = 0, rounds: int = 150, device: str | None = None,
                 nthread: int | None = None):
        self.n_classes, self.seed, self.rounds = n_classes, seed, rounds
        self.device, self.nthread = device, nthread

    def params(self) -> dict:
        return {
            "objective": "multi:softprob", "num_class": self.n_classes, "eta": 0.2, "max_depth": 5,
            "subsample": 1.0, "colsample_bytree": 0.5, "eval_metric": "mlogloss",
            "tree_method": "hist", "max_bin": 256, "base_score": 0.5, "seed": self.seed,
            "device": self.device or xgb_device(),
            **({"nthread": nthread} if (nthread := self.nthread or XGB_CPU_THREADS) else {}),
        }

    def fit(self, x, y):
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
        import xgboost as xgb

        return self.booster_.predict(xgb.DMatrix(flat_features(x))).reshape(len(x), self.n_classes)


# --- keras networks ------------------------------------------------------------------------

def build_dnn(n_classes: int = 10, input_shape: tuple[int, ...] = (28, 28)):
    """Dense 256 relu -> Dropout 0.4 -> Dense 128 relu -> Dropout 0.3 -> Dense softmax, on the
    flattened example (784 inputs for 28x28)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(math.prod(input_shape),)),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.4),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.3),
        layers.Dense(n_classes, activation="softmax"),
    ], name="dnn")


def build_cnn(n_classes: int = 10, input_shape: tuple[int, ...] = (28, 28)):
    """Conv 32 -> Conv 64 -> MaxPool -> Dropout 0.25 -> Dense 128 -> Dropout 0.5 -> softmax.

    input_shape : (height, width) of the grey images. R's layers unchanged from 28x28 down to
        6x6; smaller images get "same" convolutions (below 6 pixels a side) and no pooling
        (below 2), see the module docstring.
    """
    import keras
    from keras import layers

    if len(input_shape) != 2:
        raise ValueError(f"the CNN needs images (height, width); this dataset's examples have shape "
                         f"{tuple(input_shape)} (feature rows): run the other models (--models rf,xgb,dnn)")
    h, w = input_shape
    # two valid 3x3 convolutions take 4 pixels off each side and the pool needs 2 left
    padding = "valid" if min(h, w) >= 6 else "same"
    after = min(h, w) - 4 if padding == "valid" else min(h, w)
    pool = [layers.MaxPooling2D(2)] if after >= 2 else []
    return keras.Sequential([
        keras.Input(shape=(h, w, 1)),
        layers.Conv2D(32, 3, activation="relu", padding=padding),
        layers.Conv2D(64, 3, activation="relu", padding=padding),
        *pool,
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(n_classes, activation="softmax"),
    ], name="cnn")


def dnn_optimizer():
    """RMSprop with keras 2.2's defaults and update rule: learning rate 0.001, rho 0.9,
    epsilon 1e-7 added to sqrt(v) (keras 3's own adds it under the root; see
    :mod:`datavsmath.keras22`)."""
    keras_backend()
    from .keras22 import RMSprop22

    return RMSprop22(learning_rate=0.001, rho=0.9)


def cnn_optimizer():
    """Adadelta with keras 2.2's defaults: learning rate 1.0, rho 0.95.

    Today's keras default (0.001) is a different experiment that barely trains in 12 epochs.
    keras 3's Adadelta update is keras 2.2's line for line (see :mod:`datavsmath.keras22`).
    """
    keras_backend()
    import keras

    return keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95)


def crossentropy(y_true, y_pred):
    """keras 2.2's categorical cross-entropy on probabilities (renormalised, clipped to
    [1e-7, 1 - 1e-7]): (batch, k) one-hot targets and softmax outputs -> (batch,) nats.
    See :func:`datavsmath.keras22.categorical_crossentropy`."""
    keras_backend()
    from .keras22 import categorical_crossentropy

    return categorical_crossentropy(y_true, y_pred)


def validation_cut(n_rows: int, validation_split: float = 0.2) -> int:
    """Rows keras trains on under ``validation_split``: the first floor(n * (1 - split))."""
    return int(math.floor(n_rows * (1.0 - validation_split)))


class KerasNet:
    """A keras network trained as R's ``fit(..., validation_split = 0.2)`` did.

    Keras holds out the *last* 20% of the rows it is given and never trains on them; we
    train on exactly the first ``floor(0.8 n)`` rows and skip scoring the held-out part each
    epoch, which R only displayed and which does not change the weights.

    ``loss`` maps (batch, k) one-hot targets and (batch, k) probabilities to (batch,) losses;
    the default is keras 2.2's categorical cross-entropy (:func:`crossentropy`), which keras
    3's own differs from on TensorFlow.

    ``callbacks``: keras callbacks passed to the naive fit (e.g. progress lines); they watch
    the training and do not change it.
    """

    def __init__(self, build: Callable, optimizer: Callable, features: Callable, epochs: int,
                 batch_size: int = 128, validation_split: float = 0.2, n_classes: int = 10,
                 seed: int = 0, verbose: int = 0, loss: Callable = crossentropy, callbacks: tuple = ()):
        self.build, self.optimizer, self.features, self.loss = build, optimizer, features, loss
        self.epochs, self.batch_size, self.validation_split = epochs, batch_size, validation_split
        self.n_classes, self.seed, self.verbose = n_classes, seed, verbose
        self.callbacks = tuple(callbacks)

    def fit(self, x, y):
        keras_backend()  # keras started once, quietly on a CPU-only machine
        import keras

        keras.backend.clear_session()  # one graph per fit; memory does not grow over a grid
        keras.utils.set_random_seed(self.seed)
        self.model_ = self.build(self.n_classes)
        self.model_.compile(optimizer=self.optimizer(), loss=self.loss)
        cut = validation_cut(len(x), self.validation_split)
        if cut < 1:
            raise ValueError(f"{len(x)} rows leave nothing to train on after validation_split={self.validation_split}")
        targets = keras.utils.to_categorical(np.asarray(y)[:cut], self.n_classes)
        self.model_.fit(self.features(x[:cut]), targets, epochs=self.epochs,
                        batch_size=self.batch_size, shuffle=True, verbose=self.verbose,
                        callbacks=list(self.callbacks))
        return self

    def predict_proba(self, x) -> np.ndarray:
        return self.model_.predict(self.features(x), batch_size=1024, verbose=0)


@dataclass(frozen=True)
class ShapedBuild:
    """A network factory for another input shape: ``ShapedBuild(build_cnn, (8, 8))(n_classes)``.

    A frozen dataclass rather than a closure so that two factories for the same shape are
    equal, and the fused programs built from them are reused (the program cache keys on it).
    """

    build: Callable
    input_shape: tuple[int, ...]

    def __call__(self, n_classes: int = 10):
        return self.build(n_classes, self.input_shape)


def pretrained_fields(name: str) -> dict:
    """What a stored fit of the registered model ``name`` records about its starting weights:
    ``{"pretrained_on": source, "pretrained_sha256": SHA-256 of the weights file}`` for a
    pretrained model, ``{}`` for the others."""
    build = MODELS[name].pretrained if name in MODELS else None
    if build is None:
        return {}
    from .pretraining import weights_info

    return {"pretrained_on": build.source, "pretrained_sha256": weights_info(build.weights())["weights_sha256"]}


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
    pretrained : for a model that starts from pretrained weights, its network factory
        (:class:`PretrainedBuild`, naming the source dataset): a grid refuses to fine-tune it on
        its own source, and its stored fits record the weights (:func:`pretrained_fields`).
    """

    name: str
    make: Callable[[int, int], object]
    cpu_seconds_full: float
    description: str
    recipe: int = 1
    same_as: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    pretrained: PretrainedBuild | None = None

    def __post_init__(self):
        if not isinstance(self.recipe, int) or isinstance(self.recipe, bool) or self.recipe < 1:
            raise ValueError(f"ModelSpec {self.name!r}: recipe must be an integer of at least 1, got {self.recipe!r}")
        bad = [old for old in self.same_as if not (isinstance(old, int) and 1 <= old < self.recipe)]
        if bad:
            raise ValueError(f"ModelSpec {self.name!r}: same_as names recipes {bad}, which are not older than "
                             f"the current recipe {self.recipe}")

    def counts_as_current(self, stored_recipe: int, backend: str | None) -> bool:
        """Whether a fit stored under ``stored_recipe``, trained on the keras ``backend`` (None
        when its record does not say), is the current recipe's computation."""
        return stored_recipe >= self.recipe or (backend is not None
                                                and backend in self.same_as.get(stored_recipe, ()))


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.name] = spec
    return spec


def recipe(name: str) -> int:
    """The current recipe version of the registered model ``name`` (see :class:`ModelSpec`)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    return MODELS[name].recipe


def make_model(name: str, seed: int, n_classes: int = 10, input_shape: tuple[int, ...] = (28, 28)):
    """An unfitted estimator of the registered model ``name`` for examples of ``input_shape``."""
    import inspect

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    make = MODELS[name].make
    try:
        takes_shape = len(inspect.signature(make).parameters) >= 3
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        takes_shape = False
    return make(seed, n_classes, tuple(input_shape)) if takes_shape else make(seed, n_classes)


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
register(ModelSpec("cnn", _cnn, 1000, "conv 32-64, max-pool, dense 128, Adadelta lr 1.0, 12 epochs", recipe=2,
                   same_as={1: ("jax",)}))


def _register_pretrained(name: str, build: PretrainedBuild, note: str = "") -> None:
    rows = "all 60,000" if build.rows is None else f"the first {build.rows:,}"
    register(ModelSpec(name, pretrained_cnn(build), 1000,
                       f"cnn pretrained on {rows} training rows of {build.source} (all layers but the head), "
                       f"then fine-tuned with R's recipe (Adadelta lr 1.0, 12 epochs){note}",
                       pretrained=build))


_register_pretrained("cnn_from_mnist", PretrainedBuild("mnist"))
_register_pretrained("cnn_from_fashion", PretrainedBuild("fashion"))
#: the smoke profile's stand-ins: pretrained on 2,000 rows in a few seconds, for tests only
SMOKE_PRETRAIN_ROWS = 2000
_register_pretrained("cnn_from_mnist_smoke", PretrainedBuild("mnist", SMOKE_PRETRAIN_ROWS), "; SMOKE TEST ONLY")
_register_pretrained("cnn_from_fashion_smoke", PretrainedBuild("fashion", SMOKE_PRETRAIN_ROWS), "; SMOKE TEST ONLY")


#: how the shipped confusion matrix was made: a forest with R's rf settings on a draw of rows
CONFUSION_ROWS = 10000
CONFUSION_SEED = 2019


def make_confusion(data, n_rows: int = CONFUSION_ROWS, seed: int = CONFUSION_SEED) -> np.ndarray:
    """Test-set confusion counts (K, K) of the random forest (R's settings: 25 trees, mtry 28)
    trained on ``n_rows`` training rows drawn with ``seed``: rows the true class, columns the
    predicted one. About 5 s on 2 cores; the shipped file was made with the defaults."""
    from .damage import sample_rows, transition_counts

    idx = sample_rows(len(data.y_train), n_rows / len(data.y_train), np.random.default_rng(seed))
    forest = make_model("rf", seed=seed, n_classes=data.n_classes).fit(data.x_train[idx], data.y_train[idx])
    predicted = forest.predict_proba(data.x_test).argmax(axis=1)
    return transition_counts(data.y_test, predicted, data.n_classes)


def write_shipped_confusion(dataset: str = "fashion") -> Path:
    """Recompute the shipped confusion matrix of ``dataset`` (:func:`make_confusion`) and write
    it to ``noise_data/``; returns the file. (Here, not in :mod:`datavsmath.noise`: making
    it trains a model, and the noise rules sit below the models.)"""
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
