"""Experiment specs and their grids.

``reproduce/<name>.toml`` declares one experiment, mirroring one R run script: the models,
the damage rule, and per profile the grids of sample and damage fractions. ``load_experiment``
turns a spec and a profile into an :class:`Experiment`, whose ``cells()`` enumerate the grid;
``load_spec`` does the same for a spec file anywhere. Every spec is checked against a schema
(``SPEC_KEYS``; :func:`validate_spec`) before anything runs: a typo, a wrong type, a value out
of range or a meaningless combination is a UserError naming the file, the key and the value.

A spec may name several damage rules (``damage = ["symmetric", "pair", ...]``): the rule is
then one more axis of the grid (``Cell.rule``), and the clean cells (frac_damage 0) are run
once, under the rule "none", as the baseline every rule shares.

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

import difflib
import hashlib
import json

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UserError
from .resources import shipped

__all__ = ["PROFILES", "Cell", "Experiment", "derive_seed", "load_experiment", "load_spec",
           "validate_spec", "spec_dir", "experiment_names", "R_EXPERIMENTS",
           "SAMPLE_GRID", "DAMAGE_GRID", "CROSS_DAMAGE_GRID"]

PROFILES = ("full", "quick", "smoke")
N_TRAIN = 60000

#: the reference's grids, for checks; the specs in reproduce/ spell them out literally
SAMPLE_GRID = tuple([i / 100 for i in range(1, 10)] + [i / 10 for i in range(1, 10)]
                    + [(90 + i) / 100 for i in range(1, 11)])
DAMAGE_GRID = tuple([0.0] + [i / 100 for i in range(1, 10)] + [i / 10 for i in range(1, 10)]
                    + [(90 + i) / 100 for i in range(1, 10)])
CROSS_DAMAGE_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def spec_dir() -> Path:
    """The folder of experiment specs: ``reproduce/`` of the checkout, shipped with the
    package (:func:`datavsmath.resources.shipped`)."""
    return shipped("specs")


#: the four experiments of the R testbench, in its run order (the others go beyond the talk)
R_EXPERIMENTS = ("size", "random_damage", "constant_damage", "size_x_damage")


def experiment_names(folder: Path | None = None) -> list[str]:
    """Names of the specs in ``folder``, in R's run order (the ``order`` key).

    A spec that cannot be read still gets listed (last): naming it is how a command learns
    which file is broken, and the experiments that do not need it keep working.
    """
    folder = folder or spec_dir()
    specs = [(_order(p), p.stem) for p in folder.glob("*.toml")]
    return [name for _, name in sorted(specs)]


def _order(path: Path) -> int:
    """A spec's ``order`` key, or 99 (listed last) when the file is broken or leaves it out;
    load_experiment reports what is wrong with it."""
    try:
        order = tomllib.loads(path.read_text()).get("order", 99)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return 99
    return order if isinstance(order, int) and not isinstance(order, bool) else 99


def derive_seed(*parts) -> int:
    """A 31-bit seed from any values, stable across runs, machines and Python versions."""
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
        return int(self.n_total * self.frac_sample + 1e-9)

    def model_seed(self, model: str) -> int:
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
        once, as rule "none"); selections innermost. ``replicates``: only those (default all)."""
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
        replicate a range): a runner plans one range at a time, so its plan stays bounded."""
        per = max(1, max_fits // max(1, len(self.models) * self.cells_per_replicate))
        for start in range(0, self.replicates, per):
            yield range(start, min(start + per, self.replicates))

    def score_seed(self, replicate: int) -> int:
        """Seed of the prototypicality scores (embedding and k-means) of one replicate: each
        replicate clusters afresh, so its spread includes the clustering's."""
        return derive_seed(self.seed, self.name, self.dataset, replicate, "prototypes")

    @property
    def n_fits(self) -> int:
        """Fits of the grid (models x cells), counted without building the cells."""
        return len(self.models) * self.replicates * self.cells_per_replicate

    def with_options(self, *, models=None, replicates=None, dataset=None, damage=None,
                     n_total: int | None = None) -> "Experiment":
        """A copy with CLI overrides applied and validated.

        dataset : the dataset's short name (:func:`datavsmath.data.dataset_name`)
        damage : (rule, matrix file or None) replacing the rule of an experiment that damages
            labels; the copy is named ``<name>-<rule>`` (``-matrix-<file stem>`` for a
            matrix), so its cells are stored apart from the spec's
        n_total : its training rows; every sample fraction must give at least
            ``MIN_TRAIN_ROWS`` of them
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
            _check_sources(changes.get("models", self.models), dataset, lambda problem: UserError(
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
        from .noise import NOISE_RULES, RULE_NEEDS_MATRIX, rule_matrix

        if not any(d > 0 for d in self.frac_damage):
            raise UserError(f"--damage changes the rule of experiments that damage labels; {self.name} damages "
                            f"none (frac_damage {list(self.frac_damage)}): name those that do, e.g. "
                            "`run random_damage --damage confusion`")
        if rule not in NOISE_RULES:
            raise UserError(f"--damage {rule}: unknown rule; choose from {', '.join(NOISE_RULES)}")
        if matrix_file is not None and rule not in RULE_NEEDS_MATRIX:
            raise UserError(f"--damage {rule}:{matrix_file}: rule {rule} takes no file; only matrix and confusion do")
        if RULE_NEEDS_MATRIX.get(rule) and matrix_file is None:
            raise UserError("--damage matrix needs a file: --damage matrix:FILE.csv (K lines of K numbers)")
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
    against a damage matrix when it is loaded."""
    from .data import DATASETS

    return len(DATASETS[dataset]["class_names"]) if dataset in DATASETS else 10


# --- spec schema ----------------------------------------------------------------------------
# A spec is checked whole, every profile of it, when it is read: a typo or a value the runner
# would misread (a damage level with no damage rule, seed 1.5) must stop the command before any
# data is loaded, naming the file, the key and the value, never train on something else.

#: keys a spec may set at its top level and in ``[profiles.<profile>]``, with what they hold
SPEC_KEYS = {
    "title": "a string",
    "note": "a string",
    "r_results": "a file name (string)",
    "models": "a list of registered model names, e.g. [\"rf\", \"cnn\"]",
    "dataset": "\"fashion\", \"mnist\" or \"digits\" (a file of your own: datavsmath run --dataset FILE)",
    "damage": "\"none\" or a damage rule (random, symmetric, constant, pair, confusion, matrix, "
              "instance), or a list of rules",
    "damage_matrix": "a CSV file (relative to the spec) of a K x K matrix, for damage \"matrix\" "
                     "(a transition matrix, zero diagonal) or \"confusion\" (confusion counts)",
    "damage_shift": "an integer: constant damage moves label y to (y + shift) mod classes",
    "frac_sample": "a list of sample fractions in (0, 1]",
    "frac_damage": "a list of damage fractions in [0, 1]",
    "replicates": "an integer of at least 1",
    "seed": "an integer",
    "full_sample_order": "\"drawn\" or \"file\"",
    "selection": "a list of row-selection rules: \"random\", \"keep_easy\", \"keep_hard\"",
    "draws_from": "an experiment's name (e.g. \"size\"): the cells take its seeds and row draws",
}
#: keys only the top level may set
TOP_LEVEL_KEYS = {"order": "an integer (run order among the specs)",
                  "profiles": "tables [profiles.full], [profiles.quick], [profiles.smoke]"}
DAMAGE_RULES = ("none", "random", "symmetric", "constant", "pair", "confusion", "matrix", "instance")
SAMPLE_ORDERS = ("drawn", "file")
#: a cell needs at least one row per class; the networks also hold out 20% for validation
MIN_TRAIN_ROWS = 10


def _show(value) -> str:
    """A value as the TOML file spells it (strings in double quotes)."""
    return json.dumps(value, default=str)


def _spec_error(path: Path, where: str, key: str, value, problem: str) -> UserError:
    return UserError(f"{path}: {where}{key} = {_show(value)}: {problem}")


def _check_keys(table: dict, allowed: dict, path: Path, where: str) -> None:
    """Unknown keys are typos until proven otherwise: reject them, suggesting the nearest."""
    for key, value in table.items():
        if key not in allowed:
            near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}?" if near else f"a spec sets {', '.join(allowed)}"
            raise _spec_error(path, where, key, value, f"unknown key; {hint}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _fraction_list(key: str, values, path: Path, where: str) -> tuple[float, ...]:
    """A list of fractions (a bare number counts as a list of one) in [0, 1]; for
    frac_sample each must also give at least MIN_TRAIN_ROWS training rows."""
    items = values if isinstance(values, list) else [values]
    if not items:
        raise _spec_error(path, where, key, values, f"give {SPEC_KEYS[key]}")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise _spec_error(path, where, key, values, f"holds {_show(v)}; fractions lie in [0, 1]")
        if key == "frac_sample" and int(N_TRAIN * v + 1e-9) < MIN_TRAIN_ROWS:
            raise _spec_error(path, where, key, values,
                              f"{_show(v)} of {N_TRAIN:,} rows is {int(N_TRAIN * v + 1e-9)} training rows; "
                              f"a cell needs at least {MIN_TRAIN_ROWS} (fraction {MIN_TRAIN_ROWS / N_TRAIN:.2g})")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise _spec_error(path, where, key, values, "repeats a value")
    return tuple(out)


def _model_list(values, path: Path, where: str) -> tuple[str, ...]:
    """Registered model names; a bare string is one name (``models = "rf"``), never its letters."""
    from .models import MODELS

    items = [values] if isinstance(values, str) else values
    if not isinstance(items, list) or not items or not all(isinstance(m, str) for m in items):
        raise _spec_error(path, where, "models", values, f"give {SPEC_KEYS['models']}")
    unknown = [m for m in items if m not in MODELS]
    if unknown:
        raise _spec_error(path, where, "models", values,
                          f"no model {', '.join(map(_show, unknown))}; registered: {', '.join(MODELS)}")
    if len(set(items)) != len(items):
        raise _spec_error(path, where, "models", values, "repeats a model")
    return tuple(items)


def _selection_list(values, path: Path, where: str) -> tuple[str, ...]:
    """Row-selection rules; a bare string is one rule."""
    from .pruning import SELECTIONS

    items = [values] if isinstance(values, str) else values
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise _spec_error(path, where, "selection", values, f"give {SPEC_KEYS['selection']}")
    unknown = [v for v in items if v not in SELECTIONS]
    if unknown:
        raise _spec_error(path, where, "selection", values,
                          f"no rule {', '.join(map(_show, unknown))}; choose from {', '.join(map(_show, SELECTIONS))}")
    if len(set(items)) != len(items):
        raise _spec_error(path, where, "selection", values, "repeats a rule")
    return tuple(items)


def _check_value(key: str, value, path: Path, where: str):
    """One key's value, type- and range-checked, in the form Experiment holds it."""
    from .data import BUILTIN

    if key in ("frac_sample", "frac_damage"):
        return _fraction_list(key, value, path, where)
    if key == "selection":
        return _selection_list(value, path, where)
    if key == "models":
        return _model_list(value, path, where)
    if key == "damage" and isinstance(value, list):
        if not value or len(set(value)) != len(value) or any(v not in DAMAGE_RULES[1:] for v in value):
            raise _spec_error(path, where, key, value,
                              f"a list of distinct damage rules from {', '.join(map(_show, DAMAGE_RULES[1:]))}")
        return tuple(value) if len(value) > 1 else value[0]
    if key == "damage_matrix":
        if not isinstance(value, str) or not value:
            raise _spec_error(path, where, key, value, f"must be {SPEC_KEYS[key]}")
        return str((path.parent / value).expanduser().resolve())
    choices = {"damage": DAMAGE_RULES, "full_sample_order": SAMPLE_ORDERS, "dataset": BUILTIN}
    if key in choices:
        if value not in choices[key]:
            raise _spec_error(path, where, key, value, f"choose from {', '.join(map(_show, choices[key]))}")
        return value
    if key in ("replicates", "seed", "damage_shift", "order"):
        if not _is_int(value) or (key == "replicates" and value < 1):
            raise _spec_error(path, where, key, value, f"must be {({**SPEC_KEYS, **TOP_LEVEL_KEYS})[key]}")
        return value
    if not isinstance(value, str):  # title, note, r_results
        raise _spec_error(path, where, key, value, f"must be {SPEC_KEYS[key]}")
    return value


def _read_spec(path: Path) -> dict:
    """The TOML table of a spec file; UserError naming the file if it cannot be read."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the spec {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}; fix or remove the file") from exc


def _profile_tables(spec: dict, path: Path) -> dict[str, dict]:
    """``[profiles.<name>]`` tables, each key-checked; unknown profile names rejected."""
    tables = spec.get("profiles", {})
    if not isinstance(tables, dict):
        raise _spec_error(path, "", "profiles", tables, f"must be {TOP_LEVEL_KEYS['profiles']}")
    for name, table in tables.items():
        if name not in PROFILES:
            near = difflib.get_close_matches(name, PROFILES, n=1)
            raise UserError(f"{path}: unknown profile [profiles.{name}]; "
                            + (f"did you mean [profiles.{near[0]}]?" if near else f"profiles: {', '.join(PROFILES)}"))
        if not isinstance(table, dict):
            raise _spec_error(path, "", f"profiles.{name}", table, "must be a table of spec keys")
        _check_keys(table, SPEC_KEYS, path, f"[profiles.{name}] ")
    return tables


def _resolve_profile(spec: dict, tables: dict, profile: str, path: Path) -> dict:
    """The spec's values at ``profile``: top-level defaults overridden by its profile table,
    each value checked where it was written, then the combinations checked."""
    merged, origin = {}, {}
    for where, table in (("", spec), (f"[profiles.{profile}] ", tables.get(profile, {}))):
        for key, value in table.items():
            if key in SPEC_KEYS:
                merged[key], origin[key] = _check_value(key, value, path, where), (where, value)
    _check_combinations(merged, origin, path)
    return merged


def _check_combinations(merged: dict, origin: dict, path: Path) -> None:
    """Settings that are each valid but mean nothing together."""
    from .data import train_rows

    damage = merged.get("damage", "none")
    rules = damage if isinstance(damage, tuple) else (damage,)
    levels = [d for d in merged.get("frac_damage", (0.0,)) if d > 0]
    if damage == "none" and levels:
        where, value = origin["frac_damage"]
        raise _spec_error(path, where, "frac_damage", value,
                          "damages labels but the spec sets no damage rule; add damage = \"random\" "
                          "or \"constant\", or use frac_damage = [0.0]")
    _check_matrix(merged, origin, rules, path)
    if "damage_shift" in merged:
        where, value = origin["damage_shift"]
        if not {"constant", "pair"} & set(rules):
            raise _spec_error(path, where, "damage_shift", value,
                              f"applies to damage = \"constant\" or \"pair\" only (this spec's damage is "
                              f"{_show(damage)})")
        k = 10  # every named dataset has 10 classes; a file's are checked when it is loaded
        if value % k == 0:
            raise _spec_error(path, where, "damage_shift", value,
                              f"maps every class to itself ({k} classes); choose a shift from 1 to {k - 1}")
    pruned = [r for r in merged.get("selection", ()) if r != "random"]
    if pruned and 1.0 in merged.get("frac_sample", (1.0,)):
        key = "frac_sample" if "frac_sample" in origin else "selection"
        where, value = origin[key]
        raise _spec_error(path, where, key, value,
                          f"keeps every row at 1.0, where {', '.join(map(_show, pruned))} equal random; "
                          "prune to fractions below 1")
    if "models" not in merged:
        raise UserError(f"{path}: set models, {SPEC_KEYS['models']}")
    where, value = origin["models"]
    _check_sources(merged["models"], merged.get("dataset", "fashion"),
                   lambda problem: _spec_error(path, where, "models", value, problem))
    n_total = train_rows(merged.get("dataset", "fashion"))
    for s in merged.get("frac_sample", ()):
        if int(n_total * s + 1e-9) < MIN_TRAIN_ROWS:
            where, value = origin["frac_sample"]
            raise _spec_error(path, where, "frac_sample", value,
                              f"{_show(s)} of the {n_total:,} rows of dataset {merged.get('dataset', 'fashion')} is "
                              f"{int(n_total * s + 1e-9)} training rows; a cell needs at least {MIN_TRAIN_ROWS}")


def _check_sources(models, dataset: str, error) -> None:
    """Refuse to fine-tune a pretrained model on its own source dataset (it has seen every
    training row already: no lever to measure); ``error(problem)`` makes the exception."""
    from .models import MODELS

    same = [m for m in models if m in MODELS and MODELS[m].pretrained is not None
            and MODELS[m].pretrained.source == dataset]
    if same:
        raise error(f"{', '.join(same)} was pretrained on dataset {dataset} itself; fine-tune it on another "
                    f"dataset (cnn_from_mnist on fashion, cnn_from_fashion on mnist)")


def _check_matrix(merged: dict, origin: dict, rules: tuple, path: Path) -> None:
    """damage_matrix goes with the rules that read one, and its file must hold a valid matrix
    for the dataset's classes: checked here, before any data is loaded."""
    from .noise import RULE_NEEDS_MATRIX, rule_matrix

    if "matrix" in rules and "damage_matrix" not in merged:
        where, value = origin["damage"]
        raise _spec_error(path, where, "damage", value,
                          "rule \"matrix\" needs damage_matrix = \"FILE.csv\" (K lines of K numbers, zero diagonal)")
    if "damage_matrix" not in merged:
        return
    where, value = origin["damage_matrix"]
    users = [r for r in rules if r in RULE_NEEDS_MATRIX]
    if not users:
        raise _spec_error(path, where, "damage_matrix", value,
                          f"applies to damage = \"matrix\" or \"confusion\" only (this spec's damage is "
                          f"{_show(merged.get('damage', 'none'))})")
    k = n_classes(merged.get("dataset", "fashion"))
    for rule in users:
        try:
            rule_matrix(rule, k, matrix_file=merged["damage_matrix"])
        except ValueError as exc:
            raise _spec_error(path, where, "damage_matrix", value, str(exc)) from exc


def validate_spec(path: Path) -> dict:
    """Check a whole spec file (every key, every profile) and return its parsed table;
    UserError naming the file, key and value at the first problem."""
    spec = _read_spec(path)
    _check_keys(spec, {**SPEC_KEYS, **TOP_LEVEL_KEYS}, path, "")
    if "order" in spec:
        _check_value("order", spec["order"], path, "")
    tables = _profile_tables(spec, path)
    for profile in PROFILES:
        _resolve_profile(spec, tables, profile, path)
    return spec


def load_experiment(name: str, profile: str = "full", folder: Path | None = None) -> Experiment:
    """Read ``reproduce/<name>.toml`` at ``profile`` ("full", "quick" or "smoke").

    Top-level keys are the defaults; ``[profiles.<profile>]`` overrides them.
    """
    folder = folder or spec_dir()
    path = folder / f"{name}.toml"
    if not path.is_file():
        raise UserError(f"no experiment {name!r}; choose from {', '.join(experiment_names(folder))} or 'all'")
    return load_spec(path, profile)


def load_spec(path: str | Path, profile: str = "full") -> Experiment:
    """The experiment a spec file declares (named after the file), at ``profile``; the
    whole file is validated first (see :func:`validate_spec`)."""
    from .data import train_rows

    path = Path(path)
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    if not path.is_file():
        raise UserError(f"no spec file {path}")
    spec = validate_spec(path)
    merged = _resolve_profile(spec, _profile_tables(spec, path), profile, path)
    return Experiment(
        name=path.stem,
        title=merged.get("title", path.stem),
        profile=profile,
        models=merged["models"],
        damage=merged.get("damage", "none"),
        frac_sample=merged.get("frac_sample", (1.0,)),
        frac_damage=merged.get("frac_damage", (0.0,)),
        dataset=merged.get("dataset", "fashion"),
        n_total=train_rows(merged.get("dataset", "fashion")),
        replicates=merged.get("replicates", 1),
        seed=merged.get("seed", 2019),
        full_sample_order=merged.get("full_sample_order", "drawn"),
        damage_shift=merged.get("damage_shift", 1),
        damage_matrix=merged.get("damage_matrix"),
        r_results=merged.get("r_results"),
        note=merged.get("note", ""),
        selection=merged.get("selection", ("random",)),
        draws_from=merged.get("draws_from"),
    )
