"""The fused training program's output on a fixed small case, pinned to its version.

``training.fused.PROGRAM_VERSION`` stands beside each model's recipe: a change to the fused
program that moves the numbers (its step, loss, row order, padding or dropout stream) must bump
it, so that cells record which program trained them and ``datavsmath verify`` can say when no
envelope applies. This test fails when the output moves while the version stays.

The case: two fused DNN copies (seeds 11 and 12, the second on shifted labels), one epoch on 512
real training rows. The fingerprint is each weight tensor's mean and mean absolute value. Its
tolerance, 1e-5, is twice the largest per-weight difference measured between two CPUs (an AMD
EPYC and an Intel Xeon: 5.0e-6 after three epochs, tests/test_fused.py), so rounding on another
x86-64 machine passes, while a wrong step of 1e-3 on any layer (the smallest program error the
fused checks are sized to catch) moves some entry by more than that.
"""

import numpy as np
import pytest

from datavsmath.models import keras_backend, make_model
from datavsmath.training.fused import PROGRAM_VERSION, FusedKerasNets

pytestmark = pytest.mark.slow

#: (program version, keras backend) -> fingerprint (rows: copy 0's tensors, then copy 1's;
#: columns: mean, mean |w|), measured on an Intel Xeon (2 cores); two runs there agree exactly
FINGERPRINTS = {
    (1, "tensorflow"): [
        [-0.000207446, 0.038135134], [-0.000104131, 0.003271708], [-9.8696e-05, 0.062402874],
        [-0.00042046, 0.003939751], [-0.003912601, 0.105629839], [0.002311446, 0.004100028],
        [-0.000436504, 0.038016323], [-0.000416987, 0.003541695], [-0.000266476, 0.06232319],
        [0.000170813, 0.003634762], [-0.006181486, 0.102846622], [0.000893179, 0.003838496]],
}

ATOL = 1e-5


def fingerprint(x, y, seeds=(11, 12)) -> np.ndarray:
    net = make_model("dnn", seed=0)
    net.epochs = 1
    fused = FusedKerasNets(net, seeds=list(seeds), jit=False).fit(x, np.stack([y, (y + 1) % 10]))
    return np.array([[float(np.mean(w)), float(np.mean(np.abs(w)))]
                     for copy in (0, 1) for w in fused.weights(copy)])


def test_the_fused_program_is_its_version(small_slice):
    key = (PROGRAM_VERSION, keras_backend())
    if key not in FINGERPRINTS:
        pytest.skip(f"no fingerprint measured for program {key[0]} on keras' {key[1]} backend")
    got = fingerprint(small_slice[0][:512], small_slice[1][:512])
    want = np.array(FINGERPRINTS[key])
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= ATOL, (
        "the fused program's output moved: if the change is meant, bump "
        "training.fused.PROGRAM_VERSION and record the new fingerprint here; max difference "
        f"{np.max(np.abs(got - want)):.3g}")


def test_the_fingerprint_moves_with_what_a_copy_trains_on(small_slice):
    """The fingerprint is sensitive at its tolerance: another seed for copy 1 (its initial
    weights, row order and dropout) moves copy 1's entries far past 1e-5 and leaves copy 0's
    within it (the copies are independent)."""
    x, y = small_slice[0][:512], small_slice[1][:512]
    base, other = fingerprint(x, y), fingerprint(x, y, seeds=(11, 13))
    half = len(base) // 2
    assert np.max(np.abs(other[:half] - base[:half])) <= ATOL
    assert np.max(np.abs(other[half:] - base[half:])) > 100 * ATOL
