"""Fused training: many independent copies of one keras network in one compiled program.

The cells of a damage experiment train the same network on the same images and differ only
in their labels and seeds (common random numbers, see :mod:`datavsmath.experiments`). Trained
one after another, as the R loop did, each small fit spends much of its time in per-step
overhead; :class:`FusedKerasNets` trains N such cells as N copies in one program instead.

What each copy keeps from the naive path (:class:`datavsmath.models.KerasNet`):

* the network and optimizer come from the *same* factories (``build_dnn`` / ``build_cnn``,
  ``dnn_optimizer`` / ``cnn_optimizer``), built right after ``keras.utils.set_random_seed``
  with the copy's own seed, so its initial weights and dropout seeds equal those of a naive
  fit with that seed;
* its own weights, optimizer state (Adadelta / RMSprop slots) and labels, and the template's
  loss (keras 2.2's categorical cross-entropy);
* epochs, batch 128, and training on the first ``floor(0.8 n)`` rows only
  (keras' ``validation_split = 0.2``);
* a fresh uniformly random order of those rows every epoch, drawn for each copy from its own
  seed (copies do *not* share an order, so no cell is correlated with another beyond the
  shared rows that the grid's common random numbers already give).

The loss of a step is the *sum* over copies of each copy's mean categorical cross-entropy,
so the gradient with respect to copy i's weights is exactly the gradient of copy i's loss:
copies never interact. Two differences from keras' ``fit`` change no cell's distribution:
the shuffle order comes from numpy instead of ``tf.random.shuffle``, and the short last batch
of an epoch is padded to the full batch with zero-weight rows, so that one compiled program
serves every step (the loss is the weighted mean over the real rows, the same gradient as the
short batch).

The data stay on the device: the training images go there once per fit and each step gathers
its batch rows there. The program is written for the keras backend in use: TensorFlow (the
default; ``tf.function`` and ``GradientTape``, one epoch as one graph loop, each step
XLA-compiled if ``jit``, the default on a GPU) or JAX (``KERAS_BACKEND=jax``; ``jax.jit`` of
``value_and_grad`` over keras' stateless calls, one compiled step per batch, dispatched
asynchronously; JAX always compiles with XLA, so ``jit`` only affects TensorFlow). Both train
the same factories' networks with the same optimizers. Compiled programs are kept and reused
by later fits of the same shape, which re-seed the weights instead of rebuilding (tracing and
compilation are paid once per shape, not once per fit).

Mixed precision is not used: it would change the numbers, and the project's test suite, which
runs without a GPU, could not check it against the naive path.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..models import KerasNet, gpu_name, keras_backend, make_model, validation_cut

__all__ = ["FusedKerasNets", "Plan", "BACKENDS", "CPU_POLICY", "GPU_MAX_COPIES", "configure_devices", "device_profile",
           "fusable", "plan_for", "copy_bytes"]

log = logging.getLogger(__name__)

#: values of ``datavsmath run --backend``
BACKENDS = ("auto", "naive", "fused")

#: On a CPU, what ``--backend auto`` does per network: copies per fused program at most, and
#: whether to compile steps with XLA. Chosen from ``make bench`` on a 2-core AMD EPYC
#: (bench/results/): the DNN is overhead-bound in ``model.fit`` (one fused copy: 2.1x at
#: 60,000 rows, 2.9x at 3,000; 8 copies a little more); the CNN is bound by its convolution
#: arithmetic (1.2x with one copy, 1.24x with two at 12,000 rows); XLA on this CPU is slower
#: for both.
CPU_POLICY = {
    "dnn": {"fused": True, "max_copies": 8, "jit": False},
    "cnn": {"fused": True, "max_copies": 2, "jit": False},
}

#: share of a GPU's free memory that fused copies may plan to use (XLA needs scratch space,
#: and xgboost or another worker may share the device)
GPU_MEMORY_SHARE = 0.5

#: copies per program on a GPU at most, per network (others: 32), measured by ``make bench``
#: on one H100 at 48,000 training rows (bench/results/): the DNN gains up to 32 copies (1, 8,
#: 32 copies: 2.1x, 5.2x, 12.4x naive ``model.fit``); the CNN peaks near 8 (1.7x, 4.4x; 32
#: copies 3.5x: past 8 the step is bound by the convolutions' arithmetic, and larger programs
#: only cost compile time and memory)
GPU_MAX_COPIES = {"dnn": 32, "cnn": 8}


# --- devices -------------------------------------------------------------------------------

def configure_devices() -> None:
    """Let the keras backend take GPU memory on demand instead of reserving it all, so that
    xgboost (CUDA) and other processes can share the device. Call before the first TF or JAX
    op; a no-op on CPU machines and once the backend has started."""
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if keras_backend() != "tensorflow":
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised: the env var above applied
            pass


def _gpu_free_bytes() -> int | None:
    """Free memory of the first visible GPU in bytes (nvidia-smi), or None if unknown."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    cmd = [smi, "--query-gpu=memory.free", "--format=csv,noheader,nounits"]
    if visible:
        cmd += ["-i", visible]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=True).stdout
        return int(float(out.split()[0]) * 2**20)  # MiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def device_profile() -> dict:
    """What this process trains on: ``{"gpu": name or None, "gpu_free_bytes": int or None,
    "cpu_cores": int}``. Dask workers report theirs to the client that plans the grid."""
    name = gpu_name()
    return {"gpu": name, "gpu_free_bytes": _gpu_free_bytes() if name else None,
            "cpu_cores": os.cpu_count() or 1}


# --- planning ------------------------------------------------------------------------------

def fusable(model: str) -> bool:
    """True if ``model`` is a keras network (a :class:`KerasNet`), which can be fused."""
    return isinstance(make_model(model, seed=0), KerasNet)


@functools.lru_cache(maxsize=None)
def copy_bytes(model: str, n_classes: int = 10) -> int:
    """Rough device memory of one fused copy of ``model`` in bytes: weights, gradient and two
    optimizer slots (4 x params), plus forward activations kept for the backward pass and
    their gradients (3 x activations x batch), all float32."""
    import keras

    net = make_model(model, seed=0, n_classes=n_classes)
    m = net.build(n_classes)
    acts = sum(math.prod(layer.output.shape[1:]) for layer in m.layers)
    inputs = math.prod(m.inputs[0].shape[1:])
    keras.backend.clear_session()
    return 4 * (4 * m.count_params() + net.batch_size * (3 * acts + inputs))


_NOT_FUSABLE = {"rf": "trees; all CPU cores (n_jobs=-1)", "xgb": "trees; CUDA when a GPU is present"}


@dataclass(frozen=True)
class Plan:
    """How one model of a grid is trained: ``backend`` "naive" (one ``model.fit`` per cell)
    or "fused" (cells that share training rows trained together, at most ``max_copies`` per
    program, steps compiled with XLA if ``jit``); ``reason`` says why, for the log."""

    model: str
    backend: str
    max_copies: int = 1
    jit: bool = False
    reason: str = ""

    def __str__(self) -> str:
        if self.backend == "naive":
            return f"{self.model} naive ({self.reason})"
        copies = f"{self.max_copies} cop{'y' if self.max_copies == 1 else 'ies'}"
        return f"{self.model} fused, up to {copies}{', XLA' if self.jit else ''} ({self.reason})"


def plan_for(model: str, requested: str = "auto", profile: dict | None = None) -> Plan:
    """Choose the backend for ``model`` on the device described by ``profile``
    (default: this process's :func:`device_profile`).

    requested : "auto" (GPU: fused; CPU: :data:`CPU_POLICY`), "naive" or "fused".
    """
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; choose from {', '.join(BACKENDS)}")
    if not fusable(model):
        return Plan(model, "naive", reason=_NOT_FUSABLE.get(model, "not a keras network"))
    if requested == "naive":
        return Plan(model, "naive", reason="--backend naive")
    profile = profile if profile is not None else device_profile()
    if profile.get("gpu"):
        free = profile.get("gpu_free_bytes") or 16 * 2**30
        fit = int(GPU_MEMORY_SHARE * free // copy_bytes(model))
        return Plan(model, "fused", max(1, min(GPU_MAX_COPIES.get(model, 32), fit)), jit=True,
                    reason=f"GPU {profile['gpu']}, {free / 2**30:.0f} GiB free")
    policy = CPU_POLICY.get(model, {"fused": True, "max_copies": 4, "jit": False})
    if requested == "fused":
        return Plan(model, "fused", policy["max_copies"], policy["jit"], reason="--backend fused, CPU")
    if not policy["fused"]:
        return Plan(model, "naive", reason="CPU policy, measured in bench/results")
    return Plan(model, "fused", policy["max_copies"], policy["jit"],
                reason="CPU policy, measured in bench/results")


# --- the fused program ---------------------------------------------------------------------

class _Program:
    """N copies of one network with their optimizers and compiled train / predict functions,
    for the keras backend in use (subclasses). Kept in a small cache and re-seeded by each fit
    of the same shape (see module docs).

    run_epoch(x, y, order, w): x (n, *features) and y (N, n) int32 on the device (from
    ``to_device``), order (S, N, B) int32 row indices, w (S, B) float32 row weights (numpy).
    predict(xb): (B', *features) numpy -> (N, B', k) numpy.
    """

    def __init__(self, template: KerasNet, n_copies: int, jit: bool):
        self.template, self.n_copies, self.jit = template, n_copies, jit
        self.owner = None  # the estimator whose weights the copies hold now
        self.k = template.n_classes
        self.models = [template.build(self.k) for _ in range(n_copies)]
        self.optimizers = [template.optimizer() for _ in range(n_copies)]
        for opt, m in zip(self.optimizers, self.models):
            opt.build(m.trainable_variables)

    def reset(self, seeds: Sequence[int]) -> None:
        """Give copy i the initial weights, dropout seeds and optimizer state of a naive fit
        with ``seeds[i]``: build that fit's network from its factory and copy its state in."""
        import keras

        for i, seed in enumerate(seeds):
            keras.utils.set_random_seed(int(seed))
            fresh = self.template.build(self.template.n_classes)
            for v, f in zip(self.models[i].variables, fresh.variables):
                v.assign(f.value)
            opt = self.template.optimizer()
            opt.build(fresh.trainable_variables)
            for v, f in zip(self.optimizers[i].variables, opt.variables):
                v.assign(f.value)

    def weights(self, copy: int) -> list[np.ndarray]:
        return self.models[copy].get_weights()


class _TFProgram(_Program):
    """TensorFlow: one ``tf.function`` per epoch looping over steps (each step optionally
    XLA-compiled), gradients from one ``GradientTape`` over the summed loss."""

    def __init__(self, template: KerasNet, n_copies: int, jit: bool):
        import tensorflow as tf

        super().__init__(template, n_copies, jit)
        k, models, optimizers, loss = self.k, self.models, self.optimizers, template.loss
        var_lists = [m.trainable_variables for m in models]
        flat_vars = [v for vs in var_lists for v in vs]
        sizes = [len(vs) for vs in var_lists]

        def train_step(xb, yb, w):
            """xb (N, B, *features) float32, yb (N, B) int32, w (B,) float32 row weights."""
            with tf.GradientTape() as tape:
                total = 0.0
                for i, m in enumerate(models):
                    proba = m(xb[i], training=True)
                    ce = loss(tf.one_hot(yb[i], k), proba)
                    total += tf.reduce_sum(ce * w) / tf.reduce_sum(w)  # copy i's batch mean
            grads = tape.gradient(total, flat_vars)
            start = 0
            for opt, vs, n in zip(optimizers, var_lists, sizes):
                opt.apply(grads[start:start + n], vs)
                start += n
            return total

        step = tf.function(train_step, jit_compile=jit, reduce_retracing=True)

        @tf.function(reduce_retracing=True)
        def run_epoch(x, y, order, w):
            loss = tf.constant(0.0)
            for s in tf.range(tf.shape(order)[0]):
                idx = order[s]
                loss = step(tf.gather(x, idx), tf.gather(y, idx, batch_dims=1), w[s])
            return loss

        @tf.function(jit_compile=jit, reduce_retracing=True)
        def predict(xb):
            return tf.stack([m(xb, training=False) for m in models])  # (N, B', k)

        self._run_epoch, self._predict = run_epoch, predict

    def to_device(self, array: np.ndarray):
        import tensorflow as tf

        return tf.identity(tf.constant(array))  # placed on the default device (a GPU if any)

    def run_epoch(self, x, y, order: np.ndarray, w: np.ndarray) -> None:
        import tensorflow as tf

        self._run_epoch(x, y, tf.constant(order), tf.constant(w))

    def predict(self, xb: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._predict(tf.constant(xb)).numpy()


class _JaxProgram(_Program):
    """JAX: the copies' weights, dropout seeds and optimizer slots are one pytree of arrays;
    a step is one jitted function (``value_and_grad`` of the summed loss through keras'
    ``stateless_call``, then the optimizers' ``stateless_apply``) whose shapes do not depend
    on the cell's size, so it compiles once per program; each step's batch is gathered on
    the device by a small jitted gather, the only part compiled again for a new size."""

    def __init__(self, template: KerasNet, n_copies: int, jit: bool):
        import jax
        import jax.numpy as jnp

        super().__init__(template, n_copies, jit)
        k, models, optimizers, loss = self.k, self.models, self.optimizers, template.loss

        def loss_fn(trainable, non_trainable, xb, yb, w):
            total, new_non_trainable = 0.0, []
            for i, m in enumerate(models):
                proba, nt = m.stateless_call(trainable[i], non_trainable[i], xb[i], training=True)
                ce = loss(jax.nn.one_hot(yb[i], k), proba)
                total = total + jnp.sum(ce * w) / jnp.sum(w)  # copy i's batch mean
                new_non_trainable.append(nt)
            return total, new_non_trainable

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def step(state, xb, yb, w):
            """xb (N, B, *features) float32, yb (N, B) int32, w (B,) float32 row weights."""
            trainable, non_trainable, slots = state
            (loss, non_trainable), grads = grad_fn(trainable, non_trainable, xb, yb, w)
            new = [opt.stateless_apply(slots[i], grads[i], trainable[i]) for i, opt in enumerate(optimizers)]
            return ([t for t, _ in new], non_trainable, [o for _, o in new]), loss

        def gather(x, y, order, w, s):
            idx = order[s]  # (N, B)
            return x[idx], jnp.take_along_axis(y, idx, axis=1), w[s]

        def predict(state, xb):
            trainable, non_trainable, _ = state
            return jnp.stack([m.stateless_call(trainable[i], non_trainable[i], xb, training=False)[0]
                              for i, m in enumerate(models)])

        self._step = jax.jit(step, donate_argnums=0)
        self._gather = jax.jit(gather)
        self._predict = jax.jit(predict)
        self.state = None

    def reset(self, seeds: Sequence[int]) -> None:
        import jax.numpy as jnp

        super().reset(seeds)
        copy = lambda vs: [jnp.array(v.value) for v in vs]  # noqa: E731 (donated each epoch)
        self.state = ([copy(m.trainable_variables) for m in self.models],
                      [copy(m.non_trainable_variables) for m in self.models],
                      [copy(o.variables) for o in self.optimizers])

    def to_device(self, array: np.ndarray):
        import jax

        return jax.device_put(array)

    def run_epoch(self, x, y, order: np.ndarray, w: np.ndarray) -> None:
        import jax

        order_dev, w_dev = jax.device_put(order), jax.device_put(w)
        for s in range(len(order)):  # dispatch is asynchronous: the device never waits on Python
            xb, yb, wb = self._gather(x, y, order_dev, w_dev, s)
            self.state, _ = self._step(self.state, xb, yb, wb)

    def predict(self, xb: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(self.state, xb))

    def weights(self, copy: int) -> list[np.ndarray]:
        trainable, non_trainable, _ = self.state
        m = self.models[copy]
        for v, value in zip(m.trainable_variables, trainable[copy]):
            v.assign(value)
        for v, value in zip(m.non_trainable_variables, non_trainable[copy]):
            v.assign(value)
        return m.get_weights()


_PROGRAMS: OrderedDict = OrderedDict()
_MAX_PROGRAMS = 3


def _program(template: KerasNet, n_copies: int, jit: bool) -> _Program:
    backend = keras_backend()
    key = (backend, template.build, template.optimizer, template.loss, template.n_classes, template.batch_size, n_copies, jit)
    prog = _PROGRAMS.pop(key, None)
    if prog is None:
        prog = (_JaxProgram if backend == "jax" else _TFProgram)(template, n_copies, jit)
    _PROGRAMS[key] = prog
    while len(_PROGRAMS) > _MAX_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return prog


def clear_programs() -> None:
    """Drop the cached programs (and the device memory of their copies)."""
    _PROGRAMS.clear()


class FusedKerasNets:
    """Train N independent copies of a keras network on one set of images.

    Parameters
    ----------
    template : a :class:`~datavsmath.models.KerasNet` (e.g. ``make_model("cnn", seed)``);
        its factories and settings (epochs, batch size, validation split) are used as they are
    seeds : one seed per copy (the naive path's ``cell.model_seed(model)``)
    jit : compile each step with XLA (the default on a GPU)

    ``fit(x, ys)`` takes images ``x`` (n, 28, 28) uint8 and labels ``ys`` (N, n) int, one row
    per copy; ``predict_proba(x)`` returns (N, m, n_classes) float32. Copy i is trained and
    scored as ``KerasNet`` with ``seeds[i]`` on ``(x, ys[i])`` would be.

    A later fit with the same network, copy count and device reuses this fit's program and
    overwrites its weights; predict before fitting the next group.
    """

    def __init__(self, template: KerasNet, seeds: Sequence[int], jit: bool | None = None):
        if not isinstance(template, KerasNet):
            raise TypeError(f"only keras networks can be fused, got {type(template).__name__}")
        if len(seeds) < 1:
            raise ValueError("give at least one seed (one per copy)")
        self.template, self.seeds = template, [int(s) for s in seeds]
        self.jit = bool(gpu_name()) if jit is None else bool(jit)

    @classmethod
    def for_model(cls, model: str, seeds: Sequence[int], n_classes: int = 10, jit: bool | None = None):
        """Fused copies of the registered model ``model`` ("dnn", "cnn")."""
        return cls(make_model(model, seed=int(seeds[0]), n_classes=n_classes), seeds, jit)

    @property
    def n_copies(self) -> int:
        return len(self.seeds)

    def order(self, rng: np.random.Generator, n_train: int) -> tuple[np.ndarray, np.ndarray]:
        """One epoch's row order of one copy, padded: indices (S, B) and row weights (S, B),
        S = ceil(n_train / B); padded slots index row 0 with weight 0."""
        batch = self.template.batch_size
        steps = -(-n_train // batch)
        idx = np.zeros(steps * batch, dtype=np.int32)
        idx[:n_train] = rng.permutation(n_train)
        w = np.zeros(steps * batch, dtype=np.float32)
        w[:n_train] = 1.0
        return idx.reshape(steps, batch), w.reshape(steps, batch)

    def fit(self, x: np.ndarray, ys, on_epoch=None) -> "FusedKerasNets":
        """Train every copy; ``on_epoch(done, epochs)`` is called after each epoch (progress)."""
        t = self.template
        ys = np.asarray(ys)
        if ys.ndim != 2 or ys.shape != (self.n_copies, len(x)):
            raise ValueError(f"ys must have shape (n_copies, n_rows) = ({self.n_copies}, {len(x)}), got {ys.shape}")
        cut = validation_cut(len(x), t.validation_split)
        if cut < 1:
            raise ValueError(f"{len(x)} rows leave nothing to train on after validation_split={t.validation_split}")
        prog = _program(t, self.n_copies, self.jit)
        prog.reset(self.seeds)
        prog.owner = self
        # only the first floor(0.8 n) rows exist for training, as under keras' validation_split
        x_dev = prog.to_device(t.features(x[:cut]))
        y_dev = prog.to_device(ys[:, :cut].astype(np.int32))
        # each copy shuffles with its own stream, independent of its initialiser stream
        rngs = [np.random.default_rng([seed, 0x5EED]) for seed in self.seeds]
        for epoch in range(t.epochs):
            orders = [self.order(rng, cut) for rng in rngs]
            order = np.stack([o for o, _ in orders], axis=1)  # (S, N, B)
            prog.run_epoch(x_dev, y_dev, order, orders[0][1])
            if on_epoch is not None:
                on_epoch(epoch + 1, t.epochs)
        self._program = prog
        return self

    def predict_proba(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities of every copy: (N, len(x), n_classes) float32."""
        prog = getattr(self, "_program", None)
        if prog is None:
            raise RuntimeError("fit first")
        if prog.owner is not self:
            raise RuntimeError("a later fit of the same shape reused this program; predict before the next fit")
        feats = self.template.features(x)
        n = len(feats)
        out = []
        for start in range(0, n, batch_size):
            part = feats[start:start + batch_size]
            pad = batch_size - len(part)  # one compiled shape for every batch
            if pad:
                part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), part.dtype)])
            out.append(prog.predict(part)[:, :batch_size - pad])
        return np.concatenate(out, axis=1)

    def weights(self, copy: int) -> list[np.ndarray]:
        """Trained weights of one copy (numpy arrays, the network's ``get_weights`` order)."""
        if getattr(self, "_program", None) is None or self._program.owner is not self:
            raise RuntimeError("fit first (and before the next fit of the same shape)")
        return self._program.weights(copy)
