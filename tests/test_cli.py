"""The command line's edges, in process and fast: spec files of one's own, a broken spec in
reproduce/, the plan a run prints before it starts, status's exit codes and a closed pipe.
Nothing here trains: data loading is replaced by a stop sign where a command would go on."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import datavsmath.data
import datavsmath.experiments
from datavsmath.cli import EXIT_BROKEN_PIPE, main
from datavsmath.training.store import read_r_csv

ALL = ["size", "random_damage", "constant_damage", "size_x_damage", "noise_models", "pruning", "pretraining",
       "pretraining_mnist"]


class Stop(Exception):
    """Raised where the command would start loading data, i.e. after every check passed."""


@pytest.fixture
def no_data(monkeypatch):
    """Stop a command where it would load data; the list records each dataset asked for."""
    asked = []

    def stop(name, *args, **kw):
        asked.append(name)
        raise Stop(name)

    monkeypatch.setattr(datavsmath.data, "load_dataset", stop)
    return asked


@pytest.fixture
def specs(tmp_path, monkeypatch):
    """reproduce/ copied to a temporary folder that the commands read instead."""
    folder = tmp_path / "reproduce"
    folder.mkdir()
    for name in ALL:
        (folder / f"{name}.toml").write_text((datavsmath.experiments.spec_dir() / f"{name}.toml").read_text())
    monkeypatch.setattr(datavsmath.experiments, "spec_dir", lambda: folder)
    return folder


# --- run --spec FILE --------------------------------------------------------------------------
def test_run_spec_runs_a_file_of_ones_own_into_results_named_after_it(tmp_path, no_data, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # results/ are relative to the working directory
    spec = tmp_path / "my-grid.toml"
    spec.write_text('models = ["rf"]\nfrac_sample = [0.01, 0.02]\n')
    with pytest.raises(Stop):
        main(["run", "--spec", str(spec), "--no-progress"])
    out = capsys.readouterr().out
    assert "profile full, 2 of 2 fits to run (my-grid)" in out
    assert str(tmp_path / "results" / "my-grid") in out and no_data == ["fashion"]
    with pytest.raises(Stop):
        main(["run", "--spec", str(spec), "--out", str(tmp_path / "o"), "--profile", "smoke"])
    assert str(tmp_path / "o") in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ('models = ["rf"]\nfrac_sampel = [0.5]\n', "frac_sampel = [0.5]: unknown key; did you mean frac_sample?"),
    ('models = ["rf"]\nfrac_sample = [0.0]\n', "frac_sample = [0.0]: 0.0 of 60,000 rows is 0 training rows"),
    ('models = ["rf"]\nreplicates = "two"\n', 'replicates = "two": must be an integer of at least 1'),
    ('models = ["rf"]\nfrac_damage = [0.9]\n', "frac_damage = [0.9]: damages labels but the spec sets no damage rule"),
    ('models = ["rf"]\ndataset = "cifar"\n', 'dataset = "cifar": choose from'),
])
def test_run_spec_rejects_a_bad_spec_before_loading_data(tmp_path, no_data, capsys, text, message):
    spec = tmp_path / "mine.toml"
    spec.write_text(text)
    assert main(["run", "--spec", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"datavsmath run: error: {spec}: " in err and message in err
    assert no_data == []  # rejected before any data is loaded
    assert not (tmp_path / "results").exists()


def test_run_spec_and_experiment_names_do_not_mix(tmp_path, capsys):
    spec = tmp_path / "mine.toml"
    spec.write_text('models = ["rf"]\n')
    assert main(["run", "size", "--spec", str(spec)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["run", "--spec", str(tmp_path / "nope.toml")]) == 2
    assert "no spec file" in capsys.readouterr().err


# --- one broken spec in reproduce/ ------------------------------------------------------------
def test_a_broken_spec_breaks_only_the_commands_that_need_it(specs, tmp_path, no_data, capsys):
    (specs / "mine.toml").write_text('models = ["rf"\n')
    out = str(tmp_path / "res")
    with pytest.raises(Stop):  # an experiment that does not need it runs (up to the data)
        main(["run", "size", "--profile", "smoke", "--out", out])
    capsys.readouterr()
    assert main(["status", "size", "--profile", "smoke", "--out", out]) == 1  # 4 fits left
    assert "size" in capsys.readouterr().out
    assert main(["run", "mine", "--profile", "smoke", "--out", out]) == 2
    assert f"{specs / 'mine.toml'} is not valid TOML" in capsys.readouterr().err
    assert main(["run", "--profile", "smoke", "--out", out]) == 2  # all: needs it, names it
    assert "mine.toml is not valid TOML" in capsys.readouterr().err
    # status lists every readable experiment and names the broken file
    assert main(["status", "--profile", "smoke", "--out", out]) == 2
    captured = capsys.readouterr()
    assert all(name in captured.out for name in ALL)
    assert "mine" in captured.out and "mine.toml is not valid TOML" in captured.out
    assert "1 spec(s) cannot be read" in captured.err


# --- the plan a run prints ----------------------------------------------------------------------
def test_bare_run_says_what_it_is_about_to_do_before_starting(specs, tmp_path, monkeypatch, no_data, capsys):
    monkeypatch.chdir(tmp_path)  # a fresh folder: no results yet
    with pytest.raises(Stop):
        main(["run", "--no-progress"])
    out = capsys.readouterr().out
    assert "no experiment, --profile or --out given, so this runs the defaults" in out
    assert "profile:        quick" in out and "--profile smoke" in out
    assert ("221 to run, 0 of 221 already stored (size, random_damage, constant_damage, size_x_damage, noise_models, "
            "pruning, pretraining, pretraining_mnist)") in out
    assert f"results folder: {tmp_path / 'results' / 'quick'}" in out
    assert "expected time:  about 80 min on a 2-core CPU without a GPU (user guide: How long it takes)" in out


def test_plan_estimates_time_from_the_measured_fit_times(tmp_path, no_data, capsys):
    with pytest.raises(Stop):
        main(["run", "--profile", "quick", "--out", str(tmp_path / "q")])
    out = capsys.readouterr().out
    assert "profile quick, 221 of 221 fits to run" in out and "about 80 min on a 2-core CPU" in out


# --- status: exit codes, a closed pipe ----------------------------------------------------------
def test_status_exit_codes_are_documented_in_its_help(capsys):
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    text = capsys.readouterr().out
    for line in ("0    every selected experiment is complete", "1    fits are left", "2    an error",
                 f"{EXIT_BROKEN_PIPE}  the reader of the output went away"):
        assert line in text


def test_status_into_a_closed_pipe_ends_quietly(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "datavsmath.cli", "status", "--profile", "smoke",
                             "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader is gone before the first line, as `| head -0` would be
    err = proc.stderr.read().decode()
    assert proc.wait() == EXIT_BROKEN_PIPE
    assert "Traceback" not in err and "BrokenPipe" not in err and err == ""


# --- --out reads a results folder, --to writes what a command derives ---------------------------
R_SIZE = Path(__file__).resolve().parents[1] / "data" / "r-results" / "fashion-data-size-results.csv"
FAST_FIT = ["--metric", "acc", "--forms", "power", "--targets", "acc=0.85", "--quiet"]


def test_fit_writes_tables_to_to_and_still_accepts_out_with_a_note(tmp_path, capsys):
    assert main(["fit", str(R_SIZE), "--to", str(tmp_path / "new"), *FAST_FIT]) == 0
    assert (tmp_path / "new" / "tables" / "learning_curve_fits.csv").is_file()
    assert "deprecated" not in capsys.readouterr().err
    assert main(["fit", str(R_SIZE), "--out", str(tmp_path / "old"), *FAST_FIT]) == 0
    assert (tmp_path / "old" / "tables" / "learning_curve_fits.csv").is_file()
    assert "--out is deprecated here, use --to" in capsys.readouterr().err
    assert main(["fit", str(R_SIZE), "--to", "a", "--out", "b", *FAST_FIT]) == 2
    assert main(["fit", str(R_SIZE), *FAST_FIT]) == 2  # a CSV is no place for tables
    assert "say where the tables go with --to DIR" in capsys.readouterr().err


def test_fit_of_a_results_folder_writes_its_tables_into_it(tmp_path, capsys):
    folder = tmp_path / "res"
    folder.mkdir()
    read_r_csv(R_SIZE).to_csv(folder / "results.csv", index=False)
    assert main(["fit", str(folder), *FAST_FIT]) == 0
    assert (folder / "tables" / "learning_curve_fits.csv").is_file()


def test_figures_take_to_and_the_old_out(tmp_path, capsys):
    small = ["--dpi", "20", "--width", "3", "--height", "2", "--no-illustrations"]
    assert main(["figures", str(R_SIZE), "--to", str(tmp_path / "new"), *small]) == 0
    assert (tmp_path / "new" / "acc-size.png").is_file()
    assert main(["figures", str(R_SIZE), "--out", str(tmp_path / "old"), *small]) == 0
    assert (tmp_path / "old" / "acc-size.png").is_file()
    assert "--out is deprecated here, use --to" in capsys.readouterr().err


# --- quiet CUDA probing on a CPU-only machine ---------------------------------------------------
def test_stderr_filter_drops_only_the_cuda_noise(capfd):
    from datavsmath.models import CPU_ONLY_NOISE, _drop_stderr_lines

    with _drop_stderr_lines(CPU_ONLY_NOISE):
        os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
        os.write(2, b"E0000 some_op.cc:1] a real error\n")
        print("a Python warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert "cuInit" not in err
    assert "a real error" in err and "a Python warning" in err


@pytest.mark.slow
def test_tensorflow_on_a_cpu_only_machine_prints_no_cuda_noise():
    from datavsmath.models import CPU_ONLY_NOISE, nvidia_gpu_present

    if nvidia_gpu_present():
        pytest.skip("this machine has an NVIDIA GPU: TensorFlow's CUDA messages are real there")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user has it
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    code = "from datavsmath.models import device_label; print(device_label())"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "cpu"
    assert not any(noise in res.stderr for noise in CPU_ONLY_NOISE), res.stderr


def _grid(names, profile):
    """(fits, the plan's CPU seconds) of the named experiments at ``profile``, from the specs."""
    from datavsmath.experiments import load_experiment
    from datavsmath.training.units import fit_weight

    exps = [load_experiment(n, profile) for n in names]
    return (sum(e.n_fits for e in exps),
            sum(fit_weight(m, c.n_train) for e in exps for c in e.cells() for m in e.models))


def test_counts_and_times_in_the_docs_are_the_specs():
    """The user guide, `make help` and `run --help` state the fits and planned times the specs
    give, and the README's front door its headline counts."""
    from datavsmath.commands import run as run_cmd
    from datavsmath.experiments import R_EXPERIMENTS, experiment_names

    root = Path(__file__).resolve().parents[1]
    guide, makefile, helptext = ((root / "reports" / "_guide.md").read_text(), (root / "Makefile").read_text(),
                                 run_cmd.__doc__)
    readme = (root / "README.md").read_text()
    beyond = [n for n in experiment_names() if n not in R_EXPERIMENTS]
    r_full, all_full, b_full = _grid(R_EXPERIMENTS, "full"), _grid(experiment_names(), "full"), _grid(beyond, "full")
    all_quick, r_quick, all_smoke = _grid(experiment_names(), "quick"), _grid(R_EXPERIMENTS, "quick"), \
        _grid(experiment_names(), "smoke")
    hours = lambda g: f"about {g[1] / 3600:.0f}"  # noqa: E731
    minutes = lambda g: f"about {g[1] / 60:.0f} min"  # noqa: E731
    assert f"R's four grids: {r_full[0]} fits, planned at {hours(r_full)} CPU-hours" in makefile
    assert f"{b_full[0]} fits, {hours(b_full)} CPU-hours" in makefile
    assert f"{all_quick[0]} fits, planned at {minutes(all_quick)}" in makefile
    assert f"{r_full[0]} fits, {hours(r_full)} CPU-hours" in helptext
    assert f"all eight {all_full[0]} fits, {hours(all_full)} CPU-hours" in helptext
    assert f"{all_quick[0]} fits, {minutes(all_quick)}" in helptext and f"R's four {r_quick[0]} fits" in helptext
    assert f"{all_smoke[0]} fits, {minutes(all_smoke)}" in helptext
    assert f"R's four grids ({r_full[0]} fits)" in readme and f"({hours(r_full)} CPU-hours" in readme
    assert f"| `full` | {r_full[0]} | {hours(r_full)} CPU-hours" in guide
    assert f"({all_quick[0]} fits; the plan's estimate" in guide and f"{minutes(all_quick)} on 2 cores" in guide
    assert f"| `smoke` | {all_smoke[0]} |" in guide and f"| `quick` | {r_quick[0]} |" in guide
    assert "run r --profile full" in makefile and len(experiment_names()) == 8  # "all eight"


def test_commands_that_read_results_name_the_folder_profile_and_currency(capsys):
    """fit, parity and figures print one header line: folder, profile, complete, current."""
    from datavsmath.report.site import R_RESULTS, describe_source, load_results

    assert "R's published tables" in describe_source(R_RESULTS, load_results(R_RESULTS))
    root = Path(__file__).resolve().parents[1]
    quick = root / "results" / "quick"
    if not (quick / "provenance.json").is_file():
        pytest.skip("no shipped results/quick")
    line = describe_source(quick, load_results(quick))
    assert line.startswith("read results/quick: profile quick; QUICK PREVIEW") and "replicates per cell: rf" in line
    assert main(["parity", str(quick)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == line


# --- fit never changes its input without a word -------------------------------------------------
def _r_size_with(tmp_path, edit):
    """The R size table after ``edit`` (a function of the DataFrame), under its R name."""
    df = edit(pd.read_csv(R_SIZE))
    path = tmp_path / R_SIZE.name
    df.to_csv(path, index=False)
    return path


def _conflict(df):
    """Line 6's cell again, at the end (line 114), with another accuracy."""
    return pd.concat([df, df.iloc[[4]].assign(acc=df.at[4, "acc"] + 0.1)], ignore_index=True)


def _repeat(df):
    return pd.concat([df, df.iloc[[4]]], ignore_index=True)


def _negative(df):
    return df.assign(frac=df["frac"].where(df.index != 2, -0.1))


@pytest.mark.parametrize("edit, named", [
    (_conflict, "lines 6, 114: one cell (model rf, frac_sample 0.02, frac_damage 0.0, replicate 0) "
                "with conflicting values, acc "),
    (_repeat, "lines 6, 114: one cell (model rf, frac_sample 0.02, frac_damage 0.0, replicate 0) repeated"),
    (_negative, "line 4: frac_sample -0.1 is outside (0, 1]"),
    (lambda df: df.assign(frac=df["frac"].astype(object).where(df.index != 7, "half")),
     "line 9: frac_sample 'half' is not a number"),
])
def test_fit_names_rows_it_would_drop_or_merge_and_changes_nothing(tmp_path, capsys, edit, named):
    path = _r_size_with(tmp_path, edit)
    assert main(["fit", str(path), "--to", str(tmp_path / "o"), *FAST_FIT]) == 2
    err = capsys.readouterr().err
    assert f"datavsmath fit: error: {path}: " in err and named in err and "--lenient" in err, err
    assert not (tmp_path / "o").exists()


def test_fit_lenient_counts_the_rows_in_a_warning_and_analyses_the_rest(tmp_path, capsys):
    path = _r_size_with(tmp_path, lambda df: _negative(_conflict(df)))
    assert main(["fit", str(path), "--to", str(tmp_path / "o"), "--lenient", *FAST_FIT]) == 0
    err = capsys.readouterr().err
    assert ("warning: " + f"{path}: 1 row(s) with a fraction blank or out of range, 1 cell(s) given by 2 rows; "
            "--lenient: the out-of-range rows are left out; each cell's rows are averaged as replicates") in err
    assert (tmp_path / "o" / "tables" / "learning_curve_fits.csv").is_file()


def test_fit_lists_a_few_problem_rows_and_counts_the_rest(tmp_path, capsys):
    path = _r_size_with(tmp_path, lambda df: df.assign(frac=-df["frac"]))
    assert main(["fit", str(path), "--to", str(tmp_path / "o"), *FAST_FIT]) == 2
    err = capsys.readouterr().err
    assert "112 row(s) with a fraction blank or out of range" in err and "line 6:" in err
    assert "line 7:" not in err and "and 107 more" in err


# --- machine-readable status, a missing folder, a dry run ---------------------------------------
def test_status_json_has_the_counts_and_the_same_exit_status(tmp_path, capsys):
    import json

    out = tmp_path / "res"
    out.mkdir()
    assert main(["status", "size", "--profile", "smoke", "--out", str(out), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] is False and report["profile"] == "smoke"
    size = report["experiments"][0]
    assert size["experiment"] == "size" and size["stored"] == 0 and size["left"] == size["fits"] == 4
    assert report["replicates"] == {} and report["spec_errors"] == []


def test_status_of_a_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["status", "--out", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert "no such results folder" in err and "typo" in err


def test_a_dry_run_prints_the_plan_and_writes_nothing(tmp_path, no_data, capsys):
    out = tmp_path / "dry"
    assert main(["run", "size", "--profile", "quick", "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "plan: profile quick, 20 of 20 fits to run (size)" in text and str(out) in text
    assert not out.exists() and no_data == []  # not even the data were looked for


def test_fit_json_reports_the_verdicts_for_scripts(tmp_path, capsys):
    import json

    assert main(["fit", str(R_SIZE), "--to", str(tmp_path), "--metric", "acc", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)  # nothing else on stdout
    assert set(report) == {"sources", "tables", "data_needed", "derivative", "joint_law"}
    assert (tmp_path / "tables" / "data_needed.csv").is_file() and "data_needed" in report["tables"]
    rows = report["data_needed"]
    assert len(rows) == 8 and {r["verdict"] for r in rows} <= {"reachable", "not reachable", "undetermined"}
    for r in rows:  # an unbounded limit is null, never Infinity (which JSON does not have)
        assert r["ci_high"] is None or r["ci_high"] >= r["ci_low"]


def test_parity_and_advise_speak_json(capsys):
    import json

    root = Path(__file__).resolve().parents[1]
    quick = root / "results" / "quick"
    if not (quick / "provenance.json").is_file():
        pytest.skip("no shipped results/quick")
    assert main(["parity", str(quick), "--json", "--top", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cells"] > 0 and len(report["outliers"]) <= 3
    assert {"experiment", "metric", "model", "consistent"} <= set(report["summary"][0])
    rc = main(["advise", str(quick), "--target-acc", "0.8", "--rows", "2000", "--quality", "0.8",
               "--cost-label", "1", "--cost-clean", "0.5", "--json"])
    advice = json.loads(capsys.readouterr().out)
    assert rc == (0 if advice["advised"] else 1) and [p["plan"] for p in advice["plans"]] == [
        "collect", "clean", "cheapest"]
