"""Named moments of a run that another process can wait for, instead of guessing with a sleep.

Off unless asked for in the environment (tests and supervisors of ``datavsmath run`` use it):

``DATAVSMATH_EVENTS=1``
    print one line to stderr at each moment, flushed at once:
    ``datavsmath-event: fit-start <model> <cells>``  a fit (or fused group) begins, on whatever
    thread runs it; ``datavsmath-event: stored <n>``  this process has stored n fits so far.
``DATAVSMATH_HOLD_AFTER_STORED=N``
    after its N-th stored fit the run prints ``datavsmath-event: held`` and waits there (on
    the thread that stores, with everything stored so far on disk) until a signal ends it. A
    kill, Ctrl-C or SIGTERM then lands at a known point of the grid, never racing the fits that
    would follow.
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["EVENTS", "HOLD_AFTER_STORED", "event", "fit_started", "fits_stored"]

EVENTS = "DATAVSMATH_EVENTS"
HOLD_AFTER_STORED = "DATAVSMATH_HOLD_AFTER_STORED"

_stored = 0
_lock = threading.Lock()


def event(text: str) -> None:
    """Print ``datavsmath-event: <text>`` to stderr when ``DATAVSMATH_EVENTS`` is set.

    Parameters
    ----------
    text : str
        The event, e.g. ``"stored 12"``.
    """
    if os.environ.get(EVENTS):
        print(f"datavsmath-event: {text}", file=sys.stderr, flush=True)


def fit_started(what: str) -> None:
    """Announce a fit about to begin (an event line, see :func:`event`).

    Parameters
    ----------
    what : str
        Its model and cell(s), e.g. "rf s=0.1 d=0" (:meth:`datavsmath.training.units.Unit.describe`).
    """
    event(f"fit-start {what}")


def _hold_after() -> int | None:
    value = os.environ.get(HOLD_AFTER_STORED, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{HOLD_AFTER_STORED} must be a count of at least 1, got {value!r}")
    return int(value)


def fits_stored(n: int) -> None:
    """Count fits stored by this process; hold here once the count reaches
    ``DATAVSMATH_HOLD_AFTER_STORED`` (see the module docstring).

    Parameters
    ----------
    n : int
        Fits stored since the last call.
    """
    global _stored
    with _lock:
        before, _stored = _stored, _stored + n
        total = _stored
    event(f"stored {total}")
    limit = _hold_after()
    if limit is not None and before < limit <= total:
        event("held")
        while True:  # a sleep, not a lock: Ctrl-C and SIGTERM interrupt it on the main thread
            time.sleep(3600)
