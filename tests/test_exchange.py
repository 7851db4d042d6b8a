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
    assert set(t["lever"]) == {"model base", "model lever"}
    assert "no size x damage grid" in " ".join(res.notes)
    assert "Exchange rates" in res.summary().as_text()
    with pytest.raises(ValueError, match="positive"):
        exchange_rates(df, at=[-5])


def test_cli_exchange_on_quick(capsys):
    assert main(["exchange", str(QUICK), "--at", "6000"]) == 0
    out = capsys.readouterr().out
    assert "Exchange rates in training rows" in out and "model cnn" in out
    assert main(["exchange", str(QUICK), "--at", "6000", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    rows = got["rows"]
    assert len([r for r in rows if r["lever"].startswith("model ")]) == 12  # 4 models, ordered pairs
    assert {r["verdict"] for r in rows} <= {"reachable", "not reachable", "undetermined"}


def test_cli_exchange_missing_folder(tmp_path, capsys):
    assert main(["exchange", str(tmp_path / "missing")]) == 2
    assert "no results folder" in capsys.readouterr().err
