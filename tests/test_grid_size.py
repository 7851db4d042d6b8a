"""Bounded grids: a run states a large grid and asks before anything grows with it, counts and
plans it without holding it, and runs it a bounded piece at a time."""

import tracemalloc
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datavsmath.training.fused
import datavsmath.training.runner as runner
from datavsmath.cli import main
from datavsmath.commands.run import MAX_CPU_HOURS, MAX_FITS, check_grid_size
from datavsmath.errors import UserError
from datavsmath.experiments import experiment_names, load_experiment
from datavsmath.training.store import ResultStore
from datavsmath.training.units import fit_weight, grid_seconds, pending_summary

#: a run refused at the grid check allocates no more than this (Python's own allocations,
#: tracemalloc): the grid of 200 million fits would take tens of GB if it were built
REFUSAL_BYTES = 20 * 2**20


@pytest.mark.parametrize("how", ["option", "spec"])
def test_a_huge_grid_without_yes_is_refused_at_once_naming_the_flag(tmp_path, capsys, how):
    out = tmp_path / "res"
    if how == "option":
        args = ["run", "size", "--profile", "smoke", "--models", "rf", "--replicates", "100000000"]
    else:
        spec = tmp_path / "huge.toml"
        spec.write_text('models = ["rf", "dnn"]\nfrac_sample = [0.1]\nreplicates = 100000000\n')
        args = ["run", "--spec", str(spec)]
    tracemalloc.start()
    try:
        rc = main([*args, "--out", str(out), "--no-progress"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert rc == 2 and "200,000,000 fits" in err and "Rerun with --yes" in err and "nothing was started" in err
    assert peak < REFUSAL_BYTES, peak
    assert not out.exists()  # no folder, lock or session


def test_the_limits_let_the_shipped_grids_through_and_stop_larger_ones():
    every = [load_experiment(n, "full") for n in experiment_names()]
    check_grid_size(every, yes=False, ask=None)  # all eight at full: 1083 fits, about 101 CPU-hours
    assert sum(e.n_fits for e in every) <= MAX_FITS and sum(map(grid_seconds, every)) <= MAX_CPU_HOURS * 3600
    many = [e.with_options(replicates=11) for e in every]  # above 500 CPU-hours, below 11,000 fits
    with pytest.raises(UserError, match="--yes"):
        check_grid_size(many, yes=False, ask=None)
    check_grid_size(many, yes=True)


def test_at_a_terminal_the_user_is_asked(capsys):
    big = [load_experiment("size", "smoke").with_options(replicates=MAX_FITS)]
    questions = []
    check_grid_size(big, yes=False, ask=lambda q: questions.append(q) or True)
    assert len(questions) == 1 and f"{2 * MAX_FITS * 2:,} fits" in questions[0] and questions[0].endswith("[y/N] ")
    with pytest.raises(UserError, match="not confirmed; nothing was started"):
        check_grid_size(big, yes=False, ask=lambda q: False)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(experiment_names()), profile=st.sampled_from(["smoke", "quick", "full"]),
       replicates=st.integers(1, 4), chunk=st.integers(1, 300))
def test_counts_without_building_match_the_built_grid(name, profile, replicates, chunk):
    exp = load_experiment(name, profile).with_options(replicates=replicates)
    cells = exp.cells()
    assert exp.n_fits == len(exp.models) * len(cells)
    assert exp.cells_per_replicate * replicates == len(cells)
    chunks = list(exp.replicate_chunks(chunk))
    assert [r for c in chunks for r in c] == list(range(replicates))  # each replicate once, in order
    assert [c for part in chunks for c in exp.iter_cells(part)] == cells
    assert grid_seconds(exp) == pytest.approx(sum(fit_weight(m, c.n_train)
                                                  for c in cells for m in exp.models))


def test_a_grid_above_the_plan_size_runs_piece_by_piece_every_fit_once(tmp_path, monkeypatch):
    """The runner plans at most PLAN_FITS fits at a time (whole replicates): each piece goes to
    the executor on its own, and together they are the grid, each fit once."""
    exp = load_experiment("size", "smoke").with_options(replicates=5)  # 4 fits a replicate
    monkeypatch.setattr(runner, "PLAN_FITS", 8)
    monkeypatch.setattr(datavsmath.training.fused, "device_profile",
                        lambda: {"gpu": None, "gpu_free_bytes": None, "cpu_cores": 2})
    monkeypatch.setattr(runner, "device_label", lambda: "cpu")
    pieces = []
    monkeypatch.setattr(runner, "run_here", lambda exp, units, data, on_done, **kw: pieces.append(units))
    data = replace(load_experiment("size", "smoke"), name="fashion")  # stands in: only .name is read
    runner.run_experiment(exp, ResultStore(tmp_path), data, progress=False, log=lambda *a: None)
    fits = [(u.model, c) for units in pieces for u in units for c in u.cells]
    assert len(pieces) == 3 and len(fits) == len(set(fits)) == exp.n_fits
    assert [sorted({c.replicate for u in units for c in u.cells}) for units in pieces] == [[0, 1], [2, 3], [4]]
    assert pending_summary(exp, ResultStore(tmp_path))[0] == exp.n_fits  # the stand-in stored nothing
