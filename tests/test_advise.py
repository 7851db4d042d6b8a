"""Collect or clean: known answers for the plans, the break-even ratio and the intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from datavsmath.cli import main
from datavsmath.errors import UserError
from datavsmath.stats.value import value_of_quality


def levels(n_by_q: dict, se: float = 0.0, df: float = 20.0) -> pd.DataFrame:
    """A hand-made levels table: n* per quality, inf = not reachable."""
    q = sorted(n_by_q)
    n = np.array([n_by_q[k] for k in q], float)
    return pd.DataFrame({"quality": q, "n_needed": np.where(np.isfinite(n), n, np.nan),
                         "reachable": np.isfinite(n), "se_log": se, "df": df,
                         "status": np.where(np.isfinite(n), "ok", "floor")})


# n* halves from 40,000 at quality 0.8 to 20,000 at 1: log-linear in between,
# n(s) = 40000 * 2**-s with s = (q - 0.8) / 0.2 the share of rows reviewed
LAW = {0.6: np.inf, 0.8: 40_000.0, 1.0: 20_000.0}


def plan(v, name):
    return v.plans.set_index("plan").loc[name]


def test_collect_plan_is_rows_missing_times_the_label_price():
    v = value_of_quality(levels(LAW), rows=10_000, quality=0.8, cost_label=1.0, cost_clean=2.0)
    c = plan(v, "collect")
    assert c["rows_to_collect"] == 30_000 and c["cleaning_actions"] == 0
    assert c["cost"] == pytest.approx(30_000)


def test_review_cleaning_cost_curve_has_the_closed_form_minimum():
    # cost(s) = n(s) - 10000 + 0.5 n(s) s falls monotonically (0.5 < ln 2), so the cheapest plan
    # reviews every row (s = 1): collect 10,000 and review all 20,000 at 0.5 -> 20,000
    v = value_of_quality(levels(LAW), rows=10_000, quality=0.8, cost_label=1.0, cost_clean=0.5)
    best = plan(v, "cheapest")
    assert best["quality"] == pytest.approx(1.0)
    assert best["rows_to_collect"] == pytest.approx(10_000)
    assert best["cleaning_actions"] == pytest.approx(20_000)
    assert best["cost"] == pytest.approx(20_000, rel=1e-9)
    assert v.p_clean_cheaper == 1.0
    assert v.verdict.startswith("Cleaning is cheaper")


def test_break_even_ratio_matches_the_closed_form():
    # plan s beats collecting iff r < (2**s - 1) / s, largest at s = 1: r* = 1
    v = value_of_quality(levels(LAW), rows=10_000, quality=0.8, cost_label=1.0, cost_clean=0.5)
    assert v.break_even["estimate"] == pytest.approx(1.0, rel=1e-9)
    # just above the break-even price collecting wins, just below cleaning does
    dear = value_of_quality(levels(LAW), rows=10_000, quality=0.8, cost_label=1.0, cost_clean=1.05)
    assert plan(dear, "cheapest")["quality"] == pytest.approx(0.8)
    assert dear.verdict.startswith("Collecting is cheaper")
    cheap = value_of_quality(levels(LAW), rows=10_000, quality=0.8, cost_label=1.0, cost_clean=0.95)
    assert plan(cheap, "cheapest")["quality"] > 0.8


def test_targeted_cleaning_pays_only_for_wrong_labels():
    # targeted: actions = n(q) (q - 0.8); at q = 1 that is 20,000 * 0.2 = 4,000 corrections
    v = value_of_quality(levels(LAW), rows=10_000, quality=0.8, cost_label=1.0, cost_clean=1.0,
                         cleaning="targeted")
    best = plan(v, "cheapest")
    assert best["quality"] == pytest.approx(1.0)
    assert best["cleaning_actions"] == pytest.approx(4_000)
    assert best["cost"] == pytest.approx(14_000)
    # the break-even ratio is the review one divided by 1 - q0 at the same plan: (2 - 1) / 0.2
    assert v.break_even["estimate"] == pytest.approx(5.0, rel=1e-9)


def test_clean_only_plan_stops_where_the_rows_held_suffice():
    # 30,000 rows suffice where 40000 * 2**-s = 30000: s = log2(4/3), q = 0.8 + 0.2 s
    v = value_of_quality(levels(LAW), rows=30_000, quality=0.8, cost_label=1.0, cost_clean=0.1)
    c = plan(v, "clean")
    q_exact = 0.8 + 0.2 * np.log2(4 / 3)
    assert c["quality"] == pytest.approx(q_exact, abs=0.2 / 400 + 1e-12)
    assert c["rows_to_collect"] == 0
    assert c["cost"] == pytest.approx(30_000 * (c["quality"] - 0.8) / 0.2 * 0.1)


def test_when_collecting_never_reaches_the_target_any_cleaning_plan_wins():
    v = value_of_quality(levels(LAW), rows=10_000, quality=0.6, cost_label=1.0, cost_clean=5.0)
    assert not plan(v, "collect")["reachable"]
    best = plan(v, "cheapest")
    # between 0.6 (not reachable) and 0.8 nothing is claimed: the cheapest plan cleans to 0.8
    # or beyond
    assert best["reachable"] and best["quality"] >= 0.8 - 1e-12
    assert np.isinf(v.break_even["estimate"])
    assert "no amount of collecting" in v.verdict


def test_unreachable_everywhere_and_unfitted_grids_say_why():
    v = value_of_quality(levels({0.8: np.inf, 1.0: np.inf}), rows=1000, quality=0.8,
                         cost_label=1, cost_clean=1)
    assert "Neither collecting nor cleaning" in v.verdict
    lev = levels({0.8: np.inf, 1.0: np.inf}).assign(status="not identifiable")
    v = value_of_quality(lev, rows=1000, quality=0.8, cost_label=1, cost_clean=1)
    assert v.verdict.startswith("No advice")


def test_intervals_come_from_the_n_star_draws_and_widen_with_them():
    narrow = value_of_quality(levels(LAW, se=0.05), rows=10_000, quality=0.8, cost_label=1,
                              cost_clean=0.5, n_draws=4000)
    wide = value_of_quality(levels(LAW, se=0.3), rows=10_000, quality=0.8, cost_label=1,
                            cost_clean=0.5, n_draws=4000)
    for v in (narrow, wide):
        c = plan(v, "collect")
        assert c["cost_ci_low"] < c["cost"] < c["cost_ci_high"]
    width = [plan(v, "collect")["cost_ci_high"] - plan(v, "collect")["cost_ci_low"]
             for v in (narrow, wide)]
    assert width[1] > 3 * width[0]
    # collect cost = 40000 e^z - 10000 with z ~ 0.05 t(20): its 97.5% point is known
    from scipy import stats

    hi = 40_000 * np.exp(0.05 * stats.t.ppf(0.975, 20)) - 10_000
    assert plan(narrow, "collect")["cost_ci_high"] == pytest.approx(hi, rel=0.01)
    # near the break-even price the verdict is not forced either way
    close = value_of_quality(levels(LAW, se=0.3), rows=10_000, quality=0.8, cost_label=1,
                             cost_clean=1.0, n_draws=4000)
    assert 0.05 < close.p_clean_cheaper < 0.95
    assert close.verdict.startswith("Too close to call")


def test_draws_are_reproducible_by_seed():
    a = value_of_quality(levels(LAW, se=0.2), rows=10_000, quality=0.8, cost_label=1,
                         cost_clean=0.9, n_draws=2000, seed=3)
    b = value_of_quality(levels(LAW, se=0.2), rows=10_000, quality=0.8, cost_label=1,
                         cost_clean=0.9, n_draws=2000, seed=3)
    pd.testing.assert_frame_equal(a.plans, b.plans)
    assert a.p_clean_cheaper == b.p_clean_cheaper


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 0}, "rows held"),
    ({"quality": 1.2}, "label quality"),
    ({"quality": 0.5}, "outside the grid"),
    ({"cost_label": -1}, "cost per labelled row"),
    ({"cost_label": 0, "cost_clean": 0}, "both costs are 0"),
    ({"cleaning": "magic"}, "cleaning must be"),
])
def test_bad_inputs_name_what_is_wrong(kwargs, message):
    args = {"rows": 10_000, "quality": 0.8, "cost_label": 1.0, "cost_clean": 0.5} | kwargs
    with pytest.raises(UserError, match=message):
        value_of_quality(levels(LAW), **args)


def test_summary_and_table_carry_the_inputs():
    v = value_of_quality(levels(LAW), rows=10_000, quality=0.8, cost_label=1.0, cost_clean=0.5)
    text = str(v.summary())
    assert "Break-even" in text and "Verdict: Cleaning is cheaper" in text
    t = v.table()
    assert list(t["plan"]) == ["collect", "clean", "cheapest"]
    assert (t["rows_held"] == 10_000).all() and (t["cost_clean"] == 0.5).all()


@pytest.fixture(scope="module")
def cross_csv(tmp_path_factory):
    """A size x damage grid with a known law, err = 0.05 + (0.5 / q) (n / 600)^-0.5, and small
    seeded noise, so that every quality's curve is well identified."""
    rng = np.random.default_rng(0)
    rows = []
    for d in (0.0, 0.1, 0.2, 0.3):
        q = 1 - d
        for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0):
            n = 60000 * s
            err = 0.05 + 0.5 / q * (n / 600) ** -0.5 + rng.normal(0, 0.0005)
            rows.append({"experiment": "size_x_damage", "dataset": "fashion", "model": "cnn",
                         "frac_sample": s, "frac_damage": d, "replicate": 0, "n_train": n,
                         "acc": 1 - err, "auc": 1 - err / 5})
    path = tmp_path_factory.mktemp("cross") / "results.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_cli_prints_the_plans_and_writes_the_table(cross_csv, tmp_path, capsys):
    rc = main(["advise", str(cross_csv), "--target-acc", "0.88", "--rows", "3000",
               "--quality", "0.8", "--cost-label", "1", "--cost-clean", "0.1",
               "--form", "power_floor", "--to", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "Collect or clean?" in out and "Verdict:" in out
    t = pd.read_csv(tmp_path / "tables" / "advice.csv")
    # truth: n*(q) = 600 (0.5 / (q (0.12 - 0.05)))^2 -> at q = 0.8, 47,832 rows
    assert t.set_index("plan").loc["collect", "n_needed"] == pytest.approx(47_832, rel=0.05)


@pytest.mark.parametrize("argv, message", [
    (["--target-acc", "1.5"], "strictly between 0 and 1"),
    (["--target-acc", "0.9", "--model", "rf"], "not in the size x damage grid"),
])
def test_cli_errors_are_one_line(cross_csv, argv, message, capsys):
    base = ["advise", str(cross_csv), "--rows", "3000", "--quality", "0.8", "--cost-label", "1",
            "--cost-clean", "0.1"]
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err


def test_cli_without_a_size_x_damage_grid_says_what_to_run(tmp_path, capsys):
    path = tmp_path / "results.csv"
    pd.DataFrame({"experiment": ["size"], "dataset": ["fashion"], "model": ["rf"],
                  "frac_sample": [0.1], "frac_damage": [0.0], "replicate": [0],
                  "acc": [0.8], "auc": [0.95]}).to_csv(path, index=False)
    assert main(["advise", str(path), "--target-acc", "0.9", "--rows", "10", "--quality", "0.9",
                 "--cost-label", "1", "--cost-clean", "1"]) == 2
    assert "run size_x_damage" in capsys.readouterr().err


def test_report_view_prices_the_shipped_grid_or_says_why_not():
    from datavsmath.report.site import R_RESULTS, load_results
    from datavsmath.report.tables import advice_view

    root = R_RESULTS.resolve().parents[1] / "results"
    for folder in ("quick", "full"):
        if not (root / folder).is_dir():
            continue
        res = load_results(root / folder)
        view, text = advice_view(res, held=(12_000,), qualities=(0.8,))
        assert text
        if folder == "full" and (res["experiment"] == "size_x_damage").sum() >= 100:
            # the full grid identifies every quality's curve: a priced answer, not a refusal
            assert len(view) == 1 and view.iloc[0]["cheapest at ratio 0.25"] != "out of reach"
        elif view.empty:
            assert text.startswith(("No advice", "Neither"))


def test_cli_names_what_it_read_and_exits_1_when_no_plan_reaches_the_target(cross_csv, capsys):
    base = ["advise", str(cross_csv), "--rows", "3000", "--quality", "0.8", "--cost-label", "1",
            "--cost-clean", "0.1", "--form", "power_floor"]
    assert main(base + ["--target-acc", "0.88"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"read {cross_csv}: a results table") and "every fit current" in out
    # the floor of every quality's curve (error 0.05) lies above a 0.97 target's error 0.03
    assert main(base + ["--target-acc", "0.97"]) == 1
    captured = capsys.readouterr()
    assert "cannot advise. Neither collecting nor cleaning reaches acc > 0.97" in captured.err
    assert "Break-even: undetermined, since no plan reaches the target." in captured.out
    assert "< 0 [0, 0]" not in captured.out
