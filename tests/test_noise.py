"""Noise models as data: every damage rule keeps the exact stratified count, moves damaged
labels only along its matrix's allowed transitions, leaves the other rows alone and is
deterministic by seed; R's two rules give exactly the labels they always gave; user matrices
are checked at the edge; the noise_models spec runs, records its realised counts and resumes."""

import hashlib
import json

import numpy as np
import pytest
from datavsmath.cli import main
from datavsmath.damage import (
    confusion_rule,
    constant_damage,
    damage_labels,
    instance_damage,
    matrix_rule,
    pair_rule,
    random_damage,
    symmetric_rule,
    transition_counts,
)
from datavsmath.errors import UserError
from datavsmath.experiments import load_experiment, load_spec
from datavsmath.noise import (
    NOISE_RULES,
    RULE_NEEDS_MATRIX,
    damage_by_rule,
    parse_counts,
    parse_damage_option,
    read_matrix,
    realised_rates,
    register_rule,
    rule_matrix,
    shipped_confusion,
    uncertainty_proba,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

K = 10
labels = st.lists(st.integers(0, K - 1), min_size=1, max_size=300).map(lambda v: np.array(v, dtype=np.uint8))
fracs = st.floats(0.0, 1.0)
seeds = st.integers(0, 2**32 - 1)
# a transition matrix: non-negative weights with a zero diagonal and some weight in every row
weights = hnp.arrays(np.float64, (K, K), elements=st.floats(0, 5)).map(
    lambda m: m + np.roll(np.eye(K), 1, axis=1) * 1e-3)


def _proba(y, seed):
    """Fake model probabilities, (n, K), some rows certain and some zero entries."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(K, 0.3), size=len(y))
    p[rng.random(len(y)) < 0.2] = np.eye(K)[rng.integers(0, K)]
    return p


def _apply(rule, y, frac, seed, matrix=None):
    """Damage by ``rule`` and return (damaged labels, allowed transitions (K, K) bool)."""
    rng = np.random.default_rng(seed)
    if rule == "instance":
        return instance_damage(y, frac, _proba(y, seed), rng), ~np.eye(K, dtype=bool)
    if rule == "matrix":
        m = matrix_rule(matrix)
    elif rule == "confusion":
        m = confusion_rule(shipped_confusion())
    else:
        m = rule_matrix(rule, K)
    return damage_labels(y, frac, m, rng), m > 0


RULES = ["symmetric", "pair", "confusion", "matrix", "instance"]


@given(labels, fracs, seeds, st.sampled_from(RULES), weights)
@settings(max_examples=300, deadline=None)
def test_every_rule_keeps_counts_and_allowed_transitions_and_leaves_clean_rows(y, frac, seed, rule, w):
    np.fill_diagonal(w, 0.0)
    before = y.copy()
    out, allowed = _apply(rule, y, frac, seed, w)
    np.testing.assert_array_equal(y, before)  # input untouched
    assert out.dtype == y.dtype and out.shape == y.shape
    changed = out != y
    counts = transition_counts(y, out)
    for c in range(K):
        n_c = int((y == c).sum())
        k_c = int(np.rint(frac * n_c))
        # every rule has a zero diagonal, so the chosen rows are exactly the changed ones
        assert changed[y == c].sum() == k_c
        assert counts[c, c] == n_c - k_c  # the clean rows of class c keep their label
    assert np.all(allowed[y[changed], out[changed]]), "a label moved along a forbidden transition"


@given(labels, fracs, seeds, st.sampled_from(RULES), weights)
@settings(max_examples=100, deadline=None)
def test_every_rule_is_deterministic_by_seed(y, frac, seed, rule, w):
    np.fill_diagonal(w, 0.0)
    a, _ = _apply(rule, y, frac, seed, w)
    b, _ = _apply(rule, y, frac, seed, w)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rule", RULES)
def test_different_seeds_give_different_damage(fashion, rule):
    y = fashion.y_train[:3000]
    w = np.ones((K, K)) - np.eye(K)
    outs = [_apply(rule, y, 0.3, seed, w)[0] for seed in (1, 2, 3)]
    assert not np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[1], outs[2])


# --- R's two rules: exactly the labels they always gave -------------------------------------
def _legacy_damage(y, frac, rule, rng, n_classes=10):
    """damage.damage_labels as it was before the noise rules were added (commit 728527c)."""
    mask = np.zeros(y.shape, dtype=bool)
    for c in range(n_classes):
        rows = np.flatnonzero(y == c)
        k = int(np.rint(frac * rows.size))
        if k:
            mask[rng.choice(rows, size=k, replace=False)] = True
    out = y.copy()
    for c in range(n_classes):
        rows = np.flatnonzero(mask & (y == c))
        if rows.size:
            out[rows] = rng.choice(n_classes, size=rows.size, p=rule[c])
    return out


def _digest(a) -> str:
    return hashlib.sha256(np.asarray(a, dtype=np.int64).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("frac, seed", [(0.01, 2019), (0.3, 7), (0.5, 1), (0.99, 42)])
def test_symmetric_and_pair_are_r_random_and_constant_draw_for_draw(fashion, frac, seed):
    y = fashion.y_train
    legacy_random = np.full((K, K), 1 / 9)
    np.fill_diagonal(legacy_random, 0)
    legacy_constant = np.roll(np.eye(K), 1, axis=1)
    for name, legacy in (("random", legacy_random), ("symmetric", legacy_random),
                         ("constant", legacy_constant), ("pair", legacy_constant)):
        want = _legacy_damage(y, frac, legacy, np.random.default_rng(seed))
        got = damage_by_rule(y, frac, name, np.random.default_rng(seed))
        np.testing.assert_array_equal(got, want, err_msg=name)
    np.testing.assert_array_equal(random_damage(y, frac, np.random.default_rng(seed)),
                                  _legacy_damage(y, frac, legacy_random, np.random.default_rng(seed)))
    np.testing.assert_allclose(symmetric_rule(), legacy_random, atol=1e-15)
    np.testing.assert_allclose(pair_rule(), legacy_constant, atol=0)


def test_pinned_labels_of_the_shipped_experiments(fashion):
    """Digests of the damaged labels that the implementation before the noise rules produced
    (the shipped results were trained on them)."""
    from datavsmath.training.units import training_data

    y = fashion.y_train
    assert _digest(random_damage(y, 0.3, np.random.default_rng(2019))) == "af54521d57ab7781"
    assert _digest(random_damage(y, 0.95, np.random.default_rng(5))) == "cd8c815f724e506d"
    assert _digest(constant_damage(y, 0.5, np.random.default_rng(7))) == "c64683a5867577bf"
    assert _digest(constant_damage(y, 0.3, np.random.default_rng(1), shift=3)) == "f21c78b8e1999e73"
    want = {"random_damage": "14689f3e4a08c8dc", "constant_damage": "4138a4b2a77ead65",
            "size_x_damage": "a9813a005ece1721"}
    for name, digest in want.items():
        exp = load_experiment(name, "quick")
        cell = next(c for c in exp.cells() if c.frac_damage == 0.3)
        assert _digest(training_data(exp, cell, fashion)[1]) == digest, name


# --- confusion, matrix, instance --------------------------------------------------------------
def test_shipped_confusion_sends_shirts_to_tshirts_pullovers_and_coats():
    counts = shipped_confusion()
    assert counts.shape == (K, K) and counts.sum() == 10000 and np.all(counts.sum(1) == 1000)
    rule = confusion_rule(counts)
    np.testing.assert_allclose(rule.sum(1), 1, atol=1e-12)
    assert np.all(np.diag(rule) == 0)
    assert set(np.argsort(rule[6])[-3:]) == {0, 2, 4}  # Shirt -> T-shirt/top, Pullover, Coat
    assert np.argmax(rule[0]) == 6 and np.argmax(rule[2]) == 4


def test_confusion_damage_follows_its_matrix_on_real_labels(fashion):
    y = fashion.y_train
    out = damage_by_rule(y, 0.5, "confusion", np.random.default_rng(0))
    realised = realised_rates(transition_counts(y, out))
    assert realised["rate"] == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_allclose(realised["class_rates"], 0.5, atol=1e-12)
    # 3,000 moved labels per class: the realised rows lie within sampling noise of the nominal
    np.testing.assert_allclose(realised["matrix"], confusion_rule(shipped_confusion()), atol=0.04)


@pytest.mark.parametrize("side", [28, 8])
def test_uncertainty_forest_uses_r_mtry_for_the_image_size(side, monkeypatch):
    """mtry is floor(sqrt(features)) as in the models, not Fashion-MNIST's 28 everywhere."""
    import sklearn.ensemble

    seen = []

    class Recording(sklearn.ensemble.RandomForestClassifier):
        def fit(self, *a, **k):
            seen.append(self.max_features)
            return super().fit(*a, **k)

    monkeypatch.setattr(sklearn.ensemble, "RandomForestClassifier", Recording)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 6)
    x = rng.integers(0, 256, (len(y), side, side))
    uncertainty_proba(x, y, seed=5)
    assert seen and set(seen) == {side}


def test_instance_damage_picks_uncertain_rows_towards_confused_classes(small_slice):
    x, y = small_slice
    proba = uncertainty_proba(x, y, seed=3)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-9)
    np.testing.assert_array_equal(proba, uncertainty_proba(x, y, seed=3))  # deterministic by seed
    out = instance_damage(y, 0.3, proba, np.random.default_rng(0))
    moved = out != y
    u = 1 - proba.max(1)
    assert u[moved].mean() > u[~moved].mean() + 0.1
    # destinations follow the scoring model: most moved labels go where it put the most weight
    others = proba.copy()
    others[np.arange(len(y)), y] = -1
    assert (out[moved] == others[moved].argmax(1)).mean() > 0.4


def test_transition_counts_and_their_text_round_trip():
    y = np.array([0, 0, 1, 2, 2, 2])
    z = np.array([0, 1, 1, 0, 2, 1])
    m = transition_counts(y, z, 3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 1, 1]])
    from datavsmath.noise import counts_text

    text = counts_text(y, z, 3)
    assert " " not in text
    np.testing.assert_array_equal(parse_counts(text), m)
    assert parse_counts(float("nan")) is None
    r = realised_rates(m)
    assert r["rate"] == pytest.approx(3 / 6)
    np.testing.assert_allclose(r["class_rates"], [0.5, 0.0, 2 / 3])


# --- user matrices: checked at the edge --------------------------------------------------------
@pytest.mark.parametrize("matrix, message", [
    (np.ones((3, 3)) - np.eye(3), r"10 x 10 matrix .* got shape \(3, 3\)"),
    (np.eye(K), r"matrix\[0, 0\] is 1; the diagonal must be 0"),
    (-(np.ones((K, K)) - np.eye(K)), r"matrix\[0, 1\] is -1; entries must be non-negative"),
    (np.where(np.eye(K) > 0, 0, np.nan), r"entries must be finite"),
    (np.zeros((K, K)), r"row 0 of matrix has no off-diagonal weight"),
])
def test_bad_matrix_is_named(matrix, message):
    with pytest.raises(ValueError, match=message):
        matrix_rule(matrix)


def test_matrix_rows_are_scaled_to_sum_to_one():
    w = np.roll(np.eye(K), 1, axis=1) * 7 + np.roll(np.eye(K), 2, axis=1) * 3
    np.testing.assert_allclose(matrix_rule(w)[0, [1, 2]], [0.7, 0.3])


def _write(path, rows, header=None):
    lines = ([header] if header else []) + [",".join(str(v) for v in r) for r in rows]
    path.write_text("# a comment\n" + "\n".join(lines) + "\n")
    return path


def test_read_matrix_accepts_a_header_and_names_what_is_wrong(tmp_path):
    good = np.ones((K, K)) - np.eye(K)
    m = read_matrix(_write(tmp_path / "m.csv", good, header=",".join(f"c{i}" for i in range(K))), K)
    np.testing.assert_allclose(m, good)
    with pytest.raises(ValueError, match=r"must hold a 10 x 10 matrix .* found 3 rows"):
        read_matrix(_write(tmp_path / "small.csv", good[:3]), K)
    bad = good.astype(object)
    bad[2, 5] = "x"
    with pytest.raises(ValueError, match=r"row 2, column 5 is 'x', not a number"):
        read_matrix(_write(tmp_path / "text.csv", bad), K)
    with pytest.raises(ValueError, match="cannot read the matrix file"):
        read_matrix(tmp_path / "absent.csv", K)


def test_damage_option_parsing():
    assert parse_damage_option("confusion") == ("confusion", None)
    assert parse_damage_option("matrix:m.csv") == ("matrix", "m.csv")
    for text, message in (("bogus", "unknown damage rule 'bogus'"), ("matrix", "needs a file"),
                          ("random:m.csv", "takes no file")):
        with pytest.raises(ValueError, match=message):
            parse_damage_option(text)
    assert set(NOISE_RULES) >= {"symmetric", "pair", "confusion", "matrix", "instance"}


def test_a_rule_is_registered_in_one_place(tmp_path):
    """One register_rule call makes a rule drawable, nameable in a spec and on the command line,
    and listed where the rules are listed; the schema's help and --help read the registry."""
    from datavsmath.commands.run import _damage_help
    from datavsmath.experiments import DAMAGE_RULES, SPEC_KEYS

    assert DAMAGE_RULES == ("none", *NOISE_RULES)
    assert all(name in SPEC_KEYS["damage"] and name in _damage_help() for name in NOISE_RULES)
    assert RULE_NEEDS_MATRIX == {"matrix": True, "confusion": False}
    y = np.arange(200) % K
    register_rule("reverse", "y -> K - 1 - y", matrix=lambda k, **_: np.eye(k)[::-1])
    try:
        out = damage_by_rule(y, 0.5, "reverse", np.random.default_rng(0), K)
        changed = out != y
        assert changed.sum() == 100 and np.all(out[changed] == K - 1 - y[changed])
        assert parse_damage_option("reverse") == ("reverse", None)
        spec = tmp_path / "s.toml"
        spec.write_text('models = ["rf"]\ndamage = "reverse"\nfrac_damage = [0.0, 0.2]\n')
        assert load_spec(spec, "full").damage == "reverse"
        with pytest.raises(ValueError, match="give a transition matrix or a draw function"):
            register_rule("neither", "no way to draw")
    finally:
        del NOISE_RULES["reverse"]


def test_cli_damage_matrix_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as exc:
        main(["run", "random_damage", "--damage", "bogus", out])
    assert exc.value.code == 2 and "unknown damage rule 'bogus'" in capsys.readouterr().err
    small = _write(tmp_path / "small.csv", np.ones((3, 3)) - np.eye(3))
    assert main(["run", "random_damage", "--profile", "smoke", "--damage", f"matrix:{small}", out]) == 2
    assert "must hold a 10 x 10 matrix" in capsys.readouterr().err
    diag = _write(tmp_path / "diag.csv", np.ones((K, K)))
    assert main(["run", "random_damage", "--profile", "smoke", "--damage", f"matrix:{diag}", out]) == 2
    assert "diagonal must be 0" in capsys.readouterr().err
    assert main(["run", "size", "--profile", "smoke", "--damage", "confusion", out]) == 2
    assert "size damages none" in capsys.readouterr().err
    assert not (tmp_path / "out" / "cells").exists()


def test_cli_damage_renames_the_experiment(tmp_path):
    good = _write(tmp_path / "mine.csv", np.ones((K, K)) - np.eye(K))
    exp = load_experiment("random_damage", "smoke").with_options(damage=("matrix", str(good)))
    assert exp.name == "random_damage-matrix-mine" and exp.damage == "matrix"
    assert exp.damage_matrix == str(good.resolve())


def test_spec_damage_keys_are_checked(tmp_path):
    spec = tmp_path / "s.toml"
    for text, message in (
        ('models = ["rf"]\ndamage = "matrix"\nfrac_damage = [0.0, 0.2]\n', "needs damage_matrix"),
        ('models = ["rf"]\ndamage = "random"\ndamage_matrix = "m.csv"\nfrac_damage = [0.2]\n',
         "applies to damage = \"matrix\" or \"confusion\" only"),
        ('models = ["rf"]\ndamage = ["random", "bogus"]\nfrac_damage = [0.2]\n', "a list of distinct damage rules"),
        ('models = ["rf"]\ndamage = "matrix"\ndamage_matrix = "small.csv"\nfrac_damage = [0.2]\n',
         "damage_matrix = \"small.csv\": .* must hold a 10 x 10 matrix"),
    ):
        _write(tmp_path / "small.csv", np.ones((3, 3)))
        spec.write_text(text)
        with pytest.raises(UserError, match=message):
            load_spec(spec)
    _write(tmp_path / "ok.csv", np.ones((K, K)) - np.eye(K))
    spec.write_text('models = ["rf"]\ndamage = "matrix"\ndamage_matrix = "ok.csv"\nfrac_damage = [0.2]\n')
    assert load_spec(spec).damage_matrix == str((tmp_path / "ok.csv").resolve())


def test_noise_models_spec_grid():
    for profile in ("full", "quick", "smoke"):
        exp = load_experiment("noise_models", profile)
        cells = exp.cells()
        assert exp.rules == ("symmetric", "pair", "confusion", "instance") and exp.rule_axis
        assert len({(c.frac_sample, c.frac_damage, c.replicate, c.rule) for c in cells}) == len(cells)
        assert all(c.rule == "none" for c in cells if c.frac_damage == 0)
        assert len({c.seed for c in cells}) == len(cells)
        assert len({c.draw_seed for c in cells if c.replicate == 0}) == 1  # one draw per replicate
    assert "QUICK PREVIEW" in load_experiment("noise_models", "quick").note


@pytest.mark.slow
def test_noise_models_smoke_run_records_counts_and_resumes(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", "noise_models", "--profile", "smoke", str(out), "--no-progress"]) == 0
    cells = sorted((out / "cells" / "noise_models").glob("*.json"))
    assert len(cells) == 10
    for path in cells:
        rec = json.loads(path.read_text())
        counts = parse_counts(rec["transition_counts"])
        assert counts.sum() == rec["n_train"] and path.stem.endswith("_" + rec["noise_rule"])
        assert rec["damage"] == rec["noise_rule"]
        n_c = counts.sum(1)
        np.testing.assert_array_equal(n_c - np.diag(counts), np.rint(rec["frac_damage"] * n_c))
    capsys.readouterr()
    assert main(["run", "noise_models", "--profile", "smoke", str(out), "--no-progress"]) == 0
    assert "all 10 fits already stored" in capsys.readouterr().out


# --- the statistics and the verdict of the noise-models page ----------------------------------
def _synthetic(costs: dict, reps: int = 4, noise: float = 0.002, k: int = K):
    """noise_models-shaped results: accuracy 0.8 clean, minus ``costs[rule] * d`` (+ noise)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    y = np.arange(k).repeat(30)
    rows = []
    for r in range(reps):
        for model in ("rf", "dnn"):
            rows.append({"experiment": "noise_models", "model": model, "frac_sample": 0.05, "frac_damage": 0.0,
                         "replicate": r, "noise_rule": "none", "damage": "none", "acc": 0.8, "auc": 0.98,
                         "transition_counts": json.dumps(transition_counts(y, y).tolist())})
            for rule, cost in costs.items():
                for d in (0.1, 0.3, 0.5):
                    z = damage_by_rule(y, d, "symmetric" if rule == "instance" else rule, np.random.default_rng(r))
                    rows.append({"experiment": "noise_models", "model": model, "frac_sample": 0.05,
                                 "frac_damage": d, "replicate": r, "noise_rule": rule, "damage": rule,
                                 "acc": 0.8 - cost * d + rng.normal(0, noise), "auc": 0.98 - cost * d / 10,
                                 "transition_counts": json.dumps(transition_counts(y, z).tolist())})
    return pd.DataFrame(rows)


def test_slopes_recover_known_costs_and_the_verdict_separates_the_worst_rule():
    from datavsmath.report.noise import noise_verdict, realised_view, slopes_view
    from datavsmath.stats.noise import damage_slopes, realised_table, rule_comparison

    res = _synthetic({"symmetric": 0.1, "pair": 0.5, "confusion": 0.2})
    slopes = damage_slopes(res)
    for rule, cost in {"symmetric": 0.1, "pair": 0.5, "confusion": 0.2}.items():
        row = slopes[(slopes["model"] == "rf") & (slopes["rule"] == rule)].iloc[0]
        assert row["slope"] == pytest.approx(cost, abs=0.01) and row["ci_low"] < row["slope"] < row["ci_high"]
        assert row["replicates"] == 4
    comp = rule_comparison(res)
    assert list(comp["worst"]) == ["pair", "pair"] and list(comp["runner_up"]) == ["confusion", "confusion"]
    assert comp["separated"].all() and comp["diff"].iloc[0] == pytest.approx(0.3, abs=0.01)
    text = noise_verdict(res)
    assert "Pair (R's constant, y -> y + 1) damage hurts most per unit of damage" in text
    real = realised_table(res)
    np.testing.assert_allclose(real["realised"], real["frac_damage"], atol=1e-12)
    assert (real.loc[real["rule"] == "pair", "matrix_tv"] == 0).all()
    assert len(slopes_view(res)) == 6 and len(realised_view(res)) == 9


def test_verdict_says_not_established_when_rules_overlap_and_undetermined_without_data():
    from datavsmath.report.noise import noise_verdict

    res = _synthetic({"symmetric": 0.30, "pair": 0.31}, reps=3, noise=0.05)
    assert "not established" in noise_verdict(res) or "not separated" in noise_verdict(res)
    empty = res[res["experiment"] == "other"]
    assert noise_verdict(empty).startswith("**Undetermined**")
