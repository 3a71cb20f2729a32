"""The self-study site (`make site`) in a real browser: index, every lesson, figures, links, folds."""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
from filelock import FileLock

from .conftest import ROOT

pytestmark = pytest.mark.browser

LESSONS = sorted(p.stem for p in (ROOT / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
MARKERS = ["### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "# YOUR CODE HERE",
           "raise NotImplementedError", "from grader", "import grader"]


@pytest.fixture(scope="module")
def site_url():
    """Build the site as `make site` does and serve it on 127.0.0.1.

    The capstone trains its short (autograder) schedule here, into a build folder of its own whose
    execution cache survives between runs: a cold build takes about a minute instead of 2.5.
    """
    build_dir = ROOT / "site" / "_build" / "reduced-training"
    build_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(build_dir / "build.lock"):  # pytest-xdist workers share the build folder
        build = subprocess.run([sys.executable, str(ROOT / "site" / "build.py"), "--reduced-training",
                                f"--build-dir={build_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"site/build.py failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    html = build_dir / "html"
    handler = functools.partial(_QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _internal_links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    return sorted({h for h in hrefs if h.startswith(base)})


def _check_links(page, links: list[str]) -> None:
    """Every internal link answers 200 and its #anchor exists on the target page."""
    for link in links:
        target, _, anchor = link.partition("#")
        response = page.request.get(target)
        assert response.ok, f"broken link {link}: HTTP {response.status}"
        if anchor and target.endswith(".html"):
            text = response.text()
            assert f'id="{urllib.parse.unquote(anchor)}"' in text, f"broken link {link}: no element with id {anchor!r}"


def test_index_maps_every_lesson(page, site_url):
    page.goto(site_url)
    page.steps.shot("index")
    assert page.locator("h1").first.inner_text().startswith("The Transformer")
    linked = {Path(urllib.parse.urlparse(h).path).stem for h in _internal_links(page, site_url)
              if h.split("#")[0].endswith(".html")}
    missing = [lesson for lesson in LESSONS if lesson not in linked]
    assert not missing, f"the index does not link these lessons: {missing}"
    table = page.locator("table").first.inner_text()
    assert all(lesson[:2] in table for lesson in LESSONS), "the lecture map table lacks a lesson"
    _check_links(page, _internal_links(page, site_url))
    assert not page.console_errors, f"console errors on the index: {page.console_errors}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_page(page, site_url, lesson):
    page.goto(site_url + f"{lesson}.html")
    page.wait_for_load_state("networkidle")
    page.steps.shot("top")
    text = page.locator("body").inner_text()
    html = page.content()
    found = [marker for marker in MARKERS if marker in html]
    assert not found, f"{lesson}: nbgrader markers or grader imports on the page: {found}"

    # Equations typeset by the MathJax that ships with the site, figures loaded.
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    assert page.locator("mjx-container").count() > 0, f"{lesson}: no equation was typeset"
    images = page.locator("img")
    assert images.count() > 0, f"{lesson}: no figure on the page"
    broken = page.eval_on_selector_all("img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"{lesson}: figures that did not load: {broken}"
    images.first.scroll_into_view_if_needed()
    page.steps.shot("figure")

    # Exercises are shown, their solutions folded; unfolding one shows the code.
    assert "Exercise." in text, f"{lesson}: no exercise on the page"
    solutions = page.locator("details:has(summary:has-text('Show the worked solution'))")
    assert solutions.count() > 0, f"{lesson}: no folded worked solution"
    assert solutions.evaluate_all("ds => ds.every(d => !d.open)"), f"{lesson}: a worked solution is unfolded at first sight"
    first = solutions.first
    first.scroll_into_view_if_needed()
    code = first.locator("pre")
    assert not code.is_visible(), f"{lesson}: the worked solution is visible before unfolding"
    first.locator("summary").click()
    assert code.is_visible(), f"{lesson}: unfolding the worked solution shows no code"
    assert re.search(r"^\s*(def|class) ", code.inner_text(), re.MULTILINE), code.inner_text()
    page.wait_for_timeout(500)  # the fold fades in
    page.steps.shot("solution_unfolded")

    _check_links(page, _internal_links(page, site_url))
    assert not page.console_errors, f"{lesson}: console errors: {page.console_errors}"
