"""One writer per results folder: ``run`` holds ``<folder>/.run.lock`` while it works.

The lock file holds the writer's pid, host, start time and command, and the writer holds an
exclusive kernel lock on it (``flock``, through ``filelock.lock_descriptor``). The kernel drops the ``flock`` when its process dies (a kill -9, a
lost session), so a lock left behind is recognised as stale and taken over. Where the kernel
lock does not reach (a folder shared by several machines), the file's pid and host decide: a
dead pid on this machine is stale; a lock of another machine is respected unless the user
says it is gone (``--force-unlock``).

The file is emptied, not deleted, on release: deleting a locked file lets two later writers
lock two different files of the same name.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UserError

__all__ = ["LOCK_NAME", "NO_KERNEL_LOCK", "RunLock"]

LOCK_NAME = ".run.lock"
#: what a file system without kernel locks answers (an NFS mount without lockd, some FUSE ones)
NO_KERNEL_LOCK = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS})


class RunLock:
    """The results folder's writer lock; use as a context manager.

    Parameters
    ----------
    root : str or os.PathLike
        The results folder; the lock file is ``root/.run.lock``.
    force : bool, default False
        Take the lock even if its file names a writer on another machine (never from a
        process that still holds it on this one): ``--force-unlock``.
    log : callable, optional
        Where a taken-over stale lock is reported (default: stderr).
    """

    def __init__(self, root: str | os.PathLike, *, force: bool = False, log=None):
        self.path = Path(root) / LOCK_NAME
        self.force = force
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise :class:`UserError` saying who holds it and what to do."""
        from .files import file_mode, pid_alive

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            kernel = self._flock(fd)
            holder = _read(fd)
            # a held kernel lock with an empty file: its holder has not written its name yet
            if kernel is False or (holder and not self._stale(holder, kernel, pid_alive)):
                raise UserError(self._busy(holder, kernel))
            if holder:
                self.log(f"datavsmath: taking over the lock of pid {holder.get('pid')} on "
                         f"{holder.get('host')} ({self.path}): {self._why_stale(holder, kernel)}")
            _write(fd, {"pid": os.getpid(), "host": socket.gethostname(),
                        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "command": " ".join(["datavsmath"] + sys.argv[1:])})
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Empty the lock file (a free lock) and drop the kernel lock."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:  # a full disk cannot refuse a truncate, but a vanished mount can
            pass
        finally:
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def _flock(fd: int) -> bool | None:
        """True: we hold the kernel lock; False: a live process holds it; None: the file system
        has none (the holder recorded in the file decides then)."""
        from filelock import lock_descriptor

        try:
            return lock_descriptor(fd, blocking=False)
        except OSError as exc:
            if exc.errno in NO_KERNEL_LOCK:
                return None
            raise

    def _stale(self, holder: dict, kernel: bool | None, pid_alive) -> bool:
        if kernel is False:  # a live process holds it: never taken, --force-unlock or not
            return False
        host, pid = holder.get("host"), holder.get("pid")
        if host == socket.gethostname():
            # with the kernel lock ours, its holder is dead even if its pid was reused since
            return kernel is True or self.force or not (isinstance(pid, int) and pid_alive(pid))
        if host is None:  # an unreadable file: only the kernel lock or the user can tell
            return kernel is True or self.force
        return self.force  # another machine's writer: only its user knows it is gone

    def _why_stale(self, holder: dict, kernel: bool | None) -> str:
        here = holder.get("host") in (socket.gethostname(), None)
        return "that process is gone" if here and (kernel or not self.force) else "--force-unlock"

    def _busy(self, holder: dict, kernel: bool | None) -> str:
        who = (f"pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('started_at')}: "
               f"{holder.get('command')}" if holder else "a run that is just starting")
        if kernel is False:
            return (f"{self.path.parent} is being written by another run ({who}); wait for it to "
                    f"finish or stop that process, then rerun")
        return (f"{self.path.parent} is locked by a run that may still be running ({who}); if it "
                f"is no longer running, rerun with --force-unlock (or empty {self.path})")


def _read(fd: int) -> dict:
    """The holder recorded in the lock file; {} for a free (empty) or unreadable one."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = b""
    while chunk := os.read(fd, 65536):
        raw += chunk
    try:
        holder = json.loads(raw.decode()) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {"pid": None, "host": None, "command": "(unreadable lock file)"}
    return holder if isinstance(holder, dict) else {}


def _write(fd: int, holder: dict) -> None:
    data = (json.dumps(holder, sort_keys=True) + "\n").encode()
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)
