"""Publish the rendered site: copy Quarto's output (``reports/_site``) to ``docs/`` and record
what it was built from in ``docs/build.json`` (results folder, the results' SHA-256, commit,
date; under ``pages``, the pages that read another folder because the site's lacks their
experiment), which ``tests/test_site.py`` checks against the shipped results and every page.

    python -m datavsmath.report.publish [reports/_site] [docs]
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from .build import build_info
from .site import OWN_FOLDER_PAGES, ROOT, load


def publish(site_dir: str | Path = ROOT / "reports" / "_site", out: str | Path = ROOT / "docs") -> dict:
    """Copy a rendered site to ``out`` (replacing it) with ``build.json``: the results folder
    each page was built from, its SHA-256, the commit and the date.

    Parameters
    ----------
    site_dir : str or pathlib.Path, default reports/_site
        The site Quarto rendered.
    out : str or pathlib.Path, default docs
        Where the site is published; its old content is removed.

    Returns
    -------
    dict
        What ``build.json`` holds.

    Raises
    ------
    FileNotFoundError
        If ``site_dir`` holds no rendered site.
    """
    site_dir, out = Path(site_dir), Path(out)
    if not (site_dir / "index.html").is_file():
        raise FileNotFoundError(f"{site_dir} holds no rendered site (index.html): run quarto render reports/ first")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(site_dir, out)
    (out / ".nojekyll").write_text("")  # serve site_libs/ as is on GitHub Pages
    info = build_info(load())
    pages = {}
    for page, experiment in OWN_FOLDER_PAGES.items():
        own = build_info(load(experiment=experiment))
        if own["results_folder"] != info["results_folder"]:
            pages[page] = {"experiment": experiment, "results_folder": own["results_folder"],
                           "results_sha256": own["results_sha256"]}
    if pages:
        info["pages"] = pages
    (out / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


if __name__ == "__main__":
    info = publish(*sys.argv[1:3])
    print(f"published {info['results_folder']} ({info['results_sha256'][:16]}) to "
          f"{sys.argv[2] if len(sys.argv) > 2 else 'docs'}")
