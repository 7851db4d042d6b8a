"""Properties of sampling and label damage, on real Fashion-MNIST labels and generated ones."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from datavsmath.damage import (constant_damage, constant_rule, damage_labels, damaged_rows, random_damage,
                               random_rule, sample_rows, swap_rule)

K = 10
labels = st.lists(st.integers(0, K - 1), min_size=1, max_size=400).map(lambda v: np.array(v, dtype=np.uint8))
fracs = st.floats(0.0, 1.0)
seeds = st.integers(0, 2**32 - 1)


@given(st.integers(1, 5000), fracs, seeds)
def test_sample_rows_draws_floor_n_frac_distinct_rows(n, frac, seed):
    idx = sample_rows(n, frac, np.random.default_rng(seed))
    assert len(idx) == int(np.floor(n * frac + 1e-9))
    assert len(np.unique(idx)) == len(idx)
    assert idx.min(initial=0) >= 0 and idx.max(initial=0) < n


def test_sample_rows_can_draw_first_and_last_row():
    # R's off-by-one made the last row undrawable; ours draws every row uniformly
    hits = np.zeros(10, int)
    for seed in range(2000):
        hits[sample_rows(10, 0.3, np.random.default_rng(seed))] += 1
    assert hits[0] > 0 and hits[-1] > 0
    assert stats.chisquare(hits).pvalue > 1e-3


@given(labels, fracs, seeds)
def test_damaged_rows_takes_round_frac_of_each_class(y, frac, seed):
    mask = damaged_rows(y, frac, np.random.default_rng(seed))
    for c in range(K):
        assert mask[y == c].sum() == int(np.rint(frac * (y == c).sum()))


@given(labels, fracs, seeds, st.sampled_from(["random", "constant"]))
@settings(max_examples=200)
def test_damage_changes_exactly_the_chosen_rows(y, frac, seed, kind):
    before = y.copy()
    fn = random_damage if kind == "random" else constant_damage
    out = fn(y, frac, np.random.default_rng(seed))
    np.testing.assert_array_equal(y, before)  # input untouched
    assert out.dtype == y.dtype and out.shape == y.shape
    changed = out != y
    for c in range(K):
        # both rules move every chosen label, so the changed count per class is exact
        assert changed[y == c].sum() == int(np.rint(frac * (y == c).sum()))
    if kind == "constant":
        np.testing.assert_array_equal(out[changed], (y[changed].astype(int) + 1) % K)


@given(labels, seeds, st.sampled_from([random_damage, constant_damage]))
def test_zero_damage_is_identity_and_full_damage_changes_every_label(y, seed, fn):
    np.testing.assert_array_equal(fn(y, 0.0, np.random.default_rng(seed)), y)
    assert np.all(fn(y, 1.0, np.random.default_rng(seed)) != y)


@given(labels, fracs, seeds)
def test_same_seed_same_output(y, frac, seed):
    a = random_damage(y, frac, np.random.default_rng(seed))
    b = random_damage(y, frac, np.random.default_rng(seed))
    np.testing.assert_array_equal(a, b)


def test_random_damage_is_uniform_over_the_other_classes(fashion):
    y = fashion.y_train
    out = random_damage(y, 0.5, np.random.default_rng(3))
    for c in (0, 5, 9):
        moved = out[(y == c) & (out != y)]
        counts = np.bincount(moved, minlength=K)
        assert counts[c] == 0
        others = np.delete(counts, c)
        assert others.sum() == 3000
        assert stats.chisquare(others).pvalue > 1e-3, others


def test_talk_illustration_numbers_true_label_5_at_30_percent(fashion):
    y = fashion.y_train
    for out in (random_damage(y, 0.3, np.random.default_rng(1)),
                constant_damage(y, 0.3, np.random.default_rng(1), shift=3)):
        fives = out[y == 5]
        assert (fives == 5).sum() == 4200 and (fives != 5).sum() == 1800
    shifted = constant_damage(y, 0.3, np.random.default_rng(1), shift=3)[y == 5]
    assert set(np.unique(shifted)) == {5, 8}


def test_rules_are_instances_of_one_transition_matrix():
    np.testing.assert_allclose(random_rule().sum(1), 1)
    assert np.all(np.diag(random_rule()) == 0)
    assert constant_rule()[9, 0] == 1 and constant_rule()[0, 1] == 1
    y = np.arange(K).repeat(20).astype(np.int64)
    out = damage_labels(y, 1.0, swap_rule([(0, 6)]), np.random.default_rng(0))
    assert np.all(out[y == 0] == 6) and np.all(out[y == 6] == 0)
    np.testing.assert_array_equal(out[(y != 0) & (y != 6)], y[(y != 0) & (y != 6)])


def test_read_only_input_is_accepted():
    y = np.arange(K).repeat(5)
    y.setflags(write=False)
    assert (random_damage(y, 0.4, np.random.default_rng(0)) != y).sum() == 20


@pytest.mark.parametrize("frac", [float("nan"), -0.01, 1.01, True, "0.5", None])
def test_bad_fraction_is_named(frac):
    with pytest.raises(ValueError, match="frac"):
        random_damage(np.array([0, 1]), frac, np.random.default_rng(0))
    with pytest.raises(ValueError, match="frac"):
        sample_rows(10, frac, np.random.default_rng(0))


@pytest.mark.parametrize("y, message", [
    (np.array([0, 10]), "label 10 is outside 0..9"),
    (np.array([-1, 2]), "label -1 is outside"),
    (np.array([0.0, 1.0]), "integer dtype"),
    (np.zeros((2, 2), int), "1-D"),
    (np.array([], int), "empty"),
])
def test_bad_labels_are_named(y, message):
    with pytest.raises(ValueError, match=message):
        constant_damage(y, 0.5, np.random.default_rng(0))


def test_bad_rng_rule_and_rows():
    with pytest.raises(ValueError, match="Generator"):
        random_damage(np.array([0, 1]), 0.5, 42)
    with pytest.raises(ValueError, match="row 0 of rule sums to"):
        damage_labels(np.array([0, 1]), 0.5, np.zeros((K, K)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="10 x 10"):
        damage_labels(np.array([0, 1]), 0.5, np.eye(3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_rows"):
        sample_rows(0, 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="shift"):
        constant_rule(10, shift=10)
