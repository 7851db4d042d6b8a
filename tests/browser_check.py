"""Open every page of a rendered site in headless Chromium and report what a reader would see
wrong, at 1280 and 800 px wide:

- horizontal overflow (the page scrolls sideways);
- an image wider than its container (a figure cut at the right edge), or one that failed to load;
- a table wider than the text column;
- any request outside the site (CDN scripts, web fonts, MathJax: the site must work offline);
- raw LaTeX in the visible text (``\\(``, ``\\frac``, ``$$``);
- a page without a verdict callout (a ``.callout-tip`` titled "Verdict"), or one whose first
  element under the title is not that callout (every page opens with its answer); the user
  guide and the CLI reference open with an "In short" callout instead, and the API reference
  pages (``reference/``, generated from the docstrings) open with their signatures.

    python tests/browser_check.py [docs] [--screenshots DIR] [--widths 1280,800]

Exit status 0 when every page passes, 1 with one line per problem otherwise, 2 when Chromium or
Playwright is missing. The site is served from a local HTTP server on 127.0.0.1; Chromium is
Debian's (``apt-get install chromium``), driven by Playwright (``pip install playwright``; no
``playwright install`` is needed). ``$CHROMIUM`` names another executable.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import sys
import threading
from pathlib import Path

WIDTHS = (1280, 800)
HEIGHT = 900
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]
CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chromium",
              "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]

# Measured in the page: every problem a reader would see, as short strings.
PROBE = r"""
(kind) => {
  const out = [];
  const vw = document.documentElement.clientWidth;
  const sw = document.documentElement.scrollWidth;
  if (sw > vw + 1) out.push(`horizontal overflow: page is ${sw} px wide in a ${vw} px window`);
  const main = document.querySelector('main') || document.body;
  const col = main.getBoundingClientRect();
  for (const img of document.querySelectorAll('main img')) {
    const r = img.getBoundingClientRect();
    const box = (img.closest('figure, .cell-output-display, p, div') || main).getBoundingClientRect();
    const name = (img.getAttribute('src') || '').slice(0, 60);
    if (!img.complete || img.naturalWidth === 0) out.push(`image not loaded: ${name}`);
    if (r.width > box.width + 1 || r.right > col.right + 1)
      out.push(`image wider than its container: ${Math.round(r.width)} px in ${Math.round(Math.min(box.width, col.width))} px (${name})`);
    if (r.right > vw + 1) out.push(`image cut at the right edge: ends at ${Math.round(r.right)} px of ${vw} (${name})`);
  }
  for (const t of document.querySelectorAll('main table')) {
    const r = t.getBoundingClientRect();
    if (r.width === 0) continue;  // inside a closed <details>
    if (r.width > col.width + 1 || t.scrollWidth > t.clientWidth + 1)
      out.push(`table wider than the column: ${Math.round(Math.max(r.width, t.scrollWidth))} px in ${Math.round(col.width)} px (${(t.innerText || '').slice(0, 40).replace(/\s+/g, ' ')})`);
  }
  const text = document.body.innerText;
  for (const tex of ['\\(', '\\)', '\\frac', '\\text{', '$$'])
    if (text.includes(tex)) out.push(`raw LaTeX in the text: ${tex}`);
  if (kind === 'api') return out;
  const title = kind === 'intro' ? /in short/i : /verdict/i;
  const verdicts = [...document.querySelectorAll('.callout-tip')].filter(
    c => title.test((c.querySelector('.callout-header, .callout-title-container, h2, strong') || c).innerText));
  if (!verdicts.length) out.push('no verdict callout');
  const first = [...main.children].find(e => e.id !== 'title-block-header' && (e.innerText || '').trim());
  const lead = first && (first.matches('.callout') ? first : first.querySelector('.callout'));
  if (!lead || !verdicts.includes(lead) || (first.innerText || '').trim().indexOf(lead.innerText.trim()) !== 0)
    out.push(`first element under the title is not the verdict: ${((first && first.innerText) || '').slice(0, 50).replace(/\s+/g, ' ')}`);
  return out;
}
"""


def find_chromium() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for c in CANDIDATES:
        if Path(c).is_file():
            return c
    for name in ("chromium", "chromium-headless-shell", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_prerequisite() -> str | None:
    """Why the check cannot run here (no Playwright, no Chromium), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    if find_chromium() is None:
        return "no Chromium found (apt-get install chromium, or set $CHROMIUM)"
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _router(base: str, outside: list[str]):
    """A route handler: requests to the site go through, any other is recorded and aborted."""
    def route(route, request):
        url = request.url
        if url.startswith(base) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()
    return route


#: pages that open with an "In short" callout instead of a verdict: they answer "how", not a question
INTRO_PAGES = ("guide.html", "cli.html")


def pages(folder: Path) -> list[str]:
    """Every HTML page of the site, the API reference's (``reference/``) included, as paths
    relative to ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.html")
                  if "site_libs" not in p.parts)


def page_kind(name: str) -> str:
    """"api" (generated reference pages), "intro" (guide, CLI reference) or "result"."""
    if name.startswith("reference/"):
        return "api"
    return "intro" if name in INTRO_PAGES else "result"


def check_site(folder: str | Path, widths=WIDTHS, screenshots: str | Path | None = None) -> list[str]:
    """Every problem found, as 'page @ width: problem' lines (empty when all pages pass)."""
    from playwright.sync_api import sync_playwright

    folder = Path(folder)
    names = pages(folder)
    if not names:
        return [f"{folder}: no HTML pages"]
    if screenshots:
        Path(screenshots).mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    server, base = serve(folder)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
            try:
                for width in widths:
                    ctx = browser.new_context(viewport={"width": width, "height": HEIGHT})
                    outside: list[str] = []

                    ctx.route("**/*", _router(base, outside))
                    page = ctx.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                    for name in names:
                        outside.clear()
                        errors.clear()
                        page.goto(base + name, wait_until="load")
                        page.wait_for_timeout(300)
                        found = list(page.evaluate(PROBE, page_kind(name)))
                        found += [f"request outside the site: {u}" for u in dict.fromkeys(outside)]
                        found += [f"script error: {e[:120]}" for e in errors]
                        problems += [f"{name} @ {width} px: {p}" for p in found]
                        if screenshots:
                            page.screenshot(path=str(Path(screenshots) / f"{name.replace('/', '-').removesuffix('.html')}-{width}.png"),
                                            full_page=True)
                    ctx.close()
            finally:
                browser.close()
    finally:
        server.shutdown()
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", nargs="?", default=str(Path(__file__).resolve().parents[1] / "docs"))
    ap.add_argument("--screenshots", help="write a full-page PNG per page and width here")
    ap.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    args = ap.parse_args(argv)
    why = missing_prerequisite()
    if why:
        print(f"browser check not run: {why}", file=sys.stderr)
        return 2
    widths = [int(w) for w in args.widths.split(",")]
    problems = check_site(args.site, widths, args.screenshots)
    for p in problems:
        print(p)
    n = len(pages(Path(args.site)))
    print(f"{n} pages x {len(widths)} widths: " + (f"{len(problems)} problems" if problems else "all pass"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
