"""What a report page needs from a results folder: which folder, and its fits, provenance and
tables, loaded (:func:`load`, a :class:`Site`). Where and how the fits ran, and what a build of
the site rests on: :mod:`datavsmath.report.build`.

The folder is ``$DATAVSMATH_RESULTS`` if set, else ``results/full`` when its provenance says
the full run is complete, else ``results/quick`` (:func:`default_results_dir`). Pages never
train anything: they read ``cells/`` or ``results.csv``, ``provenance.json`` and
``tables/*.csv``, and R's published tables in ``data/r-results/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..resources import project_root as checkout_root
from ..resources import shipped
from ..stats.parity import model_order
from ..training.provenance import read_provenance

__all__ = ["EXPERIMENT_NAMES", "MODEL_NAMES", "OWN_FOLDER_PAGES", "R_RESULTS", "ROOT", "TABLES", "Site",
           "coverage_study", "default_results_dir", "describe_source", "experiment_folder",
           "is_complete", "load", "load_results", "project_root", "r_results", "r_talk_tables",
           "relative"]

#: the checkout the site is built from (the working directory for an installed package)
ROOT = checkout_root() or Path.cwd()
R_RESULTS = shipped("data", "r-results")
MODEL_NAMES = {"rf": "random forest (rf)", "xgb": "gradient boosting (xgb)",
               "dnn": "dense network (dnn)", "cnn": "convolutional network (cnn)"}
EXPERIMENT_NAMES = {"size": "size", "random_damage": "random damage",
                    "constant_damage": "constant damage", "size_x_damage": "size x damage",
                    "pruning": "data pruning", "noise_models": "noise models"}
#: pages about one experiment beyond R's grids, which read the folder that holds it
#: (:func:`experiment_folder`): page name -> experiment
OWN_FOLDER_PAGES = {"noise-models": "noise_models", "pruning": "pruning"}
#: the tables the statistics module (``datavsmath fit``) writes under <results>/tables/
TABLES = ["learning_curve_fits.csv", "data_needed.csv", "observations_needed_acc90.csv",
          "observations_needed_auc98.csv", "data_quality_derivative.csv", "breakdown_points.csv",
          "pruning_fits.csv", "pruning_crossover.csv", "exchange_rates.csv"]


def describe_source(source: str | os.PathLike, results: pd.DataFrame) -> str:
    """The header line of a command that reads results: the folder, its profile, whether R's
    four grids are complete (full profile) or a preview, whether every fit is current (the
    outdated ones counted per model), and the replicates per cell of each model.

    Parameters
    ----------
    source : str or os.PathLike
        What the results were read from (a folder or CSV).
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).

    Returns
    -------
    str
    """
    from ..training.store import describe_replicates, outdated, replicates_per_model

    source = Path(source)
    if source.resolve() == R_RESULTS.resolve():
        return f"read {relative(source)}: R's published tables (one run per cell)"
    parts = []
    if source.is_dir():
        profile = read_provenance(source).get("profile") or "unknown"
        parts.append(f"profile {profile}")
        if profile == "full":
            parts.append("R's four grids complete" if is_complete(source) else
                         "INCOMPLETE: R's four grids are not all stored (`datavsmath status` says what is left)")
        elif profile == "quick":
            parts.append("QUICK PREVIEW, not the full grids")
    else:
        parts.append("a results table (its completeness is not recorded)")
    old = results.loc[outdated(results), "model"].value_counts() if len(results) else pd.Series(dtype=int)
    parts.append("every fit current" if old.empty else
                 f"OUTDATED: {int(old.sum())} fits under an older model recipe ("
                 + ", ".join(f"{m} {n}" for m, n in old.items()) + "; `datavsmath run` retrains them)")
    counts = replicates_per_model(results)
    parts.append(describe_replicates({m: counts[m] for m in model_order(counts)}))
    return f"read {relative(source)}: " + "; ".join(parts)


def r_talk_tables() -> pd.DataFrame:
    """The talk's two "observations needed" tables as it printed them
    (``data/r-results/talk-tables.csv``: metric, threshold, quality, value, frac_sample,
    num_obs, d_obs; one R run of the size x damage grid, whose CSV was never published)."""
    return pd.read_csv(R_RESULTS / "talk-tables.csv", comment="#")


def coverage_study() -> pd.DataFrame:
    """The simulation study of the intervals and verdicts (``data/coverage-study.csv``, written
    by ``python -m datavsmath.stats.simulation``; checked by tests/test_simulation_study.py)."""
    return pd.read_csv(shipped("data", "coverage-study.csv"))


def project_root() -> Path:
    """The checkout the site is built from (:func:`datavsmath.resources.project_root`), else
    the working directory."""
    return checkout_root() or Path.cwd()


def is_complete(folder: str | os.PathLike) -> bool:
    """True if the folder holds R's four experiments at the full profile, every fit under its
    model's current recipe (:func:`datavsmath.training.units.r_grids_complete`), counted from
    its cell files, so that a recipe declared equivalent or a fit added since the last run is
    seen. A folder without cell files (a results.csv alone) is taken at its provenance's
    word: ``"complete"`` when present, else a ``full`` run that finished.

    Parameters
    ----------
    folder : str or os.PathLike
        A results folder.

    Returns
    -------
    bool
    """
    folder = Path(folder)
    prov = read_provenance(folder)
    if (folder / "cells").is_dir():
        from ..training.store import ResultStore
        from ..training.units import r_grids_complete

        return prov.get("profile") == "full" and r_grids_complete(ResultStore(folder), "full")
    if not prov:
        return False
    if "complete" in prov:
        return bool(prov["complete"])
    return prov.get("profile") == "full" and bool(prov.get("finished_at"))


def default_results_dir(root: str | os.PathLike | None = None) -> Path:
    """The results folder reports and ``datavsmath figures`` read by default.

    ``$DATAVSMATH_RESULTS`` if set (relative to ``root``, the project root by default); else
    ``results/full`` if :func:`is_complete`; else ``results/quick``. The folder may not exist.

    Parameters
    ----------
    root : str or os.PathLike, optional
        The project root (default the checkout's, else the working directory).

    Returns
    -------
    pathlib.Path
    """
    root = Path(root) if root is not None else project_root()
    env = os.environ.get("DATAVSMATH_RESULTS")
    if env:
        path = Path(env).expanduser()
        return path if path.is_absolute() else root / path
    full = root / "results" / "full"
    return full if is_complete(full) else root / "results" / "quick"


def load_results(source: str | os.PathLike) -> pd.DataFrame:
    """Tidy results from a results folder, a results.csv, an R-shaped CSV, or a folder of
    R-shaped CSVs named as R named them (e.g. ``data/r-results/``).

    Parameters
    ----------
    source : str or os.PathLike
        The folder or CSV.

    Returns
    -------
    pandas.DataFrame
    """
    from ..training.store import R_FILES, read_r_csv, read_results

    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if source.is_dir() and not (source / "cells").is_dir() and not (source / "results.csv").is_file():
        parts = [read_r_csv(source / name, experiment, dataset)
                 for (dataset, experiment), name in sorted(R_FILES.items()) if (source / name).is_file()]
        if not parts:
            raise FileNotFoundError(f"{source} holds no cells/, results.csv or R result CSVs")
        return pd.concat(parts, ignore_index=True)
    return read_results(source)


@dataclass
class Site:
    """One results folder, loaded: ``results`` (tidy, one row per fit) and its provenance."""

    folder: Path
    results: pd.DataFrame
    provenance: dict = field(default_factory=dict)

    @property
    def profile(self) -> str:
        """"full", "quick", "smoke", "r-results" (R's CSVs) or "unknown"."""
        prof = self.provenance.get("profile")
        if prof:
            return str(prof)
        seen = self.results["profile"].dropna().unique() if "profile" in self.results else []
        if len(seen) == 1:
            return str(seen[0])
        return "r-results" if self.folder.resolve() == R_RESULTS.resolve() else "unknown"

    @property
    def complete(self) -> bool:
        return is_complete(self.folder)

    @property
    def replicates(self) -> tuple[int, int]:
        """(fewest, most) replicates per cell over all experiments."""
        # noise_rule: cells of one level under different rules are not replicates of each other
        keys = [c for c in ["experiment", "dataset", "model", "frac_sample", "frac_damage", "noise_rule"]
                if c in self.results]
        n = self.results.groupby(keys, dropna=False).size()
        return (int(n.min()), int(n.max())) if len(n) else (0, 0)

    @property
    def n_train(self) -> int:
        """Training rows of the dataset most of these fits ran on (60,000 for Fashion-MNIST)."""
        from .findings import training_rows

        return training_rows(self.results)

    def replicates_by_model(self) -> dict[str, tuple[int, int]]:
        """Fewest and most replicates per cell of each model, in the registry's order."""
        from ..training.store import replicates_per_model

        counts = replicates_per_model(self.results)
        return {m: counts[m] for m in model_order(counts)}

    def has(self, experiment: str) -> bool:
        """Whether the results hold fits of an experiment.

        Parameters
        ----------
        experiment : str
            The experiment's name.

        Returns
        -------
        bool
        """
        return bool((self.results["experiment"] == experiment).any())

    def experiments(self) -> list[str]:
        """The experiments present, in the site's order (R's four first), then any others sorted.

        Returns
        -------
        list of str
        """
        present = set(self.results["experiment"].dropna())
        return [e for e in EXPERIMENT_NAMES if e in present] + sorted(present - set(EXPERIMENT_NAMES))

    def table(self, name: str) -> pd.DataFrame | None:
        """``tables/<name>`` of the results folder, or None when absent.

        Parameters
        ----------
        name : str
            The file name under ``tables/``, e.g. "data_needed.csv".

        Returns
        -------
        pandas.DataFrame or None
        """
        path = self.folder / "tables" / name
        return pd.read_csv(path) if path.is_file() else None

    def outdated(self) -> dict[str, int]:
        """Fits here trained under an older recipe of their model than the current one
        (:func:`datavsmath.training.store.outdated`), counted per model; empty when none."""
        from ..training.store import outdated

        if self.results.empty or "model" not in self.results:
            return {}
        counts = self.results.loc[outdated(self.results), "model"].value_counts()
        return {str(m): int(n) for m, n in counts.items()}

    def note(self, experiment: str) -> str | None:
        """The profile's note for an experiment (e.g. the quick grid's caveat), if recorded.

        Parameters
        ----------
        experiment : str
            The experiment.

        Returns
        -------
        str or None
        """
        exp = (self.provenance.get("experiments") or {}).get(experiment)
        return exp.get("note") if isinstance(exp, dict) else None


def experiment_folder(experiment: str, root: str | os.PathLike | None = None) -> Path:
    """The folder a page about ``experiment`` reads: the site's folder
    (:func:`default_results_dir`) when it holds the experiment, else ``results/quick`` when
    that does (the experiments beyond R, pruning and the noise models, have no full run yet:
    their pages show the preview, and say so), else the site's folder.

    Parameters
    ----------
    experiment : str
        The experiment.
    root : str or os.PathLike, optional
        The project root.

    Returns
    -------
    pathlib.Path
    """
    root = Path(root) if root is not None else project_root()
    main = default_results_dir(root)
    if os.environ.get("DATAVSMATH_RESULTS") or _holds(main, experiment):
        return main
    quick = root / "results" / "quick"
    return quick if _holds(quick, experiment) else main


def _holds(folder: Path, experiment: str) -> bool:
    cells = folder / "cells" / experiment
    if cells.is_dir():
        return any(cells.glob("*.json"))
    if (folder / "results.csv").is_file():
        return (pd.read_csv(folder / "results.csv", usecols=["experiment"])["experiment"] == experiment).any()
    return False


def load(folder: str | Path | None = None, experiment: str | None = None) -> Site:
    """Load the site's results: ``folder``, else the folder chosen as described in the module
    doc, or with ``experiment`` the folder that holds it (:func:`experiment_folder`).

    Parameters
    ----------
    folder : str or pathlib.Path, optional
        The results folder.
    experiment : str, optional
        An experiment the page is about: the folder that holds it is loaded.

    Returns
    -------
    Site
    """
    if folder is None:
        folder = experiment_folder(experiment, ROOT) if experiment else default_results_dir(ROOT)
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(
            f"No results at {folder}. Run `datavsmath run --profile quick` (a preview) or "
            "`--profile full`, or set DATAVSMATH_RESULTS to a results folder.")
    return Site(folder, load_results(folder), read_provenance(folder))


def r_results() -> pd.DataFrame:
    """R's published single runs (data/r-results/) in the tidy schema."""
    return load_results(R_RESULTS)


def relative(path: Path) -> str:
    """``path`` relative to the project root where it lies inside it.

    Parameters
    ----------
    path : pathlib.Path
        A path.

    Returns
    -------
    str
    """
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
