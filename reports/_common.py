"""Shared helpers of the report pages: find and load the results, say what they are, format
tables, and the small statistics the pages state (replicate intervals, parity with R).

Pages never train anything: they read the shipped results folder (``cells/`` or
``results.csv``, ``provenance.json``, ``tables/*.csv``) and R's published tables in
``data/r-results/``. The folder is ``$DATAVSMATH_RESULTS`` if set, else ``results/full`` when
complete, else ``results/quick`` (see ``datavsmath.figures.default_results_dir``).

Text is emitted as ``text/markdown`` outputs, which Quarto renders as Markdown; a missing input is announced with a
visible note that also carries a marker, ``[absent: table <file>]`` or
``[absent: experiment <name>]``, which the report tests check against the folder.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display
from scipy import stats

from datavsmath import figures as F

ROOT = Path(__file__).resolve().parents[1]
R_RESULTS = ROOT / "data" / "r-results"
MODEL_ORDER = ["rf", "xgb", "dnn", "cnn"]  # the order of R's result rows
MODEL_NAMES = {"rf": "random forest (rf)", "xgb": "gradient boosting (xgb)",
               "dnn": "dense network (dnn)", "cnn": "convolutional network (cnn)"}
EXPERIMENT_NAMES = {"size": "size", "random_damage": "random damage",
                    "constant_damage": "constant damage", "size_x_damage": "size x damage"}
#: the tables the statistics module (``datavsmath fit``) writes under <results>/tables/
TABLES = ["learning_curve_fits.csv", "data_needed.csv", "observations_needed_acc90.csv",
          "observations_needed_auc98.csv", "data_quality_derivative.csv", "breakdown_points.csv"]
FIG_SIZE = (8, 4.5)  # inches, 16:9 like the exported PNGs
LEVEL = 0.95


# --------------------------------------------------------------------------------------------
# The results a page is built from
# --------------------------------------------------------------------------------------------

@dataclass
class Site:
    """One results folder, loaded: ``results`` (tidy, one row per fit) and its provenance."""

    folder: Path
    results: pd.DataFrame
    provenance: dict = field(default_factory=dict)

    @property
    def profile(self) -> str:
        """"full", "quick", "smoke", "r-results" (R's CSVs) or "unknown"."""
        prof = self.provenance.get("profile")
        if prof:
            return str(prof)
        seen = self.results["profile"].dropna().unique() if "profile" in self.results else []
        if len(seen) == 1:
            return str(seen[0])
        return "r-results" if self.folder.resolve() == R_RESULTS.resolve() else "unknown"

    @property
    def complete(self) -> bool:
        return F.is_complete(self.folder)

    @property
    def replicates(self) -> tuple[int, int]:
        """(fewest, most) replicates per cell over all experiments."""
        keys = [c for c in ["experiment", "dataset", "model", "frac_sample", "frac_damage"]
                if c in self.results]
        n = self.results.groupby(keys, dropna=False).size()
        return (int(n.min()), int(n.max())) if len(n) else (0, 0)

    def has(self, experiment: str) -> bool:
        return bool((self.results["experiment"] == experiment).any())

    def experiments(self) -> list[str]:
        present = set(self.results["experiment"].dropna())
        return [e for e in EXPERIMENT_NAMES if e in present] + sorted(present - set(EXPERIMENT_NAMES))

    def table(self, name: str) -> pd.DataFrame | None:
        """``tables/<name>`` of the results folder, or None when absent."""
        path = self.folder / "tables" / name
        return pd.read_csv(path) if path.is_file() else None

    def note(self, experiment: str) -> str | None:
        """The profile's note for an experiment (e.g. the quick grid's caveat), if recorded."""
        exp = (self.provenance.get("experiments") or {}).get(experiment)
        return exp.get("note") if isinstance(exp, dict) else None


def load(folder: str | Path | None = None) -> Site:
    """Load the site's results (default: the folder chosen as described in the module doc)."""
    folder = Path(folder) if folder is not None else F.default_results_dir(ROOT)
    if not folder.exists():
        raise FileNotFoundError(
            f"No results at {folder}. Run `datavsmath run --profile quick` (a preview) or "
            "`--profile full`, or set DATAVSMATH_RESULTS to a results folder.")
    return Site(folder, F.load_results(folder), F.read_provenance(folder))


def r_results() -> pd.DataFrame:
    """R's published single runs (data/r-results/) in the tidy schema."""
    return F.load_results(R_RESULTS)


# --------------------------------------------------------------------------------------------
# Markdown and HTML output
# --------------------------------------------------------------------------------------------

def md(text: str) -> None:
    """Show Markdown: a ``text/markdown`` output, which Quarto renders as part of the page."""
    display(Markdown(text.strip("\n") + "\n"))


def callout(kind: str, title: str, body: str) -> None:
    md(f"::: {{.callout-{kind}}}\n## {title}\n\n{body.strip()}\n:::\n")


def banner(site: Site) -> None:
    """The loud notice on every page when the site is not built from the complete full grid."""
    lo, hi = site.replicates
    reps = f"{hi} replicate{'s' if hi != 1 else ''} per cell" + (f" (some have {lo})" if lo != hi else "")
    where = _rel(site.folder)
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


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------
# Replicate statistics
# --------------------------------------------------------------------------------------------

def mean_ci(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, low, high, n): the t-interval of the mean over replicates (NaN bounds if n < 2)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = v.size
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, math.nan, math.nan, n
    half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
    return m, m - half, m + half, n


def prediction_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """Interval expected to hold one more run with probability ``level`` (normal replicates):
    mean +- t * sd * sqrt(1 + 1/n). NaN if fewer than 2 replicates. This is the right yardstick
    for R's single run of a cell."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = v.size
    if n < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) * math.sqrt(1 + 1 / n)
    return float(v.mean() - half), float(v.mean() + half)


def diff_ci(a, b, level: float = LEVEL) -> tuple[float, float, float]:
    """mean(a) - mean(b) with a Welch t-interval (NaN bounds if either has < 2 values)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    d = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return d, math.nan, math.nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return d, d, d
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return d, d - half, d + half


def fmt_ci(est: float, lo: float, hi: float, digits: int = 3, signed: bool = False) -> str:
    """'0.921 (95% CI 0.918 to 0.924)', or '0.921 (single run, no CI)' without bounds."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "n/a"
    sign = "+" if signed else ""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{est:{sign}.{digits}f} (single run, no CI)"
    return f"{est:{sign}.{digits}f} (95% CI {lo:{sign}.{digits}f} to {hi:{sign}.{digits}f})"


def values(results: pd.DataFrame, experiment: str, model: str, metric: str,
           frac_sample: float | None = None, frac_damage: float | None = None,
           dataset: str = "fashion") -> np.ndarray:
    """The replicate values of one Fashion-MNIST (or ``dataset``) cell; empty if absent."""
    df = results[(results["experiment"] == experiment) & (results["model"] == model)]
    if "dataset" in df and df["dataset"].notna().any():
        df = df[df["dataset"] == dataset]
    if frac_sample is not None:
        df = df[np.isclose(df["frac_sample"], frac_sample)]
    if frac_damage is not None:
        df = df[np.isclose(df["frac_damage"], frac_damage)]
    return df[metric].to_numpy(dtype=float)


def nearest(available, target: float, exclude: float | None = None) -> float | None:
    """The available fraction closest to ``target`` (never ``exclude``), or None."""
    cands = sorted({float(v) for v in available if exclude is None or not np.isclose(v, exclude)})
    return min(cands, key=lambda v: (abs(v - target), v)) if cands else None


# --------------------------------------------------------------------------------------------
# Headline numbers (index page)
# --------------------------------------------------------------------------------------------

@dataclass
class Steps:
    """The comparable steps the headline uses: the largest sample s_max, a smaller sample
    s_less (about 10% fewer rows), and the damage fraction d of about the same size."""

    s_max: float | None
    s_less: float | None
    d: float | None

    @property
    def data_share(self) -> float | None:
        if self.s_max is None or self.s_less is None:
            return None
        return 1 - self.s_less / self.s_max


def steps(results: pd.DataFrame) -> Steps:
    """The headline's steps on the Fashion-MNIST grid at hand (see :class:`Steps`)."""
    if "dataset" in results and results["dataset"].notna().any():
        results = results[results["dataset"] == "fashion"]
    size = results[results["experiment"] == "size"]
    s_max = float(size["frac_sample"].max()) if len(size) else None
    s_less = nearest(size["frac_sample"], 0.9 * s_max, exclude=s_max) if s_max else None
    share = 1 - s_less / s_max if s_less else 0.1
    dam = results[results["experiment"].isin(["random_damage", "constant_damage"])]
    d = nearest(dam["frac_damage"], share, exclude=0.0) if len(dam) else None
    return Steps(s_max, s_less, d)


def headline(results: pd.DataFrame, metric: str = "acc") -> pd.DataFrame:
    """Per model: the metric at the largest sample, and what it loses with a step of less data
    and with the same-sized step of random or constant label damage (each with a 95% CI over
    replicates). Numeric columns end in _est/_lo/_hi."""
    st = steps(results)
    rows = []
    models = [m for m in MODEL_ORDER if m in set(results["model"])]
    for m in models:
        row = {"model": m}
        full = values(results, "size", m, metric, frac_sample=st.s_max) if st.s_max else []
        row["best_est"], row["best_lo"], row["best_hi"], row["n"] = mean_ci(full)
        less = values(results, "size", m, metric, frac_sample=st.s_less) if st.s_less else []
        row["data_est"], row["data_lo"], row["data_hi"] = diff_ci(full, less)
        for kind in ("random", "constant"):
            exp = f"{kind}_damage"
            clean = values(results, exp, m, metric, frac_damage=0.0)
            hurt = values(results, exp, m, metric, frac_damage=st.d) if st.d else []
            row[f"{kind}_est"], row[f"{kind}_lo"], row[f"{kind}_hi"] = diff_ci(clean, hurt)
        rows.append(row)
    return pd.DataFrame(rows)


def headline_table(h: pd.DataFrame, st: Steps, metric: str = "acc") -> pd.DataFrame:
    """The headline frame formatted for reading."""
    name = {"acc": "accuracy", "auc": "AUC"}[metric]
    less = f"{st.data_share:.0%}" if st.data_share is not None else "?"
    d = f"{st.d:.0%}" if st.d is not None else "?"
    s_max = f"{st.s_max:.0%}" if st.s_max is not None else "?"
    out = pd.DataFrame({"model": h["model"]})
    out[f"{name} at {s_max} of the rows"] = [fmt_ci(*r) for r in h[["best_est", "best_lo", "best_hi"]].to_numpy()]
    out[f"lost with {less} fewer rows"] = [fmt_ci(*r, signed=True) for r in h[["data_est", "data_lo", "data_hi"]].to_numpy()]
    out[f"lost with {d} random damage"] = [fmt_ci(*r, signed=True) for r in h[["random_est", "random_lo", "random_hi"]].to_numpy()]
    out[f"lost with {d} constant damage"] = [fmt_ci(*r, signed=True) for r in h[["constant_est", "constant_lo", "constant_hi"]].to_numpy()]
    return out


def compare_costs(data: tuple, damage: tuple) -> str:
    """Plain words for 'is the damage step costlier than the data step?' given (est, lo, hi)
    of each loss: 'clearly larger' only when the intervals do not overlap."""
    (de, dlo, dhi), (ge, glo, ghi) = data, damage
    if any(math.isnan(x) for x in (de, ge)):
        return "cannot be compared (a cell is missing)"
    if not any(math.isnan(x) for x in (dlo, dhi, glo, ghi)):
        if glo > dhi:
            return "clearly larger (the 95% intervals do not overlap)"
        if ghi < dlo:
            return "clearly smaller (the 95% intervals do not overlap)"
        return "not distinguishable at this number of replicates (the 95% intervals overlap)"
    word = "larger" if ge > de else "smaller"
    return f"{word} in these single runs (no replicates, so no interval)"


# --------------------------------------------------------------------------------------------
# Parity with R's published tables
# --------------------------------------------------------------------------------------------

def parity_cells(ours: pd.DataFrame, r: pd.DataFrame, metric: str, level: float = LEVEL) -> pd.DataFrame:
    """One row per cell present in both: R's value, our replicate mean and 95% prediction
    interval for one run, the difference (ours - R) and whether R lies inside the interval
    (NaN when we have fewer than 2 replicates). Cells match on dataset, experiment, model,
    frac_sample and frac_damage (rounded to 6 decimals)."""
    keys = ["dataset", "experiment", "model", "frac_sample", "frac_damage"]
    o = ours.dropna(subset=[metric]).assign(frac_sample=lambda d: d["frac_sample"].round(6),
                                            frac_damage=lambda d: d["frac_damage"].round(6))
    rr = r.dropna(subset=[metric]).assign(frac_sample=lambda d: d["frac_sample"].round(6),
                                          frac_damage=lambda d: d["frac_damage"].round(6))
    rows = []
    for key, grp in o.groupby(keys, sort=False):
        match = rr
        for k, v in zip(keys, key):
            match = match[match[k] == v]
        if match.empty:
            continue
        r_val = float(match[metric].iloc[0])
        vals = grp[metric].to_numpy(dtype=float)
        lo, hi = prediction_interval(vals, level)
        inside = math.nan if math.isnan(lo) else float(lo <= r_val <= hi)
        rows.append(dict(zip(keys, key), metric=metric, r=r_val, ours=float(vals.mean()),
                         n=vals.size, lo=lo, hi=hi, diff=float(vals.mean()) - r_val, inside=inside))
    cols = keys + ["metric", "r", "ours", "n", "lo", "hi", "diff", "inside"]
    out = pd.DataFrame(rows, columns=cols)
    out["model"] = pd.Categorical(out["model"], [m for m in MODEL_ORDER if m in set(out["model"])]
                                  + sorted(set(out["model"]) - set(MODEL_ORDER)))
    order = {e: i for i, e in enumerate(EXPERIMENT_NAMES)}
    out = out.assign(_e=out["experiment"].map(order))
    return (out.sort_values(["dataset", "_e", "metric", "frac_damage", "frac_sample", "model"])
            .drop(columns="_e").reset_index(drop=True))


def parity_summary(cells: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: cells compared, mean and mean absolute difference, the share of cells where
    ours is higher, and the share of cells consistent with R (R inside our interval)."""
    g = cells.groupby(by, observed=True, sort=True)
    out = g.agg(cells=("diff", "size"), mean_diff=("diff", "mean"),
                mean_abs_diff=("diff", lambda d: d.abs().mean()),
                ours_higher=("diff", lambda d: (d > 0).mean()),
                consistent=("inside", "mean"), with_interval=("inside", "count")).reset_index()
    return out


def _pct(v) -> str:
    return "n/a" if pd.isna(v) else f"{v:.0%}"


def readable_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`parity_summary` with plain column names and formatted numbers."""
    out = summary.copy()
    if "experiment" in out:
        out["experiment"] = out["experiment"].map(lambda e: EXPERIMENT_NAMES.get(e, e))
    out["mean_diff"] = out["mean_diff"].map(lambda v: f"{v:+.4f}")
    out["mean_abs_diff"] = out["mean_abs_diff"].map(lambda v: f"{v:.4f}")
    out["ours_higher"] = out["ours_higher"].map(_pct)
    out["consistent"] = out["consistent"].map(_pct)
    return out.rename(columns={"cells": "cells compared", "mean_diff": "mean difference (ours - R)",
                               "mean_abs_diff": "mean |difference|", "ours_higher": "ours higher",
                               "consistent": "R inside our interval", "with_interval": "cells with an interval"})


def readable_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """:func:`parity_cells` rows formatted for reading (one experiment at a time)."""
    out = pd.DataFrame({
        "sample": cells["frac_sample"].map(lambda v: f"{v:.0%}"),
        "damage": cells["frac_damage"].map(lambda v: f"{v:.0%}"),
        "metric": cells["metric"], "model": cells["model"].astype(str),
        "R": cells["r"].map(lambda v: f"{v:.4f}"), "ours (mean)": cells["ours"].map(lambda v: f"{v:.4f}"),
        "runs": cells["n"],
        "our interval for one run": [("n/a" if pd.isna(lo) else f"{lo:.4f} to {hi:.4f}")
                                     for lo, hi in zip(cells["lo"], cells["hi"])],
        "ours - R": cells["diff"].map(lambda v: f"{v:+.4f}"),
        "R inside": cells["inside"].map({1.0: "yes", 0.0: "no"}).fillna("n/a"),
    })
    return out


def systematic_differences(cells: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Sign tests of whether differences lean one way, per (dataset, experiment, metric, model).

    Groups with at least 6 non-zero differences (the fewest with which a two-sided sign test
    can reach 5%) are tested; ``systematic`` is True where the Bonferroni-adjusted p-value
    (over all groups tested) is below ``alpha``. Returns one row per tested group.
    """
    keys = ["dataset", "experiment", "metric", "model"]
    rows = []
    for key, grp in cells.groupby(keys, observed=True, sort=True):
        d = grp["diff"].to_numpy()
        nz = d[d != 0]
        if nz.size < 6:
            continue
        k = int((nz > 0).sum())
        p = stats.binomtest(k, nz.size, 0.5).pvalue
        worst = grp.loc[grp["diff"].abs().idxmax()]
        rows.append(dict(zip(keys, key), cells=len(grp), higher=k, nonzero=nz.size, p=p,
                         mean_diff=float(d.mean()), worst_diff=float(worst["diff"]),
                         worst_frac_sample=float(worst["frac_sample"]),
                         worst_frac_damage=float(worst["frac_damage"]),
                         consistent=float(grp["inside"].mean()) if grp["inside"].notna().any() else math.nan))
    out = pd.DataFrame(rows, columns=keys + ["cells", "higher", "nonzero", "p", "mean_diff", "worst_diff",
                                             "worst_frac_sample", "worst_frac_damage", "consistent"])
    out["p_adjusted"] = np.minimum(out["p"] * len(out), 1.0)
    out["systematic"] = out["p_adjusted"] < alpha
    return out


#: implementation facts (from the specification and the port) that can move a model's numbers
KNOWN_DIFFERENCES = {
    "rf": "R's randomForest and our forest draw different bootstrap samples and split candidates; "
          "with only 25 trees, vote-fraction probabilities are coarse, so AUC is sensitive to them.",
    "xgb": "xgboost 0.82's exact greedy method versus our histogram method (the same candidate "
           "splits for 256-level pixels, but different floating-point accumulation) and a newer xgboost.",
    "dnn": "keras 2.2 on TensorFlow 1 versus today's Keras 3 / TensorFlow 2: initialisers, "
           "RMSprop's epsilon placement and per-epoch shuffling differ in detail.",
    "cnn": "keras 2.2 on TensorFlow 1 versus today's Keras 3 / TensorFlow 2 (Adadelta, learning "
           "rate 1.0, is kept); GPU kernels are not bit-reproducible.",
}


def describe_systematic(row: pd.Series) -> str:
    """One plain-words sentence for a row of :func:`systematic_differences`."""
    exp = EXPERIMENT_NAMES.get(row["experiment"], row["experiment"])
    metric = {"acc": "accuracy", "auc": "AUC"}.get(row["metric"], row["metric"])
    direction = "higher" if row["mean_diff"] > 0 else "lower"
    count = row["higher"] if row["mean_diff"] > 0 else row["nonzero"] - row["higher"]
    where = (f"{row['worst_frac_sample']:.0%} of the rows" if row["experiment"] == "size"
             else f"{row['worst_frac_damage']:.0%} damage")
    consistent = ("" if math.isnan(row["consistent"]) else
                  f" R's value still lies inside our replicate interval in {row['consistent']:.0%} of these cells.")
    dataset = "" if row["dataset"] == "fashion" else f" ({row['dataset']})"
    return (f"**{exp.capitalize()}{dataset}, {row['model']}, {metric}:** ours is {direction} than R's in "
            f"{count} of {row['nonzero']} cells (mean difference {row['mean_diff']:+.4f}; sign test "
            f"p = {row['p']:.1g}, {row['p_adjusted']:.1g} after Bonferroni); the largest gap, "
            f"{row['worst_diff']:+.4f}, is at {where}.{consistent} Known implementation "
            f"differences for this model: {KNOWN_DIFFERENCES.get(row['model'], 'none recorded')}")


# --------------------------------------------------------------------------------------------
# Provenance, versions and timings (index and methods pages)
# --------------------------------------------------------------------------------------------

def hardware(site: Site) -> dict:
    """Host, CPU and GPU as recorded (provenance's ``hardware`` or top-level keys)."""
    prov = site.provenance
    hw = dict(prov.get("hardware") or {})
    for k in ("host", "cpu", "gpu", "cores", "memory_gib"):
        if k not in hw and k in prov:
            hw[k] = prov[k]
    return hw


def devices(site: Site) -> str:
    """Where the fits ran, e.g. 'cpu (1,100 fits), gpu:NVIDIA H100 (56 fits)'."""
    if "device" not in site.results or site.results["device"].isna().all():
        return "not recorded"
    n = site.results["device"].fillna("unknown").value_counts()
    return ", ".join(f"{d} ({c:,} fits)" for d, c in n.items())


def provenance_table(site: Site) -> pd.DataFrame:
    """What the site was built from, as (item, value) rows."""
    prov, hw = site.provenance, hardware(site)
    lo, hi = site.replicates
    sessions = prov.get("sessions") or []
    rows = [
        ("results folder", _rel(site.folder)),
        ("profile", site.profile + ("" if site.profile != "full" else (" (complete)" if site.complete else " (incomplete)"))),
        ("replicates per cell", f"{hi}" if lo == hi else f"{lo} to {hi}"),
        ("fits", f"{len(site.results):,} in {site.results['experiment'].nunique()} experiments "
                 f"({', '.join(site.experiments())})"),
        ("devices", devices(site)),
        ("host", hw.get("host", "not recorded")),
        ("CPU", f"{hw.get('cpu', 'not recorded')}" + (f", {hw['cores']} cores" if hw.get("cores") else "")),
        ("GPU", hw.get("gpu") or "none recorded"),
        ("command", prov.get("command") or (sessions[-1].get("command") if sessions else "not recorded")),
        ("started", prov.get("started_at") or (sessions[0].get("started_at") if sessions else "not recorded")),
        ("finished", prov.get("finished_at") or (sessions[-1].get("finished_at") if sessions else "not recorded")),
        ("wall time", _hours(prov.get("wall_seconds"))),
        ("sessions", str(len(sessions)) if sessions else "not recorded"),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])


def _hours(seconds) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "not recorded"
    s = float(seconds)
    return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def versions_table(site: Site) -> pd.DataFrame:
    """Library versions of the run (from provenance) and of this report build."""
    import platform

    import plotnine

    run = site.provenance.get("versions") or {}
    rows = [(f"{k} (run)", str(v)) for k, v in sorted(run.items())]
    rows += [("python (report)", platform.python_version()), ("pandas (report)", pd.__version__),
             ("plotnine (report)", plotnine.__version__)]
    return pd.DataFrame(rows, columns=["component", "version"])


def timings(results: pd.DataFrame) -> pd.DataFrame:
    """Training time per experiment, model, device and backend (``naive``: one fit per cell;
    ``fused``: copies in one program, each fit's time its group's share): fits, total hours,
    median seconds. Results from before backends were recorded count as naive."""
    if "fit_seconds" not in results or results["fit_seconds"].isna().all():
        return pd.DataFrame()
    df = results.assign(device=results["device"].fillna("unknown") if "device" in results else "unknown",
                        backend=results["backend"].fillna("naive") if "backend" in results else "naive")
    g = df.groupby(["experiment", "model", "device", "backend"], sort=True)["fit_seconds"]
    out = g.agg(fits="count", total_hours=lambda s: s.sum() / 3600, median_seconds="median").reset_index()
    return out

