"""`datavsmath run` around the store: damaged cells, pre-flight checks, storage errors,
SIGTERM, the folder's writer lock, sessions recorded from the start, and runs with nothing to
do. Most tests run the command in this process with stand-ins for the data and the training
(`fake`), so they take well under a second; one sends SIGTERM to a real smoke run."""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import datavsmath.data
import datavsmath.training.fused
import datavsmath.training.provenance
import datavsmath.training.runner
import datavsmath.training.units
from datavsmath.cli import main
from datavsmath.models import recipe
from datavsmath.training.lock import LOCK_NAME
from datavsmath.training.plan import fit_key, pending_fits

SHIPPED = Path(__file__).resolve().parents[1] / "results"
HOST = socket.gethostname()


@pytest.fixture
def fake(monkeypatch):
    """Stand-ins for data loading, training and hardware probes: each pending fit is stored at
    once with acc 0.5. ``fake.during(store, n)`` runs after each stored fit (n: fits stored by
    this call); ``fake.loaded`` counts data loads."""
    state = SimpleNamespace(loaded=0, during=lambda store, n: None)

    def load_dataset(name, *a, **kw):
        state.loaded += 1
        return SimpleNamespace(name=name)

    def run_experiment(exp, store, data, **kw):
        n = 0
        for cell, models in pending_fits(exp, store):
            for m in models:
                store.put({**fit_key(exp, cell, m), "acc": 0.5, "auc": 0.9, "damage": exp.damage,
                           "seed": cell.seed, "profile": exp.profile, "recipe": recipe(m)})
                n += 1
                state.during(store, n)
        return f"{exp.name}: {n} fake fits"

    monkeypatch.setattr(datavsmath.data, "load_dataset", load_dataset)
    monkeypatch.setattr(datavsmath.training.runner, "run_experiment", run_experiment)
    monkeypatch.setattr(datavsmath.training.units, "library_versions", lambda: {"python": "test"})
    monkeypatch.setattr(datavsmath.training.fused, "configure_devices", lambda: None)
    monkeypatch.setattr(datavsmath.training.provenance, "hardware",
                        lambda: {"host": HOST, "cpu": "test", "cores": 1, "memory_gib": 1.0, "gpu": None})
    return state


def run(out, *extra):
    return main(["run", "size", "--profile", "smoke", str(out), "--no-progress", *extra])


def cells(out):
    return sorted((Path(out) / "cells").rglob("*.json"))


def provenance(out):
    return json.loads((Path(out) / "provenance.json").read_text())


# --- item 2: a damaged cell ----------------------------------------------------------------

def test_a_truncated_cell_counts_as_missing_and_the_next_run_refits_it(tmp_path, fake, capsys):
    out = tmp_path / "res"
    assert run(out) == 0 and len(cells(out)) == 4
    damaged = cells(out)[1]
    damaged.write_text(damaged.read_text()[:40])
    capsys.readouterr()
    assert main(["status", "size", str(out)]) == 1
    shown = capsys.readouterr()
    assert "3/4 fits stored, 1 left" in shown.out
    assert f"damaged cell {damaged}" in shown.err and "quarantine" in shown.err
    assert run(out) == 0
    assert len(cells(out)) == 4 and damaged.is_file() and json.loads(damaged.read_text())["acc"] == 0.5
    assert len(list((out / "quarantine").rglob("*.json"))) == 1
    assert provenance(out)["sessions"][-1]["fits_done"] == 1


@pytest.mark.parametrize("edit, problem", [({"acc": 1.7}, "acc 1.7 is outside [0, 1]"),
                                           ({"seed": "abc"}, "seed must be an integer")])
def test_a_cell_with_an_impossible_value_is_named_and_the_next_run_retrains_it(tmp_path, fake, capsys, edit,
                                                                               problem):
    """Without its checksum (which is optional) such a cell used to pass status, export and run."""
    out = tmp_path / "res"
    assert run(out) == 0
    damaged = cells(out)[2]
    body = {k: v for k, v in json.loads(damaged.read_text()).items() if k != "sha256"}
    damaged.write_text(json.dumps({**body, **edit}))
    capsys.readouterr()
    assert main(["status", "size", str(out)]) == 1
    shown = capsys.readouterr()
    assert "3/4 fits stored, 1 left" in shown.out
    assert f"damaged cell {damaged}: {problem}" in shown.err and "quarantine" in shown.err
    assert run(out) == 0 and provenance(out)["sessions"][-1]["fits_done"] == 1
    assert json.loads(damaged.read_text())["acc"] == 0.5 and main(["status", "size", str(out)]) == 0


@pytest.mark.parametrize("command", ["export", "fit", "figures"])
def test_read_commands_name_a_damaged_cell_and_never_traceback(tmp_path, fake, capsys, command):
    """``figures`` reads through :func:`datavsmath.report.site.load_results`, called here: drawing
    every figure takes 15 s."""
    out = tmp_path / "res"
    assert run(out) == 0
    damaged = cells(out)[0]
    damaged.write_text(damaged.read_text().replace('"acc": 0.5', '"acc": 0.99'))  # checksum mismatch
    capsys.readouterr()
    args = {"export": ["export", str(out)],
            "fit": ["fit", str(out), "--to", str(tmp_path / "fit"), "--quiet"],
            "figures": None}[command]
    if args is None:
        from datavsmath.report.site import load_results

        rc = 0 if len(load_results(out)) == 3 else 1
    else:
        rc = main(args)
    err = capsys.readouterr().err
    assert rc in (0, 2) and "Traceback" not in err
    assert f"damaged cell {damaged}" in err and "checksum mismatch" in err


# --- item 6: pre-flight and storage errors -------------------------------------------------

def test_an_unwritable_results_folder_fails_before_the_data_is_loaded(tmp_path, fake, capsys):
    """A folder below a regular file cannot be created, for root too (chmod does not stop
    root, so the read-only case proper is simulated below)."""
    (tmp_path / "file").write_text("")
    assert run(tmp_path / "file" / "res") == 2
    err = capsys.readouterr().err
    assert "cannot write to the results folder" in err and "choose another folder" in err and "Traceback" not in err
    assert fake.loaded == 0


def test_a_read_only_folder_fails_before_the_data_is_loaded(tmp_path, fake, capsys, monkeypatch):
    import tempfile

    def read_only(*a, **kw):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert run(tmp_path / "res") == 2
    assert "Read-only file system" in capsys.readouterr().err and fake.loaded == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; covered by the two tests above")
def test_a_chmod_read_only_folder_fails_before_the_data_is_loaded(tmp_path, fake, capsys):
    out = tmp_path / "res"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert run(out) == 2
    finally:
        out.chmod(0o755)
    assert "cannot write to the results folder" in capsys.readouterr().err and fake.loaded == 0


def test_export_to_an_unwritable_place_is_one_clear_error(tmp_path, fake, capsys):
    out = tmp_path / "res"
    assert run(out, "--models", "rf") == 0
    (tmp_path / "file").write_text("")
    capsys.readouterr()
    assert main(["export", str(out), "--to", str(tmp_path / "file" / "tables")]) == 2
    err = capsys.readouterr().err
    assert "datavsmath export: error:" in err and "choose another folder" in err and "Traceback" not in err


def test_too_little_free_space_fails_before_the_data_is_loaded(tmp_path, fake, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(total=10**9, used=10**9, free=4096))
    assert run(tmp_path / "res") == 2
    err = capsys.readouterr().err
    assert "MiB free; this run needs about" in err and fake.loaded == 0


def test_a_disk_that_fills_mid_run_ends_in_one_clear_error_and_keeps_what_finished(tmp_path, fake, capsys,
                                                                                    monkeypatch):
    """After the first fit, every write fails with ENOSPC: the cell, the session's end and the
    tables. One message, rc 2, no traceback, no temporary file; the stored fit is intact."""
    out = tmp_path / "res"
    real_fsync = os.fsync

    def fill_disk(store, n):
        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(os, "fsync", full)

    fake.during = fill_disk
    assert run(out) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err and err.count("error:") == 1
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert len(cells(out)) == 1 and not list(out.rglob(".tmp-*"))
    assert provenance(out)["sessions"][-1]["status"] == "running"  # its end could not be written
    fake.during = lambda store, n: None
    assert run(out) == 0 and len(cells(out)) == 4
    statuses = [s["status"] for s in provenance(out)["sessions"]]
    assert statuses == ["running", "finished"]  # the first is this live test process, not dead


def test_sigterm_is_handled_like_ctrl_c(tmp_path, fake, capsys):
    out = tmp_path / "res"

    def terminate(store, n):
        if n == 1:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
            raise AssertionError("SIGTERM was not handled")

    fake.during = terminate
    previous = signal.getsignal(signal.SIGTERM)
    assert run(out) == 143
    assert signal.getsignal(signal.SIGTERM) is previous  # restored for whoever embeds the CLI
    err = capsys.readouterr().err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert len(cells(out)) == 1 and (out / "results.csv").is_file()
    session = provenance(out)["sessions"][-1]
    assert session["status"] == "interrupted" and session["fits_done"] == 1


@pytest.mark.slow
def test_sigterm_to_a_smoke_run_stores_its_fits_and_records_the_session(tmp_path, child_run):
    """SIGTERM while the run holds after its first stored fit (a known point mid-grid)."""
    out = tmp_path / "res"
    child = child_run("run", "size", "--profile", "smoke", out, "--no-progress", hold_after_stored=1)
    child.wait_for("held")
    child.signal(signal.SIGTERM)
    rc, _, err = child.finish(timeout=120)
    assert rc == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    session = provenance(out)["sessions"][-1]
    assert session["status"] == "interrupted" and 1 <= session["fits_done"] == len(cells(out)) < 4
    assert not (out / LOCK_NAME).read_text()  # released


# --- item 7: sessions, the writer lock, runs with nothing to do ----------------------------

def test_the_session_is_recorded_as_running_from_the_start(tmp_path, fake, capsys):
    out = tmp_path / "res"
    seen = []

    def look(store, n):
        if n == 1:
            seen.append(provenance(out))
            assert main(["status", "size", str(out)]) == 1
            seen.append(capsys.readouterr().out)

    fake.during = look
    assert run(out) == 0
    during, shown = seen
    assert during["profile"] == "smoke" and during["complete"] is False
    assert during["sessions"][-1]["status"] == "running" and during["sessions"][-1]["pid"] == os.getpid()
    assert "(profile smoke)" in shown and "running (pid" in shown
    assert provenance(out)["sessions"][-1]["status"] == "finished"
    # complete means every fit of the profile, all its experiments: size alone is not that
    assert provenance(out)["complete"] is False


def test_a_session_whose_process_died_shows_as_killed(tmp_path, fake, capsys):
    out = tmp_path / "res"
    assert run(out) == 0
    prov = provenance(out)
    prov["sessions"].append({**prov["sessions"][-1], "status": "running", "pid": dead_pid(),
                             "fits_done": None, "wall_seconds": None})
    (out / "provenance.json").write_text(json.dumps(prov))
    capsys.readouterr()
    main(["status", "size", str(out)])
    assert "killed (pid" in capsys.readouterr().out


def test_a_second_concurrent_run_is_refused(tmp_path, fake, capsys):
    out = tmp_path / "res"
    out.mkdir()
    holder = hold_lock(out)
    try:
        assert run(out) == 2
        err = capsys.readouterr().err
        assert "is being written by another run" in err and f"pid {holder.pid}" in err
        assert fake.loaded == 0 and not cells(out)
        assert run(out, "--force-unlock") == 2  # a live holder on this machine is never overridden
    finally:
        holder.kill()
        holder.wait()
    assert run(out) == 0 and len(cells(out)) == 4  # the kernel lock died with it
    assert f"taking over the lock of pid {holder.pid}" in capsys.readouterr().err


def test_a_lock_held_before_its_holder_wrote_its_name_is_refused(tmp_path):
    import fcntl

    from datavsmath.errors import UserError
    from datavsmath.training.lock import RunLock

    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another open file: to flock, another writer
    try:
        with pytest.raises(UserError, match="just starting"):
            RunLock(tmp_path).acquire()
    finally:
        os.close(fd)
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_a_stale_lock_file_is_taken_over_and_another_hosts_needs_force(tmp_path, fake, capsys):
    out = tmp_path / "res"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": dead_pid(), "host": HOST}))
    assert run(out, "--models", "rf") == 0
    assert "that process is gone" in capsys.readouterr().err
    assert (out / LOCK_NAME).read_text() == ""  # released
    (out / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started_at": "then"}))
    assert run(out) == 2
    err = capsys.readouterr().err
    assert "--force-unlock" in err and "elsewhere" in err and len(cells(out)) == 2
    assert run(out, "--force-unlock") == 0 and len(cells(out)) == 4


def test_a_run_with_nothing_to_do_changes_nothing(tmp_path, fake):
    """Also on a copy of the shipped quick results: no session appended, versions kept, no
    file written, no data loaded."""
    out = tmp_path / "quick"
    shutil.copytree(SHIPPED / "quick", out)
    before = snapshot(out)
    assert main(["run", str(out), "--no-progress"]) == 0
    assert snapshot(out) == before and fake.loaded == 0
    small = tmp_path / "res"
    assert run(small) == 0
    before = snapshot(small)
    assert run(small) == 0 and snapshot(small) == before


def test_files_are_created_0644(tmp_path, fake):
    old = os.umask(0o022)
    try:
        out = tmp_path / "res"
        assert run(out) == 0
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o644"}, files


def test_stale_temp_files_of_a_dead_writer_are_removed_by_the_next_run(tmp_path, fake):
    out = tmp_path / "res"
    assert run(out, "--models", "rf") == 0
    stale = out / "cells" / "size" / f".tmp-{HOST}-{dead_pid()}-x1y2.part"
    stale.write_text('{"trunc')
    assert run(out) == 0 and not stale.exists()


# --- helpers -------------------------------------------------------------------------------

def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def hold_lock(out: Path) -> subprocess.Popen:
    """Another process holding the folder's run lock until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from datavsmath.training.lock import RunLock
        with RunLock({str(out)!r}):
            print("locked", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- folders of spec runs, folders of another profile ------------------------------------------

def test_status_and_provenance_understand_a_spec_run(tmp_path, fake, capsys):
    spec = tmp_path / "mine.toml"
    spec.write_text('models = ["rf"]\nfrac_sample = [0.1, 0.2]\n')
    out = tmp_path / "res"
    assert main(["run", "--spec", str(spec), str(out), "--no-progress"]) == 0
    prov = provenance(out)
    assert prov["spec"] == str(spec.resolve()) and prov["complete"] is True
    capsys.readouterr()
    assert main(["status", str(out)]) == 0  # the spec's grid, complete; not the built-in ones
    shown = capsys.readouterr().out
    assert "mine" in shown and "2/2 fits stored, complete" in shown and "size " not in shown
    assert main(["run", str(out), "--no-progress"]) == 0  # a rerun of the folder: its spec again
    assert "mine: all 2 fits already stored" in capsys.readouterr().out
    spec.unlink()
    assert main(["status", str(out)]) == 2
    assert "pass the spec again with --spec FILE" in capsys.readouterr().err


def test_a_run_into_a_folder_of_another_profile_is_refused_unless_asked(tmp_path, fake, capsys):
    out = tmp_path / "res"
    assert run(out) == 0  # smoke
    before = cells(out)
    capsys.readouterr()
    assert main(["run", "size", "--profile", "quick", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds a smoke run" in err and "--other-profile" in err and cells(out) == before
    assert provenance(out)["profile"] == "smoke"
    assert main(["run", "size", "--profile", "quick", str(out), "--no-progress", "--other-profile"]) == 0
    assert provenance(out)["profile"] == "quick"


def test_a_run_counts_each_grid_once(tmp_path, fake, monkeypatch):
    """The run's plan walks each experiment's grid once, before the run; the command prints,
    records and executes that plan, and counts the folder once more after the run (what the
    session stored). run_experiment takes the plan's counts instead of counting again."""
    from datavsmath.experiments import load_experiment
    from datavsmath.training import plan as plan_mod
    from datavsmath.training import runner

    counted, handed = [], []
    count = plan_mod.ExperimentPlan.count.__func__

    def spy(cls, exp, store):
        counted.append(exp.name)
        return count(cls, exp, store)

    monkeypatch.setattr(plan_mod.ExperimentPlan, "count", classmethod(spy))
    fake_run = runner.run_experiment

    def run_experiment(exp, store, data, **kw):
        handed.append((exp.name, kw["plan"].n_pending))
        return fake_run(exp, store, data, **kw)

    monkeypatch.setattr(runner, "run_experiment", run_experiment)
    out = tmp_path / "out"
    assert run(out, "--dry-run") == 0 and counted == ["size"]
    counted.clear()
    assert run(out) == 0
    n_fits = load_experiment("size", "smoke").n_fits
    assert counted == ["size", "size"] and handed == [("size", n_fits)]
    counted.clear()
    assert run(out) == 0 and counted == ["size"]  # nothing to do: the plan says so, nothing else counts


def test_run_experiment_takes_the_plans_counts(tmp_path, monkeypatch):
    """Given the run's plan, run_experiment does not count the grid again (and refuses the
    plan of another experiment)."""
    from datavsmath.experiments import load_experiment
    from datavsmath.training import plan as plan_mod
    from datavsmath.training.runner import RunSummary, run_experiment
    from datavsmath.training.store import ResultStore

    def never(cls, exp, store):
        raise AssertionError("counted again")

    monkeypatch.setattr(plan_mod.ExperimentPlan, "count", classmethod(never))
    exp = load_experiment("size", "smoke")
    done = plan_mod.ExperimentPlan(exp, n_pending=0, seconds=0.0)
    lines = []
    summary = run_experiment(exp, ResultStore(tmp_path), SimpleNamespace(name=exp.dataset), plan=done,
                             progress=False, log=lines.append)
    assert summary == RunSummary("size", 0, exp.n_fits, 0.0) and "already stored" in lines[0]
    other = plan_mod.ExperimentPlan(load_experiment("random_damage", "smoke"), 0, 0.0)
    with pytest.raises(ValueError, match="the plan is of experiment 'random_damage'"):
        run_experiment(exp, ResultStore(tmp_path), SimpleNamespace(name=exp.dataset), plan=other, progress=False)
