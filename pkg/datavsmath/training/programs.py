"""The compiled programs behind :class:`datavsmath.training.fused.FusedKerasNets`: N copies
of one keras network with their optimizers, trained by one program written for the keras
backend in use.

:class:`TFProgram` (TensorFlow, the default): one ``tf.function`` per epoch looping over its
steps (each step XLA-compiled if ``jit``), gradients from one ``GradientTape`` over the summed
loss. :class:`JaxProgram` (``KERAS_BACKEND=jax``): ``value_and_grad`` over keras' stateless
calls and the optimizers' ``stateless_apply``, one epoch as one jitted ``fori_loop`` with the
state donated. Both train the same factories' networks with the same optimizers.

Programs are cached (:func:`program`, least recently used first out): a later fit of the same
network and copy count re-seeds a compiled program instead of tracing and compiling a new one.
The images a program trains on and scores go to the device once (:func:`on_device`) and stay
there across fits.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from ..models import KerasNet, keras_backend

__all__ = ["Program", "TFProgram", "JaxProgram", "program", "on_device", "to_device", "clear_programs",
           "MAX_PROGRAMS", "MAX_DEVICE_IMAGES"]

#: compiled programs kept at once (each holds its copies' weights and compiled functions)
MAX_PROGRAMS = 3
#: image arrays kept on the device at once (the training base and the test images of a grid)
MAX_DEVICE_IMAGES = 4

#: a JAX program's state: per copy, its trainable and non-trainable weights and optimizer variables
_JaxState = tuple[list[list[Any]], list[list[Any]], list[list[Any]]]


def to_device(array: np.ndarray):
    """An array on the default device of the keras backend in use (a GPU if any).

    Parameters
    ----------
    array : ndarray
        The host array.

    Returns
    -------
    tf.Tensor or jax.Array
    """
    if keras_backend() == "jax":
        import jax

        return jax.device_put(array)
    import tensorflow as tf

    return tf.identity(tf.constant(array))


class Program:
    """N copies of one network with their optimizers and compiled train / predict functions,
    for the keras backend in use (subclasses). Kept in a small cache and re-seeded by each fit
    of the same shape (:func:`program`); :meth:`run_epoch` trains, ``predict`` scores.

    ``one_call`` (default True): run an epoch as one compiled call; False dispatches one
    compiled step per batch from Python (the same step; kept as the reference the tests compare
    the one-call epoch with).

    Parameters
    ----------
    template : KerasNet
        The network: its factories build every copy and its optimizer, with its loss, class
        count and batch size.
    n_copies : int
        Copies N trained side by side.
    jit : bool
        Compile the steps with XLA.
    """

    one_call = True
    #: pad every epoch's order array to the whole base's steps (JAX: one compile per base)
    pad_to_base = False

    def __init__(self, template: KerasNet, n_copies: int, jit: bool):
        self.template, self.n_copies, self.jit = template, n_copies, jit
        self.owner: object | None = None  # the estimator whose weights the copies hold now
        self.k = template.n_classes
        self.models = [template.build(self.k) for _ in range(n_copies)]
        self.optimizers = [template.optimizer() for _ in range(n_copies)]
        for opt, m in zip(self.optimizers, self.models):
            opt.build(m.trainable_variables)

    def reset(self, seeds: Sequence[int]) -> None:
        """Give copy i the initial weights, dropout seeds and optimizer state of a naive fit with
        ``seeds[i]``: build that fit's network from its factory and copy its state in.

        Parameters
        ----------
        seeds : sequence of int
            One seed per copy.
        """
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
        """Steps an epoch's order array is padded to (the padded steps are never run).

        Parameters
        ----------
        steps : int
            The group's longest copy's steps.
        base_steps : int
            Steps of a copy training on the whole base.

        Returns
        -------
        int
            ``steps``; with ``pad_to_base`` (JAX) at least ``base_steps``, so that every fit on
            one base compiles the same shapes.
        """
        return max(steps, base_steps) if self.pad_to_base else steps

    def run_epoch(self, x, rowmap, y, order: np.ndarray, w: np.ndarray, masked: bool = False, n_steps=None):
        """Queue one epoch of every copy.

        Parameters
        ----------
        x : device array, shape (n_base, *features)
            The image base, float32 (:func:`on_device`).
        rowmap, y : device arrays, shape (N, L)
            int32 (:func:`to_device`): copy i's training position p is base row
            ``rowmap[i, p]`` with label ``y[i, p]``.
        order : ndarray, shape (S, N, B)
            int32 positions of each step's batch, per copy.
        w : ndarray, shape (S, N, B)
            float32 row weights; 0 marks padding.
        masked : bool
            Some copy has a step whose weights are all 0 (it has fewer steps than another
            copy); such a step must leave that copy's weights, dropout seeds and optimizer
            state exactly as they were.
        n_steps : int, optional
            Steps to run (default all S).

        Returns
        -------
        object
            A handle to the epoch's last summed loss (:meth:`wait` blocks on it).
        """
        raise NotImplementedError

    def wait(self, handle) -> None:
        """Block until the epoch that returned ``handle`` has finished.

        Parameters
        ----------
        handle : object
            What :meth:`run_epoch` returned.
        """

    def weights(self, copy: int) -> list[np.ndarray]:
        """The weights copy ``copy`` holds now.

        Parameters
        ----------
        copy : int
            The copy.

        Returns
        -------
        list of ndarray
            In the network's ``get_weights`` order.
        """
        self._to_keras(copy)
        return self.models[copy].get_weights()

    def optimizer_iterations(self, copy: int) -> int:
        """Optimizer steps copy ``copy`` has taken (keras' ``iterations`` counter).

        Parameters
        ----------
        copy : int
            The copy.

        Returns
        -------
        int
        """
        self._to_keras(copy)
        return int(np.asarray(self.optimizers[copy].iterations.value))

    def _to_keras(self, copy: int) -> None:
        """Write copy ``copy``'s current state into its keras network and optimizer (TensorFlow
        trains those variables themselves; JAX trains a copy of them)."""


def _copy_loss(ce, w):
    """One copy's batch loss: the mean cross-entropy over its real rows (``w`` 0/1 row weights;
    the max keeps an all-padding batch, whose result is discarded, finite)."""
    from keras import ops

    return ops.sum(ce * w) / ops.maximum(ops.sum(w), 1.0)


class TFProgram(Program):
    """TensorFlow: one ``tf.function`` per epoch looping over steps (each step optionally
    XLA-compiled), gradients from one ``GradientTape`` over the summed loss. In a masked epoch
    each copy's step sits in its own ``tf.cond``: a copy without rows in a step skips it, its
    forward pass (and so its dropout seed) included.

    Parameters
    ----------
    template, n_copies, jit
        As for :class:`Program`.
    """

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

    def run_epoch(self, x, rowmap, y, order: np.ndarray, w: np.ndarray, masked: bool = False, n_steps=None):
        """One epoch of every copy (:meth:`Program.run_epoch`): one ``tf.function`` call, one per step
        without ``one_call``.

        Parameters
        ----------
        x, rowmap, y, order, w, masked, n_steps
            As for :meth:`Program.run_epoch`.

        Returns
        -------
        tf.Tensor or None
            The epoch's last summed loss (None when no step ran).
        """
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
        """Every copy's class probabilities for one batch of images.

        Parameters
        ----------
        xb : ndarray, shape (B, *features)
            float32 images.

        Returns
        -------
        ndarray, shape (N, B, k)
            Copy i's probabilities of the k classes.
        """
        import tensorflow as tf

        return self._predict(tf.constant(xb)).numpy()


class JaxProgram(Program):
    """JAX: the copies' weights, dropout seeds and optimizer slots are one pytree of arrays;
    a step is ``value_and_grad`` of the summed loss through keras' ``stateless_call``, then
    each copy's optimizer's ``stateless_apply`` (so any keras ``Optimizer`` subclass works
    unchanged). A whole epoch is one jitted call: a ``fori_loop`` over its steps with the
    state donated, each step gathering its batch from the device-resident rows. The step count
    is a traced argument and the order array is padded to the base's step count, so one
    compiled epoch serves every fit on the same rows base (the padded steps are not run).
    In a masked epoch a copy without rows in a step keeps its old state (a select on the
    whole copy: weights, dropout seed state, optimizer slots and counter).

    Parameters
    ----------
    template, n_copies, jit
        As for :class:`Program`.
    """

    pad_to_base = True

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

        def step(state: _JaxState, xb, yb, w, masked: bool) -> tuple[_JaxState, Any]:
            """xb (N, B, *features) float32, yb (N, B) int32, w (N, B) float32 row weights."""
            trainable, non_trainable, slots = state
            (loss, new_nt), grads = grad_fn(trainable, non_trainable, xb, yb, w)
            new = [opt.stateless_apply(slots[i], grads[i], trainable[i]) for i, opt in enumerate(optimizers)]
            new_state = ([t for t, _ in new], new_nt, [o for _, o in new])
            if masked:
                active = jnp.sum(w, axis=1) > 0  # (N,)

                def keep(i, a, b, active=active):
                    return jax.tree_util.tree_map(lambda p, q: jnp.where(active[i], p, q), a, b)

                t, nt, o = ([keep(i, part_new[i], part_old[i]) for i in range(len(models))]
                            for part_new, part_old in zip(new_state, state))
                new_state = (t, nt, o)
            return new_state, loss

        def batch(x, rowmap, y, order, w, s):
            idx = order[s]  # (N, B) positions
            return x[jnp.take_along_axis(rowmap, idx, axis=1)], jnp.take_along_axis(y, idx, axis=1), w[s]

        def epoch(state, x, rowmap, y, order, w, n_steps, masked):
            def body(s, carry):
                xb, yb, wb = batch(x, rowmap, y, order, w, s)
                return step(carry[0], xb, yb, wb, masked)

            return jax.lax.fori_loop(0, n_steps, body, (state, jnp.zeros((), jnp.float32)))

        def one_step(state, x, rowmap, y, order, w, s, masked):
            xb, yb, wb = batch(x, rowmap, y, order, w, s)
            return step(state, xb, yb, wb, masked)

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
        self.state: _JaxState | None = None  # set by reset

    def reset(self, seeds: Sequence[int]) -> None:
        """Seed every copy as :meth:`Program.reset` does, then copy the state into the pytree.

        Parameters
        ----------
        seeds : sequence of int
            One seed per copy.
        """
        import jax.numpy as jnp

        super().reset(seeds)
        copy = lambda vs: [jnp.array(v.value) for v in vs]  # noqa: E731 (donated each epoch)
        self.state = ([copy(m.trainable_variables) for m in self.models],
                      [copy(m.non_trainable_variables) for m in self.models],
                      [copy(o.variables) for o in self.optimizers])

    def _state(self) -> _JaxState:
        if self.state is None:
            raise RuntimeError("the program holds no weights yet: call reset(seeds) first")
        return self.state

    def run_epoch(self, x, rowmap, y, order: np.ndarray, w: np.ndarray, masked: bool = False, n_steps=None):
        """One epoch of every copy (:meth:`Program.run_epoch`): one jitted ``fori_loop``, one jitted
        step per batch without ``one_call``; the state is donated and replaced.

        Parameters
        ----------
        x, rowmap, y, order, w, masked, n_steps
            As for :meth:`Program.run_epoch`.

        Returns
        -------
        jax.Array or None
            The epoch's last summed loss (None when no step ran); :meth:`wait` blocks on it.
        """
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
        """Block until the epoch that returned ``handle`` has finished.

        Parameters
        ----------
        handle : jax.Array or None
            What :meth:`run_epoch` returned; None (no step ran) returns at once.
        """
        if handle is not None:
            handle.block_until_ready()

    def predict(self, xs) -> np.ndarray:
        """Every copy's class probabilities for every batch, in one call.

        Parameters
        ----------
        xs : array, shape (nb, b, *features)
            float32 images in nb batches of b, numpy or on the device.

        Returns
        -------
        ndarray, shape (N, nb * b, k)
            Copy i's probabilities of the k classes, in the order of the batches.
        """
        return np.asarray(self._predict(self._state(), xs))

    def _to_keras(self, copy: int) -> None:
        trainable, non_trainable, slots = self._state()
        m, opt = self.models[copy], self.optimizers[copy]
        for variables, values in ((m.trainable_variables, trainable[copy]),
                                  (m.non_trainable_variables, non_trainable[copy]), (opt.variables, slots[copy])):
            for v, value in zip(variables, values):
                v.assign(value)


class _Recipe:
    """A template keyed by what its compiled program depends on: two templates with the same
    factories, loss, classes and batch size share one program."""

    def __init__(self, template: KerasNet):
        self.template = template
        self.key = (template.build, template.optimizer, template.loss, template.n_classes, template.batch_size)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Recipe) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


@functools.lru_cache(maxsize=MAX_PROGRAMS)
def _compiled(backend: str, recipe: _Recipe, n_copies: int, jit: bool) -> Program:
    return (JaxProgram if backend == "jax" else TFProgram)(recipe.template, n_copies, jit)


def program(template: KerasNet, n_copies: int, jit: bool) -> Program:
    """The program training ``n_copies`` copies of ``template``'s network, with steps compiled
    by XLA if ``jit``: a cached one of the same shape when there is one (its copies' weights
    are then another fit's; :meth:`Program.reset` re-seeds them), else a new one.

    Parameters
    ----------
    template : KerasNet
        The network's factories and settings.
    n_copies : int
        Copies trained side by side.
    jit : bool
        Compile each step with XLA (TensorFlow; JAX always compiles with XLA).

    Returns
    -------
    Program
        A :class:`TFProgram` or :class:`JaxProgram`, for the keras backend in use.
    """
    return _compiled(keras_backend(), _Recipe(template), int(n_copies), bool(jit))


class _Held:
    """An array keyed by identity: the cache holds it, so its id cannot be reused while the
    entry lives. A cached array must not be changed in place (the grid's images never are)."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __eq__(self, other) -> bool:
        return isinstance(other, _Held) and other.array is self.array

    def __hash__(self) -> int:
        return id(self.array)


@functools.lru_cache(maxsize=MAX_DEVICE_IMAGES)
def _uploaded(backend: str, features, held: _Held, batch: int | None):
    f = features(held.array)
    if batch:
        nb = -(-len(f) // batch)
        f = np.concatenate([f, np.zeros((nb * batch - len(f), *f.shape[1:]), f.dtype)])
        f = f.reshape(nb, batch, *f.shape[1:])
    return to_device(f)


def on_device(features, x: np.ndarray, batch: int | None = None):
    """``features(x)`` on the device, uploaded once per array (the training base and the test
    images stay there across fits).

    Parameters
    ----------
    features : callable
        The network's input transform, (n, ...) images to (n, *features) float32.
    x : ndarray, shape (n, ...)
        Images; keyed by identity, so it must not be changed in place while cached.
    batch : int, optional
        Zero-pad to whole batches and shape the result (nb, batch, *features).

    Returns
    -------
    array on the device
        ``features(x)``, shape (n, *features), or (nb, batch, *features) with ``batch``.
    """
    return _uploaded(keras_backend(), features, _Held(x), batch)


def clear_programs() -> None:
    """Drop the cached programs and device images (and the device memory they hold)."""
    _compiled.cache_clear()
    _uploaded.cache_clear()
