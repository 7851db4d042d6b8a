"""Dask execution on real clusters of worker processes: every fit stored exactly once; a
worker killed mid-task has its unit retried elsewhere, or resubmitted with the dataset
scattered again when it died with the only copy; retries are bounded; the local cluster
listens on loopback only."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from distributed import WorkerPlugin

from datavsmath.errors import UserError
from datavsmath.experiments import load_experiment
from datavsmath.training.runner import run_experiment
from datavsmath.training.store import ResultStore

pytestmark = pytest.mark.slow


def test_cli_local_cluster_stores_every_fit_once(tmp_path):
    out = tmp_path / "res"
    args = [sys.executable, "-m", "datavsmath.cli", "run", "constant_damage", "size", "--profile", "smoke",
            str(out), "--no-progress", "--cluster", "local", "--workers", "2"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 workers" in done.stdout and "dnn fused" in done.stdout
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 8 and not df.duplicated(["experiment", "model", "frac_sample", "frac_damage"]).any()
    assert set(df["backend"]) == {"naive", "fused"} and df["acc"].between(0.2, 1).all()
    fused = df[(df.experiment == "constant_damage") & (df.model == "dnn")]
    assert (fused["copies"] == 2).all()  # both damage levels of the one draw trained together
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("fits already stored") == 2
    assert "workers" not in again.stdout  # nothing to do: no cluster started


def test_ctrl_c_on_a_local_cluster_run_prints_one_line(tmp_path, child_run):
    """Ctrl-C reaches the workers too (one process group): they ignore it, the run closes them,
    and the user reads the run's one line, no worker traceback or Dask log."""
    out = tmp_path / "res"
    child = child_run("run", "size", "--profile", "smoke", out, "--no-progress", "--cluster", "local",
                      hold_after_stored=1)
    child.wait_for("held")
    child.ctrl_c()
    rc, _, err = child.finish(timeout=120)
    # TensorFlow's start-up lines of each process (native logging, before absl's) are not ours
    native = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} )")
    said = [line for line in err.splitlines()
            if line.strip() and not line.startswith("datavsmath-event:") and not native.match(line)]
    assert rc == 130 and said == ["interrupted; finished fits are saved, rerun the same command to resume"], err


def test_worker_killed_mid_task_is_retried(tmp_path, fashion):
    from distributed import Client, LocalCluster

    exp = load_experiment("size", "smoke").with_options(models=["dnn"], replicates=2)  # 4 naive fits
    store = ResultStore(tmp_path)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as cluster, Client(cluster) as client:
        killed = {}

        def executing(dask_worker):
            return [ts.key for ts in dask_worker.state.executing]

        def kill_one_mid_task():
            deadline = time.time() + 300
            while time.time() < deadline:
                running = {a: ks for a, ks in client.run(executing).items()
                           if any(str(k).startswith("datavsmath-size") for k in ks)}
                if running:
                    addr, keys = sorted(running.items())[0]
                    pid = client.run(os.getpid, workers=[addr])[addr]
                    killed.update(addr=addr, key=keys[0])
                    os.kill(pid, signal.SIGKILL)
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_one_mid_task)
        killer.start()
        summary = run_experiment(exp, store, fashion, progress=False, log=lambda *a: None, backend="naive",
                                 client=client)
        killer.join()
        assert killed, "no task was seen running"
        story = cluster.scheduler.story(killed["key"])
        starts = [t for t in story if t[2] == "processing"]
        assert len(starts) >= 2, f"the killed unit was not rescheduled: {story}"
    assert summary.fitted == 4
    records = store.records("size")
    keys = [(r["frac_sample"], r["replicate"]) for r in records]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert all(r["backend"] == "naive" and 0.3 < r["acc"] <= 1 for r in records)


def test_an_unreachable_scheduler_is_a_clear_error():
    from datavsmath.training.cluster import connect
    from datavsmath.errors import UserError

    with pytest.raises(UserError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9.*"
                                        r"dask worker tcp://127\.0\.0\.1:9 --nthreads 1"):
        connect("tcp://127.0.0.1:9", timeout=2)


class KillOnStart(WorkerPlugin):
    """SIGKILLs its worker process when a task whose key contains ``match`` starts executing;
    with ``once``, only the first time on the whole cluster (a marker file survives the
    process). The scheduler installs it again on every worker the nanny restarts."""

    def __init__(self, marker, match="datavsmath-", once=True):
        self.marker, self.match, self.once = str(marker), match, once

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or self.match not in str(key):
            return
        if self.once and os.path.exists(self.marker):
            return
        with open(self.marker, "a") as f:
            f.write(f"{key}\n")
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture
def one_worker():
    """The CLI's local cluster with one worker (the CPU default): a dead worker takes the only
    copy of the scattered dataset with it."""
    from datavsmath.training.cluster import local_cluster

    cluster, client = local_cluster(1)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


def test_a_fused_unit_whose_only_worker_dies_is_resubmitted_with_the_data_scattered_again(tmp_path, fashion,
                                                                                          one_worker):
    cluster, client = one_worker
    marker = tmp_path / "killed"
    client.register_plugin(KillOnStart(marker, match="-dnn-"), name="kill-dnn-once")
    exp = load_experiment("constant_damage", "smoke")  # rf x2 naive, dnn x2 fused
    store = ResultStore(tmp_path / "res")
    lines = []
    summary = run_experiment(exp, store, fashion, progress=False, log=lines.append, backend="fused", client=client)
    assert marker.read_text().count("\n") == 1, "the dnn unit was not killed exactly once"
    assert any("resubmitting dnn x2" in line and "attempt 2 of 3" in line for line in lines), lines
    assert summary.fitted == 4
    records = store.records("constant_damage")
    keys = [(r["model"], r["frac_damage"]) for r in records]
    assert len(keys) == 4 and len(set(keys)) == 4
    assert {r["backend"] for r in records if r["model"] == "dnn"} == {"fused"}


def test_a_unit_that_always_kills_its_worker_ends_in_an_error_naming_it(tmp_path, fashion, one_worker, monkeypatch):
    from datavsmath.training import cluster as cluster_mod

    cluster, client = one_worker
    monkeypatch.setattr(cluster_mod, "MAX_ATTEMPTS", 2)
    marker = tmp_path / "killed"
    client.register_plugin(KillOnStart(marker, match="-rf-", once=False), name="kill-rf-always")
    exp = load_experiment("size", "smoke").with_options(models=["rf"])
    store = ResultStore(tmp_path / "res")
    with pytest.raises(UserError, match=r"size: unit rf s=0\.\d+ d=0 \(datavsmath-size-rf-\w+\) failed on the "
                                        r"Dask cluster 2 times; last: it was cancelled.*rerun the command"):
        run_experiment(exp, store, fashion, progress=False, log=lambda *a: None, client=client)
    assert marker.read_text().count("\n") == 2  # two submissions, then no more


def test_the_local_cluster_listens_on_loopback_only(one_worker):
    import psutil

    cluster, client = one_worker
    info = client.scheduler_info()
    assert info["address"].startswith("tcp://127.0.0.1:")
    assert info["workers"] and all(a.startswith("tcp://127.0.0.1:") for a in info["workers"])
    pids = [os.getpid(), *client.run(os.getpid).values()]
    listening = [c.laddr for pid in pids for c in psutil.Process(pid).net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    assert 8787 not in {addr.port for addr in listening}  # no dashboard


def test_the_device_probe_survives_a_worker_that_died_and_came_back(one_worker):
    from concurrent.futures import ThreadPoolExecutor

    from datavsmath.training.cluster import cluster_profile

    cluster, client = one_worker
    (pid,) = client.run(os.getpid).values()
    os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker under a new address
    with ThreadPoolExecutor(1) as pool:  # on failure the fixture's client.close ends the wait
        profile, line = pool.submit(cluster_profile, client).result(timeout=240)
    assert profile["cpu_cores"] >= 1 and "1 workers (cpu)" in line
    assert pid not in client.run(os.getpid).values()


METRICS = ["acc", "auc"]


def _numbers(store, name, columns=None):
    cols = ["model", "frac_sample", "frac_damage", "replicate"]
    df = pd.DataFrame(store.records(name))
    return df.sort_values(cols).set_index(cols)[columns or [m for m in METRICS if m in df.columns]]


def test_under_dask_the_forest_gives_identical_numbers_and_the_network_trains_on_the_same_rows(tmp_path, fashion,
                                                                                               one_worker):
    # the networks' numbers are not bit-identical across processes (thread pools and kernels
    # decide the float rounding, which training amplifies): README states the measured spread
    cluster, client = one_worker
    exp = load_experiment("size", "smoke")  # rf, dnn
    here, there = ResultStore(tmp_path / "here"), ResultStore(tmp_path / "there")
    run_experiment(exp, here, fashion, progress=False, log=lambda *a: None, backend="naive", tree_threads=0)
    run_experiment(exp, there, fashion, progress=False, log=lambda *a: None, backend="naive", client=client)
    a, b = _numbers(here, "size"), _numbers(there, "size")
    pd.testing.assert_frame_equal(a.loc[["rf"]], b.loc[["rf"]], check_exact=True)
    same_fit = ["seed", "n_train"]
    pd.testing.assert_frame_equal(_numbers(here, "size", same_fit), _numbers(there, "size", same_fit))
    assert (a.loc["dnn", "acc"] - b.loc["dnn", "acc"]).abs().max() < 0.1  # a sanity bound, not the spread


class HoldOnStart(WorkerPlugin):
    """Holds every task whose key contains ``match`` for ``seconds`` before it runs: the
    scheduler can be killed while those tasks are still in flight."""

    def __init__(self, match: str, seconds: float):
        self.match, self.seconds = match, seconds

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and self.match in str(key):
            time.sleep(self.seconds)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lost_scheduler_is_a_clear_error_and_keeps_the_stored_fits(tmp_path, fashion):
    from datavsmath.training.cluster import connect

    address = f"tcp://127.0.0.1:{_free_port()}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        client = connect(address, timeout=60)
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  # the worker unpickles this module's plugin
                                  env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                      [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])})
        client.wait_for_workers(1, timeout=120)
        client.register_plugin(HoldOnStart("-dnn-", 300), name="hold-dnn")
        # rf x2 (naive units) and the dnn group, held: the worker's one thread may take it
        # before the second forest, so the scheduler is killed when the first fit is stored
        exp = load_experiment("size", "smoke")
        store = ResultStore(tmp_path / "res")

        killed = {}

        def kill_when_a_tree_is_stored():
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and not store.records("size"):
                time.sleep(0.2)
            scheduler.send_signal(signal.SIGKILL)
            killed["at"] = time.monotonic()

        killer = threading.Thread(target=kill_when_a_tree_is_stored)
        killer.start()
        with pytest.raises(UserError, match=rf"lost the connection to the Dask scheduler at {address} "
                                            r"\(every task still running was cancelled with it\)\. The fits "
                                            r"stored so far are kept; rerun the command"):
            run_experiment(exp, store, fashion, progress=False, log=lambda *a: None, backend="fused",
                           client=client)
        killer.join()
        # the error comes when the connection goes, not when the held task would have ended
        assert time.monotonic() - killed["at"] < 120
        stored = store.records("size")
        assert stored and {r["model"] for r in stored} == {"rf"}
        client.close(timeout=5)
    finally:
        for proc in (worker, scheduler):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
