"""The overlap section: the optimised runner with the trees in line against the trees on
background threads beside the networks, and whether the tree results are the same both ways."""

from __future__ import annotations

import tempfile
from dataclasses import replace

import numpy as np

from sections.common import available_models, log, median


def overlap_subset(setting: str):
    """(label, experiment) of the overlap section: trees and networks in one grid."""
    from datavsmath.experiments import load_experiment

    if setting == "full":
        exp = load_experiment("constant_damage", "full")
        exp = replace(exp, frac_damage=exp.frac_damage[::4])
        exp = exp.with_options(models=available_models(exp.models))
        return (f"constant damage, {' + '.join(exp.models)}, every 4th R damage level ({len(exp.frac_damage)} x "
                "60,000 rows)", exp)
    exp = load_experiment("constant_damage", "quick").with_options(models=["rf", "xgb", "dnn"])
    return "constant damage, rf + xgb + dnn, quick grid (6 damage levels x 3,000 rows)", exp


def overlap_section(label: str, exp, repeats: int, data, threads: int) -> dict:
    """The optimised runner on ``exp`` with the trees in line (0 background threads) and on
    ``threads`` background threads, round robin, ``repeats`` times each."""
    from datavsmath.training.runner import run_experiment, tree_threads_for
    from datavsmath.training.store import ResultStore

    log(f"  {label}: {exp.n_fits} fits, trees in line vs on {threads} background threads ...")
    times = {0: [], threads: []}
    trees = {}
    for _ in range(repeats):
        for t in times:
            with tempfile.TemporaryDirectory() as tmp:
                store = ResultStore(tmp)
                s = run_experiment(exp, store, data, progress=False, log=lambda *a: None, tree_threads=t)
                times[t].append(s.seconds)
                frame = store.to_frame()
                trees.setdefault(t, frame[frame.model.isin(["rf", "xgb"])]
                                 .sort_values(["model", "frac_sample", "frac_damage"])[["acc", "auc"]].to_numpy())
    med = {t: median(v) for t, v in times.items()}
    out = {"label": label, "fits": exp.n_fits, "models": list(exp.models), "tree_threads": threads,
           "runner_default_here": tree_threads_for("auto"),
           "seconds": {str(t): v for t, v in times.items()}, "median_seconds": {str(t): m for t, m in med.items()},
           "ratio": round(med[0] / med[threads], 3),
           "tree_fits": len(trees[0]), "tree_results_identical": bool(np.array_equal(trees[0], trees[threads]))}
    log(f"    in line {med[0]:.1f} s, {threads} background threads {med[threads]:.1f} s: {out['ratio']:.2f}x; "
        f"tree results identical: {out['tree_results_identical']}")
    return out
