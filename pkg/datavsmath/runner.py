"""Run an experiment's grid fit by fit into a :class:`~datavsmath.store.ResultStore`.

Each finished fit is stored at once, so an interrupted run loses at most the fit in flight,
and a rerun skips what is stored. The progress bar counts work in expected CPU seconds
(each model's measured full-data time, scaled by the rows it trains on), so its ETA does not
swing between a 1% CNN cell and a 100% one.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from .damage import constant_rule, damage_labels, random_rule, sample_rows
from .data import Dataset
from .experiments import Cell, Experiment
from .metrics import score
from .models import MODELS, device_label, make_model
from .store import ResultStore

__all__ = ["training_data", "fit_and_score", "run_experiment", "pending_fits", "fit_weight", "library_versions", "RunSummary"]

#: seconds a fit costs besides its rows (graph building, scoring 10,000 test rows)
FIT_OVERHEAD_SECONDS = 4.0


def training_data(exp: Experiment, cell: Cell, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The cell's training images and (damaged) labels: shapes (n, 28, 28) and (n,)."""
    n_rows = len(data.y_train)
    if cell.frac_sample == 1.0 and exp.full_sample_order == "file":
        idx = np.arange(n_rows)
    else:
        idx = sample_rows(n_rows, cell.frac_sample, np.random.default_rng(cell.draw_seed))
    y = data.y_train[idx]
    if exp.damage != "none" and cell.frac_damage > 0:
        rule = random_rule(data.n_classes) if exp.damage == "random" else constant_rule(data.n_classes, exp.damage_shift)
        y = damage_labels(y, cell.frac_damage, rule, np.random.default_rng(cell.seed), data.n_classes)
    return data.x_train[idx], y


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions that decide the numbers, recorded with every fit."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("datavsmath", "numpy", "tensorflow", "keras", "scikit-learn", "xgboost"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    return out


def fit_and_score(exp: Experiment, cell: Cell, model: str, x, y, data: Dataset) -> dict:
    """Train ``model`` on (x, y), score it on the test set; return the result record."""
    estimator = make_model(model, seed=cell.model_seed(model), n_classes=data.n_classes)
    t0 = time.perf_counter()
    estimator.fit(x, y)
    t1 = time.perf_counter()
    proba = estimator.predict_proba(data.x_test)
    t2 = time.perf_counter()
    return {
        "experiment": exp.name, "dataset": data.name, "model": model,
        "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "damage": exp.damage,
        "replicate": cell.replicate, "seed": cell.seed, "n_train": int(len(y)),
        **score(data.y_test, proba),
        "fit_seconds": round(t1 - t0, 3), "predict_seconds": round(t2 - t1, 3),
        "device": device_label(), "profile": exp.profile,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(), "versions": json.dumps(library_versions(), sort_keys=True),
    }


def _key(exp: Experiment, cell: Cell, model: str) -> dict:
    return {"experiment": exp.name, "dataset": exp.dataset, "model": model,
            "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "replicate": cell.replicate}


def pending_fits(exp: Experiment, store: ResultStore) -> list[tuple[Cell, list[str]]]:
    """Cells with at least one model not yet stored, each with its missing models."""
    out = []
    for cell in exp.cells():
        missing = [m for m in exp.models if not store.has(_key(exp, cell, m))]
        if missing:
            out.append((cell, missing))
    return out


def fit_weight(model: str, n_train: int) -> float:
    """Expected CPU seconds of one fit, for the progress bar's ETA."""
    return MODELS[model].cpu_seconds_full * n_train / 60000 + FIT_OVERHEAD_SECONDS


@dataclass
class RunSummary:
    """What one call of :func:`run_experiment` did."""

    experiment: str
    fitted: int
    skipped: int
    seconds: float

    def __str__(self) -> str:
        return (f"{self.experiment}: {self.fitted} fits done in {self.seconds:.0f} s, "
                f"{self.skipped} already stored")


def run_experiment(exp: Experiment, store: ResultStore, data: Dataset, *, progress: bool = True,
                   log=print) -> RunSummary:
    """Run every fit of ``exp`` that ``store`` lacks; store each as it finishes."""
    from tqdm.auto import tqdm

    if data.name != exp.dataset:
        raise ValueError(f"experiment wants dataset {exp.dataset!r}, got {data.name!r}")
    todo = pending_fits(exp, store)
    n_todo = sum(len(models) for _, models in todo)
    skipped = exp.n_fits - n_todo
    if not todo:
        log(f"{exp.name}: all {exp.n_fits} fits already stored in {store.root}")
        return RunSummary(exp.name, 0, skipped, 0.0)
    log(f"{exp.name} [{exp.profile}]: {n_todo} fits to run, {skipped} stored; device {device_label()}")
    if exp.note:
        log(f"  note: {exp.note}")
    total = sum(fit_weight(m, cell.n_train) for cell, models in todo for m in models)
    start = time.perf_counter()
    with tqdm(total=round(total), unit="cpu-s", desc=exp.name, disable=not progress, file=sys.stderr,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}") as bar:
        done = 0
        for cell, models in todo:
            x, y = training_data(exp, cell, data)
            for model in models:
                bar.set_postfix_str(f"{done}/{n_todo} fits, now {model} s={cell.frac_sample:g} d={cell.frac_damage:g}")
                store.put(fit_and_score(exp, cell, model, x, y, data))
                done += 1
                bar.update(round(fit_weight(model, cell.n_train)))
    return RunSummary(exp.name, n_todo, skipped, time.perf_counter() - start)
