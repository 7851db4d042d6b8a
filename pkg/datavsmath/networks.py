"""The keras networks of R's testbench: their layers, optimizers and loss, and the estimator
that trains them as R's ``fit(..., validation_split = 0.2)`` did.

:func:`build_dnn` and :func:`build_cnn` are R's two networks, their input and output layers
following the example shape and class count (the CNN adapts below 6x6 images, see
:mod:`datavsmath.models`); :func:`dnn_optimizer`, :func:`cnn_optimizer` and
:func:`crossentropy` are keras 2.2's defaults and update rules on keras 3
(:mod:`datavsmath.keras22`). :class:`KerasNet` puts them together as a scikit-learn-style
estimator; the registry (:data:`datavsmath.models.MODELS`) names its settings per model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .devices import keras_backend

__all__ = ["CNN_RECIPE", "flat_features", "image_features", "build_dnn", "build_cnn", "dnn_optimizer", "cnn_optimizer", "crossentropy", "validation_cut",
           "KerasNet", "ShapedBuild"]

#: the recipe version of the CNN this module builds and trains (build_cnn, cnn_optimizer,
#: crossentropy): the registry's ``cnn`` recipe (:class:`datavsmath.models.ModelSpec`), and
#: part of a pretrained CNN's file name (:mod:`datavsmath.pretraining`)
CNN_RECIPE = 2


# --- preprocessing -------------------------------------------------------------------------

def _scaled(x) -> np.ndarray:
    """uint8 grey levels / 255 (R's preprocessing); other numbers are features, as given."""
    x = np.asarray(x)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def flat_features(x: np.ndarray) -> np.ndarray:
    """Examples as flat feature rows, for the forest, xgboost and the DNN.

    Parameters
    ----------
    x : array-like, shape (n, h, w) or (n, p)
        Images (uint8 grey levels, scaled to [0, 1]) or feature rows (used as given).

    Returns
    -------
    ndarray of float32, shape (n, h*w) or (n, p)
        E.g. uint8 (n, 28, 28) -> (n, 784) in [0, 1].
    """
    return _scaled(x).reshape(len(x), -1)


def image_features(x: np.ndarray) -> np.ndarray:
    """Images with a channel axis, for the CNN.

    Parameters
    ----------
    x : array-like, shape (n, h, w)
        Grey images; uint8 grey levels are scaled to [0, 1].

    Returns
    -------
    ndarray of float32, shape (n, h, w, 1)

    Raises
    ------
    ValueError
        When ``x`` is not (n, h, w), e.g. feature rows.
    """
    x = _scaled(x)
    if x.ndim != 3:
        raise ValueError(f"the CNN needs images of shape (n, height, width), got {x.shape}")
    return x.reshape(*x.shape[:3], 1)

def build_dnn(n_classes: int = 10, input_shape: tuple[int, ...] = (28, 28)):
    """Dense 256 relu -> Dropout 0.4 -> Dense 128 relu -> Dropout 0.3 -> Dense softmax, on the
    flattened example (784 inputs for 28x28).

    Parameters
    ----------
    n_classes : int
        Units of the softmax layer.
    input_shape : tuple of int
        Shape of one example, (h, w) or (p,); the network takes its product as inputs.

    Returns
    -------
    keras.Sequential
        The uncompiled network, named "dnn".
    """
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

    Parameters
    ----------
    n_classes : int
        Units of the softmax layer.
    input_shape : tuple of (int, int)
        (height, width) of the grey images. R's layers unchanged from 28x28 down to 6x6;
        smaller images get "same" convolutions (below 6 pixels a side) and no pooling (below
        2), see the module docstring.

    Returns
    -------
    keras.Sequential
        The uncompiled network, named "cnn", taking (h, w, 1) inputs.

    Raises
    ------
    ValueError
        When ``input_shape`` is not (height, width): feature rows have no images to convolve.
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
    [1e-7, 1 - 1e-7]). See :func:`datavsmath.keras22.categorical_crossentropy`.

    Parameters
    ----------
    y_true : tensor, shape (batch, k)
        One-hot targets.
    y_pred : tensor, shape (batch, k)
        Softmax outputs.

    Returns
    -------
    tensor, shape (batch,)
        The loss of each example, in nats.
    """
    keras_backend()
    from .keras22 import categorical_crossentropy

    return categorical_crossentropy(y_true, y_pred)


def validation_cut(n_rows: int, validation_split: float = 0.2) -> int:
    """Rows keras trains on under ``validation_split``: the first floor(n * (1 - split)).

    Parameters
    ----------
    n_rows : int
        Rows given to ``fit``.
    validation_split : float
        The fraction keras holds out from the end, in [0, 1).

    Returns
    -------
    int
        The number of leading rows trained on (0 when too few rows leave none).
    """
    return int(math.floor(n_rows * (1.0 - validation_split)))


class KerasNet:
    """A keras network trained as R's ``fit(..., validation_split = 0.2)`` did.

    Keras holds out the *last* 20% of the rows it is given and never trains on them; we
    train on exactly the first ``floor(0.8 n)`` rows and skip scoring the held-out part each
    epoch, which R only displayed and which does not change the weights.

    Parameters
    ----------
    build : callable
        ``build(n_classes)`` -> an uncompiled keras model (:func:`build_dnn`, :func:`build_cnn`,
        a :class:`ShapedBuild` for other shapes).
    optimizer : callable
        ``optimizer()`` -> a fresh keras optimizer for each fit (:func:`dnn_optimizer`,
        :func:`cnn_optimizer`).
    features : callable
        Preprocessing of the examples, (n, ...) -> the network's inputs
        (:func:`datavsmath.models.flat_features`, :func:`datavsmath.models.image_features`).
    epochs : int
        Passes over the training rows (R: 30 for the DNN, 12 for the CNN).
    batch_size : int
        Rows per gradient step.
    validation_split : float
        The fraction of the rows, at the end, that R's fit held out and we leave out.
    n_classes : int
        Classes of the labels: the width of the one-hot targets and of ``predict_proba``.
    seed : int
        keras' global seed, set at each fit (initial weights, dropout, shuffling).
    verbose : int
        keras' ``fit`` verbosity (0: silent).
    loss : callable
        Maps (batch, k) one-hot targets and (batch, k) probabilities to (batch,) losses;
        the default is keras 2.2's categorical cross-entropy (:func:`crossentropy`), which keras
        3's own differs from on TensorFlow.
    callbacks : tuple
        keras callbacks passed to the naive fit (e.g. progress lines); they watch the training
        and do not change it.
    """

    def __init__(self, build: Callable, optimizer: Callable, features: Callable, epochs: int,
                 batch_size: int = 128, validation_split: float = 0.2, n_classes: int = 10,
                 seed: int = 0, verbose: int = 0, loss: Callable = crossentropy, callbacks: tuple = ()):
        self.build, self.optimizer, self.features, self.loss = build, optimizer, features, loss
        self.epochs, self.batch_size, self.validation_split = epochs, batch_size, validation_split
        self.n_classes, self.seed, self.verbose = n_classes, seed, verbose
        self.callbacks = tuple(callbacks)

    def fit(self, x, y):
        """Build, compile and train a fresh network on the first ``validation_cut`` rows.

        Parameters
        ----------
        x : ndarray, shape (n, ...)
            Training examples, as ``features`` takes them.
        y : array-like of int, shape (n,)
            Labels in [0, n_classes).

        Returns
        -------
        KerasNet
            This estimator, fitted (``model_``).

        Raises
        ------
        ValueError
            When ``validation_split`` leaves no row to train on.
        """
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
        """The network's softmax outputs.

        Parameters
        ----------
        x : ndarray, shape (m, ...)
            Examples shaped as in :meth:`fit`.

        Returns
        -------
        ndarray of float32, shape (m, n_classes)
        """
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
