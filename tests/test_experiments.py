"""The specs in reproduce/ hold the reference's grids; seeds are deterministic."""

import pytest

from datavsmath.errors import UserError
from datavsmath.experiments import (CROSS_DAMAGE_GRID, DAMAGE_GRID, PROFILES, SAMPLE_GRID, derive_seed,
                                    experiment_names, load_experiment, load_spec, spec_dir, validate_spec)

R_RUNS = ["size", "random_damage", "constant_damage", "size_x_damage"]
ALL = R_RUNS + ["noise_models"]  # noise_models: ours, not an R run


def test_reference_grids():
    assert len(SAMPLE_GRID) == 28 and SAMPLE_GRID[:3] == (0.01, 0.02, 0.03) and SAMPLE_GRID[-1] == 1.0
    assert SAMPLE_GRID[9:18] == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert len(DAMAGE_GRID) == 28 and DAMAGE_GRID[0] == 0.0 and DAMAGE_GRID[-1] == 0.99
    assert experiment_names() == ALL + ["pruning", "pretraining", "pretraining_mnist"]  # ours, after the R runs


def test_full_profile_equals_the_r_testbench():
    size, rnd, const, cross = (load_experiment(n, "full") for n in R_RUNS)
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
    assert {m for e in quick[:4] for m in e.models} == {"rf", "xgb", "dnn", "cnn"}
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


# --- spec validation: every bad spec is one UserError naming file, key and value ------------
GOOD = 'models = ["rf", "dnn"]\n'


@pytest.mark.parametrize("text, fragments", [
    # unknown keys are typos: without this the run trains on all rows
    (GOOD + "frac_sampel = [0.5]\n", ["frac_sampel = [0.5]", "unknown key", "did you mean frac_sample?"]),
    (GOOD + "[profiles.smoke]\nfrac_sampel = [0.5]\n", ["[profiles.smoke] frac_sampel", "did you mean frac_sample?"]),
    (GOOD + "[profiles.smok]\nfrac_sample = [0.5]\n", ["[profiles.smok]", "did you mean [profiles.smoke]?"]),
    # wrong types
    (GOOD + 'replicates = "two"\n', ['replicates = "two"', "an integer of at least 1"]),
    (GOOD + "seed = 1.5\n", ["seed = 1.5", "an integer"]),
    (GOOD + "seed = true\n", ["seed = true", "an integer"]),
    (GOOD + "title = 3\n", ["title = 3", "a string"]),
    ('models = "svm"\n', ['models = "svm"', 'no model "svm"']),
    ("models = [1, 2]\n", ["models = [1, 2]", "registered model names"]),
    ("models = []\n", ["models = []", "registered model names"]),
    # out of range
    (GOOD + "frac_sample = [0.0]\n", ["frac_sample = [0.0]", "0 training rows", "at least 10"]),
    (GOOD + "frac_sample = 0.00001\n", ["frac_sample = 1e-05", "0 training rows"]),
    (GOOD + "frac_sample = [0.1, 0.1]\n", ["frac_sample = [0.1, 0.1]", "repeats"]),
    (GOOD + "replicates = 0\n", ["replicates = 0", "at least 1"]),
    (GOOD + 'damage = "constant"\ndamage_shift = 10\nfrac_damage = [0.5]\n',
     ["damage_shift = 10", "maps every class to itself", "1 to 9"]),
    (GOOD + 'damage = "constant"\ndamage_shift = -20\nfrac_damage = [0.5]\n', ["damage_shift = -20", "itself"]),
    # unknown choices
    (GOOD + 'full_sample_order = "sorted"\n', ['full_sample_order = "sorted"', '"drawn", "file"']),
    (GOOD + 'dataset = "cifar"\n', ['dataset = "cifar"', '"fashion"']),
    (GOOD + 'damage = "evil"\n', ['damage = "evil"', '"none", "random", "symmetric", "constant"']),
    # combinations that mean nothing
    (GOOD + "frac_damage = [0.0, 0.9]\n", ["frac_damage = [0.0, 0.9]", "no damage rule", 'damage = "random"']),
    (GOOD + 'damage = "random"\ndamage_shift = 2\n', ["damage_shift = 2", 'damage = "constant" or "pair" only']),
    (GOOD + '[profiles.smoke]\nfrac_damage = [0.5]\n', ["[profiles.smoke] frac_damage = [0.5]", "no damage rule"]),
    ('seed = 1\n', ["set models"]),
    (GOOD + 'order = "first"\n', ['order = "first"', "an integer"]),
    # not TOML at all
    (GOOD + "frac_sample = [0.5\n", ["is not valid TOML", "fix or remove the file"]),
])
def test_bad_spec_is_one_clear_error_naming_file_key_and_value(tmp_path, text, fragments):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        load_experiment("mine", "full", tmp_path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_every_profile_of_a_spec_is_checked_whatever_profile_is_loaded(tmp_path):
    (tmp_path / "mine.toml").write_text(GOOD + "[profiles.smoke]\nreplicates = 0\n")
    with pytest.raises(UserError, match=r"\[profiles.smoke\] replicates = 0"):
        load_experiment("mine", "full", tmp_path)


def test_a_single_name_or_fraction_where_a_list_is_expected_is_a_list_of_one(tmp_path):
    (tmp_path / "mine.toml").write_text('models = "rf"\nfrac_sample = 0.5\n')
    exp = load_experiment("mine", "full", tmp_path)
    assert exp.models == ("rf",) and exp.frac_sample == (0.5,)  # not ('r', 'f')
    assert load_experiment("size", "smoke").with_options(models="rf").models == ("rf",)


def test_a_user_spec_file_loads_by_path_named_after_the_file(tmp_path):
    path = tmp_path / "my-grid.toml"
    path.write_text('models = ["rf"]\ndamage = "constant"\ndamage_shift = 3\nfrac_sample = [0.01]\n'
                    'frac_damage = [0.0, 0.2]\nreplicates = 2\n[profiles.smoke]\nfrac_damage = [0.0]\n')
    exp = load_spec(path)
    assert (exp.name, exp.damage_shift, exp.replicates, exp.n_fits) == ("my-grid", 3, 2, 4)
    assert load_spec(path, "smoke").frac_damage == (0.0,)


def test_shipped_specs_pass_the_schema():
    for name in ALL + ["pruning"]:
        validate_spec(spec_dir() / f"{name}.toml")


def test_a_broken_spec_is_listed_last_and_does_not_break_the_others(tmp_path):
    for name in ALL:
        (tmp_path / f"{name}.toml").write_text((spec_dir() / f"{name}.toml").read_text())
    (tmp_path / "broken.toml").write_text("models = [\n")
    assert experiment_names(tmp_path) == ALL + ["broken"]
    assert load_experiment("size", "smoke", tmp_path).n_fits == 4
    with pytest.raises(UserError, match=r"broken.toml is not valid TOML"):
        load_experiment("broken", "smoke", tmp_path)
