"""Pretrained CNN weights: R's CNN trained once on a whole source dataset, for fine-tuning.

The *pretraining* lever asks what a network gains from having seen another dataset first: the
CNN of :mod:`datavsmath.models` (``build_cnn``, Adadelta, 12 epochs, batch 128, trained on the
first 80% of its rows as ``validation_split = 0.2`` does; :class:`~datavsmath.models.KerasNet`
trains it) is fitted once on all 60,000 training rows of a source dataset (digit MNIST for
Fashion-MNIST, and the other way round) with a fixed seed, and its weights are kept in a file.
The models ``cnn_from_mnist`` and ``cnn_from_fashion`` start from them (every layer but the
softmax head) and fine-tune all weights on the target rows with the same recipe.

The weights file lives under ``<cache root>/pretrained/`` (:func:`datavsmath.resources.cache_root`),
named by the source dataset, the CNN's recipe, the rows and seed used and the source data's
checksum, so that a change to any of them makes a new file rather than reusing a stale one.
Beside it, a JSON file records how it was made: seed, rows, library versions, the weights'
SHA-256, the seconds it took and the source's test accuracy. It is built on first use (9 and 14
minutes for digit MNIST and Fashion-MNIST on a shared 2-core CPU, a line per epoch with the
time left), under an exclusive lock on a
file beside it, so that two workers asking at once build it once. The source dataset is read as
every command reads it (:func:`datavsmath.data.load_dataset`): installed locally, never
downloaded here; when it is missing, the error says how to install it.

This module sits beside :mod:`datavsmath.models` (it trains one of its models and nothing
else): the models' build functions load its weights, so it must not sit above them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock

from .data import array_sha256, load_dataset
from .devices import keras_backend
from .networks import CNN_RECIPE, KerasNet, build_cnn, cnn_optimizer, image_features
from .resources import cache_root

# the models are imported where they are used: models.py builds its registry from this module's
# PretrainedBuild, so this module must load without it

__all__ = ["PRETRAIN_SEED", "PRETRAIN_EPOCHS", "Pretraining", "PretrainedBuild", "pretrained_cnn",
           "describe_pretrained",
           "pretrained_weights", "pretrained_layers", "weights_info"]

#: the seed of every pretraining (the project's base seed)
PRETRAIN_SEED = 2019
#: R's CNN recipe: 12 epochs (batch 128 and the 80% training cut are KerasNet's defaults)
PRETRAIN_EPOCHS = 12


@dataclass(frozen=True)
class Pretraining:
    """What a pretraining is made of: the CNN trained on the first ``rows`` training rows of
    ``source`` (None: all of them) with ``seed``.

    source : a named dataset of 28x28 images, ``"mnist"`` or ``"fashion"``
    rows : the training rows given to the CNN (it trains on the first 80% of them); None for
        all. Fewer rows are for smoke tests only, and are part of the file's name.
    seed : the seed of the initial weights, dropout and shuffling
    """

    source: str
    rows: int | None = None
    seed: int = PRETRAIN_SEED

    def __post_init__(self):
        if self.rows is not None and (not isinstance(self.rows, int) or self.rows < 10):
            raise ValueError(f"pretraining rows must be an integer of at least 10 (or None for all), "
                             f"got {self.rows!r}")


def _source_checksum(x: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the source rows' images and labels together (hex)."""
    return hashlib.sha256((array_sha256(x) + array_sha256(y)).encode()).hexdigest()


def _source_rows(spec: Pretraining, data_dir=None):
    """(data, x, y): the source dataset and the rows pretraining uses; ValueError if it asks
    for more rows than the dataset has."""
    data = load_dataset(spec.source, data_dir)
    n = len(data.y_train) if spec.rows is None else spec.rows
    if n > len(data.y_train):
        raise ValueError(f"pretraining asks for {n:,} rows of {spec.source}, which has {len(data.y_train):,}")
    return data, data.x_train[:n], data.y_train[:n]


def _stem(spec: Pretraining, checksum: str) -> str:
    rows = "all" if spec.rows is None else f"{spec.rows}rows"
    return f"cnn-r{CNN_RECIPE}-{spec.source}-{rows}-seed{spec.seed}-{checksum[:16]}"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(label: str, log: Callable[[str], None]):
    """A keras callback writing one line per epoch: the epoch, its loss, seconds so far and
    the time left at the mean pace so far."""
    keras_backend()  # keras started once, quietly on a CPU-only machine
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            done, total = epoch + 1, self.params.get("epochs", PRETRAIN_EPOCHS)
            spent = time.perf_counter() - self.start
            left = spent / done * (total - done)
            loss = (logs or {}).get("loss")
            log(f"{label}: epoch {done}/{total}" + (f", loss {loss:.4f}" if loss is not None else "")
                + f", {spent:.0f} s so far, about {left / 60:.1f} min left")

    return EpochLog()


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "keras_backend": keras_backend()}
    for pkg in ("numpy", "tensorflow", "keras", "jax"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _build(spec: Pretraining, x, y, data, weights: Path, log: Callable[[str], None]) -> dict:
    """Train the CNN on (x, y), write its weights to ``weights`` (atomically) and return the
    facts for the JSON beside it."""
    label = f"pretraining the cnn on {len(y):,} rows of {spec.source}"
    log(f"{label} (once; cached in {weights.parent}); 60,000 rows take about 10 to 15 min on 2 busy CPU cores")
    net = KerasNet(build_cnn, cnn_optimizer, image_features, epochs=PRETRAIN_EPOCHS,
                   n_classes=data.n_classes, seed=spec.seed, callbacks=(_progress(label, log),))
    t0 = time.perf_counter()
    net.fit(x, y)
    seconds = time.perf_counter() - t0
    accuracy = float(np.mean(net.predict_proba(data.x_test).argmax(axis=1) == data.y_test))
    # plain arrays, one entry "<layer>.<array>" each: read back without building a network
    # (building one would draw from the random state a fit has just seeded); written beside
    # and renamed, so a killed build leaves no half file under the final name
    arrays = {f"{i}.{j}": w for i, layer in enumerate(net.model_.layers) for j, w in enumerate(layer.get_weights())}
    partial = weights.with_name(f".{weights.name}.{os.getpid()}.partial")
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, weights)
    log(f"{label}: done in {seconds / 60:.1f} min, test accuracy on {spec.source} {accuracy:.4f}")
    return {"seconds": round(seconds, 1), "source_test_accuracy": round(accuracy, 6)}


def pretrained_weights(spec: Pretraining | str, *, root: str | os.PathLike | None = None, data_dir=None,
                       log: Callable[[str], None] | None = None) -> Path:
    """The weights file of a pretraining, built first if it is not there yet.

    Parameters
    ----------
    spec : a :class:`Pretraining`, or a source dataset's name (all its rows, the fixed seed)
    root : the cache folder (default ``<cache root>/pretrained``)
    data_dir : where to look for the source dataset (default: where every command looks)
    log : where the progress lines go (default: standard error)

    Returns
    -------
    Path of the ``.npz`` file (one array ``"<layer>.<array>"`` per weight array); its facts (:func:`weights_info`) are in the ``.json``
    file of the same stem.
    """
    spec = Pretraining(spec) if isinstance(spec, str) else spec
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    folder = Path(root) if root is not None else cache_root() / "pretrained"
    data, x, y = _source_rows(spec, data_dir)
    checksum = _source_checksum(x, y)
    weights = folder / f"{_stem(spec, checksum)}.npz"
    info = weights.with_name(f"{_stem(spec, checksum)}.json")
    if weights.is_file() and info.is_file():
        return weights
    folder.mkdir(parents=True, exist_ok=True)
    # the kernel's lock (filelock): dropped if the process dies, so a killed build blocks no one
    with FileLock(weights.with_name(f".{_stem(spec, checksum)}.lock")):
        if weights.is_file() and info.is_file():  # built by another worker while we waited
            return weights
        facts = _build(spec, x, y, data, weights, log)
        record = {"source": spec.source, "rows": len(y), "trained_rows": int(len(y) * 0.8),
                  "seed": spec.seed, "epochs": PRETRAIN_EPOCHS, "cnn_recipe": CNN_RECIPE,
                  "source_sha256": checksum, "weights_sha256": _file_sha256(weights),
                  **facts, "versions": _versions(), "host": platform.node(),
                  "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        partial = info.with_name(f".{info.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(partial, info)
    return weights


def weights_info(weights: str | os.PathLike) -> dict:
    """The facts recorded beside a weights file.

    Parameters
    ----------
    weights : path of a ``.npz`` weights file of :func:`pretrained_weights`

    Returns
    -------
    dict: source, rows, trained_rows, seed, epochs, cnn_recipe, source_sha256, weights_sha256,
    seconds, source_test_accuracy, versions, host, finished_at
    """
    path = Path(weights)
    return json.loads(path.with_suffix(".json").read_text())


@functools.lru_cache(maxsize=8)
def pretrained_layers(weights: str) -> tuple[tuple[np.ndarray, ...], ...]:
    """The per-layer weight arrays of a pretrained CNN's file, read once per process.

    Parameters
    ----------
    weights : path of a ``.npz`` weights file of :func:`pretrained_weights` (a string, so that
        the result is cached per file)

    Returns
    -------
    One tuple of arrays per layer of :func:`~datavsmath.models.build_cnn` (28x28, 10 classes),
    in layer order (layers without weights give an empty tuple); the last is the softmax head.
    """
    with np.load(weights) as f:
        keys = sorted(f.files, key=lambda k: tuple(int(p) for p in k.split(".")))
        layers: dict[int, list[np.ndarray]] = {}
        for key in keys:
            layers.setdefault(int(key.split(".")[0]), []).append(f[key])
    n = max(layers) + 1 if layers else 0
    return tuple(tuple(layers.get(i, ())) for i in range(n))


@dataclass(frozen=True)
class PretrainedBuild:
    """The CNN factory whose networks start from a pretrained CNN: ``PretrainedBuild("mnist")(10)``.

    The network factory of ``cnn_from_mnist`` and ``cnn_from_fashion``
    (:mod:`datavsmath.models`). Every layer but the softmax head gets the weights of the CNN pretrained on ``source``
    (:func:`pretrained_weights`); the head keeps its fresh initial
    weights, drawn from the random state the caller seeded (``KerasNet.fit`` and the fused
    programs seed it with the fit's seed before they build). Loading inside the build is what
    lets a fused program, which builds each copy's network from this factory, fine-tune from
    the same weights as a naive fit. Frozen, so that equal factories share a fused program.

    source : the dataset pretrained on ("mnist" or "fashion")
    rows : its training rows pretrained on; None for all (fewer only for smoke tests)
    root : the folder of the weights files; None for the package's cache
        (``<cache root>/pretrained``)
    """

    source: str
    rows: int | None = None
    root: str | None = None

    def weights(self) -> str:
        """The pretrained weights file (built on first use)."""
        return _pretrained_file(self.source, self.rows, self.root)

    def __call__(self, n_classes: int = 10):
        model = build_cnn(n_classes)
        layers = pretrained_layers(self.weights())
        if len(layers) != len(model.layers):
            raise ValueError(f"the pretrained weights {self.weights()} hold {len(layers)} layers; "
                             f"the CNN has {len(model.layers)}: delete the file to rebuild it")
        for layer, arrays in zip(model.layers[:-1], layers[:-1]):
            if arrays:
                layer.set_weights(list(arrays))
        return model


@functools.lru_cache(maxsize=None)
def _pretrained_file(source: str, rows: int | None, root: str | None) -> str:
    return str(pretrained_weights(Pretraining(source, rows), root=root))


def pretrained_cnn(build: PretrainedBuild) -> Callable:
    """The make function of a CNN fine-tuned from ``build``'s weights with R's recipe.

    Parameters
    ----------
    build : the network factory whose weights the fine-tuning starts from

    Returns
    -------
    ``make(seed, n_classes, input_shape, dataset=None) -> KerasNet``; it raises ValueError for
    images other than 28x28 and for the source dataset itself.
    """

    def make(seed: int, k: int, shape=(28, 28), dataset: str | None = None):
        if dataset == build.source:
            raise ValueError(f"a CNN pretrained on {dataset} cannot be fine-tuned on {dataset} itself (it has "
                             "seen every training row); fine-tune it on another dataset")
        if tuple(shape) != (28, 28):
            raise ValueError(f"a CNN pretrained on {build.source} takes 28x28 images like its source; this "
                             f"dataset's examples have shape {tuple(shape)}")
        build.weights()  # pretrained here, on first use, not inside the timed fit
        return KerasNet(build, cnn_optimizer, image_features, epochs=12, n_classes=k, seed=seed)

    return make


def describe_pretrained(build: PretrainedBuild) -> str:
    """The registry's one-line description of a CNN fine-tuned from ``build``'s weights.

    Parameters
    ----------
    build : the network factory of the fine-tuned CNN

    Returns
    -------
    str
    """
    rows = "all 60,000" if build.rows is None else f"the first {build.rows:,}"
    smoke = "" if build.rows is None else "; SMOKE TEST ONLY"
    return (f"cnn pretrained on {rows} training rows of {build.source} (all layers but the head), then "
            f"fine-tuned with R's recipe (Adadelta lr 1.0, 12 epochs){smoke}")
