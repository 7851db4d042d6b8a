"""What the Exchange rates page (and the home page's headline) shows: every lever priced in
training rows of a baseline, from ``exchange_rates.csv`` (written by ``datavsmath exchange
RESULTS --to RESULTS``; :mod:`datavsmath.stats.exchange`).

The levers come from the folder that measures them: the site's folder (results/full) for the
better-math and cleaner-labels levers, the preview (results/quick) for the levers that have no
full run yet; :func:`combine` keeps, per family, the rows of the first folder that has any,
and says which.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from plotnine import (
    aes,
    element_text,
    geom_point,
    geom_segment,
    geom_vline,
    ggplot,
    labs,
    scale_color_manual,
    scale_shape_manual,
    scale_x_log10,
    theme,
)

from ..stats.exchange import FAMILIES
from .formatting import fmt_interval, fmt_num, is_missing
from .theme import FEW_DARK, theme_few

__all__ = ["FAMILY_COLORS", "LAWS", "TABLE", "transfer_view", "combine", "exchange_figure", "exchange_verdict", "exchange_view",
           "headline_rows", "site_laws", "site_rates"]

#: the tables ``datavsmath exchange RESULTS --to RESULTS`` writes under <results>/tables/
TABLE = "exchange_rates.csv"
LAWS = "transfer_laws.csv"

#: one colour per lever family, from the palette every figure uses
FAMILY_COLORS = dict(zip(FAMILIES, FEW_DARK[1:6]))
#: the pair the home page shows for a family, in order of preference: the talk's comparison
#: (the CNN against the forest), the talk's 80% label quality, the CNN's own levers
_PREFERRED = {
    "better math": [("cnn", "rf"), ("cnn", "xgb"), ("dnn", "rf")],
    "cleaner labels": [("cnn, clean labels", "cnn at quality 0.8")],
    "augmentation": [("cnn_aug", "cnn"), ("dnn_aug", "dnn")],
    "pretraining": [("cnn_from_mnist", "cnn")],
    "pruning": [("cnn, keep easy", "cnn, random rows"), ("dnn, keep easy", "dnn, random rows"),
                ("rf, keep easy", "rf, random rows")],
}


def combine(tables: dict[str, pd.DataFrame | None]) -> pd.DataFrame:
    """Per dataset and lever family, the rows of the first table (in the order given) that
    prices it.

    Parameters
    ----------
    tables : source label (e.g. "results/full") -> ``exchange_rates.csv`` as read, or None

    Returns
    -------
    DataFrame with the tables' columns and ``source`` (the label of the table each row came
    from); empty when no table has rows.
    """
    parts = []
    datasets = list(dict.fromkeys(d for t in tables.values() if t is not None for d in t["dataset"]))
    for dataset in datasets:
        for family in FAMILIES:
            for source, table in tables.items():
                if table is None:
                    continue
                rows = table[(table["dataset"] == dataset) & (table["family"] == family)]
                if len(rows):
                    parts.append(rows.assign(source=source))
                    break
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def site_rates(root) -> tuple[pd.DataFrame, list[str]]:
    """The site's exchange rates: :func:`combine` of the site's folder
    (:func:`datavsmath.report.site.default_results_dir`) and the preview, results/quick; the
    folder in ``$DATAVSMATH_RESULTS`` alone when that is set.

    Parameters
    ----------
    root : the project checkout holding results/

    Returns
    -------
    (combined rows, the folders read, as paths relative to ``root``; empty when neither
    folder has the table)
    """


    tables = _site_tables(root, TABLE)
    return combine(tables), [k for k, v in tables.items() if v is not None]


def site_laws(root) -> pd.DataFrame | None:
    """The pretraining laws (``transfer_laws.csv``) of the first folder :func:`site_rates`
    reads that has them.

    Parameters
    ----------
    root : the project checkout holding results/

    Returns
    -------
    DataFrame, or None when no folder has the table.
    """
    return next((t for t in _site_tables(root, LAWS).values() if t is not None), None)


def _site_tables(root, name: str) -> dict[str, pd.DataFrame | None]:
    """``tables/<name>`` of the site's folder and of the preview (the reader's folder alone
    when ``$DATAVSMATH_RESULTS`` is set), by folder label (relative to ``root``)."""
    from pathlib import Path

    from .site import default_results_dir

    root = Path(root)
    folders = [default_results_dir(root)]
    if not os.environ.get("DATAVSMATH_RESULTS"):  # a folder chosen by the reader is read alone
        folders = list(dict.fromkeys([*folders, root / "results" / "quick"]))
    out = {}
    for folder in folders:
        path = folder / "tables" / name
        label = str(folder.relative_to(root)) if folder.is_relative_to(root) else str(folder)
        out[label] = pd.read_csv(path) if path.is_file() else None
    return out


def transfer_view(laws: pd.DataFrame) -> pd.DataFrame:
    """The pretraining laws for the page: D_T = k n^alpha per pretrained model.

    Parameters
    ----------
    laws : ``transfer_laws.csv`` (:func:`datavsmath.stats.transfer.transfer_table`)

    Returns
    -------
    DataFrame: Dataset, Pretrained model, Baseline, k [95%], alpha [95%], Sizes fitted, Note.
    """
    return pd.DataFrame({
        "Dataset": laws["dataset"], "Pretrained model": laws["lever"], "Baseline": laws["baseline"],
        "k [95%]": [fmt_interval(r.k, r.k_ci_low, r.k_ci_high) for r in laws.itertuples()],
        "alpha [95%]": ["n/a" if is_missing(r.alpha) else
                        f"{r.alpha:.2f} [{r.alpha_ci_low:.2f}, {r.alpha_ci_high:.2f}]" for r in laws.itertuples()],
        "Sizes fitted": laws["sizes_fitted"], "Note": laws["note"].fillna("")}).reset_index(drop=True)


def _rows_words(r) -> str:
    """n_eff with its interval, or the verdict in words."""
    if r.verdict == "reachable":
        return fmt_interval(r.n_eff, r.ci_low, r.ci_high)
    if r.verdict == "not reachable":
        return "never (the baseline's floor is above it)"
    low = "" if is_missing(r.ci_low) else f"at least {fmt_num(r.ci_low)}"
    return f"undetermined{': ' + low if low else ''}"


def _mult_words(r) -> str:
    if r.verdict != "reachable":
        return "-"
    return f"x{r.multiplier:.2f} [{r.mult_ci_low:.2f}, {r.mult_ci_high:.2f}]"


def exchange_view(table: pd.DataFrame, n: float | None = None, dataset: str = "fashion") -> pd.DataFrame:
    """The page's table: one row per lever against its baseline at ``n`` real rows.

    Parameters
    ----------
    table : :func:`combine`'s rows (or ``exchange_rates.csv``)
    n : the real rows to show (default the smallest priced)
    dataset : dataset to show

    Returns
    -------
    DataFrame: Lever family, Lever, Baseline, Real rows, Baseline rows worth the same [95%],
    Multiplier [95%], Verdict, and Source when the rows come from several folders.
    """
    if table.empty or "dataset" not in table.columns:
        return pd.DataFrame()
    t = table[table["dataset"] == dataset]
    if t.empty:
        return pd.DataFrame()
    n = float(t["n"].min()) if n is None else n
    t = t[np.isclose(t["n"].astype(float), n)]
    out = pd.DataFrame({
        "Lever family": t["family"], "Lever": t["lever"], "Baseline": t["baseline"],
        "Real rows": [f"{v:,.0f}" for v in t["n"]],
        "Baseline rows worth the same [95%]": [_rows_words(r) for r in t.itertuples()],
        "Multiplier [95%]": [_mult_words(r) for r in t.itertuples()],
        "Verdict": t["verdict"]})
    if "source" in t.columns and t["source"].nunique() > 1:
        out["Source"] = t["source"].to_numpy()
    return out.reset_index(drop=True)


def headline_rows(table: pd.DataFrame, dataset: str = "fashion") -> pd.DataFrame:
    """One row per lever family for the home page: the preferred pair (see ``_PREFERRED``),
    else the family's first, at the smallest n priced.

    Parameters
    ----------
    table : :func:`combine`'s rows (or ``exchange_rates.csv``)
    dataset : dataset to show

    Returns
    -------
    DataFrame: :func:`exchange_view`'s columns, one row per family measured.
    """
    view = exchange_view(table, dataset=dataset)
    if view.empty:
        return view
    keep = []
    for family in FAMILIES:
        rows = view[view["Lever family"] == family]
        if rows.empty:
            continue
        pick = rows.index[0]
        for lever, base in _PREFERRED.get(family, []):
            hit = rows[(rows["Lever"] == lever) & (rows["Baseline"] == base)]
            if len(hit):
                pick = hit.index[0]
                break
        keep.append(pick)
    return view.loc[keep].reset_index(drop=True)


def exchange_verdict(table: pd.DataFrame, dataset: str = "fashion") -> str:
    """The answer in a few sentences: each family's headline rate at the smallest n.

    Parameters
    ----------
    table : :func:`combine`'s rows (or ``exchange_rates.csv``)
    dataset : dataset to state it for

    Returns
    -------
    str (Markdown)
    """
    head = headline_rows(table, dataset)
    if head.empty:
        return "Undetermined: no lever is priced yet (`datavsmath exchange RESULTS --to RESULTS`)."
    n = head["Real rows"].iloc[0]
    parts = []
    for r in head.itertuples():
        what = r._5 if r.Verdict == "reachable" else r._5.split(":")[0]
        where = (f", from {r.Source}" if "Source" in head.columns and r.Source != head["Source"].iloc[0]
                 else "")
        parts.append(f"**{r._1}** ({r.Lever} against {r.Baseline}{where}): {what} rows"
                     + (f", {r._6}" if r.Verdict == "reachable" else ""))
    return (f"At {n} real training rows, each lever is worth this many rows of its baseline "
            "(95% intervals): " + "; ".join(parts) + ".")


def exchange_figure(table: pd.DataFrame, n: float | None = None, dataset: str = "fashion") -> ggplot:
    """The levers side by side at ``n`` real rows: baseline rows worth the same (log scale)
    with 95% intervals, one row per lever; the dashed line is n itself, where a lever is worth
    nothing. An undetermined interval runs to the edge; a lever the baseline never reaches is
    a cross at the edge.

    Parameters
    ----------
    table : :func:`combine`'s rows (or ``exchange_rates.csv``)
    n : real rows (default the smallest priced)
    dataset : dataset to show

    Returns
    -------
    plotnine ggplot
    """
    t = table[table["dataset"] == dataset].copy()
    n = float(t["n"].min()) if n is None else n
    t = t[np.isclose(t["n"].astype(float), n)]
    t["label"] = t["lever"] + "  vs  " + t["baseline"]
    finite = pd.concat([t["ci_low"], t["ci_high"], t["n_eff"], t["n"]]).replace([np.inf, -np.inf], np.nan)
    edge = float(finite.max()) * 2.0
    t["lo"] = t["ci_low"].where(t["ci_low"].notna(), edge)
    t["hi"] = t["ci_high"].replace(np.inf, edge).fillna(edge)
    t["x"] = t["n_eff"].where(t["verdict"] == "reachable", t["lo"].where(t["verdict"] != "not reachable", edge))
    t["mark"] = t["verdict"].map({"reachable": "estimate", "undetermined": "at least (lower limit)",
                                  "not reachable": "never"})
    rank = {f: i for i, f in enumerate(FAMILIES)}
    order = t.assign(_r=t["family"].map(rank)).sort_values(["_r", "lever", "baseline"])["label"]
    t["label"] = pd.Categorical(t["label"], categories=list(dict.fromkeys(order))[::-1])
    t["family"] = pd.Categorical(t["family"], categories=[f for f in FAMILIES if f in set(t["family"])])
    return (ggplot(t, aes(y="label", color="family"))
            + geom_vline(xintercept=n, linetype="dashed", color="#999999")
            + geom_segment(aes(x="lo", xend="hi", yend="label"), size=0.8)
            + geom_point(aes(x="x", shape="mark"), size=2.4)
            + scale_x_log10()
            + scale_color_manual(values=FAMILY_COLORS)
            # the marks are explained in the caption: a second legend would not fit beside the first
            + scale_shape_manual(values={"estimate": "o", "at least (lower limit)": ">", "never": "x"},
                                 guide=None)
            + labs(x=f"baseline rows worth {n:,.0f} real rows (log scale)", y="", color="", shape="")
            + theme_few()
            + theme(axis_text_y=element_text(size=8)))
