"""``provenance.json`` of a results folder: what produced the numbers, where and when.

Each ``datavsmath run`` that has fits to do records one session (command, times, fits done,
hardware, its pid), so a grid finished over several interrupted runs still accounts for all
of its wall time. The session is written when the run starts (status "running", with the
profile) and updated when it ends ("finished" or "interrupted"); a session still "running"
whose process is gone from this machine is shown, and at the next run stored, as "killed".

Every change is a read-modify-write under an exclusive lock (``.provenance.lock``) and lands
through a uniquely named temporary file and a rename, so two processes recording at once
neither corrupt the file nor lose each other's session. A ``provenance.json`` that does not
parse is reported, ignored by readers, and moved to ``quarantine/`` by the next writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["cpu_model", "hardware", "read_provenance", "record_session", "start_session", "finish_session",
           "update_provenance"]

LOCK_NAME = ".provenance.lock"


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC", "Intel(R) Xeon(R) Processor"): what a network's
    floating-point results depend on besides the code (see :mod:`datavsmath.training.envelope`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict:
    """Host, CPU model and core count, memory, and the GPU TensorFlow sees (or None)."""
    from ..models import gpu_name

    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = float("nan")
    return {"host": socket.gethostname(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "memory_gib": round(mem, 1), "gpu": gpu_name()}


def project_checkout() -> Path | None:
    """The source tree holding this package (the folder with pyproject.toml above
    ``pkg/datavsmath``), or None for an installed copy."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "pkg" / "datavsmath").is_dir():
            return parent
    return None


def git_commit() -> str | None:
    """The project's commit (with "+dirty" if files differ from it), or None.

    None when the package does not sit in its own git checkout (an installed wheel, a copied
    source tree): git would otherwise report whatever repository encloses the folder, a
    stranger's commit.
    """
    import subprocess

    root = project_checkout()
    if root is None or not (root / ".git").exists():
        return None
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if Path(top).resolve() != root:
            return None
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        # results and the rendered site change under a run by design: only code makes it dirty
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no",
                                "--", ".", ":(exclude)results", ":(exclude)docs"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if dirty else "")


def _parse(path: Path) -> tuple[dict, str | None]:
    """(provenance, None), or ({}, what is wrong) for a file that is not a JSON object."""
    try:
        prov = json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError):  # no folder (yet) there: a pre-flight check says why
        return {}, None
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, f"not valid JSON ({exc})"
    if not isinstance(prov, dict) or not isinstance(prov.get("sessions", []), list):
        return {}, "not a provenance record"
    return prov, None


def _mark_killed(prov: dict) -> dict:
    """Sessions left "running" by a process that no longer exists on this machine are
    "killed" (a session of another host cannot be checked from here and keeps its status)."""
    from .files import pid_alive

    host = socket.gethostname()
    for s in prov.get("sessions", []):
        if (isinstance(s, dict) and s.get("status") == "running" and s.get("host") == host
                and isinstance(s.get("pid"), int) and not pid_alive(s["pid"])):
            s["status"] = "killed"
    return prov


#: damaged provenance files this process reported: (path, modification time, size)
_REPORTED: set[tuple] = set()


def _first_report(path: Path) -> bool:
    """True the first time this process sees this damaged file (a command reads it more than
    once: one warning); a file damaged anew, later, is reported again."""
    try:
        st = path.stat()
    except OSError:
        return True
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key in _REPORTED:
        return False
    _REPORTED.add(key)
    return True


def read_provenance(root: str | os.PathLike) -> dict:
    """The folder's provenance, dead "running" sessions shown as "killed".

    A file that does not parse is reported on stderr and read as {}, never a traceback.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder.

    Returns
    -------
    dict
        The record of ``root/provenance.json``; {} if there is none.
    """
    path = Path(root) / "provenance.json"
    prov, problem = _parse(path)
    if problem and _first_report(path):
        print(f"datavsmath: {path} is damaged ({problem}); ignored here, and the next "
              "`datavsmath run` moves it to quarantine/ and starts a new one", file=sys.stderr)
    return _mark_killed(prov)


@contextlib.contextmanager
def _locked(root: Path):
    """Exclusive lock on ``root/.provenance.lock`` for one read-modify-write."""
    from filelock import lock_descriptor

    from .files import file_mode
    from .lock import NO_KERNEL_LOCK

    fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        try:
            lock_descriptor(fd, blocking=True)
        except OSError as exc:  # a file system without locks: the rename still keeps it whole
            if exc.errno not in NO_KERNEL_LOCK:
                raise
        yield
    finally:
        os.close(fd)  # releases the lock


def update_provenance(root: str | os.PathLike, change) -> dict:
    """Change the folder's provenance under its lock and write it atomically.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder (created if missing).
    change : callable
        ``change(prov)`` edits the record dict in place. A damaged file is moved to
        quarantine first, and ``change`` gets {}.

    Returns
    -------
    dict
        The new record.
    """
    from .store import QUARANTINE, atomic_write

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "provenance.json"
    with _locked(root):
        prov, problem = _parse(path)
        if problem:  # kept for whoever wants to look, out of the way of the new record
            dest = root / QUARANTINE / f"provenance.{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
            print(f"datavsmath: {path} was damaged ({problem}); moved to {dest}, starting a new one",
                  file=sys.stderr)
        prov = _mark_killed(prov)
        change(prov)
        text = json.dumps(prov, indent=2, sort_keys=True) + "\n"
        atomic_write(path, lambda fh: fh.write(text))
    return prov


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _total_wall(sessions: list) -> float:
    # a killed session's wall time is unknown: the total counts the sessions that ended
    return round(sum(s["wall_seconds"] for s in sessions
                     if isinstance(s, dict) and isinstance(s.get("wall_seconds"), (int, float))), 1)


def start_session(root: str | os.PathLike, *, profile: str, experiments: dict,
                  started_at: str | None = None, spec: str | None = None) -> str:
    """Record a session of this process as "running" before any work.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder.
    profile : str
        The folder's profile ("full", "quick", ...).
    experiments : dict
        Experiment name -> its plan (``{"n_fits": ..., ...}``), merged into the record's.
    started_at : str, optional
        ISO time of the start; default now.
    spec : str, optional
        The spec file of a ``run --spec`` (absolute), which ``status`` and later runs of the
        folder then read.

    Returns
    -------
    str
        The session's id, for :func:`finish_session`.
    """
    session_id, hw = uuid.uuid4().hex[:12], hardware()
    session = {
        "id": session_id, "command": " ".join(["datavsmath"] + sys.argv[1:]),
        "started_at": started_at or _now(), "finished_at": None, "wall_seconds": None,
        "fits_done": None, "status": "running", "pid": os.getpid(), "git_commit": git_commit(), **hw,
    }

    def change(prov):
        prov.setdefault("sessions", []).append(session)
        prov.update({"profile": profile, "experiments": {**prov.get("experiments", {}), **experiments},
                     "complete": False, "hardware": hw})
        if spec:
            prov["spec"] = spec

    update_provenance(root, change)
    return session_id


def finish_session(root: str | os.PathLike, session_id: str, *, experiments: dict, wall_seconds: float,
                   fits_done: int, status: str, versions: dict, complete: bool) -> dict:
    """Close a session: its end, wall time, fits done and status, and the
    folder's plan, versions and completeness.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder.
    session_id : str
        What :func:`start_session` returned.
    experiments : dict
        Experiment name -> {"n_fits": planned fits, "stored": fits now stored, ...}.
    wall_seconds : float
        Wall time of the session, in seconds.
    fits_done : int
        Fits this session stored.
    status : str
        "finished" or "interrupted".
    versions : dict
        Library name -> version.
    complete : bool
        Every planned fit of every experiment is stored.

    Returns
    -------
    dict
        The folder's whole record.
    """
    def change(prov):
        sessions = prov.setdefault("sessions", [])
        mine = next((s for s in sessions if isinstance(s, dict) and s.get("id") == session_id), None)
        if mine is None:  # the record was damaged and replaced meanwhile: add this session again
            mine = {"id": session_id, "command": " ".join(["datavsmath"] + sys.argv[1:]),
                    "pid": os.getpid(), "git_commit": git_commit(), **hardware()}
            sessions.append(mine)
        mine.update({"finished_at": _now(), "wall_seconds": round(wall_seconds, 1),
                     "fits_done": fits_done, "status": status})
        prov.update({"experiments": {**prov.get("experiments", {}), **experiments},
                     "complete": complete, "versions": versions,
                     "wall_seconds": _total_wall(sessions)})

    return update_provenance(root, change)


def record_session(root: str | os.PathLike, *, profile: str, experiments: dict, started_at: str,
                   wall_seconds: float, fits_done: int, status: str, versions: dict, complete: bool) -> dict:
    """Record a whole session at once (:func:`start_session` then :func:`finish_session`).

    Parameters
    ----------
    root : str or os.PathLike
        The results folder.
    profile, experiments, started_at
        As :func:`start_session`.
    wall_seconds, fits_done, status, versions, complete
        As :func:`finish_session`.

    Returns
    -------
    dict
        The folder's whole record.
    """
    session_id = start_session(root, profile=profile, experiments=experiments, started_at=started_at)
    return finish_session(root, session_id, experiments=experiments, wall_seconds=wall_seconds,
                          fits_done=fits_done, status=status, versions=versions, complete=complete)
