"""The interrupt section: how long ``datavsmath run`` takes to stop on Ctrl-C while a forest
fit runs on a tree thread beside the networks (the moment the test suite interrupts at,
tests/test_tree_threads.py). The suite checks that the stop is clean (status 130, nothing
lost); the time it takes depends on the machine's load, so it is measured here, against a
target of 30 s, rather than asserted in a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sections.common import log, median

#: the stop should take well under this on any machine (the suite once asserted it)
TARGET_SECONDS = 30.0
#: the grid interrupted: five sizes, the forest on background threads beside fused DNN groups
SPEC = 'models = ["rf", "dnn"]\nfrac_sample = [0.005, 0.01, 0.02, 0.04, 0.08]\n'
#: the event the signal follows: the largest forest fit (the first tree unit) begins
MOMENT = "datavsmath-event: fit-start rf s=0.08"


def _one_stop(folder: Path) -> dict:
    """Start the run, SIGINT it as the moment is announced; seconds until it ended, status."""
    from datavsmath.training.checkpoints import EVENTS

    spec = folder / "sizes.toml"
    spec.write_text(SPEC)
    args = [sys.executable, "-m", "datavsmath.cli", "run", str(folder / "res"), "--spec", str(spec),
            "--no-progress", "--tree-threads", "2"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, EVENTS: "1"})
    for line in proc.stderr:
        if line.startswith(MOMENT):
            break
    else:
        proc.wait()
        return {"seconds": None, "status": proc.returncode, "note": "ended before the moment"}
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=600)[1]
    return {"seconds": round(time.perf_counter() - t0, 2), "status": proc.returncode,
            "aborted": "terminate called" in err}


def interrupt_section(repeats: int) -> dict:
    """``repeats`` stops, each in a fresh folder: their seconds, median and maximum."""
    runs = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory(prefix="datavsmath-bench-") as folder:
            runs.append(_one_stop(Path(folder)))
        log(f"  stop {i + 1}/{repeats}: {runs[-1]}")
    seconds = [r["seconds"] for r in runs if r["seconds"] is not None]
    out = {"runs": runs, "target_seconds": TARGET_SECONDS,
           "median_seconds": median(seconds) if seconds else None, "max_seconds": max(seconds, default=None)}
    out["within_target"] = bool(seconds) and out["max_seconds"] < TARGET_SECONDS
    log(f"  Ctrl-C to exit: median {out['median_seconds']} s, max {out['max_seconds']} s "
        f"(target < {TARGET_SECONDS:g} s)")
    return out
