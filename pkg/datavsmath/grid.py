"""An experiment's grid: :class:`Experiment` (one spec at one profile) and its :class:`Cell` s.

:func:`datavsmath.experiments.load_experiment` reads a spec into an :class:`Experiment`, whose
``cells()`` enumerate the grid. On a spec naming several damage rules, the rule is one more
axis of the grid (``Cell.rule``), and the clean cells (frac_damage 0) are run once, under the
rule "none", as the baseline every rule shares.

Seeds: every cell's seed is a hash of (base seed, experiment, dataset, frac_sample,
frac_damage, replicate), and of the rule on a rule axis. The training-row draw uses a seed that leaves out frac_damage, so
all damage levels of one (sample fraction, replicate) train on the same rows and differ
only by their damage (common random numbers; each cell's own distribution is unchanged).

Shared draws (``draws_from``): a spec naming another experiment takes that experiment's name
in place of its own in every seed, so that its cells draw the same rows with the same seeds as
that experiment's cells of the same dataset and fractions (the pretraining lever is compared
with the size experiment's CNN on identical rows).

Row selection (``selection``, the pruning experiment): "random" is the uniform draw above, and
a cell without the key is random, so the other experiments' cells, seeds and file names are
what they were. "keep_easy" and "keep_hard" keep the most or least prototypical rows
(:mod:`datavsmath.pruning`). The selection is left out of the seeds: the three rules of one
(sample fraction, replicate) give their models the same initial weights and differ only by
their rows (common random numbers again).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UserError
from .noise import check_rule_file, rule_matrix

__all__ = ["Cell", "Experiment", "derive_seed", "n_classes", "check_pretrained_sources",
           "N_TRAIN", "MIN_TRAIN_ROWS"]

#: training rows of Fashion-MNIST and of MNIST
N_TRAIN = 60000
#: a cell needs at least one row per class; the networks also hold out 20% for validation
MIN_TRAIN_ROWS = 10


def derive_seed(*parts) -> int:
    """A 31-bit seed from any values, stable across runs, machines and Python versions.

    Parameters
    ----------
    *parts : object
        Values whose ``repr`` identifies what the seed is for (base seed, experiment, dataset,
        fractions, replicate, ...); hashed with SHA-256, so that neither Python's salted
        ``hash`` nor the platform changes a cell's rows.

    Returns
    -------
    int
        A seed in [0, 2**31), valid for numpy, keras and xgboost alike.
    """
    digest = hashlib.sha256("|".join(repr(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Cell:
    """One grid point of an experiment (all its models train on the same rows and labels)."""

    experiment: str
    dataset: str
    frac_sample: float
    frac_damage: float
    replicate: int
    seed: int
    draw_seed: int
    selection: str = "random"  # which rows: "random", "keep_easy", "keep_hard" (see pruning.py)
    rule: str = ""  # the damage rule on an experiment with several ("" for one rule: the spec's)
    n_total: int = N_TRAIN  # training rows of the dataset the cell samples from

    @property
    def n_train(self) -> int:
        """Training rows the cell draws: ``frac_sample`` of ``n_total``, rounded down (the
        1e-9 keeps a product that binary fractions leave just under a whole number, such as
        0.57 * 100 = 56.999..., at that number)."""
        return int(self.n_total * self.frac_sample + 1e-9)

    def model_seed(self, model: str) -> int:
        """The seed of one model's fit in this cell (initial weights, dropout, trees).

        Parameters
        ----------
        model : str
            A registered model name (:data:`datavsmath.models.MODELS`).

        Returns
        -------
        int
            A 31-bit seed, different per model, the same on every run of the cell.
        """
        return derive_seed(self.seed, model)


@dataclass(frozen=True)
class Experiment:
    """An experiment at one profile: models x frac_sample x frac_damage x replicates."""

    name: str
    title: str
    profile: str
    models: tuple[str, ...]
    damage: str | tuple[str, ...]  # "none", a rule of datavsmath.noise.NOISE_RULES, or several
    frac_sample: tuple[float, ...]
    frac_damage: tuple[float, ...]
    dataset: str = "fashion"
    replicates: int = 1
    seed: int = 2019
    full_sample_order: str = "drawn"  # at frac_sample 1: "drawn" (R's sample()) or "file"
    damage_shift: int = 1
    damage_matrix: str | None = None  # the matrix file of rule "matrix" / "confusion" (absolute)
    r_results: str | None = None
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False)
    selection: tuple[str, ...] = ("random",)
    n_total: int = N_TRAIN  # training rows of the dataset (60,000 for Fashion-MNIST and MNIST)
    draws_from: str | None = None  # the experiment whose seeds and row draws the cells share

    @property
    def seed_name(self) -> str:
        """The experiment name in the cells' seeds: ``draws_from``, or the experiment's own."""
        return self.draws_from or self.name

    @property
    def rules(self) -> tuple[str, ...]:
        """The damage rules this experiment runs (one for the R experiments)."""
        return self.damage if isinstance(self.damage, tuple) else (self.damage,)

    @property
    def rule_axis(self) -> bool:
        """True when the spec names several rules: cells then carry their rule."""
        return isinstance(self.damage, tuple)

    def iter_cells(self, replicates: range | None = None) -> Iterator[Cell]:
        """The grid, one cell at a time (its memory does not grow with the grid), replicate-major
        (a partial run holds whole replicates first), then in the R script's loop order: damage
        outer, sample inner; on a rule axis, each damage level runs every rule (the clean level
        once, as rule "none"); selections innermost.

        Parameters
        ----------
        replicates : range, optional
            Only the cells of these replicates (default: all ``self.replicates``), as
            :meth:`replicate_chunks` hands them out.

        Yields
        ------
        Cell
            The grid's cells in the order above.
        """
        for r in range(self.replicates) if replicates is None else replicates:
            for d in self.frac_damage:
                rules = ("",) if not self.rule_axis else (("none",) if d == 0 else self.rules)
                for rule in rules:
                    for s in self.frac_sample:
                        extra = (rule,) if rule else ()
                        for sel in self.selection:
                            yield Cell(
                                self.name, self.dataset, s, d, r,
                                seed=derive_seed(self.seed, self.seed_name, self.dataset, s, d, r, *extra),
                                draw_seed=derive_seed(self.seed, self.seed_name, self.dataset, s, r, "draw"),
                                selection=sel, rule=rule, n_total=self.n_total,
                            )

    def cells(self) -> list[Cell]:
        """The whole grid as a list (:meth:`iter_cells`); for grids of a bounded size."""
        return list(self.iter_cells())

    @property
    def cells_per_replicate(self) -> int:
        """Cells of one replicate, counted without building them."""
        levels = sum(1 if not self.rule_axis or d == 0 else len(self.rules) for d in self.frac_damage)
        return levels * len(self.frac_sample) * len(self.selection)

    def replicate_chunks(self, max_fits: int) -> Iterator[range]:
        """The replicates in consecutive ranges of at most ``max_fits`` fits each (at least one
        replicate a range): a runner plans one range at a time, so its plan stays bounded.

        Parameters
        ----------
        max_fits : int
            The most fits (models x cells) one range may hold; a single replicate larger than
            that is still one range.

        Yields
        ------
        range
            Consecutive, disjoint ranges of replicate indices covering ``range(self.replicates)``.
        """
        per = max(1, max_fits // max(1, len(self.models) * self.cells_per_replicate))
        for start in range(0, self.replicates, per):
            yield range(start, min(start + per, self.replicates))

    def score_seed(self, replicate: int) -> int:
        """Seed of the prototypicality scores (embedding and k-means) of one replicate: each
        replicate clusters afresh, so its spread includes the clustering's.

        Parameters
        ----------
        replicate : int
            The replicate index, from 0.

        Returns
        -------
        int
            A 31-bit seed shared by every cell of that replicate.
        """
        return derive_seed(self.seed, self.name, self.dataset, replicate, "prototypes")

    @property
    def n_fits(self) -> int:
        """Fits of the grid (models x cells), counted without building the cells."""
        return len(self.models) * self.replicates * self.cells_per_replicate

    def with_options(self, *, models=None, replicates=None, dataset=None, damage=None,
                     n_total: int | None = None) -> "Experiment":
        """A copy with CLI overrides applied and validated.

        Every argument left None keeps the spec's value.

        Parameters
        ----------
        models : str or sequence of str, optional
            The subset of the experiment's models to run (``--models``), kept in the spec's
            order; a bare string is one name.
        replicates : int, optional
            Independent seeds per cell (``--replicates``), at least 1.
        dataset : str, optional
            The dataset's short name (:func:`datavsmath.data.dataset_name`); a pretrained model
            is refused on its own source dataset.
        damage : tuple of (str, str or None), optional
            (rule, matrix file or None) replacing the rule of an experiment that damages
            labels; the copy is named ``<name>-<rule>`` (``-matrix-<file stem>`` for a
            matrix), so its cells are stored apart from the spec's.
        n_total : int, optional
            Its training rows (default: the named dataset's); every sample fraction must give
            at least ``MIN_TRAIN_ROWS`` of them.

        Returns
        -------
        Experiment
            The changed copy; this one is unchanged (frozen).

        Raises
        ------
        UserError
            A model the experiment does not run, replicates below 1, a pretrained model on its
            own source, a damage override on an experiment without damage or with a bad matrix
            file, or a sample fraction giving fewer than ``MIN_TRAIN_ROWS`` rows.
        """
        changes = {}
        if damage is not None:
            changes.update(self._damage_override(*damage))
        if models is not None:
            models = [models] if isinstance(models, str) else list(models)  # "rf" is one name, not r, f
            unknown = [m for m in models if m not in self.models]
            if unknown:
                raise UserError(f"experiment {self.name} has no model {', '.join(unknown)}; "
                                f"it runs {', '.join(self.models)}")
            changes["models"] = tuple(m for m in self.models if m in models)
        if replicates is not None:
            if replicates < 1:
                raise UserError(f"--replicates must be at least 1, got {replicates}")
            changes["replicates"] = replicates
        if dataset is not None:
            check_pretrained_sources(changes.get("models", self.models), dataset, lambda problem: UserError(
                f"experiment {self.name} with --dataset {dataset}: {problem}"))
            changes["dataset"] = dataset
            if n_total is None:
                from .data import train_rows

                n_total = train_rows(dataset)
        if n_total is not None:
            name = changes.get("dataset", self.dataset)
            for s in self.frac_sample:
                if int(n_total * s + 1e-9) < MIN_TRAIN_ROWS:
                    raise UserError(
                        f"experiment {self.name} at profile {self.profile} samples frac_sample {s:g} of "
                        f"the {n_total:,} training rows of dataset {name}: {int(n_total * s + 1e-9)} rows; "
                        f"a cell needs at least {MIN_TRAIN_ROWS}. Choose another profile, or a spec of "
                        "your own (--spec) with larger fractions")
            changes["n_total"] = n_total
        return replace(self, **changes)

    def _damage_override(self, rule: str, matrix_file: str | None) -> dict:
        if not any(d > 0 for d in self.frac_damage):
            raise UserError(f"--damage changes the rule of experiments that damage labels; {self.name} damages "
                            f"none (frac_damage {list(self.frac_damage)}): name those that do, e.g. "
                            "`run random_damage --damage confusion`")
        try:
            check_rule_file(rule, matrix_file)
        except ValueError as exc:
            raise UserError(f"--damage {rule}: {exc}") from None
        label = rule
        if matrix_file is not None:
            path = Path(matrix_file).expanduser().resolve()
            k = n_classes(self.dataset)
            try:
                rule_matrix(rule, k, matrix_file=path, dataset=self.dataset)
            except ValueError as exc:
                raise UserError(f"--damage {rule}:{matrix_file}: {exc}") from exc
            matrix_file, label = str(path), f"{rule}-{path.stem}"
        return {"damage": rule, "damage_matrix": matrix_file, "name": f"{self.name}-{label}",
                "title": f"{self.title} (damage rule: {label})"}


def n_classes(dataset: str) -> int:
    """Classes of a named dataset (10 for each of them); a file of one's own is checked
    against a damage matrix when it is loaded.

    Parameters
    ----------
    dataset : str
        A dataset's short name ("fashion", "mnist", "digits"); any other counts 10 classes.

    Returns
    -------
    int
        The number of classes.
    """
    from .data import DATASETS

    return len(DATASETS[dataset]["class_names"]) if dataset in DATASETS else 10


def check_pretrained_sources(models: Iterable[str], dataset: str, error: Callable[[str], Exception]) -> None:
    """Refuse a pretrained model on its own source dataset: fine-tuning there measures nothing.

    Parameters
    ----------
    models : iterable of str
        Model names; names not registered are left to the caller's own check.
    dataset : str
        The short name of the dataset the models would train on.
    error : callable
        ``error(problem)`` makes the exception to raise from a sentence saying what is wrong,
        so that a spec's error names its file and key and a CLI option's names the option.

    Raises
    ------
    Exception
        The one ``error`` makes, when a model was pretrained on ``dataset``.
    """
    from .models import MODELS

    same = [m for m in models if m in MODELS and getattr(MODELS[m].pretrained, "source", None) == dataset]
    if same:
        raise error(f"{', '.join(same)} was pretrained on dataset {dataset} itself; fine-tune it on another "
                    f"dataset (cnn_from_mnist on fashion, cnn_from_fashion on mnist)")
