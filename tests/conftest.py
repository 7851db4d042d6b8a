"""Shared fixtures: the real Fashion-MNIST (Debian's dataset-fashion-mnist or the cache), and
`datavsmath run` in a child process that the test follows by its events
(:mod:`datavsmath.training.checkpoints`) rather than by sleeping.

Without Fashion-MNIST the tests that need it are skipped with the command that installs it;
a dataset that is present but fails verification is an error, never a skip."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def fashion_installed():
    """Skips the test when Fashion-MNIST is not installed, naming the command that installs it."""
    from datavsmath.data import DataError, locate_dataset
    from datavsmath.idx import fix_command

    try:
        locate_dataset("fashion")
    except DataError:
        pytest.skip(f"Fashion-MNIST is not installed; install it with: {fix_command('fashion')}")


@pytest.fixture(scope="session")
def fashion(fashion_installed):
    from datavsmath.data import load_dataset

    return load_dataset("fashion")


@pytest.fixture(scope="session")
def small_slice(fashion):
    """2,000 real training rows, drawn once with a fixed seed."""
    idx = np.random.default_rng(7).choice(len(fashion.y_train), 2000, replace=False)
    return fashion.x_train[idx], fashion.y_train[idx]


class ChildRun:
    """A ``python -m datavsmath.cli`` child with its events on (stderr: text lines)."""

    def __init__(self, args, hold_after_stored=None):
        from datavsmath.training.checkpoints import EVENTS, HOLD_AFTER_STORED

        env = {**os.environ, EVENTS: "1"}
        if hold_after_stored is not None:
            env[HOLD_AFTER_STORED] = str(hold_after_stored)
        self.proc = subprocess.Popen([sys.executable, "-m", "datavsmath.cli", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        self.err: list[str] = []

    def wait_for(self, prefix: str) -> str:
        """Block until an event line starting with ``prefix`` (e.g. "held", "fit-start rf")
        appears on stderr, and return it; AssertionError if the child ends first."""
        for line in self.proc.stderr:
            self.err.append(line)
            if line.startswith(f"datavsmath-event: {prefix}"):
                return line.strip()
        self.proc.wait()
        raise AssertionError(f"the run ended (status {self.proc.returncode}) without the event "
                             f"{prefix!r}:\n{''.join(self.err)[-3000:]}")

    def signal(self, signum) -> None:
        os.kill(self.proc.pid, signum)

    def ctrl_c(self) -> None:
        """SIGINT to the child's whole process group (its own session), as a terminal's Ctrl-C
        reaches every process of the foreground job: worker processes included."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout=300) -> tuple[int, str, str]:
        """(exit status, stdout, all of stderr) once the child ends."""
        out, rest = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, "".join(self.err) + rest


@pytest.fixture
def child_run(fashion_installed):
    """``child_run(*args, hold_after_stored=None)`` starts a run (see :class:`ChildRun`); any
    child still alive at the end of the test is killed."""
    children = []

    def start(*args, hold_after_stored=None):
        children.append(ChildRun([str(a) for a in args], hold_after_stored))
        return children[-1]

    yield start
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.communicate()
