"""Benchmark: the naive loop (one ``model.fit`` per cell, as the R testbench ran) against the
optimised execution (``--backend auto``: fused copies of the networks where that wins).

Sections
--------
throughput   steady-state training throughput of each network (images per second over all
             copies), naive ``model.fit`` against fused programs of several widths, at the
             R settings (batch 128, the R optimizers). An epoch's time is taken as
             (fit with 3 epochs - fit with 1 epoch) / 2, so set-up costs cancel. On a CPU it
             also measures the machine's dense matmul rate and the CNN's arithmetic rate, the
             ceiling that explains the CNN's ratio.
parity       each network on one real cell (2,000 rows, clean), 12 seeds naive and the same
             seeds fused: means with 95% intervals, each mean in the other's interval or
             not, Welch's test (settings cpu and full; about 6 minutes on 2 cores).
experiments  whole experiments (or stated subsets) through the real runner, both ways, into
             throw-away stores: wall time, ratio, and parity of the results (paired
             difference in accuracy, optimised - naive, over the same cells, with a 95% t-interval).
overlap      the optimised runner on one subset with all its models, the trees on the main
             thread in grid order against the trees on background threads beside the
             networks (``--tree-threads``, default 1 on a CPU, 2 on a GPU): wall times,
             ratio, and whether the tree fits' results are the same both ways (settings cpu
             and full).

Settings
--------
--setting small  CPU and CI-sized (about 3 minutes on 2 cores): throughput on 3,000 (DNN) and
                 1,280 (CNN) rows; experiments: constant damage at the quick grid for the DNN
                 (6 cells of 3,000 rows), size x damage at 1% for the CNN (6 cells of 600 rows),
                 and the trees on two small size cells (their only path: no ratio).
--setting cpu    the CPU measurement at R sizes (about 28 minutes on 2 cores): throughput of the
                 DNN on all 60,000 rows, of the CNN on 12,000 rows (widths 1 and 2) and on all
                 60,000 rows (naive and one fused copy, once), a callback profile of two naive
                 CNN epochs; experiments: constant damage for the DNN at every 4th R damage level
                 (7 cells of 60,000 rows) and size x damage at 5% for the CNN (6 cells of 3,000
                 rows).
--setting full   the whole R grid, 1 replicate (504 fits), naive and optimised in the same
                 run: the GPU benchmark. On one H100 the naive side was estimated at 78
                 minutes (from every 14th cell) and the optimised side at over 11 minutes;
                 ``--naive-every 14`` runs the naive side on a systematic sample of the cells
                 and estimates the rest, ``--sides`` runs one side only, ``--experiments``
                 some of the four. On a 2-core CPU the naive side takes about 50 hours.
--setting auto   (default) small on a CPU, full on a GPU.

Throughput timings are medians of ``--repeats`` runs, taken round robin over the variants so
that a drift in the machine's speed (a shared host) affects naive and fused alike; the matmul
rate is taken at the start and the end of the section to show such drift. Whole experiments
run once unless ``--repeats`` is given. Results go to ``bench/results/`` as JSON
(everything) and a short markdown summary; the ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = Path(__file__).resolve().parent


def log(msg: str) -> None:
    print(msg, flush=True)


# --- helpers -------------------------------------------------------------------------------

def median(values):
    return float(statistics.median(values))


def t_interval(values) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (nan with fewer than 2 values)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()) if len(v) else float("nan"), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def environment() -> dict:
    """Hardware, versions, date: what a reader needs to compare two benchmark files."""
    from datavsmath.training.fused import device_profile
    from datavsmath.training.provenance import git_commit, hardware
    from datavsmath.models import keras_backend
    from datavsmath.training.runner import library_versions

    if keras_backend() == "jax":
        import jax

        devices = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    else:
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_logical_devices()]
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware(), "device_profile": device_profile(), "versions": library_versions(),
        "dask": _version("dask"), "distributed": _version("distributed"),
        "keras_backend": keras_backend(), "backend_devices": devices,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 Linux)"),
        "git_commit": git_commit(), "platform": platform.platform(), "command": " ".join(sys.argv),
    }


def _version(pkg: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "absent"


# --- throughput ----------------------------------------------------------------------------

def flops_per_image(model: str) -> float:
    """Multiply-adds x 2 of one training image through ``model`` (forward + backward ~ 3x the
    forward pass), counted from the layers that the registered factory builds."""
    import keras

    from datavsmath.models import make_model

    net = make_model(model, seed=0)
    m = net.build(10)
    fwd = 0
    for layer in m.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            h, w = layer.output.shape[1:3]
            fwd += 2 * h * w * kh * kw * cin * cout
        elif isinstance(layer, keras.layers.Dense):
            fwd += 2 * math.prod(layer.kernel.shape)
    keras.backend.clear_session()
    return 3.0 * fwd


def matmul_gflops(repeats: int = 5, n: int = 2048) -> float:
    """This machine's float32 dense matmul rate (GFLOP/s), the practical compute ceiling."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda a, b: tf.matmul(a, b))
    f(a, b).numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a, b).numpy()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / median(times) / 1e9


def step_ceiling(model: str, x, y, steps: int = 40, repeats: int = 3, precision: str = "float32") -> float:
    """Images per second of the network's bare training step: one fixed batch of 128 already
    in memory, ``steps`` optimizer steps in one compiled loop (no shuffling, no batching, no
    Python between steps). What is left is the arithmetic: the most any input pipeline or
    fusion of copies can reach with one copy on this device. ``precision`` is a keras dtype
    policy ("mixed_bfloat16" measures what bfloat16 arithmetic would give; nothing else in
    the package uses it)."""
    import keras
    import tensorflow as tf

    from datavsmath.models import make_model

    net = make_model(model, seed=17)
    keras.utils.set_random_seed(17)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        m = net.build(10)
    finally:
        keras.config.set_dtype_policy(previous)
    opt = net.optimizer()
    xb = tf.constant(net.features(x[:128]))
    yb = tf.one_hot(y[:128], 10)
    loss_fn = keras.losses.CategoricalCrossentropy()

    @tf.function
    def run(n):
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, m(xb, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, m.trainable_variables), m.trainable_variables))
        return loss

    run(tf.constant(2)).numpy()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(tf.constant(steps)).numpy()
        times.append(time.perf_counter() - t0)
    keras.backend.clear_session()
    return steps * 128 / median(times)


def epoch_timer(model: str, variant: str, x, y, copies: int, jit: bool):
    """A function that measures the steady-state seconds of one training epoch (all copies)
    at the R settings, warmed up before it is returned."""
    from datavsmath.training.fused import FusedKerasNets
    from datavsmath.models import make_model

    def fit(epochs: int, rows: int | None = None) -> float:
        xs, ys1 = x[:rows], y[:rows]
        net = make_model(model, seed=17)
        net.epochs = epochs
        if variant == "naive":
            t0 = time.perf_counter()
            net.fit(xs, ys1)
        else:
            nets = FusedKerasNets(net, seeds=[17 + i for i in range(copies)], jit=jit)
            ys = np.stack([ys1] * copies)
            t0 = time.perf_counter()
            nets.fit(xs, ys)
        return time.perf_counter() - t0

    # warm-up on a few rows: imports, first traces, a fused program's compilation (the
    # timed fits build their own models, so their set-up cancels in the difference)
    fit(1, rows=1024)
    return lambda: max(1e-9, (fit(3) - fit(1)) / 2)


#: per setting: (network, rows given to it, [(variant, copies, XLA, repeats)]); repeats None =
#: the run's --repeats. On a CPU, XLA is measured once, for the record. At full data the CNN
#: is measured once (a naive epoch there takes about 80 s), its widths at 12,000 rows.
THROUGHPUT = {
    "small": [("dnn", 3000, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 8, False, None),
                             ("fused", 8, True, None)]),
              ("cnn", 1280, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 2, False, None),
                             ("fused", 2, True, 1)])],
    "cpu": [("dnn", 60000, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 8, False, None),
                            ("fused", 16, False, None), ("fused", 8, True, 1)]),
            ("cnn", 12000, [("naive", 1, False, None), ("fused", 1, False, None), ("fused", 2, False, None)]),
            ("cnn", 60000, [("naive", 1, False, 1), ("fused", 1, False, 1)])],
}

#: rows of the naive CNN epoch profile (``--setting cpu``)
PROFILE_ROWS = 12000


def naive_epoch_profile(x, y, epochs: int = 2) -> dict:
    """Where a naive CNN epoch's time goes: wall seconds per epoch and the wait from the
    start of each epoch to the end of its first batch (``model.fit`` rebuilds its input
    iterator there), taken with a keras callback around the unchanged ``KerasNet.fit``."""
    import keras

    from datavsmath.models import make_model

    marks = {"begin": [], "first": [], "end": []}

    class Marks(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            marks["begin"].append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                marks["first"].append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            marks["end"].append(time.perf_counter())

    original = keras.Model.fit

    def fit_with_marks(self, *args, **kw):
        return original(self, *args, **{**kw, "callbacks": [*(kw.get("callbacks") or []), Marks()]})

    keras.Model.fit = fit_with_marks
    try:
        net = make_model("cnn", seed=17)
        net.epochs = epochs
        net.fit(x, y)
    finally:
        keras.Model.fit = original
    return {"epoch_seconds": [round(e - b, 2) for b, e in zip(marks["begin"], marks["end"])],
            "first_batch_seconds": [round(f - b, 2) for b, f in zip(marks["begin"], marks["first"])]}


def throughput_section(setting: str, repeats: int, data, gpu: bool) -> dict:
    from datavsmath.training.fused import plan_for
    from datavsmath.models import keras_backend, validation_cut

    out = {"method": "epoch = (fit(3 epochs) - fit(1 epoch)) / 2; images/s = copies x train rows / epoch",
           "networks": []}
    if gpu:  # the GPU's plan: fused with XLA at its memory-sized width
        widths = {m: sorted({1, 8, plan_for(m, "auto").max_copies}) for m in ("dnn", "cnn")}
        runs = [(m, 60000, [("naive", 1, False, None)] + [("fused", w, True, None) for w in widths[m]])
                for m in ("dnn", "cnn")]
    else:
        runs = THROUGHPUT["small" if setting == "small" else "cpu"]
    # the CPU ceilings (matmul rate, bare step) are TensorFlow programs
    ceilings = not gpu and keras_backend() == "tensorflow"
    if ceilings:
        out["matmul_gflops_start"] = round(matmul_gflops(), 1)
    for model, n, variants in runs:
        plan = plan_for(model, "auto")
        x, y = data.x_train[:n], data.y_train[:n]
        cut = validation_cut(n)
        timers = [epoch_timer(model, variant, x, y, copies, jit) for variant, copies, jit, _ in variants]
        # round robin over the variants, so that a change in the machine's speed during the
        # run (shared hosts) hits naive and fused alike
        secs_of = [[] for _ in variants]
        for rep in range(max(reps or repeats for *_, reps in variants)):
            for timer, secs, (*_, reps) in zip(timers, secs_of, variants):
                if rep < (reps or repeats):
                    secs.append(timer())
        res = []
        for (variant, copies, jit, _), secs in zip(variants, secs_of):
            ips = copies * cut / median(secs)
            res.append({"variant": variant, "copies": copies, "xla": jit, "epoch_seconds": secs,
                        "images_per_second": round(ips, 1)})
            log(f"  {model} {variant:5s} x{copies:<2d}{' XLA' if jit else '    '}: "
                f"{median(secs):7.3f} s/epoch, {ips:9.0f} images/s")
        base = res[0]["images_per_second"]
        for r in res:
            r["ratio_vs_naive"] = round(r["images_per_second"] / base, 3)
        best = max(res[1:], key=lambda r: r["images_per_second"])
        chosen = next((r for r in res if r["variant"] == "fused" and r["copies"] == plan.max_copies
                       and r["xla"] == plan.jit), None)
        info = {
            "model": model, "rows": n, "train_rows": cut, "variants": res,
            "policy": {"backend": plan.backend, "copies": plan.max_copies, "xla": plan.jit,
                       "ratio_vs_naive": chosen["ratio_vs_naive"] if chosen else None},
            "best": {k: best[k] for k in ("copies", "xla", "ratio_vs_naive")},
            "gflop_per_image": round(flops_per_image(model) / 1e9, 4)}
        out["networks"].append(info)
        chosen_ratio = f"{chosen['ratio_vs_naive']}x naive" if chosen else "not measured at this size"
        log(f"  {model} on {n} rows: auto plan ({plan}) {chosen_ratio}; "
            f"best measured x{best['copies']}{' XLA' if best['xla'] else ''} {best['ratio_vs_naive']}x")
    if ceilings:
        cnn = next(i for i in out["networks"] if i["model"] == "cnn")
        ceiling = step_ceiling("cnn", data.x_train, data.y_train)
        bf16 = step_ceiling("cnn", data.x_train, data.y_train, precision="mixed_bfloat16")
        out["cnn_step_ceiling_images_per_second"] = round(ceiling, 1)
        out["cnn_step_ceiling_bfloat16_images_per_second"] = round(bf16, 1)
        log(f"  cnn bare training step (one resident batch, compiled loop): {ceiling:.0f} images/s, "
            f"{ceiling / cnn['variants'][0]['images_per_second']:.2f}x naive on {cnn['rows']} rows; "
            f"in mixed bfloat16 {bf16:.0f} images/s ({bf16 / ceiling:.2f}x float32)")
        out["matmul_gflops_end"] = round(matmul_gflops(), 1)
        peak = (out["matmul_gflops_start"] + out["matmul_gflops_end"]) / 2
        out["matmul_gflops"] = round(peak, 1)
        for info in out["networks"]:
            for r in info["variants"]:
                r["gflops"] = round(r["images_per_second"] * info["gflop_per_image"], 1)
                r["share_of_matmul_rate"] = round(r["gflops"] / peak, 3)
        log(f"  float32 matmul 2048^2: {out['matmul_gflops_start']:.0f} GFLOP/s at the start, "
            f"{out['matmul_gflops_end']:.0f} at the end (the practical ceiling for the CNN's arithmetic)")
    if setting != "small":
        n = PROFILE_ROWS
        out["naive_cnn_epochs"] = prof = naive_epoch_profile(data.x_train[:n], data.y_train[:n])
        log(f"  naive CNN on {n} rows: epochs {prof['epoch_seconds']} s, of which start to first batch "
            f"{prof['first_batch_seconds']} s")
    return out


# --- experiments ---------------------------------------------------------------------------

def subsets(setting: str):
    """(label, experiment) pairs to run both ways, with a note on how each relates to R."""
    from datavsmath.experiments import experiment_names, load_experiment

    if setting == "full":
        return [(f"{name} (full R grid, all models)", load_experiment(name, "full")) for name in experiment_names()]
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
             tree_threads: int | None = None) -> dict:
    """Run ``exp`` through the runner on each of ``sides``. With ``naive_every`` > 1 the naive
    side runs only :func:`thinned` cells and its time for the whole experiment is estimated as
    measured x (all fits / sampled fits); parity is then over the sampled cells.
    ``tree_threads``: the optimised side's (default: the runner's for this device)."""
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
    for rep in range(repeats):
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp:
                store = ResultStore(tmp)
                lines = []
                s = run_experiment(naive_exp if backend == "naive" else exp, store, data, progress=False,
                                   backend=backend, log=lines.append, client=client if backend == "auto" else None,
                                   tree_threads=tree_threads if backend == "auto" else None)
                times[backend].append(s.seconds)
                if rep == 0:
                    frames[backend] = store.to_frame()
                    if backend == "auto":
                        plan_line = [ln for ln in lines if "backend:" in ln or "trees:" in ln]
    out = {"experiment": exp.name, "profile": exp.profile, "models": list(exp.models),
           "frac_sample": list(exp.frac_sample), "frac_damage": list(exp.frac_damage),
           "fits": exp.n_fits, "seconds": times, "median_seconds": {b: median(v) for b, v in times.items()}}
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
                        tree_threads: int | None = None) -> dict:
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
        out = run_subsets(pairs, repeats, data, client, full_grid=setting == "full", sides=sides,
                          naive_every=naive_every, on_progress=on_progress, tree_threads=tree_threads)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    if workers:
        out["optimised_on"] = f"local Dask cluster, {workers} workers"
    else:
        out["optimised_on"] = "this process" + (f", trees on {tree_threads} background threads" if tree_threads else "")
    return out


def run_subsets(pairs, repeats: int, data, client=None, full_grid: bool = False, sides=("naive", "auto"),
                naive_every: int = 1, on_progress=None, tree_threads: int | None = None) -> dict:
    """Run each (label, experiment) of ``pairs`` on ``sides``; totals, and the targets when the
    pairs are the whole R grid (``full_grid``) and both sides ran. ``on_progress(out)`` is
    called after each experiment with the results so far (``out["complete"]`` False)."""
    total = {side: 0.0 for side in sides}
    out = {"runs": [], "sides": list(sides), "naive_every": naive_every, "total_seconds": total,
           "experiments_planned": len(pairs), "complete": False}
    for label, exp in pairs:
        log(f"  {label}: {exp.n_fits} fits ...")
        r = run_both(exp, data, repeats, client, sides, naive_every, tree_threads)
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
    if len(total) == 2:
        out["total_ratio"] = round(total["naive"] / total["auto"], 3)
        log(f"  all of the above: naive {total['naive']:.0f} s, optimised {total['auto']:.0f} s: {out['total_ratio']:.2f}x")
    else:
        log("  all of the above: " + ", ".join(f"{side} {sec:.0f} s" for side, sec in total.items()))
    if full_grid and "auto" in total:
        out["targets"] = {"optimised_seconds_at_most_600": total["auto"] <= 600}
        log(f"  target: full grid optimised in {total['auto']:.0f} s (<= 600 s: {total['auto'] <= 600})")
        if "total_ratio" in out:
            out["targets"]["ratio_at_least_10"] = out["total_ratio"] >= 10
            log(f"  target: {out['total_ratio']:.1f}x naive (>= 10x: {out['total_ratio'] >= 10})"
                + (f"; naive side estimated from one cell in {naive_every}" if naive_every > 1 else ""))
    return out


# --- trees beside the networks -------------------------------------------------------------

def overlap_subset(setting: str):
    """(label, experiment) of the overlap section: trees and networks in one grid."""
    from datavsmath.experiments import load_experiment

    if setting == "full":
        exp = load_experiment("constant_damage", "full")
        exp = replace(exp, frac_damage=exp.frac_damage[::4])
        return (f"constant damage, all four models, every 4th R damage level ({len(exp.frac_damage)} x "
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


# --- parity on one cell -------------------------------------------------------------------

def parity_section(data, n_seeds: int = 12, first_seed: int = 201, models=("dnn", "cnn"), rows: int = 2000) -> dict:
    """Each network on one real cell (``rows`` training rows, clean labels, full R settings),
    ``n_seeds`` seeds naive and the same seeds fused as the CPU/GPU plan groups them; test
    accuracy on 3,000 test images. Reports both means with 95% t-intervals, whether each mean
    lies in the other's interval, and Welch's test of equal means."""
    from scipy import stats

    from datavsmath.training.fused import FusedKerasNets, plan_for
    from datavsmath.metrics import score
    from datavsmath.models import make_model

    idx = np.random.default_rng(7).choice(len(data.y_train), rows, replace=False)
    x, y = data.x_train[idx], data.y_train[idx]
    xt, yt = data.x_test[:3000], data.y_test[:3000]
    seeds = list(range(first_seed, first_seed + n_seeds))
    out = {"rows": rows, "test_rows": 3000, "seeds": seeds, "networks": {}}
    for model in models:
        plan = plan_for(model, "auto")
        naive = [score(yt, make_model(model, seed=s).fit(x, y).predict_proba(xt))["acc"] for s in seeds]
        fused = []
        for i in range(0, n_seeds, plan.max_copies):
            group = seeds[i:i + plan.max_copies]
            nets = FusedKerasNets.for_model(model, seeds=group, jit=plan.jit)
            fused += [score(yt, p)["acc"] for p in nets.fit(x, np.stack([y] * len(group))).predict_proba(xt)]
        (mn, hn), (mf, hf) = t_interval(naive), t_interval(fused)
        r = {"copies": plan.max_copies, "xla": plan.jit, "naive_acc": naive, "fused_acc": fused,
             "naive_mean": mn, "naive_ci95": hn, "fused_mean": mf, "fused_ci95": hf,
             "each_mean_in_other_ci95": bool(abs(mn - mf) <= min(hn, hf)),
             "welch_p": float(stats.ttest_ind(naive, fused, equal_var=False).pvalue)}
        out["networks"][model] = r
        log(f"  {model} on {rows} rows, {n_seeds} seeds: naive {mn:.4f} +- {hn:.4f}, fused x{plan.max_copies} "
            f"{mf:.4f} +- {hf:.4f} (95%); each mean in the other's interval: {r['each_mean_in_other_ci95']}; "
            f"Welch p = {r['welch_p']:.3f}")
    return out


# --- report --------------------------------------------------------------------------------

def fit_seconds_by_model(runs) -> dict:
    """{"naive (cells run)" / "optimised": {model: summed fit seconds}} over ``runs``."""
    out = {}
    for key, name in (("cells_naive", "naive (cells run)"), ("cells_optimised", "optimised")):
        for r in runs:
            for c in r.get(key, []):
                side = out.setdefault(name, {})
                side[c["model"]] = side.get(c["model"], 0.0) + float(c["fit_seconds"])
    return out


def markdown(res: dict) -> str:
    env = res["environment"]
    hw = env["hardware"]
    lines = [f"# Benchmark, setting {res['setting']}: {env['date']}", "",
             f"Hardware: {hw['cpu']}, {hw['cores']} cores, {hw['memory_gib']} GiB; GPU: {hw['gpu'] or 'none'}. "
             f"keras {env['versions'].get('keras')} on {env.get('keras_backend', 'tensorflow')} "
             f"(TensorFlow {env['versions'].get('tensorflow')}, JAX {env['versions'].get('jax', 'absent')}), "
             f"xgboost {env['versions'].get('xgboost')}, dask {env['dask']}. Commit {env['git_commit']}.",
             f"Medians of {res['repeats']} runs.", ""]
    if not hw["gpu"]:
        lines += ["No GPU on this machine: the GPU targets (full grid on one H100 in at most 10 min, "
                  "at least 10x the naive loop) are **unmeasured** here; run `bench/run.py --setting full` "
                  "on a GPU machine.", ""]
    th = res.get("throughput")
    if th:
        lines += ["## Training throughput (steady state, R settings)", "",
                  "| network | rows | variant | copies | XLA | s/epoch | images/s | vs naive |",
                  "|---|---|---|---|---|---|---|---|"]
        for info in th["networks"]:
            for r in info["variants"]:
                lines.append(f"| {info['model']} | {info['train_rows']} | {r['variant']} | {r['copies']} | "
                             f"{'yes' if r['xla'] else 'no'} | {median(r['epoch_seconds']):.3f} | "
                             f"{r['images_per_second']:.0f} | {r['ratio_vs_naive']:.2f}x |")
        if "matmul_gflops" in th:
            cnn = max((i for i in th["networks"] if i["model"] == "cnn"), key=lambda i: i["rows"])
            naive = cnn["variants"][0]
            lines += ["", f"Float32 matmul on this machine: {th['matmul_gflops']:.0f} GFLOP/s (mean of "
                      f"{th['matmul_gflops_start']:.0f} at the start and {th['matmul_gflops_end']:.0f} at the end "
                      "of the throughput section). The CNN needs "
                      f"{cnn['gflop_per_image'] * 1000:.0f} MFLOP per training image; naive `model.fit` runs it at "
                      f"{naive['gflops']:.0f} GFLOP/s ({100 * naive['share_of_matmul_rate']:.0f}% of the matmul rate)."]
            if "cnn_step_ceiling_images_per_second" in th:
                c = th["cnn_step_ceiling_images_per_second"]
                lines += [f"The CNN's bare training step (one batch resident, steps in one compiled loop, no input "
                          f"pipeline) runs {c:.0f} images/s, {c / naive['images_per_second']:.2f}x naive "
                          f"`model.fit` on {cnn['train_rows']} rows: the ceiling for one copy on this device."]
            if "cnn_step_ceiling_bfloat16_images_per_second" in th:
                c16 = th["cnn_step_ceiling_bfloat16_images_per_second"]
                lines += [f"The same step with keras' mixed_bfloat16 policy: {c16:.0f} images/s "
                          f"({c16 / c:.2f}x float32). Not used: it changes the arithmetic of R's float32 runs."]
        if "naive_cnn_epochs" in th:
            prof = th["naive_cnn_epochs"]
            lines += ["", f"Naive CNN epochs on {PROFILE_ROWS} rows (callback profile): {prof['epoch_seconds']} s, "
                      f"of which start of epoch to end of first batch {prof['first_batch_seconds']} s."]
        lines.append("")
    pa = res.get("parity")
    if pa:
        lines += [f"## Parity on one cell ({pa['rows']} training rows, clean, {len(pa['seeds'])} seeds each)", "",
                  "| network | naive acc (95% CI) | fused acc (95% CI) | copies | each mean in the other's CI | Welch p |",
                  "|---|---|---|---|---|---|"]
        for model, r in pa["networks"].items():
            lines.append(f"| {model} | {r['naive_mean']:.4f} +- {r['naive_ci95']:.4f} | {r['fused_mean']:.4f} +- "
                         f"{r['fused_ci95']:.4f} | {r['copies']} | {'yes' if r['each_mean_in_other_ci95'] else 'no'} | "
                         f"{r['welch_p']:.3f} |")
        lines.append("")
    ex = res.get("experiments")
    if ex:
        lines += ["## Whole experiments through the runner", "",
                  f"Optimised side: {ex.get('optimised_on', 'this process')}.", "",
                  "| subset | fits | naive s | optimised s | ratio | acc diff (opt - naive), 95% CI |",
                  "|---|---|---|---|---|---|"]
        fmt = lambda v: f"{v:.1f}" if v is not None else "not run"  # noqa: E731
        for r in ex["runs"]:
            ms = r["median_seconds"]
            naive = fmt(ms.get("naive")) + (" (est.)" if "naive_sample" in r else "")
            if "ratio" in r:
                p = r["parity"]["acc"]
                lines.append(f"| {r['label']} | {r['fits']} | {naive} | {ms['auto']:.1f} | "
                             f"{r['ratio']:.2f}x | {p['mean_difference']:+.4f} +- {p['ci95_half_width']:.4f} |")
            else:
                lines.append(f"| {r['label']} | {r['fits']} | {naive} | {fmt(ms.get('auto'))} | - | - |")
        t = ex["total_seconds"]
        ratio = f"**{ex['total_ratio']:.2f}x**" if "total_ratio" in ex else "-"
        lines += [f"| **all** | | {fmt(t.get('naive'))} | {fmt(t.get('auto'))} | {ratio} | |", ""]
        if ex.get("complete") is False:
            lines += [f"**Partial**: {len(ex['runs'])} of {ex['experiments_planned']} experiments finished "
                      "when this file was written (the run stopped or is still going).", ""]
        by_model = fit_seconds_by_model(ex["runs"])
        if by_model:
            lines += ["Fit seconds by model (sum over the cells run; a fused fit counts its share of the group):", "",
                      "| model | " + " | ".join(by_model) + " |", "|---|" + "---|" * len(by_model)]
            models = sorted({m for side in by_model.values() for m in side})
            lines += [f"| {m} | " + " | ".join(f"{by_model[side].get(m, 0):.1f}" for side in by_model) + " |"
                      for m in models]
            lines.append("")
        if ex.get("naive_every", 1) > 1:
            lines += [f"The naive side ran one cell in {ex['naive_every']} of each experiment (a systematic "
                      "sample) and its time for the whole experiment is that time x all fits / sampled fits: "
                      "an estimate; parity is over the sampled cells.", ""]
        if "targets" in ex:
            tg = ex["targets"]
            lines += ["Targets (full grid, 1 replicate): optimised at most 600 s: "
                      f"{'met' if tg['optimised_seconds_at_most_600'] else 'NOT met'}"
                      + (f"; at least 10x naive: {'met' if tg['ratio_at_least_10'] else 'NOT met'}"
                         if "ratio_at_least_10" in tg else "") + ".", ""]
        plans = sorted({r.get("plan", "") for r in ex["runs"] if r.get("plan")})
        lines += [f"Plan ({p})" for p in plans] + [""]
    ov = res.get("overlap")
    if ov:
        t, ms = ov["tree_threads"], ov["median_seconds"]
        lines += ["## Trees beside the networks (optimised runner)", "",
                  f"{ov['label']}, {ov['fits']} fits: trees in line {ms['0']:.1f} s "
                  f"(runs {', '.join(f'{v:.1f}' for v in ov['seconds']['0'])}), on {t} background "
                  f"thread{'s' if t > 1 else ''} {ms[str(t)]:.1f} s (runs "
                  f"{', '.join(f'{v:.1f}' for v in ov['seconds'][str(t)])}): **{ov['ratio']:.2f}x**. Tree "
                  f"results the same both ways: {'yes' if ov['tree_results_identical'] else 'no'}. "
                  f"The runner's default on this device: {ov['runner_default_here']} threads.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", choices=["auto", "small", "cpu", "full"], default="auto")
    p.add_argument("--small", action="store_const", const="small", dest="setting", help="same as --setting small")
    p.add_argument("--repeats", type=int, default=None,
                   help="runs per throughput timing (default: 3 small, 2 cpu, 1 full) and per experiment (default 1)")
    p.add_argument("--sections", default=None,
                   help="comma-separated: throughput, parity, experiments, overlap (default: all four; "
                        "small: throughput, experiments)")
    p.add_argument("--parity-seeds", type=int, default=12, help="seeds per path in the parity section (default 12)")
    p.add_argument("--parity-first-seed", type=int, default=201, help="first of those seeds (default 201)")
    p.add_argument("--parity-models", default="dnn,cnn", help="networks of the parity section (default dnn,cnn)")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON and markdown results")
    p.add_argument("--workers", type=int, default=0,
                   help="run the optimised side of the experiments on a local Dask cluster of this many "
                        "workers (on one GPU: overlaps the trees with the networks); default: in this process")
    p.add_argument("--sides", default="naive,auto",
                   help="sides of the experiments section: naive, auto or both (default naive,auto)")
    p.add_argument("--naive-every", type=int, default=1,
                   help="run the naive side on every Nth cell of each experiment only and estimate its "
                        "time for the whole grid from them (default 1: every cell)")
    p.add_argument("--tree-threads", type=int, default=None,
                   help="background threads for the trees on the optimised side (default: the runner's "
                        "for this device); in the overlap section, the threads compared with 0 (default: "
                        "1 on a CPU, 2 on a GPU)")
    p.add_argument("--experiments", default=None,
                   help="comma-separated experiment names of the experiments section (default: the setting's)")
    args = p.parse_args(argv)
    sides = tuple(s.strip() for s in args.sides.split(",") if s.strip())
    if not sides or set(sides) - {"naive", "auto"}:
        p.error(f"--sides takes naive, auto or naive,auto; got {args.sides!r}")
    if args.naive_every < 1:
        p.error(f"--naive-every must be at least 1, got {args.naive_every}")
    if args.tree_threads is not None and args.tree_threads < 0:
        p.error(f"--tree-threads must be 0 or more, got {args.tree_threads}")

    from datavsmath.data import load_dataset
    from datavsmath.training.fused import configure_devices
    from datavsmath.models import gpu_name

    configure_devices()
    gpu = bool(gpu_name())
    setting = args.setting if args.setting != "auto" else ("full" if gpu else "small")
    if setting == "full" and not gpu:
        log("warning: --setting full on a CPU runs the whole grid twice (about 50 + hours); Ctrl-C to stop")
    repeats = args.repeats or {"small": 3, "cpu": 2, "full": 1}[setting]
    chosen = args.sections or ("throughput,experiments" if setting == "small"
                               else "throughput,parity,experiments,overlap")
    sections = [s.strip() for s in chosen.split(",") if s.strip()]
    unknown = set(sections) - {"throughput", "parity", "experiments", "overlap"}
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from throughput, parity, experiments, overlap")
    data = load_dataset("fashion")
    res = {"setting": setting, "repeats": repeats, "environment": environment()}
    hw = res["environment"]["hardware"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    base = out / f"bench-{setting}-{'gpu' if gpu else 'cpu'}-{stamp}"
    t0 = time.perf_counter()

    def save() -> None:
        """Write what is measured so far: a stopped run keeps every finished section and experiment."""
        res["wall_seconds"] = round(time.perf_counter() - t0, 1)
        base.with_suffix(".json").write_text(json.dumps(res, indent=2, default=str) + "\n")
        base.with_suffix(".md").write_text(markdown(res))

    def experiments_so_far(partial: dict) -> None:
        res["experiments"] = partial
        save()

    log(f"benchmark setting {setting}, {repeats} repeats; {hw['cpu']} x{hw['cores']}, GPU {hw['gpu'] or 'none'}")
    log(f"results: {base}.json and .md (written after each section and experiment)")
    if "throughput" in sections:
        log("throughput:")
        res["throughput"] = throughput_section(setting, repeats, data, gpu)
        save()
    if "parity" in sections:
        log("parity:")
        res["parity"] = parity_section(data, args.parity_seeds, args.parity_first_seed, args.parity_models.split(","))
        save()
    if "experiments" in sections:
        log("experiments:")
        # whole experiments are long: once each, except where --repeats asks for more
        res["experiments"] = experiments_section(setting, args.repeats or 1, data, args.workers, sides,
                                                 args.naive_every, args.experiments, experiments_so_far,
                                                 args.tree_threads)
        save()
    if "overlap" in sections:
        log("overlap:")
        from datavsmath.training.runner import tree_threads_for

        threads = args.tree_threads or max(1, tree_threads_for("auto"))  # the runner's; 1 where it is 0
        res["overlap"] = overlap_section(*overlap_subset(setting), args.repeats or 2, data, threads)
    save()
    log(f"wrote {base}.json and .md ({res['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
