"""Exchange rates: known answers on synthetic learning curves, and ``datavsmath exchange``."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datavsmath.cli import main
from datavsmath.stats.exchange import COLUMNS, effective_rows, exchange_rates
from datavsmath.stats.learning import fit_learning_curves

QUICK = Path(__file__).resolve().parents[1] / "results" / "quick"
FRACS = np.r_[np.arange(1, 10) / 100, np.arange(1, 10) / 10, np.arange(91, 101) / 100]
N_ROWS = 60000 * FRACS


def curve(model, k=1.0, c=0.05, a=1.2, b=0.3, sd=0.002, seed=0):
    """Size rows whose error is the power law with floor at k n: a lever worth k rows per row."""
    rng = np.random.default_rng(seed)
    err = c + a * (k * N_ROWS) ** (-b) + sd * rng.standard_normal(N_ROWS.size)
    return pd.DataFrame({"experiment": "size", "dataset": "fashion", "model": model,
                         "frac_sample": FRACS, "frac_damage": 0.0, "replicate": 0,
                         "acc": 1 - err, "auc": 1 - err / 5})


def fitted(*frames):
    return fit_learning_curves(pd.concat(frames, ignore_index=True), quiet=True)


@pytest.mark.parametrize("k", [3.0, 0.5])
def test_known_multiplier_inside_interval(k):
    fits = fitted(curve("base", seed=1), curve("lever", k=k, seed=2))
    for n in (6000.0, 12000.0):
        r = effective_rows(fits.get("lever"), fits.get("base"), n)
        assert r["verdict"] == "reachable"
        assert r["mult_ci_low"] < k < r["mult_ci_high"], (n, r)
        assert r["multiplier"] == pytest.approx(k, rel=0.25)
        assert r["gained"] == pytest.approx(r["n_eff"] - n)


def test_lever_equal_to_baseline_holds_one():
    fits = fitted(curve("base", seed=3), curve("same", seed=4))
    r = effective_rows(fits.get("same"), fits.get("base"), 6000.0)
    assert r["verdict"] == "reachable"
    assert r["mult_ci_low"] < 1.0 < r["mult_ci_high"]
    assert r["mult_ci_high"] < 2.0  # an interval that says something


def test_floor_above_the_lever_is_not_reachable():
    fits = fitted(curve("base", c=0.2, seed=5), curve("lever", seed=6))
    r = effective_rows(fits.get("lever"), fits.get("base"), 6000.0)
    assert r["verdict"] == "not reachable"
    assert np.isnan(r["n_eff"]) and np.isnan(r["multiplier"])
    assert "no amount of data" in r["note"]
    # the other way round the better baseline gets there with fewer rows
    back = effective_rows(fits.get("base"), fits.get("lever"), 6000.0)
    assert back["verdict"] == "reachable" and back["mult_ci_high"] < 1


def test_exchange_rates_table_and_validation():
    df = pd.concat([curve("base", seed=1), curve("lever", k=3.0, seed=2)], ignore_index=True)
    res = exchange_rates(df, at=[6000])
    t = res.table()
    assert list(t.columns) == COLUMNS and len(t) == 2
    assert set(t["lever"]) == {"base", "lever"} and set(t["family"]) == {"better math"}
    assert "no size x damage grid" in " ".join(res.notes)
    assert "Exchange rates" in res.summary().as_text()
    with pytest.raises(ValueError, match="positive"):
        exchange_rates(df, at=[-5])


def test_cli_exchange_on_quick(capsys):
    assert main(["exchange", str(QUICK), "--at", "6000"]) == 0
    out = capsys.readouterr().out
    assert "Exchange rates in training rows" in out and "better math" in out and "pruning" in out
    assert main(["exchange", str(QUICK), "--at", "6000", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    rows = got["rows"]
    fashion = [r for r in rows if r["dataset"] == "fashion"]
    assert len([r for r in fashion if r["family"] == "better math"]) == 12  # 4 models, ordered pairs
    assert {r["family"] for r in fashion} >= {"better math", "cleaner labels", "pruning"}
    assert {r["verdict"] for r in rows} <= {"reachable", "not reachable", "undetermined"}


def test_cli_exchange_missing_folder(tmp_path, capsys):
    assert main(["exchange", str(tmp_path / "missing")]) == 2
    assert "no results folder" in capsys.readouterr().err


def with_columns(frame, **cols):
    return frame.assign(**cols)


def test_cleaner_labels_from_each_quality_curve():
    """A damaged level whose rows are worth k = 0.4 clean rows: clean labels multiply by 1/k."""
    clean = with_columns(curve("cnn", seed=7), experiment="size_x_damage")
    damaged = with_columns(curve("cnn", k=0.4, seed=8), experiment="size_x_damage", frac_damage=0.2)
    df = pd.concat([curve("cnn", seed=9), clean, damaged], ignore_index=True)
    t = exchange_rates(df, at=[6000]).table()
    row = t[t["family"] == "cleaner labels"].iloc[0]
    assert row["baseline"] == "cnn at quality 0.8" and row["verdict"] == "reachable"
    assert row["mult_ci_low"] < 1 / 0.4 < row["mult_ci_high"]


def test_pruning_rule_priced_in_random_rows():
    rand = with_columns(curve("rf", seed=10), experiment="pruning", selection="random")
    easy = with_columns(curve("rf", k=0.25, seed=11), experiment="pruning", selection="keep_easy")
    df = pd.concat([curve("rf", seed=12), rand, easy], ignore_index=True)
    t = exchange_rates(df, at=[6000]).table()
    row = t[t["family"] == "pruning"].iloc[0]
    assert (row["lever"], row["baseline"]) == ("rf, keep easy", "rf, random rows")
    assert row["mult_ci_low"] < 0.25 < row["mult_ci_high"]


def test_lever_model_priced_against_its_plain_model(monkeypatch):
    """A registered model with ``base``/``lever`` (here a stand-in for an augmented CNN, worth
    2 rows per row) is priced in rows of its plain model's size curve."""
    from datavsmath import models

    spec = models.ModelSpec("cnn_x", lambda seed, k: None, 1.0, "test lever", base="cnn",
                            lever="augmentation")
    monkeypatch.setitem(models.MODELS, "cnn_x", spec)
    lever = with_columns(curve("cnn_x", k=2.0, seed=13), experiment="augmentation")
    df = pd.concat([curve("cnn", seed=14), curve("rf", seed=15), lever], ignore_index=True)
    res = exchange_rates(df, at=[6000])
    t = res.table()
    row = t[t["family"] == "augmentation"].iloc[0]
    assert (row["lever"], row["baseline"]) == ("cnn_x", "cnn")
    assert row["mult_ci_low"] < 2.0 < row["mult_ci_high"]
    # the lever model is not one of the "better math" models
    assert "cnn_x" not in set(t.loc[t["family"] == "better math", "lever"])
    assert "not measured in these results: pretraining, pruning" in " ".join(res.notes)


def test_model_spec_base_and_lever_go_together():
    from datavsmath.models import ModelSpec

    with pytest.raises(ValueError, match="go together"):
        ModelSpec("x", lambda seed, k: None, 1.0, "x", base="cnn")


def test_lever_beyond_its_data_is_marked_extrapolated():
    fits = fitted(curve("base", seed=16), curve("lever", k=2.0, seed=17))
    r = effective_rows(fits.get("lever"), fits.get("base"), 120000.0)
    assert "extrapolated beyond its largest size 60,000" in r["note"]


def test_cli_exchange_writes_table_and_picks_dataset(tmp_path, capsys):
    assert main(["exchange", str(QUICK), "--at", "6000", "--dataset", "fashion", "--to", str(tmp_path)]) == 0
    t = pd.read_csv(tmp_path / "tables" / "exchange_rates.csv")
    assert list(t.columns) == COLUMNS and set(t["dataset"]) == {"fashion"}
    capsys.readouterr()
    assert main(["exchange", str(QUICK), "--dataset", "nosuch"]) == 2
    assert "no results on dataset 'nosuch'" in capsys.readouterr().err


def test_own_dataset_is_priced_under_its_name():
    """Results of a dataset of one's own (here 'shop', 5,000 training rows, n from n_train) are
    priced like Fashion-MNIST's, one block per dataset."""
    own = pd.concat([curve("rf", seed=18), curve("dnn", k=2.0, seed=19)], ignore_index=True)
    own = own.assign(dataset="shop", n_train=(5000 * own["frac_sample"]).round())
    df = pd.concat([own, curve("rf", seed=20), curve("cnn", seed=21)], ignore_index=True)
    res = exchange_rates(df, at=[1000])
    t = res.table()
    assert set(t["dataset"]) == {"fashion", "shop"}
    shop = t[(t["dataset"] == "shop") & (t["lever"] == "dnn")].iloc[0]
    assert shop["baseline"] == "rf" and shop["mult_ci_low"] < 2.0 < shop["mult_ci_high"]
    assert "Dataset shop:" in res.summary().as_text()


def test_cli_exchange_prices_all_five_levers_and_the_transfer_law(capsys):
    """The shipped preview holds every lever: better math, cleaner labels, augmentation,
    pretraining (both directions, each with its effective-data-transferred law) and pruning."""
    assert main(["exchange", str(QUICK), "--at", "6000", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    families = {(r["dataset"], r["family"]) for r in got["rows"]}
    assert {("fashion", f) for f in ("better math", "cleaner labels", "augmentation", "pretraining",
                                     "pruning")} <= families
    assert ("mnist", "pretraining") in families
    assert not any("pretraining" in n and "not measured" in n and n.startswith("fashion") for n in got["notes"])
    laws = {(t["dataset"], t["lever"]): t for t in got["transfer"]}
    assert set(laws) == {("fashion", "cnn_from_mnist"), ("mnist", "cnn_from_fashion")}
    law = laws[("fashion", "cnn_from_mnist")]
    assert law["sizes_fitted"] >= 3 and law["k_ci_low"] < law["k"] < law["k_ci_high"]
