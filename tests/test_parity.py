"""Parity with R's tables: replicate intervals, pooled single-run spread, cell-by-cell
comparison, and the ``datavsmath parity`` command."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from datavsmath.report import parity as RP
from datavsmath.stats import parity as P


def test_mean_ci_and_prediction_interval_match_textbook_values():
    m, lo, hi, n = P.mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (m, n) == (2.0, 3) and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    plo, phi = P.prediction_interval([1.0, 2.0, 3.0])
    assert phi - 2 == pytest.approx(4.302652729911275 * math.sqrt(1 + 1 / 3))
    assert math.isnan(P.mean_ci([0.5])[1]) and math.isnan(P.prediction_interval([0.5])[0])
    d, dlo, dhi = P.diff_ci([1.0, 1.1, 0.9], [0.5, 0.6, 0.4])
    assert d == pytest.approx(0.5) and dlo < 0.5 < dhi and dlo > 0


def _toy(values_by_model: dict, experiment="size", frac_sample=0.5) -> pd.DataFrame:
    rows = [{"dataset": "fashion", "experiment": experiment, "model": m, "frac_sample": frac_sample,
             "frac_damage": 0.0, "replicate": i, "acc": v, "auc": v}
            for m, vals in values_by_model.items() for i, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_parity_cells_flags_r_inside_and_outside_our_interval():
    ours = _toy({"rf": [0.80, 0.81, 0.79], "cnn": [0.90, 0.901, 0.899]})
    r = _toy({"rf": [0.805], "cnn": [0.95], "xgb": [0.5]})
    cells = P.parity_cells(ours, r, "acc")
    assert list(cells["model"].astype(str)) == ["rf", "cnn"]  # R's order; xgb: not ours
    got = dict(zip(cells["model"].astype(str), cells["inside"]))
    assert got == {"rf": 1.0, "cnn": 0.0}
    assert cells.set_index(cells["model"].astype(str)).loc["cnn", "diff"] == pytest.approx(-0.05)
    single = P.parity_cells(_toy({"rf": [0.8]}), r, "acc")
    assert math.isnan(single["inside"].iloc[0])


def test_systematic_differences_finds_a_shift_but_not_noise():
    rng = np.random.default_rng(0)
    fr = np.round(np.arange(1, 29) / 29, 4)
    rows = []
    for m, shift in [("rf", 0.0), ("cnn", 0.01)]:
        for f in fr:
            rows.append({"dataset": "fashion", "experiment": "size", "model": m, "frac_sample": f,
                         "frac_damage": 0.0, "metric": "acc", "diff": shift + rng.normal(0, 0.003), "inside": 1.0})
    cells = pd.DataFrame(rows)
    tested = P.systematic_differences(cells)
    assert sorted(tested["model"]) == ["cnn", "rf"]
    found = tested[tested["systematic"]]
    assert list(found["model"]) == ["cnn"]
    assert P.systematic_differences(cells.iloc[:5]).empty  # too few cells to test
    text = RP.describe_systematic(found.iloc[0])
    assert "cnn" in text and "higher" in text and "of 28 cells" in text


def _grid(rng, cells: int, replicates: int, sd: float, model="cnn", experiment="random_damage"):
    """Our ``replicates`` runs and R's one run of ``cells`` cells, all drawn from one normal
    distribution per cell (parity holds by construction)."""
    mu = rng.uniform(0.6, 0.9, cells)
    fr = np.round(np.arange(cells) / 100, 2)
    ours = pd.DataFrame([{"dataset": "fashion", "experiment": experiment, "model": model, "frac_sample": 1.0,
                          "frac_damage": f, "replicate": i, "acc": m + rng.normal(0, sd)}
                         for f, m in zip(fr, mu) for i in range(replicates)])
    r = pd.DataFrame([{"dataset": "fashion", "experiment": experiment, "model": model, "frac_sample": 1.0,
                       "frac_damage": f, "acc": m + rng.normal(0, sd)} for f, m in zip(fr, mu)])
    return ours, r


def test_run_spread_pools_the_replicated_cells():
    ours = pd.concat([_toy({"rf": [0.80, 0.82]}, frac_sample=0.5), _toy({"rf": [0.70, 0.74]}, frac_sample=0.6),
                      _toy({"rf": [0.9]}, frac_sample=0.7)])
    spread = P.run_spread(ours, "acc", ["dataset", "model"])
    # squared deviations: 2 * 0.01^2 + 2 * 0.02^2 = 0.001 over 2 degrees of freedom
    assert spread["df"].tolist() == [2] and spread["cells"].tolist() == [2]
    assert spread["sd"].iloc[0] == pytest.approx(math.sqrt(0.001 / 2))


def test_a_single_run_gets_the_pooled_spread_of_its_experiment_and_model():
    rng = np.random.default_rng(1)
    ours, r = _grid(rng, cells=10, replicates=2, sd=0.01)
    single = ours[ours["frac_damage"] == 0.0].iloc[:1]
    ours = pd.concat([ours[ours["frac_damage"] != 0.0], single])
    cells = P.parity_cells(ours, r, "acc")
    row = cells[cells["frac_damage"] == 0.0].iloc[0]
    assert row["n"] == 1 and row["df"] == 9 and row["basis"] == "pooled over random_damage cells"
    assert row["hi"] - row["ours"] == pytest.approx(P.stats.t.ppf(0.975, 9) * row["sd"] * math.sqrt(2))
    assert cells["inside"].notna().all()
    # without replicated cells there is no interval, and the table says so
    alone = P.parity_cells(single, r, "acc")
    assert math.isnan(alone["inside"].iloc[0]) and alone["basis"].iloc[0] == "none (single run)"


def test_prediction_intervals_cover_r_at_the_nominal_rate_when_parity_holds():
    """Known truth: R's run and ours come from the same normal distribution, so R lies inside the
    pooled 95% prediction interval 95% of the time (exact under normality). 300 groups of 28
    cells: the share's Monte Carlo standard error is under 0.5 points, so 93.5-96.5% is a
    3-sigma band."""
    rng = np.random.default_rng(7)
    inside = []
    for _ in range(300):
        ours, r = _grid(rng, cells=28, replicates=2, sd=0.01)
        inside.append(P.parity_cells(ours, r, "acc")["inside"].to_numpy())
    share = np.concatenate(inside).mean()
    assert 0.935 <= share <= 0.965, share


def test_a_shifted_model_is_flagged_outside_and_listed_first():
    rng = np.random.default_rng(3)
    ours, r = _grid(rng, cells=28, replicates=2, sd=0.005)
    r.loc[5, "acc"] += 0.1  # one cell where R is far off
    cells = P.parity_cells(ours, r, "acc")
    far = P.outliers(cells, top=3)
    assert far.iloc[0]["frac_damage"] == r.loc[5, "frac_damage"] and far.iloc[0]["z"] < -10
    summary = P.parity_summary(cells, ["experiment", "model"])
    assert summary["max_abs_diff"].iloc[0] == pytest.approx(cells["diff"].abs().max())
    assert 0 < summary["consistent"].iloc[0] < 1


def test_parity_command_prints_the_summary_and_writes_tables(tmp_path):
    from datavsmath.experiments import DAMAGE_GRID

    rng = np.random.default_rng(5)
    ours, _ = _grid(rng, cells=28, replicates=2, sd=0.005, model="rf")
    ours["frac_damage"] = np.repeat(DAMAGE_GRID, 2)  # R's 28 damage levels
    folder = tmp_path / "res"
    folder.mkdir()
    ours.assign(auc=ours["acc"]).to_csv(folder / "results.csv", index=False)
    from datavsmath.cli import main

    assert main(["parity", str(folder), "--to", str(tmp_path / "out")]) == 0
    cells = pd.read_csv(tmp_path / "out" / "tables" / "parity_cells.csv")
    assert set(cells["metric"]) == {"acc", "auc"} and (cells["experiment"] == "random_damage").all()
    assert len(cells) == 2 * 28  # R published 28 random-damage levels at all rows


def test_parity_command_explains_a_folder_with_nothing_to_compare(tmp_path, capsys):
    from datavsmath.cli import main

    assert main(["parity", str(tmp_path / "missing")]) == 2
    assert "datavsmath run" in capsys.readouterr().err


def test_digit_mnist_size_cells_are_compared_with_r_first_size_run(tmp_path, capsys):
    from datavsmath.cli import main

    fracs = [0.01, 0.02, 0.05, 0.1, 0.2]
    ours = pd.DataFrame({"experiment": "size", "dataset": "mnist", "model": "rf", "frac_sample": fracs,
                         "frac_damage": 0.0, "replicate": 0, "acc": 0.9, "auc": 0.99})
    folder = tmp_path / "res"
    folder.mkdir()
    ours.to_csv(folder / "results.csv", index=False)
    assert main(["parity", str(folder), "--to", str(tmp_path / "out")]) == 0
    # the dataset is named beside the experiment (Fashion-MNIST, the default, is not)
    assert re.search(r"size \(mnist\)\s+acc\s+rf\s+5\s", capsys.readouterr().out)
    cells = pd.read_csv(tmp_path / "out" / "tables" / "parity_cells.csv")
    from datavsmath.report.site import R_RESULTS

    r = pd.read_csv(R_RESULTS / "data-size-results.csv").query("exp_name == 'rf' and frac in @fracs")
    assert (cells["dataset"] == "mnist").all() and len(cells) == 2 * 5
    np.testing.assert_allclose(cells.query("metric == 'acc'").sort_values("frac_sample")["r"], r.sort_values("frac")["acc"])
