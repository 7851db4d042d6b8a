"""The same package under keras' JAX backend (``KERAS_BACKEND=jax``): the naive path is keras'
own ``model.fit`` on JAX, the fused programs are :class:`datavsmath.training.programs.JaxProgram`.

Keras fixes its backend once per process, so this test runs the backend-neutral fused and
runner tests again in a child pytest with ``KERAS_BACKEND=jax``: copies start from the naive
initial weights, a copy given keras' row order ends with ``model.fit``'s weights (DNN bit for
bit, CNN to float summation order), so does a short copy padded in a group of larger ones,
the one-call epoch equals one step per batch, copies keep the R settings and stay independent,
a fused CLI run killed mid-grid resumes with every fit once, recording the backend, and the
optimizers and loss follow keras 2.2's formulas in ``model.fit`` and in fused copies, and
the CNN's recipe 1 (keras 3's own loss) trains the same weights as recipe 2 (``ModelSpec.same_as``).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent

#: the tests that must pass on either backend (the rest of the suite runs on TensorFlow)
SELECTED = [
    (TESTS / "test_fused.py", "initial_weights or keras_row_order or naive_settings or independent or (padded_group and dnn) or one_call"),
    (TESTS / "test_runner.py", "fused_run_killed"),
    (TESTS / "test_keras22.py", "keras_2_2 or different_rule or no_gradient or recipe_equivalent"),
]


@pytest.mark.parametrize("path, select", SELECTED, ids=[p.stem for p, _ in SELECTED])
def test_backend_neutral_tests_pass_under_jax(path, select):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path), "-k", select],
                          capture_output=True, text=True, env=env, cwd=TESTS.parent)
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " skipped" not in done.stdout.splitlines()[-1], tail
