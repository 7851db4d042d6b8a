"""The opt-in learning-curve forms (stats/forms.py, EXTENDED_FORMS): known truth simulated on
the R grid is fitted back inside its 95% intervals, the inverse inverts the mean, the analytic
Jacobian matches numeric differentiation, and model averaging runs with the extended set."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.numdiff import approx_fprime

from datavsmath.cli import main
from datavsmath.stats import scaling
from datavsmath.stats.curves import fit_curve
from datavsmath.stats.forms import (ALL_LEARNING_FORMS, EXTENDED_FORMS, FORM_SETS, FORMS, LEARNING_FORMS, curve,
                                    learning_forms)

R_CSV = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "r-results" / \
    "fashion-data-size-results.csv"
#: the R grid: 28 sample fractions of 60,000 rows
FRACS = np.r_[np.arange(1, 10) / 100, np.arange(1, 10) / 10, np.arange(91, 101) / 100]
N_REF = 60000.0
N_ROWS = N_REF * FRACS
N_TEST = 10000

#: true internal parameters (x = n / 60,000): error curves from ~0.4 down to ~0.1, shaped like
#: Fashion-MNIST's, with the curvature inside the grid so that every parameter is identified
TRUTH = {
    "power4": [np.log(0.12), 0.5, np.log(0.02), 0.08],                # d = 1,200 rows
    "mmf": [np.log(0.5), np.log(0.02), np.log(0.8), 0.08],           # m = 1,200 rows
    "weibull": [np.log(0.2), np.log(0.1), np.log(0.5), 0.09],        # s = 6,000 rows
    "vapor_pressure": [np.log(0.1), 0.002, 0.25],                    # b = 120 rows
    "log_power": [np.log(0.6), np.log(0.005), np.log(0.4)],          # m = 300 rows
}


def simulate(form, seed, theta=None):
    """Error on the R grid with binomial noise of a 10,000-image test set, from ``theta``
    (default the form's truth): (mean (28,), y (28,))."""
    e = form.mean(np.array(TRUTH[form.name] if theta is None else theta), FRACS)
    rng = np.random.default_rng(seed)
    return e, e + rng.standard_normal(e.size) * np.sqrt(e * (1 - e) / N_TEST)


def size_frame(err):
    """A size experiment of one model "m" with error ``err`` (28,) on the R grid."""
    return pd.DataFrame({"experiment": "size", "dataset": "fashion", "model": "m",
                         "frac_sample": FRACS, "frac_damage": 0.0, "replicate": 0,
                         "acc": 1 - err, "auc": 1 - err / 5})


def test_sets_default_stays_the_four_and_names_parse():
    assert tuple(LEARNING_FORMS) == scaling.FORM_NAMES == ("power", "power_floor", "exp",
                                                            "exp_floor")
    assert set(EXTENDED_FORMS) == set(TRUTH)
    assert learning_forms("all") == tuple(ALL_LEARNING_FORMS) == FORM_SETS["all"]
    assert learning_forms("power, weibull,power") == ("power", "weibull")
    assert learning_forms(["default", "mmf"]) == tuple(LEARNING_FORMS) + ("mmf",)
    with pytest.raises(ValueError, match="unknown form"):
        learning_forms("power,cubic")


@pytest.mark.parametrize("name", list(TRUTH))
def test_jacobian_matches_numeric_differentiation(name):
    form = EXTENDED_FORMS[name]
    for shift in (0.0, 0.1):  # at the truth and off it
        theta = np.array(TRUTH[name]) + shift
        numeric = approx_fprime(theta, lambda t: form.mean(t, FRACS), centered=True)
        np.testing.assert_allclose(form.jac(theta, FRACS), numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", list(TRUTH))
def test_inverse_inverts_the_mean(name):
    form = EXTENDED_FORMS[name]
    theta = np.array(TRUTH[name])
    e = form.mean(theta, FRACS)
    for y in np.linspace(e.min(), e.max(), 7)[1:-1]:
        x, status = form.inverse(theta, y)
        assert status == "ok"
        np.testing.assert_allclose(form.mean(theta, np.array([x])), y, rtol=1e-9)
    floor = form.floor(theta)
    assert form.inverse(theta, floor - 1e-3 if floor > 0 else -1e-3)[0] == np.inf
    assert form.inverse(theta, floor - 1e-3 if floor > 0 else -1e-3)[1] == "floor"
    if name != "vapor_pressure":  # the others start finite: c + a (power4: c + a d^-b)
        assert form.inverse(theta, 50.0) == (0.0, "before_data")
    else:  # exp(b / n) grows without bound as n -> 0: any error is reached, early
        x, status = form.inverse(theta, 50.0)
        assert status == "ok" and x < FRACS[0]
        np.testing.assert_allclose(form.mean(theta, np.array([x])), 50.0, rtol=1e-9)


@pytest.mark.parametrize("name", list(TRUTH))
def test_simulated_truth_is_recovered_inside_the_95_intervals(name):
    form = EXTENDED_FORMS[name]
    _, y = simulate(form, seed=1)
    fit = fit_curve(N_ROWS, y, form, 1 / (y * (1 - y)), quiet=True)  # binomial weights
    assert fit.converged, fit.notes
    assert len(form.starts(FRACS, y, np.ones_like(y))) >= 2  # several starting points
    truth = form.to_natural(np.array(TRUTH[name]), N_REF)
    table = fit.param_table()
    inside = (table["ci_low"] <= truth) & (truth <= table["ci_high"])
    assert inside.all(), table.assign(truth=truth)
    for par, (lo, hi) in form.bounds.items():  # the parameterisation keeps the bounds
        assert lo < table.loc[par, "ci_low"] and table.loc[par, "ci_high"] < hi
    # the solved n* agrees with the curve it came from
    target = float(np.median(y))
    sol = fit.solve(target)
    assert sol["status"] == "ok" and sol["ci_low"] < sol["x"] < sol["ci_high"]
    np.testing.assert_allclose(fit.predict([sol["x"]]), target, rtol=1e-8)


def test_model_average_runs_with_the_extended_set():
    e, y = simulate(EXTENDED_FORMS["weibull"], seed=2)
    res = scaling.fit_learning_curves(size_frame(y), forms=learning_forms("all"), metric="acc", quiet=True)
    cs = res.get("m", "acc")
    comp = cs.comparison()
    assert list(comp.index) == list(ALL_LEARNING_FORMS)
    assert comp["weight"].sum() == pytest.approx(1.0)
    assert comp.loc[~comp["admissible"], "weight"].isna().all()
    sol = cs.average_solve(float(np.quantile(e, 0.3)))
    assert sol["status"] == "ok" and sol["ci_low"] < sol["x"] < sol["ci_high"]
    need = scaling.data_needed(res, {"acc": [0.85]}).table()
    assert len(need) == 1


def test_cli_fit_with_all_forms_on_the_r_size_table(tmp_path, capsys):
    src = tmp_path / "fashion-data-size-results.csv"
    src.write_bytes(R_CSV.read_bytes())
    rc = main(["fit", str(src), "--to", str(tmp_path), "--forms", "all", "--metric", "acc",
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    fits = pd.read_csv(tmp_path / "tables" / "learning_curve_fits.csv")
    assert set(fits["form"]) == set(ALL_LEARNING_FORMS) | {"average"}  # + the model averages
    per_form = fits[fits["form"] != "average"]  # the model-average rows carry their family weight
    weights = per_form.drop_duplicates(["model", "form"]).groupby("model")["weight"].sum()
    np.testing.assert_allclose(weights, 1.0)


def test_a_curve_that_rises_inside_the_data_is_not_admissible():
    """Vapor pressure with b < 0 rises up to n = -b/k; here that is 12,000 rows, inside the grid."""
    form = EXTENDED_FORMS["vapor_pressure"]
    theta = np.array([np.log(0.1), -0.05, 0.25])  # beta = -0.05, k = 0.25: peak at x = 0.2
    _, y = simulate(form, seed=3, theta=theta)
    cs = scaling.fit_learning_curves(size_frame(y), forms=["power", "vapor_pressure"], metric="acc",
                                     quiet=True).get("m", "acc")
    fit = cs.fits["vapor_pressure"]
    assert fit.converged and fit.params["k"] > 0 and fit.params["b"] < 0
    assert cs.status(fit) == "error rises with n"
    assert cs.comparison().loc["vapor_pressure", "weight"] != cs.comparison().loc[
        "vapor_pressure", "weight"]  # NaN: out of the average


def test_fit_help_lists_every_table_and_every_form(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    for name in list(scaling.TABLE_FILES.values()) + list(ALL_LEARNING_FORMS) + list(FORM_SETS):
        if name != "observations_needed_auc98.csv":  # written as "(and _auc98)"
            assert name in text, name


@pytest.mark.parametrize("name", sorted(FORMS))
def test_curve_in_natural_units_is_the_fitted_mean(name):
    """forms.curve (what the report figures draw from a table of fitted parameters) equals each
    form's own mean at random internal parameters, mapped to natural ones at n_ref."""
    form = FORMS[name]
    rng = np.random.default_rng(3)
    x_ref = 60000.0 if form.scaled else 1.0
    n = np.geomspace(10, 60000, 9) if form.scaled else np.linspace(0.01, 0.99, 9)
    for _ in range(5):
        theta = rng.uniform(-1.0, 1.0, form.k) + np.array([0.0 if p.startswith(("log", "U", "L")) else 0.5
                                                           for p in form.internal])
        params = dict(zip(form.natural, form.to_natural(theta, x_ref)))
        np.testing.assert_allclose(curve(name, params, n), form.mean(theta, n / x_ref), rtol=1e-9, atol=1e-12)
    with pytest.raises(KeyError, match="needs parameters"):
        curve(name, {}, n)
    with pytest.raises(KeyError, match="unknown form"):
        curve("cubic", params, n)
