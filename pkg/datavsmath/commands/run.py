"""Run experiments into a results folder; resumable, one stored file per finished fit.

Interrupt at any time (Ctrl-C, SIGTERM, a kill, a lost machine) and rerun the same command:
finished fits are kept and skipped, the fit in flight is redone. A fit stored under an older
recipe of its model (e.g. networks trained before they followed keras 2.2's RMSprop and loss)
is retrained and replaced, and the plan says how many. At the end the tidy
results.csv and the R-shaped CSVs are (re)written. A damaged cell file is moved to
quarantine/ and refitted; with nothing left to do, the folder is not touched.

Before loading data the folder is checked writable, with room for the run, and locked
(.run.lock): a second run on the same folder is refused; a lock of a run that died is taken
over, one naming another machine needs --force-unlock. A grid of more than 10,000 fits or an
expected 500 CPU-hours is stated first and asks before it starts (--yes answers for it; a run
without a terminal stops with exit status 2). Exit codes: 0 done, 2 a bad option, a large grid
without --yes, or an unwritable or full folder (one message), 130 Ctrl-C, 143 SIGTERM.

profiles (fits; the plan's estimate for one replicate on a 2-core CPU, from per-model fit times):
  full   the R testbench's grids: R's four experiments (`run r`) 504 fits, about 52 CPU-hours
         (a GPU job); all eight 1083 fits, about 101 CPU-hours
  quick  a documented preview of all eight experiments and four models: 221 fits, about 80 min
         (R's four 92 fits; measured 19.3 min, bench/results)
  smoke  tiny, for tests: 36 fits, about 3 min

A plain `datavsmath run` runs every experiment at the quick profile into results/quick; it
first says so, with the number of fits and the expected time (every run prints this plan).

examples:
  datavsmath run --profile quick
  datavsmath run r --profile full                          # R's four grids (make reproduce)
  datavsmath run --profile smoke --out /tmp/try             # a one-minute try
  datavsmath run --spec my-grid.toml                       # a spec of your own -> results/my-grid
  datavsmath run size random_damage --profile full --models rf,xgb
  datavsmath run --profile full --replicates 3 --out results/full-3rep
  datavsmath run --profile full --backend naive          # one model.fit per cell, as in R
  datavsmath run --profile full --cluster local --workers 2
  datavsmath run --profile full --scheduler tcp://head:8786
  datavsmath run noise_models --profile quick             # damage rules side by side
  datavsmath run random_damage --damage matrix:my.csv      # a transition matrix of your own
  datavsmath run size --dataset mnist --out results/mnist      # digit MNIST (data --install first)
  datavsmath run size --dataset digits --out /tmp/digits        # scikit-learn's 8x8 digits
  datavsmath run size --dataset my-data.csv --label-column digit --out /tmp/mine

datasets (--dataset): fashion (default), mnist, digits, or a folder of IDX files, an .npz
(x_train, y_train, x_test, y_test) or a .csv of one's own (`datavsmath data --help`). Sample
fractions are of the dataset's own training rows; every cell needs at least 10 of them.

backends (--backend): auto (default) trains the keras networks of cells of similar size as
copies of one fused program, each copy on its own rows, where that is faster (always on a GPU;
on a CPU as bench/results measured), naive trains one model per cell, fused forces fusion. With
--scheduler or --cluster the grid runs as Dask tasks; results are stored here as they come.
Without them, auto and fused on a GPU machine fit the trees (forest, xgboost) on background
threads while the networks train (--tree-threads; on a CPU they take turns, which the
benchmark measured faster on 2 cores).
Keras runs on TensorFlow; KERAS_BACKEND=jax runs it on JAX instead (recorded with every fit;
on a CPU the CNN is about 4x slower there).
"""

import argparse
import os
import sys

from .data import add_data_arguments


def add_experiment_arguments(p, default_profile="quick"):
    """Options naming experiments, profile and results folder (shared with status/export)."""
    p.add_argument("experiments", nargs="*", default=["all"], metavar="EXPERIMENT",
                   help="size, random_damage, constant_damage, size_x_damage, pruning, noise_models; "
                        "r (R's four: size to size_x_damage); or all (default)")
    p.add_argument("--spec", metavar="FILE",
                   help="a spec file of your own instead of EXPERIMENT (the keys of reproduce/*.toml; "
                        "validated before anything runs); default profile full, i.e. its grid as written, "
                        "default folder results/<file name>")
    p.add_argument("--profile", default=None, choices=["full", "quick", "smoke"],
                   help=f"grid profile (default: the folder's, else {default_profile})")
    p.add_argument("--out", default=None,
                   help="results folder, read and written (default: results/<profile>)")


def _csv_list(text):
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one name, e.g. rf,cnn")
    return items


def _damage_option(text):
    from ..noise import parse_damage_option

    try:
        return parse_damage_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(p):
    add_experiment_arguments(p)
    p.add_argument("--models", type=_csv_list, help="comma-separated subset of the models, e.g. rf,cnn")
    p.add_argument("--replicates", type=int, help="independent seeds per cell (default 1)")
    p.add_argument("--damage", type=_damage_option, metavar="RULE[:FILE]",
                   help="replace the damage rule of the experiments that damage labels: random, symmetric, "
                        "constant, pair, confusion[:FILE] (confusion counts; default the shipped Fashion-MNIST "
                        "matrix), matrix:FILE (a K x K transition matrix: K lines of K comma-separated "
                        "non-negative numbers, zero diagonal, rows scaled to sum to 1) or instance; the "
                        "experiment is stored as <name>-<rule> (e.g. random_damage-matrix-myfile)")
    add_data_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    p.add_argument("--backend", default="auto", choices=["auto", "naive", "fused"],
                   help="how the networks train: auto (default), naive (one fit per cell) or fused")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the grid on the Dask cluster at ADDRESS, e.g. tcp://head:8786")
    where.add_argument("--cluster", choices=["local"],
                       help="start a Dask cluster of worker processes on this machine")
    p.add_argument("--workers", type=int, default=None,
                   help="with --cluster local: worker processes (default: one per GPU, else 1)")
    p.add_argument("--tree-threads", type=int, default=None, metavar="N",
                   help="background threads fitting the trees while the networks train (default: 2 "
                        "on a GPU, 0 on a CPU; 0: one fit at a time; not with --backend naive)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (fits to run and stored, expected time, the folder) and exit "
                        "without training or writing anything")
    p.add_argument("--yes", action="store_true",
                   help=f"run a grid above {MAX_FITS:,} fits or {MAX_CPU_HOURS} expected CPU-hours without "
                        "asking (without it such a run asks at a terminal, and stops with exit status 2 "
                        "elsewhere)")
    p.add_argument("--other-profile", action="store_true",
                   help="run into a results folder that holds another profile's run (its fits of the "
                        "same cells are kept and the folder is relabelled); refused without it")
    p.add_argument("--force-unlock", action="store_true",
                   help="take over the results folder's lock (.run.lock) even if it names a run "
                        "that may still be running elsewhere; only when you know it is not")


def resolve(args, broken: list | None = None):
    """(profile, results folder, experiments) from the shared options; validates everything
    before any work starts. With a list as ``broken``, a spec that fails to load is appended
    to it as (name, message) and left out, so that one broken file does not hide the others
    (status, export); without one, it is an error."""
    from pathlib import Path

    from ..errors import UserError
    from ..experiments import experiment_names, load_experiment, load_spec, spec_dir
    from ..training.provenance import read_provenance

    profile = args.profile
    recorded = read_provenance(args.out) if args.out else {}
    if profile is None:
        profile = recorded.get("profile")
    spec = getattr(args, "spec", None)
    if not spec and args.experiments in (["all"], []) and recorded.get("spec"):
        # a folder written by `run --spec`: its grid is the spec's, not the built-in ones
        if not Path(recorded["spec"]).is_file():
            raise UserError(f"{args.out} was written by `run --spec {recorded['spec']}`, which is gone; "
                            "pass the spec again with --spec FILE")
        spec = recorded["spec"]
    if spec:
        if args.experiments not in (["all"], []):
            raise UserError(f"give experiment names or --spec, not both (got {' '.join(args.experiments)} "
                            f"and --spec {spec})")
        profile = profile or "full"  # a spec of one's own runs as written unless told otherwise
        out = Path(args.out) if args.out else Path.cwd() / "results" / Path(spec).stem
        return profile, out, [load_spec(spec, profile)]
    profile = profile or "quick"
    out = Path(args.out) if args.out else Path.cwd() / "results" / profile
    known = experiment_names()
    if not known:
        raise UserError(f"no experiment specs (*.toml) in {spec_dir()}; is this a complete checkout?")
    names = expand_groups(args.experiments, known)
    bad = [n for n in names if n not in known]
    if bad:
        raise UserError(f"unknown experiment {', '.join(bad)}; choose from {', '.join(known)}, r or all")
    exps = []
    for name in names:
        try:
            exps.append(load_experiment(name, profile))
        except UserError as exc:
            if broken is None:
                raise
            broken.append((name, str(exc)))
    return profile, out, exps


def expand_groups(names: list[str], known: list[str]) -> list[str]:
    """Experiment names with the groups spelled out, in order, each once: ``all`` (or none
    given) is every spec in ``known``; ``r`` the R testbench's four (``R_EXPERIMENTS``)."""
    from ..experiments import R_EXPERIMENTS

    groups = {"all": list(known), "r": [e for e in R_EXPERIMENTS if e in known]}
    out: list[str] = []
    for name in names or ["all"]:
        for n in groups.get(name, [name]):
            if n not in out:
                out.append(n)
    return out


def _is_bare(args) -> bool:
    """True for a plain `datavsmath run`: the user chose no experiment, profile, spec or folder."""
    return (args.experiments in (["all"], []) and args.profile is None and not args.spec
            and args.out is None)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds / 60))} min" if seconds >= 30 else "under a minute"
    if seconds < 2 * 3600:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.0f} hours"


def _plan_text(profile, out, exps, store, bare: bool) -> str:
    """What a run is about to do: profile, fits stored and to run, results folder and the
    expected time. The estimate sums each fit's expected CPU seconds on 2 cores
    (runner.fit_weight, the per-model times measured for the user guide's "How long it takes";
    naive per-fit times: about 40 min for the R four at quick, where the optimised run measured
    19, and ~50 hours for full)."""
    from ..training.units import describe_outdated, outdated_fits, pending_summary

    n_todo, seconds = 0, 0.0
    for e in exps:  # counted cell by cell: the plan never holds the grid
        n, s = pending_summary(e, store)
        n_todo, seconds = n_todo + n, seconds + s
    old: dict[str, int] = {}
    for e in exps:
        for m, n in outdated_fits(e, store).items():
            old[m] = old.get(m, 0) + n
    retrain = (f"; {describe_outdated(old)}: retrained and replaced, so that the folder holds one "
               "recipe per model" if old else "")
    n_all = sum(e.n_fits for e in exps)
    names = ", ".join(e.name for e in exps)
    when = (f"{_duration(seconds)} on a 2-core CPU without a GPU (user guide: How long it takes)"
            if n_todo else "nothing to train, every fit is stored")
    if not bare:
        return (f"plan: profile {profile}, {n_todo} of {n_all} fits to run ({names}), {when}{retrain}\n"
                f"results folder: {out}")
    return "\n".join([
        "datavsmath run: no experiment, --profile or --out given, so this runs the defaults:",
        f"  profile:        {profile}" + ("" if profile != "quick" else
                                          " (a preview, not the R grids; --profile full for those, "
                                          "--profile smoke for a one-minute try)"),
        f"  fits:           {n_todo} to run, {n_all - n_todo} of {n_all} already stored ({names}){retrain}",
        f"  results folder: {out}",
        f"  expected time:  {when}",
        "  Ctrl-C stops it at any time; the same command resumes.",
    ])


#: a run of a larger grid asks first (``--yes`` answers for it): more fits than this ...
MAX_FITS = 10_000
#: ... or more expected CPU-hours on 2 cores than this (the full grids of all eight
#: experiments take about 101, four replicates of them about 404)
MAX_CPU_HOURS = 500


def check_folder_profile(out, profile: str, *, other: bool) -> None:
    """A run at ``profile`` into a folder whose provenance records another profile would keep
    that profile's fits of the same cells and relabel the folder: UserError unless ``other``."""
    from ..errors import UserError
    from ..training.provenance import read_provenance

    recorded = read_provenance(out).get("profile")
    if recorded and recorded != profile and not other:
        raise UserError(f"{out} holds a {recorded} run (provenance.json); a {profile} run there would reuse "
                        f"its fits of the same cells and relabel the folder {profile}. Choose another folder "
                        "with --out, or pass --other-profile to do it anyway")


def check_grid_size(exps, *, yes: bool, ask=None) -> None:
    """Before anything that grows with the grid: a grid of more than ``MAX_FITS`` fits or an
    expected ``MAX_CPU_HOURS`` (whole grid, stored fits included: counted and weighed without
    building it) is stated and needs ``--yes``; at a terminal the user is asked instead, in
    a non-interactive run it is a UserError naming the flag (exit status 2), nothing started.

    ask : the question, answered True or False (default: input() at a terminal, else None)
    """
    from ..errors import UserError
    from ..training.runner import PLAN_FITS
    from ..training.units import grid_seconds

    n_fits = sum(e.n_fits for e in exps)
    seconds = sum(grid_seconds(e) for e in exps)
    if n_fits <= MAX_FITS and seconds <= MAX_CPU_HOURS * 3600:
        return
    names = ", ".join(e.name for e in exps)
    grid = (f"this grid has {n_fits:,} fits ({names}), {_duration(seconds)} on a 2-core CPU, above the "
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


def preflight(out, n_fits: int) -> None:
    """Check that ``out`` can take this run's files before any data is loaded or model
    trained, so that a read-only or full folder fails in a second, not after the first fit.

    A probe file is written and removed: permission bits say nothing of a read-only mount or
    a full disk, and root passes them all. Free space is compared with a rough
    estimate (each cell takes a file-system block, the tables about 2 KiB a fit, written twice
    while they are replaced).
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
                        "another folder with --out, or make this one writable") from None
    free, need = shutil.disk_usage(out).free, estimate_bytes(n_fits)
    if free < need:
        raise UserError(f"{out} has {free / 2**20:.1f} MiB free; this run needs about "
                        f"{need / 2**20:.1f} MiB ({n_fits} fits); free some space or choose another "
                        "folder with --out")
    if free < MIN_FREE_BYTES:
        print(f"warning: only {free / 2**20:.0f} MiB free in {out}; the run needs about "
              f"{need / 2**20:.1f} MiB, but other programs share that disk", file=sys.stderr)


def run(args) -> int:
    from ..errors import UserError
    from ..training.lock import RunLock
    from ..training.store import ResultStore, clean_stale_temps
    from ..training.units import pending_summary

    profile, out, exps = resolve(args)
    if args.workers is not None and (args.cluster is None or args.workers < 1):
        raise UserError("--workers needs --cluster local and a count of at least 1")
    if args.tree_threads is not None and (args.tree_threads < 0 or args.scheduler or args.cluster):
        raise UserError("--tree-threads takes a count of 0 or more, for runs in this process "
                        "(a Dask cluster runs units side by side on its workers instead)")
    if args.tree_threads and args.backend == "naive":
        raise UserError(f"--tree-threads {args.tree_threads} runs the trees beside the networks, which "
                        "--backend naive (R's loop, one fit after another) never does; drop one of the two")
    models = args.models
    if models:
        every = {m for e in exps for m in e.models}
        unknown = [m for m in models if m not in every]
        if unknown:
            raise UserError(f"no selected experiment runs {', '.join(unknown)}; models here: {', '.join(sorted(every))}")
    dataset, n_total, loaded = resolve_dataset(args)
    exps = [e.with_options(models=[m for m in models if m in e.models] if models else None,
                           replicates=args.replicates, dataset=dataset, n_total=n_total) for e in exps]
    damage = getattr(args, "damage", None)
    if damage is not None:
        if args.experiments in (["all"], []) and not args.spec:
            # "all" with a rule means the experiments a rule applies to
            exps = [e for e in exps if any(d > 0 for d in e.frac_damage)]
        exps = [e.with_options(damage=damage) for e in exps]
    exps = [e for e in exps if e.models]
    if loaded is not None:
        check_fits_dataset(exps, loaded)
    check_grid_size(exps, yes=args.yes)
    check_folder_profile(out, profile, other=args.other_profile)
    store = ResultStore(out)
    # say what is about to happen before the (slow) data check and the first fit
    print(_plan_text(profile, out, exps, store, bare=_is_bare(args)), flush=True)
    if args.dry_run:
        return 0
    n_pending = sum(pending_summary(e, store)[0] for e in exps)
    if not n_pending:
        return _nothing_to_do(exps, store)
    preflight(out, sum(e.n_fits for e in exps))
    with RunLock(out, force=args.force_unlock):
        clean_stale_temps(out)
        return _run_locked(args, profile, out, exps, store, loaded)


def resolve_dataset(args):
    """(short name, training rows, Dataset or None) of ``--dataset``; (None, None, None) when
    it is not given. A dataset of one's own is loaded and checked here, before the plan: its
    row count sizes the cells, and a bad file should fail before anything is locked."""
    from ..data import dataset_name, load_dataset, train_rows

    spec = getattr(args, "dataset", None)
    if spec is None:
        return None, None, None
    name, rows = dataset_name(spec), train_rows(spec)
    if rows is not None:
        return name, rows, None
    ds = load_dataset(spec, label_column=getattr(args, "label_column", "label"))
    return name, len(ds.y_train), ds


def check_fits_dataset(exps, data) -> None:
    """Experiments that cannot run on ``data``: the CNN on feature rows, a constant damage
    shift that maps every one of its classes to itself."""
    from ..errors import UserError

    for e in exps:
        if "cnn" in e.models and len(data.input_shape) != 2:
            raise UserError(f"dataset {data.name} has feature rows of shape {data.input_shape}, not "
                            f"images; the CNN needs images (a CSV with a square number of pixel "
                            f"columns, or an .npz of (n, height, width)): leave it out with --models "
                            f"{','.join(m for m in e.models if m != 'cnn')}")
        if e.damage == "constant" and any(d > 0 for d in e.frac_damage) and e.damage_shift % data.n_classes == 0:
            raise UserError(f"experiment {e.name}: damage_shift {e.damage_shift} maps every class of "
                            f"dataset {data.name} ({data.n_classes} classes) to itself; use a spec of your "
                            f"own (--spec) with a shift from 1 to {data.n_classes - 1}")


def _nothing_to_do(exps, store) -> int:
    """Every fit is stored: change nothing (no session, no versions, no rewritten tables),
    unless the tables are missing."""
    for e in exps:
        print(f"{e.name}: all {e.n_fits} fits already stored in {store.root}")
    if store.records() and not (store.root / "results.csv").is_file():
        for path in store.export():
            print(f"wrote {path}")
    return 0


def _run_locked(args, profile, out, exps, store, loaded=None) -> int:
    """The run proper, with the folder's lock held: load the data, record the session as
    running, run, record how it ended, export."""
    import time
    from pathlib import Path

    from ..data import load_dataset
    from ..training.provenance import finish_session, read_provenance, start_session
    from ..training.runner import run_experiment
    from ..training.units import iter_pending, library_versions, r_grids_complete

    datasets = {loaded.name: loaded} if loaded is not None else {}
    for e in exps:  # load (and verify) data before the first fit, not after an hour
        if e.dataset not in datasets:
            # named datasets are 10-class images: what check_fits_dataset checks holds for them
            datasets[e.dataset] = load_dataset(e.dataset, args.data_dir, download=args.download)
    # fits this session stored, counted from the store so that an interrupted session (and the
    # tree threads' fits) are counted too, not only experiments that ran to the end; a fit
    # retrained under a newer recipe counts, though the number of cell files stays the same
    stored_before = _current_fits(exps, store)
    spec = getattr(args, "spec", None) or None
    if spec is None and args.experiments in (["all"], []):
        spec = read_provenance(out).get("spec")  # resolve() took the folder's spec
    spec = str(Path(spec).resolve()) if spec else None
    session = start_session(out, profile=profile, experiments=_plan(exps, store), spec=spec)
    t0, status = time.perf_counter(), "failed"
    cluster = client = None
    try:
        pending = any(next(iter_pending(e, store), None) for e in exps)
        if pending and args.scheduler:
            from ..training.cluster import connect

            client = connect(args.scheduler)
        elif pending and args.cluster == "local":
            from ..training.cluster import local_cluster

            cluster, client = local_cluster(args.workers)
        elif pending:
            from ..training.fused import configure_devices

            configure_devices()  # before the keras backend claims the GPU: xgboost shares it
        for e in exps:
            summary = run_experiment(e, store, datasets[e.dataset], progress=not args.no_progress,
                                     backend=args.backend, client=client, tree_threads=args.tree_threads)
            print(summary)
        status = "finished"
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (see datavsmath.cli)
        status = "interrupted"
        raise
    finally:
        if client is not None and status == "interrupted":
            from ..training.cluster import quiet_after_interrupt

            quiet_after_interrupt()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        try:
            planned = _plan(exps, store)
            finish_session(out, session, experiments=planned, wall_seconds=time.perf_counter() - t0,
                           fits_done=_current_fits(exps, store) - stored_before,
                           status=status, versions=library_versions(),
                           # a spec's folder is complete with the spec's grid; others with R's four
                           complete=(not any(next(iter_pending(e, store), None) for e in exps) if spec
                                     else r_grids_complete(store, profile, {e.dataset for e in exps})))
            if store.records():
                for path in store.export():
                    print(f"wrote {path}")
        except OSError as exc:
            if status == "finished":
                raise  # the CLI turns it into one clear message
            # the error that stopped the run is the one to report; this one only follows it
            where = f": {exc.filename}" if exc.filename else ""
            print(f"datavsmath: could not record the session's end or write the tables "
                  f"({exc.strerror or exc}{where}); the finished fits are stored", file=sys.stderr)
    return 0


def _current_fits(exps, store) -> int:
    """Fits of the grids stored under their model's current recipe."""
    from ..training.units import current_fits

    return sum(current_fits(e, store) for e in exps)


def _plan(exps, store) -> dict:
    from ..training.units import outdated_fits

    return {e.name: {"n_fits": e.n_fits, "stored": len(store.records(e.name)),
                     "outdated": outdated_fits(e, store),
                     "models": list(e.models), "replicates": e.replicates, "note": e.note}
            for e in exps}
