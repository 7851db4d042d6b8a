"""Run an experiment's grid fit by fit into a :class:`~datavsmath.store.ResultStore`.

Each finished fit is stored at once, so an interrupted run loses at most the work in flight,
and a rerun skips what is stored. The progress bar counts work in expected CPU seconds
(each model's measured full-data time, scaled by the rows it trains on), so its ETA does not
swing between a 1% CNN cell and a 100% one.

Execution backends (``backend``): "naive" fits one model on one cell at a time, as the R loop
did; "fused" trains the keras networks of cells that share their training rows (the damage
levels of one sample draw) as copies in one program (:mod:`datavsmath.fused`); "auto" picks
per model and device (:func:`datavsmath.fused.plan_for`). The grid is cut into *units* (one
naive fit, or one fused group); with a Dask ``client`` the units run as tasks on a cluster
(:mod:`datavsmath.cluster`) and this process stores what they return.

Without a cluster, the optimised backends can also run the trees (models with no fused path:
the forest on the CPU cores, xgboost on CUDA when there is a GPU) on background threads while
this thread trains the networks (:func:`tree_threads_for`): on a GPU machine the two use
different hardware, so the grid's wall time becomes the longer of the two instead of their sum.
"""

from __future__ import annotations

import json
import platform
import queue
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from .damage import constant_rule, damage_labels, random_rule, sample_rows
from .data import Dataset
from .experiments import Cell, Experiment
from .metrics import score
from .models import MODELS, device_label, keras_backend, make_model
from .store import ResultStore

__all__ = ["training_data", "fit_and_score", "run_experiment", "pending_fits", "fit_weight", "library_versions",
           "RunSummary", "Unit", "plan_units", "execute_unit", "tree_threads_for", "run_here"]

#: seconds a fit costs besides its rows (graph building, scoring 10,000 test rows)
FIT_OVERHEAD_SECONDS = 4.0

#: Background threads for the tree fits beside the networks, by device, when the backend is
#: not "naive". GPU: two, so that two xgboost fits (each leaves most of a large GPU idle) or an
#: xgboost fit and a forest overlap each other as well as the networks. CPU: see
#: bench/README.md ("Trees beside the networks"), measured on 2 cores.
TREE_THREADS = {"gpu": 2, "cpu": 0}


def training_data(exp: Experiment, cell: Cell, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The cell's training images and (damaged) labels: shapes (n, 28, 28) and (n,)."""
    n_rows = len(data.y_train)
    if cell.frac_sample == 1.0 and exp.full_sample_order == "file":
        idx = np.arange(n_rows)
    else:
        idx = sample_rows(n_rows, cell.frac_sample, np.random.default_rng(cell.draw_seed))
    y = data.y_train[idx]
    if exp.damage != "none" and cell.frac_damage > 0:
        rule = random_rule(data.n_classes) if exp.damage == "random" else constant_rule(data.n_classes, exp.damage_shift)
        y = damage_labels(y, cell.frac_damage, rule, np.random.default_rng(cell.seed), data.n_classes)
    return data.x_train[idx], y


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions that decide the numbers, recorded with every fit."""
    import importlib.metadata as md

    from . import __version__

    # the package's own version, also when it runs from a source tree that is not installed
    out = {"python": platform.python_version(), "datavsmath": __version__}
    for pkg in ("numpy", "tensorflow", "keras", "jax", "scikit-learn", "xgboost"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    out["keras_backend"] = keras_backend()
    return out


def _record(exp: Experiment, cell: Cell, model: str, n_train: int, proba, data: Dataset,
            fit_seconds: float, predict_seconds: float, backend: str = "naive", copies: int = 1) -> dict:
    return {
        "experiment": exp.name, "dataset": data.name, "model": model,
        "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "damage": exp.damage,
        "replicate": cell.replicate, "seed": cell.seed, "n_train": int(n_train),
        **score(data.y_test, proba),
        "fit_seconds": round(fit_seconds, 3), "predict_seconds": round(predict_seconds, 3),
        "device": device_label(), "profile": exp.profile,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "versions": json.dumps(library_versions(), sort_keys=True),
        # extra columns (after the standard ones): how the fit ran; a fused fit's seconds
        # are its group's wall time divided by the group's copies
        "backend": backend, "copies": int(copies),
    }


def fit_and_score(exp: Experiment, cell: Cell, model: str, x, y, data: Dataset) -> dict:
    """Train ``model`` on (x, y), score it on the test set; return the result record."""
    estimator = make_model(model, seed=cell.model_seed(model), n_classes=data.n_classes)
    t0 = time.perf_counter()
    estimator.fit(x, y)
    t1 = time.perf_counter()
    proba = estimator.predict_proba(data.x_test)
    t2 = time.perf_counter()
    return _record(exp, cell, model, len(y), proba, data, t1 - t0, t2 - t1)


def fused_fit_and_score(exp: Experiment, cells: list[Cell], model: str, data: Dataset,
                        jit: bool | None = None) -> list[dict]:
    """Train ``model`` on every cell of ``cells`` (which must share their training rows) as
    copies of one fused program; return one record per cell, in order."""
    from .fused import FusedKerasNets

    x, ys = None, []
    for cell in cells:
        xc, yc = training_data(exp, cell, data)
        if x is None:
            x = xc
        elif not np.array_equal(x, xc):
            raise ValueError(f"cells of a fused group must share their training rows; {cell} does not")
        ys.append(yc)
    nets = FusedKerasNets.for_model(model, [c.model_seed(model) for c in cells], data.n_classes, jit=jit)
    t0 = time.perf_counter()
    nets.fit(x, np.stack(ys))
    t1 = time.perf_counter()
    probas = nets.predict_proba(data.x_test)
    t2 = time.perf_counter()
    n = len(cells)
    return [_record(exp, cell, model, len(x), proba, data, (t1 - t0) / n, (t2 - t1) / n, "fused", n)
            for cell, proba in zip(cells, probas)]


def _key(exp: Experiment, cell: Cell, model: str) -> dict:
    return {"experiment": exp.name, "dataset": exp.dataset, "model": model,
            "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "replicate": cell.replicate}


def pending_fits(exp: Experiment, store: ResultStore) -> list[tuple[Cell, list[str]]]:
    """Cells with at least one model not yet stored, each with its missing models."""
    out = []
    for cell in exp.cells():
        missing = [m for m in exp.models if not store.has(_key(exp, cell, m))]
        if missing:
            out.append((cell, missing))
    return out


def fit_weight(model: str, n_train: int) -> float:
    """Expected CPU seconds of one fit, for the progress bar's ETA."""
    return MODELS[model].cpu_seconds_full * n_train / 60000 + FIT_OVERHEAD_SECONDS


@dataclass(frozen=True)
class Unit:
    """One piece of work: ``model`` on ``cells`` with ``backend`` "naive" (one fit per cell,
    one after another) or "fused" (the cells share their training rows and train together)."""

    model: str
    backend: str
    cells: tuple[Cell, ...]
    jit: bool = False

    @property
    def weight(self) -> float:
        return sum(fit_weight(self.model, c.n_train) for c in self.cells)

    def describe(self) -> str:
        c = self.cells[0]
        if len(self.cells) == 1:
            return f"{self.model} s={c.frac_sample:g} d={c.frac_damage:g}"
        damages = sorted({x.frac_damage for x in self.cells})
        return f"{self.model} x{len(self.cells)} s={c.frac_sample:g} d={damages[0]:g}..{damages[-1]:g}"


def plan_units(todo: list[tuple[Cell, list[str]]], plans: dict) -> list[Unit]:
    """Cut the pending fits into units, in the grid's order.

    plans : model -> :class:`datavsmath.fused.Plan`. A fused model's cells are grouped by
    their training-row draw (``Cell.draw_seed``: same sample fraction and replicate) and each
    group is split into chunks of at most ``max_copies``; the unit sits where its first
    cell comes in the grid.
    """
    units: list[Unit] = []
    groups: dict = {}
    for cell, models in todo:
        for model in models:
            plan = plans[model]
            if plan.backend != "fused":
                units.append(Unit(model, "naive", (cell,)))
                continue
            key = (model, cell.draw_seed, cell.frac_sample)
            if key not in groups or len(units[groups[key]].cells) >= plan.max_copies:
                groups[key] = len(units)
                units.append(Unit(model, "fused", (cell,), plan.jit))
            else:
                u = units[groups[key]]
                units[groups[key]] = Unit(model, "fused", u.cells + (cell,), u.jit)
    return units


def execute_unit(exp: Experiment, unit: Unit, data: Dataset) -> list[dict]:
    """Train and score one unit; return its result records (nothing is written)."""
    if unit.backend == "fused":
        return fused_fit_and_score(exp, list(unit.cells), unit.model, data, jit=unit.jit)
    out = []
    for cell in unit.cells:
        x, y = training_data(exp, cell, data)
        out.append(fit_and_score(exp, cell, unit.model, x, y, data))
    return out


def tree_threads_for(requested: str = "auto", profile: dict | None = None) -> int:
    """Background threads the runner gives the tree fits (0: everything on one thread, in
    grid order). "naive" never overlaps fits: it is the R loop."""
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
             on_start=None) -> None:
    """Run ``units`` in this process, calling ``on_done(unit, records)`` on this thread as
    each finishes (``on_start(unit)`` before a unit runs on this thread).

    tree_threads : 0 runs every unit here in grid order; more runs the tree units (models
        with no fused path) on that many background threads while this thread trains the
        networks. On an error or Ctrl-C the units finished so far are still handed to
        ``on_done`` before it propagates.
    """
    from .fused import fusable

    here = [u for u in units if not tree_threads or fusable(u.model)]
    library_versions(), device_label()  # cached here: they import keras, which threads must not race on
    trees = _TreeThreads(exp, [u for u in units if tree_threads and not fusable(u.model)], data, tree_threads)
    try:
        for unit in here:
            if on_start is not None:
                on_start(unit)
            on_done(unit, execute_unit(exp, unit, data))
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
                   log=print, backend: str = "auto", client=None, tree_threads: int | None = None) -> RunSummary:
    """Run every fit of ``exp`` that ``store`` lacks; store each as it finishes.

    backend : "auto", "naive" or "fused" (see the module docstring)
    client : a ``distributed.Client``: run the units as Dask tasks on its cluster
    tree_threads : background threads for the tree fits beside the networks (not with a
        client or the naive backend); default :func:`tree_threads_for` the device
    """
    from tqdm.auto import tqdm

    from .fused import device_profile, fusable, plan_for

    if data.name != exp.dataset:
        raise ValueError(f"experiment wants dataset {exp.dataset!r}, got {data.name!r}")
    if tree_threads is not None and tree_threads < 0:
        raise ValueError(f"tree_threads must be 0 or more, got {tree_threads}")
    todo = pending_fits(exp, store)
    n_todo = sum(len(models) for _, models in todo)
    skipped = exp.n_fits - n_todo
    if not todo:
        log(f"{exp.name}: all {exp.n_fits} fits already stored in {store.root}")
        return RunSummary(exp.name, 0, skipped, 0.0)
    if client is None:
        profile, where = device_profile(), f"device {device_label()}"
    else:
        from .cluster import cluster_profile

        profile, where = cluster_profile(client)
    plans = {m: plan_for(m, backend, profile) for m in exp.models}
    units = plan_units(todo, plans)
    if client is not None or backend == "naive":
        tree_threads = 0  # a cluster runs units side by side itself; naive is the R loop
    elif tree_threads is None:
        tree_threads = tree_threads_for(backend, profile)
    log(f"{exp.name} [{exp.profile}]: {n_todo} fits to run, {skipped} stored; {where}")
    log("  backend: " + "; ".join(str(plans[m]) for m in exp.models))
    if tree_threads and any(not fusable(u.model) for u in units):
        log(f"  trees: on {tree_threads} background thread{'s' if tree_threads > 1 else ''} "
            "beside the networks")
    if client is None and keras_backend() == "jax" and not profile.get("gpu") and "cnn" in exp.models:
        log("  note: keras on JAX trains the CNN about 4x slower than on TensorFlow on a CPU "
            "(bench/README.md); unset KERAS_BACKEND to use TensorFlow")
    if exp.note:
        log(f"  note: {exp.note}")
    total = sum(u.weight for u in units)
    start = time.perf_counter()
    with tqdm(total=round(total), unit="cpu-s", desc=exp.name, disable=not progress, file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}") as bar:
        done = 0

        def on_start(unit: Unit) -> None:
            bar.set_postfix_str(f"{done}/{n_todo} fits, now {unit.describe()}")

        def on_done(unit: Unit, records: list[dict]) -> None:
            nonlocal done
            for record in records:
                store.put(record)  # False for a duplicate: never stored twice
            done += len(unit.cells)
            bar.set_postfix_str(f"{done}/{n_todo} fits, last {unit.describe()}")
            bar.update(round(unit.weight))

        if client is None:
            run_here(exp, units, data, on_done, tree_threads=tree_threads, on_start=on_start)
        else:
            from .cluster import run_units

            for unit, records in run_units(client, exp, units, data, log=log):
                on_done(unit, records)
    return RunSummary(exp.name, n_todo, skipped, time.perf_counter() - start)
