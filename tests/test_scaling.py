"""The scaling statistics: R table method, likelihood, degenerate input, the R reference
tables, tables on disk and the ``datavsmath fit`` command. Simulation-based recovery and
coverage checks are in test_scaling_coverage.py."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from datavsmath.stats import scaling
from datavsmath.cli import main
from datavsmath.stats.curves import ScalingWarning, fit_curve
from datavsmath.training.store import read_results

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r-results"
FRACS = np.r_[np.arange(1, 10) / 100, np.arange(1, 10) / 10, np.arange(91, 101) / 100]
N_ROWS = 60000 * FRACS


def size_frame(err, model="m", fracs=FRACS, **extra):
    return pd.DataFrame({"experiment": "size", "dataset": "fashion", "model": model,
                         "frac_sample": fracs, "frac_damage": 0.0, "replicate": 0,
                         "acc": 1 - np.asarray(err), "auc": 1 - np.asarray(err) / 5, **extra})


def power_err(seed=0, a=1.2, b=0.25, c=0.0, sd=0.003):
    rng = np.random.default_rng(seed)
    return c + a * N_ROWS ** (-b) + sd * rng.standard_normal(N_ROWS.size)


# --------------------------------------------------------------------------------------------
# the R table method on a hand-made grid
def hand_grid():
    """4 qualities x 4 sample fractions; built so that the R rule's details matter: the lowest
    accuracy above 0.90 is not the smallest sample (q 0.7), a cell exactly at 0.90 does not
    count (strictly above), and no cell passes at q 0.8 (R then has no row)."""
    acc = {1.0: [0.88, 0.91, 0.93, 0.95],
           0.9: [0.86, 0.90, 0.9012, 0.94],
           0.8: [0.80, 0.85, 0.89, 0.899],
           0.7: [0.70, 0.80, 0.905, 0.903]}
    rows = [{"experiment": "size_x_damage", "dataset": "fashion", "model": "cnn",
             "frac_damage": round(1 - q, 10), "frac_sample": s, "replicate": 0, "acc": a,
             "auc": a + 0.08}
            for q, accs in acc.items() for s, a in zip([0.1, 0.2, 0.5, 1.0], accs)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


def test_r_table_method_on_hand_made_grid():
    res = scaling.observations_needed(hand_grid(), "acc", 0.90)
    # by hand: q 1.0 -> 0.91 at 0.2 (12000); q 0.9 -> 0.9012 at 0.5 (30000; 0.90 is not > 0.90),
    # d_obs (30000 - 12000) / 12000 = 1.5; q 0.8 -> nothing above 0.90, no row;
    # q 0.7 -> lowest above is 0.903 at 1.0 (not 0.905 at 0.5), d_obs vs q 0.9: 1.0
    expected = pd.DataFrame({"quality": [1.0, 0.9, 0.7], "acc": [0.91, 0.901, 0.903],
                             "frac_sample": [0.2, 0.5, 1.0], "num_obs": [12000.0, 30000.0, 60000.0],
                             "d_obs": [np.nan, 1.5, 1.0]})
    pd.testing.assert_frame_equal(res.table(), expected)
    assert res.missing_qualities == [0.8]
    assert "no cell exceeds the threshold" in str(res.summary())


def test_r_table_method_auc_and_replicates():
    grid = hand_grid()
    res = scaling.observations_needed(grid, "auc", 0.98)
    tab = res.table()
    assert list(tab.columns) == ["quality", "auc", "frac_sample", "num_obs", "d_obs"]
    assert tab["quality"].tolist() == [1.0, 0.9, 0.7]  # auc = acc + 0.08, threshold 0.98
    # two replicates averaging to the single-run grid give the same table
    up, down = grid.assign(acc=grid["acc"] + 0.01, replicate=0), grid.assign(acc=grid["acc"] - 0.01, replicate=1)
    rep = scaling.observations_needed(pd.concat([up, down]), "acc", 0.90).table()
    single = scaling.observations_needed(grid, "acc", 0.90).table()
    pd.testing.assert_frame_equal(rep[single.columns], single)


def test_r_rule_spread_across_replicates_by_hand():
    """R had one run per cell: with replicates, its rule on each run alone gives a spread of
    num_obs per quality, beside the table of averaged cells."""
    accs = {0: {1.0: [0.85, 0.92, 0.95, 0.97], 0.5: [0.6, 0.7, 0.8, 0.88]},
            1: {1.0: [0.91, 0.93, 0.95, 0.97], 0.5: [0.6, 0.7, 0.85, 0.91]},
            2: {1.0: [0.80, 0.89, 0.94, 0.96], 0.5: [0.6, 0.7, 0.8, 0.89]}}
    grid = pd.DataFrame([{"experiment": "size_x_damage", "dataset": "fashion", "model": "cnn",
                          "frac_damage": round(1 - q, 10), "frac_sample": s, "replicate": r, "acc": a}
                         for r, by_q in accs.items() for q, row in by_q.items()
                         for s, a in zip([0.1, 0.2, 0.5, 1.0], row)])
    res = scaling.observations_needed(grid, "acc", 0.90)
    # by hand, each run alone: q 1.0 -> 12000 (0.92 at 0.2), 6000 (0.91 at 0.1), 30000 (0.94 at
    # 0.5); q 0.5 -> only run 1 passes, at all 60000 rows
    spread = res.replicate_spread()
    assert spread["quality"].tolist() == [1.0, 0.5]
    assert spread["replicates"].tolist() == [3, 3] and spread["reaching"].tolist() == [3, 1]
    assert spread["num_obs_min"].tolist() == [6000.0, 60000.0]
    assert spread["num_obs_median"].tolist() == [12000.0, 60000.0]
    assert spread["num_obs_max"].tolist() == [30000.0, 60000.0]
    assert spread["num_obs_by_replicate"].tolist() == ["r0: 12000; r1: 6000; r2: 30000",
                                                       "r0: none; r1: 60000; r2: none"]
    # the averaged cells: q 1.0 -> mean 0.9133 at 0.2; q 0.5 never passes on average
    tab = res.table()
    assert tab["quality"].tolist() == [1.0] and tab["num_obs"].tolist() == [12000.0]
    assert tab[["reaching", "num_obs_min", "num_obs_max"]].iloc[0].tolist() == [3, 6000.0, 30000.0]
    assert res.missing_qualities == [0.5]
    assert "r0: none; r1: 60000; r2: none" in str(res.summary())
    # one run: no spread, the R columns only
    one = scaling.observations_needed(grid[grid["replicate"] == 0], "acc", 0.90)
    assert one.replicate_spread() is None
    assert list(one.table().columns) == ["quality", "acc", "frac_sample", "num_obs", "d_obs"]


# --------------------------------------------------------------------------------------------
# the likelihood: agrees with statsmodels' GLM where the form allows a log link
def test_power_and_exp_fits_match_gaussian_glm_with_log_link():
    err = power_err(seed=1)
    for form, design in (("power", np.log(N_ROWS)), ("exp", N_ROWS / N_ROWS.max())):
        fit = fit_curve(N_ROWS, err, form)
        # GLM: log e = beta0 + beta1 * design; Newton so that its covariance is the observed
        # information, as ours (IRLS would give the expected one)
        glm = sm.GLM(err, sm.add_constant(design),
                     family=sm.families.Gaussian(sm.families.links.Log())).fit(method="newton")
        np.testing.assert_allclose(fit.predict(N_ROWS), glm.fittedvalues, rtol=1e-6)
        rate = fit.params["b"] if form == "power" else fit.params["k"] * N_ROWS.max()
        assert rate == pytest.approx(-glm.params[1], rel=1e-5)
        # same residual variance estimate (RSS / (m - k)) -> same standard error of the rate
        se = fit.bse["b"] if form == "power" else fit.bse["k"] * N_ROWS.max()
        assert se == pytest.approx(glm.bse[1], rel=1e-4)


def test_weighted_fit_matches_weighted_glm():
    err = power_err(seed=2)
    w = np.linspace(0.5, 3.0, N_ROWS.size)
    fit = fit_curve(N_ROWS, err, "power", w)
    glm = sm.GLM(err, sm.add_constant(np.log(N_ROWS)), var_weights=w,
                 family=sm.families.Gaussian(sm.families.links.Log())).fit()
    assert fit.params["b"] == pytest.approx(-glm.params[1], rel=1e-5)


def test_information_criteria_count_the_noise_variance():
    fit = fit_curve(N_ROWS, power_err(), "power_floor")
    K, m = 4, N_ROWS.size
    assert fit.aic == pytest.approx(-2 * fit.llf + 2 * K)
    assert fit.bic == pytest.approx(-2 * fit.llf + np.log(m) * K)
    assert fit.aicc == pytest.approx(fit.aic + 2 * K * (K + 1) / (m - K - 1))


# --------------------------------------------------------------------------------------------
# learning curves, data needed, results objects
def test_fit_learning_curves_results_objects_and_table():
    df = pd.concat([size_frame(power_err(1), "a"), size_frame(power_err(2, c=0.05, a=3, b=0.5), "b")])
    with pytest.warns(ScalingWarning, match="negative floor"):  # "a" is a plain power law
        res = scaling.fit_learning_curves(df, metric=["acc", "auc"])
    assert len(res) == 4 and res.get("b", "acc").selected == "power_floor"
    tab = res.table()
    per_form = tab[tab["form"] != "average"]
    assert len(per_form) == 2 * 2 * (2 + 3 + 2 + 3)  # models x metrics x parameters of 4 forms
    # per curve, the model averages: the exponent over the power forms and the floor
    avg = tab[tab["form"] == "average"]
    assert sorted(avg.groupby(["model", "metric"])["param"].apply(tuple)) == [("b", "c")] * 4
    b = avg[(avg["model"] == "b") & (avg["metric"] == "acc") & (avg["param"] == "b")].iloc[0]
    assert b["ci_low"] < 0.5 < b["ci_high"] and 0 < b["weight"] <= 1
    for col in ("model", "metric", "form", "param", "estimate", "std_err", "ci_low", "ci_high",
                "aic", "bic", "n_points", "converged", "selected"):
        assert col in tab.columns
    chosen = tab[tab.selected].groupby(["model", "metric"])["form"].unique()
    assert len(chosen) == 4 and chosen.map(len).eq(1).all()  # one selected form per curve
    assert (tab["ci_low"] <= tab["estimate"]).all() and (tab["estimate"] <= tab["ci_high"]).all()
    text = str(res.summary())
    assert "Selected by AICC" in text and "power_floor" in text
    assert "e = c + a n^(-b)" in str(res.fit("b", "acc").summary())


def test_n_train_column_is_used_when_present():
    err = power_err(3)
    df = size_frame(err, n_train=np.where(FRACS < 0.5, 0.8 * N_ROWS, np.nan))
    cells = scaling.cell_table(df, "acc")
    np.testing.assert_allclose(cells["n"], np.where(FRACS < 0.5, 0.8 * N_ROWS, N_ROWS))


def test_data_needed_matches_analytic_inverse_and_flags_unreachable():
    err = power_err(4, a=3.0, b=0.5, c=0.06, sd=0.002)
    res = scaling.fit_learning_curves(size_frame(err), forms=["power_floor"])
    fit = res.fit("m")
    a, b, c = fit.params
    need = scaling.data_needed(res, {"acc": [0.90, 0.95]}).table()
    row = need[need.target == 0.90].iloc[0]
    assert row["n_needed"] == pytest.approx((a / (0.10 - c)) ** (1 / b), rel=1e-6)
    assert row["ci_low"] < row["n_needed"] < row["ci_high"] and row["reachable"]
    assert row["frac_needed"] == pytest.approx(row["n_needed"] / 60000)
    # a results frame is fitted on the fly, with the same answer
    direct = scaling.data_needed(size_frame(err), {"acc": [0.90]}, form="power_floor").table()
    assert direct["n_needed"].iloc[0] == pytest.approx(row["n_needed"], rel=1e-6)
    # accuracy 0.95 means error 0.05 < floor c ~ 0.06: never reached
    far = need[need.target == 0.95].iloc[0]
    assert not far["reachable"] and np.isnan(far["n_needed"]) and "floor" in far["note"]


def test_data_needed_bootstrap_agrees_with_delta():
    res = scaling.fit_learning_curves(size_frame(power_err(5)), forms=["power"])
    delta = scaling.data_needed(res, [0.88], form="selected").table().iloc[0]
    boot = scaling.data_needed(res, [0.88], form="selected", method="bootstrap", n_boot=100,
                               seed=1).table().iloc[0]
    assert boot["n_needed"] == pytest.approx(delta["n_needed"], rel=1e-12)
    assert "bootstrap" in boot["method"] and "delta" in delta["method"]
    assert boot["ci_low"] < boot["n_needed"] < boot["ci_high"]
    width = np.log(boot["ci_high"] / boot["ci_low"]) / np.log(delta["ci_high"] / delta["ci_low"])
    assert 0.6 < width < 1.6


def test_floor_interval_reaching_target_makes_upper_limit_infinite():
    err = power_err(6, a=3.0, b=0.5, c=0.08, sd=0.004)
    fit = fit_curve(N_ROWS, err, "power_floor")
    c_hi = fit.conf_int().loc["c", "ci_high"]
    sol = fit.solve(c_hi - 1e-4)  # target just below the floor's upper limit: reachable
    assert sol["reachable"] and sol["ci_high"] == np.inf


# --------------------------------------------------------------------------------------------
# d(data)/d(quality) on a simulated grid
def cross_frame(seed=0, sd=0.002):
    rng = np.random.default_rng(seed)
    rows = []
    for d in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        err = 0.05 + 0.08 * d + 3.0 * N_ROWS ** -0.5 + sd * rng.standard_normal(N_ROWS.size)
        rows.append(pd.DataFrame({"experiment": "size_x_damage", "dataset": "fashion",
                                  "model": "cnn", "frac_damage": d, "frac_sample": FRACS,
                                  "replicate": 0, "acc": 1 - err, "auc": 1 - err / 5}))
    return pd.concat(rows, ignore_index=True)


def test_data_quality_derivative_recovers_simulated_truth():
    res = scaling.data_quality_derivative(cross_frame(), "acc", 0.90)
    q = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
    n_true = (3.0 / (0.10 - (0.05 + 0.08 * (1 - q)))) ** 2
    lev = res.levels
    assert res.form == "cnn: average"
    assert set(res.per_form) == set(scaling.FORM_NAMES)  # each form's own answer is kept
    np.testing.assert_allclose(lev["quality"], q)
    assert ((lev["ci_low"] <= n_true) & (n_true <= lev["ci_high"])).all()
    steps = res.steps
    true_steps = -np.diff(n_true) / 0.1 / 60000
    assert (steps["derivative_frac"] < 0).all()
    assert ((steps["ci_low_frac"] <= true_steps) & (true_steps <= steps["ci_high_frac"])).all()
    over = res.overall.iloc[0]
    true_over = (n_true[0] - n_true[-1]) / 0.5 / 60000
    assert over["ci_low_frac"] <= true_over <= over["ci_high_frac"]
    assert over["below_minus_1"] and over["elasticity_below_minus_1"]
    assert over["derivative_obs"] == pytest.approx(over["derivative_frac"] * 60000)
    assert "'<< -1' holds" in str(res.summary())


def test_derivative_skips_unreachable_quality():
    df = cross_frame()
    df.loc[df.frac_damage == 0.5, "acc"] -= 0.05  # floor now far above error 0.10
    with pytest.warns(ScalingWarning, match="not reachable"):
        res = scaling.data_quality_derivative(df, "acc", 0.90)
    last = res.steps.iloc[-1]
    # no amount of data compensates: -inf and "not compensable", not a huge number
    assert last["derivative_frac"] == -np.inf and not last["compensable"]
    assert "not compensable" in last["note"]
    lev = res.levels.set_index("quality")
    assert not lev.loc[0.5, "reachable"] and np.isnan(lev.loc[0.5, "n_needed"])
    assert lev.loc[0.5, "floor_ci_low"] > 0.10  # the floor's interval lies above the target
    assert "floor" in lev.loc[0.5, "note"]
    over = res.overall.iloc[0]
    assert over["quality_low"] == pytest.approx(0.6) and "not compensable" in over["note"]


# --------------------------------------------------------------------------------------------
# breakdown points
def test_breakdown_half_skill_equals_e50_when_the_floor_is_chance():
    d = np.r_[np.arange(0, 10) / 100, np.arange(1, 10) / 10, np.arange(91, 100) / 100]
    acc = 0.1 + (0.9 - 0.1) / (1 + (d / 0.55) ** 6)
    acc = acc + 1e-4 * np.random.default_rng(0).standard_normal(d.size)
    df = pd.DataFrame({"experiment": "constant_damage", "model": "x", "frac_sample": 1.0,
                       "frac_damage": d, "acc": acc})
    half_skill = scaling.breakdown_points(df, "constant_damage").table().iloc[0]
    assert half_skill["breakdown_frac"] == pytest.approx(0.55, abs=1e-3)
    assert half_skill["ci_low"] < 0.55 < half_skill["ci_high"]
    half_clean = scaling.breakdown_points(df, "constant_damage", definition="half_clean").table()
    # acc = 0.45 = 0.1 + 0.8 / (1 + t): t = 8 / 3.5 - 1 -> d = 0.55 * t^(1/6)
    assert half_clean.iloc[0]["breakdown_frac"] == pytest.approx(0.55 * (8 / 3.5 - 1) ** (1 / 6), abs=1e-3)


# --------------------------------------------------------------------------------------------
# degenerate input: warnings and NaN, never a crash or a silent number
def test_too_few_points_gives_nan_and_warning():
    with pytest.warns(ScalingWarning, match="need at least 4"):
        fit = fit_curve(N_ROWS[:3], power_err()[:3], "power_floor")
    assert not fit.converged and fit.params.isna().all() and fit.bse.isna().all()
    assert np.isnan(fit.solve(0.1)["x"])
    df = size_frame(power_err()[:3], fracs=FRACS[:3])
    with pytest.warns(ScalingWarning):
        res = scaling.fit_learning_curves(df)
    cs = res.get("m")
    assert cs.selected is None  # AICc needs m > K + 1 points for every form here
    need = scaling.data_needed(res, [0.9]).table().iloc[0]
    assert not need["reachable"] and np.isnan(need["n_needed"])


def test_flat_and_perfect_curves():
    with pytest.warns(ScalingWarning) as record:
        res = scaling.fit_learning_curves(size_frame(np.zeros(FRACS.size)))  # accuracy 1.0
    messages = " ".join(str(w.message) for w in record)
    assert "acc = 1" in messages and "flat" in messages
    assert res.get("m").selected is None
    assert res.table()["estimate"].isna().all()
    # flat with noise: the power law finds no decline, the floor forms are not identified
    rng = np.random.default_rng(0)
    with pytest.warns(ScalingWarning):
        res = scaling.fit_learning_curves(size_frame(0.1 + 0.003 * rng.standard_normal(FRACS.size)))
    power = res.fit("m", form="power")
    ci = power.conf_int().loc["b"]
    assert ci["ci_low"] < 0 < ci["ci_high"]
    assert any("no evidence" in n or "does not fall" in n for n in power.notes)


def test_rising_error_is_flagged_and_never_reached():
    err = 0.05 + 0.02 * np.log(N_ROWS / N_ROWS[0]) / np.log(100)  # error grows with data
    with pytest.warns(ScalingWarning, match="does not fall"):
        res = scaling.fit_learning_curves(size_frame(err + 1e-3 * np.sin(np.arange(err.size))),
                                          forms=["power"])
    assert res.get("m").selected is None
    fit = res.fit("m", form="power")
    assert fit.params["b"] < 0
    sol = fit.solve(0.02)
    assert not sol["reachable"] and sol["status"] == "not_decreasing"


def test_missing_cells_are_dropped_with_a_warning():
    err = power_err(7)
    df = size_frame(err)
    df.loc[[3, 10, 20], "acc"] = np.nan
    with pytest.warns(ScalingWarning, match="3 row"):
        res = scaling.fit_learning_curves(df, forms=["power"])
    assert res.fit("m").nobs == 25 and res.fit("m").converged


def test_input_validation_messages():
    df = size_frame(power_err())
    with pytest.raises(ValueError, match="no rows of experiment"):
        scaling.fit_learning_curves(df, experiment="random_damage")
    with pytest.raises(ValueError, match="several datasets"):
        scaling.fit_learning_curves(pd.concat([df, df.assign(dataset="mnist")]))
    with pytest.raises(ValueError, match="metric"):
        scaling.fit_learning_curves(df, metric="f1")
    with pytest.raises(ValueError, match="subset"):
        scaling.fit_learning_curves(df, forms=["loglogistic"])
    with pytest.raises(ValueError, match="strictly between"):
        scaling.data_needed(scaling.fit_learning_curves(df, forms=["power"]), [1.0])


# --------------------------------------------------------------------------------------------
# the R reference tables
@pytest.fixture(scope="module", params=["fashion-data-size-results.csv", "data-size-results.csv"])
def r_size(request):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return scaling.fit_learning_curves(read_results(R_DIR / request.param),
                                           metric=["acc", "auc"])


def test_r_size_table_fits_converge_with_positive_exponents(r_size):
    for cs in r_size:
        for name in ("power", "exp", "exp_floor"):
            assert cs.fits[name].converged, (cs.model, cs.metric, name)
        assert cs.fits["power"].conf_int().loc["b", "ci_low"] > 0
        best = cs.best
        assert best is not None and best.converged
        rate = best.form.rate
        assert best.conf_int().loc[rate, "ci_low"] > 0, (cs.model, cs.metric)
    # the talk's curves: a power law fits far better than an exponential without a floor
    assert all(cs.fits["power"].aicc < cs.fits["exp"].aicc - 10 for cs in r_size)


def test_r_damage_tables_breakdown_points():
    random = read_results(R_DIR / "fashion-mnist-damage-results.csv")
    constant = read_results(R_DIR / "fashion-mnist-const-damage-results.csv")
    br = scaling.breakdown_points(random, "random_damage").table().set_index("model")
    bc = scaling.breakdown_points(constant, "constant_damage").table().set_index("model")
    for tab in (br, bc):
        assert tab["converged"].all()
        assert ((tab["ci_low"] < tab["breakdown_frac"]) & (tab["breakdown_frac"] < tab["ci_high"])).all()
        # the fitted crossing lies between the grid levels where the data cross
        assert ((tab["bracket_low"] <= tab["breakdown_frac"])
                & (tab["breakdown_frac"] <= tab["bracket_high"])).all()
    # labels stop carrying information at damage 0.9 (random) and 0.5 (constant)
    assert (bc["breakdown_frac"] < br["breakdown_frac"]).all()
    assert br["breakdown_frac"].between(0.6, 0.9).all() and bc["breakdown_frac"].between(0.4, 0.55).all()


# --------------------------------------------------------------------------------------------
# tables on disk and the command line
def test_write_tables_writes_what_applies(tmp_path):
    d = np.r_[np.arange(0, 10) / 100, np.arange(1, 10) / 10, np.arange(91, 100) / 100]
    damage = pd.DataFrame({"experiment": "random_damage", "dataset": "fashion", "model": "cnn",
                           "frac_sample": 1.0, "frac_damage": d, "replicate": 0,
                           "acc": 0.1 + 0.8 / (1 + (d / 0.8) ** 10) + 0.002 * np.sin(50 * d),
                           "auc": 0.5 + 0.49 / (1 + (d / 0.85) ** 12) + 0.001 * np.cos(40 * d)})
    df = pd.concat([size_frame(power_err(8), "cnn"), cross_frame(), damage], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        paths = scaling.write_tables(df, tmp_path)
    names = sorted(p.name for p in paths)
    # every table but the pruning ones, which need a pruning experiment
    assert names == sorted(v for v in scaling.TABLE_FILES.values() if not v.startswith("pruning_"))
    assert all(p.parent == tmp_path / "tables" for p in paths)
    obs = pd.read_csv(tmp_path / "tables" / "observations_needed_acc90.csv")
    assert list(obs.columns[-5:]) == ["quality", "acc", "frac_sample", "num_obs", "d_obs"]
    need = pd.read_csv(tmp_path / "tables" / "data_needed.csv")
    for col in ("model", "metric", "form", "target", "n_needed", "ci_low", "ci_high", "reachable", "method"):
        assert col in need.columns
    assert set(need["experiment"]) == {"size"}
    fits = pd.read_csv(tmp_path / "tables" / "learning_curve_fits.csv")
    assert set(fits["experiment"]) == {"size"} and set(fits["param"]) == {"a", "b", "c", "k"}
    bp = pd.read_csv(tmp_path / "tables" / "breakdown_points.csv")
    for col in ("experiment", "model", "breakdown_frac", "ci_low", "ci_high", "definition"):
        assert col in bp.columns
    dq = pd.read_csv(tmp_path / "tables" / "data_quality_derivative.csv")
    assert set(dq["metric"]) == {"acc", "auc"} and set(dq["scope"]) == {"level", "step", "overall"}
    levels = dq[(dq.scope == "level") & (dq.metric == "acc") & (dq.form == "average")]
    assert levels["quality"].tolist() == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    assert (levels["n_ci_low"] < levels["n_needed"]).all()


def test_cli_fit_on_r_reference_csv(tmp_path, capsys):
    rc = main(["fit", str(R_DIR / "fashion-data-size-results.csv"), "--to", str(tmp_path),
               "--targets", "acc=0.85", "--metric", "acc"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Learning curves (size)" in out and "wrote" in out
    fits = pd.read_csv(tmp_path / "tables" / "learning_curve_fits.csv")
    assert set(fits["source"]) == {"fashion-data-size-results"} and set(fits["metric"]) == {"acc"}
    need = pd.read_csv(tmp_path / "tables" / "data_needed.csv")
    assert need["target"].tolist() == [0.85] * 4 and need["reachable"].all()


@pytest.mark.parametrize("args, message", [
    (["--targets", "acc=1.5"], "strictly between 0 and 1"),
    (["--targets", "f1=0.9"], "METRIC=V"),
    (["--forms", "cubic"], "unknown form"),
])
def test_cli_fit_rejects_bad_input(tmp_path, capsys, args, message):
    rc = main(["fit", str(R_DIR / "fashion-data-size-results.csv"), "--to", str(tmp_path), *args])
    assert rc == 2 and message in capsys.readouterr().err


def test_cli_fit_missing_source(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "--to", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


# --- fit on bad tables: one clear error naming file, column, row and value (rc 2) -------------
def bad_size_csv(tmp_path, edit, header=True):
    """The R size table with one edit (a function of the DataFrame), written where fit reads it."""
    df = pd.read_csv(R_DIR / "fashion-data-size-results.csv")
    df = edit(df)
    path = tmp_path / "fashion-data-size-results.csv"
    df.to_csv(path, index=False, header=header)
    return path


def _set(col, row, value):
    def edit(df):
        df[col] = df[col].astype(object)
        df.loc[row, col] = value
        return df
    return edit


@pytest.mark.parametrize("edit, message", [
    (lambda df: df.drop(columns="acc"), "no acc column (columns: frac,exp_name,auc); add it, or analyse auc "
                                        "alone with --metric auc"),
    (_set("acc", 4, "abc"), "column acc, line 6: the value 'abc' is not a number"),
    (_set("acc", 4, 1.7), "column acc, line 6: the value 1.7 is outside [0, 1]"),
    (_set("auc", 6, -0.2), "column auc, line 8: the value -0.2 is outside [0, 1]"),
    (_set("acc", 6, np.nan), "column acc, line 8: the value is empty"),
    (lambda df: df.iloc[:0], "has a header but no rows of results"),
])
def test_cli_fit_rejects_a_bad_table_naming_file_column_and_value(tmp_path, capsys, edit, message):
    path = bad_size_csv(tmp_path, edit)
    assert main(["fit", str(path), "--to", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"datavsmath fit: error: {path}: {message}" in err
    assert not (tmp_path / "o").exists()  # nothing fitted, nothing written


def test_cli_fit_on_an_empty_file_says_it_is_empty(tmp_path, capsys):
    path = tmp_path / "fashion-data-size-results.csv"
    path.write_text("")
    assert main(["fit", str(path), "--to", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: the file is empty" in err and "--experiment" not in err  # not the R-name hint


def test_cli_fit_checks_only_the_metric_it_analyses(tmp_path, capsys):
    path = bad_size_csv(tmp_path, lambda df: df.drop(columns="auc"))
    rc = main(["fit", str(path), "--to", str(tmp_path / "o"), "--metric", "acc", "--quiet",
               "--targets", "acc=0.85"])
    assert rc == 0, capsys.readouterr().err


def test_fits_reject_text_in_a_metric_column():
    df = size_frame(power_err())
    df["acc"] = df["acc"].astype(object)
    df.loc[2, "acc"] = "high"
    with pytest.raises(ValueError, match=r"column acc holds 'high' \(row 2\)"):
        scaling.fit_learning_curves(df, forms=["power"])


# --------------------------------------------------------------------------------------------
# honest intervals: weights, identifiability, model averaging, reachability
def test_single_runs_get_binomial_weights():
    err = power_err(9)
    cells = scaling.cell_table(size_frame(err), "acc")
    p = 1 - err
    w = 1 / (p * (1 - p))
    np.testing.assert_allclose(cells["weight"], w / w.mean())
    np.testing.assert_allclose(cells["var_model"], p * (1 - p) / 10000)
    equal = scaling.cell_table(size_frame(err), "acc", single_run="equal")
    assert (equal["weight"] == 1).all()
    res = scaling.fit_learning_curves(size_frame(err), forms=["power"], quiet=True)
    assert "binomial" in res.get("m").weighting and "binomial" in str(res.get("m").summary())


def test_form_without_defined_aicc_is_marked_not_identifiable():
    fr = FRACS[[0, 4, 9, 13, 18]]  # 5 sizes: AICc undefined for the 3-parameter forms
    err = 1.2 * (60000 * fr) ** -0.25 + np.array([1, -1, 1, -1, 0.5]) * 1e-3
    res = scaling.fit_learning_curves(size_frame(err, fracs=fr), quiet=True)
    cs = res.get("m")
    comp = cs.comparison()
    assert comp.loc["power_floor", "status"].startswith("not identifiable")
    assert np.isnan(comp.loc["power_floor", "weight"])
    assert cs.selected in ("power", "exp") and any("left out of the model choice" in n
                                                     for n in cs.notes)
    # 4 sizes: no form has an AICc; nothing is selected and nothing falls back silently
    res4 = scaling.fit_learning_curves(size_frame(err[:4], fracs=fr[:4]), quiet=True)
    assert res4.get("m").selected is None
    row = scaling.data_needed(res4, [0.85]).table().iloc[0]
    assert not row["reachable"] and "not identifiable" in row["note"]


def test_model_choice_and_average_do_not_depend_on_the_order_of_forms():
    err = power_err(10, a=3.0, b=0.5, c=0.05, sd=0.003)
    forward = scaling.fit_learning_curves(size_frame(err), forms=scaling.FORM_NAMES, quiet=True)
    backward = scaling.fit_learning_curves(size_frame(err), forms=scaling.FORM_NAMES[::-1],
                                           quiet=True)
    assert forward.get("m").selected == backward.get("m").selected
    a = scaling.data_needed(forward, [0.88]).table().iloc[0]
    b = scaling.data_needed(backward, [0.88]).table().iloc[0]
    assert a["n_needed"] == pytest.approx(b["n_needed"], rel=1e-9)
    assert a["ci_high"] == pytest.approx(b["ci_high"], rel=1e-9)


def test_model_average_interval_includes_between_form_spread():
    """Burnham-Anderson: log n* averaged with Akaike weights, se_u = sum w_i sqrt(se_i^2 +
    (log n*_i - mean)^2), by hand from the per-form rows."""
    err = power_err(11, a=3.0, b=0.5, c=0.05, sd=0.004)
    res = scaling.fit_learning_curves(size_frame(err), quiet=True)
    cs = res.get("m")
    comp = cs.comparison()
    ok = comp[comp["admissible"]]
    assert len(ok) >= 2 and ok["weight"].sum() == pytest.approx(1.0)
    per = {f: cs.fits[f].solve(0.12) for f in ok.index}
    reach = [f for f in ok.index if per[f]["status"] == "ok"]
    v = ok.loc[reach, "weight"] / ok.loc[reach, "weight"].sum()
    lx = np.log([per[f]["x"] for f in reach])
    mean = float(v @ lx)
    se_u = float(v @ np.sqrt(np.array([per[f]["se_log"] for f in reach]) ** 2 + (lx - mean) ** 2))
    avg = cs.average_solve(0.12)
    assert avg["x"] == pytest.approx(np.exp(mean)) and avg["se_log"] == pytest.approx(se_u)
    assert se_u >= max(v[f] * per[f]["se_log"] for f in reach)
    row = scaling.data_needed(res, [0.88]).table().iloc[0]
    assert row["form"] == "average" and "Akaike" in row["conditional_on"]
    assert row["ci_low"] < row["n_needed"] < row["ci_high"]


def test_unreachable_target_reports_the_floor_interval_not_a_number():
    err = power_err(12, a=3.0, b=0.5, c=0.15, sd=0.003)  # floor 0.15 above error 0.10
    res = scaling.fit_learning_curves(size_frame(err), quiet=True)
    row = scaling.data_needed(res, [0.90]).table().iloc[0]
    assert not row["reachable"] and np.isnan(row["n_needed"]) and row["status"] == "floor"
    assert row["floor_ci_low"] < 0.15 < row["floor_ci_high"] and row["floor_ci_low"] > 0.10
    assert "no amount of data" in row["note"]


def test_far_extrapolation_is_flagged_and_cut_at_the_horizon():
    err = power_err(13, a=0.8, b=0.05, sd=0.002)  # falls so slowly that n*(acc .7) ~ 3e8
    res = scaling.fit_learning_curves(size_frame(err), forms=["power"], quiet=True)
    row = scaling.data_needed(res, [0.70]).table().iloc[0]
    assert row["status"] == "beyond_horizon" and row["verdict"] == "undetermined"
    assert not row["reachable"] and np.isinf(row["ci_high"])
    assert np.isnan(row["n_needed"]) and "beyond the horizon (100x the largest" in row["note"]
    assert row["ci_low"] > 100 * N_ROWS.max() and "at least" in row["note"]
    near = scaling.data_needed(res, [0.70], horizon=np.inf).table().iloc[0]
    assert near["reachable"] and near["extrapolation_factor"] > 100
    assert near["extrapolation_factor"] == pytest.approx(near["n_needed"] / N_ROWS.max())


def test_accuracy_above_one_is_not_fitted():
    err = power_err(14)
    df = size_frame(err)
    df.loc[5, "acc"] = 1.2
    with pytest.warns(ScalingWarning, match="outside"):
        res = scaling.fit_learning_curves(df, forms=["power"])
    assert res.fit("m").nobs == FRACS.size - 1 and (res.get("m").cells["error"] >= 0).all()


def test_rising_error_says_it_rises():
    err = 0.05 + 0.02 * np.log(N_ROWS / N_ROWS[0]) / np.log(100)
    res = scaling.fit_learning_curves(size_frame(err + 1e-3 * np.sin(np.arange(err.size))),
                                      forms=["power", "exp"], quiet=True)
    row = scaling.data_needed(res, [0.95]).table().iloc[0]
    assert "rises" in row["note"] and "no converged fit" not in row["note"]
    assert res.get("m").comparison()["status"].eq("error rises with n").all()


def test_derivative_intervals_use_t_quantiles_of_the_fits_df():
    """On a 4-size grid (2 residual df for the power law) the derivative's interval is far
    wider than a normal one; the model average is not identifiable and says so."""
    fr = np.array([0.01, 0.02, 0.05, 0.1])
    rng = np.random.default_rng(0)
    rows = []
    for d in (0.0, 0.1, 0.2):
        err = (0.05 + 0.1 * d + 3.0 * (60000 * fr) ** -0.5
               + 0.003 * rng.standard_normal(fr.size))
        rows.append(pd.DataFrame({"experiment": "size_x_damage", "model": "cnn",
                                  "frac_damage": d, "frac_sample": fr, "acc": 1 - err}))
    df = pd.concat(rows, ignore_index=True)
    res = scaling.data_quality_derivative(df, "acc", 0.85, quiet=True)
    assert not res.levels["reachable"].any()
    assert res.levels["status"].eq("not identifiable").all()
    assert res.overall.iloc[0]["below_minus_1"] is None  # undetermined, not a fallback
    power = res.per_form["power"][0]
    assert (power["df"] == 2).all() and power["reachable"].all()
    assert "outside the model choice" in power["conditional_on"].iloc[0]


# --------------------------------------------------------------------------------------------
# one law for size and quality
def joint_grid(seed, g=lambda q: q ** 2):
    """Size x damage grid from err = 0.05 + 0.1 (1 - q) + 3 (g(q) n)^-0.5, binomial noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
        err = 0.05 + 0.1 * (1 - q) + 3.0 * (g(q) * N_ROWS) ** -0.5
        rows.append(pd.DataFrame({"experiment": "size_x_damage", "model": "cnn",
                                  "frac_damage": round(1 - q, 10), "frac_sample": FRACS,
                                  "acc": rng.binomial(10000, 1 - err) / 10000}))
    return pd.concat(rows, ignore_index=True)


def test_joint_law_recovers_a_known_effective_data_multiplier():
    fit = scaling.joint_law(joint_grid(seed=1), "acc")
    g = fit.g().set_index("quality")["g"]
    q = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    np.testing.assert_allclose(g.loc[q], q ** 2, rtol=0.2)
    assert g.loc[1.0] == 1.0
    p = fit.params().set_index("param")
    assert p.loc["b", "ci_low"] < 0.5 < p.loc["b", "ci_high"]
    assert fit.df_resid == 168 - 13 and fit.converged and not fit.notes
    comp = fit.comparison()
    assert comp["aicc"].notna().all()  # compared with separate per-quality fits
    assert comp.loc[0, "aicc"] < comp.loc[1, "aicc"]  # the true law needs fewer parameters
    res = fit.residuals_by_quality()
    assert res["rms_std_resid"].between(0.6, 1.5).all()
    tab = fit.table()
    assert {"param", "estimate", "ci_low", "ci_high", "conditional_on"} <= set(tab.columns)
    assert "g(q)" in str(fit.summary()) or "g(q=0.5)" in str(fit.summary())


def test_backtest_predicts_held_out_sizes_from_small_ones():
    err = power_err(15, a=3.0, b=0.5, c=0.06, sd=0.003)
    res = scaling.fit_learning_curves(size_frame(err), quiet=True)
    bt = scaling.backtest(res).table().set_index("form")
    assert (bt["n_fit"] == 14).all() and (bt["n_held"] == 14).all()  # R grid split at 0.5
    assert bt.loc["power_floor", "pi_coverage"] >= 12 / 14  # the true form predicts the rest
    assert bt.loc["power_floor", "rmse_held"] < bt.loc["exp", "rmse_held"]
    assert bt.loc["power_floor", "aicc"] == res.get("m").fits["power_floor"].aicc
    assert "pi_coverage" in str(scaling.backtest(res).summary())
    fit = res.get("m").fits["power_floor"]
    pi = fit.predict_interval(N_ROWS)
    assert (pi["pi_low"] < pi["mean"]).all() and (pi["mean"] < pi["pi_high"]).all()
    with pytest.raises(ValueError, match="split"):
        scaling.backtest(res, split=1.5)


def _tied_grid(order: str) -> pd.DataFrame:
    """A size x damage grid in R's row order ("damage outer": damage levels ascending, sample
    fractions ascending within) or the transposed one ("sample outer")."""
    acc = {1.0: {0.2: 0.93, 0.5: 0.93, 1.0: 0.97},  # 0.2 and 0.5 tie for the lowest above 0.90
           0.9: {0.2: 0.85, 0.5: 0.89, 1.0: 0.92},
           0.8: {0.2: 0.88, 0.5: 0.902, 1.0: 0.95}}  # noise: q 0.8 gets there sooner than q 0.9
    rows = [{"experiment": "size_x_damage", "dataset": "fashion", "model": "cnn", "frac_damage": round(1 - q, 10),
             "frac_sample": s, "replicate": 0, "acc": a, "auc": np.nan}
            for q, by_s in acc.items() for s, a in by_s.items()]
    df = pd.DataFrame(rows).sort_values(["frac_damage", "frac_sample"])
    return df if order == "damage outer" else df.sort_values(["frac_sample", "frac_damage"], kind="stable")


@pytest.mark.parametrize("order", ["damage outer", "sample outer"])
def test_observations_needed_steps_down_the_qualities_with_ties_first_or_all(order):
    """d_obs steps from each quality to the next lower one (q 0.9: 60,000 rows, then q 0.8:
    30,000, a step of -0.5), whatever the rows' order; a lag over the chosen cells by sample
    fraction would give +1.0 there instead. Ties: the smaller sample, or every tied cell."""
    grid = _tied_grid(order)
    first = scaling.observations_needed(grid, "acc", 0.90).table()
    expected = pd.DataFrame({"quality": [1.0, 0.9, 0.8], "acc": [0.93, 0.92, 0.902],
                             "frac_sample": [0.2, 1.0, 0.5], "num_obs": [12000.0, 60000.0, 30000.0],
                             "d_obs": [np.nan, 4.0, -0.5]})
    pd.testing.assert_frame_equal(first, expected)
    every = scaling.observations_needed(grid, "acc", 0.90, ties="all").table()
    expected = pd.DataFrame({"quality": [1.0, 1.0, 0.9, 0.8], "acc": [0.93, 0.93, 0.92, 0.902],
                             "frac_sample": [0.2, 0.5, 1.0, 0.5],
                             "num_obs": [12000.0, 30000.0, 60000.0, 30000.0],
                             "d_obs": [np.nan, 1.5, 1.0, -0.5]})
    pd.testing.assert_frame_equal(every, expected)
    with pytest.raises(ValueError, match="ties must be 'first' or 'all', got 'last'"):
        scaling.observations_needed(grid, "acc", 0.90, ties="last")


# --------------------------------------------------------------------------------------------
# verdicts, model averages, assumed floors, the joint law's identification
def _sol(**kw):
    base = {"status": "ok", "x": 5e4, "ci_low": 4e4, "ci_high": 6e4, "floor": 0.05,
            "floor_ci_low": 0.04, "floor_ci_high": 0.06, "weight_unreachable": 0.0}
    return base | kw


@pytest.mark.parametrize("sol, expected", [
    (_sol(), "reachable"),
    (_sol(floor_ci_high=0.11), "undetermined"),  # the floor's interval reaches the target 0.1
    (_sol(ci_high=np.inf), "undetermined"),
    (_sol(ci_high=7e6), "undetermined"),  # upper limit beyond the horizon (6e6 rows)
    (_sol(floor=0.12, floor_ci_low=0.1, floor_ci_high=0.14, status="floor"), "not reachable"),
    (_sol(weight_unreachable=0.98, floor_ci_low=0.0), "not reachable"),
    (_sol(weight_unreachable=0.9, floor_ci_low=0.0, floor_ci_high=0.2), "undetermined"),
    (_sol(status="already_met", x=0.0), "reachable"),
    (_sol(status="not fitted"), "undetermined"),
    ({"status": "ok", "x": 5e4, "ci_low": 4e4, "ci_high": 6e4, "floor": 0.0,
      "floor_assumed": True}, "reachable"),  # a form without a floor assumes 0
])
def test_verdict_rules(sol, expected):
    from datavsmath.stats.needed import verdict

    assert verdict(sol, 0.10, limit=6e6) == expected


def test_mixture_interval_is_the_t_interval_for_one_form_and_unbounded_with_never():
    from scipy import stats

    from datavsmath.stats.averaging import mixture_interval

    q = stats.t.ppf(0.975, 20)
    lo, hi = mixture_interval([1.0], [0.1], [20], [1.0])
    assert lo == pytest.approx(1 - 0.1 * q, abs=1e-9) and hi == pytest.approx(1 + 0.1 * q, abs=1e-9)
    assert mixture_interval([1.0], [0.1], [20], [0.97], mass_inf=0.03)[1] == np.inf
    assert np.isfinite(mixture_interval([1.0], [0.1], [20], [0.98], mass_inf=0.02)[1])
    # two forms far apart, equal weights: the interval spans both estimates; each limit is
    # the 5% tail of the nearer form alone
    lo2, hi2 = mixture_interval([1.0, 2.0], [0.1, 0.1], [20, 20], [0.5, 0.5])
    q90 = stats.t.ppf(0.95, 20)
    assert lo2 == pytest.approx(1 - 0.1 * q90, abs=1e-6) and hi2 == pytest.approx(2 + 0.1 * q90, abs=1e-6)
    # a point mass (an assumed floor of 0) is a limit exactly, not a number near it
    assert mixture_interval([0.05, 0.0], [0.01, 0.0], [20, 20], [0.9, 0.1])[0] == 0.0


def test_a_floor_that_is_assumed_is_not_an_interval():
    res = scaling.fit_learning_curves(size_frame(power_err(3)), forms=["power"], quiet=True)
    fl = res.fit("m").floor_interval()
    assert fl["floor"] == 0.0 and fl["floor_assumed"] and np.isnan(fl["floor_ci_low"])
    row = scaling.data_needed(res, [0.9], form="power").table().iloc[0]
    assert row["floor_assumed"] and np.isnan(row["floor_ci_high"])


def test_a_negative_floor_whose_interval_holds_0_stays_in_the_choice():
    # a plain power law: the floor form's c lands near 0, on either side
    for seed in range(6):
        res = scaling.fit_learning_curves(size_frame(power_err(seed)), quiet=True)
        cs = res.get("m")
        fit = cs.fits["power_floor"]
        ci = fit.conf_int().loc["c"]
        status = cs.comparison().loc["power_floor", "status"]
        if fit.params["c"] < 0:
            assert status == ("negative floor" if ci["ci_high"] < 0 else "ok"), (seed, ci)


def test_averaged_exponent_spans_the_forms_in_doubt():
    """A floor just below the target: power and power with floor both carry weight, and the
    averaged exponent's interval reaches from one form's estimate to the other's."""
    err = 0.095 + 0.324 * N_ROWS ** -0.35 + 0.002 * np.random.default_rng(4).standard_normal(N_ROWS.size)
    cs = scaling.fit_learning_curves(size_frame(err), quiet=True).get("m")
    w = cs.comparison()["weight"]
    assert w["power"] > 0.05 and w["power_floor"] > 0.05, w
    b = cs.average_param("b")
    est = [cs.fits[f].params["b"] for f in ("power", "power_floor")]
    assert b["ci_low"] < min(est) and b["ci_high"] > max(est)
    assert b["weight"] == pytest.approx(w["power"] + w["power_floor"])


def test_joint_law_without_decline_is_not_identified():
    from datavsmath.stats.joint import fit_joint_law

    rng = np.random.default_rng(0)
    cells = {}
    for q in (1.0, 0.8, 0.6):  # error flat in n: b is not determined, nor g through g^-b
        df = pd.DataFrame({"model": "cnn", "frac_sample": FRACS, "frac_damage": 1 - q,
                           "acc": rng.binomial(10000, 0.8 - 0.1 * (1 - q), FRACS.size) / 10000})
        cells[q] = scaling.cell_table(df, "acc")
    fit = fit_joint_law(cells)
    assert fit.status.startswith("not identified") or fit.status == "not converged", fit.status
    assert fit.table()["status"].iloc[0] == fit.status
    assert "Status: not" in str(fit.summary())
