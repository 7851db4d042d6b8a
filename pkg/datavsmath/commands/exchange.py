"""Exchange rates: what each lever is worth in training rows of a baseline.

For a lever at n real rows, n_eff is the rows the baseline's fitted learning curve needs to
reach the lever's fitted error at n (95% interval from both curves' uncertainty); the
multiplier is n_eff / n. Levers, each where the results measure it: better math (each model
against each other, on the size experiment), cleaner labels (the learning curve at each label
quality of the size x damage grid, and the joint law where it is identified), augmentation and
pretraining (the augmented or pretrained CNN/DNN against the plain one on the same rows), and
pruning (rows kept by a pruning rule against rows drawn at random). A baseline that never
reaches the lever's error, or only beyond the horizon, is a verdict, not a number. Every
dataset of the results with a size experiment is priced (digit MNIST too, for pretraining on
Fashion-MNIST), unless --dataset picks one.

examples:
  datavsmath exchange results/full
  datavsmath exchange results/quick --at 6000 30000 --json
  datavsmath exchange results/quick --to results/quick
      (writes tables/exchange_rates.csv and figures/exchange_<dataset>.png)
"""

from __future__ import annotations

import argparse

from . import add_json_argument, add_results_argument, json_records, write_tables


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``exchange``'s arguments and options to its subparser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``exchange`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_results_argument(parser, "folder",
                         help_text="results folder (cells/ or results.csv) or a tidy results.csv")
    parser.add_argument("--metric", default="acc", choices=("acc", "auc"),
                        help="metric whose error (1 - metric) is priced (default acc)")
    parser.add_argument("--at", nargs="+", type=float, metavar="N", default=None,
                        help="real rows to price the levers at (default 6000 and the largest size)")
    parser.add_argument("--dataset", default=None,
                        help="price the levers of this dataset only (default: every dataset with a size experiment)")
    parser.add_argument("--to", default=None, metavar="DIR", help="also write DIR/tables/exchange_rates.csv and the figure "
                                                                "DIR/figures/exchange_<dataset>.png")
    add_json_argument(parser, "metric, rows (the columns of exchange_rates.csv: dataset, family, "
                              "lever, baseline, n, n_eff, ci_low, ci_high, multiplier, mult_ci_low, "
                              "mult_ci_high, gained, verdict, note), transfer (the columns of "
                              "transfer_laws.csv: dataset, lever, baseline, k, k_ci_low, k_ci_high, "
                              "alpha, alpha_ci_low, alpha_ci_high, sizes_fitted, note), notes")


def run(args) -> int:
    """Print every lever's exchange rate in training rows (and with ``--to`` write the table).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 the rates were printed or written.

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """
    import json
    from pathlib import Path

    from ..errors import UserError
    from ..report.site import describe_source, load_results
    from ..stats.exchange import COLUMNS, exchange_rates
    from ..stats.transfer import LAW_COLUMNS, transfer_table

    try:
        df = load_results(args.source)
    except FileNotFoundError as exc:
        raise UserError(f"{exc}; give a results folder made by `datavsmath run`, or a results.csv") from None
    if args.dataset is not None:
        if args.dataset not in set(df["dataset"]):
            raise UserError(f"{args.source} holds no results on dataset {args.dataset!r} (it holds "
                            f"{', '.join(sorted(df['dataset'].unique()))})")
        df = df[df["dataset"] == args.dataset]
    if not (df["experiment"] == "size").any():
        raise UserError(f"{args.source} holds no size experiment: `datavsmath run size` makes "
                        "the baseline curve every lever is priced in")
    try:
        res = exchange_rates(df, metric=args.metric, at=args.at)
        laws = transfer_table(df, metric=args.metric)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps({"metric": res.metric, "rows": json_records(res.table(), COLUMNS),
                          "transfer": json_records(laws, LAW_COLUMNS), "notes": res.notes}, indent=1))
    else:
        print(describe_source(args.source, df))
        print(res.summary().as_text())
        for r in laws.itertuples():
            law = (f"k = {r.k:,.3g} [{r.k_ci_low:,.3g}, {r.k_ci_high:,.3g}], alpha = {r.alpha:.2f} "
                   f"[{r.alpha_ci_low:.2f}, {r.alpha_ci_high:.2f}] from {r.sizes_fitted} sizes"
                   if r.k == r.k else f"not fitted: {r.note}")
            print(f"Effective data transferred, {r.dataset} {r.lever} vs {r.baseline}: D_T = k n^alpha, {law}")
    write_tables(args.to, {"exchange_rates.csv": res.table()} | ({"transfer_laws.csv": laws} if len(laws) else {}),
                 quiet=args.json)
    if args.to is not None:
        from ..report.exchange import exchange_figure
        from ..report.theme import save_png

        for name in res.table()["dataset"].unique():
            fig = save_png(exchange_figure(res.table(), dataset=name),
                           Path(args.to) / "figures" / f"exchange_{name}.png", width=8, height=6.5)
            if not args.json:
                print(f"wrote {fig}")
    return 0
