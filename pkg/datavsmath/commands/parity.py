"""Compare a results folder with R's published tables, cell by cell.

For each cell that R published (size, random damage, constant damage on Fashion-MNIST; size on
digit MNIST, `run size --dataset mnist`; accuracy and AUC): R's single run, our mean over
replicates, the spread of one run, the prediction interval for one new run and whether R lies
inside it. Prints the share of R cells inside our intervals per
experiment and model, and the cells farthest outside; with --to, writes
DIR/tables/parity_cells.csv and DIR/tables/parity_summary.csv.

The spread of one run is pooled over the replicated cells of the same experiment and model
(else of the model in all experiments), so that a cell run once still gets an interval; where
no cell of a model has replicates, its cells have no interval ("n/a").

examples:
  datavsmath parity results/full
  datavsmath parity results/full --to results/full
  datavsmath parity my-results.csv --r data/r-results
"""

from __future__ import annotations

import argparse
import json

from . import add_json_argument, add_results_argument, json_records, write_tables


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``parity``'s arguments and options to its subparser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``parity`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_results_argument(parser, "folder",
                         help_text="results folder (cells/ or results.csv) or a tidy results.csv")
    parser.add_argument("--r", default=None, metavar="DIR",
                        help="folder of R's published CSVs (default: the project's data/r-results)")
    parser.add_argument("--to", default=None, metavar="DIR",
                        help="also write DIR/tables/parity_cells.csv and parity_summary.csv")
    parser.add_argument("--top", type=int, default=10, help="outlying cells to list (default 10)")
    add_json_argument(parser, "source, cells (compared), summary (per dataset, experiment, "
                              "metric and model: the columns of parity_summary.csv), outliers (the "
                              "--top cells farthest outside)")


def run(args) -> int:

    """Compare the results with R's published tables, cell by cell, and print the verdict.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 the comparison was printed or written (a mismatch is reported, not an error).

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """
    import pandas as pd

    from ..errors import UserError
    from ..report.parity import readable_summary
    from ..report.site import R_RESULTS, describe_source, load_results
    from ..stats.parity import outliers, parity_cells, parity_summary

    try:
        ours = load_results(args.source)
        r = load_results(args.r or R_RESULTS)
    except FileNotFoundError as exc:
        raise UserError(f"{exc}; give a results folder made by `datavsmath run`, or a results.csv") from None
    if not args.json:
        print(describe_source(args.source, ours))
    cells = pd.concat([parity_cells(ours, r, m) for m in ("acc", "auc")], ignore_index=True)
    if cells.empty:
        raise UserError(f"{args.source} shares no cell with R's tables (R published the size, "
                        "random damage and constant damage experiments on Fashion-MNIST, and the size "
                        "experiment on digit MNIST)")
    # digit MNIST's size run and Fashion-MNIST's are different cells, never pooled
    summary = parity_summary(cells, ["dataset", "experiment", "metric", "model"])
    far = outliers(cells, args.top)
    write_tables(args.to, {"parity_cells.csv": cells, "parity_summary.csv": summary}, quiet=args.json)
    if args.json:
        print(json.dumps({"source": str(args.source), "cells": len(cells),
                          "summary": json_records(summary, list(summary.columns)),
                          "outliers": json_records(far, list(far.columns))}, indent=2))
        return 0
    pd.set_option("display.width", 200)
    print(f"Parity with R: {len(cells)} cells compared ({ours['model'].nunique()} models); "
          "R inside = share of R's single runs inside our 95% prediction interval for one run")
    print(readable_summary(summary).to_string(index=False))
    if len(far):
        print(f"\nFarthest outside (of {int((cells['inside'] == 0).sum())} cells outside):")
        print(far[["dataset", "experiment", "model", "metric", "frac_sample", "frac_damage", "r", "ours", "n", "sd", "z"]]
              .round(4).to_string(index=False))
    return 0
