"""``provenance.json`` of a results folder: what produced the numbers, where and when.

Each ``datavsmath run`` appends one session (command, times, fits done, hardware), so a grid
finished over several interrupted runs still accounts for all of its wall time.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["hardware", "read_provenance", "record_session"]


def _cpu_model() -> str:
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
    return {"host": socket.gethostname(), "cpu": _cpu_model(), "cores": os.cpu_count(),
            "memory_gib": round(mem, 1), "gpu": gpu_name()}


def git_commit() -> str | None:
    """The project's commit (with "+dirty" if files differ from it), or None.

    None when the package does not sit in its own git checkout (an installed wheel, a copied
    source tree): git would otherwise report whatever repository encloses the folder, a
    stranger's commit.
    """
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if Path(top).resolve() != root:
            return None
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if dirty else "")


def read_provenance(root: str | os.PathLike) -> dict:
    path = Path(root) / "provenance.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def record_session(root: str | os.PathLike, *, profile: str, experiments: dict, started_at: str,
                   wall_seconds: float, fits_done: int, status: str, versions: dict, complete: bool) -> dict:
    """Append this run to ``root/provenance.json`` (atomically) and return the whole record.

    experiments : name -> {"n_fits": planned fits, "stored": fits now stored}
    complete : every planned fit of every experiment is stored
    """
    root = Path(root)
    prov = read_provenance(root)
    sessions = prov.get("sessions", [])
    sessions.append({
        "command": " ".join(["datavsmath"] + sys.argv[1:]), "started_at": started_at,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(wall_seconds, 1), "fits_done": fits_done, "status": status,
        "git_commit": git_commit(),
        **hardware(),
    })
    prov.update({
        "profile": profile, "experiments": {**prov.get("experiments", {}), **experiments},
        "complete": complete, "versions": versions, "sessions": sessions,
        "wall_seconds": round(sum(s["wall_seconds"] for s in sessions), 1),
        "hardware": hardware(),
    })
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / ".provenance.json.tmp"
    tmp.write_text(json.dumps(prov, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, root / "provenance.json")
    return prov
