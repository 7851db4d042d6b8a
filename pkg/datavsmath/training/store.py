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
damage             "none", "random", "constant" or a custom rule's name
replicate          0, 1, ... independent repetitions of the cell
seed               the cell's seed, derived from (experiment, dataset, cell, replicate)
n_train            rows given to the model (networks train on the first 80% of them)
acc, auc           test metrics on all 10,000 test rows (see ``datavsmath.metrics``)
fit_seconds        wall seconds of training; predict_seconds: of scoring the test set
device             where it trained, e.g. "cpu" or "gpu:NVIDIA H100"
profile            "full", "quick", "smoke"
finished_at        UTC ISO time; host: machine name; versions: JSON of library versions
=================  ==========================================================================
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

__all__ = ["COLUMNS", "R_FILES", "ResultStore", "cell_id", "read_results", "read_r_csv", "to_r_shape"]

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
_DAMAGE_OF = {"size": "none", "random_damage": "random", "constant_damage": "constant",
              "size_x_damage": "constant"}


def cell_id(model: str, frac_sample: float, frac_damage: float, replicate: int, dataset: str) -> str:
    """File-name-safe key of one fit; fractions printed exactly so keys never collide."""
    return f"{dataset}_{model}_s{frac_sample!r}_d{frac_damage!r}_r{int(replicate)}"


class ResultStore:
    """Folder of finished fits; see the module docstring for the layout and guarantees."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _dir(self, experiment: str) -> Path:
        return self.root / "cells" / experiment

    def _path(self, record: dict) -> Path:
        key = cell_id(record["model"], record["frac_sample"], record["frac_damage"],
                      record["replicate"], record["dataset"])
        return self._dir(record["experiment"]) / f"{key}.json"

    def has(self, record: dict) -> bool:
        """True if the fit identified by ``record``'s key fields is already stored."""
        return self._path(record).is_file()

    def put(self, record: dict) -> bool:
        """Store one finished fit atomically. Returns False (and writes nothing) if present."""
        missing = [c for c in ("experiment", "dataset", "model", "frac_sample", "frac_damage",
                               "replicate", "acc", "auc") if c not in record]
        if missing:
            raise ValueError(f"result record lacks {missing}")
        path = self._path(record)
        if path.is_file():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        # not "*.json" until renamed: whoever lists records (a rerun, a watcher) never sees a half-written one
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return True

    def records(self, experiment: str | None = None) -> list[dict]:
        """All stored records (of one experiment if given)."""
        base = self.root / "cells"
        dirs = [base / experiment] if experiment else sorted(p for p in base.glob("*") if p.is_dir())
        out = []
        for d in dirs:
            for f in sorted(d.glob("*.json")):  # ".tmp-*.json" leftovers of older versions are skipped
                if f.name.startswith(".tmp-"):
                    continue
                with open(f) as fh:
                    out.append(json.load(fh))
        return out

    def to_frame(self, experiment: str | None = None) -> pd.DataFrame:
        """Tidy DataFrame of the stored fits, columns ``COLUMNS`` first, sorted by cell."""
        df = pd.DataFrame(self.records(experiment))
        if df.empty:
            return pd.DataFrame(columns=COLUMNS)
        extra = [c for c in df.columns if c not in COLUMNS]
        df = df.reindex(columns=COLUMNS + extra)
        return df.sort_values(["experiment", "dataset", "frac_damage", "frac_sample", "replicate",
                               "model"], kind="stable").reset_index(drop=True)

    def export(self, out_dir: str | os.PathLike | None = None) -> list[Path]:
        """Write ``results.csv`` (tidy) and one R-shaped CSV per (dataset, experiment)."""
        out_dir = Path(out_dir) if out_dir is not None else self.root
        out_dir.mkdir(parents=True, exist_ok=True)
        df = self.to_frame()
        written = [out_dir / "results.csv"]
        df.to_csv(written[0], index=False)
        for (dataset, experiment), part in df.groupby(["dataset", "experiment"], sort=True):
            name = R_FILES.get((dataset, experiment), f"{dataset}-{experiment}-results.csv")
            path = out_dir / "r-shaped" / name
            path.parent.mkdir(exist_ok=True)
            to_r_shape(part).to_csv(path, index=False)
            written.append(path)
        return written


def to_r_shape(df: pd.DataFrame) -> pd.DataFrame:
    """R's columns for one experiment: ``frac,exp_name,acc,auc`` or, for the cross product,
    ``frac_damage,frac_sample,exp_name,acc,auc``; a ``replicate`` column only if there are several.
    Rows follow R's order: by fraction, then the models in the order rf, xgb, dnn, cnn."""
    experiment = df["experiment"].iloc[0]
    order = {m: i for i, m in enumerate(["rf", "xgb", "dnn", "cnn"])}
    df = df.assign(_m=df["model"].map(lambda m: order.get(m, len(order))))
    if experiment == "size_x_damage":
        cols = ["frac_damage", "frac_sample"]
    else:
        frac = "frac_sample" if experiment == "size" else "frac_damage"
        df = df.assign(frac=df[frac])
        cols = ["frac"]
    df = df.sort_values(cols + ["replicate", "_m"], kind="stable")
    keep = cols + ["exp_name", "acc", "auc"] + (["replicate"] if df["replicate"].nunique() > 1 else [])
    return df.rename(columns={"model": "exp_name"})[keep].reset_index(drop=True)


def read_r_csv(path: str | os.PathLike, experiment: str | None = None, dataset: str | None = None) -> pd.DataFrame:
    """Read an R-shaped result CSV into the tidy schema (missing fields are NaN).

    ``experiment``/``dataset`` default to what the file name says (see ``R_FILES``).
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
    """Tidy results from a store folder, a tidy ``results.csv``, or an R-shaped CSV."""
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
