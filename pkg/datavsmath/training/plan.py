"""What a run is to do, counted once: the fits of each experiment that are pending (not stored,
or stored under an older recipe of their model), those outdated, those current, and what the
pending ones are expected to cost.

:meth:`RunPlan.build` walks each experiment's grid once, cell by cell (a plan never holds the
grid: a grid of millions of fits is counted in constant memory), and the ``run`` command prints
the plan, checks the results folder against it and executes it (:meth:`RunPlan.execute`). The
units a pending fit is trained in are cut when the plan is executed, share by share of the grid
(:func:`datavsmath.training.units.units_to_run`), because they depend on the device the grid
runs on (a Dask cluster's is known only once connected).

The functions below the plan (:func:`iter_pending`, :func:`pending_summary`,
:func:`outdated_fits`, ...) answer one question each for one experiment; the plan answers all
of them in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..experiments import R_EXPERIMENTS, Cell, Experiment, load_experiment
from ..models import MODELS
from .store import ResultStore, effective_recipe, estimate_bytes

__all__ = ["ExperimentPlan", "RunPlan", "FIT_OVERHEAD_SECONDS", "fit_weight", "fit_key", "is_current",
           "iter_pending", "pending_fits", "pending_summary", "grid_seconds", "current_fits", "outdated_fits",
           "describe_outdated", "r_grids_complete"]

#: seconds a fit costs besides its rows (graph building, scoring 10,000 test rows)
FIT_OVERHEAD_SECONDS = 4.0


def fit_weight(model: str, n_train: int) -> float:
    """Expected CPU seconds of one fit on 2 cores, for the plan and the progress bar's ETA.

    Parameters
    ----------
    model : str
        A registered model.
    n_train : int
        Its training rows (the per-model times are of 28x28 images; other shapes take them
        as they are).

    Returns
    -------
    float
        Seconds: the model's measured full-data time scaled by the rows, plus
        :data:`FIT_OVERHEAD_SECONDS`.
    """
    return MODELS[model].cpu_seconds_full * n_train / 60000 + FIT_OVERHEAD_SECONDS


def fit_key(exp: Experiment, cell: Cell, model: str) -> dict:
    """The store's key of one fit.

    Parameters
    ----------
    exp : Experiment
        The grid.
    cell : Cell
        The cell.
    model : str
        The model.

    Returns
    -------
    dict
        experiment, dataset, model, fractions, replicate, selection and, on a rule axis,
        noise_rule.
    """
    key = {"experiment": exp.name, "dataset": exp.dataset, "model": model,
           "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "replicate": cell.replicate,
           "selection": cell.selection}
    if cell.rule:
        key["noise_rule"] = cell.rule
    return key


def is_current(stored: dict | None, model: str) -> bool:
    """Whether a stored record was trained under its model's current recipe
    (:attr:`datavsmath.models.ModelSpec.recipe`).

    Parameters
    ----------
    stored : dict or None
        The record, or None when absent.
    model : str
        Its model.

    Returns
    -------
    bool
    """
    return stored is not None and effective_recipe(stored) >= MODELS[model].recipe


@dataclass(frozen=True)
class ExperimentPlan:
    """One experiment's part of a run, counted from the store before the run.

    Attributes
    ----------
    experiment : Experiment
        The grid, with the run's options applied.
    n_pending : int
        Fits to train: not stored, or stored under an older recipe.
    seconds : float
        Their expected CPU seconds on 2 cores (:func:`fit_weight`).
    outdated : dict of str -> int
        Stored fits under an older recipe, per model; part of ``n_pending``.
    stored : int
        Records of the experiment in the store, of any recipe.
    """

    experiment: Experiment
    n_pending: int
    seconds: float
    outdated: dict[str, int] = field(default_factory=dict)
    stored: int = 0

    @classmethod
    def count(cls, exp: Experiment, store: ResultStore) -> ExperimentPlan:
        """Walk the grid of ``exp`` once, cell by cell, against ``store``.

        Parameters
        ----------
        exp : Experiment
            The grid.
        store : ResultStore
            The results folder.

        Returns
        -------
        ExperimentPlan
        """
        n, seconds = 0, 0.0
        outdated: dict[str, int] = {}
        for cell in exp.iter_cells():
            for m in exp.models:
                stored = store.get(fit_key(exp, cell, m))
                if is_current(stored, m):
                    continue
                n += 1
                seconds += fit_weight(m, cell.n_train)
                if stored is not None:
                    outdated[m] = outdated.get(m, 0) + 1
        return cls(exp, n, seconds, outdated, len(store.records(exp.name)))

    @property
    def n_fits(self) -> int:
        """Fits of the whole grid, stored or not."""
        return self.experiment.n_fits

    @property
    def n_current(self) -> int:
        """Fits stored under their model's current recipe: the grid less the pending ones."""
        return self.n_fits - self.n_pending

    def record(self) -> dict:
        """What the run's session records of this experiment (provenance.json).

        Returns
        -------
        dict
            n_fits, stored, outdated, models, replicates, note.
        """
        e = self.experiment
        return {"n_fits": e.n_fits, "stored": self.stored, "outdated": dict(self.outdated),
                "models": list(e.models), "replicates": e.replicates, "note": e.note}


@dataclass(frozen=True)
class RunPlan:
    """What a run is to do: one :class:`ExperimentPlan` per experiment, in run order.

    Build it once per run with :meth:`build`; the command prints it (its totals), records it
    with the session and executes it (:meth:`execute`).
    """

    experiments: tuple[ExperimentPlan, ...]

    @classmethod
    def build(cls, exps, store: ResultStore) -> RunPlan:
        """Count every experiment of ``exps`` against ``store``, each grid walked once.

        Parameters
        ----------
        exps : iterable of Experiment
            The run's experiments, its options applied.
        store : ResultStore
            The results folder.

        Returns
        -------
        RunPlan
        """
        return cls(tuple(ExperimentPlan.count(e, store) for e in exps))

    @property
    def n_pending(self) -> int:
        """Fits to train, all experiments."""
        return sum(p.n_pending for p in self.experiments)

    @property
    def n_fits(self) -> int:
        """Fits of all the grids, stored or not."""
        return sum(p.n_fits for p in self.experiments)

    @property
    def n_current(self) -> int:
        """Fits stored under their model's current recipe, all experiments."""
        return sum(p.n_current for p in self.experiments)

    @property
    def seconds(self) -> float:
        """Expected CPU seconds on 2 cores of the pending fits."""
        return sum(p.seconds for p in self.experiments)

    @property
    def disk_bytes(self) -> int:
        """Disk space the run's results folder needs at most (every fit of the grids stored;
        :func:`datavsmath.training.store.estimate_bytes`)."""
        return estimate_bytes(self.n_fits)

    @property
    def outdated(self) -> dict[str, int]:
        """Stored fits under an older recipe, per model, all experiments."""
        out: dict[str, int] = {}
        for p in self.experiments:
            for m, n in p.outdated.items():
                out[m] = out.get(m, 0) + n
        return out

    def record(self) -> dict:
        """What the session records of the experiments.

        Returns
        -------
        dict
            ``{name: ExperimentPlan.record()}``.
        """
        return {p.experiment.name: p.record() for p in self.experiments}


# --- one question about one experiment -------------------------------------------------------

def iter_pending(exp: Experiment, store: ResultStore, replicates: range | None = None):
    """The cells of ``exp`` with at least one model to train: not stored yet, or stored under an
    older recipe of the model; one cell at a time, so that a large grid's pending fits take no
    memory.

    Parameters
    ----------
    exp : Experiment
        The grid.
    store : ResultStore
        The results folder.
    replicates : range, optional
        Only these (default all).

    Yields
    ------
    (Cell, list of str)
        A cell and its models to train.
    """
    for cell in exp.iter_cells(replicates):
        missing = [m for m in exp.models if not is_current(store.get(fit_key(exp, cell, m)), m)]
        if missing:
            yield cell, missing


def pending_fits(exp: Experiment, store: ResultStore, replicates: range | None = None) -> list[tuple[Cell, list[str]]]:
    """:func:`iter_pending` as a list.

    Parameters
    ----------
    exp : Experiment
        The grid.
    store : ResultStore
        The results folder.
    replicates : range, optional
        Only these (default all).

    Returns
    -------
    list of (Cell, list of str)
    """
    return list(iter_pending(exp, store, replicates))


def pending_summary(exp: Experiment, store: ResultStore) -> tuple[int, float]:
    """Fits of ``exp`` to train and their cost, counted cell by cell without holding the grid
    (:meth:`ExperimentPlan.count`).

    Parameters
    ----------
    exp : Experiment
        The grid.
    store : ResultStore
        The results folder.

    Returns
    -------
    (int, float)
        Fits to train, their expected CPU seconds on 2 cores (:func:`fit_weight`).
    """
    plan = ExperimentPlan.count(exp, store)
    return plan.n_pending, plan.seconds


def grid_seconds(exp: Experiment) -> float:
    """Expected CPU seconds on 2 cores of the whole grid of ``exp``, stored or not: one
    replicate's cells are built and weighed, the replicates only counted (they weigh the same).

    Parameters
    ----------
    exp : Experiment
        The grid.

    Returns
    -------
    float
    """
    one = sum(fit_weight(m, c.n_train) for c in exp.iter_cells(range(min(1, exp.replicates))) for m in exp.models)
    return one * exp.replicates


def current_fits(exp: Experiment, store: ResultStore) -> int:
    """Fits of ``exp`` stored under their model's current recipe: the grid less the pending ones.

    Parameters
    ----------
    exp : Experiment
        The grid.
    store : ResultStore
        The results folder.

    Returns
    -------
    int
    """
    return ExperimentPlan.count(exp, store).n_current


def outdated_fits(exp: Experiment, store: ResultStore) -> dict[str, int]:
    """Stored fits of ``exp`` trained under an older recipe than their model's current one; these
    are pending, and the next run retrains them.

    Parameters
    ----------
    exp : Experiment
        The grid.
    store : ResultStore
        The results folder.

    Returns
    -------
    dict of str -> int
        Counts per model (models with none left out).
    """
    return ExperimentPlan.count(exp, store).outdated


def describe_outdated(counts: dict[str, int]) -> str:
    """Outdated fits in words.

    Parameters
    ----------
    counts : dict of str -> int
        Per model (:func:`outdated_fits`).

    Returns
    -------
    str
        e.g. "56 dnn, 252 cnn stored under an older model recipe (current: dnn 2, cnn 2)"; ""
        for none.
    """
    if not counts:
        return ""
    models = list(counts)
    return (", ".join(f"{counts[m]} {m}" for m in models) + " stored under an older model recipe (current: "
            + ", ".join(f"{m} {MODELS[m].recipe}" for m in models) + ")")


def r_grids_complete(store: ResultStore, profile: str, datasets: set[str] | None = None) -> bool:
    """Whether a results folder holds R's four experiments (``R_EXPERIMENTS``) at ``profile``: every
    fit stored under its model's current recipe, for each of ``datasets``, at least one replicate
    per cell, whatever subset of models or experiments a session ran. The experiments beyond R
    (pruning, noise models) have their own runs and do not count.

    Parameters
    ----------
    store : ResultStore
        The results folder.
    profile : str
        The profile.
    datasets : set of str, optional
        Default: those of the specs.

    Returns
    -------
    bool
    """
    exps = [load_experiment(name, profile) for name in R_EXPERIMENTS]
    targets: set[str | None] = set(datasets) if datasets else {None}  # None: the specs' own
    return all(next(iter_pending(e.with_options(dataset=d) if d else e, store), None) is None
               for e in exps for d in targets)
