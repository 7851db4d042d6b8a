"""A grid *unit* and its execution: one naive fit, or one fused group of networks that share
their training rows, from the cell's data to the records to store.

Both ways of running a grid use this module: the runner in this process
(:mod:`datavsmath.training.runner`) and the Dask tasks on a cluster
(:mod:`datavsmath.training.cluster`), so neither depends on the other. Which fits are pending
is counted in :mod:`datavsmath.training.plan` (its functions are offered here too).
"""

from __future__ import annotations

import json
import platform
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..damage import sample_rows
from ..data import Dataset
from ..experiments import Cell, Experiment, derive_seed
from ..metrics import score
from ..models import MODELS, device_label, keras_backend, make_model, pretrained_fields
from ..noise import counts_text, damage_by_rule
from . import checkpoints
from .fused import PROGRAM_VERSION
from .plan import (  # noqa: F401 (offered here too: what to run and what a unit runs were one module)
    FIT_OVERHEAD_SECONDS,
    current_fits,
    describe_outdated,
    fit_weight,
    grid_seconds,
    iter_pending,
    outdated_fits,
    pending_fits,
    pending_summary,
    r_grids_complete,
)
from .provenance import cpu_model
from .store import RECIPE, ResultStore, cell_id


def cell_rule(exp: Experiment, cell: Cell) -> str:
    """The damage rule of a cell: its own on a rule axis, else the experiment's.

    Parameters
    ----------
    exp : Experiment
        The grid.
    cell : Cell
        One of its cells.

    Returns
    -------
    str
        "none" or a rule of :data:`datavsmath.noise.NOISE_RULES`.
    """
    if cell.rule:
        return cell.rule
    if not isinstance(exp.damage, str):  # cells of a several-rule grid always name theirs
        raise ValueError(f"{exp.name}: a cell without a rule in a grid of several ({exp.damage})")
    return exp.damage


class CellLabels(NamedTuple):
    """A cell's training rows and their labels, drawn once (:func:`cell_labels`) and passed
    along to the fit and to its record.

    Attributes
    ----------
    rows : int ndarray, shape (n,)
        Indices into ``data.x_train``, in the order a naive fit is given them.
    clean : int ndarray, shape (n,)
        The rows' labels as the dataset has them.
    y : int ndarray, shape (n,)
        The labels trained on: ``clean`` after the cell's damage.
    """

    rows: np.ndarray
    clean: np.ndarray
    y: np.ndarray


def cell_labels(exp: Experiment, cell: Cell, data: Dataset) -> CellLabels:
    """Draw a cell's training rows and their clean and damaged labels.

    Parameters
    ----------
    exp : Experiment
        The grid the cell belongs to (its damage rule, shift, matrix, sample order).
    cell : Cell
        The cell: fractions, selection, seeds.
    data : Dataset
        The training set drawn from.

    Returns
    -------
    CellLabels
        (rows (n,), clean labels (n,), damaged labels (n,)); a tuple, so ``idx, clean, y =``
        unpacks it.
    """
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
    return CellLabels(idx, clean, y)


def training_rows(exp: Experiment, cell: Cell, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The cell's training rows and their (damaged) labels, in the order a naive fit is given them.

    Parameters
    ----------
    exp : Experiment
        The grid.
    cell : Cell
        The cell.
    data : Dataset
        The training set.

    Returns
    -------
    (ndarray, ndarray)
        Row indices into ``data.x_train`` (n,) and labels (n,).
    """
    labels = cell_labels(exp, cell, data)
    return labels.rows, labels.y


def training_data(exp: Experiment, cell: Cell, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The cell's training examples and (damaged) labels.

    Parameters
    ----------
    exp : Experiment
        The grid.
    cell : Cell
        The cell.
    data : Dataset
        The training set.

    Returns
    -------
    (ndarray, ndarray)
        Examples (n, *data.input_shape) and labels (n,).
    """
    labels = cell_labels(exp, cell, data)
    return data.x_train[labels.rows], labels.y


def noise_fields(cell: Cell, labels: CellLabels, n_classes: int) -> dict:
    """What a cell's damage realised, for its record.

    Parameters
    ----------
    cell : Cell
        The cell (its rule, on a rule axis).
    labels : CellLabels
        The labels it was trained on, as drawn for the fit (never drawn again here).
    n_classes : int
        Classes K.

    Returns
    -------
    dict
        ``transition_counts``: the K x K counts of clean label to label trained on
        (:func:`datavsmath.noise.counts_text`); ``noise_rule``: the rule, on a rule axis.
    """
    out = {"transition_counts": counts_text(labels.clean, labels.y, n_classes)}
    if cell.rule:
        out["noise_rule"] = cell.rule
    return out


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions that decide the numbers, recorded with every fit.

    Returns
    -------
    dict of str -> str
        python, datavsmath, numpy, tensorflow, keras, jax, scikit-learn, xgboost ("absent" when
        not installed) and keras_backend.
    """
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



def _record(exp: Experiment, cell: Cell, model: str, labels: CellLabels, proba, data: Dataset,
            fit_seconds: float, predict_seconds: float, unit: "Unit") -> dict:
    """The result record of one fit, trained as part of ``unit`` on ``labels``."""
    selection = {"selection": cell.selection} if exp.selection != ("random",) else {}
    return {
        "experiment": exp.name, "dataset": data.name, "model": model, **selection,
        "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "damage": cell_rule(exp, cell),
        "replicate": cell.replicate, "seed": cell.seed, "n_train": len(labels.y),
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
        **noise_fields(cell, labels, data.n_classes),
        # a fine-tuned network's starting weights: which pretraining, by its file's SHA-256
        **pretrained_fields(model),
    }



def fit_and_score(exp: Experiment, cell: Cell, model: str, labels: CellLabels, data: Dataset) -> dict:
    """Train ``model`` on one cell and score it on the test set.

    Parameters
    ----------
    exp, cell : Experiment, Cell
        The grid and the cell.
    model : str
        A registered model.
    labels : CellLabels
        The cell's rows and labels (:func:`cell_labels`), passed on to the record.
    data : Dataset
        Training and test set.

    Returns
    -------
    dict
        The result record.
    """
    estimator = make_model(model, seed=cell.model_seed(model), n_classes=data.n_classes,
                           input_shape=data.input_shape, dataset=data.name)
    unit = Unit(model, "naive", (cell,))
    checkpoints.fit_started(unit.describe())
    t0 = time.perf_counter()
    estimator.fit(data.x_train[labels.rows], labels.y)
    t1 = time.perf_counter()
    proba = estimator.predict_proba(data.x_test)
    t2 = time.perf_counter()
    return _record(exp, cell, model, labels, proba, data, t1 - t0, t2 - t1, unit)


def fused_fit_and_score(exp: Experiment, cells: list[Cell], model: str, data: Dataset,
                        jit: bool | None = None, on_epoch=None) -> list[dict]:
    """Train ``model`` on every cell of ``cells`` as copies of one fused program, each on its own
    rows of the training images (cells may differ in their rows and sizes).

    Parameters
    ----------
    exp : Experiment
        The grid.
    cells : list of Cell
        The group's cells, one copy each.
    model : str
        A fusable registered model.
    data : Dataset
        Training and test set.
    jit : bool, optional
        Compile each step with XLA (default: on a GPU).
    on_epoch : callable, optional
        ``on_epoch(done, epochs)``, progress inside the group.

    Returns
    -------
    list of dict
        One record per cell, in order.
    """
    from .fused import FusedKerasNets

    labels = [cell_labels(exp, cell, data) for cell in cells]
    seeds = [c.model_seed(model) for c in cells]
    # the template from make_model, so that a model built by dataset (flips) is built for this one
    nets = FusedKerasNets(make_model(model, seeds[0], data.n_classes, data.input_shape, dataset=data.name),
                          seeds, jit=jit)
    unit = Unit(model, "fused", tuple(cells), bool(jit))
    checkpoints.fit_started(unit.describe())
    t0 = time.perf_counter()
    # the whole training set is the base: it goes to the device once and serves every group
    nets.fit_rows(data.x_train, [lab.rows for lab in labels], [lab.y for lab in labels], on_epoch=on_epoch)
    t1 = time.perf_counter()
    probas = nets.predict_proba(data.x_test)
    t2 = time.perf_counter()
    n = len(cells)
    return [_record(exp, cell, model, lab, proba, data, (t1 - t0) / n, (t2 - t1) / n, unit)
            for cell, lab, proba in zip(cells, labels, probas)]



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
        """The unit for the progress bar, e.g. "cnn s=0.1 d=0.2" or "dnn x8 s=0.5..1 d=0".

        Returns
        -------
        str
        """
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

    A naive model's fits are one unit each, in the grid's order. A fused model's cells are taken
    largest first (cells that share their training-row draw, e.g. the damage levels of one
    sample fraction, side by side) and cut into groups of at most ``max_copies`` cells, a new
    group starting where a cell has fewer than ``min_fill`` times the rows of its group's first;
    cells of one group may differ in their rows (each copy trains on its own). Each group sits
    where its first cell comes in the grid.

    Parameters
    ----------
    todo : list of (Cell, list of str)
        Cells and their models to train, in grid order.
    plans : dict of str -> Plan
        Per model, :class:`datavsmath.training.fused.Plan`.
    min_fill : float
        Least share of its group's first cell's rows a cell must have to join the group.

    Returns
    -------
    list of Unit
        In grid order.
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
        groups: list[list[tuple[int, Cell]]] = []
        for pos, cell in cells:
            if (not groups or len(groups[-1]) >= plan.max_copies
                    or cell.n_train < min_fill * groups[-1][0][1].n_train):
                groups.append([])
            groups[-1].append((pos, cell))
        units += [(min(p for p, _ in g), Unit(model, "fused", tuple(c for _, c in g), plan.jit))
                  for g in groups]
    return [u for _, u in sorted(units, key=lambda pu: pu[0])]



def units_to_run(exp: Experiment, store: ResultStore, plans: dict, replicates: range | None = None) -> list[Unit]:
    """The units that hold a pending fit of ``exp``, cut from the *whole* grid, stored fits
    included (:func:`plan_units`).

    A fused network's numbers depend on the cells it trained beside (they share one program's
    arithmetic), so units are a function of the grid, not of what happens to be stored: a
    resumed run trains the units an uninterrupted one would have, and its cells equal that
    run's bit for bit. A unit with some cells stored retrains them with the rest; their
    records are not stored again (:meth:`ResultStore.put` keeps a current one).

    Parameters
    ----------
    exp : Experiment
        The grid.
    store : ResultStore
        The results folder.
    plans : dict of str -> Plan
        Per model, its backend plan.
    replicates : range, optional
        Only these replicates (default all).

    Returns
    -------
    list of Unit
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
    """The cells ``unit`` trained together, in the order of its copies, for each of its records.

    Parameters
    ----------
    unit : Unit
        The unit.

    Returns
    -------
    str
        e.g. "s0.2_d0.0_r0 s0.1_d0.0_r0" (:func:`cell_id` less dataset and model), one cell for
        a naive fit; "xla " first where its steps were compiled with XLA.
    """
    return ("xla " if unit.jit else "") + " ".join(_cell_tail(unit.model, c) for c in unit.cells)


def unit_from_label(label: str, model: str, backend: str, cells) -> Unit:
    """The :class:`Unit` a record's ``unit`` field names (:func:`unit_label`).

    Parameters
    ----------
    label : str
        The field.
    model, backend : str
        The record's model and backend.
    cells : iterable of Cell
        The experiment's cells.

    Returns
    -------
    Unit
        KeyError naming a cell not in ``cells``.
    """
    parts = label.split()
    jit = bool(parts) and parts[0] == "xla"
    wanted = parts[1:] if jit else parts
    by_tail = {_cell_tail(model, c): c for c in cells}
    missing = [t for t in wanted if t not in by_tail]
    if missing:
        raise KeyError(f"unit cell {missing[0]} is not in the grid")
    return Unit(model, backend, tuple(by_tail[t] for t in wanted), jit)


def execute_unit(exp: Experiment, unit: Unit, data: Dataset, on_epoch=None) -> list[dict]:
    """Train and score one unit (nothing is written).

    Parameters
    ----------
    exp : Experiment
        The grid.
    unit : Unit
        The unit.
    data : Dataset
        Training and test set.
    on_epoch : callable, optional
        ``on_epoch(done, epochs)``, progress inside a fused group (a naive fit reports none).

    Returns
    -------
    list of dict
        The result records, one per cell.
    """
    if unit.backend == "fused":
        return fused_fit_and_score(exp, list(unit.cells), unit.model, data, jit=unit.jit, on_epoch=on_epoch)
    return [fit_and_score(exp, cell, unit.model, cell_labels(exp, cell, data), data) for cell in unit.cells]

