"""Retrain a sample of a results folder's cells with the code at hand and check each against
the value stored, within the reproducibility envelope (README, "Reproducibility").

A --sample is drawn among the cells of the datasets installed here (the others are named, with
the command that installs them). Each cell is retrained as it was stored: the same seeds and rows, the same backend and, for a
fused network, the same unit of cells trained together (training them all; only the chosen
cells are compared). Nothing is written: not into RESULTS, not anywhere else.

What must agree: the trees bit for bit on any x86-64 CPU; a network bit for bit on the CPU
model, unit and library versions it was stored with, else within 4 of its seed spreads (the
standard deviation across replicates) in accuracy and in AUC. A device change (a GPU's cells
checked on a CPU), other library versions or another model recipe have no measured envelope:
such a cell fails, and the reason says so.

exit status (for scripts and CI):
  0  every chosen cell is inside its envelope
  1  at least one is outside (or damaged, or has no measured envelope)
  2  bad input: no such folder, no cells in it, an unknown cell name, a bad option
  130 Ctrl-C (nothing is written, so nothing is lost)

--json prints one object instead of the table:
  {"results": FOLDER, "cpu": this machine's CPU, "device": "cpu" or "gpu:NAME",
   "versions": {library: version}, "seed": N or null, "passed": bool,
   "cells": [{"cell": "EXPERIMENT/FILE", "model": ..., "ok": bool,
              "stored": {"acc": x, "auc": x}, "new": {"acc": x, "auc": x},
              "diff": {"acc": new - stored, "auc": new - stored},
              "envelope": {"kind": "exact" | "tolerance" | "unmeasured",
                           "acc": allowed |diff| (0 if exact, null if unmeasured),
                           "auc": ..., "reason": what differs from the stored run},
              "unit": the cells trained together ("s0.2_d0.0_r0 s0.1_d0.0_r0"),
              "unit_source": "recorded" | "one copy" | "inferred" | "guessed" | "single fit",
              "stored_cpu": the CPU the cell was trained on, or null,
              "problem": why it could not be compared, or null}, ...]}
  (values null where a cell could not be retrained; the progress lines go to stderr).

examples:
  datavsmath verify results/quick --sample 10            # ten cells, drawn with --seed 0
  datavsmath verify results/quick --sample 3 --models rf,dnn --seed 7
  datavsmath verify results/quick --cells size/fashion_dnn_s0.01_d0.0_r0 size/fashion_rf_s0.01_d0.0_r0
  datavsmath verify results/full --sample 5 --json > verify.json
"""

import json
import sys
from pathlib import Path

from . import add_results_argument


def _models(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def add_arguments(p):
    """Add ``verify``'s arguments and options to its subparser.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The ``verify`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_results_argument(p, "folder", dest="results", help_text="a results folder written by `datavsmath run`")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--sample", type=int, default=None, metavar="N",
                       help="verify N cells drawn at random with --seed (default 5)")
    which.add_argument("--cells", nargs="+", metavar="CELL",
                       help="verify these cells, named EXPERIMENT/FILE as under RESULTS/cells "
                            "(e.g. size/fashion_dnn_s0.01_d0.0_r0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --sample draw (default 0)")
    p.add_argument("--models", type=_models, help="draw the sample among these models' cells, e.g. rf,dnn")
    p.add_argument("--data-dir", help="folder holding the dataset's IDX files (as for `datavsmath run`)")
    p.add_argument("--json", action="store_true", help="print one JSON object (schema above) instead of the table")


#: cells drawn when neither --sample nor --cells is given
DEFAULT_SAMPLE = 5


def _num(x, digits=4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _diff(x) -> str:
    return "-" if x is None else ("0" if x == 0 else f"{x:+.2e}" if abs(x) < 1e-4 else f"{x:+.4f}")


def print_table(checks) -> None:
    """Print one line per cell: stored and new accuracy, their difference, the AUC's
    difference, the verdict and the envelope.

    Parameters
    ----------
    checks : list of CellCheck
        The verdicts of :func:`datavsmath.training.verify.verify_cells`, one per cell retrained.
    """
    width = max(len(c.cell) for c in checks)
    print(f"{'cell':{width}s}  {'stored acc':>10s}  {'new acc':>8s}  {'diff':>9s}  {'auc diff':>9s}  verdict  envelope")
    for c in checks:
        where = f"; stored on {c.stored_cpu or 'an unrecorded CPU'}, unit {c.unit_source}" if c.unit_source else ""
        env = c.problem or f"{c.envelope}{where}"
        print(f"{c.cell:{width}s}  {_num(c.stored_acc):>10s}  {_num(c.new_acc, 4):>8s}  {_diff(c.d_acc):>9s}  "
              f"{_diff(c.d_auc):>9s}  {'ok  ' if c.ok else 'FAIL'}     {env}")


def _datasets_of(name: str, stored: dict) -> set[str]:
    """The datasets retraining a cell needs: its own, and the one its model was pretrained on."""
    record = stored[name][0]
    if not record:
        return {name.split("/", 1)[1].split("_")[0]}
    return {record["dataset"]} | ({record["pretrained_on"]} if record.get("pretrained_on") else set())


def _missing_datasets(stored: dict, data_dir) -> dict[str, str]:
    """Datasets of the stored cells that are not installed here -> the line saying how to fix it."""
    from ..data import DataError, locate_dataset

    out = {}
    for name in sorted(set().union(*(_datasets_of(n, stored) for n in stored))):
        try:
            locate_dataset(name, data_dir)
        except DataError as exc:
            out[name] = str(exc).strip().splitlines()[-1]
    return out


def run(args) -> int:
    """Retrain the chosen cells and check each against its reproducibility envelope.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 every chosen cell is inside its envelope, 1 at least one is outside, damaged or
        has no measured envelope.

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """
    from ..errors import UserError

    root = Path(args.results)
    if not (root / "cells").is_dir():
        raise UserError(f"{root} is not a results folder (no cells/ in it); give a folder written by "
                        "`datavsmath run`, e.g. results/quick")
    if args.sample is not None and args.sample < 1:
        raise UserError(f"--sample takes a count of at least 1, got {args.sample}")
    from ..data import load_dataset
    from ..models import device_label
    from ..training.provenance import cpu_model
    from ..training.units import library_versions
    from ..training.verify import choose_cells, stored_cells, verify_cells

    stored = stored_cells(root)
    if not stored:
        raise UserError(f"{root} holds no cells; run `datavsmath run EXPERIMENT {root}` first")
    names = list(stored)
    if not args.cells:  # a sample is drawn among the cells this machine can retrain
        missing = _missing_datasets(stored, args.data_dir)
        for name, fix in missing.items():
            print(f"note: the sample leaves out the cells that need dataset {name} (its own, and those of "
                  f"models pretrained on it), which is not installed here ({fix})", file=sys.stderr)
        names = [n for n in names if not _datasets_of(n, stored) & set(missing)]
    chosen = choose_cells(names, sample=args.sample or DEFAULT_SAMPLE, seed=args.seed,
                          cells=args.cells, models=args.models)
    loaded = {}

    def datasets(name):
        if name not in loaded:
            loaded[name] = load_dataset(name, args.data_dir)
        return loaded[name]

    print(f"verifying {len(chosen)} of {len(stored)} cells of {root} on {cpu_model()} ({device_label()})"
          + ("" if args.cells else f", drawn with seed {args.seed}"), file=sys.stderr if args.json else sys.stdout,
          flush=True)
    checks = verify_cells(root, chosen, stored, datasets,
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    passed = all(c.ok for c in checks)
    if args.json:
        print(json.dumps({"results": str(root), "cpu": cpu_model(), "device": device_label(),
                          "versions": library_versions(), "seed": None if args.cells else args.seed,
                          "passed": passed, "cells": [c.to_json() for c in checks]}, indent=1))
    else:
        print_table(checks)
        bad = sum(not c.ok for c in checks)
        print(f"{len(checks) - bad} of {len(checks)} cells inside their envelope"
              + ("" if passed else f"; {bad} outside"))
    return 0 if passed else 1
