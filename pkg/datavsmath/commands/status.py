"""Show what a results folder holds: fits stored and left per experiment, with the
expected CPU time of the rest, the replicates stored per model, and the sessions that
produced it (a session whose process died shows as killed). A damaged cell file is reported,
moved to quarantine/ and counted as left. A fit stored under an older recipe of its model
(the networks' update rule or loss changed since; see README) is counted as left too, and
named: the next run retrains it; an older recipe that is the same computation on the
backend the fit ran on (the CNN's recipe 1 on JAX) counts as current.

Without EXPERIMENT it lists every experiment and checks R's four and any other the folder
has fits of; one beyond R with no fit here is listed as not started and does not count. Each
is checked at its spec's replicates (1 for R's grids); --replicates N checks N per cell.

exit status (for scripts):
  0    every selected experiment is complete
  1    fits are left, or stored under an older model recipe (nothing is wrong: rerun
       `datavsmath run` with the same options to finish)
  2    an error, e.g. a folder that does not exist, an unknown experiment or a spec that
       cannot be read (the readable ones are still listed, the broken one is named)
  141  the reader of the output went away early (e.g. `| head -1`); nothing is printed about it

examples:
  datavsmath status results/full
  datavsmath status results/quick || echo "not finished yet"
  datavsmath status r results/full --replicates 3       # R's grids, three runs per cell
  datavsmath status size results/mnist --dataset mnist
  datavsmath status results/full --json | jq .complete
"""

import json
import sys

from . import results_missing_message
from .run import add_experiment_arguments


def add_arguments(p):
    """Add ``status``'s arguments and options to its subparser.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The ``status`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_experiment_arguments(p)
    p.add_argument("--dataset", default=None, metavar="DATASET",
                   help="the dataset the run used, as given to `run --dataset` (default: the experiment's)")
    p.add_argument("--label-column", default="label", metavar="NAME",
                   help="a CSV dataset's label column (default: label)")
    p.add_argument("--replicates", type=int, default=None, metavar="N",
                   help="check N replicates per cell (default: each spec's, 1 for R's grids)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the text (same exit status): folder, "
                        "profile, profile_recorded, complete, experiments (experiment, fits, "
                        "stored, left, cpu_hours_left, started, outdated), replicates "
                        "({model: [fewest, most]} per cell), spec_errors, sessions")


def describe_session(s: dict) -> str:
    """One line about one ``datavsmath run`` session of the results folder.

    A running or killed session has no end yet, so its line has no fit count or seconds.

    Parameters
    ----------
    s : dict
        One entry of provenance.json's ``sessions``: ``started_at``, ``status``, ``pid``,
        ``host``, ``gpu`` or ``cpu``, and for a finished session ``fits_done`` and
        ``wall_seconds``.

    Returns
    -------
    str
    """
    where = s.get("gpu") or s.get("cpu")
    if s.get("status") in ("running", "killed"):
        return (f"session {s.get('started_at')}: {s['status']} (pid {s.get('pid')} on {s.get('host')}; "
                f"{where})")
    return (f"session {s.get('started_at')}: {s.get('fits_done')} fits in {s.get('wall_seconds') or 0:.0f} s, "
            f"{s.get('status')} ({where})")


def run(args) -> int:
    """Print what the results folder holds and what is left, per experiment.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 every selected experiment is complete, 1 fits are left or stored under an older
        recipe, 2 a spec could not be read (the readable ones are still listed).

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """
    from ..errors import UserError
    from .run import resolve

    broken: list = []
    profile, out, exps = resolve(args, broken=broken)
    if not out.is_dir():
        raise UserError(results_missing_message(out, "status"))
    report = collect(args, profile, out, exps, broken)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    if broken:
        print(f"datavsmath status: error: {len(broken)} spec(s) cannot be read; fix them (see above)",
              file=sys.stderr)
        return 2
    return 0 if report["complete"] else 1


def collect(args, profile: str, out, exps, broken: list) -> dict:
    """What ``status`` reports, as a dict (the ``--json`` schema, see the help).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line (``experiments``, ``spec``, ``replicates``, ``dataset``,
        ``profile``).
    profile : str
        The profile the experiments were loaded at.
    out : str or PathLike
        The results folder.
    exps : list of Experiment
        The selected experiments whose specs could be read.
    broken : list of (str, str)
        The experiments whose specs could not be read, with the error.

    Returns
    -------
    dict
        Keys folder, profile, profile_recorded, complete, experiments (one dict each: fits,
        stored, left, cpu_hours_left on 2 cores, started, outdated), replicates ({model:
        [fewest, most]} per cell), spec_errors and sessions.
    """
    from ..experiments import R_EXPERIMENTS
    from ..stats.parity import model_order
    from ..training.provenance import read_provenance
    from ..training.store import ResultStore, replicates_per_model
    from ..training.units import describe_outdated, outdated_fits, pending_summary
    from .run import resolve_dataset

    everything = args.experiments in (["all"], []) and not args.spec
    dataset, n_total, _ = resolve_dataset(args)
    store = ResultStore(out)
    prov = read_provenance(out)
    rows, left_total = [], 0.0
    for e in exps:
        e = e.with_options(replicates=args.replicates, dataset=dataset, n_total=n_total)
        n_left, cpu = pending_summary(e, store)
        optional = everything and e.name not in R_EXPERIMENTS and n_left == e.n_fits
        old = "" if optional else describe_outdated(outdated_fits(e, store))
        if not optional:
            left_total += cpu
        rows.append({"experiment": e.name, "fits": e.n_fits, "stored": e.n_fits - n_left,
                     "left": n_left, "cpu_hours_left": round(cpu / 3600, 2),
                     "started": not optional, "outdated": old})
    df = store.to_frame()
    df = df[df["experiment"].isin([e.name for e in exps])] if len(df) else df
    counts = replicates_per_model(df)
    return {"folder": str(out), "profile": profile,
            "profile_recorded": args.profile is not None or bool(prov.get("profile")),
            "complete": left_total == 0, "experiments": rows,
            "replicates": {m: list(counts[m]) for m in model_order(counts)},
            "spec_errors": [{"experiment": n, "error": msg} for n, msg in broken],
            "sessions": prov.get("sessions", [])}


def print_report(r: dict) -> None:
    """Print a :func:`collect` report as text: one line per experiment, then replicates, spec
    errors and sessions.

    Parameters
    ----------
    r : dict
        What :func:`collect` returned.
    """
    from ..training.store import describe_replicates

    print(f"{r['folder']} (profile {r['profile']}"
          + ("" if r["profile_recorded"] else ", assumed: no readable provenance.json says") + ")")
    for e in r["experiments"]:
        if not e["started"]:
            print(f"  {e['experiment']:<16} {0:>4}/{e['fits']} fits, not started (beyond R's grids; "
                  f"`datavsmath run {e['experiment']} {r['folder']} --profile {r['profile']}`)")
            continue
        print(f"  {e['experiment']:<16} {e['stored']:>4}/{e['fits']} fits stored"
              + (f", {e['left']} left (~{e['cpu_hours_left']:.1f} CPU-hours on 2 cores)" if e["left"]
                 else ", complete")
              + (f"; of those left, {e['outdated']}: the next run retrains them" if e["outdated"] else ""))
    print("  " + describe_replicates({m: tuple(v) for m, v in r["replicates"].items()}))
    for b in r["spec_errors"]:  # listed, not fatal: the other experiments' counts still hold
        print(f"  {b['experiment']:<16} spec error: {b['error']}")
    for s in r["sessions"]:
        print("  " + describe_session(s))
