"""The specs in reproduce/ hold the reference's grids; seeds are deterministic."""

import numpy as np
import pytest

from datavsmath.errors import UserError
from datavsmath.experiments import (CROSS_DAMAGE_GRID, DAMAGE_GRID, PROFILES, SAMPLE_GRID, derive_seed,
                                    experiment_names, load_experiment)

ALL = ["size", "random_damage", "constant_damage", "size_x_damage"]


def test_reference_grids():
    assert len(SAMPLE_GRID) == 28 and SAMPLE_GRID[:3] == (0.01, 0.02, 0.03) and SAMPLE_GRID[-1] == 1.0
    assert SAMPLE_GRID[9:18] == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert len(DAMAGE_GRID) == 28 and DAMAGE_GRID[0] == 0.0 and DAMAGE_GRID[-1] == 0.99
    assert experiment_names() == ALL


def test_full_profile_equals_the_r_testbench():
    size, rnd, const, cross = (load_experiment(n, "full") for n in ALL)
    assert size.frac_sample == SAMPLE_GRID and size.frac_damage == (0.0,) and size.damage == "none"
    for exp, kind in ((rnd, "random"), (const, "constant")):
        assert exp.frac_damage == DAMAGE_GRID and exp.frac_sample == (1.0,) and exp.damage == kind
        assert exp.full_sample_order == "file"
    assert cross.frac_sample == SAMPLE_GRID and cross.frac_damage == CROSS_DAMAGE_GRID
    assert cross.models == ("cnn",) and cross.damage == "constant" and cross.damage_shift == 1
    for exp in (size, rnd, const):
        assert exp.models == ("rf", "xgb", "dnn", "cnn")
    assert sum(e.n_fits for e in (size, rnd, const, cross)) == 504


def test_quick_covers_every_experiment_and_model_and_says_it_is_a_preview():
    quick = [load_experiment(n, "quick") for n in ALL]
    assert {m for e in quick for m in e.models} == {"rf", "xgb", "dnn", "cnn"}
    assert all("QUICK PREVIEW" in e.note for e in quick)


def test_seeds_are_deterministic_distinct_and_share_draws_across_damage():
    exp = load_experiment("size_x_damage", "full")
    cells = exp.cells()
    assert cells == load_experiment("size_x_damage", "full").cells()
    assert len({c.seed for c in cells}) == len(cells)
    by_s = {}
    for c in cells:
        by_s.setdefault(c.frac_sample, set()).add(c.draw_seed)
    assert all(len(v) == 1 for v in by_s.values())  # same rows for every damage level
    two = exp.with_options(replicates=2).cells()
    assert len(two) == 2 * len(cells) and two[: len(cells)] == cells
    assert derive_seed("a", 1) == derive_seed("a", 1) != derive_seed("a", 2)
    assert cells[0].model_seed("cnn") != cells[0].model_seed("rf")


def test_bad_specs_and_options(tmp_path):
    with pytest.raises(UserError, match="no experiment 'nope'"):
        load_experiment("nope")
    with pytest.raises(UserError, match="unknown profile"):
        load_experiment("size", "huge")
    (tmp_path / "bad.toml").write_text('models = ["rf"]\nfrac_sample = [0.5, 1.5]\n')
    with pytest.raises(UserError, match="1.5"):
        load_experiment("bad", "full", tmp_path)
    (tmp_path / "bad.toml").write_text('models = ["svm"]\n')
    with pytest.raises(UserError, match="svm"):
        load_experiment("bad", "full", tmp_path)
    with pytest.raises(UserError, match="has no model"):
        load_experiment("size_x_damage").with_options(models=["rf"])
    with pytest.raises(UserError, match="at least 1"):
        load_experiment("size").with_options(replicates=0)
    assert set(PROFILES) == {"full", "quick", "smoke"}
