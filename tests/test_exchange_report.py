"""The Exchange rates page's pieces (datavsmath.report.exchange) on the shipped tables."""

from pathlib import Path

import numpy as np
import pandas as pd

from datavsmath.report import exchange as X

ROOT = Path(__file__).resolve().parents[1]


def table(**over):
    base = {"dataset": "fashion", "family": "better math", "lever": "cnn", "baseline": "rf", "n": 6000.0,
            "n_eff": 24000.0, "ci_low": 16000.0, "ci_high": 31000.0, "multiplier": 4.0,
            "mult_ci_low": 16000 / 6000, "mult_ci_high": 31000 / 6000, "gained": 18000.0,
            "verdict": "reachable", "note": ""}
    return pd.DataFrame([base | over])


def test_combine_takes_each_dataset_and_family_from_the_first_folder_that_has_it():
    full = table()
    quick = pd.concat([table(n_eff=1.0), table(family="pruning", lever="rf, keep easy"),
                       table(dataset="mnist", n_eff=2.0)], ignore_index=True)
    got = X.combine({"results/full": full, "results/quick": quick, "results/none": None})
    assert len(got) == 3
    fashion_math = got[(got["dataset"] == "fashion") & (got["family"] == "better math")].iloc[0]
    assert fashion_math["source"] == "results/full" and fashion_math["n_eff"] == 24000.0
    assert set(got.loc[got["dataset"] == "mnist", "source"]) == {"results/quick"}


def test_view_words_each_verdict():
    t = pd.concat([table(), table(lever="dnn", verdict="undetermined", n_eff=np.nan, ci_high=np.inf),
                   table(lever="xgb", verdict="not reachable", n_eff=np.nan, ci_low=np.nan, ci_high=np.nan)],
                  ignore_index=True)
    v = X.exchange_view(t)
    words = dict(zip(v["Lever"], v["Baseline rows worth the same [95%]"]))
    assert words["cnn"] == "24,000 [16,000, 31,000]"
    assert words["dnn"] == "undetermined: at least 16,000"
    assert words["xgb"].startswith("never")
    assert list(v["Multiplier [95%]"]) == ["x4.00 [2.67, 5.17]", "-", "-"]


def test_site_rates_headline_and_figure_from_the_shipped_tables():
    rates, sources = X.site_rates(ROOT)
    assert sources and not rates.empty
    head = X.headline_rows(rates)
    assert list(head["Lever family"]) == [f for f in X.FAMILIES if f in set(head["Lever family"])]
    assert {"better math", "pruning"} <= set(head["Lever family"])
    assert "each lever is worth this many rows" in X.exchange_verdict(rates)
    fig = X.exchange_figure(rates)
    assert len(fig.data) == (np.isclose(rates.loc[rates["dataset"] == "fashion", "n"], 6000)).sum()
