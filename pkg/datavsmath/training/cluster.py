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
  ``put`` ignores a fit that is already stored (unless under an older model recipe, which it
  replaces), so a rerun resumes and nothing is stored twice;
* a worker lost mid-task is first the scheduler's business: it reschedules the task on another
  worker (up to ``distributed.scheduler.allowed-failures`` times, 3 by default). When that is
  not enough (the task ends in ``KilledWorker``, or is cancelled: by ``client.restart``, or
  because the only copy of the scattered dataset died with its worker), this client scatters
  the dataset again if it was lost and resubmits the unit, up to :data:`MAX_ATTEMPTS`
  submissions; then the run stops with a :class:`~datavsmath.errors.UserError` naming the unit,
  and a rerun resumes. Tasks that raise are retried once by the scheduler, then their error
  propagates (a bug, not a lost machine).
* a lost scheduler (the client's connection to it closes) cancels every task at once: the run
  stops with a UserError that says so, the fits stored so far are kept, and a rerun resumes.

A local cluster listens on 127.0.0.1 only (scheduler, workers, nannies; no dashboard): it
has no authentication. Securing a real cluster (TLS, a ``distributed.security`` config):
bench/README.md.

Each worker process trains one unit at a time (keras' seeding and session state are
per-process), so start workers with one thread each. See bench/README.md for starting a
cluster and assigning GPUs to workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import signal
import threading
from concurrent.futures import CancelledError
from typing import Any, Iterator

__all__ = ["connect", "local_cluster", "cluster_profile", "run_units", "unit_key", "MAX_ATTEMPTS"]

#: submissions of one unit before the run gives up on it: the first, and resubmissions after it
#: was lost with a worker or cancelled. Each submission also has the scheduler's own reruns
#: after a worker dies (``distributed.scheduler.allowed-failures``), so a unit that fails this
#: often kills its workers (out of memory, a crashing GPU driver) rather than met bad luck.
MAX_ATTEMPTS = 3

#: seconds to wait for a worker to (re)join before scattering the dataset again
WORKER_WAIT_SECONDS = 180

#: the local cluster's interface: loopback, as nothing there authenticates its peers
LOCAL_HOST = "127.0.0.1"

#: one unit at a time per worker process, whatever its thread count
_WORKER_LOCK = threading.Lock()


def connect(scheduler: str, timeout: float = 60):
    """A ``distributed.Client`` of a running Dask scheduler.

    Parameters
    ----------
    scheduler : str
        Its address, e.g. ``"tcp://host:8786"``.
    timeout : float, default 60
        Seconds to wait for it.

    Returns
    -------
    distributed.Client

    Raises
    ------
    datavsmath.errors.UserError
        If the scheduler cannot be reached (the message says how to start one).
    """
    from distributed import Client

    from ..errors import UserError

    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {exc}. Start one with "
                        f"`dask scheduler` and workers with `dask worker {scheduler} --nthreads 1`") from exc


def local_cluster(n_workers: int | None = None, cpu_threads: int | None = None):
    """Start a cluster of worker processes on this machine.

    Each worker runs one task at a time. On a GPU machine worker i sees only GPU i mod the
    GPU count (``CUDA_VISIBLE_DEVICES``): more workers than GPUs share them, which overlaps
    the trees with the networks on one GPU. The cores are split between the workers
    (``TF_NUM_INTRAOP_THREADS``, ``OMP_NUM_THREADS``).

    Everything listens on 127.0.0.1 only, with no dashboard: a Dask cluster runs whatever
    pickled code a peer sends it, and this one has no authentication.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default one per GPU, else 1 (one TensorFlow process already uses
        every core).
    cpu_threads : int, optional
        Compute threads per worker; default the cores split evenly between the workers.

    Returns
    -------
    tuple of (distributed.SpecCluster, distributed.Client)
        The cluster and a client of it; close both when done.
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
        # ERROR: a worker warns of each task cancelled when the run stops (Ctrl-C), which the run says itself
        options = {"nthreads": 1, "env": env, "memory_limit": 0, "silence_logs": logging.ERROR,
                   "host": LOCAL_HOST, "dashboard_address": f"{LOCAL_HOST}:0"}  # the worker's /health, /metrics
        workers[f"datavsmath-{i}"] = {"cls": Nanny, "options": options}
    scheduler = {"cls": Scheduler, "options": {"host": LOCAL_HOST, "dashboard": False,
                                               "dashboard_address": f"{LOCAL_HOST}:0"}}
    with _workers_ignore_ctrl_c():
        cluster = SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.WARNING)
        client = Client(cluster)
        client.wait_for_workers(n_workers, timeout=180)
    return cluster, client


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """SIGINT ignored while the worker processes start, which inherit that: Ctrl-C at a
    terminal signals the whole process group, and a worker that took it printed a 30-line
    KeyboardInterrupt traceback. The run's own process handles it and closes the workers."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def quiet_after_interrupt() -> None:
    """After Ctrl-C the cluster is closed under tasks in flight; Dask then logs their
    cancellation and the lost scattered data at WARNING and ERROR, which says nothing the
    run's one line does not ("interrupted; finished fits are saved ...")."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def _worker_profile() -> dict:
    from .fused import configure_devices, device_profile

    configure_devices()
    return device_profile()


async def _worker_profile_async() -> dict:
    import asyncio

    # off the worker's event loop: importing the keras backend can take a minute
    return await asyncio.get_running_loop().run_in_executor(None, _worker_profile)


def _probe_workers(client, timeout: float) -> list[dict]:
    """Every connected worker's device profile. Asked directly (``client.run``), not as tasks
    pinned to worker addresses: such a task waits forever for a worker that died and came back
    under another address. A worker lost while answering is left out, unless all were."""
    from ..errors import UserError

    for _ in range(MAX_ATTEMPTS):
        client.wait_for_workers(1, timeout=timeout)
        answers = client.run(_worker_profile_async, on_error="return")
        profiles = [p for p in answers.values() if isinstance(p, dict)]
        if profiles:
            return profiles
    raise UserError(f"every Dask worker was lost while reporting its device, {MAX_ATTEMPTS} times; "
                    f"last: {next(iter(answers.values()), 'no answer')}")


def cluster_profile(client, timeout: float = 300) -> tuple[dict, str]:
    """The device profile the planner should assume for a cluster's workers.

    GPU only if every worker has one; then the smallest free GPU memory of them.

    Parameters
    ----------
    client : distributed.Client
        A client of the cluster.
    timeout : float, default 300
        Seconds to wait for the workers to answer.

    Returns
    -------
    tuple of (dict, str)
        The profile (``gpu``, ``gpu_free_bytes``, ``cpu_cores``) and a line for the log.
    """
    profiles = _probe_workers(client, timeout)
    gpus = [p["gpu"] for p in profiles]
    profile = {"gpu": None, "gpu_free_bytes": None, "cpu_cores": min(p["cpu_cores"] for p in profiles)}
    if all(gpus):
        free = [p["gpu_free_bytes"] for p in profiles if p["gpu_free_bytes"]]
        profile.update(gpu=gpus[0], gpu_free_bytes=min(free) if free else None)
    devices = ", ".join(sorted({f"gpu:{g}" if g else "cpu" for g in gpus}))
    address = client.scheduler_info().get("address", "?")
    return profile, f"Dask cluster {address}, {len(profiles)} workers ({devices})"


def unit_key(exp, unit) -> str:
    """A task key naming the unit; the same unit gets the same key on every submission.

    Parameters
    ----------
    exp : datavsmath.experiments.Experiment
        The unit's experiment.
    unit : datavsmath.training.units.Unit
        The cells trained together.

    Returns
    -------
    str
        ``datavsmath-<experiment>-<model>-<16 hex digits>``.
    """
    # the rule and a pruning selection only where present, so that other units keep their keys
    cells = "|".join(f"{c.frac_sample!r},{c.frac_damage!r},{c.replicate}" + (f",{c.rule}" if c.rule else "")
                     + ("" if c.selection == "random" else f",{c.selection}") for c in unit.cells)
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


class _SharedData:
    """The dataset as the workers' copy of it: scattered once, scattered again if lost.

    Scattered data has no recipe the scheduler could rerun, so when the last worker holding it
    dies (the only worker of a one-worker cluster, or every worker at a ``client.restart``) the
    scheduler forgets it and cancels every task that needs it. The client keeps the verified
    arrays in memory anyway and is the one place that cannot lose them while the run lasts, so
    it scatters them again. The alternatives are less robust: workers loading the files
    themselves would need the data files (and the same checksums) on every worker machine; a
    task holding the arrays would keep a copy in the scheduler's memory; and a content-hashed
    key (``hash=True``) does not help, as the scheduler forgets lost scattered data whatever its
    key.
    """

    def __init__(self, client, data):
        self._client, self._data = client, data
        self._future = self._scatter()

    def _scatter(self):
        from ..errors import UserError

        try:
            self._client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        except TimeoutError as exc:
            raise UserError(f"no Dask worker is connected to the scheduler after "
                            f"{WORKER_WAIT_SECONDS} s; start one (`dask worker ADDRESS --nthreads 1`) "
                            "and rerun: the fits stored so far are kept") from exc
        # broadcast: every worker has a replica, so one lost worker loses no data
        return self._client.scatter(self._data, broadcast=True, hash=False)

    def _alive(self) -> bool:
        if self._future.status != "finished":
            return False
        # the scheduler may have forgotten the key before this client heard of it
        return bool(self._client.who_has(self._future).get(self._future.key))

    def future(self, check: bool = False):
        """The future of the workers' copy; with ``check``, scattered again if it was lost."""
        if check and not self._alive():
            self._client.cancel(self._future)
            self._future = self._scatter()
        return self._future

    def release(self) -> None:
        self._client.cancel(self._future)


def _outcome(future) -> tuple[list[dict] | None, str | None]:
    """``(records, None)`` for a finished task, ``(None, why)`` for one the cluster lost (to
    resubmit). A task's own error (after the scheduler's retry) is raised."""
    from distributed import KilledWorker

    try:
        return future.result(), None
    except KilledWorker as exc:
        return None, f"its workers died while running it ({exc})"
    except CancelledError as exc:  # distributed's FutureCancelledError is one
        return None, f"it was cancelled ({exc or 'a restart, or its data was lost with a worker'})"


def _connection_lost(client) -> bool:
    """Whether ``client`` lost its scheduler (it is reconnecting, or gave up and closed)."""
    return client.status in ("connecting", "closing", "closed")


def _lost_error(address, why):
    from ..errors import UserError

    why = str(why).strip().splitlines()[0] if str(why).strip() else type(why).__name__
    return UserError(f"lost the connection to the Dask scheduler at {address} ({why}). The fits stored "
                     "so far are kept; rerun the command once the scheduler is back (or without "
                     "--scheduler to run on this machine) to resume")


def run_units(client, exp, units, data, *, log=None, attempts: int | None = None) -> Iterator[tuple[Any, list[dict]]]:
    """Submit every unit as a task; yield ``(unit, records)`` as tasks finish.

    A unit lost with a worker or cancelled is submitted again (the dataset scattered again if
    it was lost too), at most ``attempts`` submissions in all. If the client loses the
    scheduler itself, nothing is resubmitted. On an error (or when the caller stops early,
    e.g. Ctrl-C) the tasks not yet finished are cancelled; what was yielded before is the
    caller's to keep.

    Parameters
    ----------
    client : distributed.Client
        A client of the cluster.
    exp : datavsmath.experiments.Experiment
        The experiment the units belong to.
    units : iterable of datavsmath.training.units.Unit
        The units to train.
    data : datavsmath.data.Dataset
        The dataset, scattered to the workers once.
    log : callable, optional
        Gets a line per resubmission.
    attempts : int, optional
        Submissions per unit at most (default :data:`MAX_ATTEMPTS`), at least 1.

    Yields
    ------
    tuple of (datavsmath.training.units.Unit, list of dict)
        A finished unit and its records (one per cell).

    Raises
    ------
    ValueError
        If ``attempts`` is below 1.
    datavsmath.errors.UserError
        If a unit failed ``attempts`` times, or the scheduler was lost.
    """
    from distributed import as_completed

    from ..errors import UserError

    attempts = MAX_ATTEMPTS if attempts is None else attempts
    if attempts < 1:
        raise ValueError(f"attempts must be 1 or more, got {attempts}")
    log = log or (lambda *a: None)
    address = client.scheduler.address if client.scheduler is not None else "(unknown address)"
    shared = _SharedData(client, data)
    running: dict[str, tuple[Any, Any]] = {}  # task key -> (future, unit)
    tries: dict[str, int] = {}  # unit key -> submissions so far

    def submit(unit, check: bool = False):
        ukey = unit_key(exp, unit)
        tries[ukey] = n = tries.get(ukey, 0) + 1
        # a fresh key per submission: the scheduler may still hold the failed one
        key = ukey if n == 1 else f"{ukey}-attempt{n}"
        fut = client.submit(_run_unit, exp, unit, shared.future(check), key=key, retries=1, pure=False)
        running[fut.key] = (fut, unit)
        return fut

    done = as_completed([submit(u) for u in units])
    try:
        for fut in done:
            _, unit = running.pop(fut.key)
            try:
                records, why = _outcome(fut)
            except OSError as exc:  # the comm closed under a result being fetched
                if _connection_lost(client):
                    raise _lost_error(address, exc) from exc
                raise
            fut.release()
            if records is not None:  # finished; else ``why`` says how the cluster lost it
                yield unit, records
                continue
            if _connection_lost(client):
                # the client cancels every future when its scheduler goes: resubmitting cannot help
                raise _lost_error(address, "every task still running was cancelled with it")
            n = tries[unit_key(exp, unit)]
            if n >= attempts:
                raise UserError(f"{exp.name}: unit {unit.describe()} ({unit_key(exp, unit)}) failed on the "
                                f"Dask cluster {n} times; last: {why}. The fits stored so far are kept; "
                                "rerun the command to resume")
            log(f"  resubmitting {unit.describe()} (attempt {n + 1} of {attempts}): {why}")
            try:
                done.add(submit(unit, check=True))
            except OSError as exc:
                if _connection_lost(client):
                    raise _lost_error(address, exc) from exc
                raise
    finally:
        if not _connection_lost(client):  # a lost client has cancelled them already
            client.cancel([f for f, _ in running.values()])
            shared.release()
