"""The loss and the RMSprop update of keras 2.2 (the keras the R testbench called), written
with ``keras.ops`` so that keras 3 runs them unchanged on TensorFlow and on JAX, in
``model.fit`` and in the fused programs (:mod:`datavsmath.training.fused`) alike.

Why not keras 3's own:

* **RMSprop.** keras 3 divides by ``sqrt(v + eps)``; keras 2.2 by ``sqrt(v) + eps``. Where a
  weight's gradients are small (``v`` near or below ``eps = 1e-7``) the two steps differ by up
  to a factor ``sqrt(v + eps) / (sqrt(v) + eps)``, about 3 at ``v = 1e-8``. keras 2.2 also held
  ``rho`` as a float32 variable, so ``1 - rho`` was computed in float32 (0.10000002 for
  rho 0.9, where keras 3 rounds the float64 0.1).
* **Categorical cross-entropy.** On TensorFlow, keras 3 notices that the probabilities come
  from a softmax and computes the loss from the logits. keras 2.2 renormalised the
  probabilities and clipped them to [eps, 1 - eps] before the log, so a row predicted
  beyond the clip (confidently wrong, as damaged labels make many rows) gives no gradient at
  all. keras 3 on JAX already computes keras 2.2's formula; this function makes TensorFlow
  agree.

Adadelta needs nothing of ours: keras 3's update is keras 2.2's line for line (new gradient
accumulator, ``update = g * sqrt(d + eps) / sqrt(a + eps)`` with the *old* delta accumulator,
``p -= lr * update``, then ``d = rho d + (1 - rho) update^2`` of the unscaled update; ``rho``
a Python float in both), which ``tests/test_keras22.py`` checks against the formula.

Import this module only after keras has started (``datavsmath.models.keras_backend()``).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["EPSILON", "RMSprop22", "categorical_crossentropy"]

#: keras 2.2's ``K.epsilon()``: the fuzz factor of its optimizers and of the loss's clip
EPSILON = 1e-7


def categorical_crossentropy(y_true, y_pred):
    """keras 2.2's categorical cross-entropy on probabilities (its TensorFlow backend's
    ``from_logits=False`` branch): each row of ``y_pred`` divided by its sum, clipped to
    [EPSILON, 1 - EPSILON], then ``-sum(y_true * log(p))``.

    Parameters
    ----------
    y_true : tensor of float, shape (batch, k)
        One-hot (or soft) targets.
    y_pred : tensor of float, shape (batch, k)
        The softmax output.

    Returns
    -------
    tensor of float, shape (batch,)
        Per-row losses in nats; ``model.compile`` averages them over the batch, as keras 2.2
        did.
    """
    p = ops.divide(y_pred, ops.sum(y_pred, axis=-1, keepdims=True))
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    return ops.negative(ops.sum(ops.multiply(ops.cast(y_true, p.dtype), ops.log(p)), axis=-1))


class RMSprop22(keras.optimizers.Optimizer):
    """keras 2.2's RMSprop (no momentum, not centered), a keras 3 optimizer.

    Per variable p with gradient g and accumulator a (zeros at the start)::

        a <- rho * a + (1 - rho) * g**2          # rho and 1 - rho in float32
        p <- p - lr * g / (sqrt(a) + epsilon)

    Parameters
    ----------
    learning_rate : float, default 0.001 (keras 2.2's ``lr``)
    rho : float in [0, 1), default 0.9
    epsilon : float > 0, default 1e-7 (keras 2.2's ``K.epsilon()``)
    name : str, default "rmsprop22"
        The optimizer's name.
    **kwargs
        Passed to ``keras.optimizers.Optimizer`` (e.g. ``clipnorm``).
    """

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = EPSILON,
                 name: str = "rmsprop22", **kwargs):
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"rho must lie in [0, 1), got {rho!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be positive, got {epsilon!r}")
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)
        # keras 2.2 kept rho in a float32 variable: both factors are float32 values
        self._rho32 = float(np.float32(rho))
        self._one_minus_rho32 = float(np.float32(1.0) - np.float32(rho))

    def build(self, var_list):
        """Create one accumulator per trained variable (zeros), once.

        Parameters
        ----------
        var_list : list of keras.Variable
            The variables the optimizer will update.
        """
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(var_list, "accumulator")

    def update_step(self, gradient, variable, learning_rate):
        """One RMSprop step of ``variable`` (the class docstring's two lines).

        Parameters
        ----------
        gradient : tensor
            The loss's gradient with respect to ``variable``, of its shape.
        variable : keras.Variable
            The variable updated in place.
        learning_rate : float or tensor
            The step size of this step.
        """
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        a = self._accumulators[self._get_variable_index(variable)]
        new_a = ops.add(ops.multiply(self._rho32, a), ops.multiply(self._one_minus_rho32, ops.square(g)))
        self.assign(a, new_a)
        self.assign_sub(variable, ops.divide(ops.multiply(lr, g), ops.add(ops.sqrt(new_a), self.epsilon)))

    def get_config(self):
        """The optimizer's configuration, with ``rho`` and ``epsilon`` (for saving).

        Returns
        -------
        dict
            keras' optimizer configuration plus ``rho`` and ``epsilon``.
        """
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
