"""The findings' arithmetic (datavsmath.report.findings)."""

from __future__ import annotations

import math

from datavsmath.report import findings as C


def test_fmt_ci_says_single_run():
    assert C.fmt_ci(0.9, math.nan, math.nan) == "0.900 (single run, no CI)"
    assert C.fmt_ci(0.01, -0.002, 0.02, signed=True) == "+0.010 (95% CI -0.002 to +0.020)"


def test_compare_costs_only_claims_what_the_intervals_show():
    assert C.compare_costs((0.01, 0.0, 0.02), (0.05, 0.04, 0.06)).startswith("clearly larger")
    assert C.compare_costs((0.01, 0.0, 0.02), (0.015, 0.01, 0.03)).startswith("not distinguishable")
    assert "single runs" in C.compare_costs((0.01, math.nan, math.nan), (0.05, math.nan, math.nan))


def test_cell_means_table_has_a_row_per_level_and_a_column_per_model():
    import pandas as pd

    rows = [{"experiment": "random_damage", "dataset": "fashion", "model": m, "frac_sample": 1.0,
             "frac_damage": d, "replicate": i, "acc": 0.9 - d + 0.01 * i}
            for m in ("cnn", "rf") for d in (0.0, 0.5) for i in range(3)]
    table = C.cell_means_table(pd.DataFrame(rows), "random_damage", "acc")
    assert list(table.columns) == ["damage d", "correct 1 - d", "rf", "cnn"]  # R's model order
    assert list(table["damage d"]) == ["0%", "50%"]
    assert table.loc[1, "rf"].startswith("0.410 (95% CI")
    size = C.cell_means_table(pd.DataFrame(rows).assign(experiment="size"), "size", "acc")
    assert list(size["rows"]) == ["60,000"] and size.loc[0, "cnn"].startswith("0.660")
