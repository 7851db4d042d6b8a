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

Copies may also train on different rows of one image base (:meth:`FusedKerasNets.fit_rows`:
the size experiment's cells, one sample fraction each): each copy keeps its own validation cut,
shuffle and steps per epoch, and a copy with fewer steps than the group's longest is padded
with empty steps that leave all of its state (weights, dropout seeds, optimizer slots and step
counter) exactly as it was.

The data stay on the device: the image base goes there once and stays across fits (the grid
passes all training images), and each step gathers its batch rows there. The program is written
for the keras backend in use: TensorFlow (the default; ``tf.function`` and ``GradientTape``, one
epoch as one graph loop, each step XLA-compiled if ``jit``, the default on a GPU) or JAX
(``KERAS_BACKEND=jax``; ``value_and_grad`` over keras' stateless calls and the optimizers'
``stateless_apply``, one epoch as one jitted ``fori_loop`` over its steps with the state
donated; JAX always compiles with XLA, so ``jit`` only affects TensorFlow). Both train the same
factories' networks with the same optimizers. Compiled programs are kept and reused by later
fits of the same shape, which re-seed the weights instead of rebuilding (tracing and
compilation are paid once per network and copy count, not once per fit).

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

__all__ = ["FusedKerasNets", "Plan", "BACKENDS", "CPU_POLICY", "GPU_MAX_COPIES", "PROGRAM_VERSION",
           "configure_devices", "device_profile", "fusable", "plan_for", "copy_bytes"]

log = logging.getLogger(__name__)

#: version of the fused training program, beside each model's recipe: bump it with any change
#: here that moves the numbers (the step, the loss, the row order, padding, the dropout
#: stream), so that a fused cell records which program trained it and ``datavsmath verify``
#: knows when no envelope applies. tests/test_program_version.py pins the program's output on
#: a fixed small case and fails when it moves while this stays
PROGRAM_VERSION = 1

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



class _Program:
    """N copies of one network with their optimizers and compiled train / predict functions,
    for the keras backend in use (subclasses). Kept in a small cache and re-seeded by each fit
    of the same shape (see module docs).

    run_epoch(x, rowmap, y, order, w, masked): x (n_base, *features) float32, rowmap (N, L)
    and y (N, L) int32 on the device (from ``to_device``): copy i's training position p is base
    row ``rowmap[i, p]`` with label ``y[i, p]``; order (S, N, B) int32 positions and w (S, N, B)
    float32 row weights (numpy; 0 marks padding). ``masked``: some copy has a step whose
    weights are all 0 (it has fewer steps than another copy); such a step must leave that copy's
    weights, dropout seeds and optimizer state exactly as they were. Returns a handle to the
    epoch's last summed loss (``wait`` blocks on it).
    predict(x): (m, *features) numpy -> (N, m, k) numpy.

    ``one_call`` (default True): run an epoch as one compiled call; False dispatches one
    compiled step per batch from Python (the same step; kept as the reference the tests compare
    the one-call epoch with).
    """

    one_call = True

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

    def padded_steps(self, steps: int, base_steps: int) -> int:
        """Steps S' >= ``steps`` that an epoch's order array is padded to (the padded steps
        are never run). The base's own step count by default, so that every fit on one base
        compiles the same shapes."""
        return steps

    def wait(self, handle) -> None:
        """Block until the epoch that returned ``handle`` has finished."""

    def weights(self, copy: int) -> list[np.ndarray]:
        return self.models[copy].get_weights()

    def optimizer_iterations(self, copy: int) -> int:
        """Optimizer steps copy ``copy`` has taken (keras' ``iterations`` counter)."""
        return int(np.asarray(self.optimizers[copy].iterations.value))


def _copy_loss(ce, w):
    """One copy's batch loss: the mean cross-entropy over its real rows (``w`` 0/1 row weights;
    the max keeps an all-padding batch, whose result is discarded, finite)."""
    from keras import ops

    return ops.sum(ce * w) / ops.maximum(ops.sum(w), 1.0)


class _TFProgram(_Program):
    """TensorFlow: one ``tf.function`` per epoch looping over steps (each step optionally
    XLA-compiled), gradients from one ``GradientTape`` over the summed loss. In a masked epoch
    each copy's step sits in its own ``tf.cond``: a copy without rows in a step skips it, its
    forward pass (and so its dropout seed) included."""

    def __init__(self, template: KerasNet, n_copies: int, jit: bool):
        import tensorflow as tf

        super().__init__(template, n_copies, jit)
        k, models, optimizers, loss = self.k, self.models, self.optimizers, template.loss
        var_lists = [m.trainable_variables for m in models]
        flat_vars = [v for vs in var_lists for v in vs]
        sizes = [len(vs) for vs in var_lists]

        def train_step(xb, yb, w):
            """xb (N, B, *features) float32, yb (N, B) int32, w (N, B) float32 row weights."""
            with tf.GradientTape() as tape:
                total = 0.0
                for i, m in enumerate(models):
                    proba = m(xb[i], training=True)
                    ce = loss(tf.one_hot(yb[i], k), proba)
                    total += _copy_loss(ce, w[i])
            grads = tape.gradient(total, flat_vars)
            start = 0
            for opt, vs, n in zip(optimizers, var_lists, sizes):
                opt.apply(grads[start:start + n], vs)
                start += n
            return total

        def copy_step(i, xb, yb, w):
            with tf.GradientTape() as tape:
                proba = models[i](xb, training=True)
                value = _copy_loss(loss(tf.one_hot(yb, k), proba), w)
            optimizers[i].apply(tape.gradient(value, var_lists[i]), var_lists[i])
            return value

        def masked_step(xb, yb, w):
            total = tf.constant(0.0)
            for i in range(len(models)):
                total += tf.cond(tf.reduce_sum(w[i]) > 0,
                                 lambda i=i: copy_step(i, xb[i], yb[i], w[i]), lambda: tf.constant(0.0))
            return total

        steps = {False: tf.function(train_step, jit_compile=jit, reduce_retracing=True),
                 True: tf.function(masked_step, jit_compile=jit, reduce_retracing=True)}

        def batch(x, rowmap, y, order, w, s):
            idx = order[s]  # (N, B) positions
            return (tf.gather(x, tf.gather(rowmap, idx, batch_dims=1)), tf.gather(y, idx, batch_dims=1), w[s])

        def make_epoch(masked):
            step = steps[masked]

            @tf.function(reduce_retracing=True)
            def run_epoch(x, rowmap, y, order, w):
                loss = tf.constant(0.0)
                for s in tf.range(tf.shape(order)[0]):
                    loss = step(*batch(x, rowmap, y, order, w, s))
                return loss

            return run_epoch

        @tf.function(jit_compile=jit, reduce_retracing=True)
        def predict(xb):
            return tf.stack([m(xb, training=False) for m in models])  # (N, B', k)

        self._epochs = {False: make_epoch(False), True: make_epoch(True)}
        self._steps, self._batch, self._predict = steps, tf.function(batch, reduce_retracing=True), predict

    def to_device(self, array: np.ndarray):
        import tensorflow as tf

        return tf.identity(tf.constant(array))  # placed on the default device (a GPU if any)

    def run_epoch(self, x, rowmap, y, order: np.ndarray, w: np.ndarray, masked: bool = False, n_steps=None):
        import tensorflow as tf

        n_steps = len(order) if n_steps is None else int(n_steps)
        order, w = tf.constant(order[:n_steps]), tf.constant(w[:n_steps])
        if self.one_call:
            return self._epochs[bool(masked)](x, rowmap, y, order, w)
        loss = None
        for s in range(int(order.shape[0])):
            loss = self._steps[bool(masked)](*self._batch(x, rowmap, y, order, w, tf.constant(s)))
        return loss

    def predict(self, xb: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._predict(tf.constant(xb)).numpy()


class _JaxProgram(_Program):
    """JAX: the copies' weights, dropout seeds and optimizer slots are one pytree of arrays;
    a step is ``value_and_grad`` of the summed loss through keras' ``stateless_call``, then
    each copy's optimizer's ``stateless_apply`` (so any keras ``Optimizer`` subclass works
    unchanged). A whole epoch is one jitted call: a ``fori_loop`` over its steps with the
    state donated, each step gathering its batch from the device-resident rows. The step count
    is a traced argument and the order array is padded to the base's step count, so one
    compiled epoch serves every fit on the same rows base (the padded steps are not run).
    In a masked epoch a copy without rows in a step keeps its old state (a select on the
    whole copy: weights, dropout seed state, optimizer slots and counter)."""

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
                total = total + _copy_loss(ce, w[i])
                new_non_trainable.append(nt)
            return total, new_non_trainable

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

        def step(state, xb, yb, w, masked):
            """xb (N, B, *features) float32, yb (N, B) int32, w (N, B) float32 row weights."""
            trainable, non_trainable, slots = state
            (loss, new_nt), grads = grad_fn(trainable, non_trainable, xb, yb, w)
            new = [opt.stateless_apply(slots[i], grads[i], trainable[i]) for i, opt in enumerate(optimizers)]
            new_state = ([t for t, _ in new], new_nt, [o for _, o in new])
            if masked:
                active = jnp.sum(w, axis=1) > 0  # (N,)

                def keep(i, a, b, active=active):
                    return jax.tree_util.tree_map(lambda p, q: jnp.where(active[i], p, q), a, b)

                new_state = tuple([keep(i, part_new[i], part_old[i]) for i in range(len(models))]
                                  for part_new, part_old in zip(new_state, state))
            return new_state, loss

        def batch(x, rowmap, y, order, w, s):
            idx = order[s]  # (N, B) positions
            return x[jnp.take_along_axis(rowmap, idx, axis=1)], jnp.take_along_axis(y, idx, axis=1), w[s]

        def epoch(state, x, rowmap, y, order, w, n_steps, masked):
            def body(s, carry):
                return step(carry[0], *batch(x, rowmap, y, order, w, s), masked)

            return jax.lax.fori_loop(0, n_steps, body, (state, jnp.zeros((), jnp.float32)))

        def one_step(state, x, rowmap, y, order, w, s, masked):
            return step(state, *batch(x, rowmap, y, order, w, s), masked)

        def predict(state, xs):
            """xs (nb, b, *features) -> (N, nb * b, k): every batch of every copy in one call."""
            trainable, non_trainable, _ = state

            def one(xb):
                return jnp.stack([m.stateless_call(trainable[i], non_trainable[i], xb, training=False)[0]
                                  for i, m in enumerate(models)])

            out = jax.lax.map(one, xs)  # (nb, N, b, k)
            return jnp.moveaxis(out, 1, 0).reshape(len(models), -1, k)

        self._epoch = jax.jit(epoch, donate_argnums=0, static_argnames="masked")
        self._one_step = jax.jit(one_step, donate_argnums=0, static_argnames="masked")
        self._predict = jax.jit(predict)
        self.state = None

    def reset(self, seeds: Sequence[int]) -> None:
        import jax.numpy as jnp

        super().reset(seeds)
        copy = lambda vs: [jnp.array(v.value) for v in vs]  # noqa: E731 (donated each epoch)
        self.state = ([copy(m.trainable_variables) for m in self.models],
                      [copy(m.non_trainable_variables) for m in self.models],
                      [copy(o.variables) for o in self.optimizers])

    def padded_steps(self, steps: int, base_steps: int) -> int:
        return max(steps, base_steps)

    def to_device(self, array: np.ndarray):
        import jax

        return jax.device_put(array)

    def run_epoch(self, x, rowmap, y, order: np.ndarray, w: np.ndarray, masked: bool = False, n_steps=None):
        import jax

        n_steps = len(order) if n_steps is None else int(n_steps)
        order_dev, w_dev = jax.device_put(order), jax.device_put(w)
        if self.one_call:
            self.state, loss = self._epoch(self.state, x, rowmap, y, order_dev, w_dev, n_steps, masked=bool(masked))
            return loss
        loss = None
        for s in range(n_steps):  # dispatch is asynchronous: the device never waits on Python
            self.state, loss = self._one_step(self.state, x, rowmap, y, order_dev, w_dev, s, masked=bool(masked))
        return loss

    def wait(self, handle) -> None:
        if handle is not None:
            handle.block_until_ready()

    def predict(self, xs) -> np.ndarray:
        """xs (nb, b, *features), numpy or on the device -> (N, nb * b, k) numpy."""
        return np.asarray(self._predict(self.state, xs))

    def weights(self, copy: int) -> list[np.ndarray]:
        trainable, non_trainable, _ = self.state
        m = self.models[copy]
        for v, value in zip(m.trainable_variables, trainable[copy]):
            v.assign(value)
        for v, value in zip(m.non_trainable_variables, non_trainable[copy]):
            v.assign(value)
        return m.get_weights()

    def optimizer_iterations(self, copy: int) -> int:
        opt = self.optimizers[copy]
        slots = self.state[2][copy]
        for v, value in zip(opt.variables, slots):
            if v is opt.iterations or v.path == opt.iterations.path:
                return int(np.asarray(value))
        raise LookupError("the optimizer has no iterations variable")


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


#: images already on the device: (backend, features, id(x), batch) -> (x, device array). The
#: host array is kept so that its id cannot be reused while the entry lives; a cached array
#: must not be changed in place (the grid's images never are).
_DEVICE_IMAGES: OrderedDict = OrderedDict()
_MAX_DEVICE_IMAGES = 4


def _on_device(prog: _Program, features, x: np.ndarray, batch: int | None = None):
    """``features(x)`` on the device, uploaded once per array (the training base and the test
    images stay there across fits). With ``batch``, zero-padded to whole batches and shaped
    (nb, batch, *features)."""
    key = (keras_backend(), features, id(x), batch)
    hit = _DEVICE_IMAGES.pop(key, None)
    if hit is None or hit[0] is not x:
        f = features(x)
        if batch:
            nb = -(-len(f) // batch)
            f = np.concatenate([f, np.zeros((nb * batch - len(f), *f.shape[1:]), f.dtype)])
            f = f.reshape(nb, batch, *f.shape[1:])
        hit = (x, prog.to_device(f))
    _DEVICE_IMAGES[key] = hit
    while len(_DEVICE_IMAGES) > _MAX_DEVICE_IMAGES:
        _DEVICE_IMAGES.popitem(last=False)
    return hit[1]


def clear_programs() -> None:
    """Drop the cached programs and device images (and the device memory they hold)."""
    _PROGRAMS.clear()
    _DEVICE_IMAGES.clear()


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
    def for_model(cls, model: str, seeds: Sequence[int], n_classes: int = 10, jit: bool | None = None,
                  input_shape: tuple[int, ...] = (28, 28)):
        """Fused copies of the registered model ``model`` ("dnn", "cnn") for examples of
        ``input_shape``."""
        return cls(make_model(model, seed=int(seeds[0]), n_classes=n_classes, input_shape=input_shape),
                   seeds, jit)

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
        """Train every copy on the same rows: copy i on ``(x, ys[i])``. ``on_epoch(done,
        epochs)`` is called after each epoch (progress)."""
        ys = np.asarray(ys)
        if ys.ndim != 2 or ys.shape != (self.n_copies, len(x)):
            raise ValueError(f"ys must have shape (n_copies, n_rows) = ({self.n_copies}, {len(x)}), got {ys.shape}")
        rows = np.arange(len(x))
        return self.fit_rows(x, [rows] * self.n_copies, list(ys), on_epoch=on_epoch)

    def fit_rows(self, x: np.ndarray, rows, ys, on_epoch=None) -> FusedKerasNets:
        """Train every copy on its own rows of one image base.

        x : (n_base, 28, 28) uint8, the images all copies draw from (the grid passes all
            training images, which then stay on the device across fits)
        rows : N integer arrays, copy i's rows of ``x`` in the order a naive fit is given them
            (n_i of them; copies may differ in their rows and their number of rows)
        ys : N label arrays, ``ys[i]`` of shape (n_i,)

        Copy i is trained as ``KerasNet`` with ``seeds[i]`` on ``(x[rows[i]], ys[i])``: its own
        validation cut floor(0.8 n_i), its own shuffle each epoch, ceil(cut_i / 128) steps per
        epoch. Copies with fewer steps than the group's longest are padded with empty steps that
        change none of their state (weights, dropout seeds, optimizer slots and step counter).
        """
        t = self.template
        if len(rows) != self.n_copies or len(ys) != self.n_copies:
            raise ValueError(f"give one row array and one label array per copy ({self.n_copies}), "
                             f"got {len(rows)} and {len(ys)}")
        rows = [np.asarray(r) for r in rows]
        ys = [np.asarray(y) for y in ys]
        cuts = []
        for i, (r, y) in enumerate(zip(rows, ys)):
            if r.ndim != 1 or y.shape != r.shape:
                raise ValueError(f"copy {i}: rows and labels must be 1-d of one length, got {r.shape} and {y.shape}")
            if len(r) and (r.min() < 0 or r.max() >= len(x)):
                raise ValueError(f"copy {i}: rows must index x's {len(x)} images, got {r.min()}..{r.max()}")
            cut = validation_cut(len(r), t.validation_split)
            if cut < 1:
                raise ValueError(f"{len(r)} rows leave nothing to train on after validation_split={t.validation_split}")
            cuts.append(cut)
        batch = t.batch_size
        steps = [-(-c // batch) for c in cuts]
        prog = _program(t, self.n_copies, self.jit)
        prog.reset(self.seeds)
        prog.owner = self
        base_steps = -(-validation_cut(len(x), t.validation_split) // batch)
        padded = prog.padded_steps(max(steps), base_steps)
        # copy i's training position p is base row rowmap[i, p] with label labels[i, p]; only
        # its first floor(0.8 n_i) rows exist, as under keras' validation_split
        rowmap = np.zeros((self.n_copies, padded * batch), np.int32)
        labels = np.zeros((self.n_copies, padded * batch), np.int32)
        for i, (r, y, cut) in enumerate(zip(rows, ys, cuts)):
            rowmap[i, :cut], labels[i, :cut] = r[:cut], y[:cut]
        x_dev = _on_device(prog, t.features, x)
        rowmap_dev, labels_dev = prog.to_device(rowmap), prog.to_device(labels)
        masked = len(set(steps)) > 1
        # each copy shuffles with its own stream, independent of its initialiser stream
        rngs = [np.random.default_rng([seed, 0x5EED]) for seed in self.seeds]
        pending = None
        for epoch in range(t.epochs):
            order = np.zeros((padded, self.n_copies, batch), np.int32)
            w = np.zeros((padded, self.n_copies, batch), np.float32)
            for i, (rng, cut) in enumerate(zip(rngs, cuts)):
                o, wi = self.order(rng, cut)
                order[:len(o), i], w[:len(o), i] = o, wi
            # the next epoch is queued before the last one is waited on: the device never idles
            # while this thread draws orders or reports progress
            handle = prog.run_epoch(x_dev, rowmap_dev, labels_dev, order, w, masked, n_steps=max(steps))
            if pending is not None:
                prog.wait(pending)
                if on_epoch is not None:
                    on_epoch(epoch, t.epochs)
            pending = handle
        prog.wait(pending)
        if on_epoch is not None:
            on_epoch(t.epochs, t.epochs)
        self._program = prog
        return self

    def predict_proba(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities of every copy: (N, len(x), n_classes) float32. On JAX one call
        for all copies and all batches, the images cached on the device."""
        prog = getattr(self, "_program", None)
        if prog is None:
            raise RuntimeError("fit first")
        if prog.owner is not self:
            raise RuntimeError("a later fit of the same shape reused this program; predict before the next fit")
        if isinstance(prog, _JaxProgram):
            return prog.predict(_on_device(prog, self.template.features, x, batch_size))[:, :len(x)]
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

    def optimizer_steps(self, copy: int) -> int:
        """Optimizer steps one copy took (``epochs x ceil(floor(0.8 n) / 128)`` for a fit like
        ``model.fit``'s)."""
        if getattr(self, "_program", None) is None or self._program.owner is not self:
            raise RuntimeError("fit first (and before the next fit of the same shape)")
        return self._program.optimizer_iterations(copy)
