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


def installed(pkg: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(pkg) is not None


def available_models(models) -> list[str]:
    """``models`` without those whose library is missing here (xgboost on a GPU machine that
    has no build of it): the benchmark runs what it can and records what it left out."""
    return [m for m in models if m != "xgb" or installed("xgboost")]


class GpuSampler:
    """``nvidia-smi`` sampled every ``interval_ms`` in a background process while the block
    runs: timestamps (perf_counter seconds) with GPU utilisation (%) and memory used (MiB) of
    the first visible GPU. Records nothing where nvidia-smi is absent.

    ``summary(windows)``: mean utilisation and share of non-zero samples over all samples, and
    over the samples inside ``windows`` ((start, end) perf_counter pairs: e.g. while networks
    trained)."""

    def __init__(self, interval_ms: int = 250):
        self.interval_ms, self.samples, self._proc, self._thread = interval_ms, [], None, None

    def __enter__(self):
        import shutil
        import subprocess

        smi = shutil.which("nvidia-smi")
        if smi is None:
            return self
        cmd = [smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
               f"--loop-ms={self.interval_ms}"]
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        if visible:
            cmd += ["-i", visible]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        def read():
            import time

            for line in self._proc.stdout:
                try:
                    util, mem = (float(v) for v in line.strip().split(",")[:2])
                except ValueError:
                    continue
                self.samples.append((time.perf_counter(), util, mem))

        import threading

        self._thread = threading.Thread(target=read, name="gpu-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._thread.join(timeout=10)
        return False

    def summary(self, windows=()) -> dict:
        def stats(rows):
            if not rows:
                return {"samples": 0}
            util = np.array([u for _, u, _ in rows])
            return {"samples": len(rows), "mean_utilisation_pct": round(float(util.mean()), 1),
                    "share_nonzero": round(float((util > 0).mean()), 3),
                    "peak_memory_mib": float(max(m for *_, m in rows))}

        out = {"interval_ms": self.interval_ms, "all": stats(self.samples)}
        if windows:
            inside = [s for s in self.samples if any(a <= s[0] <= b for a, b in windows)]
            out["while_networks_train"] = stats(inside)
            out["network_seconds"] = round(sum(b - a for a, b in windows), 1)
        return out


class NetworkWindows:
    """Records the (start, end) perf_counter times of every fused group while the block runs
    (the optimised side's network training), by wrapping the units module's fused entry point."""

    def __enter__(self):
        import time

        from datavsmath.training import units

        self.windows, self._units, self._original = [], units, units.fused_fit_and_score

        def timed(*args, **kw):
            t0 = time.perf_counter()
            try:
                return self._original(*args, **kw)
            finally:
                self.windows.append((t0, time.perf_counter()))

        units.fused_fit_and_score = timed
        return self

    def __exit__(self, *exc):
        self._units.fused_fit_and_score = self._original
        return False
