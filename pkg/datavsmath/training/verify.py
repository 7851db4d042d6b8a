"""Retrain stored cells with the code at hand and compare them with what a results folder
holds, within the reproducibility envelope (:mod:`datavsmath.training.envelope`).

Each chosen cell is retrained the way it was stored: the same backend and, for a fused
network, the same unit (the cells trained beside it, as its record names them; for cells
stored before records named their unit: the cell alone when it trained as one copy, else the
unit the whole grid plans with the recorded copies). Training goes through
:func:`datavsmath.training.units.execute_unit`, the path ``datavsmath run`` takes, and
nothing is written anywhere: the folder is read file by file, never through a store that
would move a damaged cell.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from .envelope import Envelope, envelope_for
from .fused import PROGRAM_VERSION
from .records import check_cell, effective_recipe

__all__ = ["CellCheck", "stored_cells", "choose_cells", "verify_cells", "recorded_cpu"]


@dataclass
class CellCheck:
    """The verdict on one stored cell: its name ("size/fashion_dnn_s0.01_d0.0_r0"), the
    stored and retrained accuracy and AUC and their differences (new less stored), the
    envelope that applies, and how its unit was known ("recorded", "one copy", "inferred",
    "guessed" or "single fit")."""

    cell: str
    model: str
    stored_acc: float | None = None
    new_acc: float | None = None
    stored_auc: float | None = None
    new_auc: float | None = None
    envelope: Envelope = field(default_factory=lambda: Envelope("unmeasured", math.nan, math.nan))
    unit: str = ""
    unit_source: str = ""
    stored_cpu: str | None = None
    problem: str = ""  # a cell that could not be compared: damaged, unknown experiment, ...

    @property
    def d_acc(self) -> float | None:
        if self.new_acc is None or self.stored_acc is None:
            return None
        return self.new_acc - self.stored_acc

    @property
    def d_auc(self) -> float | None:
        if self.new_auc is None or self.stored_auc is None:
            return None
        return self.new_auc - self.stored_auc

    @property
    def ok(self) -> bool:
        d_acc, d_auc = self.d_acc, self.d_auc
        return (not self.problem and d_acc is not None and d_auc is not None
                and self.envelope.holds(d_acc, d_auc))

    def to_json(self) -> dict:
        """The check as JSON-ready values (NaN as None), for ``datavsmath verify --json``.

        Returns
        -------
        dict
            cell, model, ok, stored/new/diff (acc and auc), envelope, unit, unit_source,
            stored_cpu and problem.
        """
        env = asdict(self.envelope)
        env = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in env.items()}
        return {"cell": self.cell, "model": self.model, "ok": self.ok,
                "stored": {"acc": self.stored_acc, "auc": self.stored_auc},
                "new": {"acc": self.new_acc, "auc": self.new_auc},
                "diff": {"acc": self.d_acc, "auc": self.d_auc},
                "envelope": env, "unit": self.unit, "unit_source": self.unit_source,
                "stored_cpu": self.stored_cpu, "problem": self.problem or None}


def stored_cells(root: Path) -> dict[str, tuple[dict | None, str | None]]:
    """Every cell file of a results folder, checked but never moved.

    Parameters
    ----------
    root : pathlib.Path
        The results folder (its ``cells/<experiment>/*.json``).

    Returns
    -------
    dict of str to tuple of (dict or None, str or None)
        Name ("experiment/stem") -> (record, None), or (None, what is wrong with the file).
    """
    out = {}
    for path in sorted((root / "cells").glob("*/*.json")):
        if path.name.startswith(".tmp-"):
            continue
        try:
            out[f"{path.parent.name}/{path.stem}"] = check_cell(path, path.read_text())
        except UnicodeDecodeError as exc:
            out[f"{path.parent.name}/{path.stem}"] = (None, f"not text ({exc.reason})")
    return out


def choose_cells(names: list[str], *, sample: int | None = None, seed: int = 0,
                 cells: list[str] | None = None, models: list[str] | None = None) -> list[str]:
    """The cells to verify: those named, else a seeded sample.

    Parameters
    ----------
    names : list of str
        The folder's cells ("experiment/stem"), in its order.
    sample : int, optional
        Cells to draw (default all of them).
    seed : int, default 0
        The draw's seed: the same seed, the same choice.
    cells : list of str, optional
        Cells named by the user (each must be in ``names``; ".json" may be left out).
    models : list of str, optional
        Draw only among these models' cells.

    Returns
    -------
    list of str
        The chosen names, without repeats; a sample in the folder's order.

    Raises
    ------
    datavsmath.errors.UserError
        If a named cell is not in the folder, or no cell is of ``models``.
    """
    if cells:
        wanted = [c.removesuffix(".json") for c in cells]
        unknown = [c for c in wanted if c not in names]
        if unknown:
            raise UserError(f"no cell {unknown[0]} in the results folder; name cells as EXPERIMENT/FILE "
                            f"without .json, e.g. {names[0] if names else 'size/fashion_rf_s0.01_d0.0_r0'}")
        return list(dict.fromkeys(wanted))
    pool = [n for n in names if not models or n.split("/", 1)[1].split("_")[1] in models]
    if not pool:
        raise UserError("the results folder has no cell of " + ", ".join(models or ["any model"]))
    k = min(sample or len(pool), len(pool))
    picked = np.random.default_rng(seed).choice(len(pool), size=k, replace=False)
    return [pool[i] for i in sorted(picked)]


def recorded_cpu(record: dict, provenance: dict) -> str | None:
    """The CPU a cell was trained on.

    Parameters
    ----------
    record : dict
        The cell's record.
    provenance : dict
        The folder's provenance (:func:`datavsmath.training.provenance.read_provenance`).

    Returns
    -------
    str or None
        The record's CPU, else that of the session running when the cell finished (cells
        stored before records named their CPU), else None.
    """
    if record.get("cpu"):
        return record["cpu"]
    done = record.get("finished_at") or ""
    for s in provenance.get("sessions", []):
        if s.get("started_at", "~") <= done <= s.get("finished_at", ""):
            return s.get("cpu")
    return None


def _experiment(name: str, record: dict, provenance: dict, replicates: int):
    """The experiment a record belongs to, at its profile and dataset, with ``replicates``."""
    from ..experiments import experiment_names, load_experiment, load_spec
    from ..noise import NOISE_RULES

    profile = record.get("profile") or provenance.get("profile") or "quick"
    base, _, rule = name.partition("-")
    if provenance.get("spec"):
        exp = load_spec(provenance["spec"], profile)
    elif name in experiment_names():
        exp = load_experiment(name, profile)
    elif base in experiment_names() and rule in NOISE_RULES:
        exp = load_experiment(base, profile).with_options(damage=(rule, None))
    else:
        raise UserError(f"cannot rebuild experiment {name}: verify knows the shipped specs, a folder's "
                        "--spec and --damage RULE without a file")
    if exp.name != name:
        raise UserError(f"cannot rebuild experiment {name} (its spec gives {exp.name})")
    return exp.with_options(dataset=record["dataset"], replicates=replicates)


def _find_cell(exp, record: dict):
    r = int(record["replicate"])
    for cell in exp.iter_cells(range(r, r + 1)):
        if (cell.frac_sample == record["frac_sample"] and cell.frac_damage == record["frac_damage"]
                and cell.selection == record.get("selection", "random")
                and (cell.rule or None) == record.get("noise_rule")):
            return cell
    raise UserError(f"the {exp.name} grid at profile {exp.profile} has no cell s={record['frac_sample']} "
                    f"d={record['frac_damage']} r={r}")


def _stored_unit(exp, cell, record: dict, plan):
    """(the unit the cell was stored from, how that is known)."""
    from .fused import Plan
    from .units import Unit, plan_units, unit_from_label

    model = record["model"]
    if record.get("backend", "naive") != "fused":
        return Unit(model, "naive", (cell,)), "single fit"
    if record.get("unit"):
        return unit_from_label(record["unit"], model, "fused", exp.iter_cells()), "recorded"
    copies = int(record.get("copies", 1))
    if copies == 1:
        return Unit(model, "fused", (cell,), plan.jit), "one copy"
    # stored before records named their unit: plan the whole grid as the run did
    grid = [(c, [model]) for c in exp.iter_cells()]
    units = plan_units(grid, {model: Plan(model, "fused", copies, plan.jit)})
    unit = next(u for u in units if cell in u.cells)
    return unit, ("inferred" if len(unit.cells) == copies else "guessed")


def _conditions(record: dict, cpu: str | None, unit_label: str | None) -> dict:
    versions = record.get("versions") or "{}"
    return {"cpu": cpu, "device": record.get("device"), "backend": record.get("backend", "naive"),
            "unit": unit_label, "recipe": effective_recipe(record),
            # fused cells stored before programs were versioned ran version 1's program
            "program": record.get("program", 1) if record.get("backend") == "fused" else None,
            "versions": json.loads(versions) if isinstance(versions, str) else versions}


def verify_cells(root: Path, chosen: list[str], stored: dict, datasets, *, log=print) -> list[CellCheck]:
    """Retrain chosen cells of a folder and compare each with its record.

    Cells that share a unit (trained together) train once.

    Parameters
    ----------
    root : pathlib.Path
        The results folder.
    chosen : list of str
        Cells to retrain ("experiment/stem"; :func:`choose_cells`).
    stored : dict
        What :func:`stored_cells` returned for ``root``.
    datasets : callable
        ``datasets(name)`` returns the loaded :class:`datavsmath.data.Dataset`.
    log : callable, default print
        Gets one line per unit as it starts.

    Returns
    -------
    list of CellCheck
        One per chosen cell, in the order of ``chosen``.
    """
    from ..models import MODELS, device_label
    from .fused import device_profile, fusable, plan_for
    from .provenance import cpu_model, read_provenance
    from .units import execute_unit, library_versions, unit_label

    provenance = read_provenance(root)
    here_cpu, profile = cpu_model(), device_profile()
    replicates: dict[str, int] = {}
    for name, (record, _) in stored.items():
        if record is not None:
            exp = name.split("/")[0]
            replicates[exp] = max(replicates.get(exp, 0), int(record["replicate"]) + 1)
    checks: dict[str, CellCheck] = {}
    jobs: dict[tuple, list] = {}  # (experiment, unit) -> [(name, record, check)]
    for name in chosen:
        record, problem = stored[name]
        model = record["model"] if record else name.split("/", 1)[1].split("_")[1]
        check = checks[name] = CellCheck(name, model)
        if problem:
            check.problem = f"damaged cell file: {problem}"
            continue
        check.stored_acc, check.stored_auc = record["acc"], record["auc"]
        check.stored_cpu = recorded_cpu(record, provenance)
        if model not in MODELS:
            check.problem = f"unknown model {model}"
            continue
        exp = _experiment(name.split("/")[0], record, provenance, replicates[name.split("/")[0]])
        cell = _find_cell(exp, record)
        unit, how = _stored_unit(exp, cell, record, plan_for(model, "fused", profile))
        check.unit, check.unit_source = unit_label(unit), how
        jobs.setdefault((exp, unit), []).append((name, record, check))
    versions = library_versions()
    for i, ((exp, unit), members) in enumerate(jobs.items(), 1):
        log(f"[{i}/{len(jobs)}] {exp.name}: {unit.describe()} ({unit.backend}"
            + (f", {len(unit.cells)} cop{'y' if len(unit.cells) == 1 else 'ies'}" if unit.backend == "fused" else "") + ")")
        t0 = time.perf_counter()
        records = execute_unit(exp, unit, datasets(exp.dataset))
        new = {(r["frac_sample"], r["frac_damage"], r["replicate"], r.get("selection", "random"),
                r.get("noise_rule")): r for r in records}
        for name, record, check in members:
            got = new[(record["frac_sample"], record["frac_damage"], record["replicate"],
                       record.get("selection", "random"), record.get("noise_rule"))]
            check.new_acc, check.new_auc = got["acc"], got["auc"]
            then = _conditions(record, check.stored_cpu,
                               check.unit if check.unit_source != "guessed" else None)
            now = {"cpu": here_cpu, "device": device_label(), "backend": unit.backend, "unit": check.unit,
                   "recipe": MODELS[check.model].recipe, "versions": versions,
                   "program": PROGRAM_VERSION if unit.backend == "fused" else None}
            check.envelope = envelope_for(check.model, fusable(check.model), then, now)
        log(f"      done in {time.perf_counter() - t0:.0f} s")
    return [checks[n] for n in chosen]
