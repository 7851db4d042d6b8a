"""A grid *unit* and its execution: one naive fit, or one fused group of networks that share
their training rows, from the cell's data to the records to store.

Both ways of running a grid use this module: the runner in this process
(:mod:`datavsmath.training.runner`) and the Dask tasks on a cluster
(:mod:`datavsmath.training.cluster`), so neither depends on the other.
"""

from __future__ import annotations

import json
import platform
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from ..damage import sample_rows
from ..data import Dataset
from ..experiments import R_EXPERIMENTS, Cell, Experiment, derive_seed, load_experiment
from ..metrics import score
from ..models import MODELS, device_label, keras_backend, make_model, pretrained_fields
from ..noise import counts_text, damage_by_rule
from . import checkpoints
from .fused import PROGRAM_VERSION
from .provenance import cpu_model
from .store import RECIPE, ResultStore, cell_id, effective_recipe

#: seconds a fit costs besides its rows (graph building, scoring 10,000 test rows)
FIT_OVERHEAD_SECONDS = 4.0



def cell_rule(exp: Experiment, cell: Cell) -> str:
    """The damage rule of a cell: its own on a rule axis, else the experiment's."""
    return cell.rule or exp.damage


def cell_labels(exp: Experiment, cell: Cell, data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row indices (n,), clean labels (n,), damaged labels (n,)) of a cell's training rows,
    in the order a naive fit is given them."""
    n_rows = len(data.y_train)
    if cell.selection != "random":
        from ..pruning import dataset_scores, select_rows

        idx = select_rows(dataset_scores(data, exp.score_seed(cell.replicate)), data.y_train,
                          cell.frac_sample, cell.selection, np.random.default_rng(cell.draw_seed))
    elif cell.frac_sample == 1.0 and exp.full_sample_order == "file":
        idx = np.arange(n_rows)
    else:
        idx = sample_rows(n_rows, cell.frac_sample, np.random.default_rng(cell.draw_seed))
    clean = y = data.y_train[idx]
    rule = cell_rule(exp, cell)
    if rule != "none" and cell.frac_damage > 0:
        # the uncertainty model of instance damage is seeded by the draw: every damage level
        # and rule of one training draw sees the same scores
        y = damage_by_rule(clean, cell.frac_damage, rule, np.random.default_rng(cell.seed), data.n_classes,
                           shift=exp.damage_shift, matrix_file=exp.damage_matrix, dataset=data.name,
                           x=data.x_train[idx] if rule == "instance" else None,
                           proba_seed=derive_seed(cell.draw_seed, "uncertainty"))
    return idx, clean, y


def training_rows(exp: Experiment, cell: Cell, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The cell's training rows of ``data.x_train`` and their (damaged) labels: shapes (n,)
    and (n,), in the order a naive fit is given them."""
    idx, _, y = cell_labels(exp, cell, data)
    return idx, y


def training_data(exp: Experiment, cell: Cell, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The cell's training examples and (damaged) labels: shapes (n, *data.input_shape) and (n,)."""
    idx, y = training_rows(exp, cell, data)
    return data.x_train[idx], y


def noise_fields(cell: Cell, clean: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    """What a cell's damage realised, for its record: the transition counts of its clean
    labels ``clean`` (n,) to the labels trained on ``y`` (n,) (K x K, rows the clean class; see
    :func:`datavsmath.noise.counts_text`), and the rule's axis value on a rule axis."""
    out = {"transition_counts": counts_text(clean, y, n_classes)}
    if cell.rule:
        out["noise_rule"] = cell.rule
    return out



@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions that decide the numbers, recorded with every fit."""
    import importlib.metadata as md

    from .. import __version__

    # the package's own version, also when it runs from a source tree that is not installed
    out = {"python": platform.python_version(), "datavsmath": __version__}
    for pkg in ("numpy", "tensorflow", "keras", "jax", "scikit-learn", "xgboost"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    out["keras_backend"] = keras_backend()
    return out



def _record(exp: Experiment, cell: Cell, model: str, clean: np.ndarray, y: np.ndarray, proba, data: Dataset,
            fit_seconds: float, predict_seconds: float, unit: "Unit") -> dict:
    """The result record of one fit, trained as part of ``unit``; ``clean`` and ``y``: its
    training rows' clean and trained-on labels, shapes (n,)."""
    selection = {"selection": cell.selection} if exp.selection != ("random",) else {}
    return {
        "experiment": exp.name, "dataset": data.name, "model": model, **selection,
        "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "damage": cell_rule(exp, cell),
        "replicate": cell.replicate, "seed": cell.seed, "n_train": len(y),
        **score(data.y_test, proba),
        "fit_seconds": round(fit_seconds, 3), "predict_seconds": round(predict_seconds, 3),
        "device": device_label(), "profile": exp.profile,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "versions": json.dumps(library_versions(), sort_keys=True),
        # extra columns (after the standard ones): how the fit ran; a fused fit's seconds
        # are its group's wall time divided by the group's copies
        "backend": unit.backend, "copies": len(unit.cells),
        # what else a network's numbers depend on: the cells trained with it in one program
        # and the CPU's arithmetic (datavsmath.training.envelope)
        "unit": unit_label(unit), "cpu": cpu_model(),
        # the model recipe it was trained under: a later recipe retrains it; and, for a fused
        # network, the version of the program that trained it (for verify's envelope)
        RECIPE: MODELS[model].recipe,
        **({"program": PROGRAM_VERSION} if unit.backend == "fused" else {}),
        **noise_fields(cell, clean, y, data.n_classes),
        # a fine-tuned network's starting weights: which pretraining, by its file's SHA-256
        **pretrained_fields(model),
    }



def fit_and_score(exp: Experiment, cell: Cell, model: str, x, y, data: Dataset, clean=None) -> dict:
    """Train ``model`` on (x, y), score it on the test set; return the result record.
    ``clean``: the rows' clean labels (n,) for the record's transition counts (default: the
    cell's, drawn again)."""
    if clean is None:
        clean = cell_labels(exp, cell, data)[1]
    estimator = make_model(model, seed=cell.model_seed(model), n_classes=data.n_classes,
                           input_shape=data.input_shape)
    unit = Unit(model, "naive", (cell,))
    checkpoints.fit_started(unit.describe())
    t0 = time.perf_counter()
    estimator.fit(x, y)
    t1 = time.perf_counter()
    proba = estimator.predict_proba(data.x_test)
    t2 = time.perf_counter()
    return _record(exp, cell, model, clean, y, proba, data, t1 - t0, t2 - t1, unit)



def fused_fit_and_score(exp: Experiment, cells: list[Cell], model: str, data: Dataset,
                        jit: bool | None = None, on_epoch=None) -> list[dict]:
    """Train ``model`` on every cell of ``cells`` as copies of one fused program, each on its
    own rows of the training images (cells may differ in their rows and sizes); return one
    record per cell, in order. ``on_epoch(done, epochs)`` reports progress inside the group."""
    from .fused import FusedKerasNets

    rows, cleans, ys = zip(*(cell_labels(exp, cell, data) for cell in cells))
    nets = FusedKerasNets.for_model(model, [c.model_seed(model) for c in cells], data.n_classes, jit=jit,
                                    input_shape=data.input_shape)
    unit = Unit(model, "fused", tuple(cells), bool(jit))
    checkpoints.fit_started(unit.describe())
    t0 = time.perf_counter()
    # the whole training set is the base: it goes to the device once and serves every group
    nets.fit_rows(data.x_train, rows, ys, on_epoch=on_epoch)
    t1 = time.perf_counter()
    probas = nets.predict_proba(data.x_test)
    t2 = time.perf_counter()
    n = len(cells)
    return [_record(exp, cell, model, clean, y, proba, data, (t1 - t0) / n, (t2 - t1) / n, unit)
            for cell, clean, y, proba in zip(cells, cleans, ys, probas)]



def _key(exp: Experiment, cell: Cell, model: str) -> dict:
    key = {"experiment": exp.name, "dataset": exp.dataset, "model": model,
           "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "replicate": cell.replicate,
           "selection": cell.selection}
    if cell.rule:
        key["noise_rule"] = cell.rule
    return key



def _current(stored: dict | None, model: str) -> bool:
    return stored is not None and effective_recipe(stored) >= MODELS[model].recipe


def iter_pending(exp: Experiment, store: ResultStore, replicates: range | None = None):
    """Yield ``(cell, models)`` for each cell with at least one model to train: not stored yet,
    or stored under an older recipe of the model (see :func:`outdated_fits`); one cell at a
    time, so that counting a large grid's pending fits takes no memory. ``replicates``: only
    those (default all)."""
    for cell in exp.iter_cells(replicates):
        missing = [m for m in exp.models if not _current(store.get(_key(exp, cell, m)), m)]
        if missing:
            yield cell, missing


def pending_fits(exp: Experiment, store: ResultStore, replicates: range | None = None) -> list[tuple[Cell, list[str]]]:
    """:func:`iter_pending` as a list: the pending fits of ``exp`` (or of its ``replicates``)."""
    return list(iter_pending(exp, store, replicates))


def pending_summary(exp: Experiment, store: ResultStore) -> tuple[int, float]:
    """(fits to train, their expected CPU seconds on 2 cores, :func:`fit_weight`), counted
    cell by cell without holding the grid."""
    n, seconds = 0, 0.0
    for cell, models in iter_pending(exp, store):
        n += len(models)
        seconds += sum(fit_weight(m, cell.n_train) for m in models)
    return n, seconds


def grid_seconds(exp: Experiment) -> float:
    """Expected CPU seconds on 2 cores of the whole grid of ``exp``, stored or not: one
    replicate's cells are built and weighed, the replicates only counted (they weigh the same)."""
    one = sum(fit_weight(m, c.n_train) for c in exp.iter_cells(range(min(1, exp.replicates))) for m in exp.models)
    return one * exp.replicates


def current_fits(exp: Experiment, store: ResultStore) -> int:
    """Fits of ``exp`` stored under their model's current recipe: the grid less
    :func:`pending_fits`."""
    return exp.n_fits - sum(len(ms) for _, ms in pending_fits(exp, store))


def r_grids_complete(store: ResultStore, profile: str, datasets: set[str] | None = None) -> bool:
    """Every fit of R's four experiments (``R_EXPERIMENTS``) at ``profile`` is stored under its
    model's current recipe, for each of ``datasets`` (default: those of the specs), at least
    one replicate per cell: what a results folder must hold to be called complete, whatever
    subset of models or experiments a session ran. The experiments beyond R (pruning, noise
    models) have their own runs and do not count."""
    exps = [load_experiment(name, profile) for name in R_EXPERIMENTS]
    return all(not pending_fits(e.with_options(dataset=d) if d else e, store)
               for e in exps for d in (datasets or {None}))


def outdated_fits(exp: Experiment, store: ResultStore) -> dict[str, int]:
    """Stored fits of ``exp`` trained under an older recipe than their model's current one
    (:attr:`datavsmath.models.ModelSpec.recipe`), counted per model; these are part of
    :func:`pending_fits` and the next run retrains them."""
    out: dict[str, int] = {}
    for cell in exp.iter_cells():
        for m in exp.models:
            stored = store.get(_key(exp, cell, m))
            if stored is not None and not _current(stored, m):
                out[m] = out.get(m, 0) + 1
    return out


def describe_outdated(counts: dict[str, int]) -> str:
    """"56 dnn, 252 cnn stored under an older model recipe (current: dnn 2, cnn 2)", or ""."""
    if not counts:
        return ""
    models = list(counts)
    return (", ".join(f"{counts[m]} {m}" for m in models) + " stored under an older model recipe (current: "
            + ", ".join(f"{m} {MODELS[m].recipe}" for m in models) + ")")



def fit_weight(model: str, n_train: int) -> float:
    """Expected CPU seconds of one fit, for the progress bar's ETA (the per-model times are of
    28x28 images; other shapes take them as they are)."""
    return MODELS[model].cpu_seconds_full * n_train / 60000 + FIT_OVERHEAD_SECONDS



@dataclass(frozen=True)
class Unit:
    """One piece of work: ``model`` on ``cells`` with ``backend`` "naive" (one fit per cell,
    one after another) or "fused" (the cells train together as copies of one program, each on
    its own rows)."""

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
            sel = "" if c.selection == "random" else f" {c.selection}"
            return f"{self.model} s={c.frac_sample:g} d={c.frac_damage:g}" + (f" {c.rule}" if c.rule else "") + sel

        def span(values):
            return f"{min(values):g}" + (f"..{max(values):g}" if len(set(values)) > 1 else "")

        return (f"{self.model} x{len(self.cells)} s={span([x.frac_sample for x in self.cells])} "
                f"d={span([x.frac_damage for x in self.cells])}")



#: a cell joins a fused group only if it has at least this share of the group's largest
#: cell's rows: in a group, every copy computes every step of the longest copy (a JAX copy
#: without rows in a step is computed and its result discarded), so this bounds the waste
MIN_FILL = 0.5


def plan_units(todo: list[tuple[Cell, list[str]]], plans: dict, min_fill: float = MIN_FILL) -> list[Unit]:
    """Cut the pending fits into units.

    plans : model -> :class:`datavsmath.training.fused.Plan`. A naive model's fits are one
    unit each, in the grid's order. A fused model's cells are taken largest first (cells that
    share their training-row draw, e.g. the damage levels of one sample fraction, side by
    side) and cut into groups of at most ``max_copies`` cells, a new group starting where a
    cell has fewer than ``min_fill`` times the rows of its group's first; cells of one group
    may differ in their rows (each copy trains on its own). Each group sits where its first
    cell comes in the grid.
    """
    units: list[tuple[int, Unit]] = []
    fused: dict[str, list[tuple[int, Cell]]] = {}
    position = 0
    for cell, models in todo:
        for model in models:
            if plans[model].backend != "fused":
                units.append((position, Unit(model, "naive", (cell,))))
            else:
                fused.setdefault(model, []).append((position, cell))
            position += 1
    for model, cells in fused.items():
        plan = plans[model]
        draws: dict = {}  # first position of each draw: cells of one draw stay side by side
        for pos, cell in cells:
            draws.setdefault((cell.draw_seed, cell.frac_sample), pos)
        cells = sorted(cells, key=lambda pc: (-pc[1].n_train, draws[(pc[1].draw_seed, pc[1].frac_sample)], pc[0]))
        group: list[tuple[int, Cell]] = []
        for pos, cell in cells + [(None, None)]:
            if group and (cell is None or len(group) >= plan.max_copies
                          or cell.n_train < min_fill * group[0][1].n_train):
                first = min(p for p, _ in group)
                units.append((first, Unit(model, "fused", tuple(c for _, c in group), plan.jit)))
                group = []
            if cell is not None:
                group.append((pos, cell))
    return [u for _, u in sorted(units, key=lambda pu: pu[0])]



def units_to_run(exp: Experiment, store: ResultStore, plans: dict, replicates: range | None = None) -> list[Unit]:
    """The units that hold a pending fit of ``exp`` (of its ``replicates``; default all), cut
    from the *whole* grid, stored fits included (:func:`plan_units`).

    A fused network's numbers depend on the cells it trained beside (they share one program's
    arithmetic), so units are a function of the grid, not of what happens to be stored: a
    resumed run trains the units an uninterrupted one would have, and its cells equal that
    run's bit for bit. A unit with some cells stored retrains them with the rest; their
    records are not stored again (:meth:`ResultStore.put` keeps a current one).
    """
    pending = {(cell, m) for cell, models in iter_pending(exp, store, replicates) for m in models}
    if not pending:
        return []
    grid = [(cell, list(exp.models)) for cell in exp.iter_cells(replicates)]
    return [u for u in plan_units(grid, plans) if any((c, u.model) in pending for c in u.cells)]


def _cell_tail(model: str, cell: Cell) -> str:
    """A cell's key within one model's grid: :func:`cell_id` less its dataset and model."""
    return cell_id(model, cell.frac_sample, cell.frac_damage, cell.replicate, cell.dataset, cell.rule or None,
                   cell.selection).removeprefix(f"{cell.dataset}_{model}_")


def unit_label(unit: Unit) -> str:
    """The cells ``unit`` trained together, in the order of its copies, for each of its records:
    e.g. "s0.2_d0.0_r0 s0.1_d0.0_r0" (:func:`cell_id` less dataset and model), one cell for a
    naive fit; "xla " first where its steps were compiled with XLA."""
    return ("xla " if unit.jit else "") + " ".join(_cell_tail(unit.model, c) for c in unit.cells)


def unit_from_label(label: str, model: str, backend: str, cells) -> Unit:
    """The :class:`Unit` a record's ``unit`` field names (:func:`unit_label`), its cells taken
    from ``cells`` (an iterable of the experiment's cells); KeyError naming a cell not there."""
    parts = label.split()
    jit = bool(parts) and parts[0] == "xla"
    wanted = parts[1:] if jit else parts
    by_tail = {_cell_tail(model, c): c for c in cells}
    missing = [t for t in wanted if t not in by_tail]
    if missing:
        raise KeyError(f"unit cell {missing[0]} is not in the grid")
    return Unit(model, backend, tuple(by_tail[t] for t in wanted), jit)


def execute_unit(exp: Experiment, unit: Unit, data: Dataset, on_epoch=None) -> list[dict]:
    """Train and score one unit; return its result records (nothing is written).
    ``on_epoch(done, epochs)``: progress inside a fused group (a naive fit reports none)."""
    if unit.backend == "fused":
        return fused_fit_and_score(exp, list(unit.cells), unit.model, data, jit=unit.jit, on_epoch=on_epoch)
    out = []
    for cell in unit.cells:
        idx, clean, y = cell_labels(exp, cell, data)
        out.append(fit_and_score(exp, cell, unit.model, data.x_train[idx], y, data, clean=clean))
    return out

