"""The figure module: the talk's plots as plotnine objects (titles, axes, layers, palette),
the damaged-label illustrations, PNG export, the default results folder and the
``datavsmath figures`` command."""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotnine import ggplot

from datavsmath.report import figures as F
from datavsmath.report import site as S
from datavsmath.commands import figures as cmd
from datavsmath.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
R_RESULTS = ROOT / "data" / "r-results"


@pytest.fixture(scope="module")
def r() -> pd.DataFrame:
    return S.load_results(R_RESULTS)


@pytest.fixture(scope="module")
def replicated(r) -> pd.DataFrame:
    """R's runs plus two jittered replicates and a CNN size x damage grid."""
    rng = np.random.default_rng(1)
    reps = [r.assign(replicate=i, acc=r["acc"] + (i > 0) * rng.normal(0, 0.003, len(r))) for i in range(3)]
    cnn = r[(r["experiment"] == "size") & (r["model"] == "cnn") & (r["dataset"] == "fashion")]
    sxd = [cnn.assign(experiment="size_x_damage", frac_damage=d, acc=cnn["acc"] - d / 4) for d in (0, 0.1, 0.5)]
    return pd.concat(reps + sxd, ignore_index=True)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def geoms(p: ggplot) -> list[str]:
    return [type(layer.geom).__name__ for layer in p.layers]


def color_values(p: ggplot) -> dict:
    scale = next(s for s in p.scales if "color" in s.aesthetics)
    return scale.palette(0)


# ---------------------------------------------------------------- look and palette

def test_few_dark_palette_and_theme_few_match_ggthemes():
    assert F.FEW_DARK[:4] == ["#265DAB", "#DF5C24", "#059748", "#E5126F"] and len(F.FEW_DARK) == 8
    # ggplot2 orders a character column alphabetically, so R's legend is cnn, dnn, rf, xgb
    assert F.MODEL_COLORS == {"cnn": "#265DAB", "dnn": "#DF5C24", "rf": "#059748", "xgb": "#E5126F"}
    t = F.theme_few()
    assert t.themeables["panel_grid"].properties["visible"] is False
    assert t.themeables["panel_border"].properties["edgecolor"] == F.FEW_GRAY == "#4D4D4D"


def test_few_colors_keeps_model_colours_and_extends_for_other_levels():
    assert F.few_colors(["rf", "cnn"]) == {"rf": "#059748", "cnn": "#265DAB"}
    assert F.few_colors(["0", "0.1"]) == {"0": "#265DAB", "0.1": "#DF5C24"}
    with pytest.raises(ValueError, match="8 colours"):
        F.few_colors([str(i) for i in range(9)])


# ---------------------------------------------------------------- the talk's figures

def test_size_figure_has_the_r_titles_one_line_per_model(r):
    p = F.size_figure(r, "acc")
    assert isinstance(p, ggplot)
    assert p.labels.title == "Model Architectures and Training Set Size"
    assert p.labels.subtitle == "Fashion MNIST Dataset"
    assert p.labels.x == "Fraction of Training Data\n(60,000 * x = # of samples)"
    assert p.labels.y == "Inference Accuracy (OVA)"
    assert geoms(p) == ["geom_line", "geom_point"]  # one run: no replicate band
    assert p.layers[1].geom.aes_params["color"] == "white"
    assert p.mapping["color"] == "model" and p.mapping["x"] == "frac_sample"
    assert color_values(p) == F.MODEL_COLORS
    assert list(p.data["model"].cat.categories) == ["cnn", "dnn", "rf", "xgb"]
    assert len(p.data) == 28 * 4
    assert F.size_figure(r, "auc").labels.y == "AUC (OVA)"
    assert F.size_figure(r, "acc", "mnist").labels.subtitle == "MNIST Dataset"


def test_replicates_give_mean_lines_and_a_range_band(replicated):
    p = F.size_figure(replicated, "acc")
    assert geoms(p) == ["geom_ribbon", "geom_line", "geom_point"]
    assert "3 runs" in p.labels.caption
    row = p.data[(p.data["model"] == "cnn") & np.isclose(p.data["frac_sample"], 0.5)].iloc[0]
    vals = replicated.query("experiment == 'size' and dataset == 'fashion' and model == 'cnn'")
    vals = vals[np.isclose(vals["frac_sample"], 0.5)]["acc"]
    assert row["mean"] == pytest.approx(vals.mean()) and row["lo"] == vals.min() and row["hi"] == vals.max()


@pytest.mark.parametrize("damage,title", [("random", "Model Architectures and Random Bias"),
                                          ("constant", "Model Architectures and Constant Bias")])
def test_damage_figures_plot_against_the_correct_share(r, damage, title):
    p = F.damage_figure(r, damage, "acc")
    assert p.labels.title == title and p.labels.y == "Accuracy (OVA)"
    assert p.labels.x == "Correctly labeled training data\n(percent of 60,000 obs)"
    assert p.mapping["x"] == "unbiased"
    assert np.allclose(p.data["unbiased"], 1 - p.data["frac_damage"])
    assert p.data["unbiased"].max() == 1.0 and p.data["unbiased"].min() == pytest.approx(0.01)
    assert p.labels.caption is None  # trained on all 60,000 rows: nothing to add


def test_damage_figure_says_when_trained_on_a_draw(r):
    quick = r[r["experiment"] == "random_damage"].assign(frac_sample=0.05)
    assert "5% draw (3,000 rows)" in F.damage_figure(quick, "random", "acc").labels.caption
    with pytest.raises(ValueError, match="damage must be"):
        F.damage_figure(r, "swap")


def test_size_x_damage_figure_has_one_line_per_damage_fraction(replicated):
    p = F.size_x_damage_figure(replicated, "auc")
    assert p.labels.title == "CNN Architecture and Bias"
    assert p.labels.x == "Number of Samples\n(percent of 60,000 obs)" and p.labels.y == "AUC (OVA)"
    assert p.mapping["color"] == "frac_damage"
    assert list(p.data["frac_damage"].cat.categories) == ["0", "0.1", "0.5"]
    assert next(s for s in p.scales if "color" in s.aesthetics).name == "Bias Fraction"


def test_missing_experiment_is_a_clear_error(r):
    with pytest.raises(ValueError, match="no 'size_x_damage' results"):
        F.size_x_damage_figure(r)


def test_talk_figures_are_named_like_the_r_plots(r, replicated):
    assert sorted(F.talk_figures(r)) == sorted(
        f"{m}-{k}" for m in ("acc", "auc") for k in ("size", "rand-bias", "const-bias"))
    assert "acc-cnn-bias" in F.talk_figures(replicated)
    assert sorted(F.talk_figures(r, "mnist")) == ["acc-size", "auc-size"]


# ---------------------------------------------------------------- illustrations

BALANCED = np.repeat(np.arange(10, dtype=np.uint8), 6000)


def test_random_damage_illustration_counts():
    counts = F.damaged_label_counts(BALANCED, "random", 0.3, 5)
    n = dict(zip(counts["damaged"], counts["n"]))
    assert n[5] == 4200 and sum(n.values()) == 6000
    others = [n[k] for k in range(10) if k != 5]
    assert sum(others) == 1800 and min(others) > 120  # spread over all nine (expected 200 each)


def test_constant_damage_illustration_uses_shift_three():
    counts = F.damaged_label_counts(BALANCED, "constant", 0.3, 5)
    assert dict(zip(counts["damaged"], counts["n"])) == {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 4200, 6: 0, 7: 0,
                                                         8: 1800, 9: 0}


def test_illustration_on_the_real_training_labels():
    labels, source = F.training_labels()
    if source != "training labels":
        pytest.skip("Fashion-MNIST files are not installed here")
    counts = F.damaged_label_counts(labels, "random", 0.3, 5)
    assert counts["n"].iloc[5] == 4200 and counts["n"].sum() == 6000


def test_illustration_figure_is_a_labelled_bar_chart():
    p = F.damaged_labels_figure(BALANCED, "constant")
    assert geoms(p) == ["geom_col", "geom_label"]
    assert (p.labels.title, p.labels.subtitle, p.labels.caption) == ("Constant Biased Labels", "True Label = 5",
                                                                     "30% Damage")
    assert (p.labels.x, p.labels.y) == ("Damaged Label", "Count")
    assert list(p.data["damaged"].cat.categories) == [str(i) for i in range(10)]
    assert F.damaged_labels_figure(BALANCED, "random").labels.title == "Randomly Biased Labels"


# ---------------------------------------------------------------- scaling and parity figures

def test_fitted_curves_evaluate_the_selected_forms():
    fits = pd.DataFrame([
        {"model": "cnn", "metric": "acc", "form": "power_floor", "param": p, "estimate": v, "selected": True}
        for p, v in {"a": 2.0, "b": 0.5, "c": 0.05}.items()] + [
        {"model": "rf", "metric": "acc", "form": "mystery", "param": "a", "estimate": 1.0, "selected": True},
        {"model": "dnn", "metric": "acc", "form": "power", "param": "a", "estimate": 1.0, "selected": False}])
    curves = F.fitted_curves(fits, "acc", np.array([100.0, 10000.0]))
    assert list(curves["model"]) == ["cnn", "cnn"]
    assert curves["error"].tolist() == pytest.approx([0.05 + 2.0 / 10, 0.05 + 2.0 / 100])


def test_learning_curve_figure_overlays_fits_when_given(r):
    plain = F.learning_curve_figure(r, "acc")
    assert plain.labels.y == "Test error (1 - accuracy)" and plain.labels.caption is None
    fits = pd.DataFrame([{"model": m, "metric": "acc", "form": "power", "param": p, "estimate": v,
                          "selected": "True"} for m in ("rf", "cnn") for p, v in (("a", 1.5), ("b", 0.3))])
    p = F.learning_curve_figure(r, "acc", fits=fits)
    assert geoms(p) == ["geom_point", "geom_line", "geom_line"]
    assert p.layers[2].geom.aes_params["linetype"] == "dashed"
    assert p.data["n"].min() == 600 and p.data["n"].max() == 60000


def test_data_needed_and_breakdown_figures():
    needed = pd.DataFrame({"model": ["rf", "cnn", "cnn"], "metric": ["acc", "acc", "auc"],
                           "target": [0.9, 0.9, 0.99], "n_needed": [np.nan, 20000.0, 5000.0],
                           "ci_low": [np.nan, 15000.0, 4000.0], "ci_high": [np.nan, 30000.0, 7000.0],
                           "reachable": [False, True, True]})
    p = F.data_needed_figure(needed)
    assert list(p.data["model"].astype(str)) == ["cnn", "cnn"]  # the unreachable target is left out
    assert list(p.data["panel"].cat.categories) == ["target accuracy", "target AUC"]
    with pytest.raises(ValueError, match="no reachable"):
        F.data_needed_figure(needed.iloc[:1])
    bd = pd.DataFrame({"experiment": ["constant_damage", "random_damage"], "model": ["cnn", "cnn"],
                       "breakdown_frac": [0.5, 0.85], "ci_low": [0.45, 0.8], "ci_high": [0.55, 0.9]})
    p = F.breakdown_figure(bd)
    assert geoms(p) == ["geom_errorbar", "geom_point"]
    assert list(p.data["experiment"].cat.categories) == ["random damage", "constant damage"]


def test_parity_figure_shifts_bands_by_r():
    cells = pd.DataFrame({"experiment": ["size", "random_damage"], "model": ["cnn", "rf"],
                          "frac_sample": [0.5, 1.0], "frac_damage": [0.0, 0.2], "metric": ["acc", "acc"],
                          "r": [0.9, 0.8], "diff": [0.01, -0.02], "lo": [0.89, 0.77], "hi": [0.93, 0.79]})
    p = F.parity_figure(cells)
    d = p.data.set_index("experiment")
    assert d.loc["random_damage", "x"] == pytest.approx(0.8) and d.loc["size", "x"] == 0.5
    assert d.loc["size", "band_lo"] == pytest.approx(-0.01) and d.loc["random_damage", "band_hi"] == pytest.approx(-0.01)
    assert "geom_ribbon" in geoms(p)


# ---------------------------------------------------------------- PNG export

def test_save_png_writes_the_requested_pixel_size(r, tmp_path):
    path = F.save_png(F.size_figure(r), tmp_path / "sub" / "a.png", width=4, height=2.25, dpi=100)
    assert path.is_file() and png_size(path) == (400, 225)
    with pytest.raises(ValueError, match="positive"):
        F.save_png(F.size_figure(r), tmp_path / "b.png", dpi=0)


def test_export_figures_writes_every_figure_at_16_9(r, tmp_path):
    written = F.export_figures(r, tmp_path, dpi=60)  # 16:9, 5.33 x 3 in
    names = sorted(p.stem for p in written)
    expected = ["acc-size", "auc-size", "acc-rand-bias", "auc-rand-bias", "acc-const-bias",
                "auc-const-bias", "acc-learning-curves", "auc-learning-curves",
                "mnist-acc-size", "mnist-auc-size", "mnist-acc-learning-curves",
                "mnist-auc-learning-curves", "random-bias", "constant-bias", "sample-images"]
    # a dataset's sample images are drawn only where its files are on this machine
    if F.sample_images("mnist") is not None:
        expected.append("mnist-sample-images")
    assert names == sorted(expected)
    assert all(png_size(p) == (320, 180) for p in written)


# ---------------------------------------------------------------- where results come from

def _provenance(folder: Path, **prov) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "provenance.json").write_text(json.dumps(prov))
    return folder


def test_default_results_dir_prefers_a_complete_full_run(tmp_path, monkeypatch):
    monkeypatch.delenv("DATAVSMATH_RESULTS", raising=False)
    assert S.default_results_dir(tmp_path) == tmp_path / "results" / "quick"
    _provenance(tmp_path / "results" / "full", profile="full", complete=False)
    assert S.default_results_dir(tmp_path) == tmp_path / "results" / "quick"
    _provenance(tmp_path / "results" / "full", profile="full", complete=True)
    assert S.default_results_dir(tmp_path) == tmp_path / "results" / "full"
    monkeypatch.setenv("DATAVSMATH_RESULTS", "elsewhere/x")
    assert S.default_results_dir(tmp_path) == tmp_path / "elsewhere" / "x"
    monkeypatch.setenv("DATAVSMATH_RESULTS", str(tmp_path / "abs"))
    assert S.default_results_dir(tmp_path) == tmp_path / "abs"


def test_is_complete_without_an_explicit_flag(tmp_path):
    assert S.is_complete(_provenance(tmp_path / "a", profile="full", finished_at="2024-01-01T00:00:00"))
    assert not S.is_complete(_provenance(tmp_path / "b", profile="quick", finished_at="2024-01-01T00:00:00"))
    assert not S.is_complete(tmp_path / "none")


def test_load_results_reads_r_folders_files_and_complains(tmp_path):
    r = S.load_results(R_RESULTS)
    assert set(map(tuple, r[["dataset", "experiment"]].drop_duplicates().to_numpy())) == {
        ("fashion", "size"), ("fashion", "random_damage"), ("fashion", "constant_damage"), ("mnist", "size")}
    one = S.load_results(R_RESULTS / "fashion-mnist-damage-results.csv")
    assert set(one["experiment"]) == {"random_damage"} and len(one) == 112
    with pytest.raises(FileNotFoundError):
        S.load_results(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no cells/"):
        S.load_results(tmp_path)


# ---------------------------------------------------------------- the command

def _args(*argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_command_writes_pngs_from_r_csvs(tmp_path, capsys):
    assert cmd.run(_args(str(R_RESULTS / "fashion-data-size-results.csv"), "--to", str(tmp_path),
                         "--dpi", "30", "--width", "3.2", "--height", "1.8", "--no-illustrations")) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "acc-learning-curves.png", "acc-size.png", "auc-learning-curves.png", "auc-size.png"]
    assert png_size(tmp_path / "acc-size.png") == (96, 54)
    assert "wrote 4 figures (96 x 54 px)" in capsys.readouterr().out


def test_command_defaults_out_to_the_results_folder(r, tmp_path, monkeypatch):
    folder = tmp_path / "res"
    folder.mkdir()
    r[r["experiment"] == "size"].to_csv(folder / "results.csv", index=False)
    monkeypatch.setenv("DATAVSMATH_RESULTS", str(folder))
    assert cmd.run(_args("--dpi", "20", "--no-illustrations")) == 0
    assert (folder / "figures" / "acc-size.png").is_file()


@pytest.mark.parametrize("argv,match", [
    (["--dpi", "0"], "must be positive"),
    (["--dpi", "3000", "--width", "10"], "20,000 pixels"),
    ([str(R_RESULTS / "fashion-data-size-results.csv")], "--to DIR"),
    (["/no/such/folder"], "does not exist"),
])
def test_command_rejects_bad_input_helpfully(argv, match):
    with pytest.raises(UserError, match=match):
        cmd.run(_args(*argv))


def test_command_explains_an_empty_default_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAVSMATH_RESULTS", str(tmp_path / "results" / "quick"))
    with pytest.raises(UserError, match="datavsmath run --profile quick"):
        cmd.run(_args())


def test_pngs_from_a_quick_run_say_so(r, tmp_path):
    folder = _provenance(tmp_path / "quick", profile="quick", complete=True)
    quick = r[r["experiment"] == "size"].assign(profile="quick")
    note = F.profile_note(folder, quick)
    assert note.startswith("QUICK PREVIEW")
    assert F.with_caption(F.size_figure(quick), note).labels.caption == note
    assert F.profile_note(_provenance(tmp_path / "full", profile="full", complete=True), quick) is None
    assert F.profile_note(_provenance(tmp_path / "part", profile="full", complete=False), quick).startswith("INCOMPLETE")
    assert F.profile_note(None, r) is None  # R's CSVs carry no profile


def test_a_group_with_one_point_is_still_drawn(r):
    one = r[(r["experiment"] == "random_damage") & (r["frac_damage"] == 0)]
    assert geoms(F.damage_figure(one, "random")) == ["geom_point", "geom_line", "geom_point"]
    assert geoms(F.damage_figure(r, "random")) == ["geom_line", "geom_point"]  # R's layers otherwise


def test_damage_axis_names_the_rows_actually_trained_on(r):
    """The quick profile's damage runs train on a 3,000-row draw: the axis says so."""
    dam = r[(r["experiment"] == "random_damage") & (r["dataset"] == "fashion")].assign(frac_sample=0.05)
    p = F.damage_figure(dam, "random", "acc")
    assert p.labels.x == "Correctly labeled training data\n(percent of 3,000 obs)"


def test_sample_images_figure_has_a_panel_per_class():
    x = np.zeros((20, 28, 28), dtype=np.uint8)
    y = np.repeat(np.arange(10), 2)
    names = [f"c{k}" for k in range(10)]
    p = F.sample_images_figure(x, y, names)
    assert list(p.data["panel"].cat.categories) == [f"{k}: c{k}" for k in range(10)]
    assert len(p.data) == 10 * 28 * 28


def test_default_size_is_1600_by_900_pixels(r, tmp_path):
    from datavsmath.report.theme import DEFAULT_DPI, DEFAULT_SIZE

    assert cmd.DEFAULT_SIZE == DEFAULT_SIZE and DEFAULT_DPI == 300
    args = _args()
    assert (args.width, args.height, args.dpi) == (*DEFAULT_SIZE, 300)
    path = F.save_png(F.size_figure(r), tmp_path / "a.png")
    assert png_size(path) == (1600, 900)


def test_export_writes_the_sample_images_with_the_illustrations(r, tmp_path, monkeypatch):
    drawn = []

    def fake(dataset="fashion"):
        drawn.append(dataset)
        return F.sample_images_figure(np.zeros((20, 28, 28)), np.arange(20) % 10, [f"c{k}" for k in range(10)]) \
            if dataset == "fashion" else None  # digit MNIST's files absent here

    monkeypatch.setattr(F, "sample_images", fake)
    written = F.export_figures(r, tmp_path, dpi=20)
    assert drawn == ["fashion", "mnist"] and "sample-images" in {p.stem for p in written}
    assert "mnist-sample-images" not in {p.stem for p in written}
    none = F.export_figures(r, tmp_path / "none", dpi=20, illustrations=False)
    assert not {"sample-images", "random-bias"} & {p.stem for p in none}
