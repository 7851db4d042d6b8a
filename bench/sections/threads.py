"""The threads section: how xgboost should use the CPU cores, alone and beside the other fits
of the grid. The policy it prints is the one ``XGB_CPU_THREADS`` (models.py) and
``TREE_THREADS["cpu"]`` (training/runner.py) are set to."""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from sections.common import log, median


def _load() -> dict:
    """Load average and the busiest other processes now: what else used the cores while the
    timings were taken (a shared machine's timings are only comparable within one run)."""
    import subprocess

    out = {"loadavg": list(os.getloadavg())}
    try:
        ps = subprocess.run(["ps", "-eo", "pid,ni,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True,
                            timeout=10, check=False).stdout.splitlines()
        out["top_processes"] = [line[:160] for line in ps[1:7] if str(os.getpid()) not in line.split()[:1]]
    except (OSError, subprocess.SubprocessError):  # ps is informational only
        out["top_processes"] = []
    return out


def _jobs(rows: int, rounds: int, seed: int, data):
    """The work each variant times, on one real slice: an xgboost fit (``rounds`` rounds), the
    forest (25 trees) and the DNN (2 epochs) at the R settings otherwise."""
    from datavsmath.models import XGBSoftprob, make_model

    idx = np.random.default_rng(seed).choice(len(data.y_train), rows, replace=False)
    x, y = data.x_train[idx], data.y_train[idx]
    xt = data.x_test[:2000]

    def xgb(nthread):
        def run():
            return XGBSoftprob(seed=seed, rounds=rounds, nthread=nthread, device="cpu").fit(x, y).predict_proba(xt)
        return run

    def rf(n_jobs):
        def run():
            from datavsmath.models import VoteFractionForest

            VoteFractionForest(seed=seed, n_jobs=n_jobs).fit(x, y)
        return run

    def dnn():
        net = make_model("dnn", seed=seed)
        net.epochs = 2
        net.fit(x, y)

    return xgb, rf, dnn


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _on_thread(fn):
    """``fn`` run on a fresh thread, this one waiting (the way the runner's tree thread runs it)."""
    def run():
        out = {}
        th = threading.Thread(target=lambda: out.setdefault("value", fn()), name="threads-section")
        th.start()
        th.join()
        return out.get("value")
    return run


def _side_by_side(first, second) -> tuple[float, float, float]:
    """Start ``first`` on a thread and ``second`` here at the same moment: (wall, first's own
    seconds, second's own seconds)."""
    own = {}

    def work():
        own["first"] = _timed(first)[0]

    t0 = time.perf_counter()
    th = threading.Thread(target=work, name="threads-section")
    th.start()
    own["second"] = _timed(second)[0]
    th.join()
    return time.perf_counter() - t0, own["first"], own["second"]


def threads_section(data, repeats: int = 3, rows: int = 3000, rounds: int = 10, seed: int = 11) -> dict:
    """Time xgboost (``rounds`` rounds on ``rows`` real rows) with nthread 1 and all cores,
    alone (on this thread and on a fresh one) and started together with a forest (all cores)
    or a DNN fit; round robin over the variants, ``repeats`` times. Then compare running each pair
    in line (the sum of the two alone) with side by side (the pair's wall time), and choose."""
    import importlib.util

    if importlib.util.find_spec("xgboost") is None:
        log("  xgboost is not installed here: section skipped")
        return {"skipped": "xgboost not installed"}
    cores = os.cpu_count() or 1
    threads = sorted({1, cores})
    xgb, rf, dnn = _jobs(rows, rounds, seed, data)
    # xgboost alone both on this (the main) thread and on a fresh thread: on the loaded 2-core
    # development machine its OpenMP team ran several times slower started from the main thread
    alone = {f"xgb nthread={t}": xgb(t) for t in threads}
    alone.update({f"xgb nthread={t} (thread)": _on_thread(xgb(t)) for t in threads})
    alone.update({"rf n_jobs=-1": rf(-1), "dnn": dnn})
    pairs = {}
    for t in threads:
        pairs[f"xgb nthread={t} | rf n_jobs=-1"] = (xgb(t), rf(-1), "rf n_jobs=-1")
        pairs[f"xgb nthread={t} | dnn"] = (xgb(t), dnn, "dnn")
    load_before = _load()
    for fn in list(alone.values())[:1] + [dnn]:  # warm-up: imports, first traces
        fn()
    secs = {k: [] for k in alone}
    pair_secs = {k: {"wall": [], "xgb": [], "other": []} for k in pairs}
    probas = {}
    for _ in range(repeats):
        for name, fn in alone.items():
            s, out = _timed(fn)
            secs[name].append(s)
            if name.startswith("xgb") and out is not None:
                probas[name] = out
        for name, (a, b, _) in pairs.items():
            wall, sa, sb = _side_by_side(a, b)
            pair_secs[name]["wall"].append(wall)
            pair_secs[name]["xgb"].append(sa)
            pair_secs[name]["other"].append(sb)
    load_after = _load()
    med = {k: median(v) for k, v in secs.items()}
    out = {"rows": rows, "rounds": rounds, "cores": cores, "repeats": repeats,
           "machine_load_before": load_before, "machine_load_after": load_after,
           "alone_seconds": secs, "alone_median": med, "pairs": {}}
    names = list(probas)
    out["xgb_predictions_identical_across_nthread"] = bool(all(np.array_equal(probas[names[0]], probas[n])
                                                               for n in names[1:]))
    out["xgb_predictions_max_abs_difference"] = float(max((np.abs(probas[names[0]] - probas[n]).max()
                                                           for n in names[1:]), default=0.0))
    placements = {f"xgb nthread={t}{where}": (t, where) for t in threads for where in ("", " (thread)")}
    best_alone = min(placements, key=lambda k: med[k])
    for name, (_, _, other) in pairs.items():
        t = int(name.split("=")[1].split()[0])
        # in line: xgboost where it runs fastest at this nthread, then the companion
        in_line = min(med[f"xgb nthread={t}"], med[f"xgb nthread={t} (thread)"]) + med[other]
        wall = median(pair_secs[name]["wall"])
        out["pairs"][name] = {"wall_seconds": pair_secs[name]["wall"], "xgb_seconds": pair_secs[name]["xgb"],
                              "other_seconds": pair_secs[name]["other"], "wall_median": wall,
                              "in_line_seconds": in_line, "beside_over_in_line": round(wall / in_line, 3)}
        log(f"  {name}: side by side {wall:.2f} s (xgb {median(pair_secs[name]['xgb']):.2f} s), in line "
            f"{in_line:.2f} s: {wall / in_line:.2f}x")
    for name, m in med.items():
        log(f"  alone {name}: {m:.2f} s")
    best_pair = {}
    for other in ("rf", "dnn"):
        cands = {k: v for k, v in out["pairs"].items() if k.split("| ")[1].startswith(other)}
        best_pair[other] = min(cands, key=lambda k: cands[k]["wall_median"])
    # beside the networks only if every companion gains from it (the grid mixes both), by 5%+
    beside = all(out["pairs"][k]["beside_over_in_line"] < 0.95 for k in best_pair.values())
    nthread, where = placements[best_alone]
    out["policy"] = {
        "xgb_nthread": nthread,
        "xgb_on_a_thread": bool(where) or beside,
        "trees_beside_networks": beside,
        "best_alone": best_alone,
        "best_pairs": best_pair,
        "rule": "xgboost's nthread and thread: the fastest alone; trees on a background thread beside the networks "
                "only if side by side beats in line by 5% or more against both a forest and a DNN",
    }
    log(f"  policy: xgboost nthread={nthread}{' on a thread' if where else ''} (fastest alone: {best_alone}, "
        f"{med[best_alone]:.2f} s); trees beside the networks: {beside}; predictions identical across nthread: "
        f"{out['xgb_predictions_identical_across_nthread']}; load average {load_before['loadavg'][0]:.1f} "
        f"before, {load_after['loadavg'][0]:.1f} after")
    return out
