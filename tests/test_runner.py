"""The runner end to end through the CLI: results, resumption after SIGKILL, clear errors."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from datavsmath.experiments import load_experiment
from datavsmath.training.units import training_data

pytestmark = pytest.mark.slow


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "datavsmath.cli", *args], capture_output=True, text=True, **kw)


def test_training_data_follows_the_spec(fashion):
    exp = load_experiment("constant_damage", "quick")
    c0, c5 = exp.cells()[0], exp.cells()[3]  # d = 0 and d = 0.5, same draw
    x0, y0 = training_data(exp, c0, fashion)
    x5, y5 = training_data(exp, c5, fashion)
    assert len(y0) == 3000
    np.testing.assert_array_equal(x0, x5)
    changed = y5 != y0
    assert changed.sum() == sum(int(np.rint(0.5 * (y0 == c).sum())) for c in range(10))
    np.testing.assert_array_equal(y5[changed], (y0[changed] + 1) % 10)
    full = load_experiment("random_damage", "full")
    xf, yf = training_data(full, full.cells()[0], fashion)
    np.testing.assert_array_equal(yf, fashion.y_train)  # d = 0, all rows in file order


def kill_after_first_fit(child_run, args, cells) -> int:
    """Run ``datavsmath *args`` until it has stored its first fit (or fused group) and holds
    there (DATAVSMATH_HOLD_AFTER_STORED), SIGKILL it, and return the fits stored: the kill
    lands at that known point of the grid, not wherever a polling loop happened to see it."""
    child = child_run(*args, hold_after_stored=1)
    child.wait_for("held")
    announced = int([line for line in child.err if line.startswith("datavsmath-event: stored")][-1].split()[-1])
    child.signal(signal.SIGKILL)
    assert child.finish()[0] == -signal.SIGKILL
    stored = len(list(cells.glob("*.json")))
    assert stored == announced
    return stored


@pytest.mark.smoke
def test_smoke_run_kill_and_resume_ends_with_every_fit_once(tmp_path, child_run):
    out = tmp_path / "res"
    args = ["run", "size", "--profile", "smoke", str(out), "--no-progress"]
    cells = out / "cells" / "size"
    stored = kill_after_first_fit(child_run, args, cells)
    assert 1 <= stored < 4, "the kill should land mid-grid"
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in cells.glob("*.json"))
    assert len(files) == 4 and len(set(files)) == 4
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 4 and not df.duplicated(["model", "frac_sample", "replicate"]).any()
    assert df["acc"].between(0.3, 1).all() and (df["n_train"] == (df["frac_sample"] * 60000).round()).all()
    prov = json.loads((out / "provenance.json").read_text())
    # finished; not "complete", which means every experiment of the profile, not size alone
    assert prov["complete"] is False and prov["sessions"][-1]["status"] == "finished"
    r = pd.read_csv(out / "r-shaped" / "fashion-data-size-results.csv")
    assert list(r.columns) == ["frac", "exp_name", "acc", "auc", "preview"]  # smoke says it is no R grid
    assert r["preview"].str.startswith("SMOKE").all()
    again = cli(*args)
    assert "already stored" in again.stdout + again.stderr
    status = cli("status", "size", str(out))
    assert status.returncode == 0 and "4/4 fits stored" in status.stdout


def test_fused_run_killed_mid_grid_resumes_with_every_fit_once(tmp_path, child_run):
    """Constant damage (smoke): the DNN's two damage levels train as one fused group, stored
    together when the group ends; killed after the first stored fit, the rerun completes the
    grid with every fit once and the DNN recorded as a two-copy fused group."""
    out = tmp_path / "res"
    args = ["run", "constant_damage", "--profile", "smoke", str(out), "--no-progress",
            "--backend", "fused"]
    cells = out / "cells" / "constant_damage"
    stored = kill_after_first_fit(child_run, args, cells)
    assert 1 <= stored < 4, "the kill should land mid-grid"
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 4 and not df.duplicated(["model", "frac_damage", "replicate"]).any()
    dnn = df[df["model"] == "dnn"]
    assert set(dnn["backend"]) == {"fused"} and set(dnn["copies"]) == {2}
    assert set(df.loc[df["model"] == "rf", "backend"]) == {"naive"}
    backend = {json.loads(v)["keras_backend"] for v in df["versions"]}
    assert backend == {os.environ.get("KERAS_BACKEND", "tensorflow")}  # recorded with every fit


@pytest.mark.parametrize("args, message", [
    (["run", "sizes", "--profile", "smoke"], "'sizes' is neither an experiment nor a results folder"),
    (["run", "size", "--profile", "smoke", "--models", "svm"], "no selected experiment runs svm"),
    (["run", "size", "--profile", "smoke", "--replicates", "0"], "at least 1"),
    (["export", "/nonexistent/folder"], "no results folder /nonexistent/folder"),
    (["run", "size", "--profile", "smoke", "--workers", "2"], "--workers needs --cluster local"),
    (["run", "size", "--profile", "smoke", "--backend", "fast"], "invalid choice: 'fast'"),
    (["run", "size", "--profile", "smoke", "--tree-threads", "-1"], "--tree-threads takes a count of 0 or more"),
    (["run", "size", "--profile", "smoke", "--cluster", "local", "--tree-threads", "2"], "a Dask cluster runs units"),
    (["run", "size", "--profile", "smoke", "--backend", "naive", "--tree-threads", "1"], "drop one of the two"),
])
def test_cli_errors_are_one_clear_line(args, message):
    res = cli(*args)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr


def test_cli_missing_data_says_how_to_fix(tmp_path):
    res = cli("run", "size", "--profile", "smoke", "--data-dir", str(tmp_path), str(tmp_path / "o"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "apt-get install -y dataset-fashion-mnist" in res.stderr
    assert not (tmp_path / "o" / "cells").exists()  # nothing started before the data checked out


def test_status_and_run_retrain_fits_of_an_older_recipe_and_only_those(tmp_path):
    """A folder holding networks trained before their recipe changed (cells without a recipe
    field): status counts them as left and names them, the run plan says it retrains them,
    the run replaces them and leaves the trees' cells untouched."""
    from datavsmath.training.store import ResultStore

    out = tmp_path / "res"
    exp = load_experiment("size", "smoke")  # rf and dnn at two fractions
    store = ResultStore(out)
    for cell in exp.cells():
        for model in exp.models:
            store.put({"experiment": "size", "dataset": "fashion", "model": model,
                       "frac_sample": cell.frac_sample, "frac_damage": cell.frac_damage, "damage": "none",
                       "replicate": cell.replicate, "seed": cell.seed, "n_train": cell.n_train,
                       "acc": 0.5, "auc": 0.5, "profile": "smoke"})
    cells = out / "cells" / "size"
    trees = {p.name: p.read_bytes() for p in cells.glob("*_rf_*.json")}
    where = ["size", "--profile", "smoke", str(out)]
    status = cli("status", *where)
    assert status.returncode == 1, status.stderr
    assert "2/4 fits stored, 2 left" in status.stdout
    assert "2 dnn stored under an older model recipe (current: dnn 2): the next run retrains them" in status.stdout
    done = cli("run", *where, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "2 of 4 fits to run" in done.stdout
    assert "2 dnn stored under an older model recipe (current: dnn 2): retrained and replaced" in done.stdout
    records = ResultStore(out).records()
    assert sorted((r["model"], r.get("recipe", 1)) for r in records) == [("dnn", 2), ("dnn", 2), ("rf", 1), ("rf", 1)]
    assert all(r["acc"] != 0.5 for r in records if r["model"] == "dnn")
    assert {p.name: p.read_bytes() for p in cells.glob("*_rf_*.json")} == trees
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["sessions"][-1]["fits_done"] == 2
    again = cli("status", *where)
    assert again.returncode == 0 and "4/4 fits stored, complete" in again.stdout
