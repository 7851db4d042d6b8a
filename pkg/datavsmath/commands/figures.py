"""Draw the talk's figures as PNG files, from a results folder or R-shaped CSVs.

RESULTS is a results folder (``cells/`` or ``results.csv``), a tidy ``results.csv``, an
R-shaped result CSV, or a folder of R's CSVs such as ``data/r-results/``. Without RESULTS the
default results folder is used: ``$DATAVSMATH_RESULTS``, else ``results/full`` when complete,
else ``results/quick``.

Writes, under --to DIR (default: RESULTS/figures for a results folder): the accuracy and AUC charts of every experiment present, named as in the R testbench (acc-size.png, auc-rand-bias.png,
acc-const-bias.png, acc-cnn-bias.png, ...; digit-MNIST runs get an ``mnist-`` prefix), the
learning curves, the statistics charts when RESULTS/tables/ holds their tables, the two
illustrations of damaged labels (random-bias.png, constant-bias.png) and one training image of
each class (sample-images.png, when the dataset's files are found). Default size: 1600 x 900
pixels (16:9: 5.33 x 3 inches at 300 dpi). Figures drawn from anything but a complete full run say so in their
caption (e.g. "QUICK PREVIEW").

examples:
  datavsmath figures                                   # default results folder
  datavsmath figures results/quick --dpi 150
  datavsmath figures data/r-results --to /tmp/r-figures
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from . import add_results_argument

#: datavsmath.report.theme.DEFAULT_SIZE, repeated so that building the parser loads no plotnine
DEFAULT_SIZE = (16 / 3, 3.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``figures``'s arguments and options to its subparser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``figures`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_results_argument(parser, "folder", optional=True, old_to=True,
                         help_text="results folder, results.csv, R-shaped CSV or folder of R CSVs "
                                   "(default: $DATAVSMATH_RESULTS, results/full if complete, else "
                                   "results/quick)")
    parser.add_argument("--to", metavar="DIR",
                        help="folder for the PNG files (default: RESULTS/figures for a results folder)")
    parser.add_argument("--dpi", type=int, default=300, help="resolution in dots per inch (default: 300)")
    parser.add_argument("--width", type=float, default=DEFAULT_SIZE[0],
                        help="width in inches (default: 5.33, 1600 px at 300 dpi)")
    parser.add_argument("--height", type=float, default=DEFAULT_SIZE[1],
                        help="height in inches (default: 3, 900 px at 300 dpi: 16:9)")
    parser.add_argument("--no-illustrations", dest="illustrations", action="store_false",
                        help="skip the two bar charts of damaged labels and the sample images")


def _check_size(args) -> None:
    if args.dpi <= 0 or args.width <= 0 or args.height <= 0:
        raise UserError(f"--dpi, --width and --height must be positive (got {args.dpi}, {args.width}, {args.height})")
    if args.width * args.dpi > 20000 or args.height * args.dpi > 20000:
        raise UserError(f"{args.width} x {args.height} in at {args.dpi} dpi is over 20,000 pixels a side; "
                        "lower --dpi or the size")


def _out_dir(source: Path, out: str | None) -> Path:
    if out:
        return Path(out)
    if source.is_dir() and ((source / "cells").is_dir() or (source / "results.csv").is_file()):
        return source / "figures"
    raise UserError(f"say where the PNG files go with --to DIR ({source} is not a results folder)")


def _progress(i: int, n: int, name: str) -> None:
    """One line per figure drawn, so that a run of a minute is not a silent one."""
    print(f"  [{i:>2}/{n}] {name}.png", flush=True)


def run(args) -> int:
    """Draw the talk's figures as PNGs from the results or R's CSVs.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 the figures were written.

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """
    from ..report import figures, site

    _check_size(args)
    source = Path(args.source) if args.source else site.default_results_dir()
    if not source.exists():
        hint = ("" if args.source else
                " (the default results folder; run `datavsmath run --profile quick` first, "
                "or set DATAVSMATH_RESULTS)")
        raise UserError(f"{source} does not exist{hint}")
    out = _out_dir(source, args.to)
    try:
        results = site.load_results(source)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise UserError(f"cannot read results from {source}: {exc}") from exc
    if results.empty:
        raise UserError(f"{source} holds no finished fits yet")
    print(site.describe_source(source, results), flush=True)
    tables = source / "tables" if source.is_dir() else None
    note = figures.profile_note(source if source.is_dir() else source.parent, results)
    print("preparing the figures", flush=True)
    written = figures.export_figures(results, out, dpi=args.dpi, width=args.width, height=args.height,
                                     illustrations=args.illustrations, tables_dir=tables, note=note,
                                     progress=_progress)
    px = f"{round(args.width * args.dpi)} x {round(args.height * args.dpi)} px"
    print(f"wrote {len(written)} figures ({px}) to {out}" + (f" [{note}]" if note else ""))
    return 0
