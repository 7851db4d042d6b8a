"""Collect or clean? The cheapest way to a target accuracy (or AUC) for labels you hold.

From a results folder's size x damage grid (the learning curve at every label quality), price
three plans for RESULTS' model: collect new rows at today's label quality; clean the labels
held until they suffice; or clean to some quality and collect the rest at it. Prints each
plan's rows, cleaning actions and cost with a 95% interval, the break-even price ratio
(cleaning pays while a cleaned label costs less than that many new labels) and a verdict.

Costs are in any one currency. Cleaning models: review (default) pays for every row reviewed,
since errors are not known in advance (raising quality q0 to q reviews a share (q - q0) /
(1 - q0) of the rows); targeted pays only per corrected label (a perfect error detector: an
optimistic bound). The answer holds for the grid's damage rule, model and dataset; run the
size x damage experiment on your own data to ask it there.

With --levers it prices every measured path to the target instead, on clean-label learning
curves: collecting rows for each model, each lever applied to a model (augmentation,
pretraining) and each pruning rule; costs are new labels, one review of the rows held when
--quality is below 1 (--cost-clean each), and compute hours at --cost-hour (the fit seconds
the results measured); the cheapest path with its 95% interval, and each path's break-even
price per new label against collecting for --model (default cnn).

The first line names the folder read, its profile and whether it is complete and current.
exit status: 0 advice given; 1 no plan reaches the target (the summary says why); 2 an error.

examples:
  datavsmath advise results/full --target-acc 0.9 --rows 20000 --quality 0.8 \\
      --cost-label 0.05 --cost-clean 0.20
  datavsmath advise results/full --target-auc 0.98 --rows 5000 --quality 0.7 \\
      --cost-label 1 --cost-clean 0.1 --cleaning targeted --to /tmp/advice
  datavsmath advise results/quick --levers --target-acc 0.88 --rows 3000 \\
      --cost-label 0.05 --cost-hour 3
"""

from __future__ import annotations

import argparse
import json
import sys

from . import add_json_argument, add_results_argument, json_records, write_tables


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``advise``'s arguments and options to its subparser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``advise`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_results_argument(parser, "folder",
                         help_text="results folder (cells/ or results.csv) or a tidy CSV holding the "
                             "size x damage experiment")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-acc", type=float, metavar="A", help="target accuracy, e.g. 0.9")
    target.add_argument("--target-auc", type=float, metavar="A", help="target AUC, e.g. 0.98")
    parser.add_argument("--rows", type=float, required=True,
                        help="labelled training rows you hold")
    parser.add_argument("--quality", type=float, default=None,
                        help="their label quality: share of labels that are right, e.g. 0.8 "
                             "(required without --levers; default 1 with it)")
    parser.add_argument("--cost-label", type=float, required=True, metavar="C",
                        help="cost of labelling one new row")
    parser.add_argument("--cost-clean", type=float, default=None, metavar="C",
                        help="cost of one cleaning action (a reviewed row, or a corrected label "
                             "with --cleaning targeted); required without --levers")
    parser.add_argument("--levers", action="store_true",
                        help="price every measured lever (models, augmentation, pretraining, "
                             "pruning) instead of collect-or-clean")
    parser.add_argument("--cost-hour", type=float, default=0.0, metavar="C",
                        help="with --levers: cost of one compute hour (default 0)")
    parser.add_argument("--cleaning", choices=("review", "targeted"), default="review",
                        help="review: pay per row reviewed (default); targeted: pay per wrong "
                             "label corrected (optimistic)")
    parser.add_argument("--model", default=None,
                        help="model to advise on (default: the only one in the grid)")
    parser.add_argument("--form", default="auto",
                        help="learning-curve form for n*: auto (model average, default) or a "
                             "form name such as power_floor")
    parser.add_argument("--to", default=None, metavar="DIR",
                        help="also write DIR/tables/advice.csv")
    add_json_argument(parser, "verdict (in words), advised (some plan reaches the target), "
                              "p_clean_cheaper, break_even ({estimate, ci_low, ci_high}), plans "
                              "(the columns of advice.csv)")


def run(args) -> int:
    """Price the plans to the target (or, with ``--levers``, every measured path) and print them.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 advice given, 1 no plan reaches the target (the summary says why).

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """

    from ..errors import UserError
    from ..report.site import describe_source, load_results
    from ..stats.value import advise

    try:
        df = load_results(args.source)
    except FileNotFoundError as exc:
        raise UserError(f"{exc}; give a results folder made by `datavsmath run`, or a results.csv") from None
    if not args.json:
        print(describe_source(args.source, df))
    if args.levers:
        return _levers(args, df)
    missing = [flag for flag, v in (("--quality", args.quality), ("--cost-clean", args.cost_clean)) if v is None]
    if missing:
        raise UserError(f"collect-or-clean advice needs {' and '.join(missing)} (or --levers for "
                        "every lever on clean labels)")
    if "experiment" in df.columns:
        df = df[df["experiment"] == "size_x_damage"]
    if df.empty:
        raise UserError(f"{args.source} holds no size x damage cells: run "
                        "`datavsmath run size_x_damage` first (the advice needs the learning "
                        "curve at several label qualities)")
    metric, threshold = (("acc", args.target_acc) if args.target_acc is not None
                         else ("auc", args.target_auc))
    if not 0 < threshold < 1:
        raise UserError(f"the target {metric} must lie strictly between 0 and 1, got {threshold:g}")
    models = sorted(df["model"].unique())
    if args.model is not None and args.model not in models:
        raise UserError(f"model {args.model!r} is not in the size x damage grid (it holds "
                        f"{', '.join(models)})")
    if args.model is None and len(models) > 1:
        raise UserError(f"the grid holds several models ({', '.join(models)}): choose one with --model")
    try:
        advice = advise(df, rows=args.rows, quality=args.quality, cost_label=args.cost_label,
                        cost_clean=args.cost_clean, metric=metric, threshold=threshold,
                        model=args.model, cleaning=args.cleaning, form=args.form)
    except (KeyError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps({"verdict": advice.verdict, "advised": advice.advised,
                          "p_clean_cheaper": float(advice.p_clean_cheaper),
                          "break_even": {k: (float(v) if v == v and abs(v) != float("inf") else None)
                                         for k, v in dict(advice.break_even).items()},
                          "plans": json_records(advice.table(), list(advice.table().columns))},
                         indent=2))
    else:
        print(advice.summary())
    write_tables(args.to, {"advice.csv": advice.table()}, quiet=args.json)
    if not advice.advised:
        print(f"datavsmath advise: cannot advise. {advice.verdict}", file=sys.stderr)
        return 1
    return 0


def _levers(args, df) -> int:
    """``advise --levers``: every measured path to the target, priced."""
    from ..errors import UserError
    from ..stats.levers import advise_levers

    if "dataset" in df.columns and df["dataset"].nunique() > 1:
        df = df[df["dataset"] == "fashion"] if "fashion" in set(df["dataset"]) else df
    metric, threshold = (("acc", args.target_acc) if args.target_acc is not None
                         else ("auc", args.target_auc))
    try:
        advice = advise_levers(df, threshold=threshold, rows=args.rows, price_label=args.cost_label,
                               price_review=args.cost_clean or 0.0, price_hour=args.cost_hour,
                               quality=1.0 if args.quality is None else args.quality, metric=metric,
                               baseline=args.model or "cnn")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    table = advice.table()
    if args.json:
        best = advice.cheapest
        print(json.dumps({"verdict": advice.verdict_text(), "advised": best is not None,
                          "cheapest": None if best is None else best["path"],
                          "paths": json_records(table, list(table.columns)), "notes": advice.notes},
                         indent=2))
    else:
        print(advice.summary())
    write_tables(args.to, {"advice_levers.csv": table}, quiet=args.json)
    if advice.cheapest is None:
        print(f"datavsmath advise: cannot advise. {advice.verdict_text()}", file=sys.stderr)
        return 1
    return 0
