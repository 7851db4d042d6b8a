"""Metrics against hand-computed cases."""

import numpy as np
import pytest

from datavsmath.metrics import accuracy, multiclass_auc, score


def test_accuracy_ties_go_to_the_first_class():
    proba = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.1, 0.1, 0.8]])
    # argmax picks class 0, 1, 2; labels 0, 2, 2 -> 2 of 3 right
    assert accuracy(np.array([0, 2, 2]), proba) == pytest.approx(2 / 3)


def test_auc_by_hand():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.2, 0.8]])
    # class 0 scores 0.9, 0.4 (pos) vs 0.6, 0.2 (neg): pairs won 0.9>0.6, 0.9>0.2, 0.4>0.2 -> 3/4
    # class 1 is the mirror image -> 3/4; mean 0.75
    assert multiclass_auc(y, proba) == pytest.approx(0.75)


def test_auc_counts_ties_half_and_falls_below_half_when_reversed():
    y = np.array([0, 1, 0, 1])
    flat = np.full((4, 2), 0.5)
    assert multiclass_auc(y, flat) == pytest.approx(0.5)
    wrong = np.eye(2)[1 - y]
    assert multiclass_auc(y, wrong) == pytest.approx(0.0)
    assert score(y, np.eye(2)[y]) == {"acc": 1.0, "auc": 1.0}


def test_bad_shapes_and_degenerate_classes():
    with pytest.raises(ValueError, match="shape"):
        accuracy(np.array([0, 1]), np.ones((3, 2)))
    with pytest.raises(ValueError, match="0..1"):
        accuracy(np.array([0, 2]), np.ones((2, 2)))
    with pytest.raises(ValueError, match="undefined"):
        multiclass_auc(np.array([0, 0]), np.ones((2, 2)))
