"""Each model trains on a small real slice, beats chance clearly, and keeps the R settings."""

import math

import numpy as np
import pytest

from datavsmath.metrics import score
from datavsmath.models import (MODELS, ModelSpec, VoteFractionForest, XGBSoftprob, cnn_optimizer,
                               dnn_optimizer, make_model, register, validation_cut)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name, floor", [("rf", 0.70), ("xgb", 0.70), ("dnn", 0.70), ("cnn", 0.60)])
def test_model_beats_chance_on_real_slice(name, floor, fashion, small_slice):
    x, y = small_slice
    proba = make_model(name, seed=1).fit(x, y).predict_proba(fashion.x_test[:2000])
    assert proba.shape == (2000, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert score(fashion.y_test[:2000], proba)["acc"] > floor  # chance is 0.1


def test_rf_probabilities_are_tree_vote_fractions(small_slice, fashion):
    x, y = small_slice
    # damaged duplicates make impure leaves, where vote fractions and leaf averages differ
    xx, yy = np.concatenate([x, x]), np.concatenate([y, (y + 1) % 10])
    rf = VoteFractionForest(seed=0).fit(xx, yy)
    proba = rf.predict_proba(fashion.x_test[:300])
    assert np.allclose(proba * 25, np.round(proba * 25))  # multiples of 1/25
    from datavsmath.models import flat_features

    xf = flat_features(fashion.x_test[:300])
    votes = np.stack([t.predict(xf).astype(int) for t in rf.forest_.estimators_])
    expected = np.stack([(votes == k).mean(axis=0) for k in range(10)], axis=1)
    np.testing.assert_allclose(proba, expected)
    assert not np.allclose(proba, rf.forest_.predict_proba(xf))
    params = rf.forest_.get_params()
    assert (params["n_estimators"], params["max_features"], params["bootstrap"], params["min_samples_leaf"]) == (25, 28, True, 1)


def test_xgb_settings_and_absent_classes(small_slice):
    x, y = small_slice
    keep = y != 9  # a draw may miss a class; the model must still give 10 columns
    model = XGBSoftprob(seed=0, rounds=5).fit(x[keep], y[keep])
    assert model.predict_proba(x[:10]).shape == (10, 10)
    p = XGBSoftprob().params()
    assert (p["eta"], p["max_depth"], p["subsample"], p["colsample_bytree"], p["max_bin"]) == (0.2, 5, 1.0, 0.5, 256)
    assert p["objective"] == "multi:softprob" and XGBSoftprob().rounds == 150


def test_xgb_threads_change_no_prediction(small_slice):
    """xgboost boosts on a fresh thread on the CPU, with every core unless told: neither the
    thread nor the thread count changes a prediction; an error in the fit is raised to the caller."""
    import xgboost as xgb
    from datavsmath.models import flat_features

    x, y = small_slice[0][:600], small_slice[1][:600]
    model = XGBSoftprob(seed=3, rounds=3, device="cpu")
    assert "nthread" not in model.params()  # xgboost's default: every core
    assert XGBSoftprob(nthread=1).params()["nthread"] == 1
    here = xgb.train(model.params(), xgb.QuantileDMatrix(flat_features(x), label=y, max_bin=256), num_boost_round=3)
    expected = here.predict(xgb.DMatrix(flat_features(x[:50])))
    np.testing.assert_array_equal(model.fit(x, y).predict_proba(x[:50]), expected.reshape(50, 10))
    one = XGBSoftprob(seed=3, rounds=3, device="cpu", nthread=1).fit(x, y).predict_proba(x[:50])
    np.testing.assert_array_equal(one, expected.reshape(50, 10))
    with pytest.raises(xgb.core.XGBoostError):
        XGBSoftprob(seed=3, rounds=3, device="cpu", n_classes=2).fit(x, y)  # labels past num_class


@pytest.mark.parametrize("gpu, cuda_build, device", [(None, True, "cpu"), ("H100", True, "cuda"),
                                                     ("H100", False, "cpu")])
def test_xgb_boosts_on_cuda_only_with_a_gpu_and_a_cuda_build(gpu, cuda_build, device, monkeypatch):
    import xgboost

    from datavsmath import models

    monkeypatch.setattr(models, "gpu_name", lambda: gpu)
    monkeypatch.setattr(xgboost, "build_info", lambda: {"USE_CUDA": cuda_build})
    assert XGBSoftprob().params()["device"] == device


def test_optimizers_match_keras_2_2_defaults():
    cnn, dnn = cnn_optimizer(), dnn_optimizer()
    assert type(cnn).__name__ == "Adadelta"
    assert float(cnn.learning_rate) == pytest.approx(1.0) and cnn.rho == pytest.approx(0.95)
    assert type(dnn).__name__ == "RMSprop22"  # keras 2.2's update rule, tests/test_keras22.py
    assert float(dnn.learning_rate) == pytest.approx(0.001) and dnn.rho == pytest.approx(0.9)
    assert cnn.epsilon == dnn.epsilon == pytest.approx(1e-7)
    assert MODELS["cnn"].make(0, 10).epochs == 12 and MODELS["dnn"].make(0, 10).epochs == 30
    assert MODELS["cnn"].make(0, 10).batch_size == 128


def test_networks_train_on_the_first_80_percent_like_keras_validation_split(small_slice, monkeypatch):
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    for n in (5, 10, 127, 2000, 60000):
        (train, _), _ = train_validation_split((np.arange(n), np.arange(n)), validation_split=0.2)
        assert validation_cut(n) == len(train) == math.floor(0.8 * n)
    seen = {}
    import keras

    original = keras.Model.fit

    def spy(self, x, y, **kw):
        seen["x"], seen["y"] = x, y
        return original(self, x, y, **{**kw, "epochs": 1})

    monkeypatch.setattr(keras.Model, "fit", spy)
    x, y = small_slice
    net = MODELS["dnn"].make(3, 10).fit(x[:100], y[:100])
    assert len(seen["x"]) == 80
    np.testing.assert_array_equal(seen["y"].argmax(1), y[:80])
    assert net.model_.optimizer.__class__.__name__ == "RMSprop22"


def test_a_fifth_model_is_one_registration(small_slice, fashion):
    class Prior:
        def fit(self, x, y):
            self.p_ = np.bincount(y, minlength=10) / len(y)
            return self

        def predict_proba(self, x):
            return np.tile(self.p_, (len(x), 1))

    register(ModelSpec("prior", lambda seed, k: Prior(), 0.1, "class frequencies"))
    try:
        proba = make_model("prior", seed=0).fit(*small_slice).predict_proba(fashion.x_test[:5])
        assert proba.shape == (5, 10)
    finally:
        del MODELS["prior"]
    with pytest.raises(ValueError, match="unknown model 'prior'"):
        make_model("prior", seed=0)
