"""The cheapest lever to a target (``advise --levers``): known answers on synthetic curves."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datavsmath.cli import main
from datavsmath.stats.levers import advise_levers, fit_hours

QUICK = Path(__file__).resolve().parents[1] / "results" / "quick"
FRACS = np.r_[np.arange(1, 10) / 100, np.arange(1, 10) / 10, np.arange(91, 101) / 100]


def curve(model, k=1.0, experiment="size", seconds_per_row=0.001, seed=0, **cols):
    """Power law with floor at k n (a path worth k rows per row), with fit seconds per row."""
    n = 60000 * FRACS
    rng = np.random.default_rng(seed)
    err = 0.05 + 1.2 * (k * n) ** (-0.3) + 0.001 * rng.standard_normal(n.size)
    return pd.DataFrame({"experiment": experiment, "dataset": "fashion", "model": model,
                         "frac_sample": FRACS, "frac_damage": 0.0, "replicate": 0, "n_train": n,
                         "acc": 1 - err, "auc": 1 - err / 5, "fit_seconds": seconds_per_row * n} | cols)


@pytest.fixture
def lever_model(monkeypatch):
    from datavsmath import models

    monkeypatch.setitem(models.MODELS, "cnn_x", models.ModelSpec(
        "cnn_x", lambda seed, k: None, 1.0, "test lever", base="cnn", lever="augmentation"))


def test_a_lever_worth_k_rows_needs_a_kth_of_the_rows(lever_model):
    df = pd.concat([curve("cnn", seed=1), curve("cnn_x", k=2.0, experiment="augmentation", seed=2)])
    adv = advise_levers(df, threshold=0.87, rows=1000, price_label=1.0)
    t = adv.table().set_index("path")
    base, lever = t.loc["collect for cnn"], t.loc["augmentation: cnn_x"]
    assert base["verdict"] == lever["verdict"] == "reachable"
    assert lever["n_star"] == pytest.approx(base["n_star"] / 2, rel=0.15)
    assert lever["n_ci_low"] < base["n_star"] / 2 < lever["n_ci_high"]
    # labels only: the cost is the new labels, and the cheaper path comes first
    assert lever["cost"] == pytest.approx(lever["n_star"] - 1000)
    assert adv.cheapest["path"] == "augmentation: cnn_x"
    assert lever["cost_ci_low"] <= lever["cost"] <= lever["cost_ci_high"]


def test_break_even_price_balances_labels_against_compute(lever_model):
    # the lever needs half the labels but 20 times the compute per row
    df = pd.concat([curve("cnn", seed=1), curve("cnn_x", k=2.0, experiment="augmentation",
                                                 seconds_per_row=0.02, seed=2)])
    adv = advise_levers(df, threshold=0.87, rows=0, price_label=1.0, price_hour=50.0)
    t = adv.table().set_index("path")
    b, lv = t.loc["collect for cnn"], t.loc["augmentation: cnn_x"]
    p = lv["break_even_label_price"]
    assert lv["pays_when"] == "label price above" and p > 0
    cost = lambda r, price: r["new_labels"] * price + r["hours"] * 50.0  # noqa: E731
    assert cost(lv, p) == pytest.approx(cost(b, p), rel=1e-9)
    assert cost(lv, 2 * p) < cost(b, 2 * p)


def test_review_cost_and_pruning_pool(lever_model):
    rnd = curve("rf", experiment="pruning", selection="random", seed=3)
    easy = curve("rf", k=0.05, experiment="pruning", selection="keep_easy", seed=4)
    df = pd.concat([curve("cnn", seed=1), curve("rf", seed=5), rnd, easy])
    adv = advise_levers(df, threshold=0.87, rows=500, price_label=1.0, price_review=0.5, quality=0.8)
    t = adv.table().set_index("path")
    assert (t["reviews"] == 500).all()
    assert t.loc["collect for cnn", "cost"] == pytest.approx(t.loc["collect for cnn", "new_labels"] + 250)
    pruned = t.loc["pruning: rf, keep easy"]
    assert pruned["verdict"] == "undetermined" and "pool of 60,000" in pruned["note"]
    assert any("reviews the 500 rows" in n for n in adv.notes)


def test_fit_hours_per_row():
    df = curve("cnn", seconds_per_row=0.036)
    assert fit_hours(df)["cnn"] == pytest.approx(0.036 / 3600)


@pytest.mark.parametrize("kw, match", [({"threshold": 1.2}, "strictly between"),
                                       ({"quality": 0.0}, "quality"),
                                       ({"rows": -1}, "non-negative")])
def test_validation(kw, match):
    args = {"threshold": 0.9, "rows": 100, "price_label": 1.0} | kw
    with pytest.raises(ValueError, match=match):
        advise_levers(curve("cnn"), **args)


def test_cli_advise_levers_on_quick(capsys):
    rc = main(["advise", str(QUICK), "--levers", "--target-acc", "0.88", "--rows", "3000",
               "--cost-label", "0.05", "--cost-hour", "3", "--json"])
    got = json.loads(capsys.readouterr().out)
    assert rc == 0 and got["advised"] and got["cheapest"]
    paths = {p["path"] for p in got["paths"]}
    assert {"collect for cnn", "collect for rf"} <= paths and any(p.startswith("pruning") for p in paths)
    assert main(["advise", str(QUICK), "--target-acc", "0.88", "--rows", "3000", "--cost-label", "1"]) == 2
    assert "needs --quality and --cost-clean" in capsys.readouterr().err
