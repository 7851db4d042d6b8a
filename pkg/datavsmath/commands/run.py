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
         (a GPU job); all nine 1139 fits, about 107 CPU-hours
  quick  a documented preview of all nine experiments and eight models: 231 fits, about 90 min
         (R's four 92 fits; measured 19.3 min, bench/results)
  smoke  tiny, for tests: 38 fits, about 4 min

A plain `datavsmath run` runs every experiment at the quick profile into results/quick; it
first says so, with the number of fits and the expected time (every run prints this plan).

The results folder is an argument, as in every command: an argument naming an experiment or a
group (all, r) is one; any other is the folder, at most one, given as a path (results/mine,
./mine, /tmp/try) or an existing folder. Default: results/<profile>. (--out DIR still works,
with a note: it is deprecated.)

examples:
  datavsmath run --profile quick
  datavsmath run r --profile full                          # R's four grids (make reproduce)
  datavsmath run --profile smoke /tmp/try                   # a one-minute try
  datavsmath run --spec my-grid.toml                       # a spec of your own -> results/my-grid
  datavsmath run size random_damage --profile full --models rf,xgb
  datavsmath run results/full-3rep --profile full --replicates 3
  datavsmath run --profile full --backend naive          # one model.fit per cell, as in R
  datavsmath run --profile full --cluster local --workers 2
  datavsmath run --profile full --scheduler tcp://head:8786
  datavsmath run noise_models --profile quick             # damage rules side by side
  datavsmath run random_damage --damage matrix:my.csv      # a transition matrix of your own
  datavsmath run size results/mnist --dataset mnist   # digit MNIST (data --install first)
  datavsmath run size /tmp/digits --dataset digits    # scikit-learn's 8x8 digits
  datavsmath run size /tmp/mine --dataset my-data.csv --label-column digit

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
import sys

from . import add_out_alias
from .data import add_data_arguments
from .run_checks import (
    MAX_CPU_HOURS,
    MAX_FITS,
    check_fits_dataset,
    check_folder_profile,
    check_grid_size,
    duration,
    preflight,
)


def add_experiment_arguments(p, default_profile="quick"):
    """Options naming experiments, profile and results folder (shared with status/export).

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    default_profile : str
        The profile its help names for a folder that records none.
    """
    p.add_argument("experiments", nargs="*", default=["all"], metavar="EXPERIMENT|RESULTS",
                   help="size, random_damage, constant_damage, size_x_damage, pruning, noise_models, augmentation; "
                        "r (R's four: size to size_x_damage); or all (default). An argument that is "
                        "no experiment is the results folder (at most one): a path such as "
                        "results/quick or ./mine, or a folder that exists (default: results/<profile>)")
    p.add_argument("--spec", metavar="FILE",
                   help="a spec file of your own instead of EXPERIMENT (the keys of reproduce/*.toml; "
                        "validated before anything runs); default profile full, i.e. its grid as written, "
                        "default folder results/<file name>")
    p.add_argument("--profile", default=None, choices=["full", "quick", "smoke"],
                   help=f"grid profile (default: the folder's, else {default_profile})")
    add_out_alias(p, "experiments")


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


def _damage_help() -> str:
    """``--damage``'s help, from the registered noise rules."""
    from ..noise import NOISE_RULES

    def shown(rule):
        if not rule.matrix_file:
            return rule.name
        return f"{rule.name}{':FILE' if rule.needs_file else '[:FILE]'} (FILE: {rule.matrix_file})"

    return ("replace the damage rule of the experiments that damage labels: "
            + ", ".join(shown(r) for r in NOISE_RULES.values())
            + "; a FILE holds K lines of K comma-separated non-negative numbers (a transition matrix's "
            "rows are scaled to sum to 1), and confusion without one uses the shipped Fashion-MNIST "
            "matrix; the experiment is stored as <name>-<rule> (e.g. random_damage-matrix-myfile)")


def add_arguments(p):
    """``datavsmath run``'s options: the shared ones, grid overrides, data, backends, safety.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The subcommand's parser.
    """
    add_experiment_arguments(p)
    p.add_argument("--models", type=_csv_list, help="comma-separated subset of the models, e.g. rf,cnn")
    p.add_argument("--replicates", type=int, help="independent seeds per cell (default 1)")
    p.add_argument("--damage", type=_damage_option, metavar="RULE[:FILE]", help=_damage_help())
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
    before any work starts.

    Parameters
    ----------
    args : argparse.Namespace
        Options of :func:`add_experiment_arguments`, the results folder settled (``args.out``).
    broken : list, optional
        With a list, a spec that fails to load is appended to it as (name, message) and left
        out, so that one broken file does not hide the others (status, export); without one,
        it is an error.

    Returns
    -------
    tuple of (str, Path, list of Experiment)
        The profile (given, else the folder's, else "quick"; "full" for a spec of one's own),
        the results folder and the experiments at that profile.

    Raises
    ------
    UserError
        Unknown experiments, names with ``--spec``, a folder whose recorded spec is gone, no
        specs, or a broken spec when ``broken`` is None.
    """
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
    given) is every spec in ``known``; ``r`` the R testbench's four (``R_EXPERIMENTS``).

    Parameters
    ----------
    names : list of str
        Experiment names and groups as given; names not in ``known`` are kept, for the
        caller to report.
    known : list of str
        The experiments there are, in run order (:func:`datavsmath.experiments.experiment_names`).

    Returns
    -------
    list of str
    """
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


def _plan_text(profile, out, plan, bare: bool) -> str:
    """What a run is about to do, from its :class:`~datavsmath.training.plan.RunPlan`: profile,
    fits stored and to run, results folder and the expected time. The estimate sums each fit's
    expected CPU seconds on 2 cores (plan.fit_weight, the per-model times measured for the user
    guide's "How long it takes"; naive per-fit times: about 40 min for the R four at quick,
    where the optimised run measured 19, and ~50 hours for full)."""
    from ..training.plan import describe_outdated

    n_todo, n_all, old = plan.n_pending, plan.n_fits, plan.outdated
    retrain = (f"; {describe_outdated(old)}: retrained and replaced, so that the folder holds one "
               "recipe per model" if old else "")
    names = ", ".join(p.experiment.name for p in plan.experiments)
    when = (f"{duration(plan.seconds)} on a 2-core CPU without a GPU (user guide: How long it takes)"
            if n_todo else "nothing to train, every fit is stored")
    if not bare:
        return (f"plan: profile {profile}, {n_todo} of {n_all} fits to run ({names}), {when}{retrain}\n"
                f"results folder: {out}")
    return "\n".join([
        "datavsmath run: no experiment, --profile or results folder given, so this runs the defaults:",
        f"  profile:        {profile}" + ("" if profile != "quick" else
                                          " (a preview, not the R grids; --profile full for those, "
                                          "--profile smoke for a one-minute try)"),
        f"  fits:           {n_todo} to run, {n_all - n_todo} of {n_all} already stored ({names}){retrain}",
        f"  results folder: {out}",
        f"  expected time:  {when}",
        "  Ctrl-C stops it at any time; the same command resumes.",
    ])


def run(args) -> int:
    """``datavsmath run``: check the options and the folder, build the run's plan
    (:class:`~datavsmath.training.plan.RunPlan`), print it, and execute it with the folder locked.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.

    Returns
    -------
    int
        The exit status, 0.
    """
    from ..errors import UserError
    from ..training.lock import RunLock
    from ..training.plan import RunPlan
    from ..training.store import ResultStore, clean_stale_temps

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
    plan = RunPlan.build(exps, store)  # each grid counted once; printed, recorded and executed below
    # say what is about to happen before the (slow) data check and the first fit
    print(_plan_text(profile, out, plan, bare=_is_bare(args)), flush=True)
    if args.dry_run:
        return 0
    if not plan.n_pending:
        return _nothing_to_do(plan, store)
    preflight(out, plan.n_fits, plan.disk_bytes)
    with RunLock(out, force=args.force_unlock):
        clean_stale_temps(out)
        return _run_locked(args, profile, out, plan, store, loaded)


def resolve_dataset(args):
    """(short name, training rows, Dataset or None) of ``--dataset``; (None, None, None) when
    it is not given. A dataset of one's own is loaded and checked here, before the plan: its
    row count sizes the cells, and a bad file should fail before anything is locked.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options with ``dataset`` (and ``label_column``) of
        :func:`datavsmath.commands.data.add_data_arguments`.

    Returns
    -------
    tuple of (str or None, int or None, Dataset or None)
        The Dataset only for a file of one's own (a named one is loaded when the run starts).
    """
    from ..data import dataset_name, load_dataset, train_rows

    spec = getattr(args, "dataset", None)
    if spec is None:
        return None, None, None
    name, rows = dataset_name(spec), train_rows(spec)
    if rows is not None:
        return name, rows, None
    ds = load_dataset(spec, label_column=getattr(args, "label_column", "label"))
    return name, len(ds.y_train), ds


def _nothing_to_do(plan, store) -> int:
    """Every fit of ``plan`` is stored: change nothing (no session, no versions, no rewritten
    tables), unless the tables are missing."""
    for p in plan.experiments:
        print(f"{p.experiment.name}: all {p.n_fits} fits already stored in {store.root}")
    if store.records() and not (store.root / "results.csv").is_file():
        for path in store.export():
            print(f"wrote {path}")
    return 0


def _run_locked(args, profile, out, plan, store, loaded=None) -> int:
    """The run proper, with the folder's lock held: load the data, record the session as
    running with ``plan``, execute it, record how it ended, export."""
    import time
    from pathlib import Path

    from ..data import load_dataset
    from ..training.plan import RunPlan, r_grids_complete
    from ..training.provenance import finish_session, read_provenance, start_session
    from ..training.runner import run_plan
    from ..training.units import library_versions

    exps = [p.experiment for p in plan.experiments]
    datasets = {loaded.name: loaded} if loaded is not None else {}
    for e in exps:  # load (and verify) data before the first fit, not after an hour
        if e.dataset not in datasets:
            # named datasets are 10-class images: what check_fits_dataset checks holds for them
            datasets[e.dataset] = load_dataset(e.dataset, args.data_dir, download=args.download)
    spec = getattr(args, "spec", None) or None
    if spec is None and args.experiments in (["all"], []):
        spec = read_provenance(out).get("spec")  # resolve() took the folder's spec
    spec = str(Path(spec).resolve()) if spec else None
    session = start_session(out, profile=profile, experiments=plan.record(), spec=spec)
    t0, status = time.perf_counter(), "failed"
    cluster = client = None
    try:
        if args.scheduler:
            from ..training.cluster import connect

            client = connect(args.scheduler)
        elif args.cluster == "local":
            from ..training.cluster import local_cluster

            cluster, client = local_cluster(args.workers)
        else:
            from ..training.fused import configure_devices

            configure_devices()  # before the keras backend claims the GPU: xgboost shares it
        for summary in run_plan(plan, store, datasets, progress=not args.no_progress, backend=args.backend,
                                client=client, tree_threads=args.tree_threads):
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
            # the folder after the run, counted once: fits this session stored are counted from
            # the store, so that an interrupted session (and the tree threads' fits) count too;
            # a fit retrained under a newer recipe counts, though the cell files stay as many
            after = RunPlan.build(exps, store)
            finish_session(out, session, experiments=after.record(), wall_seconds=time.perf_counter() - t0,
                           fits_done=after.n_current - plan.n_current,
                           status=status, versions=library_versions(),
                           # a spec's folder is complete with the spec's grid; others with R's four
                           complete=(not after.n_pending if spec
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
