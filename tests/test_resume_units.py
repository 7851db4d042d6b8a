"""A resumed run trains the units an uninterrupted one does, so its networks' cells equal that
run's bit for bit: units are cut from the whole grid, whatever is stored."""

import pandas as pd
import pytest

from datavsmath.experiments import load_experiment
from datavsmath.models import MODELS
from datavsmath.training.fused import Plan
from datavsmath.training.store import ResultStore
from datavsmath.training.units import plan_units, unit_label, units_to_run

PLANS = {"rf": Plan("rf", "naive"), "dnn": Plan("dnn", "fused", 3)}


def store_fit(store, exp, cell, model):
    store.put({"experiment": exp.name, "dataset": exp.dataset, "model": model, "frac_sample": cell.frac_sample,
               "frac_damage": cell.frac_damage, "damage": exp.damage, "replicate": cell.replicate,
               "seed": cell.seed, "n_train": cell.n_train, "acc": 0.5, "auc": 0.5, "profile": exp.profile,
               "recipe": MODELS[model].recipe})


def test_units_do_not_depend_on_what_is_stored(tmp_path):
    # two damage levels x 5 replicates of 600 rows: dnn units of 3 copies cut across the draws
    exp = load_experiment("random_damage", "smoke").with_options(replicates=5)
    whole = plan_units([(c, list(exp.models)) for c in exp.cells()], PLANS)
    dnn = [u for u in whole if u.model == "dnn"]
    assert [len(u.cells) for u in dnn] == [3, 3, 3, 1]
    store = ResultStore(tmp_path)
    # the second cell of the first unit stored alone (e.g. the others quarantined since): planned
    # from the pending cells only, the remaining nine would form other units
    store_fit(store, exp, dnn[0].cells[1], "dnn")
    for cell in exp.cells():
        store_fit(store, exp, cell, "rf")
    todo = units_to_run(exp, store, PLANS)
    assert [unit_label(u) for u in todo] == [unit_label(u) for u in dnn]  # the stored cell trains in its unit
    only_pending = plan_units([(c, ["dnn"]) for c in exp.cells() if c != dnn[0].cells[1]], PLANS)
    assert [unit_label(u) for u in only_pending] != [unit_label(u) for u in dnn]
    for unit in dnn[:2]:
        for cell in unit.cells:
            store_fit(store, exp, cell, "dnn")
    assert [unit_label(u) for u in units_to_run(exp, store, PLANS)] == [unit_label(u) for u in dnn[2:]]


@pytest.mark.slow
def test_a_resumed_network_run_equals_an_uninterrupted_one_bit_for_bit(tmp_path, child_run):
    """The DNN on random damage (smoke, 5 replicates: 10 cells, fused units of up to 8): killed
    after its first stored unit and resumed, every cell's accuracy and AUC equal those of the
    run that was not interrupted, and each record names the same unit."""
    from test_runner import cli, kill_after_first_fit

    args = ["run", "random_damage", "--profile", "smoke", "--models", "dnn", "--replicates", "5",
            "--backend", "fused", "--no-progress"]
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert cli(*args, str(whole)).returncode == 0
    stored = kill_after_first_fit(child_run, [*args, str(resumed)], resumed / "cells" / "random_damage")
    assert 1 <= stored < 10, "the kill should land mid-grid"
    done = cli(*args, str(resumed))
    assert done.returncode == 0, done.stderr
    keys = ["frac_damage", "replicate"]
    a = pd.read_csv(whole / "results.csv").sort_values(keys).reset_index(drop=True)
    b = pd.read_csv(resumed / "results.csv").sort_values(keys).reset_index(drop=True)
    assert len(a) == len(b) == 10 and a["copies"].max() > 1
    pd.testing.assert_frame_equal(a[keys + ["acc", "auc", "unit", "copies"]], b[keys + ["acc", "auc", "unit", "copies"]],
                                  check_exact=True)
