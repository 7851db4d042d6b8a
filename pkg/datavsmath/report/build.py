"""What a build of the site rests on: where and how the fits ran (hardware, devices, training
times, library versions), the methods page's provenance tables and verdict, and the build
record of every page (the results folder's SHA-256, the commit, the date).

The results folder itself, loaded: :mod:`datavsmath.report.site`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from .site import EXPERIMENT_NAMES, ROOT, Site, relative

__all__ = ["build_info", "build_stamp", "build_summary", "devices", "duration", "hardware", "provenance_table",
           "readable_timings", "results_hash", "timings", "versions_table"]


def hardware(site: Site) -> dict:
    """Host, CPU and GPU as recorded (provenance's ``hardware`` or top-level keys).

    Parameters
    ----------
    site : Site
        The site's results folder and tables (:class:`datavsmath.report.site.Site`).

    Returns
    -------
    dict
    """
    prov = site.provenance
    hw = dict(prov.get("hardware") or {})
    for k in ("host", "cpu", "gpu", "cores", "memory_gib"):
        if k not in hw and k in prov:
            hw[k] = prov[k]
    return hw


def devices(site: Site) -> str:
    """Where the fits ran, e.g. 'cpu (1,100 fits), gpu:NVIDIA H100 (56 fits)'.

    Parameters
    ----------
    site : Site
        The site's results folder and tables (:class:`datavsmath.report.site.Site`).

    Returns
    -------
    str
    """
    if "device" not in site.results or site.results["device"].isna().all():
        return "not recorded"
    n = site.results["device"].fillna("unknown").value_counts()
    return ", ".join(f"{d} ({c:,} fits)" for d, c in n.items())


def timings(results: pd.DataFrame) -> pd.DataFrame:
    """Training time per experiment, model, device and backend (``naive``: one fit per cell;
    ``fused``: copies in one program, each fit's time its group's share): fits, total hours,
    median seconds. Results from before backends were recorded count as naive.

    Parameters
    ----------
    results : pandas.DataFrame
        Tidy results (:func:`datavsmath.training.store.read_results`).

    Returns
    -------
    pandas.DataFrame
    """
    if "fit_seconds" not in results or results["fit_seconds"].isna().all():
        return pd.DataFrame()
    df = results.assign(device=results["device"].fillna("unknown") if "device" in results else "unknown",
                        backend=results["backend"].fillna("naive") if "backend" in results else "naive")
    g = df.groupby(["experiment", "model", "device", "backend"], sort=True)["fit_seconds"]
    out = g.agg(fits="count", total_hours=lambda s: s.sum() / 3600, median_seconds="median").reset_index()
    return out


def provenance_table(site: Site) -> pd.DataFrame:
    """What the site was built from, as (item, value) rows.

    Parameters
    ----------
    site : Site
        The site's results folder and tables (:class:`datavsmath.report.site.Site`).

    Returns
    -------
    pandas.DataFrame
        Columns item and value.
    """
    prov, hw = site.provenance, hardware(site)
    lo, hi = site.replicates
    sessions = prov.get("sessions") or []
    rows = [
        ("results folder", relative(site.folder)),
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
    """Library versions of the run (from provenance) and of this report build.

    Parameters
    ----------
    site : Site
        The site's results folder and tables (:class:`datavsmath.report.site.Site`).

    Returns
    -------
    pandas.DataFrame
    """
    import platform

    import plotnine

    run = site.provenance.get("versions") or {}
    rows = [(f"{k} (run)", str(v)) for k, v in sorted(run.items())]
    rows += [("python (report)", platform.python_version()), ("pandas (report)", pd.__version__),
             ("plotnine (report)", plotnine.__version__)]
    return pd.DataFrame(rows, columns=["component", "version"])


def duration(seconds) -> str:
    """Seconds in a sensible unit: '0.4 s', '12 s', '3.5 min', '2.10 h'.

    Parameters
    ----------
    seconds : float
        A duration in seconds.

    Returns
    -------
    str
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    s = float(seconds)
    if s < 10:
        return f"{s:.1f} s"
    return _hours(s)


def readable_timings(t: pd.DataFrame) -> pd.DataFrame:
    """:func:`timings` for reading: total and median time each in a sensible unit.

    Parameters
    ----------
    t : pandas.DataFrame
        What :func:`timings` returned.

    Returns
    -------
    pandas.DataFrame
    """
    if t.empty:
        return t
    return pd.DataFrame({
        "experiment": t["experiment"].map(lambda e: EXPERIMENT_NAMES.get(e, e)),
        "model": t["model"], "device": t["device"], "backend": t["backend"], "fits": t["fits"],
        "total training time": (t["total_hours"] * 3600).map(duration),
        "median per fit": t["median_seconds"].map(duration),
    })


def build_summary(site: Site, deviations: int | None = None) -> str:
    """The methods page's verdict: what the pages rest on, in one sentence.

    Parameters
    ----------
    site : Site
        The site's results folder and tables (:class:`datavsmath.report.site.Site`).
    deviations : int, optional
        Deviations from R listed on the methods page.

    Returns
    -------
    str
        Markdown.
    """
    lo, hi = site.replicates
    reps = ("a single run per cell (as in R), so no interval between runs" if hi <= 1
            else f"{lo}-{hi} replicates per cell" if lo != hi else f"{hi} replicates per cell")
    dev = f"; {deviations} deviations from the R testbench are listed below, each with its reason" if deviations else ""
    return (f"**These pages rest on {len(site.results):,} fits of the `{site.profile}` profile** in "
            f"`{relative(site.folder)}` ({devices(site)}), {reps}{dev}.")


def results_hash(folder: str | os.PathLike) -> str:
    """SHA-256 of what the pages read from a results folder: ``results.csv`` (or, without it,
    every cell file) and ``tables/*.csv``, each by relative path and content, in sorted order.

    Parameters
    ----------
    folder : str or os.PathLike
        A results folder.

    Returns
    -------
    str
        64 hex digits.
    """
    import hashlib

    folder = Path(folder)
    files = [folder / "results.csv"] if (folder / "results.csv").is_file() else sorted((folder / "cells").rglob("*.json"))
    files += sorted((folder / "tables").glob("*.csv"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def build_info(site: Site) -> dict:
    """Where a build of the site comes from: results folder and its hash, git commit (and
    whether the report sources had uncommitted changes), UTC date.

    Parameters
    ----------
    site : Site
        The site's results folder and tables (:class:`datavsmath.report.site.Site`).

    Returns
    -------
    dict
        results_folder, profile, results_sha256, commit, uncommitted_changes, built_at.
    """
    import datetime
    import subprocess

    def git(*args) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    # tracked changes only: Quarto writes scratch files (page_files/, *.quarto_ipynb) into reports/ while rendering
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "pkg", "reports"))
    return {
        "results_folder": relative(site.folder),
        "profile": site.profile,
        "results_sha256": results_hash(site.folder),
        "commit": git("rev-parse", "HEAD") or "unknown",
        "uncommitted_changes": dirty,
        "built_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def build_stamp(site: Site) -> str:
    """One line for every page: results folder, its hash, commit and date of this build.

    Parameters
    ----------
    site : Site
        The site's results folder and tables (:class:`datavsmath.report.site.Site`).

    Returns
    -------
    str
        Markdown.
    """
    b = build_info(site)
    commit = b["commit"][:10] + (" with uncommitted changes" if b["uncommitted_changes"] else "")
    return (f"Built from `{b['results_folder']}` (results SHA-256 `{b['results_sha256'][:16]}`) at commit "
            f"`{commit}` on {b['built_at']}.")
