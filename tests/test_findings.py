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
