"""Files written safely: atomically (a temporary file in the same folder, flushed and renamed
into place), with the permissions ``open()`` would give, and their leftovers cleaned.

A temporary file's name carries the writer's host and pid, so that the leftover of a writer
that died can be told from the file of one still writing (:func:`clean_stale_temps`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import tempfile
from pathlib import Path

__all__ = ["MIN_FREE_BYTES", "atomic_write", "clean_stale_temps", "estimate_bytes", "file_mode", "pid_alive",
           "temp_prefix"]

#: below this much free space a run warns (other programs fill the same disk)
MIN_FREE_BYTES = 100 * 2**20


@functools.cache
def file_mode() -> int:
    """The permission bits ``open()`` gives a new file under this process's umask: 0o644 under
    the usual 0o022 (``mkstemp`` gives 0o600, which hides results from the group and other users
    for no reason). Read when the first file is written, not at import.

    Returns
    -------
    int
        ``0o666`` less the umask's bits.
    """
    try:  # Linux states the umask; reading it there changes nothing
        status = Path("/proc/self/status").read_text()
        mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration, ValueError, IndexError):
        mask = os.umask(0o022)  # elsewhere it is read by setting it, and restored at once
        os.umask(mask)
    return 0o666 & ~mask


def estimate_bytes(n_fits: int) -> int:
    """Rough disk space a folder of fits needs: a file-system block per cell, about
    2 KiB a fit for the tables (twice, while they are replaced), 1 MiB for the rest.

    Parameters
    ----------
    n_fits : int
        Fits the folder will hold.

    Returns
    -------
    int
        Bytes.
    """
    return n_fits * (4096 + 2 * 2048) + 2**20


def temp_prefix() -> str:
    """Prefix of this process's temporary files: with host and pid in the name, a dead
    writer's leftover can be told from a live writer's file (:func:`clean_stale_temps`)."""
    return f".tmp-{socket.gethostname()}-{os.getpid()}-"


def atomic_write(path: str | os.PathLike, write, *, binary: bool = False) -> None:
    """Write a file through a temporary file in the same folder, then rename it into place:
    readers see the old file or the new one, never a part of one.

    On any error (a full disk, an interrupt) the temporary file is removed and the error
    raised; ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    write : callable
        ``write(fh)`` writes the content to the open file ``fh``.
    binary : bool, default False
        Open the temporary file in binary mode (else text).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(), suffix=".part")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process exists on this machine (one we may not signal counts too).

    Parameters
    ----------
    pid : int
        The process id; 0 and negative ids (process groups) are never alive.

    Returns
    -------
    bool
    """
    if pid <= 0:  # kill(0 or -n, 0) asks about process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) from a temporary file's name, or None for a name of another form."""
    if not (name.startswith(".tmp-") and name.endswith(".part")):
        return None
    parts = name[len(".tmp-"):].rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def clean_stale_temps(root: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of writers that died on this machine.

    Only files whose name carries this host and a pid that no longer runs: a file of another
    host, or of the older nameless form, may belong to a live writer and is left alone.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder: its top, ``r-shaped/`` and each ``cells/<experiment>/`` are searched.

    Returns
    -------
    list of pathlib.Path
        The files removed.
    """
    root, host = Path(root), socket.gethostname()
    removed = []
    folders = [root, root / "r-shaped"] + sorted(p for p in (root / "cells").glob("*") if p.is_dir())
    for folder in folders:
        for f in folder.glob(".tmp-*.part"):
            owner = _temp_owner(f.name)
            if owner and owner[0] == host and not pid_alive(owner[1]):
                with contextlib.suppress(OSError):
                    f.unlink()
                    removed.append(f)
    return removed
