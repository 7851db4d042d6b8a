"""Devices and the keras backend: which GPU there is, which backend keras runs on, and keeping
TensorFlow's start-up chatter out of a CPU-only machine's output.

keras starts here, once (:func:`keras_backend`), so that its log level is set before TensorFlow
loads and never at import.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import sys
import threading

__all__ = ["CPU_ONLY_NOISE", "device_label", "drop_stderr_lines", "gpu_name", "gpu_names",
           "keras_backend", "nvidia_gpu_present"]

#: what TensorFlow prints on a machine without an NVIDIA GPU while it looks for CUDA, whatever
#: TF_CPP_MIN_LOG_LEVEL says (absl writes it before its logging starts; cuInit's failure is an
#: ERROR there): noise on such a machine, and all TensorFlow has to say about CUDA there
CPU_ONLY_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    # TensorFlow's notice that oneDNN's kernels may round differently (also written before its
    # logging starts, twice): what that means for the numbers is measured and stated by the
    # reproducibility envelope (``datavsmath verify``, the README), not by every command
    "oneDNN custom operations are on",
)


def nvidia_gpu_present() -> bool:
    """Whether this machine shows an NVIDIA GPU (a device node or driver entry, or WSL's GPU
    bridge), found without loading CUDA: cheap enough to ask before TensorFlow starts."""
    return bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/proc/driver/nvidia/gpus/*")
                or os.path.exists("/dev/dxg"))


@contextlib.contextmanager
def drop_stderr_lines(patterns):
    """Pass every line written to file descriptor 2 (C++ logs included) through, except those
    containing one of ``patterns``. A thread relays the lines as they come, so that nothing
    is held back if the process dies inside the block.

    Parameters
    ----------
    patterns : sequence of str
        Substrings; a line holding any of them is dropped.

    Yields
    ------
    None, inside the block whose standard error is filtered.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()

    def relay():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not any(p.encode() in line for p in patterns):
                    os.write(saved, line)

    thread = threading.Thread(target=relay, name="stderr-filter", daemon=True)
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the relay reads to the end and stops
        thread.join(timeout=10)
        os.close(saved)


@functools.lru_cache(maxsize=1)
def keras_backend() -> str:
    """The keras backend in use ("tensorflow", the default, or "jax"; ``$KERAS_BACKEND``).

    The first call starts keras, with TF_CPP_MIN_LOG_LEVEL=2 unless the user set it (start keras
    through this function). On a machine without an NVIDIA GPU, unless the user set
    TF_CPP_MIN_LOG_LEVEL, TensorFlow's search for CUDA (at import and at its first look at the
    devices, done here) would print the ``CPU_ONLY_NOISE`` lines on every command: those lines
    are dropped, everything else TensorFlow prints passes through.
    """
    # whether the user chose TensorFlow's log level; if so, what it prints is left to them.
    # Else its C++ start-up chatter is kept out of logs and progress bars: set here, where keras
    # starts, not when this module is imported
    user_chose = "TF_CPP_MIN_LOG_LEVEL" in os.environ
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = not user_chose and not nvidia_gpu_present()
    with drop_stderr_lines(CPU_ONLY_NOISE) if quiet else contextlib.nullcontext():
        import keras

        backend = keras.backend.backend()
        if quiet and backend == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # the CUDA probe, once, while filtered
    return backend


@functools.lru_cache(maxsize=1)
def gpu_names() -> tuple[str, ...]:
    """Names of the GPUs the keras backend sees; empty on a CPU-only machine."""
    if keras_backend() == "jax":
        import jax

        return tuple(d.device_kind for d in jax.devices() if d.platform == "gpu")
    import tensorflow as tf

    return tuple(tf.config.experimental.get_device_details(g).get("device_name", g.name)
                 for g in tf.config.list_physical_devices("GPU"))


def gpu_name() -> str | None:
    """Name of the first GPU the keras backend sees, or None on a CPU-only machine."""
    names = gpu_names()
    return names[0] if names else None


def device_label() -> str:
    """"gpu:<name>" when a GPU is used, else "cpu" (recorded with every result)."""
    name = gpu_name()
    return f"gpu:{name}" if name else "cpu"
