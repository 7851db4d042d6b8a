"""Run an experiment's grid fit by fit into a :class:`~datavsmath.training.store.ResultStore`.

Each finished fit is stored at once, so an interrupted run loses at most the work in flight,
and a rerun skips what is stored. The progress bar counts work in expected CPU seconds
(each model's measured full-data time, scaled by the rows it trains on), so its ETA does not
swing between a 1% CNN cell and a 100% one.

Execution backends (``backend``): "naive" fits one model on one cell at a time, as the R loop
did; "fused" trains the keras networks of cells of similar size (the damage levels of one
sample draw, neighbouring sample fractions) as copies in one program, each on its own rows
(:mod:`datavsmath.training.fused`, :func:`datavsmath.training.units.plan_units`); "auto" picks
per model and device (:func:`datavsmath.training.fused.plan_for`). The grid is cut into *units* (one
naive fit, or one fused group); with a Dask ``client`` the units run as tasks on a cluster
(:mod:`datavsmath.training.cluster`) and this process stores what they return.

Without a cluster, the optimised backends can also run the trees (models with no fused path:
the forest on the CPU cores, xgboost on CUDA when there is a GPU) on background threads while
this thread trains the networks (:func:`tree_threads_for`): on a GPU machine the two use
different hardware, so the grid's wall time becomes the longer of the two instead of their sum.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass

from ..data import Dataset
from ..experiments import Experiment
from ..models import device_label, keras_backend
from . import checkpoints
from .plan import ExperimentPlan, RunPlan
from .store import ResultStore
from .units import Unit, execute_unit, library_versions, units_to_run

__all__ = ["run_experiment", "RunSummary", "run_here", "tree_threads_for", "TREE_THREADS"]


#: Most fits planned at once (whole replicates; at least one): the grids shipped here, even
#: at several replicates, are planned whole, as one piece, and their fused groups may join
#: cells of different replicates; a larger grid is planned replicate range by range.
PLAN_FITS = 10_000

#: Background threads for the tree fits beside the networks, by device, when the backend is
#: not "naive". GPU: two, so that two xgboost fits (each leaves most of a large GPU idle) or an
#: xgboost fit and a forest overlap each other as well as the networks. CPU: 0, measured on 2
#: cores twice: the overlap section (trees beside the fused DNN 0.87x) and the threads section
#: (xgboost started beside a forest 1.20x slower than the two in line, beside a DNN 0.80x;
#: bench/README.md, "xgboost's threads"): the trees take their turn.
TREE_THREADS = {"gpu": 2, "cpu": 0}


def tree_threads_for(requested: str = "auto", profile: dict | None = None) -> int:
    """Background threads the runner gives the tree fits.

    Parameters
    ----------
    requested : str
        The backend asked for; "naive" never overlaps fits: it is the R loop.
    profile : dict, optional
        The device (:func:`datavsmath.training.fused.device_profile`); default this process's.

    Returns
    -------
    int
        :data:`TREE_THREADS` of the device; 0: everything on one thread, in grid order.
    """
    if requested == "naive":
        return 0
    if profile is None:
        from .fused import device_profile

        profile = device_profile()
    return TREE_THREADS["gpu" if profile.get("gpu") else "cpu"]


class _TreeThreads:
    """Daemon threads that run tree units (largest first) and queue what they return.

    Daemon threads, so that Ctrl-C ends the run at once: a fit in flight there is lost like
    the main thread's, and everything finished before is handed back (:meth:`finished`).
    """

    def __init__(self, exp: Experiment, units: list[Unit], data: Dataset, threads: int):
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        for unit in sorted(units, key=lambda u: u.weight, reverse=True):
            self._todo.put(unit)
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._left = len(units)
        self._exp, self._data = exp, data
        for i in range(min(threads, len(units))):
            threading.Thread(target=self._work, name=f"datavsmath-trees-{i}", daemon=True).start()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                unit = self._todo.get_nowait()
            except queue.Empty:
                return
            try:
                self._done.put((unit, execute_unit(self._exp, unit, self._data), None))
            except BaseException as exc:  # handed to the main thread, which raises it
                self._done.put((unit, None, exc))
                return

    def finished(self, wait: bool):
        """Yield ``(unit, records)`` for each unit finished so far; with ``wait``, until all
        are. A unit that raised is raised here, after the others finished so far."""
        error = None
        while self._left:
            block = wait and error is None  # after an error, only collect what is already done
            try:
                unit, records, exc = self._done.get(timeout=0.5) if block else self._done.get_nowait()
            except queue.Empty:
                if block:
                    continue  # the timeout keeps Ctrl-C responsive
                break
            self._left -= 1
            if exc is not None:
                self._stop.set()
                error = error or exc
            else:
                yield unit, records
        if error is not None:
            raise error

    def stop(self) -> None:
        """Start no more units (the ones in flight finish on their own)."""
        self._stop.set()


def run_here(exp: Experiment, units: list[Unit], data: Dataset, on_done, *, tree_threads: int = 0,
             on_start=None, on_epoch=None) -> None:
    """Run ``units`` in this process, handing each one's records to ``on_done`` on this thread as
    it finishes.

    Parameters
    ----------
    exp : Experiment
        The grid.
    units : list of Unit
        What to run.
    data : Dataset
        Training and test set.
    on_done : callable
        ``on_done(unit, records)``.
    tree_threads : int
        0 runs every unit here in grid order; more runs the tree units (models with no fused
        path) on that many background threads while this thread trains the networks. On an
        error or Ctrl-C the units finished so far are still handed to ``on_done`` before it
        propagates.
    on_start : callable, optional
        ``on_start(unit)`` before a unit runs on this thread.
    on_epoch : callable, optional
        ``on_epoch(unit, done, epochs)`` after each epoch of a fused group on this thread.
    """
    from .fused import fusable

    here = [u for u in units if not tree_threads or fusable(u.model)]
    library_versions(), device_label()  # cached here: they import keras, which threads must not race on
    trees = _TreeThreads(exp, [u for u in units if tree_threads and not fusable(u.model)], data, tree_threads)
    try:
        for unit in here:
            if on_start is not None:
                on_start(unit)
            if on_epoch is None:
                on_done(unit, execute_unit(exp, unit, data))
            else:
                on_done(unit, execute_unit(exp, unit, data,
                                           on_epoch=lambda i, n, unit=unit: on_epoch(unit, i, n)))
            for done in trees.finished(wait=False):
                on_done(*done)
        for done in trees.finished(wait=True):
            on_done(*done)
    except BaseException:
        trees.stop()
        for done in trees.finished(wait=False):  # keep what finished beside the failure
            on_done(*done)
        raise
    finally:
        trees.stop()


@dataclass
class RunSummary:
    """What one call of :func:`run_experiment` did."""

    experiment: str
    fitted: int
    skipped: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.experiment}: {self.fitted} fits done in {self.seconds:.0f} s, "
                f"{self.skipped} already stored")


def run_experiment(exp: Experiment, store: ResultStore, data: Dataset, *, progress: bool = True,
                   log=print, backend: str = "auto", client=None, tree_threads: int | None = None,
                   plan: ExperimentPlan | None = None) -> RunSummary:
    """Run every fit of ``exp`` that ``store`` lacks; store each as it finishes.

    Parameters
    ----------
    exp : Experiment
        The grid.
    store : ResultStore
        The results folder.
    data : Dataset
        The experiment's dataset.
    progress : bool
        Show a progress bar (on stderr).
    log : callable
        Where the lines on the plan and the backend go.
    backend : str
        "auto", "naive" or "fused" (see the module docstring).
    client : distributed.Client, optional
        Run the units as Dask tasks on its cluster.
    tree_threads : int, optional
        Background threads for the tree fits beside the networks (not with a client or the
        naive backend); default :func:`tree_threads_for` the device.
    plan : ExperimentPlan, optional
        The experiment's counts, made by the run's :class:`~datavsmath.training.plan.RunPlan`
        against ``store``; counted here when not given.

    Returns
    -------
    RunSummary
        Fits done, fits already stored, seconds.
    """
    from tqdm.auto import tqdm

    from .fused import device_profile, fusable, plan_for

    if data.name != exp.dataset:
        raise ValueError(f"experiment wants dataset {exp.dataset!r}, got {data.name!r}")
    if tree_threads is not None and tree_threads < 0:
        raise ValueError(f"tree_threads must be 0 or more, got {tree_threads}")
    if plan is None:
        plan = ExperimentPlan.count(exp, store)
    elif plan.experiment != exp:
        raise ValueError(f"the plan is of experiment {plan.experiment.name!r}, not of {exp.name!r}")
    n_todo, total = plan.n_pending, plan.seconds
    skipped = exp.n_fits - n_todo
    if not n_todo:
        log(f"{exp.name}: all {exp.n_fits} fits already stored in {store.root}")
        return RunSummary(exp.name, 0, skipped, 0.0)
    if client is None:
        profile, where = device_profile(), f"device {device_label()}"
    else:
        from .cluster import cluster_profile

        profile, where = cluster_profile(client)
    plans = {m: plan_for(m, backend, profile) for m in exp.models}
    if client is not None or backend == "naive":
        tree_threads = 0  # a cluster runs units side by side itself; naive is the R loop
    elif tree_threads is None:
        tree_threads = tree_threads_for(backend, profile)
    log(f"{exp.name} [{exp.profile}]: {n_todo} fits to run, {skipped} stored; {where}")
    log("  backend: " + "; ".join(str(plans[m]) for m in exp.models))
    if tree_threads and any(not fusable(m) for m in exp.models):
        log(f"  trees: on {tree_threads} background thread{'s' if tree_threads > 1 else ''} "
            "beside the networks")
    if client is None and keras_backend() == "jax" and not profile.get("gpu") and "cnn" in exp.models:
        log("  note: keras on JAX trains the CNN about 4x slower than on TensorFlow on a CPU "
            "(bench/README.md); unset KERAS_BACKEND to use TensorFlow")
    if exp.note:
        log(f"  note: {exp.note}")
    start = time.perf_counter()
    with tqdm(total=round(total), unit="cpu-s", desc=exp.name, disable=not progress, file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}") as bar:
        done = 0

        def on_start(unit: Unit) -> None:
            bar.set_postfix_str(f"{done}/{n_todo} fits, now {unit.describe()}")

        credited: dict[int, float] = {}  # bar units already given to a unit by its epochs

        def on_epoch(unit: Unit, epoch: int, epochs: int) -> None:
            # a fused group can train for minutes: move the bar (and its ETA) epoch by epoch
            step = unit.weight / epochs
            credited[id(unit)] = credited.get(id(unit), 0.0) + step
            bar.set_postfix_str(f"{done}/{n_todo} fits, now {unit.describe()}, epoch {epoch}/{epochs}")
            bar.update(step)

        def on_done(unit: Unit, records: list[dict]) -> None:
            nonlocal done
            # False for a fit already stored (a unit retrains its stored cells with the rest):
            # never stored twice
            stored = sum(store.put(record) for record in records)
            checkpoints.fits_stored(stored)
            done += stored
            bar.set_postfix_str(f"{done}/{n_todo} fits, last {unit.describe()}")
            bar.update(unit.weight - credited.pop(id(unit), 0.0))

        # planned a bounded share of the grid at a time (every grid of up to PLAN_FITS fits
        # in one piece): a grid of millions of fits never holds its cells or units at once;
        # units are cut from the whole share, stored fits included, so that a resumed run
        # trains the units an uninterrupted one does
        for replicates in exp.replicate_chunks(PLAN_FITS):
            units = units_to_run(exp, store, plans, replicates)
            if client is None:
                run_here(exp, units, data, on_done, tree_threads=tree_threads, on_start=on_start,
                         on_epoch=on_epoch if progress else None)
            else:
                from .cluster import run_units

                for unit, records in run_units(client, exp, units, data, log=log):
                    on_done(unit, records)
    return RunSummary(exp.name, n_todo, skipped, time.perf_counter() - start)


def run_plan(plan: RunPlan, store: ResultStore, datasets: dict, **options):
    """Run every experiment of ``plan`` that has pending fits, with :func:`run_experiment`.

    Parameters
    ----------
    plan : RunPlan
        What to run, counted once against ``store`` (:meth:`RunPlan.build`).
    store : ResultStore
        The results folder the plan was counted against.
    datasets : dict of str -> Dataset
        The loaded data, by the experiments' dataset names.
    **options
        ``run_experiment``'s keyword options (progress, backend, client, tree_threads).

    Yields
    ------
    RunSummary
        One per experiment, as it finishes.
    """
    for p in plan.experiments:
        yield run_experiment(p.experiment, store, datasets[p.experiment.dataset], plan=p, **options)
