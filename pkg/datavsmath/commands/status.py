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
  2    an error, e.g. an unknown experiment or a spec that cannot be read (the readable ones
       are still listed, the broken one is named)
  141  the reader of the output went away early (e.g. `| head -1`); nothing is printed about it

examples:
  datavsmath status --out results/full
  datavsmath status --out results/quick || echo "not finished yet"
  datavsmath status r --replicates 3 --out results/full      # R's grids, three runs per cell
  datavsmath status size --dataset mnist --out results/mnist
"""

import sys

from .run import add_experiment_arguments


def add_arguments(p):
    add_experiment_arguments(p)
    p.add_argument("--dataset", default=None, metavar="DATASET",
                   help="the dataset the run used, as given to `run --dataset` (default: the experiment's)")
    p.add_argument("--label-column", default="label", metavar="NAME",
                   help="a CSV dataset's label column (default: label)")
    p.add_argument("--replicates", type=int, default=None, metavar="N",
                   help="check N replicates per cell (default: each spec's, 1 for R's grids)")


def describe_session(s: dict) -> str:
    """One line per session; a running or killed one has no end yet, so no fits or seconds."""
    where = s.get("gpu") or s.get("cpu")
    if s.get("status") in ("running", "killed"):
        return (f"session {s.get('started_at')}: {s['status']} (pid {s.get('pid')} on {s.get('host')}; "
                f"{where})")
    return (f"session {s.get('started_at')}: {s.get('fits_done')} fits in {s.get('wall_seconds') or 0:.0f} s, "
            f"{s.get('status')} ({where})")


def run(args) -> int:
    from ..experiments import R_EXPERIMENTS
    from ..stats.parity import model_order
    from ..training.provenance import read_provenance
    from ..training.store import ResultStore, describe_replicates, replicates_per_model
    from ..training.units import describe_outdated, outdated_fits, pending_summary
    from .run import resolve, resolve_dataset

    broken: list = []
    everything = args.experiments in (["all"], []) and not args.spec
    profile, out, exps = resolve(args, broken=broken)
    dataset, n_total, _ = resolve_dataset(args)
    store = ResultStore(out)
    prov = read_provenance(out)
    known = args.profile is not None or bool(prov.get("profile"))
    print(f"{out} (profile {profile}" + ("" if known else ", assumed: no readable provenance.json says") + ")")
    left_total = 0.0
    for e in exps:
        e = e.with_options(replicates=args.replicates, dataset=dataset, n_total=n_total)
        n_left, cpu = pending_summary(e, store)
        if everything and e.name not in R_EXPERIMENTS and n_left == e.n_fits:
            print(f"  {e.name:<16} {0:>4}/{e.n_fits} fits, not started (beyond R's grids; "
                  f"`datavsmath run {e.name} --profile {profile}`)")
            continue
        left_total += cpu
        old = describe_outdated(outdated_fits(e, store))
        print(f"  {e.name:<16} {e.n_fits - n_left:>4}/{e.n_fits} fits stored"
              + (f", {n_left} left (~{cpu / 3600:.1f} CPU-hours on 2 cores)" if n_left else ", complete")
              + (f"; of those left, {old}: the next run retrains them" if old else ""))
    df = store.to_frame()
    df = df[df["experiment"].isin([e.name for e in exps])] if len(df) else df
    counts = replicates_per_model(df)
    print("  " + describe_replicates({m: counts[m] for m in model_order(counts)}))
    for name, message in broken:  # listed, not fatal: the other experiments' counts still hold
        print(f"  {name:<16} spec error: {message}")
    for s in prov.get("sessions", []):
        print("  " + describe_session(s))
    if broken:
        print(f"datavsmath status: error: {len(broken)} spec(s) cannot be read; fix them (see above)",
              file=sys.stderr)
        return 2
    return 0 if left_total == 0 else 1
