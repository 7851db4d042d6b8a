"""The benchmark script (``make bench``): a tiny real comparison through the runner times both
paths, pairs the results cell by cell, and its summary prints the ratio and says that the GPU
targets were not measured on a CPU."""

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from datavsmath.experiments import load_experiment

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(bench, fashion):
    """Constant damage, DNN only, 600 real rows at three damage levels, both ways."""
    exp = load_experiment("constant_damage", "smoke").with_options(models=["dnn"])
    exp = replace(exp, frac_damage=(0.0, 0.2, 0.5))
    return exp, bench.run_subsets([("tiny constant damage", exp)], repeats=1, data=fashion)


def test_both_paths_are_timed_and_paired_cell_by_cell(tiny_run):
    exp, out = tiny_run
    (run,) = out["runs"]
    assert set(run["seconds"]) == {"naive", "auto"} and all(len(v) == 1 for v in run["seconds"].values())
    assert run["ratio"] == pytest.approx(run["median_seconds"]["naive"] / run["median_seconds"]["auto"], rel=1e-2)
    assert "dnn fused" in run["plan"]
    cells = run["cells"]
    assert len(cells) == exp.n_fits == 3
    assert sorted(c["frac_damage"] for c in cells) == [0.0, 0.2, 0.5]
    diffs = [c["acc_auto"] - c["acc_naive"] for c in cells]
    assert run["parity"]["acc"]["mean_difference"] == pytest.approx(np.mean(diffs), abs=1e-5)
    clean = next(c for c in cells if c["frac_damage"] == 0.0)
    assert clean["acc_naive"] > 0.6 and clean["acc_auto"] > 0.6  # both paths really trained
    assert out["total_ratio"] == pytest.approx(out["total_seconds"]["naive"] / out["total_seconds"]["auto"], rel=1e-2)
    assert "targets" not in out  # only the whole grid is checked against the targets


def test_summary_prints_the_ratio_and_flags_unmeasured_gpu_targets(bench, tiny_run):
    _, out = tiny_run
    res = {"setting": "small", "repeats": 1, "environment": bench.environment(), "experiments": out}
    text = bench.markdown(res)
    assert f"{out['runs'][0]['ratio']:.2f}x" in text
    assert "tiny constant damage" in text
    gpu = res["environment"]["hardware"]["gpu"]
    assert ("**unmeasured**" in text) == (not gpu)


def test_thinned_is_a_systematic_sample_of_the_longer_axis(bench):
    size = load_experiment("size", "full")
    thin = bench.thinned(size, 14)
    assert thin.frac_sample == size.frac_sample[7::14] and thin.frac_damage == size.frac_damage
    damage = load_experiment("constant_damage", "full")
    thin = bench.thinned(damage, 14)
    assert thin.frac_damage == damage.frac_damage[7::14] and thin.frac_sample == damage.frac_sample
    assert bench.thinned(size, 1) is size


def test_a_sampled_naive_side_is_scaled_to_the_whole_experiment(bench, fashion):
    """--naive-every: the naive side runs the sampled cells only; its time for the whole
    experiment is the measured time x all fits / sampled fits, and says so."""
    exp = load_experiment("constant_damage", "smoke").with_options(models=["dnn"])
    exp = replace(exp, frac_damage=(0.0, 0.2, 0.5, 0.7))
    seen = []

    def progress(partial):  # what a stopped run would have left on disk
        seen.append((partial["complete"], len(partial["runs"]), bench.markdown(
            {"setting": "small", "repeats": 1, "environment": bench.environment(), "experiments": partial})))

    out = bench.run_subsets([("sampled", exp)], repeats=1, data=fashion, sides=("naive",), naive_every=2,
                            on_progress=progress)
    assert [(done, n) for done, n, _ in seen] == [(False, 1)] and out["complete"] is True
    assert "**Partial**: 1 of 1 experiments" in seen[0][2]
    (run,) = out["runs"]
    sample = run["naive_sample"]
    assert sample["fits"] == 2 and sample["frac_damage"] == [0.2, 0.7]
    assert run["median_seconds"]["naive"] == pytest.approx(sample["measured_seconds"] * 2)
    assert len(run["cells_naive"]) == 2 and "auto" not in run["seconds"] and "ratio" not in run
    text = bench.markdown({"setting": "small", "repeats": 1, "environment": bench.environment(), "experiments": out})
    assert "(est.)" in text and "one cell in 2 of each experiment" in text and "**Partial**" not in text
    fit = sum(c["fit_seconds"] for c in run["cells_naive"])
    assert f"| dnn | {fit:.1f} |" in text  # fit seconds by model


def test_overlap_section_times_both_ways_and_compares_the_tree_results(bench, fashion):
    """Trees in line against trees on a background thread, through the runner: both timed,
    the ratio is theirs, the seeded tree fits give the same results, the summary says so."""
    exp = replace(load_experiment("constant_damage", "smoke"), models=("rf", "dnn"))
    ov = bench.overlap_section("tiny overlap", exp, repeats=1, data=fashion, threads=1)
    assert set(ov["seconds"]) == {"0", "1"} and all(len(v) == 1 for v in ov["seconds"].values())
    assert ov["ratio"] == pytest.approx(ov["median_seconds"]["0"] / ov["median_seconds"]["1"], rel=1e-2)
    assert ov["tree_results_identical"] is True and ov["fits"] == 4 and ov["tree_fits"] == 2
    res = {"setting": "small", "repeats": 1, "environment": bench.environment(), "overlap": ov}
    text = bench.markdown(res)
    assert "## Trees beside the networks" in text and f"**{ov['ratio']:.2f}x**" in text


def test_gpu_busy_is_taken_while_networks_train(bench):
    """The GPU target is the utilisation while fused networks train: the samples inside the
    recorded windows, pooled over experiments by their sample counts; nothing where nothing
    was sampled (no nvidia-smi)."""
    from sections.common import GpuSampler
    from sections.experiments import gpu_busy_while_networks_train

    sampler = GpuSampler()
    sampler.samples = [(0.0, 10.0, 100.0), (1.0, 90.0, 200.0), (2.0, 80.0, 300.0), (3.0, 0.0, 100.0)]
    use = sampler.summary([(0.5, 2.5)])
    assert use["all"]["mean_utilisation_pct"] == pytest.approx(45.0) and use["all"]["share_nonzero"] == 0.75
    assert use["all"]["peak_memory_mib"] == 300.0
    assert use["while_networks_train"]["samples"] == 2
    assert use["while_networks_train"]["mean_utilisation_pct"] == pytest.approx(85.0)
    other = {"all": {"samples": 6}, "while_networks_train": {"samples": 6, "mean_utilisation_pct": 65.0}}
    runs = [{"gpu_use": {"auto": [use]}}, {"gpu_use": {"auto": [other], "naive": [other]}}, {}]
    assert gpu_busy_while_networks_train(runs) == pytest.approx((85.0 * 2 + 65.0 * 6) / 8, abs=0.05)
    assert gpu_busy_while_networks_train([{}]) is None


def test_threads_section_times_xgboost_alone_and_beside(bench, fashion):
    """A tiny run of the threads section: every variant timed, xgboost's predictions compared
    across thread counts, a policy chosen by its stated rule, and the machine's load recorded."""
    pytest.importorskip("xgboost")
    from sections.threads import threads_section

    out = threads_section(fashion, repeats=1, rows=300, rounds=2)
    assert out["rows"] == 300 and out["rounds"] == 2
    assert {"xgb nthread=1", "xgb nthread=1 (thread)", "rf n_jobs=-1", "dnn"} <= set(out["alone_median"])
    assert all(v > 0 for v in out["alone_median"].values())
    assert {"dnn", "rf n_jobs=-1"} <= {k.split("| ")[1] for k in out["pairs"]}
    for pair in out["pairs"].values():
        assert pair["beside_over_in_line"] == pytest.approx(pair["wall_median"] / pair["in_line_seconds"], rel=1e-2)
    policy = out["policy"]
    assert policy["xgb_nthread"] in (1, out["cores"]) and policy["best_alone"] in out["alone_median"]
    assert out["xgb_predictions_identical_across_nthread"] in (True, False)
    assert isinstance(policy["trees_beside_networks"], bool)
    assert len(out["machine_load_before"]["loadavg"]) == 3
    text = bench.markdown({"setting": "small", "repeats": 1, "environment": bench.environment(), "threads": out})
    assert "xgboost's threads" in text and "Policy: xgboost nthread=" in text


def test_keep_turns_the_optimised_run_into_a_results_folder_and_refuses_a_used_one(bench, fashion, tmp_path):
    """--keep DIR: the optimised side writes its fits into DIR (a results folder the runner
    would resume), the naive side still into a throw-away store; a folder already holding fits
    of the experiment is refused before anything runs, since the run would resume, not time."""
    from datavsmath.training.store import ResultStore

    exp = load_experiment("constant_damage", "smoke").with_options(models=["dnn"])
    exp = replace(exp, frac_damage=(0.0, 0.5))
    keep = tmp_path / "kept"
    out = bench.run_subsets([("kept", exp)], repeats=1, data=fashion, keep=keep)
    stored = ResultStore(keep).to_frame()
    assert len(stored) == exp.n_fits == 2 and set(stored["backend"]) == {"fused"}
    assert out["kept_in"] == str(keep)
    text = bench.markdown({"setting": "small", "repeats": 1, "environment": bench.environment(), "experiments": out})
    assert f"kept in `{keep}`" in text
    (run,) = out["runs"]
    assert sorted(c["acc"] for c in run["cells_optimised"]) == pytest.approx(sorted(stored["acc"]))
    with pytest.raises(SystemExit, match="already holds fits of constant_damage"):
        bench.run_subsets([("again", exp)], repeats=1, data=fashion, keep=keep)
