"""Where the package finds what it ships, and where it keeps what it downloads.

The experiment specs (``reproduce/*.toml``), the datasets' checksums (``data/checksums.json``),
R's published tables (``data/r-results/``) and the coverage study (``data/coverage-study.csv``)
live at the top of the project, where users asked for them; ``pkg/datavsmath/shipped/`` links
to them (``specs`` -> ``reproduce/``, ``data`` -> ``data/``), so that a wheel carries copies as
package data and an installed package reads them with :mod:`importlib.resources`, from a
checkout and from site-packages alike.

Downloads and installs (datasets) go to the checkout's ``data/cache/`` when the package runs
from a writable checkout, else to ``$XDG_CACHE_HOME/datavsmath`` (``~/.cache/datavsmath``).
Results folders are relative to the working directory.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__all__ = ["shipped", "project_root", "cache_root"]


def shipped(*parts: str) -> Path:
    """The shipped file or folder under ``shipped/``, as a path on the file system.

    Parameters
    ----------
    *parts : str
        Path components below ``shipped/``, e.g. ``"specs"``, or ``"data", "checksums.json"``.

    Returns
    -------
    pathlib.Path
        The path (it may not exist; callers check).
    """
    return Path(str(files("datavsmath").joinpath("shipped", *parts)))


def project_root() -> Path | None:
    """The project checkout this package runs from (the folder holding ``pyproject.toml`` and
    ``reproduce/``), or None for an installed package: what only a checkout has (the site's
    sources, its git history) is looked up here, and nowhere else."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() and (here / "reproduce").is_dir() else None


def cache_root() -> Path:
    """Where downloads and installs are kept: ``data/cache/`` of a writable checkout, else
    ``$XDG_CACHE_HOME/datavsmath`` (default ``~/.cache/datavsmath``)."""
    root = project_root()
    if root is not None and os.access(root / "data", os.W_OK):
        return root / "data" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "datavsmath"
