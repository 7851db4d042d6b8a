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

========================  =================================  ====================================
model, backend            bit-exact when                     measured otherwise (accuracy)
========================  =================================  ====================================
rf (naive)                same seed, same scikit-learn, any  (nothing else measured)
                          x86-64 CPU: 5 of 5 cells,
                          AMD EPYC against Intel Xeon
xgb (naive, on a CPU)     same seed, same xgboost, any       on CUDA: not measured
                          x86-64 CPU (34 of 34 tree cells
                          of the R quick grids, issue 31)
dnn (fused)               same command, same machine: 5 of   AMD EPYC -> Intel Xeon, same units:
                          5 cells twice; a resumed run       56 cells, 10 identical, mean -0.0012
                          against an uninterrupted one       [-0.0040, +0.0016], max |d| 0.036
                          (tests/test_resume_units.py)       (AUC 0.014), SD 0.77 seed SDs
dnn, other unit            on one machine: 44 of 44 cells
composition               (Intel Xeon; 21 of them trained
                          in units of another size: 1 vs 2,
                          5 or 4 vs 8 copies)
dnn, fused against naive  never                              Xeon, 5 cells: mean -0.0012
                                                             [-0.0073, +0.0050], max 0.0073,
                                                             SD 0.37 seed SDs
cnn (fused)               same command, same machine         EPYC -> Xeon, 2 cells: max 0.0095;
                                                             issue 31: 41 quick cells, max 0.048
                                                             at 50% constant damage
any network, CPU vs GPU   never                              not measured (no GPU here)
========================  =================================  ====================================

The differences are widest at heavy damage (|d| up to 0.036 at 50%, 0.007 at 10%) and on the
clean 3,000-row draws, where single runs are chaotic, as the seed spread is. No finding
moves: the mean paired difference is zero within its interval, and its spread is smaller than
the seeds'.

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
MEASURED = {
    "dnn cpu": {"machines": "AMD EPYC (stored, results/quick) -> Intel Xeon", "cells": 56, "identical": 10,
                "mean": -0.0012, "ci95": (-0.0040, 0.0016), "max_acc": 0.0361, "max_auc": 0.0144,
                "sd_over_seed_sd": 0.77, "how": "datavsmath verify results/quick --cells <every fashion dnn cell>"},
    "cnn cpu": {"machines": "AMD EPYC -> Intel Xeon", "cells": 2, "identical": 0, "max_acc": 0.0095,
                "max_auc": 0.0005, "how": "verify, size cells at 600 and 1,200 rows"},
    "dnn naive vs fused": {"machines": "Intel Xeon", "cells": 5, "identical": 0, "mean": -0.0012,
                           "ci95": (-0.0073, 0.0050), "max_acc": 0.0073, "max_auc": 0.0003,
                           "sd_over_seed_sd": 0.37, "how": "run size --profile quick --models dnn, --backend naive"},
    "dnn unit composition": {"machines": "Intel Xeon", "cells": 44, "identical": 44, "max_acc": 0.0,
                             "how": "run size noise_models --profile quick --models dnn (today's units) "
                                    "against verify's retrain of the stored units"},
    "dnn same machine": {"machines": "Intel Xeon", "cells": 5, "identical": 5, "max_acc": 0.0,
                         "how": "run size --profile quick --models rf,dnn, twice"},
    "rf cpu": {"machines": "AMD EPYC -> Intel Xeon", "cells": 5, "identical": 5, "max_acc": 0.0,
               "how": "run size --profile quick --models rf,dnn"},
}

#: A network cell whose arithmetic differs from the stored run's may differ by this many seed
#: spreads (SEED_SD). Two runs whose rounding differs are at worst two independent seeds
#: apart, a difference of SD sqrt(2) x SEED_SD: 4 seed spreads are 2.8 of those SDs, a false
#: alarm at most once in 200 cells; the measured CPU differences (SD 0.77 seed SDs, MEASURED)
#: are inside by 5 of their own SDs (the largest, 0.036, is 2.7 seed SDs).
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
    if then.get("program") and now.get("program") and then["program"] != now["program"]:
        unmeasured.append(f"fused training program {then['program']} -> {now['program']}")
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
    if model not in SEED_SD:  # e.g. the fine-tuned CNNs: no replicates measured yet
        return Envelope("unmeasured", math.nan, math.nan, f"no measured seed spread for {model}; "
                        + "; ".join(measured))
    sd = SEED_SD[model]
    return Envelope("tolerance", TOLERANCE_K * sd["acc"], TOLERANCE_K * sd["auc"],
                    f"{TOLERANCE_K:g} seed SDs; " + "; ".join(measured))
