"""The published site (``docs/``, rendered by ``make report``): it was built from the shipped
results the pages would choose today (results/full once R's four grids are complete), every
page carries the same build stamp as docs/build.json, and every page passes the browser check
(tests/browser_check.py) at 1280 and 800 px, opening with its verdict.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_check  # noqa: E402

PAGES = ["index", "size", "random-damage", "constant-damage", "size-x-damage", "noise-models", "scaling",
         "pruning", "exchange", "parity", "methods", "guide", "cli"]
#: pages that read results and carry the build stamp (the guide and the CLI reference describe code)
RESULT_PAGES = [p for p in PAGES if p not in ("guide", "cli")]

needs_site = pytest.mark.skipif(not (DOCS / "index.html").is_file(),
                                reason="no published site in docs/ (make report writes it)")


@needs_site
def test_published_site_has_every_page_and_its_build_record():
    assert sorted(p.stem for p in DOCS.glob("*.html")) == sorted(PAGES)
    # the API reference, generated from the docstrings: an index and a page per documented name
    api = sorted(p.stem for p in (DOCS / "reference").glob("*.html"))
    assert "index" in api and "stats.needed.data_needed" in api and len(api) >= 20
    info = json.loads((DOCS / "build.json").read_text())
    assert {"results_folder", "results_sha256", "commit", "built_at"} <= set(info)
    stamp = (DOCS / "index.html").read_text()
    assert info["results_sha256"][:16] in stamp and info["results_folder"] in stamp


@needs_site
def test_published_site_matches_the_shipped_results(monkeypatch):
    """docs/ was built from the folder the pages choose now, and from its current contents;
    the pages beyond R's grids that read another folder name it, with its hash."""
    from datavsmath.report.build import results_hash
    from datavsmath.report.site import default_results_dir, experiment_folder, relative

    monkeypatch.delenv("DATAVSMATH_RESULTS", raising=False)
    info = json.loads((DOCS / "build.json").read_text())
    shipped = default_results_dir(ROOT)
    assert info["results_folder"] == relative(shipped) == "results/full"
    assert info["results_sha256"] == results_hash(shipped), (
        f"{relative(shipped)} changed since docs/ was rendered: run `make report` and commit docs/")
    for page, folder in info.get("pages", {}).items():
        assert folder["results_folder"] == relative(experiment_folder(folder["experiment"], ROOT))
        assert folder["results_sha256"] == results_hash(ROOT / folder["results_folder"]), page


@needs_site
def test_every_page_carries_the_build_record_of_docs():
    """One build: every page's stamp names build.json's commit (committed, no uncommitted
    changes) and the results folder and hash it read."""
    import re
    import subprocess

    info = json.loads((DOCS / "build.json").read_text())
    assert info["uncommitted_changes"] is False, "docs/ was rendered from uncommitted sources"
    for name in RESULT_PAGES:
        text = (DOCS / f"{name}.html").read_text()
        stamps = re.findall(r"Built from <code>([^<]+)</code> \(results SHA-256 <code>([0-9a-f]{16})</code>\) at "
                            r"commit <code>([^<]+)</code>", text)
        assert len(stamps) == 1, f"{name}.html: {len(stamps)} build stamps"
        folder, digest, commit = stamps[0]
        own = info.get("pages", {}).get(name, info)
        assert (folder, digest) == (own["results_folder"], own["results_sha256"][:16]), name
        assert commit == info["commit"][:10], f"{name}.html was built at {commit}, build.json says {info['commit'][:10]}"
    if (ROOT / ".git").exists():
        known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", info["commit"] + "^{commit}"])
        assert known.returncode == 0, f"build.json's commit {info['commit']} is not in this repository"


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
    from datavsmath.report.build import results_hash

    (tmp_path / "tables").mkdir()
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    (tmp_path / "tables" / "t.csv").write_text("x\n1\n")
    h = results_hash(tmp_path)
    assert h == results_hash(tmp_path)
    (tmp_path / "tables" / "t.csv").write_text("x\n2\n")
    assert results_hash(tmp_path) != h


def test_the_methods_page_carries_the_readmes_reproducibility_envelope():
    """The envelope is stated twice, in the README and on the Methods page: one text."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Reproducibility: what a rerun gives back"):readme.index("## Testing")]
    shared = (ROOT / "reports" / "_reproducibility.md").read_text()
    assert section.split("\n", 1)[1].strip() == shared.strip()
