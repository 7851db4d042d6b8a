"""Display helpers of the report pages: Markdown, callouts, tables and figures.

Everything a page computes comes from the package (:mod:`datavsmath.report.site`,
:mod:`datavsmath.report.findings`, :mod:`datavsmath.report.parity`,
:mod:`datavsmath.stats.parity`): the names below are re-exported so that a page reads
``C.headline(...)``, and a user gets the same numbers without Quarto (``datavsmath parity``).

Text is emitted as ``text/markdown`` outputs, which Quarto renders as Markdown; a missing input
is announced with a visible note that also carries a marker, ``[absent: table <file>]`` or
``[absent: experiment <name>]``, which the report tests check against the folder.
"""

from __future__ import annotations

import html

import pandas as pd
from IPython.display import HTML, Markdown, display

from datavsmath.report.findings import (Steps, cell_means_table, compare_costs, fmt_ci,  # noqa: F401
                                        headline, headline_table, nearest, steps, values)
from datavsmath.report.parity import (KNOWN_DIFFERENCES, describe_systematic,  # noqa: F401
                                      parity_verdict_text, readable_cells, readable_summary)
from datavsmath.report.site import (EXPERIMENT_NAMES, MODEL_NAMES, R_RESULTS, ROOT, TABLES,  # noqa: F401
                                    Site, devices, hardware, load, provenance_table, r_results,
                                    relative, timings, versions_table)
from datavsmath.stats.parity import (LEVEL, MODEL_ORDER, diff_ci, mean_ci,  # noqa: F401
                                     outliers, parity_cells, parity_summary, prediction_interval,
                                     systematic_differences)

FIG_SIZE = (8, 4.5)  # inches, 16:9 like the exported PNGs


def md(text: str) -> None:
    """Show Markdown: a ``text/markdown`` output, which Quarto renders as part of the page."""
    display(Markdown(text.strip("\n") + "\n"))


def callout(kind: str, title: str, body: str) -> None:
    md(f"::: {{.callout-{kind}}}\n## {title}\n\n{body.strip()}\n:::\n")


def banner(site: Site) -> None:
    """The loud notice on every page when the site is not built from the complete full grid."""
    lo, hi = site.replicates
    reps = f"{hi} replicate{'s' if hi != 1 else ''} per cell" + (f" (some have {lo})" if lo != hi else "")
    where = relative(site.folder)
    if site.profile == "full" and site.complete:
        md(f"*Built from the full grid in `{where}`, {reps}.*")
        return
    if site.profile == "quick":
        callout("warning", "PREVIEW: built from the `quick` profile, not the full grid",
                f"These pages show the quick preview in `{where}`: a few cells of each "
                f"experiment ({reps}), some trained on fewer rows than R used. Numbers and shapes are "
                "indicative only; run `datavsmath run --profile full` and rebuild for the findings.")
    elif site.profile == "full":
        callout("warning", "INCOMPLETE: the full grid has not finished",
                f"`{where}` holds a partial full run ({reps}); missing cells are simply absent.")
    else:
        callout("warning", f"Built from `{site.profile}` results, not our full grid",
                f"Source: `{where}` ({reps}). No provenance says these are a complete full run.")


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
         index: bool = False) -> None:
    """Display a table as HTML: floats rounded to ``digits``, NaN as an empty cell."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: _num(v, digits))
    table = out.to_html(index=index, na_rep="", border=0, classes="table table-sm", escape=True)
    if caption:
        table = f"<p><em>{html.escape(caption)}</em></p>" + table
    if collapsed:
        summary = html.escape(caption or "Table")
        table = f"<details><summary>{summary} ({len(df)} rows)</summary>{table}</details>"
    display(HTML(table))


def _num(v: float, digits: int) -> str:
    if pd.isna(v):
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"


def plot(fig) -> None:
    """Show a plotnine figure sized for the page (16:9)."""
    from plotnine import theme

    display(fig + theme(figure_size=FIG_SIZE, dpi=110))



def parity_verdict(cells: pd.DataFrame) -> None:
    """The parity page's verdict callout."""
    callout("tip", "Verdict", parity_verdict_text(cells))


def observations_table(site: Site, name: str, metric: str, threshold: str) -> None:
    """Show one of the talk's "observations needed" tables with its steps in words."""
    table = site.table(name)
    if table is None:
        absent_table(name, f"observations needed for {metric} > {threshold}")
        return
    shown = table.copy()
    if metric in shown:
        shown[metric] = shown[metric].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    show(shown, caption=f"Observations needed for {metric} > {threshold} (tables/{name})")
    changes = table.dropna(subset=["d_obs"]) if "d_obs" in table else table.iloc[0:0]
    if len(changes):
        md("\n".join(f"- quality {q:g}: {d:+.0%} observations compared with the quality above"
                    for q, d in zip(changes["quality"], changes["d_obs"])))
    elif len(table) < 2:
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
