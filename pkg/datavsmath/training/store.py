"""Durable, resumable results store: a folder of cell files, read, checked and exported.

A store is a folder. Each finished (experiment, model, cell, replicate) is one JSON file under
``cells/<experiment>/``, written to a temporary name, flushed to disk and renamed into place,
so a killed run loses at most the fit in flight and a rerun never duplicates a finished one.
``export`` writes the tidy table and the R-shaped CSVs that compare 1:1 with the R results.

The tidy schema, one row per model fit, its columns and the checks a stored record passes are
those of :mod:`datavsmath.training.records`; the R-shaped CSVs are written and read by
:mod:`datavsmath.training.rshape`; files are written through
:func:`datavsmath.training.files.atomic_write`. Their names are importable from here too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from .files import (
    MIN_FREE_BYTES,
    atomic_write,
    clean_stale_temps,
    estimate_bytes,
    file_mode,
    pid_alive,
    temp_prefix,
)
from .records import (
    CHECKSUM,
    COLUMNS,
    RECIPE,
    REQUIRED,
    cell_file_name,
    cell_id,
    check_cell,
    check_values,
    checksum,
    describe_replicates,
    effective_recipe,
    outdated,
    record_backend,
    record_recipe,
    replicates_per_model,
)
from .rshape import R_FILES, read_r_csv, to_r_shape

__all__ = ["COLUMNS", "R_FILES", "REQUIRED", "CHECKSUM", "RECIPE", "ResultStore", "cell_id", "read_results",
           "record_recipe", "record_backend", "effective_recipe", "outdated",
           "read_r_csv", "to_r_shape", "atomic_write", "check_cell", "clean_stale_temps", "pid_alive",
           "estimate_bytes", "temp_prefix", "check_values", "file_mode",
           "QUARANTINE", "MIN_FREE_BYTES", "checksum", "replicates_per_model", "describe_replicates"]

#: where damaged cells are moved, inside the results folder
QUARANTINE = "quarantine"


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
        return self._dir(record["experiment"]) / cell_file_name(record)

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
