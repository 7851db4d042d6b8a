"""Durable, resumable results store and the tidy results schema.

A store is a folder. Each finished (experiment, model, cell, replicate) is one JSON file under
``cells/<experiment>/``, written to a temporary name, flushed to disk and renamed into place,
so a killed run loses at most the fit in flight and a rerun never duplicates a finished one.
``export`` writes the tidy table and the R-shaped CSVs that compare 1:1 with the R results.

The tidy schema, one row per model fit (``COLUMNS``):

=================  ==========================================================================
experiment         "size", "random_damage", "constant_damage", "size_x_damage" (or a user's)
dataset            "fashion" or "mnist"
model              "rf", "xgb", "dnn", "cnn" (or a registered model)
frac_sample        share of the 60,000 training rows drawn (1.0: all rows, file order)
frac_damage        share of the drawn labels damaged (0 for the size experiment)
damage             "none" or the damage rule (datavsmath.noise.NOISE_RULES: "random", "constant",
                   "symmetric", "pair", "confusion", "matrix", "instance")
replicate          0, 1, ... independent repetitions of the cell
seed               the cell's seed, derived from (experiment, dataset, cell, replicate)
n_train            rows given to the model (networks train on the first 80% of them)
acc, auc           test metrics on all 10,000 test rows (see ``datavsmath.metrics``)
fit_seconds        wall seconds of training; predict_seconds: of scoring the test set
device             where it trained, e.g. "cpu" or "gpu:NVIDIA H100"
profile            "full", "quick", "smoke"
finished_at        UTC ISO time; host: machine name; versions: JSON of library versions
=================  ==========================================================================

A pruning experiment's records add ``selection`` ("random", "keep_easy", "keep_hard"); a
record without it is random, and only the other rules add it to the cell file's name, so the
folders of the other experiments are unchanged.

Extra columns after these: ``backend``, ``copies`` (how the fit ran), ``recipe``, the version of
the model's recipe it was trained under (:attr:`datavsmath.models.ModelSpec.recipe`; cells
written before recipes were recorded count as recipe 1), ``transition_counts``
(the realised noise matrix of the cell's training labels, compact JSON ``[[n00, n01, ...],
...]``, rows the clean class, columns the label trained on; absent in cells written before it
was recorded) and, in experiments with several damage rules, ``noise_rule`` (the cell's rule,
also part of its file name; "none" for the shared clean cells). A stored fit of an older recipe
than the registered model's is *outdated*: ``datavsmath status`` and the run plan count it, the
next run retrains it (``put`` replaces it), and :func:`outdated` marks its rows in a table.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

__all__ = ["COLUMNS", "R_FILES", "REQUIRED", "CHECKSUM", "RECIPE", "ResultStore", "cell_id", "read_results",
           "record_recipe", "record_backend", "effective_recipe", "outdated",
           "read_r_csv", "to_r_shape", "atomic_write", "check_cell", "clean_stale_temps", "pid_alive",
           "estimate_bytes", "temp_prefix", "check_values", "file_mode"]

COLUMNS = [
    "experiment", "dataset", "model", "frac_sample", "frac_damage", "damage", "replicate",
    "seed", "n_train", "acc", "auc", "fit_seconds", "predict_seconds", "device", "profile",
    "finished_at", "host", "versions",
]

#: R result file per (dataset, experiment); the size x damage CSV was not published in R.
R_FILES = {
    ("fashion", "size"): "fashion-data-size-results.csv",
    ("fashion", "random_damage"): "fashion-mnist-damage-results.csv",
    ("fashion", "constant_damage"): "fashion-mnist-const-damage-results.csv",
    ("fashion", "size_x_damage"): "fashion-size-x-damage-results.csv",
    ("mnist", "size"): "data-size-results.csv",
}
#: fields every cell must hold, with the types they must have (``put`` refuses a record
#: without them, a read quarantines a cell without them)
REQUIRED = {"experiment": str, "dataset": str, "model": str, "frac_sample": (int, float),
            "frac_damage": (int, float), "replicate": int, "acc": (int, float), "auc": (int, float)}
#: the field of a cell file holding the SHA-256 of the rest of the record
CHECKSUM = "sha256"
#: the field of a cell file holding the model recipe it was trained under (absent: 1)
RECIPE = "recipe"
#: where damaged cells are moved, inside the results folder
QUARANTINE = "quarantine"
#: below this much free space a run warns (other programs fill the same disk)
MIN_FREE_BYTES = 100 * 2**20

_DAMAGE_OF = {"size": "none", "random_damage": "random", "constant_damage": "constant",
              "size_x_damage": "constant"}


def cell_id(model: str, frac_sample: float, frac_damage: float, replicate: int, dataset: str,
            rule: str | None = None, selection: str = "random") -> str:
    """File-name-safe key of one fit; fractions printed exactly so keys never collide.

    Parameters
    ----------
    model : str
        The model's registered name.
    frac_sample, frac_damage : float
        The cell's sample and damage fractions, in [0, 1].
    replicate : int
        The replicate, from 0.
    dataset : str
        The dataset's name.
    rule : str, optional
        The damage rule of an experiment with several (its cells would collide without it).
    selection : str, default "random"
        A pruning rule other than random is added to the key.

    Returns
    -------
    str
        E.g. ``"fashion_rf_s0.1_d0.0_r0"``.
    """
    tail = (f"_{rule}" if rule else "") + ("" if selection == "random" else f"_{selection}")
    return f"{dataset}_{model}_s{frac_sample!r}_d{frac_damage!r}_r{int(replicate)}{tail}"


@functools.cache
def file_mode() -> int:
    """The permission bits ``open()`` gives a new file under this process's umask: 0o644 under
    the usual 0o022 (``mkstemp`` gives 0o600, which hides results from the group and other users
    for no reason). Read when the first file is written, not at import.

    Returns
    -------
    int
        ``0o666`` less the umask's bits.
    """
    try:  # Linux states the umask; reading it there changes nothing
        status = Path("/proc/self/status").read_text()
        mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)  # elsewhere it is read by setting it, and restored at once
        os.umask(mask)
    return 0o666 & ~mask


def estimate_bytes(n_fits: int) -> int:
    """Rough disk space a folder of fits needs: a file-system block per cell, about
    2 KiB a fit for the tables (twice, while they are replaced), 1 MiB for the rest.

    Parameters
    ----------
    n_fits : int
        Fits the folder will hold.

    Returns
    -------
    int
        Bytes.
    """
    return n_fits * (4096 + 2 * 2048) + 2**20


def temp_prefix() -> str:
    """Prefix of this process's temporary files: with host and pid in the name, a dead
    writer's leftover can be told from a live writer's file (:func:`clean_stale_temps`)."""
    return f".tmp-{socket.gethostname()}-{os.getpid()}-"


def atomic_write(path: str | os.PathLike, write, *, binary: bool = False) -> None:
    """Write a file through a temporary file in the same folder, then rename it into place:
    readers see the old file or the new one, never a part of one.

    On any error (a full disk, an interrupt) the temporary file is removed and the error
    raised; ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    write : callable
        ``write(fh)`` writes the content to the open file ``fh``.
    binary : bool, default False
        Open the temporary file in binary mode (else text).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=".part")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process exists on this machine (one we may not signal counts too).

    Parameters
    ----------
    pid : int
        The process id; 0 and negative ids (process groups) are never alive.

    Returns
    -------
    bool
    """
    if pid <= 0:  # kill(0 or -n, 0) asks about process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) from a temporary file's name, or None for a name of another form."""
    if not (name.startswith(".tmp-") and name.endswith(".part")):
        return None
    parts = name[len(".tmp-"):].rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def clean_stale_temps(root: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of writers that died on this machine.

    Only files whose name carries this host and a pid that no longer runs: a file of another
    host, or of the older nameless form, may belong to a live writer and is left alone.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder: its top, ``r-shaped/`` and each ``cells/<experiment>/`` are searched.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    root, host = Path(root), socket.gethostname()
    removed = []
    folders = [root, root / "r-shaped"] + sorted(p for p in (root / "cells").glob("*") if p.is_dir())
    for folder in folders:
        for f in folder.glob(".tmp-*.part"):
            owner = _temp_owner(f.name)
            if owner and owner[0] == host and not pid_alive(owner[1]):
                with contextlib.suppress(OSError):
                    f.unlink()
                    removed.append(f)
    return removed


def checksum(record: dict) -> str:
    """SHA-256 of a record (without its checksum field) in the canonical JSON the store writes.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    str
        64 hex digits.
    """
    body = {k: v for k, v in record.items() if k != CHECKSUM}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def record_recipe(record: dict) -> int:
    """The model recipe a stored record was trained under.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    int
        Its ``recipe``; 1 for records written before recipes were recorded.
    """
    value = record.get(RECIPE)
    return 1 if value is None else int(value)


def record_backend(record: dict) -> str | None:
    """The keras backend a stored record was trained under (``versions["keras_backend"]``).

    Parameters
    ----------
    record : dict
        A result record (one fit). Its ``versions`` is a JSON string in cell files and
        results.csv, a dict in records built in memory.

    Returns
    -------
    str or None
        "tensorflow", "jax", or None when the record does not say.
    """
    versions = record.get("versions")
    if isinstance(versions, str):
        try:
            versions = json.loads(versions)
        except ValueError:
            return None
    return versions.get("keras_backend") if isinstance(versions, dict) else None


def effective_recipe(record: dict) -> int:
    """The recipe whose computation a stored record holds.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    int
        Its model's current recipe when the stored one is declared the same computation on the
        record's keras backend (:meth:`datavsmath.models.ModelSpec.counts_as_current`), else the
        stored recipe.
    """
    from ..models import MODELS

    stored = record_recipe(record)
    spec = MODELS.get(str(record.get("model")))
    if spec is not None and spec.counts_as_current(stored, record_backend(record)):
        return max(stored, spec.recipe)
    return stored


def outdated(df: pd.DataFrame) -> pd.Series:
    """Which rows of a tidy table are our fits trained under an older recipe than their
    model's current one (:func:`effective_recipe`: an older recipe declared the same
    computation on the fit's backend is current).

    Never outdated: models not registered here, and rows without ``finished_at`` (R's published
    results, read from its CSVs). A row without a recipe counts as recipe 1.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (:func:`read_results`).

    Returns
    -------
    pandas.Series of bool
        Aligned with ``df``.
    """
    from ..models import MODELS

    if df.empty:
        return pd.Series(False, index=df.index, dtype=bool)
    cols = [c for c in ("model", RECIPE, "versions") if c in df.columns]
    records = df[cols].to_dict("records")
    old = pd.Series([r.get("model") in MODELS
                     and effective_recipe({k: v for k, v in r.items() if not pd.isna(v)}) < MODELS[r["model"]].recipe
                     for r in records], index=df.index, dtype=bool)
    ours = df["finished_at"].notna() if "finished_at" in df.columns else pd.Series(False, index=df.index)
    return (old & ours).astype(bool)



def replicates_per_model(df: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Fewest and most replicates per cell of each model in a tidy table.

    A cell is an experiment, dataset, sample and damage fraction (and selection, noise rule
    where present).

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy results (:func:`read_results`).

    Returns
    -------
    dict of str to tuple of (int, int)
        ``{model: (fewest, most)}``, in the order the models first appear.
    """
    if df.empty:
        return {}
    keys = [c for c in ("experiment", "dataset", "model", "frac_sample", "frac_damage", "selection", "noise_rule")
            if c in df.columns]
    n = df.groupby(keys, dropna=False).size().groupby("model").agg(["min", "max"])
    return {m: (int(n.at[m, "min"]), int(n.at[m, "max"])) for m in dict.fromkeys(df["model"])}


def describe_replicates(counts: dict[str, tuple[int, int]]) -> str:
    """The replicates per cell in words, e.g. "replicates per cell: rf 3, xgb 1, cnn 1-2".

    Parameters
    ----------
    counts : dict of str to tuple of (int, int)
        What :func:`replicates_per_model` returns.

    Returns
    -------
    str
    """
    if not counts:
        return "replicates per cell: none stored"
    return "replicates per cell: " + ", ".join(f"{m} {lo}" + (f"-{hi}" if hi != lo else "")
                                               for m, (lo, hi) in counts.items())


def _is_type(value, types) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)


def _n_train_problem(record: dict) -> str | None:
    """Whether ``n_train`` is the row count ``frac_sample`` gives a named dataset:
    ``floor(N * frac + 1e-9)`` of its N training rows (:func:`datavsmath.damage.sample_rows`).
    A dataset of one's own does not record N, and any count fits some N, so none is checked."""
    from ..data import train_rows

    n, frac, total = record["n_train"], record["frac_sample"], train_rows(record["dataset"])
    if total is None:
        return None
    expected = math.floor(total * frac + 1e-9)
    if n != expected:
        return (f"n_train {n} does not match frac_sample {frac!r} of the {total:,} training rows "
                f"of {record['dataset']} ({expected})")
    return None


#: ranges of the numeric fields of a cell, (low, high, low included, high included); a field
#: listed here but absent from a record (written before it was recorded) is not checked
_RANGES = {"frac_sample": (0.0, 1.0, False, True), "frac_damage": (0.0, 1.0, True, True),
           "acc": (0.0, 1.0, True, True), "auc": (0.0, 1.0, True, True),
           "fit_seconds": (0.0, math.inf, True, False), "predict_seconds": (0.0, math.inf, True, False)}
#: integer fields and their least value (absent: not checked, except those in REQUIRED)
_INTEGERS = {"replicate": 0, "seed": 0, "n_train": 1, RECIPE: 1, "copies": 1, "program": 1}


def check_values(record: dict) -> str | None:
    """What is wrong with the fields of one result record, if anything.

    Sound: the required fields present with their types; acc, auc and the fractions finite and
    in range; replicate, seed, n_train, recipe and copies integers at least their least value;
    n_train the rows its sample fraction gives. Checked on every read whether the record
    carries a checksum or not: a checksum proves a record unchanged, not that what was
    written was sound.

    Parameters
    ----------
    record : dict
        A result record (one fit), as stored in a cell file or built in memory.

    Returns
    -------
    str or None
        The first problem found, or None when every field holds a value a fit can produce.
    """
    bad = [k for k, t in REQUIRED.items() if not _is_type(record.get(k), t)]
    if bad:
        return f"missing or mistyped fields {bad}"
    for key in ("experiment", "dataset", "model"):
        if not record[key]:
            return f"{key} is empty"
    for key, (lo, hi, lo_in, hi_in) in _RANGES.items():
        if key not in record:
            continue
        v = record[key]
        if not _is_type(v, (int, float)):
            return f"{key} must be a number, got {v!r}"
        inside = (lo <= v if lo_in else lo < v) and (v <= hi if hi_in else v < hi)
        if not (math.isfinite(v) and inside):
            span = f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"
            return f"{key} {v!r} is outside {span}"
    for key, least in _INTEGERS.items():
        if key in record and not (_is_type(record[key], int) and record[key] >= least):
            return f"{key} must be an integer of at least {least}, got {record[key]!r}"
    if "n_train" in record:
        return _n_train_problem(record)
    return None


def check_cell(path: Path, text: str) -> tuple[dict | None, str | None]:
    """Read and check the text of one cell file.

    Parameters
    ----------
    path : pathlib.Path
        The file (named in messages).
    text : str
        Its content.

    Returns
    -------
    tuple of (dict or None, str or None)
        (record, None) for a sound cell file, else (None, what is wrong with it).
    """
    try:
        record = json.loads(text)
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    problem = check_values(record)
    if problem is not None:
        return None, problem
    stored = record.pop(CHECKSUM, None)
    if stored is not None and stored != checksum(record):  # None: written before checksums
        return None, "checksum mismatch (the record was changed after it was written)"
    if path.parent.name != record["experiment"] or path.name != _cell_name(record):
        return None, f"its record belongs to {record['experiment']}/{_cell_name(record)}"
    return record, None


def _cell_name(record: dict) -> str:
    return cell_id(record["model"], record["frac_sample"], record["frac_damage"],
                   record["replicate"], record["dataset"], record.get("noise_rule"),
                   record.get("selection", "random")) + ".json"


def _report_damage(message: str) -> None:
    print(f"datavsmath: {message}", file=sys.stderr, flush=True)


class ResultStore:
    """Folder of finished fits; see the module docstring for the layout and guarantees.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder (created when the first fit is stored).
    on_damaged : callable, optional
        Called with one message per damaged cell found (default: print it to stderr).
    """

    def __init__(self, root: str | os.PathLike, on_damaged=_report_damage):
        self.root = Path(root)
        self._on_damaged = on_damaged
        self._reported: set[Path] = set()

    def _dir(self, experiment: str) -> Path:
        return self.root / "cells" / experiment

    def _path(self, record: dict) -> Path:
        return self._dir(record["experiment"]) / _cell_name(record)

    def _load(self, path: Path) -> dict | None:
        """The verified record of cell file ``path``; None if it is absent or damaged (a
        damaged one is reported and moved to quarantine)."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as exc:
            record: dict | None = None
            problem: str | None = f"not text ({exc.reason})"
        else:
            record, problem = check_cell(path, text)
        if problem is not None:
            self._quarantine(path, problem)
        return record

    def _quarantine(self, path: Path, problem: str) -> None:
        """Move a damaged cell out of ``cells/`` so that it counts as missing and is refitted;
        kept, not deleted, for whoever wants to see what happened to it."""
        rel = path.relative_to(self.root / "cells")
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        dest = self.root / QUARANTINE / rel.parent / f"{rel.stem}.{stamp}-{os.getpid()}{rel.suffix}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            where = f"moved to {dest}; the next `datavsmath run` refits it"
        except FileNotFoundError:  # another reader moved it first and reported it
            return
        except OSError as exc:  # e.g. a read-only folder: skip it here, say so
            where = f"left in place ({exc.strerror}) and skipped; remove it to have it refitted"
        if path not in self._reported:
            self._reported.add(path)
            self._on_damaged(f"damaged cell {path}: {problem}; {where}")

    def has(self, record: dict) -> bool:
        """Whether a fit is stored and sound.

        Parameters
        ----------
        record : dict
            A result record (one fit); only its key fields are read (:func:`cell_id`).

        Returns
        -------
        bool
        """
        return self.get(record) is not None

    def get(self, record: dict) -> dict | None:
        """The stored, verified record of a fit.

        Parameters
        ----------
        record : dict
            A result record (one fit); only its key fields are read (:func:`cell_id`).

        Returns
        -------
        dict or None
            The stored record, or None when it is absent (or damaged, which quarantines it).
        """
        path = self._path(record)
        return self._load(path) if path.is_file() else None

    def put(self, record: dict) -> bool:
        """Store one finished fit atomically, with its checksum.

        A damaged copy, or one of an older recipe, is replaced.

        Parameters
        ----------
        record : dict
            A result record (one fit), as stored in a cell file or built in memory.

        Returns
        -------
        bool
            False (nothing written) if a sound copy of the same or a newer recipe
            (:func:`effective_recipe`) is present, else True.

        Raises
        ------
        ValueError
            If the record is not sound (:func:`check_values`).
        """
        problem = check_values(record)
        if problem is not None:  # stored, it would be quarantined and retrained on every read
            raise ValueError(f"result record not stored: {problem}")
        path = self._path(record)
        stored = self.get(record)
        if stored is not None and effective_recipe(stored) >= effective_recipe(record):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {k: v for k, v in record.items() if k != CHECKSUM}
        body[CHECKSUM] = checksum(body)
        # not "*.json" until renamed: whoever lists records (a rerun, a watcher) never sees a half-written one
        atomic_write(path, lambda fh: json.dump(body, fh, sort_keys=True))
        return True

    def records(self, experiment: str | None = None) -> list[dict]:
        """All stored records.

        Parameters
        ----------
        experiment : str, optional
            Only this experiment's (default: all).

        Returns
        -------
        list of dict
            Sorted by experiment and cell file.
        """
        base = self.root / "cells"
        dirs = [base / experiment] if experiment else sorted(p for p in base.glob("*") if p.is_dir())
        out = []
        for d in dirs:
            for f in sorted(d.glob("*.json")):  # ".tmp-*.json" leftovers of older versions are skipped
                if f.name.startswith(".tmp-"):
                    continue
                record = self._load(f)
                if record is not None:
                    out.append(record)
        return out

    def to_frame(self, experiment: str | None = None) -> pd.DataFrame:
        """Tidy DataFrame of the stored fits.

        Parameters
        ----------
        experiment : str, optional
            Only this experiment's (default: all).

        Returns
        -------
        pandas.DataFrame
            One row per fit, columns ``COLUMNS`` first, sorted by cell; the ``recipe`` column is
            always there (1 for cells written before recipes were recorded).
        """
        df = pd.DataFrame(self.records(experiment))
        if df.empty:
            return pd.DataFrame(columns=COLUMNS)
        df[RECIPE] = df[RECIPE].fillna(1).astype(int) if RECIPE in df.columns else 1
        extra = [c for c in df.columns if c not in COLUMNS]
        df = df.reindex(columns=COLUMNS + extra)
        keys = ["experiment", "dataset", "frac_damage"] + (["noise_rule"] if "noise_rule" in df else []) \
            + ["frac_sample", "replicate", "model"]
        if "selection" in df:
            df["selection"] = df["selection"].fillna("random")
            keys.insert(-2, "selection")
        return df.sort_values(keys, kind="stable").reset_index(drop=True)

    def export(self, out_dir: str | os.PathLike | None = None) -> list[Path]:
        """Write ``results.csv`` (tidy) and one R-shaped CSV per (dataset, experiment).

        Parameters
        ----------
        out_dir : str or os.PathLike, optional
            Where to write them (default: the store's folder).

        Returns
        -------
        list of pathlib.Path
            The files written.
        """
        out_dir = Path(out_dir) if out_dir is not None else self.root
        out_dir.mkdir(parents=True, exist_ok=True)
        df = self.to_frame()
        written = [out_dir / "results.csv"]
        _write_csv(df, written[0])
        for (dataset, experiment), part in df.groupby(["dataset", "experiment"], sort=True):
            name = R_FILES.get((dataset, experiment), f"{dataset}-{experiment}-results.csv")
            path = out_dir / "r-shaped" / name
            path.parent.mkdir(exist_ok=True)
            _write_csv(to_r_shape(part), path)
            written.append(path)
        return written


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    # a reader (or a kill) mid-export sees the previous table, never a truncated one
    atomic_write(path, lambda fh: df.to_csv(fh, index=False))


def to_r_shape(df: pd.DataFrame) -> pd.DataFrame:
    """R's columns for one experiment's tidy rows.

    ``frac,exp_name,acc,auc`` or, for the cross product, ``frac_damage,frac_sample,exp_name,acc,auc``;
    a ``replicate`` column only if there are several, and a trailing ``preview`` column ("QUICK
    PREVIEW ...") for any profile but ``full``. Rows follow R's order: by fraction, then the
    models in the order rf, xgb, dnn, cnn.

    Parameters
    ----------
    df : pandas.DataFrame
        Tidy rows of one experiment.

    Returns
    -------
    pandas.DataFrame
    """
    experiment = df["experiment"].iloc[0]
    order = {m: i for i, m in enumerate(["rf", "xgb", "dnn", "cnn"])}
    df = df.assign(_m=df["model"].map(lambda m: order.get(m, len(order))))
    if experiment == "size_x_damage":
        cols = ["frac_damage", "frac_sample"]
    else:
        by_size = experiment == "size" or (df["frac_damage"].nunique() == 1 and df["frac_sample"].nunique() > 1)
        df = df.assign(frac=df["frac_sample" if by_size else "frac_damage"])
        cols = ["frac"]
    if "noise_rule" in df and df["noise_rule"].notna().any():
        cols.append("noise_rule")  # several damage rules: a row without its rule means nothing
    if "selection" in df and (df["selection"].fillna("random") != "random").any():
        cols.append("selection")
    df = df.sort_values(cols + ["replicate", "_m"], kind="stable")
    keep = cols + ["exp_name", "acc", "auc"] + (["replicate"] if df["replicate"].nunique() > 1 else [])
    profiles = sorted(set(df["profile"].dropna()) - {"full"}) if "profile" in df else []
    if profiles:
        # a preview must say so wherever it goes, also in a file shaped like R's tables; the
        # trailing column is dropped again by read_r_csv
        label = "QUICK PREVIEW" if profiles == ["quick"] else " / ".join(p.upper() for p in profiles)
        df = df.assign(preview=f"{label} (profile {', '.join(profiles)}), not the R grid")
        keep.append("preview")
    return df.rename(columns={"model": "exp_name"})[keep].reset_index(drop=True)


def read_r_csv(path: str | os.PathLike, experiment: str | None = None, dataset: str | None = None) -> pd.DataFrame:
    """Read an R-shaped result CSV into the tidy schema (missing fields are NaN).

    Parameters
    ----------
    path : str or os.PathLike
        The CSV.
    experiment, dataset : str, optional
        Default to what the file name says (see ``R_FILES``).

    Returns
    -------
    pandas.DataFrame
        Columns ``COLUMNS``.

    Raises
    ------
    ValueError
        If the file name says neither and they are not given.
    """
    path = Path(path)
    if experiment is None or dataset is None:
        by_name = {v: k for k, v in R_FILES.items()}
        if path.name not in by_name and (experiment is None or dataset is None):
            raise ValueError(f"cannot tell the experiment of {path.name}; pass experiment= and dataset=")
        dataset = dataset or by_name[path.name][0]
        experiment = experiment or by_name[path.name][1]
    raw = pd.read_csv(path)
    df = raw.rename(columns={"exp_name": "model"})
    if "frac" in df.columns:
        target = "frac_sample" if experiment == "size" else "frac_damage"
        df = df.rename(columns={"frac": target})
    df = df.assign(experiment=experiment, dataset=dataset, damage=_DAMAGE_OF.get(experiment, "none"))
    df["frac_sample"] = df.get("frac_sample", 1.0)
    df["frac_damage"] = df.get("frac_damage", 0.0)
    if "replicate" not in df.columns:
        df["replicate"] = 0
    return df.reindex(columns=COLUMNS)


def read_results(source: str | os.PathLike) -> pd.DataFrame:
    """Tidy results from a store folder, a tidy ``results.csv``, or an R-shaped CSV.

    Parameters
    ----------
    source : str or os.PathLike
        A results folder (its ``cells/``, else its ``results.csv``) or a CSV file.

    Returns
    -------
    pandas.DataFrame
        One row per fit.

    Raises
    ------
    FileNotFoundError
        If a folder holds neither ``cells/`` nor ``results.csv``.
    """
    source = Path(source)
    if source.is_dir():
        if (source / "cells").is_dir():
            return ResultStore(source).to_frame()
        if (source / "results.csv").is_file():
            return read_results(source / "results.csv")
        raise FileNotFoundError(f"{source} holds neither cells/ nor results.csv")
    head = pd.read_csv(source, nrows=0).columns
    if "experiment" in head:
        return pd.read_csv(source)
    return read_r_csv(source)
