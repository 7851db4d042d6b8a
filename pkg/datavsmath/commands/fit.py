"""Scaling-law statistics on results folders or CSVs.

Fits learning curves (power law and exponential, each with and without a floor; more forms
with --forms) to the size experiment, estimates the training rows needed for target accuracies/AUCs, the R tables and a
modelled d(data)/d(quality) for the size x damage grid, breakdown points for the damage
experiments, and for the pruning experiment a power law per row-selection rule. Writes tidy
CSVs to DIR/tables/ (--to DIR; by default the results folder analysed) and prints a summary of
about one screen: per model and metric the chosen learning-curve form with its exponent and
floor (95% intervals), the training rows needed for the targets, the label-quality verdict
(d(data)/d(quality)) and the breakdown points; --verbose prints every summary in full.

tables written (those that apply to the sources):
  learning_curve_fits.csv        every form's parameters, 95% intervals, AICc and Akaike weight
  backtest.csv                   each form fitted to the sizes up to half the largest: error
                                 and 95% prediction-interval coverage on the held-out larger ones
  data_needed.csv                training rows for each target, model-averaged over forms
  observations_needed_acc90.csv  the R table method on the size x damage grid (and _auc98);
                                 with replicates, also the rule's spread across them
  data_quality_derivative.csv    modelled d(data)/d(quality), steps and overall
  joint_size_quality_law.csv     err(n, q) = c(q) + a (g(q) n)^-b fitted to the whole grid
  breakdown_points.csv           damage at which a model loses half its skill
  pruning_fits.csv               pruning: power law e = a n^-b per row-selection rule, its
                                 exponent and constant against random selection, 95% intervals
  pruning_crossover.csv          pruning: training rows where keep_easy and keep_hard cross

learning-curve forms (--forms; error e against training rows n):
  default   power a n^-b, power_floor c + a n^-b, exp a exp(-k n), exp_floor c + a exp(-k n)
  extended  opt-in, from the learning-curve literature (Domhan et al. 2015; Viering & Loog
            2022): power4 c + a (n + d)^-b, mmf c + a / (1 + (n/m)^h),
            weibull c + a exp(-(n/s)^h), vapor_pressure exp(a + b/n - k log n),
            log_power a / (1 + (n/m)^h)
  all       default and extended
  Names and sets combine: --forms default,weibull. More forms mean more near-ties in AICc:
  the model average then spreads its weight (and widens n*'s interval) over them.

The tables are checked first: a missing acc/auc column, text, a blank or a value outside
[0, 1] in a column analysed is an error naming the file, the column, the line and the value.
So are rows that would change what is analysed without a word (exit status 2, the lines
named): a fraction that is blank, not a number or out of range (frac_sample in (0, 1],
frac_damage in [0, 1]), and several rows for one cell (experiment, dataset, model, fractions,
replicate), whether their values conflict or repeat. --lenient analyses such tables anyway,
with a warning that counts the rows: out-of-range rows dropped, a cell's rows averaged as
replicates.

examples:
  datavsmath fit results/quick                             # -> results/quick/tables/
  datavsmath fit data/r-results/fashion-data-size-results.csv \\
      data/r-results/fashion-mnist-damage-results.csv --to /tmp/fit --targets acc=0.85,0.9
  datavsmath fit my-cross.csv --experiment size_x_damage --dataset fashion --to /tmp/fit
  datavsmath fit results/quick --forms all                 # the opt-in forms as well
"""

from __future__ import annotations

import argparse

from . import add_json_argument, add_results_argument, json_records

METRICS = ("acc", "auc")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``fit``'s arguments and options to its subparser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``fit`` subparser (:func:`datavsmath.cli.build_parser`).
    """
    add_results_argument(parser, "sources", dest="sources", old_to=True,
                         help_text="results folder (cells/ or results.csv), tidy results.csv, or an "
                                   "R-shaped CSV; several are analysed side by side")
    parser.add_argument("--to", metavar="DIR",
                        help="where the tables go: DIR/tables/ (default: RESULTS, when it is one "
                             "results folder)")
    parser.add_argument("--targets", action="append", default=[], metavar="METRIC=V[,V...]",
                        help="target metric values for 'data needed', e.g. acc=0.85,0.9 "
                             "(repeatable; default acc=0.85,0.9 and auc=0.98,0.99)")
    parser.add_argument("--metric", choices=METRICS + ("both",), default="both",
                        help="which metric(s) to analyse (default both)")
    parser.add_argument("--forms", default="default",
                        help="learning-curve forms to fit, comma-separated names or sets "
                             "(default, extended, all; see above); default: default = "
                             "power,power_floor,exp,exp_floor")
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
    parser.add_argument("--lenient", action="store_true",
                        help="analyse tables with out-of-range rows or several rows for one cell: "
                             "a warning counts them, the out-of-range rows are dropped and a cell's "
                             "rows are averaged as replicates (default: an error naming the rows)")
    parser.add_argument("--verbose", action="store_true",
                        help="print every summary in full (each form's fit, the notes, every table) "
                             "instead of the one-screen summary")
    parser.add_argument("--quiet", action="store_true", help="print only the files written")
    add_json_argument(parser, "sources, tables ({name: path}; the tables are written as usual), "
                              "data_needed (model, metric, frac_damage, target, verdict, n_needed, "
                              "ci_low, ci_high, note), derivative (the overall d(data)/d(quality) "
                              "rows), joint_law ({metric: status}); infinite limits as null")


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


def _table_file(path):
    """The CSV behind a source: the file itself, or a results folder's results.csv; None for a
    folder of cells (their records were checked when stored)."""
    if path.is_file():
        return path
    if path.is_dir() and not (path / "cells").is_dir() and (path / "results.csv").is_file():
        return path / "results.csv"
    return None


def _columns(csv, source: str) -> list[str]:
    """The header of ``csv``; a clear error for an empty file or one that is not a CSV."""
    import pandas as pd

    from datavsmath.errors import UserError

    try:
        return list(pd.read_csv(csv, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise UserError(f"{csv}: the file is empty; expected a CSV whose first line names its "
                        "columns: frac,exp_name,acc,auc (an R table) or a datavsmath results.csv") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{csv}: not a readable CSV ({exc})") from None


def _read(source: str, experiment: str | None, dataset: str):
    """(tidy results, header of the CSV they came from or None for a folder of cells)."""
    from pathlib import Path

    from datavsmath.errors import UserError
    from datavsmath.training.store import R_FILES, read_r_csv, read_results

    path = Path(source)
    if not path.exists():
        raise UserError(f"{source}: no such file or folder")
    csv = _table_file(path)
    columns = _columns(csv, source) if csv is not None else None
    try:
        if path.is_file() and experiment is not None and path.name not in R_FILES.values():
            if columns is not None and "experiment" not in columns:
                return read_r_csv(path, experiment=experiment, dataset=dataset), columns
        return read_results(path), columns
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise UserError(f"{source}: {exc}. For an R-shaped CSV with another name pass "
                        "--experiment NAME (and --dataset)") from None


def _where(df, i, csv: bool) -> str:
    """A row as its reader finds it: the CSV line (after the header), or the fit it records."""
    if csv:
        return f"line {i + 2}"
    row = df.loc[i]
    return (f"the {row['experiment']} fit of {row['model']} at frac_sample {row['frac_sample']}, "
            f"frac_damage {row['frac_damage']}, replicate {row['replicate']}")


def _check_metrics(df, source: str, columns, metrics) -> None:
    """Each analysed metric column is present and holds numbers in [0, 1] on every row;
    otherwise one UserError naming the file, the column, the row and the value. (A blank
    value is an error too: fitted, the row would silently drop out.)"""
    import pandas as pd

    from datavsmath.errors import UserError

    present = columns if columns is not None else list(df.columns)
    for m in metrics:
        other = "auc" if m == "acc" else "acc"
        if m not in present:
            raise UserError(f"{source}: no {m} column (columns: {','.join(map(str, present))}); add it, "
                            f"or analyse {other} alone with --metric {other}")
        values = pd.to_numeric(df[m], errors="coerce")
        for bad, problem in ((df[m].notna() & values.isna(), "is not a number"),
                             (df[m].isna(), "is empty"),
                             ((values < 0) | (values > 1), "is outside [0, 1]")):
            if bad.any():
                i = bad.idxmax()
                v = df.at[i, m]
                value = "" if pd.isna(v) else f" {v!r}" if isinstance(v, str) else f" {float(v):g}"
                raise UserError(f"{source}: column {m}, {_where(df, i, columns is not None)}: the value"
                                f"{value} {problem}; accuracies and AUCs are shares in [0, 1] (e.g. 0.87). "
                                f"Fix the row, drop it, or analyse {other} alone with --metric {other}")
        df[m] = values


#: columns that name one fit in a tidy table (those present are used)
CELL_KEYS = ("experiment", "dataset", "model", "frac_sample", "frac_damage", "noise_rule", "selection", "replicate")
#: what a fraction may be: (low, high, low included)
FRACTIONS = {"frac_sample": (0.0, 1.0, False), "frac_damage": (0.0, 1.0, True)}
#: rows named in one message; the rest are counted
MAX_NAMED = 5


def _out_of_range(df, csv: bool) -> list[tuple[int, str]]:
    """(row, what is wrong) for each row whose fractions are blank, not numbers or out of range."""
    import pandas as pd

    out: dict[int, str] = {}
    for col, (lo, hi, lo_in) in FRACTIONS.items():
        if col not in df.columns:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        inside = ((values >= lo) if lo_in else (values > lo)) & (values <= hi)
        span = f"{'[' if lo_in else '('}{lo:g}, {hi:g}]"
        for i in df.index[~inside.fillna(False).astype(bool)]:
            v = df.at[i, col]
            what = "is empty" if pd.isna(v) else (f"{v!r} is not a number" if pd.isna(values[i])
                                                    else f"{float(v):g} is outside {span}")
            out.setdefault(i, f"{_where(df, i, csv)}: {col} {what}")
    return sorted(out.items())


def _same_cell(df, metrics, csv: bool) -> list[tuple[list, str]]:
    """(rows, description) for each cell held by more than one row: a merged cell would count
    its rows as replicates of one fit."""
    keys = [k for k in CELL_KEYS if k in df.columns]
    repeated = df[df.duplicated(keys, keep=False)]
    out = []
    for _, part in repeated.groupby(keys, dropna=False, sort=False):
        rows = list(part.index)
        values = {m: sorted({float(v) for v in part[m]}) for m in metrics}
        conflict = [f"{m} {' and '.join(f'{v:g}' for v in vs)}" for m, vs in values.items() if len(vs) > 1]
        where = (f"lines {', '.join(str(i + 2) for i in rows)}" if csv
                 else " and ".join(_where(df, i, csv) for i in rows))
        cell = ", ".join(f"{k} {part.iloc[0][k]}" for k in keys if k not in ("experiment", "dataset"))
        out.append((rows, f"{where}: one cell ({cell}) " + (f"with conflicting values, {'; '.join(conflict)}"
                                                          if conflict else "repeated")))
    return out


def _check_rows(df, source: str, columns, metrics, lenient: bool):
    """``df`` when every row is in range and every cell has one row per replicate. Otherwise
    one UserError naming the rows (the first ``MAX_NAMED`` problems), or with ``lenient`` a
    warning counting them and ``df`` without the out-of-range rows (a cell's several rows stay:
    the fits average them as replicates)."""
    import sys

    from datavsmath.errors import UserError

    csv = columns is not None
    bad = _out_of_range(df, csv)
    dups = _same_cell(df, metrics, csv)
    if not bad and not dups:
        return df
    counts = ", ".join(part for part in (
        f"{len(bad)} row(s) with a fraction blank or out of range" if bad else "",
        f"{len(dups)} cell(s) given by {sum(len(r) for r, _ in dups)} rows" if dups else "") if part)
    if lenient:
        print(f"datavsmath fit: warning: {source}: {counts}; --lenient: "
              + "; ".join(part for part in ("the out-of-range rows are left out" if bad else "",
                                            "each cell's rows are averaged as replicates" if dups else "") if part),
              file=sys.stderr)
        return df.drop(index=[i for i, _ in bad])
    named = [what for _, what in bad] + [what for _, what in dups]
    more = f"; and {len(named) - MAX_NAMED} more" if len(named) > MAX_NAMED else ""
    raise UserError(f"{source}: {counts}, which the analysis would drop or merge: "
                    f"{'; '.join(named[:MAX_NAMED])}{more}. Fix or remove those rows, or pass --lenient "
                    "to analyse the table anyway (out-of-range rows left out, a cell's rows averaged)")


def _tables_dir(args) -> str:
    """--to, else the one source when it is a results folder (where its tables belong)."""
    from pathlib import Path

    from datavsmath.errors import UserError

    to = args.to
    if to is not None:
        return to
    if len(args.sources) == 1 and Path(args.sources[0]).is_dir():
        return args.sources[0]
    raise UserError("say where the tables go with --to DIR (they are written to DIR/tables/)")


def run(args: argparse.Namespace) -> int:
    """Fit the learning curves and print (or write with ``--to``) the statistics asked for.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line, its results folder settled
        (:func:`datavsmath.commands.finish_results_argument`).

    Returns
    -------
    int
        The exit status: 0 the statistics were printed or written.

    Raises
    ------
    UserError
        Bad input (a folder that does not exist, an unreadable table, a bad option); the command
        line prints it as one line and exits with status 2.
    """
    import textwrap
    import warnings
    from pathlib import Path

    import pandas as pd

    from datavsmath.errors import UserError
    from datavsmath.stats import scaling

    to = _tables_dir(args)
    targets = _parse_targets(args.targets)
    metrics = METRICS if args.metric == "both" else (args.metric,)
    from datavsmath.stats.forms import learning_forms

    try:
        forms = list(learning_forms(args.forms))
    except ValueError as exc:
        raise UserError(f"--forms: {exc}") from None
    if targets:
        extra = [m for m in targets if m not in metrics]
        if extra:
            raise UserError(f"--targets names {extra} but --metric is {args.metric}")
    if args.n_boot < 20:
        raise UserError("--n-boot must be at least 20")

    frames, names = [], set()
    for source in args.sources:
        df, columns = _read(source, args.experiment, args.dataset)
        if df.empty:
            raise UserError(f"{source}: holds no results yet" if columns is None else
                            f"{source}: has a header but no rows of results")
        _check_metrics(df, source, columns, metrics)
        df = _check_rows(df, source, columns, metrics, args.lenient)
        from datavsmath.report.site import describe_source

        if not args.json:
            print(textwrap.fill(describe_source(source, df), 100, subsequent_indent="  "), flush=True)
        name = Path(source).stem if Path(source).is_file() else Path(source).resolve().name
        while name in names:  # two sources with the same name stay apart
            name += "'"
        names.add(name)
        frames.append(df.assign(source=name))
    df = pd.concat(frames, ignore_index=True)
    if not args.json:  # the fits take from seconds to a minute or two: say so before they start
        print(f"fitting {len(df):,} results: learning curves, rows needed, damage laws ...", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scaling.ScalingWarning)  # reported in the summaries
        try:
            report = scaling.analyze(df, targets=targets, metrics=metrics, forms=forms,
                                     criterion=args.criterion, ci_method=args.ci_method,
                                     breakdown=args.breakdown, n_boot=args.n_boot, seed=args.seed,
                                     quiet=True)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        written = report.write(to)
    if args.json:
        print(_json_report(report, args.sources, written))
        return 0
    if args.quiet or args.verbose:
        if args.verbose:
            print(report.summary())
            print()
        for path in written:
            print(f"wrote {path}")
        return 0
    from .fit_summary import short_summary

    print(short_summary(report, Path(to) / "tables", written))
    return 0


def _json_report(report, sources, written) -> str:
    """``fit --json``: what a script needs from the tables just written (see the help)."""
    import json

    tables = report.tables()
    out = {"sources": list(sources),
           "tables": {p.stem: str(p) for p in written}}
    need = tables.get("data_needed")
    out["data_needed"] = [] if need is None else json_records(need, [
        "source", "dataset", "experiment", "model", "metric", "frac_damage", "form", "target",
        "verdict", "n_needed", "ci_low", "ci_high", "extrapolation_factor", "note"])
    deriv = tables.get("data_quality_derivative")
    out["derivative"] = [] if deriv is None else json_records(
        deriv[(deriv["scope"] == "overall") & (deriv["form"] == "average")],
        ["model", "metric", "threshold", "quality_high", "quality_low", "derivative_frac",
         "ci_low_frac", "ci_high_frac", "elasticity", "elasticity_ci_low", "elasticity_ci_high",
         "note"])
    joint = tables.get("joint_law")
    out["joint_law"] = ({} if joint is None or "status" not in joint else
                        dict(joint.drop_duplicates("metric")[["metric", "status"]].itertuples(index=False)))
    return json.dumps(out, indent=2)
