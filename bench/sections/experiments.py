"""The experiments section: whole experiments (or stated subsets) through the real runner, naive
and optimised, into throw-away stores: wall times, ratios, parity of the results cell by cell,
and the fit seconds by model."""

from __future__ import annotations

import math
import tempfile
from dataclasses import replace

from sections.common import (
    GpuSampler,
    NetworkWindows,
    available_models,
    log,
    median,
    t_interval,
)


def subsets(setting: str):
    """(label, experiment) pairs to run both ways, with a note on how each relates to R."""
    from datavsmath.experiments import R_EXPERIMENTS, load_experiment

    if setting in ("full", "quick"):
        out = []
        for name in R_EXPERIMENTS:  # the R grid: the experiments beyond the talk are not in its targets
            exp = load_experiment(name, setting)
            models = available_models(exp.models)
            left = ", ".join(sorted(set(exp.models) - set(models)))
            grid = "full R grid" if setting == "full" else "quick profile"
            out.append((f"{name} ({grid}, {'all models' if not left else 'without ' + left + ', not installed'})",
                        exp.with_options(models=models)))
        return out
    if setting == "cpu":
        cd = load_experiment("constant_damage", "full").with_options(models=["dnn"])
        cd = replace(cd, frac_damage=cd.frac_damage[::4])
        sxd = replace(load_experiment("size_x_damage", "full"), frac_sample=(0.05,))
        return [(f"constant_damage dnn: every 4th R damage level ({len(cd.frac_damage)}) x 60,000 rows", cd),
                ("size_x_damage cnn: 5% of the rows (3,000) x 6 damage levels", sxd)]
    cd = load_experiment("constant_damage", "quick").with_options(models=["dnn"])
    sxd = replace(load_experiment("size_x_damage", "quick"), frac_sample=(0.01,))
    trees = replace(load_experiment("size", "quick").with_options(models=["rf", "xgb"]), frac_sample=(0.01, 0.02))
    return [
        ("constant_damage dnn: quick grid, 6 damage levels x 3,000 rows", cd),
        ("size_x_damage cnn: 1% of the rows (600) x 6 damage levels", sxd),
        ("size rf+xgb: 1% and 2% of the rows (no fused path: one run)", trees),
    ]


def thinned(exp, every: int):
    """A systematic sample of ``exp``'s cells: every ``every``-th value of its longer grid axis,
    starting mid-stride (so a size axis is not sampled from its small end)."""
    if every <= 1:
        return exp
    if len(exp.frac_sample) >= len(exp.frac_damage):
        return replace(exp, frac_sample=tuple(exp.frac_sample[every // 2::every]))
    return replace(exp, frac_damage=tuple(exp.frac_damage[every // 2::every]))


def run_both(exp, data, repeats: int, client=None, sides=("naive", "auto"), naive_every: int = 1,
             tree_threads: int | None = None, keep=None) -> dict:
    """Run ``exp`` through the runner on each of ``sides``. With ``naive_every`` > 1 the naive
    side runs only :func:`thinned` cells and its time for the whole experiment is estimated as
    measured x (all fits / sampled fits); parity is then over the sampled cells.
    ``tree_threads``: the optimised side's (default: the runner's for this device).
    ``keep``: a results folder that the optimised side's first run writes into instead of a
    throw-away store, so that a timed run of the whole grid is also a results folder (it must
    hold none of ``exp``'s fits yet: a resumed run would time nothing)."""
    from datavsmath.training.fused import fusable
    from datavsmath.training.runner import run_experiment, tree_threads_for
    from datavsmath.training.store import ResultStore

    threads = tree_threads if tree_threads is not None else tree_threads_for("auto")
    if any(fusable(m) for m in exp.models) or (threads and client is None):
        backends = list(sides)
    else:  # trees, one at a time: one path either way, run once (through the cluster if only auto is asked)
        backends = ["auto" if tuple(sides) == ("auto",) else "naive"]
    naive_exp = thinned(exp, naive_every)
    times = {b: [] for b in backends}
    frames = {}
    plan_line = []
    gpu_use = {}
    for rep in range(repeats):
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp:
                store = ResultStore(keep if keep is not None and backend == "auto" and rep == 0 else tmp)
                lines = []
                # the GPU's busy share, over the whole run and while fused networks train (in
                # this process; a cluster's workers are not seen)
                with GpuSampler() as sampler, NetworkWindows() as nets:
                    s = run_experiment(naive_exp if backend == "naive" else exp, store, data, progress=False,
                                       backend=backend, log=lines.append,
                                       client=client if backend == "auto" else None,
                                       tree_threads=tree_threads if backend == "auto" else None)
                times[backend].append(s.seconds)
                if sampler.samples:
                    gpu_use.setdefault(backend, []).append(sampler.summary(nets.windows))
                if rep == 0:
                    frames[backend] = store.to_frame()
                    if backend == "auto":
                        plan_line = [ln for ln in lines if "backend:" in ln or "trees:" in ln]
    out = {"experiment": exp.name, "profile": exp.profile, "models": list(exp.models),
           "frac_sample": list(exp.frac_sample), "frac_damage": list(exp.frac_damage),
           "fits": exp.n_fits, "seconds": times, "median_seconds": {b: median(v) for b, v in times.items()}}
    if gpu_use:
        out["gpu_use"] = gpu_use
    if "naive" in times and naive_exp is not exp:
        out["naive_sample"] = {"fits": naive_exp.n_fits, "frac_sample": list(naive_exp.frac_sample),
                               "frac_damage": list(naive_exp.frac_damage),
                               "measured_seconds": out["median_seconds"]["naive"]}
        out["median_seconds"]["naive"] *= exp.n_fits / naive_exp.n_fits  # an estimate, flagged above
    cols = ["model", "frac_sample", "frac_damage", "replicate", "acc", "auc", "fit_seconds", "backend", "copies"]
    for side, name in (("naive", "cells_naive"), ("auto", "cells_optimised")):
        if side in frames:
            out[name] = frames[side][cols].to_dict("records")
    if "auto" in times:
        out["plan"] = "; ".join(ln.strip() for ln in plan_line)
    if "auto" in times and "naive" in times:
        out["ratio"] = round(out["median_seconds"]["naive"] / out["median_seconds"]["auto"], 3)
        key = ["model", "frac_sample", "frac_damage", "replicate"]
        both = frames["naive"].merge(frames["auto"], on=key, suffixes=("_naive", "_auto"))
        parity = {}
        for metric in ("acc", "auc"):
            diff = both[f"{metric}_auto"] - both[f"{metric}_naive"]
            mean, half = t_interval(diff)
            parity[metric] = {"mean_naive": float(both[f"{metric}_naive"].mean()),
                              "mean_optimised": float(both[f"{metric}_auto"].mean()),
                              "mean_difference": round(mean, 5), "ci95_half_width": round(half, 5),
                              "zero_in_ci95": bool(abs(mean) <= half) if not math.isnan(half) else None}
        out["parity"] = parity
        out["cells"] = both[key + ["acc_naive", "acc_auto", "auc_naive", "auc_auto"]].to_dict("records")
    return out


def experiments_section(setting: str, repeats: int, data, workers: int = 0, sides=("naive", "auto"),
                        naive_every: int = 1, names: str | None = None, on_progress=None,
                        tree_threads: int | None = None, keep=None) -> dict:
    from datavsmath.training.runner import tree_threads_for

    client = cluster = None
    if not workers and tree_threads is None:
        tree_threads = tree_threads_for("auto")  # resolved once: every run and the summary use it
    if workers:
        from datavsmath.training.cluster import local_cluster

        cluster, client = local_cluster(workers)
    try:
        pairs = subsets(setting)
        if names:
            wanted = [n.strip() for n in names.split(",")]
            pairs = [(label, exp) for label, exp in pairs if exp.name in wanted]
            if not pairs:
                raise SystemExit(f"--experiments {names}: none of the setting's experiments")
        out = run_subsets(pairs, repeats, data, client, grid=setting if setting in ("full", "quick") else None,
                          sides=sides,
                          naive_every=naive_every, on_progress=on_progress, tree_threads=tree_threads,
                          keep=keep)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    if workers:
        out["optimised_on"] = f"local Dask cluster, {workers} workers"
    else:
        out["optimised_on"] = "this process" + (f", trees on {tree_threads} background threads" if tree_threads else "")
    return out


def run_subsets(pairs, repeats: int, data, client=None, grid: str | None = None, sides=("naive", "auto"),
                naive_every: int = 1, on_progress=None, tree_threads: int | None = None, keep=None) -> dict:
    """Run each (label, experiment) of ``pairs`` on ``sides``; totals, and the targets when the
    pairs are a whole profile of the four R experiments (``grid``: "full" on a GPU, "quick" on
    a CPU). ``on_progress(out)`` is
    called after each experiment with the results so far (``out["complete"]`` False).
    ``keep``: see :func:`run_both`; checked here, before anything runs."""
    if keep is not None:
        check_keep(keep, [exp for _, exp in pairs])
    total = {side: 0.0 for side in sides}
    out = {"runs": [], "sides": list(sides), "naive_every": naive_every, "total_seconds": total,
           "experiments_planned": len(pairs), "complete": False}
    for label, exp in pairs:
        log(f"  {label}: {exp.n_fits} fits ...")
        r = run_both(exp, data, repeats, client, sides, naive_every, tree_threads, keep)
        r["label"] = label
        out["runs"].append(r)
        ms = r["median_seconds"]
        for side in sides:
            total[side] += ms.get(side, ms.get("naive", ms.get("auto")))  # trees run one path either way
        est = f" (estimated from {r['naive_sample']['fits']} sampled fits, {r['naive_sample']['measured_seconds']:.1f} s)" \
            if "naive_sample" in r else ""
        if "ratio" in r:
            p = r["parity"]["acc"]
            log(f"    naive {ms['naive']:.1f} s{est}, optimised {ms['auto']:.1f} s: {r['ratio']:.2f}x; "
                f"acc difference {p['mean_difference']:+.4f} +- {p['ci95_half_width']:.4f} (95%)")
        else:
            log("    " + ", ".join(f"{side} {sec:.1f} s" for side, sec in ms.items()) + est)
        if on_progress is not None:
            on_progress(out)
    out["complete"] = True
    if keep is not None:
        out["kept_in"] = str(keep)
    if len(total) == 2:
        out["total_ratio"] = round(total["naive"] / total["auto"], 3)
        log(f"  all of the above: naive {total['naive']:.0f} s, optimised {total['auto']:.0f} s: {out['total_ratio']:.2f}x")
    else:
        log("  all of the above: " + ", ".join(f"{side} {sec:.0f} s" for side, sec in total.items()))
    busy = gpu_busy_while_networks_train(out["runs"])
    if busy is not None:
        out["gpu_busy_while_networks_train_pct"] = busy
        log(f"  GPU busy while the optimised side's networks trained: {busy:.1f}% (sampled nvidia-smi)")
    if grid == "quick" and "auto" in total:
        out["targets"] = {"quick_profile_seconds_at_most_1200": total["auto"] <= TARGET_QUICK_SECONDS}
        log(f"  target: quick profile optimised in {total['auto']:.0f} s (<= {TARGET_QUICK_SECONDS} s: "
            f"{total['auto'] <= TARGET_QUICK_SECONDS})")
    if grid == "full" and "auto" in total:
        out["targets"] = {"optimised_seconds_at_most_300": total["auto"] <= TARGET_SECONDS}
        log(f"  target: full grid optimised in {total['auto']:.0f} s (<= {TARGET_SECONDS} s: "
            f"{total['auto'] <= TARGET_SECONDS})")
        if busy is not None:
            out["targets"]["gpu_busy_at_least_70_pct"] = busy >= TARGET_BUSY_PCT
            log(f"  target: GPU busy {busy:.1f}% while networks train (>= {TARGET_BUSY_PCT}%: "
                f"{busy >= TARGET_BUSY_PCT})")
        if "total_ratio" in out:
            out["targets"]["ratio_at_least_10"] = out["total_ratio"] >= 10
            log(f"  target: {out['total_ratio']:.1f}x naive (>= 10x: {out['total_ratio'] >= 10})"
                + (f"; naive side estimated from one cell in {naive_every}" if naive_every > 1 else ""))
    return out


def check_keep(keep, exps) -> None:
    """Refuse a ``--keep`` folder that already holds fits of ``exps``: the runner would resume
    them, and the benchmark would time a part of the grid while reporting the whole."""
    from datavsmath.training.store import ResultStore
    from datavsmath.training.units import current_fits

    store = ResultStore(keep)
    held = [e.name for e in exps if current_fits(e, store)]
    if held:
        raise SystemExit(f"--keep {keep}: it already holds fits of {', '.join(held)}, which the benchmark "
                         "would resume instead of timing; give a new or empty folder (merge it into "
                         "another results folder afterwards)")


#: the speed targets of the whole grid on one GPU: wall seconds of the optimised side, and the
#: GPU's mean utilisation while its networks train
TARGET_SECONDS = 300
TARGET_BUSY_PCT = 70
#: the CPU target: the quick profile of the four R experiments on 2 cores, wall seconds
TARGET_QUICK_SECONDS = 1200


def gpu_busy_while_networks_train(runs) -> float | None:
    """Mean GPU utilisation (%) over every sample taken while the optimised side's fused
    networks trained, pooled over ``runs``; None where nothing was sampled (no GPU)."""
    total = samples = 0
    for r in runs:
        for use in r.get("gpu_use", {}).get("auto", []):
            part = use.get("while_networks_train", {})
            if part.get("samples"):
                total += part["mean_utilisation_pct"] * part["samples"]
                samples += part["samples"]
    return round(total / samples, 1) if samples else None


def fit_seconds_by_model(runs) -> dict:
    """{"naive (cells run)" / "optimised": {model: summed fit seconds}} over ``runs``."""
    out = {}
    for key, name in (("cells_naive", "naive (cells run)"), ("cells_optimised", "optimised")):
        for r in runs:
            for c in r.get(key, []):
                side = out.setdefault(name, {})
                side[c["model"]] = side.get(c["model"], 0.0) + float(c["fit_seconds"])
    return out
