"""What every section uses: the log line, medians, t-intervals, and the environment (hardware,
versions, date) recorded with each result."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
from datetime import datetime, timezone

import numpy as np


def log(msg: str) -> None:
    print(msg, flush=True)


def median(values):
    return float(statistics.median(values))


def t_interval(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (nan with fewer than 2 values)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()) if len(v) else float("nan"), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def environment() -> dict:
    """Hardware, versions, date: what a reader needs to compare two benchmark files."""
    from datavsmath.training.fused import device_profile
    from datavsmath.training.provenance import git_commit, hardware
    from datavsmath.models import keras_backend
    from datavsmath.training.units import library_versions

    if keras_backend() == "jax":
        import jax

        devices = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    else:
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_logical_devices()]
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware(), "device_profile": device_profile(), "versions": library_versions(),
        "dask": _version("dask"), "distributed": _version("distributed"),
        "keras_backend": keras_backend(), "backend_devices": devices,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 Linux)"),
        "git_commit": git_commit(), "platform": platform.platform(), "command": " ".join(sys.argv),
    }


def _version(pkg: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"
