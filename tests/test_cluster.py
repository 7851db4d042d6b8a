"""Dask execution on a real cluster of two worker processes: every fit stored exactly once,
and a worker killed mid-task has its unit retried elsewhere."""

import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from datavsmath.experiments import load_experiment
from datavsmath.training.runner import run_experiment
from datavsmath.training.store import ResultStore

pytestmark = pytest.mark.slow


def test_cli_local_cluster_stores_every_fit_once(tmp_path):
    out = tmp_path / "res"
    args = [sys.executable, "-m", "datavsmath.cli", "run", "constant_damage", "size", "--profile", "smoke",
            "--out", str(out), "--no-progress", "--cluster", "local", "--workers", "2"]
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
