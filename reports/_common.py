"""Display helpers of the report pages: Markdown, callouts, tables and figures.

Everything a page computes comes from the package (:mod:`datavsmath.report.site`,
:mod:`datavsmath.report.build`, :mod:`datavsmath.report.findings`,
:mod:`datavsmath.report.formatting`, :mod:`datavsmath.report.verdicts`, :mod:`datavsmath.report.parity`,
:mod:`datavsmath.stats.parity`): the names below are re-exported so that a page reads
``C.headline(...)``, and a user gets the same numbers without Quarto (``datavsmath parity``).

Text is emitted as ``text/markdown`` outputs, which Quarto renders as Markdown; a missing input
is announced with a visible note that also carries a marker, ``[absent: table <file>]`` or
``[absent: experiment <name>]``, which the report tests check against the folder.
"""

from __future__ import annotations

import base64
import html
import io

import pandas as pd
from IPython.display import Markdown, display

from datavsmath.report.findings import (  # noqa: F401
    Steps, cell_means_table, compare_costs, headline, headline_table, nearest, steps, values)
from datavsmath.report.formatting import fmt_ci, fmt_interval, fmt_num, loss_words  # noqa: F401
from datavsmath.report.verdicts import (  # noqa: F401
    breakdown_verdict, derivative_verdict, scaling_verdict, size_verdict, size_x_damage_verdict)
from datavsmath.report.tables import (  # noqa: F401
    advice_view, backtest_view, breakdown_table, choice_table, coverage_view, derivative_caption, derivative_table,
    fits_table, joint_law_view, needed_table, replicate_note, runs_alone, talk_comparison)
from datavsmath.report.parity import (KNOWN_DIFFERENCES, describe_systematic,  # noqa: F401
                                      parity_verdict_text, readable_cells, readable_summary)
from datavsmath.report.site import (EXPERIMENT_NAMES, MODEL_NAMES, R_RESULTS, ROOT, TABLES,  # noqa: F401
                                    Site, coverage_study, load, r_results, r_talk_tables, relative)
from datavsmath.report.build import (build_stamp, build_summary, devices, duration, hardware,  # noqa: F401
                                     provenance_table, readable_timings, timings, versions_table)
from datavsmath.stats.parity import (LEVEL, diff_ci, mean_ci, model_order,  # noqa: F401
                                     outliers, parity_cells, parity_summary, prediction_interval,
                                     systematic_differences)

FIG_SIZE = (7, 4.6)  # inches: text stays readable when the image is fitted to a 530 px column
DPI = 150  # 1,050 px wide, sharp on the 800 px column at 1280 px and on high-density screens


def md(text: str) -> None:
    """Show Markdown: a ``text/markdown`` output, which Quarto renders as part of the page."""
    display(Markdown(text.strip("\n") + "\n"))


def opening(site: Site, text: str, experiment: str | None = None, title: str = "Verdict") -> None:
    """What every page shows first, directly under its title: its verdict (the answer in one
    or two sentences, with intervals, or "undetermined" and why), then the notices and the
    build stamp (:func:`banner`), then a note on the experiment's grid or its absence."""
    verdict(text, title)
    banner(site)
    if experiment is not None:
        if not site.has(experiment):
            absent_experiment(experiment)
        elif site.note(experiment):
            md(f"*Grid of this profile:* {site.note(experiment)}")


def size_datasets(res: pd.DataFrame) -> list[str]:
    """The datasets of the size experiment, Fashion-MNIST first: one learning-curve figure each."""
    seen = set(res.loc[res["experiment"] == "size", "dataset"].dropna())
    return sorted(seen, key=lambda d: (d != "fashion", d))


def cost_verdicts(h: pd.DataFrame) -> str:
    """Per model of a headline frame: is the costlier damage step worse than the data step,
    decided on the difference's interval (:func:`compare_costs`), grouped by the answer:
    "undetermined for RF, DNN (damage loss minus data loss +0.000 [-0.010, +0.010], ...);
    XGB, CNN: single runs (+0.008, -0.002)"."""
    import math

    from datavsmath.report.findings import cost_difference

    groups: dict[str, list[str]] = {}
    for r in h.to_dict("records"):
        worse = max(("random", "constant"), key=lambda k: -math.inf if math.isnan(r[f"{k}_est"]) else r[f"{k}_est"])
        data, damage = (r["data_est"], r["data_lo"], r["data_hi"]), (r[f"{worse}_est"], r[f"{worse}_lo"], r[f"{worse}_hi"])
        word = compare_costs(data, damage).split(":")[0]
        est, lo, hi = (round(v, 3) + 0.0 for v in cost_difference(data, damage))  # + 0.0: no "-0.000"
        interval = f"{est:+.3f}" if math.isnan(lo) else f"{est:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        key = "single runs, so undetermined" if word.startswith("undetermined") and math.isnan(lo) else word
        groups.setdefault(key, []).append(f"{r['model'].upper()} ({worse}) {interval}")
    return "; ".join(f"{key} for " + ", ".join(items) for key, items in groups.items()) + \
        " (damage loss minus data loss, accuracy)."


def missing(site: Site, experiment: str) -> str:
    """The verdict of a page whose experiment has no fits in the folder."""
    return (f"Undetermined: `{relative(site.folder)}` holds no {EXPERIMENT_NAMES.get(experiment, experiment)} "
            "fits, so this page has nothing to answer from.")


def callout(kind: str, title: str, body: str) -> None:
    md(f"::: {{.callout-{kind}}}\n## {title}\n\n{body.strip()}\n:::\n")


def banner(site: Site) -> None:
    """The loud notice on every page when the site is not built from the complete full grid
    (or holds fits of an older model recipe), then the build stamp (results folder, their
    hash, commit, date)."""
    _notice(site)
    _outdated_notice(site)
    md(f"::: {{.build-stamp}}\n{build_stamp(site)}\n:::")


def _notice(site: Site) -> None:
    from datavsmath.training.store import describe_replicates

    reps = describe_replicates(site.replicates_by_model())
    where = relative(site.folder)
    if site.profile == "full" and site.complete:
        md(f"*Built from the full grid in `{where}`; {reps}.*")
        return
    if site.profile == "quick":
        callout("warning", "PREVIEW: built from the `quick` profile, not the full grid",
                f"These pages show the quick preview in `{where}`: a few cells of each "
                f"experiment ({reps}), some trained on fewer rows than R used. Numbers and shapes are "
                "indicative only; for the findings run the full grids (`make reproduce` for R's four "
                "experiments, `make beyond` for pruning and the noise models) and rebuild.")
    elif site.profile == "full":
        callout("warning", "INCOMPLETE: the full grid has not finished",
                f"`{where}` holds a partial full run ({reps}); missing cells are simply absent.")
    else:
        callout("warning", f"Built from `{site.profile}` results, not our full grid",
                f"Source: `{where}` ({reps}). No provenance says these are a complete full run.")


def _outdated_notice(site: Site) -> None:
    from datavsmath.training.units import describe_outdated

    old = site.outdated()
    if old:
        callout("warning", f"OUTDATED: {sum(old.values())} fits were trained under an older model recipe",
                f"{describe_outdated(old)}. They were trained before the networks followed keras "
                "2.2's RMSprop update and loss (see Methods, deviations); their numbers are shown "
                "as they are. `datavsmath run` on the folder retrains them.")


def sample_grid(size=(7, 3.6)) -> None:
    """The first training image of each class, or a note where the dataset's files are not found."""
    from datavsmath.report import figures

    samples = figures.sample_images()
    if samples is None:
        md("*The Fashion-MNIST files were not found, so the sample images are not shown "
           "(`datavsmath data` says where they are looked for).*")
    else:
        plot(samples, size=size)
        md("*The first training image of each of the ten classes, as the talk showed them "
           "(`datavsmath figures` writes it as `sample-images.png`).*")


def absent(kind: str, name: str, what: str, how: str = "") -> None:
    """Announce a missing input (kind "table" or "experiment") visibly and with a marker."""
    # the marker sits in an HTML comment: invisible on the page, checked by the report tests
    callout("note", f"Not available: {what}", f"<!-- [absent: {kind} {name}] -->\n{how}")


def absent_table(name: str, what: str) -> None:
    absent("table", name, what,
           f"`tables/{name}` is not in the results folder yet; `datavsmath fit` writes it.")


def absent_experiment(name: str) -> None:
    absent("experiment", name, f"the {EXPERIMENT_NAMES.get(name, name)} experiment",
           f"The results hold no `{name}` fits; `datavsmath run` produces them.")


def show(df: pd.DataFrame, caption: str | None = None, digits: int = 4, collapsed: bool = False,
         index: bool = False, empty: str | None = None) -> None:
    """Display a table as a Markdown pipe table (no script needed to show it): floats rounded
    to ``digits``, NaN as an empty cell. Columns holding one value on every row are stated once
    above the table instead. A table with no rows becomes the sentence ``empty``."""
    md(markdown_table(df, caption=caption, digits=digits, collapsed=collapsed, index=index, empty=empty))


def markdown_table(df: pd.DataFrame, caption: str | None = None, digits: int = 4, collapsed: bool = False,
                   index: bool = False, empty: str | None = None) -> str:
    out = df.reset_index() if index else df.copy()
    if out.empty:
        return f"*{empty or ((caption + ': ') if caption else '') + 'no rows.'}*"
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: _num(v, digits))
    out = out.astype(object).where(out.notna(), "")
    const = ""
    if len(out) > 1 and out.shape[1] > 2:
        same = [c for c in out.columns if out[c].astype(str).nunique() == 1]
        if same and len(same) < out.shape[1] - 1:
            const = "; ".join(f"{c}: {out[c].iloc[0]}" for c in same if str(out[c].iloc[0]) != "")
            out = out.drop(columns=same)
    # written out, not DataFrame.to_markdown: tabulate pads every column to its widest cell, and
    # pandoc sizes the columns of a pipe table wider than 72 characters by the dashes under its
    # header; three dashes per column keep those columns equal, as the pages have them
    cell = lambda v: _escape(str(v)).replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in out.columns) + " |",
             "|" + "|".join("---" for _ in out.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in out.itertuples(index=False)]
    table = "\n".join(lines)
    head = ""
    if caption:
        head = f"*{caption}*" + (f" (every row: {const})" if const else "")
    elif const:
        head = f"*Every row: {const}.*"
    if collapsed:
        return (f"<details><summary>{html.escape(caption or 'Table')} ({len(df)} rows)</summary>\n\n"
                + (f"*Every row: {const}.*\n\n" if const else "") + table + "\n\n</details>\n")
    return (head + "\n\n" if head else "") + table + "\n"


_MD_SPECIAL = set("\\`*_[]<>$|~^")


def _escape(text: str) -> str:
    """A table cell as literal text: Markdown's special characters escaped, and "--" kept as two
    hyphens (not a smart dash: command lines stay copyable)."""
    out = "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)
    return out.replace("--", "-\\-")


def download(site: Site, name: str, what: str | None = None) -> None:
    """A link that downloads ``tables/<name>`` in full (embedded in the page, so it works
    offline and needs no copy of the results folder next to the site)."""
    path = site.folder / "tables" / name
    if not path.is_file():
        return
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    n = sum(1 for _ in path.open()) - 1
    md(f'<a download="{html.escape(name)}" href="data:text/csv;base64,{data}">Download '
       f'`{name}`</a> ({what or "the full table"}: {n:,} rows, every column).')


def _num(v: float, digits: int) -> str:
    if pd.isna(v):
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"


def plot(fig, size: tuple[float, float] = FIG_SIZE) -> None:
    """Show a plotnine figure sized for the page (16:9) as a PNG with no width or height of its
    own, so the page's CSS fits it to the column (max-width 100%)."""
    from IPython.display import Image
    from plotnine import element_text, theme

    buf = io.BytesIO()
    look = theme(figure_size=size, dpi=DPI, legend_position="bottom",
                 legend_text=element_text(size=11), legend_title=element_text(size=11),
                 axis_text=element_text(size=10))
    (fig + look).save(buf, format="png", verbose=False)
    display(Image(data=buf.getvalue(), format="png"))


def verdict(text: str, title: str = "Verdict") -> None:
    """The page's verdict: a callout (class ``callout-tip``, titled "Verdict") answering the
    page's question with the numbers shown; the browser check looks for it on every page."""
    callout("tip", title, text)


def parity_verdict(cells: pd.DataFrame) -> None:
    """The parity page's verdict callout."""
    verdict(parity_verdict_text(cells))


def talk_tables(site: Site) -> None:
    """The talk's two "observations needed" tables, each beside ours (R's rule, and the
    modelled n* with its interval), or a note on what is missing."""
    talk = r_talk_tables()
    deriv = site.table("data_quality_derivative.csv")
    for metric, threshold, name in (("acc", 0.90, "observations_needed_acc90.csv"),
                                    ("auc", 0.98, "observations_needed_auc98.csv")):
        ours = site.table(name)
        if ours is None and deriv is None:
            absent_table(name, f"observations needed for {metric} > {threshold:.2f}")
            continue
        show(talk_comparison(talk, ours, deriv, metric, threshold),
             caption=f"Training rows needed for CNN {metric} > {threshold:.2f} by label quality: the talk's "
                     "table (one R run), ours by R's rule (the cell just above the threshold; metric in "
                     "brackets), and the rows the learning curve at that quality needs (95% CI)")


def observations_table(site: Site, name: str, metric: str, threshold: str) -> None:
    """Show one of the talk's "observations needed" tables with its steps in words."""
    table = site.table(name)
    if table is None:
        absent_table(name, f"observations needed for {metric} > {threshold}")
        return
    if table.empty:
        md(f"*No cell of the size x damage grid reaches {metric} > {threshold} at any label quality, "
           f"so `tables/{name}` has no rows: the grid's largest sample is too small for this threshold.*")
        return
    shown = pd.DataFrame({
        "quality": table["quality"].map(lambda v: f"{v:g}"),
        metric: table[metric].map(lambda v: "" if pd.isna(v) else f"{v:.3f}"),
        "sample fraction": table["frac_sample"].map(lambda v: f"{v:.0%}"),
        "observations": table["num_obs"].map(lambda v: f"{v:,.0f}"),
        "change from the quality above": table["d_obs"].map(lambda v: "" if pd.isna(v) else f"{v:+.0%}"),
    })
    if "reaching" in table.columns:  # replicates: R's rule on each run alone, as R had one run
        shown["each run alone: median (range; runs reaching)"] = [
            runs_alone(*row) for row in table[["num_obs_median", "num_obs_min", "num_obs_max", "reaching",
                                               "replicates"]].itertuples(index=False)]
    show(shown, caption=f"Observations needed for {metric} > {threshold} (tables/{name})")
    if len(table) < 2:
        md("*Fewer than two quality levels reach the threshold, so no change can be computed.*")


def parity_plot(site: Site, cells: pd.DataFrame, metric: str) -> None:
    """The parity figure of one metric, or a note saying why there is none."""
    from datavsmath.report import figures

    if (cells["metric"] == metric).any():
        plot(figures.parity_figure(cells, metric))
    elif not site.has("size"):
        absent_experiment("size")
    else:
        md("*No Fashion-MNIST cell of ours matches one of R's, so there is nothing to draw.*")


def cli_reference() -> list[tuple[str, str, str]]:
    """(command, one-line help, full ``--help`` text) for ``datavsmath`` and each subcommand,
    from the argument parsers themselves: the CLI reference can never drift from the code."""
    import io
    from contextlib import redirect_stdout

    from datavsmath.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse keeps them here

    def text(p) -> str:
        buf = io.StringIO()
        with redirect_stdout(buf):
            p.print_help()
        return buf.getvalue()

    out = [("datavsmath", parser.description or "", text(parser))]
    out += [(f"datavsmath {name}", COMMANDS[name], text(sub.choices[name])) for name in COMMANDS]
    return out


def cli_page() -> None:
    """The CLI reference: each command's one-line purpose, then its whole --help."""
    for name, purpose, helptext in cli_reference():
        md(f"## `{name}` {{#{name.replace(' ', '-')}}}\n\n{purpose}\n\n```text\n{helptext.rstrip()}\n```")
