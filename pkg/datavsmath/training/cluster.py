"""Run grid units as Dask tasks on a cluster; this process stores what they return.

``datavsmath run --scheduler tcp://host:8786`` connects to a running cluster,
``datavsmath run --cluster local --workers N`` starts one on this machine. Either way:

* the client cuts the grid into units (one naive fit, or one fused group, see
  :func:`datavsmath.training.units.plan_units`) and submits each as one task with a key derived from
  the experiment and its cells, so a unit is never queued twice;
* the verified dataset is sent to the workers once (``scatter``, broadcast); workers need no
  data files and no access to the results folder: a task returns its result records and writes
  nothing;
* the client stores each returned record through :class:`~datavsmath.training.store.ResultStore`, whose
  ``put`` ignores a fit that is already stored, so a rerun resumes and nothing is stored twice;
* a worker lost mid-task is the scheduler's business: it reschedules the task on another worker
  (up to ``distributed.scheduler.allowed-failures`` times, 3 by default, then the run stops with
  ``KilledWorker`` and a rerun resumes). Tasks that raise are retried once.

Each worker process trains one unit at a time (keras' seeding and session state are
per-process), so start workers with one thread each. See bench/README.md for starting a
cluster and assigning GPUs to workers.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Iterator

__all__ = ["connect", "local_cluster", "cluster_profile", "run_units", "unit_key"]

#: one unit at a time per worker process, whatever its thread count
_WORKER_LOCK = threading.Lock()


def connect(scheduler: str, timeout: float = 60):
    """A ``distributed.Client`` of the running scheduler at ``scheduler`` (tcp://host:8786)."""
    from distributed import Client

    from ..errors import UserError

    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {exc}. Start one with "
                        f"`dask scheduler` and workers with `dask worker {scheduler} --nthreads 1`") from exc


def local_cluster(n_workers: int | None = None, cpu_threads: int | None = None):
    """Start a cluster of worker processes on this machine; return ``(cluster, client)``.

    n_workers : default one per GPU, else 1 (one TensorFlow process already uses every core)
    cpu_threads : compute threads per worker (default: the cores split evenly between workers)

    Each worker runs one task at a time. On a GPU machine worker i sees only GPU i mod the
    GPU count (``CUDA_VISIBLE_DEVICES``): more workers than GPUs share them, which overlaps
    the trees with the networks on one GPU. The cores are split between the workers
    (``TF_NUM_INTRAOP_THREADS``, ``OMP_NUM_THREADS``).
    """
    import os

    from distributed import Client, Nanny, Scheduler, SpecCluster

    from ..models import gpu_names

    n_gpus = len(gpu_names())
    n_workers = n_workers or max(1, n_gpus)
    cores = os.cpu_count() or 1
    threads = cpu_threads or max(1, cores // n_workers)
    workers = {}
    for i in range(n_workers):
        env = {"TF_NUM_INTRAOP_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
               "TF_CPP_MIN_LOG_LEVEL": "2", "TF_FORCE_GPU_ALLOW_GROWTH": "true",
               "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}  # workers sharing a GPU take memory as needed
        if n_gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % n_gpus)
        options = {"nthreads": 1, "env": env, "memory_limit": 0, "silence_logs": logging.WARNING}
        workers[f"datavsmath-{i}"] = {"cls": Nanny, "options": options}
    cluster = SpecCluster(workers=workers, scheduler={"cls": Scheduler, "options": {"dashboard_address": None}},
                          silence_logs=logging.WARNING)
    client = Client(cluster)
    client.wait_for_workers(n_workers, timeout=180)
    return cluster, client


def _worker_profile() -> dict:
    from .fused import configure_devices, device_profile

    configure_devices()
    return device_profile()


def cluster_profile(client, timeout: float = 300) -> tuple[dict, str]:
    """The device profile the planner should assume for ``client``'s workers, and a line for
    the log. GPU only if every worker has one; the smallest free GPU memory of them."""
    client.wait_for_workers(1, timeout=timeout)
    addrs = sorted(client.scheduler_info()["workers"])
    futs = [client.submit(_worker_profile, workers=[a], allow_other_workers=False, pure=False) for a in addrs]
    profiles = client.gather(futs)
    gpus = [p["gpu"] for p in profiles]
    profile = {"gpu": None, "gpu_free_bytes": None, "cpu_cores": min(p["cpu_cores"] for p in profiles)}
    if all(gpus):
        free = [p["gpu_free_bytes"] for p in profiles if p["gpu_free_bytes"]]
        profile.update(gpu=gpus[0], gpu_free_bytes=min(free) if free else None)
    devices = ", ".join(sorted({f"gpu:{g}" if g else "cpu" for g in gpus}))
    address = client.scheduler_info().get("address", "?")
    return profile, f"Dask cluster {address}, {len(addrs)} workers ({devices})"


def unit_key(exp, unit) -> str:
    """A task key naming the unit; the same unit gets the same key on every submission."""
    cells = "|".join(f"{c.frac_sample!r},{c.frac_damage!r},{c.replicate}" for c in unit.cells)
    digest = hashlib.sha256(f"{exp.name}|{exp.profile}|{exp.dataset}|{exp.seed}|{unit.model}|"
                            f"{unit.backend}|{cells}".encode()).hexdigest()[:16]
    return f"datavsmath-{exp.name}-{unit.model}-{digest}"


def _run_unit(exp, unit, data) -> list[dict]:
    """Worker side: train and score one unit, return its records; writes nothing."""
    from .fused import configure_devices
    from .units import execute_unit

    with _WORKER_LOCK:
        configure_devices()
        return execute_unit(exp, unit, data)


def run_units(client, exp, units, data) -> Iterator[tuple[object, list[dict]]]:
    """Submit every unit as a task; yield ``(unit, records)`` as tasks finish.

    On an error (or when the caller stops early, e.g. Ctrl-C) the tasks not yet finished are
    cancelled; what was yielded before is the caller's to keep.
    """
    from distributed import as_completed

    data_f = client.scatter(data, broadcast=True, hash=False)
    futures = {}
    for unit in units:
        fut = client.submit(_run_unit, exp, unit, data_f, key=unit_key(exp, unit), retries=1)
        futures[fut.key] = (fut, unit)
    try:
        for fut, records in as_completed([f for f, _ in futures.values()], with_results=True):
            yield futures[fut.key][1], records
    finally:
        client.cancel([f for f, _ in futures.values()])
        client.cancel(data_f)
