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
threads      xgboost's CPU threads: a few boosting rounds on 3,000 real rows with nthread 1 and
             all cores, alone and started together with a forest or a DNN fit; the policy
             (xgboost's nthread, trees beside the networks or in line) it chooses is the one
             models.py and runner.py use (settings cpu and small when asked; skipped where
             xgboost is not installed).
overlap      the optimised runner on one subset with all its models, the trees on the main
             thread in grid order against the trees on background threads beside the
             networks (``--tree-threads``, default 1 on a CPU, 2 on a GPU): wall times,
             ratio, and whether the tree fits' results are the same both ways (settings cpu
             and full).
interrupt    Ctrl-C to exit: ``datavsmath run`` with the forest on background threads is
             interrupted as its largest forest fit starts (the moment tests/test_tree_threads.py
             interrupts at); seconds until the process ended, against a target of 30 s
             (``--sections interrupt``; in no setting's default, under 10 s a repeat on 2 cores).

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
--setting quick  the CPU target: the quick profile of the four R experiments (92 fits, all four
                 models), the optimised side only, through the runner as ``datavsmath run``
                 runs it, after the threads section; wall time per experiment and fit seconds
                 by model, against the target of 20 minutes on 2 cores (``--sides naive,auto``
                 adds the naive loop).
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
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent
# bench/ is not a package: Python puts it on the path when this file runs as a script, but not
# when tests/test_bench.py loads it with spec_from_file_location, so say where ``sections`` is
sys.path.insert(0, str(HERE))

from sections.common import environment, log
# run_subsets and thinned: tests/test_bench.py reaches them through this script
from sections.experiments import experiments_section, run_subsets, thinned  # noqa: F401
from sections.interrupt import interrupt_section
from sections.overlap import overlap_section, overlap_subset
from sections.parity import parity_section
from sections.summary import markdown
from sections.threads import threads_section
from sections.throughput import throughput_section


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", choices=["auto", "small", "cpu", "quick", "full"], default="auto")
    p.add_argument("--small", action="store_const", const="small", dest="setting", help="same as --setting small")
    p.add_argument("--repeats", type=int, default=None,
                   help="runs per throughput timing (default: 3 small, 2 cpu, 1 full) and per experiment (default 1)")
    p.add_argument("--sections", default=None,
                   help="comma-separated: throughput, parity, experiments, overlap, threads, interrupt (default: "
                        "small: throughput, experiments; cpu: all five; quick: threads, experiments; "
                        "full: all but threads)")
    p.add_argument("--parity-seeds", type=int, default=12, help="seeds per path in the parity section (default 12)")
    p.add_argument("--parity-first-seed", type=int, default=201, help="first of those seeds (default 201)")
    p.add_argument("--parity-models", default="dnn,cnn", help="networks of the parity section (default dnn,cnn)")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for the JSON and markdown results")
    p.add_argument("--workers", type=int, default=0,
                   help="run the optimised side of the experiments on a local Dask cluster of this many "
                        "workers (on one GPU: overlaps the trees with the networks); default: in this process")
    p.add_argument("--sides", default=None,
                   help="sides of the experiments section: naive, auto or both (default naive,auto; "
                        "quick: auto)")
    p.add_argument("--naive-every", type=int, default=1,
                   help="run the naive side on every Nth cell of each experiment only and estimate its "
                        "time for the whole grid from them (default 1: every cell)")
    p.add_argument("--tree-threads", type=int, default=None,
                   help="background threads for the trees on the optimised side (default: the runner's "
                        "for this device); in the overlap section, the threads compared with 0 (default: "
                        "1 on a CPU, 2 on a GPU)")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="write the optimised side's first run of the experiments section into the results "
                        "folder DIR (new or empty) instead of a throw-away store: on a GPU, one timed run "
                        "of the whole grid is then also a results folder (its cells can be merged into "
                        "results/full)")
    p.add_argument("--experiments", default=None,
                   help="comma-separated experiment names of the experiments section (default: the setting's)")
    args = p.parse_args(argv)
    sides_arg = args.sides or ("auto" if args.setting == "quick" else "naive,auto")
    sides = tuple(s.strip() for s in sides_arg.split(",") if s.strip())
    if not sides or set(sides) - {"naive", "auto"}:
        p.error(f"--sides takes naive, auto or naive,auto; got {sides_arg!r}")
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
    repeats = args.repeats or {"small": 3, "cpu": 2, "quick": 3, "full": 1}[setting]
    # quick: the threads section first, while nothing of the benchmark's own is running
    chosen = args.sections or {"small": "throughput,experiments", "cpu": "throughput,parity,experiments,overlap,threads",
                               "quick": "threads,experiments", "full": "throughput,parity,experiments,overlap"}[setting]
    sections = [s.strip() for s in chosen.split(",") if s.strip()]
    known = ("throughput", "parity", "experiments", "overlap", "threads", "interrupt")
    unknown = set(sections) - set(known)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
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
                                                 args.tree_threads, keep=args.keep)
        save()
    if "threads" in sections:
        log("threads:")
        res["threads"] = threads_section(data, repeats=args.repeats or 3)
        save()
    if "overlap" in sections:
        log("overlap:")
        from datavsmath.training.runner import tree_threads_for

        threads = args.tree_threads or max(1, tree_threads_for("auto"))  # the runner's; 1 where it is 0
        res["overlap"] = overlap_section(*overlap_subset(setting), args.repeats or 2, data, threads)
        save()
    if "interrupt" in sections:
        log("interrupt:")
        res["interrupt"] = interrupt_section(args.repeats or 3)
    save()
    log(f"wrote {base}.json and .md ({res['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
