"""The reproducibility envelope: which stored numbers a rerun gives back bit for bit, and how
far the others may move, per model and per way of training.

A cell's accuracy and AUC are a function of its seeds and rows (fixed by the grid), the model
recipe, the library versions and, for the keras networks, of the floating-point order of their
arithmetic: the CPU's kernels (oneDNN picks code paths by instruction set), the device, and
which cells shared the fused program (:mod:`datavsmath.training.fused`; a unit's copies are
one batched computation). A different order changes the last bits of the first step, and
training amplifies them: the rerun is another run from the same seeds, not a rounding away.

What holds (measured on 2-core machines: an AMD EPYC, which trained ``results/quick``, and an
Intel Xeon, ``datavsmath verify`` and ``run`` there; the paired differences are the Xeon's
value less the stored one; the replicates' spread is the standard deviation across seeds of
one cell, pooled over the cells as the root mean square):

=====================  ============================  ==========================================
model, backend          same on                       otherwise (accuracy; AUC)
=====================  ============================  ==========================================
rf (naive)              any x86-64 CPU, same          not measured (a new scikit-learn)
                        scikit-learn: bit-exact
xgb (naive, CPU)        any x86-64 CPU, same          on CUDA: not measured
                        xgboost: bit-exact
dnn, cnn (fused or      same CPU model, same unit     see MEASURED below, against the seed
naive)                  of cells, same versions:      spread SEED_SD
                        bit-exact
=====================  ============================  ==========================================

``verify`` allows a network cell ``TOLERANCE_K`` times the model's seed spread (``SEED_SD``)
when only the CPU, the unit composition or the backend differ; a device change (CPU against
GPU) or new library versions have no measured envelope here and fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Envelope", "SEED_SD", "MEASURED", "TOLERANCE_K", "NETWORK_VERSIONS", "TREE_VERSIONS",
           "envelope_for"]

#: The seed spread: per cell, the standard deviation of accuracy and AUC across replicates
#: (independent seeds and draws), pooled over the cells as the root mean square; from the
#: shipped folders' replicates (``results/full``: 3 replicates of dnn and rf, 2 of cnn and
#: xgb, on R's size and damage grids). It is large at the heavy damage levels, where single
#: runs are chaotic, and small on clean labels (dnn median 0.004).
SEED_SD = {
    "dnn": {"acc": 0.0135, "auc": 0.0056, "cells": 84, "source": "results/full, 3 replicates"},
    "cnn": {"acc": 0.0139, "auc": 0.0039, "cells": 52, "source": "results/full, 2 replicates"},
    "rf": {"acc": 0.0029, "auc": 0.0018, "cells": 84, "source": "results/full, 3 replicates"},
    "xgb": {"acc": 0.0023, "auc": 0.0004, "cells": 21, "source": "results/full, 2 replicates"},
}

#: Paired differences measured here, per comparison: cells, mean and 95% interval of the
#: accuracy difference, largest |difference| of accuracy and of AUC, and the SD of the
#: accuracy differences as a fraction of the seed spread. Filled from ``datavsmath verify
#: --json`` and ``datavsmath run`` on the machines named (README, "Reproducibility").
MEASURED: dict[str, dict] = {}

#: A network cell whose arithmetic differs from the stored run's may differ by this many seed
#: spreads (SEED_SD). Two runs whose rounding differs are at worst two independent seeds
#: apart, a difference of SD sqrt(2) x SEED_SD: 4 seed spreads are 2.8 of those SDs, a false
#: alarm at most once in 200 cells, while the measured differences (MEASURED) stay well inside.
TOLERANCE_K = 4.0

#: library versions that move a network's numbers, and a tree's
NETWORK_VERSIONS = ("tensorflow", "keras", "jax", "keras_backend", "numpy")
TREE_VERSIONS = ("scikit-learn", "xgboost", "numpy")


@dataclass(frozen=True)
class Envelope:
    """How far a retrained cell may be from the stored one: ``kind`` "exact" (bit for bit),
    "tolerance" (|difference| at most ``acc`` in accuracy and ``auc`` in AUC) or "unmeasured"
    (nothing measured says how far; a check against it fails). ``reason``: what differs."""

    kind: str
    acc: float = 0.0
    auc: float = 0.0
    reason: str = ""

    def holds(self, d_acc: float, d_auc: float) -> bool:
        """True when the differences (new less stored) are inside the envelope."""
        if self.kind == "exact":
            return d_acc == 0 and d_auc == 0
        if self.kind == "tolerance":
            return abs(d_acc) <= self.acc and abs(d_auc) <= self.auc
        return False

    def __str__(self) -> str:
        if self.kind == "exact":
            return "bit-exact" + (f" ({self.reason})" if self.reason else "")
        if self.kind == "tolerance":
            return f"|acc| <= {self.acc:.4f}, |auc| <= {self.auc:.4f} ({self.reason})"
        return f"unmeasured ({self.reason})"


def _differences(then: dict, now: dict, versions: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(differences with a measured envelope, those without) between two training conditions."""
    measured, unmeasured = [], []
    if then.get("recipe") != now.get("recipe"):
        unmeasured.append(f"model recipe {then.get('recipe')} -> {now.get('recipe')}")
    if then.get("device") != now.get("device"):
        unmeasured.append(f"device {then.get('device')} -> {now.get('device')}")
    changed = [v for v in versions if (then.get("versions") or {}).get(v) != (now.get("versions") or {}).get(v)]
    if changed:
        unmeasured.append("versions of " + ", ".join(changed))
    if then.get("cpu") != now.get("cpu"):
        measured.append(f"CPU {then.get('cpu') or 'not recorded'} -> {now.get('cpu')}")
    if then.get("backend") != now.get("backend"):
        measured.append(f"backend {then.get('backend')} -> {now.get('backend')}")
    if then.get("unit") != now.get("unit"):
        measured.append("unit composition")
    return measured, unmeasured


def envelope_for(model: str, network: bool, then: dict, now: dict) -> Envelope:
    """The envelope of a cell of ``model`` stored under conditions ``then`` and retrained
    under ``now``: dicts with "cpu" (model name), "device", "backend", "unit" (the cells
    trained together, :func:`datavsmath.training.units.unit_label`; None when not known),
    "recipe" and "versions" (library -> version). ``network``: a keras network (its
    arithmetic order matters), else a tree model (only its device and versions do)."""
    if not network:
        measured, unmeasured = _differences(then, {**now, "cpu": then.get("cpu"), "backend": then.get("backend"),
                                                   "unit": then.get("unit")}, TREE_VERSIONS)
        if unmeasured:
            return Envelope("unmeasured", math.nan, math.nan, "; ".join(unmeasured))
        return Envelope("exact", reason="trees: same seed, same result on any x86-64 CPU")
    measured, unmeasured = _differences(then, now, NETWORK_VERSIONS)
    if unmeasured:
        return Envelope("unmeasured", math.nan, math.nan, "; ".join(unmeasured))
    if not measured:
        return Envelope("exact", reason="same CPU, unit and versions")
    sd = SEED_SD[model]
    return Envelope("tolerance", TOLERANCE_K * sd["acc"], TOLERANCE_K * sd["auc"],
                    f"{TOLERANCE_K:g} seed SDs; " + "; ".join(measured))
