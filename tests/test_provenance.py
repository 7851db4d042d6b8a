"""provenance.json: written under a lock and atomically, sessions from start to end, a dead
session shown as killed, a damaged file never a traceback."""

import json
import multiprocessing
import os
import socket
import stat
import subprocess

import pytest

import datavsmath.training.provenance as P

HOST = socket.gethostname()
REAL_GIT_COMMIT = P.git_commit  # the autouse fixture below replaces it


@pytest.fixture(autouse=True)
def quick_probes(monkeypatch):
    """No GPU probe (a keras import) and no git calls: these tests are about the file."""
    monkeypatch.setattr(P, "hardware", lambda: {"host": HOST, "cpu": "test", "cores": 1,
                                                "memory_gib": 1.0, "gpu": None})
    monkeypatch.setattr(P, "git_commit", lambda: None)


def record(root, i=0):
    return P.record_session(root, profile="smoke", experiments={"size": {"n_fits": 4, "stored": i}},
                            started_at="2026-01-01T00:00:00+00:00", wall_seconds=1.0, fits_done=1,
                            status="finished", versions={"python": "test"}, complete=False)


def _writer(root, n):
    for i in range(n):
        record(root, i)


def test_concurrent_writers_neither_corrupt_nor_lose_sessions(tmp_path):
    """Four processes recording 6 sessions each at once (forked, so they share the stand-ins
    above): every session is there and the file parses."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(tmp_path, 6)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    prov = json.loads((tmp_path / "provenance.json").read_text())
    assert len(prov["sessions"]) == 24 and prov["wall_seconds"] == 24.0
    assert len({s["id"] for s in prov["sessions"]}) == 24
    assert not list(tmp_path.glob(".tmp-*")) and not list(tmp_path.glob("*.tmp"))


def test_a_session_runs_from_start_to_end_and_the_profile_is_known_at_start(tmp_path):
    sid = P.start_session(tmp_path, profile="smoke", experiments={"size": {"n_fits": 4, "stored": 0}})
    prov = P.read_provenance(tmp_path)
    assert prov["profile"] == "smoke" and prov["complete"] is False
    (s,) = prov["sessions"]
    assert s["status"] == "running" and s["pid"] == os.getpid() and s["finished_at"] is None
    prov = P.finish_session(tmp_path, sid, experiments={"size": {"n_fits": 4, "stored": 4}}, wall_seconds=2.0,
                            fits_done=4, status="finished", versions={"python": "test"}, complete=True)
    (s,) = prov["sessions"]
    assert s["status"] == "finished" and s["fits_done"] == 4 and prov["complete"] is True
    assert prov["versions"] == {"python": "test"} and prov["wall_seconds"] == 2.0


def test_a_running_session_of_a_dead_process_is_killed(tmp_path):
    proc = subprocess.Popen(["true"])
    proc.wait()
    P.start_session(tmp_path, profile="smoke", experiments={})
    prov = json.loads((tmp_path / "provenance.json").read_text())
    prov["sessions"].append({**prov["sessions"][0], "id": "gone", "pid": proc.pid})
    prov["sessions"].append({**prov["sessions"][0], "id": "far", "pid": proc.pid, "host": "elsewhere"})
    (tmp_path / "provenance.json").write_text(json.dumps(prov))
    statuses = [s["status"] for s in P.read_provenance(tmp_path)["sessions"]]
    assert statuses == ["running", "killed", "running"]  # another host's cannot be checked
    record(tmp_path)  # the next writer stores it
    stored = json.loads((tmp_path / "provenance.json").read_text())["sessions"]
    assert [s["status"] for s in stored] == ["running", "killed", "running", "finished"]
    assert P.read_provenance(tmp_path)["wall_seconds"] == 1.0  # killed sessions have no known time


def test_a_damaged_provenance_is_reported_then_set_aside(tmp_path, capsys):
    (tmp_path / "provenance.json").write_text('{"sessions": [{"trunc')
    assert P.read_provenance(tmp_path) == {}
    assert "provenance.json is damaged" in capsys.readouterr().err
    record(tmp_path)
    assert len(P.read_provenance(tmp_path)["sessions"]) == 1
    assert len(list((tmp_path / "quarantine").glob("provenance.*.json"))) == 1


def test_status_on_a_damaged_provenance_warns_once_and_says_the_profile_is_assumed(tmp_path, capsys):
    from datavsmath.cli import main

    (tmp_path / "provenance.json").write_text('{"sessions": [{"trunc')
    assert main(["status", "size", str(tmp_path)]) == 1
    shown = capsys.readouterr()
    assert shown.err.count("provenance.json is damaged") == 1, shown.err
    assert f"{tmp_path} (profile quick, assumed: no readable provenance.json says)" in shown.out


def test_provenance_is_created_0644(tmp_path):
    old = os.umask(0o022)
    try:
        record(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "provenance.json").stat().st_mode) == 0o644


def test_git_commit_is_this_checkouts_head_and_ignores_results():
    import subprocess

    root = P.project_checkout()
    if root is None or not (root / ".git").exists():
        pytest.skip("not running from a git checkout of the project")
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    commit = REAL_GIT_COMMIT()
    assert commit is not None and commit.split("+")[0] == head
