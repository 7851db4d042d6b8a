"""Experiment specs and their grids.

``reproduce/<name>.toml`` declares one experiment, mirroring one R run script: the models,
the damage rule, and per profile the grids of sample and damage fractions. ``load_experiment``
turns a spec and a profile into an :class:`Experiment`, whose ``cells()`` enumerate the grid.

Seeds: every cell's seed is a hash of (base seed, experiment, dataset, frac_sample,
frac_damage, replicate). The training-row draw uses a seed that leaves out frac_damage, so
all damage levels of one (sample fraction, replicate) train on the same rows and differ
only by their damage (common random numbers; each cell's own distribution is unchanged).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import UserError

__all__ = ["PROFILES", "Cell", "Experiment", "derive_seed", "load_experiment", "spec_dir", "experiment_names",
           "SAMPLE_GRID", "DAMAGE_GRID", "CROSS_DAMAGE_GRID"]

PROFILES = ("full", "quick", "smoke")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
N_TRAIN = 60000

#: the reference's grids, for checks; the specs in reproduce/ spell them out literally
SAMPLE_GRID = tuple([i / 100 for i in range(1, 10)] + [i / 10 for i in range(1, 10)]
                    + [(90 + i) / 100 for i in range(1, 11)])
DAMAGE_GRID = tuple([0.0] + [i / 100 for i in range(1, 10)] + [i / 10 for i in range(1, 10)]
                    + [(90 + i) / 100 for i in range(1, 10)])
CROSS_DAMAGE_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def spec_dir() -> Path:
    """The folder of experiment specs (``reproduce/`` at the project root)."""
    return PROJECT_ROOT / "reproduce"


def experiment_names(folder: Path | None = None) -> list[str]:
    """Names of the specs in ``folder``, in R's run order (the ``order`` key)."""
    folder = folder or spec_dir()
    specs = [(tomllib.loads(p.read_text()).get("order", 99), p.stem) for p in folder.glob("*.toml")]
    return [name for _, name in sorted(specs)]


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

    @property
    def n_train(self) -> int:
        return int(N_TRAIN * self.frac_sample + 1e-9)

    def model_seed(self, model: str) -> int:
        return derive_seed(self.seed, model)


@dataclass(frozen=True)
class Experiment:
    """An experiment at one profile: models x frac_sample x frac_damage x replicates."""

    name: str
    title: str
    profile: str
    models: tuple[str, ...]
    damage: str  # "none", "random", "constant"
    frac_sample: tuple[float, ...]
    frac_damage: tuple[float, ...]
    dataset: str = "fashion"
    replicates: int = 1
    seed: int = 2019
    full_sample_order: str = "drawn"  # at frac_sample 1: "drawn" (R's sample()) or "file"
    damage_shift: int = 1
    r_results: str | None = None
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def cells(self) -> list[Cell]:
        """The grid, replicate-major (a partial run holds whole replicates first), then in
        the R script's loop order: damage outer, sample inner."""
        out = []
        for r in range(self.replicates):
            for d in self.frac_damage:
                for s in self.frac_sample:
                    out.append(Cell(
                        self.name, self.dataset, s, d, r,
                        seed=derive_seed(self.seed, self.name, self.dataset, s, d, r),
                        draw_seed=derive_seed(self.seed, self.name, self.dataset, s, r, "draw"),
                    ))
        return out

    @property
    def n_fits(self) -> int:
        return len(self.models) * len(self.frac_sample) * len(self.frac_damage) * self.replicates

    def with_options(self, *, models=None, replicates=None, dataset=None) -> "Experiment":
        """A copy with CLI overrides applied and validated."""
        changes = {}
        if models is not None:
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
            changes["dataset"] = dataset
        return replace(self, **changes)


def _fractions(values, key: str, path: Path) -> tuple[float, ...]:
    if not isinstance(values, list) or not values:
        raise UserError(f"{path}: {key} must be a non-empty list of fractions")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise UserError(f"{path}: {key} holds {v!r}; fractions must lie in [0, 1]")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise UserError(f"{path}: {key} repeats a value")
    return tuple(out)


def load_experiment(name: str, profile: str = "full", folder: Path | None = None) -> Experiment:
    """Read ``reproduce/<name>.toml`` at ``profile`` ("full", "quick" or "smoke").

    Top-level keys are the defaults; ``[profiles.<profile>]`` overrides them.
    """
    folder = folder or spec_dir()
    path = folder / f"{name}.toml"
    if not path.is_file():
        raise UserError(f"no experiment {name!r}; choose from {', '.join(experiment_names(folder))} or 'all'")
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from exc
    merged = {k: v for k, v in spec.items() if k not in ("profiles", "order")}
    merged.update(spec.get("profiles", {}).get(profile, {}))
    from .models import MODELS

    models = tuple(merged.get("models", ()))
    unknown = [m for m in models if m not in MODELS]
    if not models or unknown:
        raise UserError(f"{path}: models must name registered models ({', '.join(MODELS)}); got {list(models)}")
    damage = merged.get("damage", "none")
    if damage not in ("none", "random", "constant"):
        raise UserError(f"{path}: damage must be none, random or constant, got {damage!r}")
    known = {f for f in Experiment.__dataclass_fields__} - {"name", "profile", "extra"}
    return Experiment(
        name=name,
        title=merged.get("title", name),
        profile=profile,
        models=models,
        damage=damage,
        frac_sample=_fractions(merged.get("frac_sample", [1.0]), "frac_sample", path),
        frac_damage=_fractions(merged.get("frac_damage", [0.0]), "frac_damage", path),
        dataset=merged.get("dataset", "fashion"),
        replicates=int(merged.get("replicates", 1)),
        seed=int(merged.get("seed", 2019)),
        full_sample_order=merged.get("full_sample_order", "drawn"),
        damage_shift=int(merged.get("damage_shift", 1)),
        r_results=merged.get("r_results"),
        note=merged.get("note", ""),
        extra={k: v for k, v in merged.items() if k not in known},
    )
