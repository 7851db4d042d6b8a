"""Shared fixtures: the real Fashion-MNIST (Debian's dataset-fashion-mnist or the cache)."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def fashion():
    from datavsmath.data import load_dataset

    return load_dataset("fashion")


@pytest.fixture(scope="session")
def small_slice(fashion):
    """2,000 real training rows, drawn once with a fixed seed."""
    idx = np.random.default_rng(7).choice(len(fashion.y_train), 2000, replace=False)
    return fashion.x_train[idx], fashion.y_train[idx]
