"""What ``datavsmath run`` checks before it starts, so that a run that cannot finish fails in
a second, nothing started: a grid too large to run without ``--yes``, a folder holding another
profile's run, a folder that cannot take the files, experiments a dataset of one's own cannot
run.
"""

import os
import sys


def duration(seconds: float) -> str:
    """A run's expected time as the plan and the grid check say it.

    Parameters
    ----------
    seconds : float
        Expected seconds on a 2-core CPU (the plan's estimate).

    Returns
    -------
    str
        "under a minute", "about N min" (below 2 hours) or "about N hours".
    """
    if seconds < 90:
        return f"about {max(1, round(seconds / 60))} min" if seconds >= 30 else "under a minute"
    if seconds < 2 * 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.0f} hours"


#: a run of a larger grid asks first (``--yes`` answers for it): more fits than this ...
MAX_FITS = 10_000
#: ... or more expected CPU-hours on 2 cores than this (the full grids of all nine
#: experiments take about 107, four replicates of them about 430)
MAX_CPU_HOURS = 500


def check_folder_profile(out, profile: str, *, other: bool) -> None:
    """A run at ``profile`` into a folder whose provenance records another profile would keep
    that profile's fits of the same cells and relabel the folder: refused unless ``other``.

    Parameters
    ----------
    out : Path
        The results folder.
    profile : str
        The profile of the run.
    other : bool
        ``--other-profile``: run there anyway.

    Raises
    ------
    UserError
        When the folder records another profile and ``other`` is False.
    """
    from ..errors import UserError
    from ..training.provenance import read_provenance

    recorded = read_provenance(out).get("profile")
    if recorded and recorded != profile and not other:
        raise UserError(f"{out} holds a {recorded} run (provenance.json); a {profile} run there would reuse "
                        f"its fits of the same cells and relabel the folder {profile}. Choose another folder "
                        "(an argument, e.g. results/mine), or pass --other-profile to do it anyway")


def check_grid_size(exps, *, yes: bool, ask=None) -> None:
    """Before anything that grows with the grid: a grid of more than ``MAX_FITS`` fits or an
    expected ``MAX_CPU_HOURS`` (whole grid, stored fits included: counted and weighed without
    building it) is stated and needs ``--yes``; at a terminal the user is asked instead, in
    a non-interactive run it is a UserError naming the flag (exit status 2), nothing started.

    Parameters
    ----------
    exps : list of Experiment
        The run's grids.
    yes : bool
        ``--yes``: run a large grid without asking.
    ask : callable, optional
        The question, answered True or False (default: input() at a terminal, else None).

    Raises
    ------
    UserError
        A large grid without ``yes``, not confirmed or with no one to ask.
    """
    from ..errors import UserError
    from ..training.plan import grid_seconds
    from ..training.runner import PLAN_FITS

    n_fits = sum(e.n_fits for e in exps)
    seconds = sum(grid_seconds(e) for e in exps)
    if n_fits <= MAX_FITS and seconds <= MAX_CPU_HOURS * 3600:
        return
    names = ", ".join(e.name for e in exps)
    grid = (f"this grid has {n_fits:,} fits ({names}), {duration(seconds)} on a 2-core CPU, above the "
            f"limits of a run without --yes ({MAX_FITS:,} fits, {MAX_CPU_HOURS} CPU-hours)")
    if yes:  # said before the fits are counted one by one, which takes a while on such a grid
        print(f"{grid}; --yes: running it, planned {PLAN_FITS:,} fits at a time", flush=True)
        return
    if ask is None and sys.stdin.isatty() and sys.stdout.isatty():
        ask = _ask_at_terminal
    if ask is None:
        raise UserError(f"{grid}; nothing was started. Rerun with --yes to run it, or make it smaller "
                        "(--replicates, --models, a smaller --profile)")
    if not ask(f"{grid}. Run it? [y/N] "):
        raise UserError("not confirmed; nothing was started (--yes runs it without asking)")


def _ask_at_terminal(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def preflight(out, n_fits: int, need: int | None = None) -> None:
    """Check that ``out`` can take this run's files before any data is loaded or model
    trained, so that a read-only or full folder fails in a second, not after the first fit.

    A probe file is written and removed: permission bits say nothing of a read-only mount or
    a full disk, and root passes them all. Free space is compared with a rough
    estimate (each cell takes a file-system block, the tables about 2 KiB a fit, written twice
    while they are replaced).

    Parameters
    ----------
    out : Path
        The results folder (made if absent).
    n_fits : int
        Fits of the run's grids, stored or not.
    need : int, optional
        Bytes the run needs (default: estimated from ``n_fits``; a plan's ``disk_bytes``).
    """
    import shutil
    import tempfile

    from ..errors import UserError
    from ..training.store import MIN_FREE_BYTES, estimate_bytes, temp_prefix

    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=temp_prefix(), suffix=".part")
        try:
            os.write(fd, b"datavsmath write probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise UserError(f"cannot write to the results folder {out} ({exc.strerror}); choose "
                        "another folder (an argument, e.g. results/mine), or make this one writable") from None
    free = shutil.disk_usage(out).free
    need = estimate_bytes(n_fits) if need is None else need
    if free < need:
        raise UserError(f"{out} has {free / 2**20:.1f} MiB free; this run needs about "
                        f"{need / 2**20:.1f} MiB ({n_fits} fits); free some space or choose another "
                        "results folder")
    if free < MIN_FREE_BYTES:
        print(f"warning: only {free / 2**20:.0f} MiB free in {out}; the run needs about "
              f"{need / 2**20:.1f} MiB, but other programs share that disk", file=sys.stderr)


def check_fits_dataset(exps, data) -> None:
    """Refuse experiments that cannot run on ``data``: the CNN on feature rows, a constant
    damage shift that maps every one of its classes to itself.

    Parameters
    ----------
    exps : list of Experiment
        The run's grids.
    data : Dataset
        A dataset of one's own, loaded (:func:`resolve_dataset`).

    Raises
    ------
    UserError
        Naming the experiment and what to leave out or change.
    """
    from ..errors import UserError
    from ..models import MODELS

    for e in exps:
        imaging = [m for m in e.models if MODELS[m].needs_images]
        if imaging and len(data.input_shape) != 2:
            rest = [m for m in e.models if m not in imaging]
            hint = f"leave them out with --models {','.join(rest)}" if rest else f"skip experiment {e.name}"
            what = "the CNN needs" if imaging == ["cnn"] else f"{', '.join(imaging)} need"
            raise UserError(f"dataset {data.name} has feature rows of shape {data.input_shape}, not "
                            f"images; {what} images (a CSV with a square number of pixel columns, or "
                            f"an .npz of (n, height, width)): {hint}")
        if e.damage == "constant" and any(d > 0 for d in e.frac_damage) and e.damage_shift % data.n_classes == 0:
            raise UserError(f"experiment {e.name}: damage_shift {e.damage_shift} maps every class of "
                            f"dataset {data.name} ({data.n_classes} classes) to itself; use a spec of your "
                            f"own (--spec) with a shift from 1 to {data.n_classes - 1}")
