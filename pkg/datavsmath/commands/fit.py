"""Scaling-law statistics on results folders or CSVs.

Fits learning curves (power law and exponential, each with and without a floor) to the size
experiment, estimates the training rows needed for target accuracies/AUCs, the R tables and a
modelled d(data)/d(quality) for the size x damage grid, and breakdown points for the damage
experiments. Prints the summaries and writes tidy CSVs to DIR/tables/.

examples:
  datavsmath fit results/ --out results/
  datavsmath fit data/r-results/fashion-data-size-results.csv \\
      data/r-results/fashion-mnist-damage-results.csv --out /tmp/fit --targets acc=0.85,0.9
  datavsmath fit my-cross.csv --experiment size_x_damage --dataset fashion --out /tmp/fit
"""

from __future__ import annotations

import argparse

METRICS = ("acc", "auc")
FORMS = ("power", "power_floor", "exp", "exp_floor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="results folder (cells/ or results.csv), tidy results.csv, or an "
                             "R-shaped CSV; several are analysed side by side")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="results directory; tables are written to DIR/tables/")
    parser.add_argument("--targets", action="append", default=[], metavar="METRIC=V[,V...]",
                        help="target metric values for 'data needed', e.g. acc=0.85,0.9 "
                             "(repeatable; default acc=0.85,0.9 and auc=0.98,0.99)")
    parser.add_argument("--metric", choices=METRICS + ("both",), default="both",
                        help="which metric(s) to analyse (default both)")
    parser.add_argument("--forms", default=",".join(FORMS),
                        help=f"learning-curve forms to fit, comma-separated (default {','.join(FORMS)})")
    parser.add_argument("--criterion", choices=("aicc", "aic", "bic"), default="aicc",
                        help="model-choice criterion (default aicc)")
    parser.add_argument("--ci-method", choices=("delta", "bootstrap"), default="delta",
                        help="interval for the data needed: delta method (default) or parametric "
                             "bootstrap")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap refits (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--breakdown", choices=("half_skill", "half_clean"), default="half_skill",
                        help="breakdown definition: half-way from clean to chance (default) or "
                             "half the clean value")
    parser.add_argument("--experiment", default=None,
                        help="experiment of R-shaped CSVs whose file name is not one of the "
                             "reference names (size, random_damage, constant_damage, size_x_damage)")
    parser.add_argument("--dataset", default="fashion",
                        help="dataset of such CSVs (default fashion)")
    parser.add_argument("--quiet", action="store_true", help="print only the files written")


def _parse_targets(items: list[str]) -> dict | None:
    from datavsmath.errors import UserError

    if not items:
        return None
    out: dict = {}
    for item in items:
        metric, sep, values = item.partition("=")
        metric = metric.strip()
        if not sep or metric not in METRICS:
            raise UserError(f"--targets {item!r}: write METRIC=V[,V...] with METRIC acc or auc, "
                            "e.g. --targets acc=0.85,0.9")
        try:
            vals = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--targets {item!r}: values must be numbers, e.g. acc=0.85,0.9") from None
        if not vals or any(not 0 < v < 1 for v in vals):
            raise UserError(f"--targets {item!r}: give values strictly between 0 and 1")
        out.setdefault(metric, []).extend(vals)
    return out


def _read(source: str, experiment: str | None, dataset: str):
    from pathlib import Path

    from datavsmath.errors import UserError
    from datavsmath.training.store import R_FILES, read_r_csv, read_results

    path = Path(source)
    if not path.exists():
        raise UserError(f"{source}: no such file or folder")
    try:
        if path.is_file() and experiment is not None and path.name not in R_FILES.values():
            import pandas as pd

            if "experiment" not in pd.read_csv(path, nrows=0).columns:
                return read_r_csv(path, experiment=experiment, dataset=dataset)
        return read_results(path)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise UserError(f"{source}: {exc}. For an R-shaped CSV with another name pass "
                        "--experiment NAME (and --dataset)") from None


def run(args: argparse.Namespace) -> int:
    import warnings
    from pathlib import Path

    import pandas as pd

    from datavsmath.stats import scaling
    from datavsmath.errors import UserError

    targets = _parse_targets(args.targets)
    metrics = METRICS if args.metric == "both" else (args.metric,)
    forms = [f.strip() for f in args.forms.split(",") if f.strip()]
    bad = [f for f in forms if f not in FORMS]
    if not forms or bad:
        raise UserError(f"--forms: unknown form(s) {bad}; choose from {','.join(FORMS)}")
    if targets:
        extra = [m for m in targets if m not in metrics]
        if extra:
            raise UserError(f"--targets names {extra} but --metric is {args.metric}")
    if args.n_boot < 20:
        raise UserError("--n-boot must be at least 20")

    frames, names = [], set()
    for source in args.sources:
        df = _read(source, args.experiment, args.dataset)
        if df.empty:
            raise UserError(f"{source}: holds no results yet")
        name = Path(source).stem if Path(source).is_file() else Path(source).resolve().name
        while name in names:  # two sources with the same name stay apart
            name += "'"
        names.add(name)
        frames.append(df.assign(source=name))
    df = pd.concat(frames, ignore_index=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scaling.ScalingWarning)  # reported in the summaries
        try:
            report = scaling.analyze(df, targets=targets, metrics=metrics, forms=forms,
                                     criterion=args.criterion, ci_method=args.ci_method,
                                     breakdown=args.breakdown, n_boot=args.n_boot, seed=args.seed,
                                     quiet=True)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        written = report.write(args.out)
    if not args.quiet:
        print(report.summary())
        print()
    for path in written:
        print(f"wrote {path}")
    return 0
