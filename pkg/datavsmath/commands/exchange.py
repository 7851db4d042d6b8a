"""Exchange rates: what each lever is worth in training rows of a baseline.

For a lever at n real rows, n_eff is the rows the baseline's fitted learning curve needs to
reach the lever's fitted error at n (95% interval from both curves' uncertainty); the
multiplier is n_eff / n. Levers measured: better math (each model against each other, on the
size experiment) and cleaner labels (the joint law on the size x damage grid). A baseline that
never reaches the lever's error, or only beyond the horizon, is a verdict, not a number.

examples:
  datavsmath exchange results/full
  datavsmath exchange results/quick --at 6000 30000 --json
"""

from __future__ import annotations

import argparse

from . import add_results_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_results_argument(parser, "folder",
                         help_text="results folder (cells/ or results.csv) or a tidy results.csv")
    parser.add_argument("--metric", default="acc", choices=("acc", "auc"),
                        help="metric whose error (1 - metric) is priced (default acc)")
    parser.add_argument("--at", nargs="+", type=float, metavar="N", default=None,
                        help="real rows to price the levers at (default 6000 and the largest size)")
    parser.add_argument("--dataset", default="fashion", help="dataset of the results (default fashion)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON records")


def run(args) -> int:
    import json

    import numpy as np
    import pandas as pd

    from ..errors import UserError
    from ..report.site import describe_source, load_results
    from ..stats.exchange import exchange_rates

    try:
        df = load_results(args.source)
    except FileNotFoundError as exc:
        raise UserError(f"{exc}; give a results folder made by `datavsmath run`, or a results.csv") from None
    df = df[df["dataset"] == args.dataset]
    if not (df["experiment"] == "size").any():
        raise UserError(f"{args.source} holds no size experiment on dataset {args.dataset!r}; "
                        "`datavsmath run size` makes one")
    try:
        res = exchange_rates(df, metric=args.metric, at=args.at)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        table = res.table().replace({np.inf: None, -np.inf: None})
        records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        print(json.dumps({"metric": res.metric, "rows": records, "notes": res.notes}, indent=1))
        return 0
    print(describe_source(args.source, df))
    pd.set_option("display.width", 200)
    print(res.summary().as_text())
    return 0
