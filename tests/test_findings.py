"""The findings' arithmetic, wording and verdicts (datavsmath.report.findings, .formatting, .verdicts)."""

from __future__ import annotations

import math

from datavsmath.report import findings as C
from datavsmath.report import formatting as W
from datavsmath.report import tables as T
from datavsmath.report import verdicts as V


def test_fmt_ci_says_single_run():
    assert W.fmt_ci(0.9, math.nan, math.nan) == "0.900 (single run, no CI)"
    assert W.fmt_ci(0.01, -0.002, 0.02, signed=True) == "+0.010 (95% CI -0.002 to +0.020)"


def test_compare_costs_decides_on_the_difference_interval():
    assert C.compare_costs((0.01, 0.0, 0.02), (0.05, 0.04, 0.06)).startswith("larger: damage loss minus data loss +0.040 [+0.026,")
    assert C.compare_costs((0.05, 0.04, 0.06), (0.01, 0.0, 0.02)).startswith("smaller")
    assert C.compare_costs((0.01, 0.0, 0.02), (0.015, 0.01, 0.03)).startswith("undetermined: damage loss minus data loss +0.005")
    # overlapping intervals, yet the difference's interval excludes zero: decided, not "overlap"
    assert C.compare_costs((0.010, 0.002, 0.018), (0.024, 0.016, 0.032)).startswith("larger")
    single = C.compare_costs((0.01, math.nan, math.nan), (0.05, math.nan, math.nan))
    assert single.startswith("undetermined: single runs") and "+0.040" in single
    assert C.compare_costs((math.nan, 0, 0), (0.05, 0, 0)) == "cannot be compared (a cell is missing)"


def test_cell_means_table_has_a_row_per_level_and_a_column_per_model():
    import pandas as pd

    rows = [{"experiment": "random_damage", "dataset": "fashion", "model": m, "frac_sample": 1.0,
             "frac_damage": d, "replicate": i, "acc": 0.9 - d + 0.01 * i}
            for m in ("cnn", "rf") for d in (0.0, 0.5) for i in range(3)]
    table = C.cell_means_table(pd.DataFrame(rows), "random_damage", "acc")
    assert list(table.columns) == ["damage d", "correct 1 - d", "rf", "cnn"]  # R's model order
    assert list(table["damage d"]) == ["0%", "50%"]
    assert table.loc[1, "rf"].startswith("0.410 [")
    size = C.cell_means_table(pd.DataFrame(rows).assign(experiment="size"), "size", "acc")
    assert list(size["rows"]) == ["60,000"] and size.loc[0, "cnn"].startswith("0.660")


# --------------------------------------------------------------------------------------------
# Verdicts and curated tables
# --------------------------------------------------------------------------------------------

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _deriv(est, lo, hi, el=(-10.0, -19.0, -2.5)):
    """A data_quality_derivative.csv with one level row and one overall row."""
    base = {"source": "quick", "dataset": "fashion", "experiment": "size_x_damage", "model": "cnn",
            "metric": "acc", "threshold": 0.9, "form": "power"}
    return pd.DataFrame([
        {**base, "scope": "level", "quality": 1.0, "n_needed": 16486.7},
        {**base, "scope": "overall", "quality_high": 1.0, "quality_low": 0.6, "derivative_frac": est,
         "ci_low_frac": lo, "ci_high_frac": hi, "elasticity": el[0], "elasticity_ci_low": el[1],
         "elasticity_ci_high": el[2], "extrapolated": np.nan},
    ])


def test_fmt_interval_and_numbers():
    assert W.fmt_interval(27733.2, 23258.4, 33068.0) == "27,733 [23,258, 33,068]"
    assert W.fmt_interval(0.5004, 0.434, 0.577, 2) == "0.5 [0.43, 0.58]"
    assert W.fmt_interval(0.88, math.nan, math.nan) == "0.88 (no interval)"
    assert W.fmt_num(2.5e14) == "2.5e+14"  # no 30-digit integers


def test_loss_words_say_the_sign_in_words():
    assert W.loss_words(0.028) == "loses 0.028 accuracy (single run, no interval)"
    assert W.loss_words(-0.004, -0.006, -0.002) == "gains 0.004 accuracy (95% CI 0.002 to 0.006)"
    assert W.loss_words(0.02, -0.01, 0.05) == "loses 0.020 accuracy (95% CI from a gain of 0.010 to a loss of 0.050)"
    assert "+" not in W.loss_words(0.028, 0.02, 0.035)


def test_derivative_verdict_answers_the_talks_question():
    yes = V.derivative_verdict(_deriv(-40.0, -60.0, -20.0))
    assert yes.startswith("**Yes") and "-40 [-60, -20]" in yes
    no = V.derivative_verdict(_deriv(-0.5, -0.8, -0.2))
    assert no.startswith("**No")
    open_ = V.derivative_verdict(_deriv(-168.0, -871.5, 535.5))
    assert open_.startswith("**Not established") and "includes -1 and 0" in open_
    assert "-168 [-872, 536]" in open_ and "wholly below -1" in open_
    assert "not tested" in V.derivative_verdict(None)
    assert "not tested" in V.derivative_verdict(_deriv(np.nan, np.nan, np.nan))


def test_derivative_table_keeps_the_columns_a_reader_needs():
    t = T.derivative_table(_deriv(-168.0, -871.5, 535.5))
    assert len(t) == 1 and t.shape[1] == 4  # the level row is left to the download
    assert t.iloc[0]["quality"] == "1 to 0.6 (overall)"
    assert t.iloc[0]["d(data)/d(quality) [95% CI]"] == "-168 [-872, 536]"


def _grid(experiment, models, fracs, damages, acc):
    return pd.DataFrame([{"experiment": experiment, "dataset": "fashion", "model": m, "frac_sample": s,
                          "frac_damage": d, "replicate": 0, "acc": acc(m, s, d), "auc": 0.9}
                         for m in models for s in fracs for d in damages])


def test_size_verdict_compares_data_and_math_with_numbers():
    res = _grid("size", ["rf", "cnn"], [0.01, 0.2], [0.0],
                lambda m, s, d: (0.85 if m == "cnn" else 0.80) - (0.1 if s < 0.1 else 0))
    text = V.size_verdict(res)
    assert text.startswith("**Undetermined at one run per cell:** in these single runs more data moved accuracy more")
    assert "CNN is best at accuracy 0.850" in text and "single run" in text
    # three replicates a step: decided on the difference's interval, either way, or undetermined
    rng = np.random.default_rng(0)

    def replicated(gain, gap, sd):
        return pd.concat([_grid("size", ["rf", "cnn"], [0.01, 0.2], [0.0],
                                lambda m, s, d: 0.7 + (gap if m == "cnn" else 0) + (gain if s > 0.1 else 0)
                                + rng.normal(0, sd)).assign(replicate=r) for r in range(3)])

    assert V.size_verdict(replicated(0.10, 0.02, 0.002)).startswith("**More data moved accuracy more")
    assert V.size_verdict(replicated(0.02, 0.10, 0.002)).startswith("**The choice of model moved accuracy more")
    assert V.size_verdict(replicated(0.05, 0.05, 0.02)).startswith("**Undetermined:**")


def test_breakdown_verdict_uses_the_fit_or_the_grid_bracket():
    res = _grid("constant_damage", ["rf", "cnn"], [0.05], [0.0, 0.3, 0.5, 0.7],
                lambda m, s, d: 0.8 if d < 0.5 else 0.05)
    bp = pd.DataFrame([{"experiment": "constant_damage", "model": "rf", "metric": "acc",
                        "breakdown_frac": 0.486, "ci_low": 0.44, "ci_high": 0.537}])
    text = V.breakdown_verdict(res, "constant", bp)
    assert "RF at d = 0.49 [0.44, 0.54]" in text
    assert "CNN between d = 0.3 and 0.5 (grid bracket" in text
    assert "3,000 rows, not 60,000" in text


def test_size_x_damage_verdict_says_when_no_cell_reaches_the_threshold():
    res = _grid("size_x_damage", ["cnn"], [0.01, 0.1], [0.0, 0.5],
                lambda m, s, d: 0.85 - d * 0.8 - (0.1 if s < 0.1 else 0))
    text = V.size_x_damage_verdict(res, "acc", 0.9)
    assert text.startswith("**Undetermined at one run per cell:** in these single runs label damage moved")
    assert "No cell reaches accuracy above 0.9" in text
    # with replicates the comparison is decided on the difference's interval, or undetermined
    rng = np.random.default_rng(1)

    def replicated(sd):
        return pd.concat([_grid("size_x_damage", ["cnn"], [0.01, 0.1], [0.0, 0.5],
                                lambda m, s, d: 0.85 - d * 0.8 - (0.1 if s < 0.1 else 0) + rng.normal(0, sd))
                          .assign(replicate=r) for r in range(3)])

    assert V.size_x_damage_verdict(replicated(0.002), "acc").startswith("**Label damage moved the CNN's accuracy more:**")
    assert V.size_x_damage_verdict(replicated(0.3), "acc").startswith("**Undetermined:**")


def test_choice_table_uses_the_selection_criterion():
    fits = pd.DataFrame([
        {"model": "xgb", "metric": "acc", "form": f, "aic": aic, "aicc": aicc, "criterion": "aicc",
         "weight": w, "selected": sel}
        for f, aic, aicc, w, sel in [("exp", -40.0, -16.0, 0.1, False), ("power", -30.0, -20.0, 0.9, True)]])
    t = T.choice_table(fits)
    assert "AICc" in t.columns and "ΔAICc" in t.columns and "aic" not in t.columns
    assert list(t["form"]) == ["power", "exp"] and list(t["ΔAICc"]) == ["0.0", "4.0"]


def test_needed_table_marks_extrapolated_and_unreachable():
    needed = pd.DataFrame([
        {"model": "cnn", "metric": "acc", "form": "power", "target": 0.9, "n_needed": 34395.0,
         "ci_low": 14147.7, "ci_high": 83618.6, "reachable": True, "extrapolated": True},
        {"model": "rf", "metric": "acc", "form": "power", "target": 0.99, "n_needed": np.nan,
         "ci_low": np.nan, "ci_high": np.nan, "reachable": False, "extrapolated": False}])
    t = T.needed_table(needed)
    assert list(t["training rows needed [95% CI]"]) == ["34,395 [14,148, 83,619] (extrapolated)", "not reachable"]
    # with the verdict column: undetermined rows keep their point and lower limit and say why
    verdicts = pd.DataFrame([
        {"model": "dnn", "metric": "acc", "form": "average", "target": 0.9, "verdict": "undetermined",
         "n_needed": 446540.0, "ci_low": 176189.0, "ci_high": np.inf, "status": "ok",
         "note": "undetermined: ...; the floor 0.076 (95% CI [0, 0.105]) reaches the target error 0.1"},
        {"model": "rf", "metric": "acc", "form": "average", "target": 0.9, "verdict": "undetermined",
         "n_needed": np.nan, "ci_low": 7.1e6, "ci_high": np.inf, "status": "beyond_horizon",
         "note": "undetermined: ...; the estimate lies beyond the horizon (100x ...)"},
        {"model": "cnn", "metric": "acc", "form": "average", "target": 0.6, "verdict": "reachable",
         "n_needed": 0.0, "ci_low": 0.0, "ci_high": np.nan, "status": "already_met", "note": "already met"}])
    assert list(T.needed_table(verdicts)["training rows needed [95% CI]"]) == [
        "undetermined: 446,540 [176,189, no upper limit] (the floor may lie above the target)",
        "undetermined: at least 7,100,000 (beyond the horizon)", "0 (met already)"]


def test_joint_law_and_backtest_views_keep_what_a_reader_needs():
    import pandas as pd

    joint = pd.DataFrame({"metric": ["acc", "acc"], "param": ["b", "g"], "quality": [float("nan"), 0.8],
                          "estimate": [0.35, 0.61], "ci_low": [0.3, 0.52], "ci_high": [0.4, 0.7],
                          "std_err": [0.02, 0.04], "notes": ["", ""]})
    v = T.joint_law_view(joint)
    assert list(v.columns) == ["metric", "parameter", "estimate [95% CI]"]
    assert list(v["parameter"]) == ["b", "g (q = 0.8)"] and v.loc[1, "estimate [95% CI]"] == "0.61 [0.52, 0.7]"
    # a law the data do not identify shows the reason, not its numbers as estimates
    unident = pd.concat([joint.assign(status="identified"),
                         joint.assign(metric="auc", status="not identified: b holds 0")])
    u = T.joint_law_view(unident)
    assert list(u["metric"]) == ["acc", "acc", "auc"]
    assert u.iloc[2]["estimate [95% CI]"].startswith("not identified: b holds 0")
    bt = pd.DataFrame({"model": ["cnn"], "metric": ["acc"], "form": ["power"], "weight": [0.96],
                       "rmse_held": [0.0121], "pi_coverage": [1.0], "status": ["ok"], "aicc": [-5.7]})
    b = T.backtest_view(bt)
    assert b.iloc[0].to_dict() == {"model": "cnn", "metric": "acc", "form": "power", "weight": "0.96",
                                   "held-out RMSE": "0.0121", "inside 95% PI": "100%", "status": "ok"}
    assert T.joint_law_view(None).empty and T.backtest_view(pd.DataFrame()).empty


def test_derivative_verdict_says_undetermined_when_no_form_is_identifiable():
    import pandas as pd

    rows = [{"metric": "acc", "form": "average", "scope": "level", "quality": q, "derivative_frac": float("nan"),
             "note": "not identifiable: too few points for any form's AICc"} for q in (1.0, 0.9)]
    rows.append({"metric": "acc", "form": "average", "scope": "overall", "derivative_frac": float("nan"),
                 "note": "fewer than 2 qualities reach the threshold"})
    rows.append({"metric": "acc", "form": "power", "scope": "overall", "derivative_frac": -2.0,
                 "ci_low_frac": -3.0, "ci_high_frac": -1.5, "note": ""})
    text = V.derivative_verdict(pd.DataFrame(rows), "acc")
    assert text.startswith("**Undetermined for accuracy:**") and "download" in text


def test_a_fifth_registered_model_is_shown_in_registry_order(monkeypatch):
    """Tables and verdicts take their models from the registry: one registered after the four
    appears after them, and an unregistered one is kept too, not dropped."""
    from datavsmath import models

    monkeypatch.setitem(models.MODELS, "svm", models.ModelSpec("svm", lambda seed, k: None, 1.0, "test model"))
    res = _grid("size", ["knn", "svm", "cnn", "rf"], [0.01, 0.2], [0.0], lambda m, s, d: 0.8 + s / 10)
    assert list(C.cell_means_table(res, "size", "acc").columns[2:]) == ["rf", "cnn", "svm", "knn"]
    assert list(C.headline(res, "acc")["model"]) == ["rf", "cnn", "svm", "knn"]
    assert "(SVM)" in V.size_verdict(res) and "(KNN)" in V.size_verdict(res)


def test_talk_comparison_says_why_a_quality_is_not_reachable():
    talk = pd.DataFrame({"metric": ["acc"], "threshold": [0.9], "quality": [0.6], "value": [0.9], "num_obs": [1.0]})
    level = pd.DataFrame({"scope": "level", "metric": "acc", "threshold": 0.9, "form": "average",
                          "quality": [0.6, 0.5], "reachable": False, "n_needed": float("nan"),
                          "verdict": ["not reachable", "undetermined"],
                          "n_ci_low": [float("nan"), 2e6], "n_ci_high": [float("nan"), float("inf")],
                          "note": ["not reachable: the target error 0.1 is at or below the floor 0.11",
                                   "undetermined: at least 2,000,000 rows (95% lower limit); the "
                                   "estimate n* = 1e9 lies beyond the horizon"]})
    ours = pd.DataFrame({"quality": [0.6, 0.5], "acc": [0.91, 0.905], "num_obs": [60000.0, 60000.0]})
    view = T.talk_comparison(talk, ours, level, "acc", 0.9)
    assert list(view["modelled n* [95% CI]"]) == ["not reachable (floor at or above the target)",
                                                  "undetermined: at least 2,000,000 (beyond the horizon)"]
    assert list(view["the talk (one R run)"]) == ["1 (0.900)", "not in the talk"]
