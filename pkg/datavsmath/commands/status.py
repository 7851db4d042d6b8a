"""Show what a results folder holds: fits stored and left per experiment, with the
expected CPU time of the rest, and the sessions that produced it (a session whose process
died shows as killed). A damaged cell file is reported, moved to quarantine/ and counted as
left. A fit stored under an older recipe of its model (the networks' update rule or loss
changed since; see README) is counted as left too, and named: the next run retrains it.

exit status (for scripts):
  0    every selected experiment is complete
  1    fits are left, or stored under an older model recipe (nothing is wrong: rerun
       `datavsmath run` with the same options to finish)
  2    an error, e.g. an unknown experiment or a spec that cannot be read (the readable ones
       are still listed, the broken one is named)
  141  the reader of the output went away early (e.g. `| head -1`); nothing is printed about it

examples:
  datavsmath status --out results/quick
  datavsmath status --out results/quick || echo "not finished yet"
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


def describe_session(s: dict) -> str:
    """One line per session; a running or killed one has no end yet, so no fits or seconds."""
    where = s.get("gpu") or s.get("cpu")
    if s.get("status") in ("running", "killed"):
        return (f"session {s.get('started_at')}: {s['status']} (pid {s.get('pid')} on {s.get('host')}; "
                f"{where})")
    return (f"session {s.get('started_at')}: {s.get('fits_done')} fits in {s.get('wall_seconds') or 0:.0f} s, "
            f"{s.get('status')} ({where})")


def run(args) -> int:
    from ..training.provenance import read_provenance
    from ..training.units import describe_outdated, fit_weight, outdated_fits, pending_fits
    from ..training.store import ResultStore
    from .run import resolve, resolve_dataset

    broken: list = []
    profile, out, exps = resolve(args, broken=broken)
    dataset, n_total, _ = resolve_dataset(args)
    store = ResultStore(out)
    prov = read_provenance(out)
    print(f"{out} (profile {profile})")
    left_total = 0.0
    for e in exps:
        stored = prov.get("experiments", {}).get(e.name, {})
        e = e.with_options(replicates=stored.get("replicates"), dataset=dataset, n_total=n_total)
        todo = pending_fits(e, store)
        n_left = sum(len(m) for _, m in todo)
        cpu = sum(fit_weight(m, c.n_train) for c, ms in todo for m in ms)
        left_total += cpu
        old = describe_outdated(outdated_fits(e, store))
        print(f"  {e.name:<16} {e.n_fits - n_left:>4}/{e.n_fits} fits stored"
              + (f", {n_left} left (~{cpu / 3600:.1f} CPU-hours on 2 cores)" if n_left else ", complete")
              + (f"; of those left, {old}: the next run retrains them" if old else ""))
    for name, message in broken:  # listed, not fatal: the other experiments' counts still hold
        print(f"  {name:<16} spec error: {message}")
    for s in prov.get("sessions", []):
        print("  " + describe_session(s))
    if broken:
        print(f"datavsmath status: error: {len(broken)} spec(s) cannot be read; fix them (see above)",
              file=sys.stderr)
        return 2
    return 0 if left_total == 0 else 1
