"""Data pruning: prototypicality scores, the keep-easy / keep-hard row selection, the selection
as a grid dimension (specs, cells, store), its statistics on synthetic curves with known truth,
and a smoke run of reproduce/pruning.toml."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from datavsmath.damage import sample_rows
from datavsmath.errors import UserError
from datavsmath.experiments import derive_seed, load_experiment, load_spec
from datavsmath.pruning import (
    class_quotas,
    dataset_scores,
    prototype_scores,
    select_rows,
)
from datavsmath.report.pruning import pruning_verdict
from datavsmath.stats.pruning import fit_pruning
from datavsmath.training.store import ResultStore, cell_id, to_r_shape
from datavsmath.training.units import plan_units, training_data
from scipy import stats as sps


def _labels(n=60000, k=10, seed=0):
    return np.random.default_rng(seed).permutation(np.arange(n) % k)


# ============================================================================================
# selection rules
# ============================================================================================

@pytest.mark.parametrize("frac", [0.0, 0.005, 0.01, 0.07, 0.29, 0.5, 0.99, 1.0])
@pytest.mark.parametrize("rule", ["keep_easy", "keep_hard"])
def test_selection_size_is_exact_and_rows_distinct(frac, rule):
    y = _labels()
    scores = np.random.default_rng(1).random(len(y))
    idx = select_rows(scores, y, frac, rule, np.random.default_rng(2))
    assert len(idx) == len(sample_rows(len(y), frac, np.random.default_rng(2)))  # the same floor
    assert len(np.unique(idx)) == len(idx) and idx.dtype == np.int64


def test_easy_and_hard_are_the_extremes_of_each_class_and_disjoint():
    y = _labels(6000)
    scores = np.random.default_rng(3).random(len(y))
    easy = select_rows(scores, y, 0.1, "keep_easy", np.random.default_rng(0))
    hard = select_rows(scores, y, 0.1, "keep_hard", np.random.default_rng(0))
    assert not set(easy) & set(hard)
    for c in range(10):
        rows = np.flatnonzero(y == c)
        e, h = easy[y[easy] == c], hard[y[hard] == c]
        assert len(e) == len(h) == 60  # each class keeps its share
        assert scores[e].max() <= np.sort(scores[rows])[59] + 1e-12
        assert scores[h].min() >= np.sort(scores[rows])[-60] - 1e-12
    glob = select_rows(scores, y, 0.1, "keep_easy", np.random.default_rng(0), stratify=False)
    assert set(glob) == set(np.argsort(scores)[:600])


def test_selection_is_deterministic_and_comes_shuffled():
    y = _labels(6000)
    scores = np.random.default_rng(4).random(len(y))
    a = select_rows(scores, y, 0.2, "keep_easy", np.random.default_rng(9))
    b = select_rows(scores, y, 0.2, "keep_easy", np.random.default_rng(9))
    c = select_rows(scores, y, 0.2, "keep_easy", np.random.default_rng(10))
    np.testing.assert_array_equal(a, b)
    assert set(a) == set(c) and not np.array_equal(a, c)  # the seed moves only the order
    # shuffled: the networks' first 80% is not the easiest 80% of the kept rows
    first = scores[a[: int(0.8 * len(a))]]
    assert abs(sps.spearmanr(np.arange(len(a)), scores[a]).statistic) < 0.1 and first.max() > np.quantile(scores[a], 0.95)


def test_class_quotas_keep_the_shares_and_sum_to_n():
    y = np.repeat(np.arange(3), [50, 30, 20])
    q = class_quotas(y, 11)
    assert q.sum() == 11 and list(q) == [6, 3, 2]  # 5.5, 3.3, 2.2: the largest remainder gets the extra row
    assert class_quotas(y, 100).tolist() == [50, 30, 20]


@pytest.mark.parametrize("kwargs, message", [
    ({"rule": "random"}, "draw random rows with datavsmath.damage.sample_rows"),
    ({"rule": "keep_middle"}, "rule must be one of"),
    ({"frac": 1.5}, r"frac must be in \[0, 1\]"),
    ({"scores": np.zeros(5)}, "same length"),
    ({"scores": np.full(10, np.nan)}, "finite"),
])
def test_selection_rejects_bad_input_with_a_clear_error(kwargs, message):
    args = {"scores": np.zeros(10), "y": np.arange(10) % 2, "frac": 0.5, "rule": "keep_easy",
            "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(ValueError, match=message):
        select_rows(**args)


# ============================================================================================
# scores on real images
# ============================================================================================

def test_scores_on_a_real_slice_are_cosine_distances_and_deterministic(small_slice):
    x, y = small_slice
    s = prototype_scores(x, seed=3)
    assert s.shape == (len(x),) and np.all((s >= -1e-9) & (s <= 2 + 1e-9))
    np.testing.assert_allclose(prototype_scores(x, seed=3), s, atol=1e-12)
    # an image far from its class's mean image is, on average, less typical of its cluster
    flat = x.reshape(len(x), -1).astype(float)
    far = np.empty(len(x))
    for c in range(10):
        rows = y == c
        far[rows] = np.linalg.norm(flat[rows] - flat[rows].mean(axis=0), axis=1)
    assert sps.spearmanr(far, s).statistic > 0.2
    with pytest.raises(ValueError, match="n_clusters must lie in"):
        prototype_scores(x[:5], seed=0, n_components=2, n_clusters=6)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        prototype_scores(x, seed=-1)


def test_dataset_scores_are_computed_once_per_dataset_and_seed(small_slice):
    from datavsmath.data import Dataset

    x, y = small_slice
    data = Dataset("fashion", x, y, x[:10], y[:10], "slice")
    a = dataset_scores(data, 5)
    assert dataset_scores(data, 5) is a and not a.flags.writeable
    assert dataset_scores(data, 6) is not a


# ============================================================================================
# the selection as a grid dimension
# ============================================================================================

def test_pruning_spec_runs_in_every_profile_with_three_rules_sharing_seeds():
    for profile in ("full", "quick", "smoke"):
        exp = load_experiment("pruning", profile)
        assert exp.selection == ("random", "keep_easy", "keep_hard") and 1.0 not in exp.frac_sample
        cells = exp.cells()
        assert exp.n_fits == len(cells) * len(exp.models)
        by = {}
        for c in cells:
            by.setdefault((c.frac_sample, c.replicate), []).append(c)
        for group in by.values():
            assert [c.selection for c in group] == list(exp.selection)
            assert len({(c.seed, c.draw_seed) for c in group}) == 1  # common random numbers
    assert "QUICK PREVIEW" in load_experiment("pruning", "quick").note


def test_random_cells_and_files_of_the_other_experiments_are_unchanged(fashion):
    size = load_experiment("size", "full")
    for c in size.cells():
        assert c.selection == "random"
        assert c.seed == derive_seed(2019, "size", "fashion", c.frac_sample, 0.0, c.replicate)
        assert c.draw_seed == derive_seed(2019, "size", "fashion", c.frac_sample, c.replicate, "draw")
    assert cell_id("rf", 0.1, 0.0, 0, "fashion") == "fashion_rf_s0.1_d0.0_r0"
    assert cell_id("rf", 0.1, 0.0, 0, "fashion", "keep_easy") == "fashion_rf_s0.1_d0.0_r0_keep_easy"
    prune = load_experiment("pruning", "quick")
    cell = next(c for c in prune.cells() if c.selection == "random" and c.frac_sample == 0.05)
    _, y = training_data(prune, cell, fashion)
    idx = sample_rows(len(fashion.y_train), 0.05, np.random.default_rng(cell.draw_seed))
    np.testing.assert_array_equal(y, fashion.y_train[idx])  # random is today's draw
    easy = training_data(prune, replace(cell, selection="keep_easy"), fashion)[1]
    assert len(easy) == len(y) == 3000 and np.bincount(easy).tolist() == [300] * 10


@pytest.mark.parametrize("text, message", [
    ('selection = ["random", "keep_middle"]', 'no rule "keep_middle"; choose from'),
    ('selection = ["random", "random"]', "repeats a rule"),
    ('selection = [1]', "give a list of row-selection rules"),
    ('selection = "keep_easy"\n[profiles.smoke]\nfrac_sample = [0.1, 1.0]',
     r'\[profiles.smoke\] frac_sample = \[0.1, 1.0\]: keeps every row at 1.0, where "keep_easy" equal random'),
])
def test_spec_selection_errors_name_the_key_and_value(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(f'models = ["rf"]\nfrac_sample = [0.1]\n{text}\n')
    with pytest.raises(UserError, match=message):
        load_spec(path)


def test_store_names_records_and_r_shape_carry_the_selection(tmp_path):
    store = ResultStore(tmp_path)
    base = {"experiment": "pruning", "dataset": "fashion", "model": "rf", "frac_sample": 0.1,
            "frac_damage": 0.0, "damage": "none", "replicate": 0, "seed": 1, "n_train": 6000,
            "acc": 0.8, "auc": 0.97, "profile": "quick"}
    for sel, acc in (("random", 0.8), ("keep_easy", 0.7), ("keep_hard", 0.75)):
        assert store.put({**base, "selection": sel, "acc": acc})
    assert store.put({**base, "experiment": "size"})  # an older record: no selection field
    names = sorted(p.name for p in (tmp_path / "cells" / "pruning").glob("*.json"))
    assert names == ["fashion_rf_s0.1_d0.0_r0.json", "fashion_rf_s0.1_d0.0_r0_keep_easy.json",
                     "fashion_rf_s0.1_d0.0_r0_keep_hard.json"]
    df = store.to_frame()
    assert df.set_index(["experiment", "selection"])["acc"].to_dict() == {
        ("pruning", "keep_easy"): 0.7, ("pruning", "keep_hard"): 0.75, ("pruning", "random"): 0.8,
        ("size", "random"): 0.8}
    r = to_r_shape(df[df["experiment"] == "pruning"])
    assert list(r.columns[:3]) == ["frac", "selection", "exp_name"] and len(r) == 3


def test_fused_groups_take_every_cell_once_and_keep_each_cells_selection():
    """Copies of a fused group train on their own rows, so cells of different selections may
    share a group; each cell (with its selection) is in exactly one unit, and a group only
    holds cells of similar size."""
    from datavsmath.training.fused import Plan
    from datavsmath.training.units import MIN_FILL

    exp = load_experiment("pruning", "quick")
    todo = [(c, ["dnn"]) for c in exp.cells()]
    units = plan_units(todo, {"dnn": Plan("dnn", "fused", 8, False, "test")})
    planned = [c for u in units for c in u.cells]
    assert sorted(planned, key=repr) == sorted((c for c, _ in todo), key=repr)
    for u in units:
        sizes = [c.n_train for c in u.cells]
        assert min(sizes) >= MIN_FILL * max(sizes) and len(u.cells) <= 8


# ============================================================================================
# statistics on synthetic curves with known truth
# ============================================================================================

FRACS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]


def _synthetic(truth: dict, seed: int, sd: float = 0.004) -> pd.DataFrame:
    """error = a (n / 1000)^-b + N(0, sd) per selection, one run per size, model rf."""
    rng = np.random.default_rng(seed)
    rows = []
    for sel, (a, b) in truth.items():
        for f in FRACS:
            n = int(60000 * f)
            e = a * (n / 1000) ** -b + rng.normal(0, sd)
            rows.append({"experiment": "pruning", "dataset": "fashion", "model": "rf", "frac_sample": f,
                         "frac_damage": 0.0, "replicate": 0, "n_train": n, "acc": 1 - e, "auc": 1 - e / 3,
                         "selection": sel})
    return pd.DataFrame(rows)


def test_a_known_change_of_exponent_is_detected():
    hits = 0
    for seed in range(20):
        tab = fit_pruning(_synthetic({"random": (0.2, 0.3), "keep_hard": (0.2, 0.4)}, seed), quiet=True).table()
        row = tab.set_index("selection").loc["keep_hard"]
        hits += row["change"] == "exponent"
        assert row["b_diff_ci_low"] < 0.1 + 0.05 and row["b_diff_ci_high"] > 0.1 - 0.05
    assert hits >= 18


def test_no_change_is_seldom_reported_as_one():
    exponent = constant = 0
    for seed in range(40):
        tab = fit_pruning(_synthetic({"random": (0.2, 0.3), "keep_easy": (0.2, 0.3)}, seed), quiet=True).table()
        change = tab.set_index("selection").loc["keep_easy", "change"]
        exponent += change == "exponent"
        constant += change == "constant only"
    assert exponent <= 5 and constant <= 5  # nominal 5% each: 2 of 40 expected


def test_a_shift_without_a_new_exponent_is_called_constant_only():
    tab = fit_pruning(_synthetic({"random": (0.2, 0.3), "keep_easy": (0.3, 0.3)}, 0), quiet=True).table()
    row = tab.set_index("selection").loc["keep_easy"]
    assert row["change"] == "constant only" and bool(row["b_ci_overlap"])
    assert row["log_ratio_ci_low"] < np.log(1.5) < row["log_ratio_ci_high"]


def test_the_crossover_is_found_with_an_interval_that_covers_the_truth():
    # easy: 0.15 (n/1000)^-0.15, hard: 0.3 (n/1000)^-0.45; they meet at n = 1000 * 2^(1/0.3)
    truth = 1000 * 2 ** (1 / 0.3)
    covered = 0
    for seed in range(10):
        res = fit_pruning(_synthetic({"random": (0.2, 0.3), "keep_easy": (0.15, 0.15),
                                      "keep_hard": (0.3, 0.45)}, seed), quiet=True)
        c = res.crossover().table().iloc[0]
        assert c["lower_below"] == "keep_easy" and bool(c["matches_sorscher"])
        assert c["interval"] == "delta method" and bool(c["inside_data"])
        assert abs(np.log(c["n_cross"] / truth)) < 0.25
        covered += c["ci_low"] <= truth <= c["ci_high"]
    assert covered >= 8


def test_parallel_curves_give_no_crossover_and_equal_exponents_only_a_point_estimate():
    res = fit_pruning(_synthetic({"random": (0.2, 0.3), "keep_easy": (0.2, 0.3),
                                  "keep_hard": (0.3, 0.3)}, 1), quiet=True)
    c = res.crossover().table().iloc[0]
    if np.isnan(c["n_cross"]):
        assert c["status"] == "no crossover in range" and c["lower_below"] == "keep_easy"
    else:  # noise can make nearly parallel curves meet far out: then no interval is claimed
        assert c["interval"] == "point estimate only" and np.isnan(c["ci_low"])


def test_fit_pruning_rejects_what_it_cannot_compare():
    df = _synthetic({"random": (0.2, 0.3)}, 0)
    with pytest.raises(ValueError, match="exponent"):
        fit_pruning(df, form="exp")
    with pytest.raises(ValueError, match="no 'selection' column"):
        fit_pruning(df.drop(columns="selection"))
    with pytest.raises(ValueError, match="no rows of experiment"):
        fit_pruning(df, experiment="size")


def test_summary_and_verdict_say_what_changed():
    res = fit_pruning(_synthetic({"random": (0.2, 0.3), "keep_easy": (0.15, 0.15),
                                  "keep_hard": (0.3, 0.45)}, 2), metric=["acc", "auc"], quiet=True)
    assert "keep_easy" in str(res.summary()) and "Crossover" in str(res.crossover().summary())
    text = pruning_verdict(res.table(), res.crossover().table(), "acc")
    # the practical point first: which rows to keep, then how the law changes
    assert text.startswith("**Which rows to keep:** RF: keep easy (at ")
    assert "**Pruning changes the exponent" in text and "as Sorscher et al. predict" in text
    assert "not in the results folder" in pruning_verdict(None, None)


# ============================================================================================
# the spec, end to end
# ============================================================================================

@pytest.mark.slow
def test_smoke_run_of_the_pruning_spec_and_its_tables(tmp_path):
    out = tmp_path / "o"
    run = [sys.executable, "-m", "datavsmath.cli"]
    done = subprocess.run(run + ["run", "pruning", "--profile", "smoke", str(out), "--no-progress"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in (out / "cells" / "pruning").glob("*.json"))
    assert len(names) == 6 and sum(n.endswith("_keep_hard.json") for n in names) == 2
    df = pd.read_csv(out / "results.csv")
    assert sorted(df["selection"].unique()) == ["keep_easy", "keep_hard", "random"]
    assert (df["n_train"] == np.floor(60000 * df["frac_sample"] + 1e-9)).all()
    again = subprocess.run(run + ["run", "pruning", "--profile", "smoke", str(out), "--no-progress"],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "all 6 fits already stored" in again.stdout
    fit = subprocess.run(run + ["fit", str(out), "--quiet"], capture_output=True, text=True, check=False)
    assert fit.returncode == 0, fit.stderr
    assert (out / "tables" / "pruning_fits.csv").is_file() and (out / "tables" / "pruning_crossover.csv").is_file()
