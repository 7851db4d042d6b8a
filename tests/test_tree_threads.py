"""Trees on background threads beside the networks (``run_here``, ``tree_threads``).

The scheduling is tested with a stand-in for ``execute_unit`` (no training: what is checked
is who runs what, and that nothing finished is lost); one real run checks that the tree
fits' results do not depend on where they ran.
"""

import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datavsmath.training.runner as runner
from datavsmath.experiments import load_experiment
from datavsmath.training.fused import Plan
from datavsmath.training.runner import TREE_THREADS, run_experiment, run_here, tree_threads_for
from datavsmath.training.units import pending_fits, plan_units
from datavsmath.training.store import ResultStore

MAIN = threading.main_thread()


def grid_units(models=("rf", "xgb", "dnn"), levels=(0.0, 0.2, 0.5, 0.9), max_copies=2):
    """Units of a small constant-damage grid: trees one per cell, the DNN fused in pairs."""
    exp = replace(load_experiment("constant_damage", "smoke"), models=tuple(models), frac_damage=tuple(levels))
    plans = {m: Plan(m, "fused", max_copies) if m in ("dnn", "cnn") else Plan(m, "naive") for m in exp.models}
    return exp, plan_units([(c, list(exp.models)) for c in exp.cells()], plans)


class Recorder:
    """Stands in for ``execute_unit``: notes the thread each unit ran on, returns a marker."""

    def __init__(self, delay=0.0, fail=None, interrupt_after_trees=False, n_trees=0):
        self.ran, self.delay, self.fail = [], delay, fail
        self.trees_done = threading.Event()
        self.interrupt_after_trees, self.n_trees = interrupt_after_trees, n_trees
        self.lock = threading.Lock()

    def __call__(self, exp, unit, data):
        time.sleep(self.delay)
        if unit == self.fail:
            raise RuntimeError(f"boom in {unit.describe()}")
        if self.interrupt_after_trees and unit.model == "dnn":
            assert self.trees_done.wait(10)
            # a tree thread queues its result after it returns from here, and ends when no
            # unit is left: joined, every tree result is queued (no sleep to guess it)
            for thread in threading.enumerate():
                if thread.name.startswith("datavsmath-trees-"):
                    thread.join(10)
            raise KeyboardInterrupt
        with self.lock:
            self.ran.append((unit, threading.current_thread().name))
            if sum(u.model != "dnn" for u, _ in self.ran) == self.n_trees:
                self.trees_done.set()
        return [unit]


def collect():
    got = []

    def on_done(unit, records):
        assert threading.current_thread() is MAIN  # the store is only ever written from here
        assert records == [unit]
        got.append(unit)
    return got, on_done


def test_tree_threads_per_device_and_backend():
    assert tree_threads_for("naive", {"gpu": "H100"}) == 0  # the R loop never overlaps fits
    assert tree_threads_for("auto", {"gpu": "H100"}) == TREE_THREADS["gpu"] > 0
    assert tree_threads_for("fused", {"gpu": None}) == tree_threads_for("auto", {"gpu": None}) == TREE_THREADS["cpu"]


def test_trees_run_on_background_threads_and_networks_here_in_grid_order(monkeypatch):
    exp, units = grid_units()
    rec = Recorder(delay=0.01)
    monkeypatch.setattr(runner, "execute_unit", rec)
    got, on_done = collect()
    run_here(exp, units, None, on_done, tree_threads=2)
    assert sorted(got, key=units.index) == units and len(got) == len(units)
    where = {u: name for u, name in rec.ran}
    assert all(where[u] == MAIN.name for u in units if u.model == "dnn")
    assert {where[u] for u in units if u.model != "dnn"} <= {"datavsmath-trees-0", "datavsmath-trees-1"}
    nets = [u for u in got if u.model == "dnn"]
    assert nets == [u for u in units if u.model == "dnn"]


def test_no_tree_threads_runs_everything_here_in_grid_order(monkeypatch):
    exp, units = grid_units()
    rec = Recorder()
    monkeypatch.setattr(runner, "execute_unit", rec)
    got, on_done = collect()
    run_here(exp, units, None, on_done, tree_threads=0)
    assert got == units
    assert {name for _, name in rec.ran} == {MAIN.name}


@settings(max_examples=25, deadline=None)
@given(models=st.lists(st.sampled_from(["rf", "xgb", "dnn"]), min_size=1, max_size=3, unique=True),
       n_levels=st.integers(1, 5), threads=st.integers(0, 3), copies=st.integers(1, 3))
def test_every_unit_is_handed_over_exactly_once(models, n_levels, threads, copies):
    exp, units = grid_units(tuple(models), (0.0, 0.1, 0.3, 0.5, 0.7)[:n_levels], copies)
    rec = Recorder()
    got, on_done = collect()
    real = runner.execute_unit
    runner.execute_unit = rec
    try:
        run_here(exp, units, None, on_done, tree_threads=threads)
    finally:
        runner.execute_unit = real
    assert sorted(got, key=units.index) == units and len(got) == len(set(got)) == len(units)


def test_a_failing_tree_fit_is_raised_after_what_finished_is_handed_over(monkeypatch):
    exp, units = grid_units()
    xgbs = [u for u in units if u.model == "xgb"]  # the longest trees, so the first to run
    bad = xgbs[-1]
    monkeypatch.setattr(runner, "execute_unit", Recorder(delay=0.01, fail=bad))
    got, on_done = collect()
    with pytest.raises(RuntimeError, match="boom in xgb"):
        run_here(exp, units, None, on_done, tree_threads=1)
    assert [u for u in got if u.model == "xgb"] == xgbs[:-1]  # finished tree fits are kept


def test_ctrl_c_keeps_the_tree_fits_finished_beside_the_network(monkeypatch):
    exp, units = grid_units()
    trees = [u for u in units if u.model != "dnn"]
    monkeypatch.setattr(runner, "execute_unit", Recorder(interrupt_after_trees=True, n_trees=len(trees)))
    got, on_done = collect()
    with pytest.raises(KeyboardInterrupt):
        run_here(exp, units, None, on_done, tree_threads=2)
    assert sorted(got, key=units.index) == trees  # all finished, none lost


@pytest.mark.slow
def test_real_run_with_tree_threads_stores_every_fit_once_and_the_same_trees(fashion, tmp_path):
    exp = replace(load_experiment("constant_damage", "smoke"), models=("rf", "xgb", "dnn"))
    frames, logs = {}, {}
    for threads in (0, 2):
        store = ResultStore(tmp_path / f"t{threads}")
        lines = []
        run_experiment(exp, store, fashion, progress=False, log=lines.append, tree_threads=threads)
        assert not pending_fits(exp, store)
        frames[threads] = store.to_frame().sort_values(["model", "frac_damage"]).reset_index(drop=True)
        logs[threads] = "\n".join(lines)
    assert len(frames[2]) == exp.n_fits == 6
    trees = [frames[t][frames[t].model != "dnn"][["model", "frac_damage", "acc", "auc"]] for t in (0, 2)]
    assert trees[0].equals(trees[1])  # seeded fits give the same results on any thread
    assert "trees: on 2 background threads" in logs[2] and "trees:" not in logs[0]


def test_a_negative_thread_count_is_refused(fashion, tmp_path):
    exp = load_experiment("constant_damage", "smoke").with_options(models=["rf"])
    with pytest.raises(ValueError, match="tree_threads must be 0 or more"):
        run_experiment(exp, ResultStore(tmp_path), fashion, progress=False, log=lambda *a: None, tree_threads=-1)



@pytest.mark.slow
@pytest.mark.parametrize("moment", ["tree fit", "held after a stored fit"])
def test_ctrl_c_with_tree_threads_exits_with_130_and_a_rerun_completes(tmp_path, child_run, moment):
    """SIGINT in the middle of a grid whose trees run on background threads, at two moments
    the run announces (DATAVSMATH_EVENTS): as the largest forest fit starts on a tree thread
    (SIGINT follows its announcement within milliseconds, a 4,800-row forest takes far longer,
    so the native fit is in flight: the cell is not stored) and while the main thread holds
    after its first stored fit. The command ends with 130 and no abort, keeps what is stored,
    and the same command then finishes. How long the stop takes is a benchmark, not a test
    here (bench/run.py --setting interrupt)."""
    # five sizes: the networks (three fused groups) keep the main thread busy while the forest
    # fits run beside them
    spec = tmp_path / "sizes.toml"
    spec.write_text('models = ["rf", "dnn"]\nfrac_sample = [0.005, 0.01, 0.02, 0.04, 0.08]\n')
    out = tmp_path / "res"
    args = ["run", "--spec", spec, out, "--no-progress", "--tree-threads", "2"]
    cells = out / "cells" / "sizes"
    if moment == "tree fit":
        child = child_run(*args)
        child.wait_for("fit-start rf s=0.08")  # the largest tree unit goes first
    else:
        child = child_run(*args, hold_after_stored=1)
        child.wait_for("held")
    child.signal(signal.SIGINT)
    rc, log, err = child.finish(timeout=120)
    stored = sorted(p.name for p in cells.glob("*.json"))
    assert "trees: on 2 background threads" in log, log + err
    assert rc == 130 and "rerun the same command to resume" in err, (rc, err[-2000:])
    assert "terminate called" not in err and "Traceback" not in err
    if moment == "tree fit":
        assert not (cells / "fashion_rf_s0.08_d0.0_r0.json").exists()  # interrupted mid-fit, not stored
    assert len(stored) < 10, stored
    done = subprocess.run([sys.executable, "-m", "datavsmath.cli", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(list(cells.glob("*.json"))) == 10 and f"{10 - len(stored)} fits to run" in done.stdout


def test_epochs_of_a_fused_group_reach_the_progress_callback(monkeypatch):
    """run_here passes each fused epoch on as on_epoch(unit, done, epochs), so the bar moves
    inside a group; without a callback execute_unit is called as before."""
    exp, units = grid_units(models=("dnn",), levels=(0.0, 0.2))

    def fused(exp, unit, data, on_epoch=None):
        for i in (1, 2):
            on_epoch(i, 2)
        return [unit]

    monkeypatch.setattr(runner, "execute_unit", fused)
    got, on_done = collect()
    seen = []
    run_here(exp, units, None, on_done, on_epoch=lambda unit, i, n: seen.append((unit, i, n)))
    assert got == units and seen == [(u, i, 2) for u in units for i in (1, 2)]
