"""The networks train under keras 2.2's rules (the keras the R testbench called), on whichever
keras 3 backend runs them, in ``model.fit`` and in the fused programs.

Each rule is checked against keras 2.2's formula written out in numpy (float64) on fixed
numbers. Tolerances are float32 rounding of a few steps (relative 1e-5); the formulas the
checks tell apart differ by 10% or more on these numbers (keras 3's RMSprop divides by
sqrt(v + eps) instead of sqrt(v) + eps). ``tests/test_jax_backend.py`` runs this file again
under ``KERAS_BACKEND=jax``.
"""

import numpy as np
import pytest

from datavsmath.models import (KerasNet, cnn_optimizer, crossentropy, dnn_optimizer, flat_features, make_model,
                               recipe)
from datavsmath.training.fused import FusedKerasNets

EPS = 1e-7  # keras 2.2's K.epsilon()

#: gradients of three steps for a 4-vector: ordinary, small (v below eps) and zero entries
GRADS = np.array([[0.5, -2e-3, 1e-4, 0.0],
                  [0.3, 1e-3, -3e-4, 0.0],
                  [-0.2, 5e-4, 2e-4, 1e-5]])
START = np.array([0.1, -0.2, 0.3, 0.4])


def keras22_rmsprop(p, grads, lr=0.001, rho=0.9):
    """keras 2.2.4 RMSprop.get_updates without decay: a = rho a + (1 - rho) g^2 with rho a
    float32 variable; p -= lr g / (sqrt(a) + eps)."""
    rho32 = float(np.float32(rho))
    a = np.zeros_like(p)
    out = []
    for g in grads:
        a = rho32 * a + (1.0 - rho32) * g**2
        p = p - lr * g / (np.sqrt(a) + EPS)
        out.append(p)
    return out


def keras22_adadelta(p, grads, lr=1.0, rho=0.95):
    """keras 2.2.4 Adadelta.get_updates without decay: new accumulator, the update from the
    *old* delta accumulator, p -= lr update, then the delta accumulator of the unscaled update."""
    a, d = np.zeros_like(p), np.zeros_like(p)
    out = []
    for g in grads:
        a = rho * a + (1.0 - rho) * g**2
        update = g * np.sqrt(d + EPS) / np.sqrt(a + EPS)
        p = p - lr * update
        d = rho * d + (1.0 - rho) * update**2
        out.append(p)
    return out


def steps(optimizer, grads, start=START):
    """Apply ``grads`` one after another to a float32 variable; the value after each step."""
    import keras

    var = keras.Variable(start.astype(np.float32))
    optimizer.build([var])
    out = []
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g.astype(np.float32))], [var])
        out.append(np.asarray(keras.ops.convert_to_numpy(var.value), dtype=np.float64))
    return out


@pytest.mark.parametrize("factory, formula", [(dnn_optimizer, keras22_rmsprop), (cnn_optimizer, keras22_adadelta)],
                         ids=["rmsprop", "adadelta"])
def test_optimizer_steps_follow_keras_2_2(factory, formula):
    for got, want in zip(steps(factory(), GRADS), formula(START, GRADS)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)


def test_keras_3_rmsprop_is_a_different_rule_on_these_numbers():
    """The check above can fail: keras 3's own RMSprop misses keras 2.2's steps here."""
    import keras

    got = steps(keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9), GRADS)[-1]
    want = keras22_rmsprop(START, GRADS)[-1]
    step_got, step_want = got - START, want - START
    assert np.max(np.abs(step_got - step_want) / np.maximum(np.abs(step_want), 1e-12)) > 0.1


def test_rmsprop_rejects_bad_settings():
    from datavsmath.keras22 import RMSprop22

    with pytest.raises(ValueError, match="rho must lie in"):
        RMSprop22(rho=1.0)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        RMSprop22(epsilon=0.0)


def keras22_crossentropy(target, proba):
    """keras 2.2's TensorFlow backend, from_logits=False: renormalise, clip, -sum t log p."""
    p = proba / proba.sum(axis=-1, keepdims=True)
    p = np.clip(p, EPS, 1 - EPS)
    return -(target * np.log(p)).sum(axis=-1)


def test_loss_follows_keras_2_2():
    import keras

    proba = np.array([[0.7, 0.2, 0.1],
                      [1e-9, 0.5, 0.5 - 1e-9],  # the target's probability is below the clip
                      [0.2, 0.2, 0.2]])  # not normalised: keras 2.2 renormalised
    target = np.eye(3)[[0, 0, 2]]
    got = keras.ops.convert_to_numpy(crossentropy(keras.ops.convert_to_tensor(target.astype(np.float32)),
                                                  keras.ops.convert_to_tensor(proba.astype(np.float32))))
    np.testing.assert_allclose(got, keras22_crossentropy(target, proba), rtol=1e-5)
    assert make_model("dnn", seed=0).loss is crossentropy and make_model("cnn", seed=0).loss is crossentropy


def _confident_net(n_classes=10):
    """Input 4 -> softmax over ``n_classes``, weights that put class 0 ahead by 40 nats."""
    import keras

    kernel = np.zeros((4, n_classes), np.float32)
    kernel[:, 0] = 10.0
    return keras.Sequential([keras.Input(shape=(784,)),
                             keras.layers.Dense(n_classes, activation="softmax",
                                                kernel_initializer=keras.initializers.Constant(np.repeat(kernel, 196, 0) / 196),
                                                bias_initializer="zeros")])


def test_confidently_wrong_rows_give_no_gradient_naive_and_fused():
    """keras 2.2 clipped the probabilities before the log, so a row whose label the network
    gives less than 1e-7 adds nothing to the gradient (keras 3 on TensorFlow computes the loss
    from the logits, where such a row pulls hardest). Every row here is labelled 1 while the
    network says 0 with probability 1 - 1e-17: an epoch must leave the weights as they are, in
    ``model.fit`` and in a fused copy."""
    x = np.full((50, 28, 28), 255, np.uint8)
    y = np.ones(50, int)
    net = KerasNet(_confident_net, dnn_optimizer, flat_features, epochs=1, seed=3)
    start = [w.copy() for w in _confident_net().get_weights()]
    net.fit(x, y)
    for a, b in zip(net.model_.get_weights(), start):
        np.testing.assert_array_equal(a, b)
    fused = FusedKerasNets(net, seeds=[3, 4], jit=False).fit(x, np.stack([y, y]))
    for copy in (0, 1):
        for a, b in zip(fused.weights(copy), start):
            np.testing.assert_array_equal(a, b)
    # faint images, which the network is unsure of, do train: the check can fail
    net.fit(np.full_like(x, 5), y)
    assert not np.array_equal(net.model_.get_weights()[0], start[0])


def test_networks_are_recipe_2_trees_recipe_1():
    assert (recipe("dnn"), recipe("cnn"), recipe("rf"), recipe("xgb")) == (2, 2, 1, 1)
    with pytest.raises(ValueError, match="unknown model"):
        recipe("svm")


#: what each older recipe declared the same computation (``ModelSpec.same_as``) trained with,
#: as KerasNet options: cnn recipe 1 compiled keras 3's own categorical cross-entropy
OLDER_RECIPES = {("cnn", 1): {"loss": "categorical_crossentropy"}}


def test_every_declared_equivalence_has_a_proof_here():
    """A recipe declared the same computation must be one this file trains both ways."""
    from datavsmath.models import MODELS

    declared = {(name, old) for name, spec in MODELS.items() for old in spec.same_as}
    assert declared == set(OLDER_RECIPES)
    assert MODELS["cnn"].same_as == {1: ("jax",)} and not MODELS["dnn"].same_as


class _Saturated:
    """A network factory whose output layer's kernel is scaled by ``gain``: its softmax starts
    saturated, so that many rows sit beyond the loss's clip from the first step."""

    def __init__(self, build, gain=300.0):
        self.build, self.gain = build, gain

    def __call__(self, n_classes=10):
        net = self.build(n_classes)
        kernel, bias = net.layers[-1].get_weights()
        net.layers[-1].set_weights([kernel * self.gain, bias])
        return net


@pytest.mark.parametrize("model, old", sorted(OLDER_RECIPES), ids=[f"{m}{r}" for m, r in sorted(OLDER_RECIPES)])
def test_recipe_equivalent_on_its_backends_trains_identical_weights(small_slice, model, old):
    """An older recipe declared the same computation on this backend trains to the same
    weights, bit for bit, from the same seed: two epochs on 2,000 real images with 40% of the
    labels damaged (constant rule), from a network whose softmax starts saturated, so that
    many rows lie beyond the loss's clip [1e-7, 1 - 1e-7] (asserted). Runs where the
    declaration holds (the CNN: under KERAS_BACKEND=jax, from tests/test_jax_backend.py);
    elsewhere it is skipped (on TensorFlow the recipes differ: see the loss tests above)."""
    import keras

    from datavsmath.damage import constant_damage
    from datavsmath.models import MODELS, keras_backend

    backend = keras_backend()
    if backend not in MODELS[model].same_as[old]:
        pytest.skip(f"{model} recipe {old} is declared equivalent on {MODELS[model].same_as[old]}, not {backend}")
    x, y = small_slice
    y = constant_damage(y, 0.4, np.random.default_rng(11))
    base = make_model(model, seed=5)
    build = _Saturated(base.build)
    nets = [KerasNet(build, base.optimizer, base.features, epochs=2, n_classes=10, seed=5, **options)
            for options in ({}, OLDER_RECIPES[(model, old)])]
    assert nets[0].loss is crossentropy and nets[1].loss != crossentropy
    keras.utils.set_random_seed(5)
    start = build(10).predict(base.features(x), verbose=0)
    label_p = start[np.arange(len(y)), y]
    assert (label_p < EPS).mean() > 0.3 and (start.max(axis=1) > 1 - EPS).mean() > 0.3
    for net in nets:
        net.fit(x, y)
    moved = [not np.array_equal(a, b) for a, b in zip(nets[0].model_.get_weights(), build(10).get_weights())]
    assert any(moved)  # the rows inside the clip trained the network
    for a, b in zip(nets[0].model_.get_weights(), nets[1].model_.get_weights()):
        np.testing.assert_array_equal(a, b)
