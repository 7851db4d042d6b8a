"""The published site (``docs/``, rendered by ``make report``): it was built from the shipped
results, and every page passes the browser check (tests/browser_check.py) at 1280 and 800 px.

The browser test skips, with the reason, where Chromium or Playwright is absent; ``.ci/run``
installs both, so it runs in CI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHIPPED = ROOT / "results" / "quick"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_check  # noqa: E402

PAGES = ["index", "size", "random-damage", "constant-damage", "size-x-damage", "noise-models", "scaling",
         "pruning", "parity", "methods"]

needs_site = pytest.mark.skipif(not (DOCS / "index.html").is_file(),
                                reason="no published site in docs/ (make report writes it)")


@needs_site
def test_published_site_has_every_page_and_its_build_record():
    assert sorted(p.stem for p in DOCS.glob("*.html")) == sorted(PAGES)
    info = json.loads((DOCS / "build.json").read_text())
    assert {"results_folder", "results_sha256", "commit", "built_at"} <= set(info)
    stamp = (DOCS / "index.html").read_text()
    assert info["results_sha256"][:16] in stamp and info["results_folder"] in stamp


@needs_site
def test_published_site_matches_the_shipped_results():
    from datavsmath.report.site import results_hash

    info = json.loads((DOCS / "build.json").read_text())
    assert info["results_folder"] == "results/quick"
    assert info["results_sha256"] == results_hash(SHIPPED), (
        "results/quick changed since docs/ was rendered: run `make report` and commit docs/")


@needs_site
def test_published_site_names_no_external_resource():
    """No CDN, web font or MathJax URL in any page or stylesheet (the browser test also watches
    the requests; this one runs without a browser)."""
    bad = ("cdnjs", "cdn.jsdelivr", "unpkg.com", "googleapis", "gstatic", "mathjax", "require.min.js")
    for f in [*DOCS.glob("*.html"), *DOCS.rglob("*.css")]:
        text = f.read_text(errors="replace").lower()
        found = [b for b in bad if b in text]
        assert not found, f"{f.relative_to(ROOT)} names {found}"


@needs_site
def test_every_page_passes_the_browser_check():
    why = browser_check.missing_prerequisite()
    if why:
        pytest.skip(f"browser check not run: {why}")
    problems = browser_check.check_site(DOCS)
    assert not problems, "\n".join(problems)


def test_results_hash_follows_the_results(tmp_path):
    from datavsmath.report.site import results_hash

    (tmp_path / "tables").mkdir()
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    (tmp_path / "tables" / "t.csv").write_text("x\n1\n")
    h = results_hash(tmp_path)
    assert h == results_hash(tmp_path)
    (tmp_path / "tables" / "t.csv").write_text("x\n2\n")
    assert results_hash(tmp_path) != h
