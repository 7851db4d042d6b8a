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
factories' networks with the same optimizers (:mod:`datavsmath.training.programs`). Compiled
programs are kept and reused by later fits of the same shape, which re-seed the weights instead
of rebuilding (tracing and compilation are paid once per network and copy count, not once per
fit).

This module holds the planning (which backend and how many copies per program, per model and
device: :func:`plan_for`) and :class:`FusedKerasNets`; the programs themselves are in
:mod:`datavsmath.training.programs`.

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
from dataclasses import dataclass
from typing import Sequence, TypedDict

import numpy as np

from ..models import KerasNet, gpu_name, keras_backend, make_model, validation_cut
from .programs import JaxProgram, clear_programs, on_device, program, to_device

__all__ = ["FusedKerasNets", "Plan", "BACKENDS", "CPU_POLICY", "GPU_MAX_COPIES", "PROGRAM_VERSION",
           "configure_devices", "device_profile", "fusable", "plan_for", "copy_bytes", "clear_programs"]

log = logging.getLogger(__name__)

#: version of the fused training program, beside each model's recipe: bump it with any change
#: here that moves the numbers (the step, the loss, the row order, padding, the dropout
#: stream), so that a fused cell records which program trained it and ``datavsmath verify``
#: knows when no envelope applies. tests/test_program_version.py pins the program's output on
#: a fixed small case and fails when it moves while this stays
PROGRAM_VERSION = 1

#: values of ``datavsmath run --backend``
BACKENDS = ("auto", "naive", "fused")


class _CpuPolicy(TypedDict):
    """One network's CPU policy: fuse at all, copies per program at most, XLA or not."""

    fused: bool
    max_copies: int
    jit: bool


#: On a CPU, what ``--backend auto`` does per network: copies per fused program at most, and
#: whether to compile steps with XLA. Chosen from ``make bench`` on a 2-core AMD EPYC
#: (bench/results/): the DNN is overhead-bound in ``model.fit`` (one fused copy: 2.1x at
#: 60,000 rows, 2.9x at 3,000; 8 copies a little more); the CNN is bound by its convolution
#: arithmetic (1.2x with one copy, 1.24x with two at 12,000 rows); XLA on this CPU is slower
#: for both.
CPU_POLICY: dict[str, _CpuPolicy] = {
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
    """What this process trains on. Dask workers report theirs to the client that plans the grid.

    Returns
    -------
    dict
        ``gpu``: the GPU's name or None; ``gpu_free_bytes``: its free memory (nvidia-smi) or
        None; ``cpu_cores``: the CPU cores.
    """
    name = gpu_name()
    return {"gpu": name, "gpu_free_bytes": _gpu_free_bytes() if name else None,
            "cpu_cores": os.cpu_count() or 1}


# --- planning ------------------------------------------------------------------------------

def fusable(model: str) -> bool:
    """Whether ``model`` can be fused.

    Parameters
    ----------
    model : str
        A registered model.

    Returns
    -------
    bool
        True if it is a keras network (a :class:`~datavsmath.models.KerasNet`).
    """
    return isinstance(make_model(model, seed=0), KerasNet)


@functools.lru_cache(maxsize=None)
def copy_bytes(model: str, n_classes: int = 10) -> int:
    """Rough device memory of one fused copy of ``model``: weights, gradient and two optimizer
    slots (4 x params), plus forward activations kept for the backward pass and their
    gradients (3 x activations x batch), all float32.

    Parameters
    ----------
    model : str
        A fusable registered model.
    n_classes : int
        Classes K.

    Returns
    -------
    int
        Bytes.
    """
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
    """Choose the backend for ``model`` on a device.

    Parameters
    ----------
    model : str
        A registered model.
    requested : str
        "auto" (GPU: fused with XLA, as many copies as :data:`GPU_MEMORY_SHARE` of the free
        memory holds, at most :data:`GPU_MAX_COPIES`; CPU: :data:`CPU_POLICY`), "naive" or
        "fused".
    profile : dict, optional
        The device (:func:`device_profile`); default this process's.

    Returns
    -------
    Plan
        The backend, copies per program, XLA, and why.
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
    policy = CPU_POLICY.get(model, _CpuPolicy(fused=True, max_copies=4, jit=False))
    if requested == "fused":
        return Plan(model, "fused", policy["max_copies"], policy["jit"], reason="--backend fused, CPU")
    if not policy["fused"]:
        return Plan(model, "naive", reason="CPU policy, measured in bench/results")
    return Plan(model, "fused", policy["max_copies"], policy["jit"],
                reason="CPU policy, measured in bench/results")


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
        """Fused copies of a registered network.

        Parameters
        ----------
        model : str
            A registered keras model ("dnn", "cnn").
        seeds : sequence of int
            One seed per copy.
        n_classes : int
            Classes K.
        jit : bool, optional
            Compile each step with XLA (default: on a GPU).
        input_shape : tuple of int
            Shape of one example.

        Returns
        -------
        FusedKerasNets
        """
        return cls(make_model(model, seed=int(seeds[0]), n_classes=n_classes, input_shape=input_shape),
                   seeds, jit)

    @property
    def n_copies(self) -> int:
        return len(self.seeds)

    def order(self, rng: np.random.Generator, n_train: int) -> tuple[np.ndarray, np.ndarray]:
        """One epoch's row order of one copy, padded to whole batches.

        Parameters
        ----------
        rng : numpy.random.Generator
            The copy's shuffle stream.
        n_train : int
            Its training rows.

        Returns
        -------
        (ndarray, ndarray)
            Indices (S, B) int32 and row weights (S, B) float32, S = ceil(n_train / B); padded
            slots index row 0 with weight 0.
        """
        batch = self.template.batch_size
        steps = -(-n_train // batch)
        idx = np.zeros(steps * batch, dtype=np.int32)
        idx[:n_train] = rng.permutation(n_train)
        w = np.zeros(steps * batch, dtype=np.float32)
        w[:n_train] = 1.0
        return idx.reshape(steps, batch), w.reshape(steps, batch)

    def fit(self, x: np.ndarray, ys, on_epoch=None) -> "FusedKerasNets":
        """Train every copy on the same rows: copy i on ``(x, ys[i])``.

        Parameters
        ----------
        x : ndarray, shape (n, *input_shape)
            The images.
        ys : int array, shape (n_copies, n)
            One label row per copy.
        on_epoch : callable, optional
            ``on_epoch(done, epochs)``, called after each epoch (progress).

        Returns
        -------
        FusedKerasNets
            self, fitted.
        """
        ys = np.asarray(ys)
        if ys.ndim != 2 or ys.shape != (self.n_copies, len(x)):
            raise ValueError(f"ys must have shape (n_copies, n_rows) = ({self.n_copies}, {len(x)}), got {ys.shape}")
        rows = np.arange(len(x))
        return self.fit_rows(x, [rows] * self.n_copies, list(ys), on_epoch=on_epoch)

    def fit_rows(self, x: np.ndarray, rows, ys, on_epoch=None) -> FusedKerasNets:
        """Train every copy on its own rows of one image base.

        Copy i is trained as ``KerasNet`` with ``seeds[i]`` on ``(x[rows[i]], ys[i])``: its own
        validation cut floor(0.8 n_i), its own shuffle each epoch, ceil(cut_i / 128) steps per
        epoch. Copies with fewer steps than the group's longest are padded with empty steps that
        change none of their state (weights, dropout seeds, optimizer slots and step counter).

        Parameters
        ----------
        x : ndarray, shape (n_base, *input_shape)
            The images all copies draw from (the grid passes all training images, which then stay
            on the device across fits).
        rows : sequence of int arrays
            Copy i's rows of ``x`` in the order a naive fit is given them (n_i of them; copies may
            differ in their rows and their number of rows).
        ys : sequence of int arrays
            ``ys[i]`` of shape (n_i,), copy i's labels.
        on_epoch : callable, optional
            ``on_epoch(done, epochs)``, called after each epoch (progress).

        Returns
        -------
        FusedKerasNets
            self, fitted.
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
        prog = program(t, self.n_copies, self.jit)
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
        x_dev = on_device(t.features, x)
        rowmap_dev, labels_dev = to_device(rowmap), to_device(labels)
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
        """Class probabilities of every copy. On JAX one call for all copies and all batches, the
        images cached on the device.

        Parameters
        ----------
        x : ndarray, shape (m, *input_shape)
            The images to score.
        batch_size : int
            Rows per compiled call.

        Returns
        -------
        ndarray of float32, shape (n_copies, m, n_classes)
        """
        prog = getattr(self, "_program", None)
        if prog is None:
            raise RuntimeError("fit first")
        if prog.owner is not self:
            raise RuntimeError("a later fit of the same shape reused this program; predict before the next fit")
        if isinstance(prog, JaxProgram):
            return prog.predict(on_device(self.template.features, x, batch_size))[:, :len(x)]
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
        """Trained weights of one copy.

        Parameters
        ----------
        copy : int
            The copy, 0..n_copies-1.

        Returns
        -------
        list of ndarray
            In the network's ``get_weights`` order.
        """
        if getattr(self, "_program", None) is None or self._program.owner is not self:
            raise RuntimeError("fit first (and before the next fit of the same shape)")
        return self._program.weights(copy)

    def optimizer_steps(self, copy: int) -> int:
        """Optimizer steps one copy took.

        Parameters
        ----------
        copy : int
            The copy, 0..n_copies-1.

        Returns
        -------
        int
            ``epochs x ceil(floor(0.8 n) / 128)`` for a fit like ``model.fit``'s.
        """
        if getattr(self, "_program", None) is None or self._program.owner is not self:
            raise RuntimeError("fit first (and before the next fit of the same shape)")
        return self._program.optimizer_iterations(copy)
