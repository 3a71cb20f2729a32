"""The self-study site (`make site`) in a real browser: index, every lesson, figures, links, folds,
previous/next, downloads, a phone-sized window, and not one request that leaves the site."""

from __future__ import annotations

import ast
import functools
import http.server
import io
import os
import shutil
import json
import re
import subprocess
import sys
import threading
import urllib.parse
import zipfile
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
    execution cache survives between runs: a cold build takes about 1.5 minutes instead of 2.5.
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


def _record_requests(page) -> list[str]:
    """Every URL the page asks for from now on (documents, scripts, fonts, images, ...)."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def _outside(urls: list[str], base: str) -> list[str]:
    return sorted({u for u in urls if not u.startswith((base, "data:", "blob:", "about:"))})


def _test_titles(lesson: str) -> set[str]:
    """The whole docstring of every visible test in the lesson's solution notebook, on one line."""
    notebook = json.loads((ROOT / "solutions" / lesson / f"{lesson}.ipynb").read_text(encoding="utf-8"))
    titles = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            source = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", "".join(cell["source"]), flags=re.DOTALL)
            docstring = ast.get_docstring(ast.parse(source))
            if docstring:
                titles.add(" ".join(docstring.split()))
    return titles


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
    requests = _record_requests(page)
    page.goto(site_url)
    page.wait_for_load_state("networkidle")
    page.steps.shot("index")
    assert page.locator("h1").first.inner_text().startswith("The Transformer")
    linked = {Path(urllib.parse.urlparse(h).path).stem for h in _internal_links(page, site_url)
              if h.split("#")[0].endswith(".html")}
    missing = [lesson for lesson in LESSONS if lesson not in linked]
    assert not missing, f"the index does not link these lessons: {missing}"
    table = page.locator("table").first.inner_text()
    assert all(lesson[:2] in table for lesson in LESSONS), "the lecture map table lacks a lesson"
    _check_links(page, _internal_links(page, site_url))
    bundle = page.locator("a.download-bundle")
    assert bundle.count() == 1 and bundle.is_visible(), "the index offers no student bundle"
    _check_bundle(page.request.get(urllib.parse.urljoin(site_url, bundle.get_attribute("href"))))
    assert not page.console_errors, f"console errors on the index: {page.console_errors}"
    assert not _outside(requests, site_url), f"the index asks for things outside the site: {_outside(requests, site_url)}"


def _check_bundle(response) -> None:
    """The student bundle as `python -m grader release` zips it: every released notebook, byte for byte."""
    assert response.ok, f"the student bundle: HTTP {response.status}"
    with zipfile.ZipFile(io.BytesIO(response.body())) as bundle:
        names = set(bundle.namelist())
        for lesson in LESSONS:
            member = f"transformer-course/course/{lesson}/{lesson}.ipynb"
            assert member in names, f"the bundle lacks {member}"
            assert bundle.read(member) == (ROOT / "course" / lesson / f"{lesson}.ipynb").read_bytes(), \
                f"{member} in the site's bundle is not the released notebook"
        assert bundle.read("transformer-course/Makefile") == (ROOT / "lab" / "student.mk").read_bytes()
        assert "transformer-course/README.md" in names and "transformer-course/lib/course_check/__init__.py" in names


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_page(page, site_url, lesson):
    requests = _record_requests(page)
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

    # Test titles are the tests' whole descriptions, never cut mid-sentence.
    titles = [t.removeprefix("Test: ").strip() for t in page.locator("details summary").all_inner_texts()
              if t.strip().startswith("Test: ")]
    assert titles, f"{lesson}: no folded test"
    expected = _test_titles(lesson)
    cut = [t for t in titles if t not in expected]
    assert not cut, f"{lesson}: test titles that are not a test's whole description: {cut}"

    # The student notebook to download is the released one, byte for byte.
    download = page.locator("a.download-notebook")
    assert download.count() == 1 and download.is_visible(), f"{lesson}: no download of the student notebook"
    response = page.request.get(urllib.parse.urljoin(page.url, download.get_attribute("href")))
    assert response.ok, f"{lesson}: the student notebook: HTTP {response.status}"
    assert response.body() == (ROOT / "course" / lesson / f"{lesson}.ipynb").read_bytes(), \
        f"{lesson}: the notebook offered is not course/{lesson}/{lesson}.ipynb"
    assert "### BEGIN SOLUTION" not in response.text()
    assert page.locator("a.download-bundle").count() == 1, f"{lesson}: no link to the student bundle"

    _check_links(page, _internal_links(page, site_url))
    assert not page.console_errors, f"{lesson}: console errors: {page.console_errors}"
    assert not _outside(requests, site_url), f"{lesson}: requests outside the site: {_outside(requests, site_url)}"


def test_previous_next_and_a_sidebar_that_stays(page, site_url):
    """Each lesson links the lessons before and after it (at its top and its foot), "Next, in
    **03 · Masking**" is a link, and the lessons stay in view in the sidebar however far one scrolls."""
    page.goto(site_url + f"{LESSONS[1]}.html")
    top_next = page.locator("nav.lesson-steps a.lesson-next")
    box = top_next.bounding_box()
    assert top_next.is_visible() and box and box["y"] + box["height"] < page.viewport_size["height"], \
        f"no next-lesson link in view at the top of the page: {box}"
    download = page.locator("a.download-notebook").bounding_box()
    assert download and download["y"] + download["height"] < page.viewport_size["height"], \
        f"the student notebook's download is not in view at the top of the page: {download}"
    assert page.locator("nav.lesson-steps a.lesson-prev").get_attribute("href") == f"{LESSONS[0]}.html"
    page.steps.shot("top_with_previous_next")

    page.keyboard.press("End")
    page.wait_for_timeout(300)
    sidebar_lesson = page.locator(".sidebar-tree a", has_text=LESSONS[3][:2]).first
    box = sidebar_lesson.bounding_box()
    assert box and 0 <= box["y"] < page.viewport_size["height"], f"the sidebar scrolled away: {box}"
    foot_next, foot_prev = page.locator("a.next-page"), page.locator("a.prev-page")
    assert foot_prev.get_attribute("href") == f"{LESSONS[0]}.html"
    foot_next.scroll_into_view_if_needed()
    assert foot_next.is_visible()
    page.steps.shot("foot_with_previous_next")
    foot_next.click()
    page.wait_for_url(re.compile(re.escape(LESSONS[2]) + r"\.html"))

    # The closing "Next, in **03 · Masking**" of 02 leads to 03; the top's next link of 03 to 04.
    page.goto(site_url + f"{LESSONS[1]}.html")
    next_line = page.locator("p:has-text('Next, in') a", has_text=LESSONS[2][:2]).first
    next_line.scroll_into_view_if_needed()
    page.steps.shot("next_in_line")
    next_line.click()
    page.wait_for_url(re.compile(re.escape(LESSONS[2]) + r"\.html"))
    page.locator("nav.lesson-steps a.lesson-next").click()
    page.wait_for_url(re.compile(re.escape(LESSONS[3]) + r"\.html"))
    last = page.goto(site_url + f"{LESSONS[-1]}.html")
    assert last.ok and page.locator("nav.lesson-steps a.lesson-next").count() == 0, "the last lesson has a next lesson"
    assert not page.console_errors, page.console_errors


def test_capstone_folds_its_training_logs(page, site_url):
    """The capstone's progress bars (tqdm, about 77 lines) are folded; the self-attention maps read."""
    page.goto(site_url + f"{LESSONS[-1]}.html")
    logs = page.locator("details:has(summary:has-text('Show the training log'))")
    assert logs.count() == 2, f"expected the two training runs' logs folded, found {logs.count()}"
    assert logs.evaluate_all("ds => ds.every(d => !d.open)"), "a training log is unfolded at first sight"
    assert "it/s]" not in page.locator("article").inner_text(), "progress bars are visible on the capstone page"
    logs.first.locator("summary").click()
    assert "it/s]" in logs.first.inner_text(), "the folded training log holds no progress"
    figure = page.locator("section:has(> h3:has-text('heads look at')) img").first
    figure.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.steps.shot("self_attention_maps")
    shown = figure.evaluate("i => i.getBoundingClientRect().width / i.naturalWidth")
    assert shown >= 0.6, f"the self-attention maps are shrunk to {shown:.0%} of their size: their labels are unreadable"


def test_phone_sized_window_keeps_navigation(browser, site_url, tmp_path):
    """At 420 px the page fits the window's width, the lessons sit behind the menu button, and
    previous/next stay at the top of the page."""
    from .conftest import Steps, ARTIFACTS

    context = browser.new_context(viewport={"width": 420, "height": 860})
    page = context.new_page()
    requests = _record_requests(page)
    steps = Steps(page, ARTIFACTS / "test_phone_sized_window_keeps_navigation")
    try:
        page.goto(site_url + f"{LESSONS[1]}.html")
        page.wait_for_load_state("networkidle")
        steps.shot("phone_top")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 420, f"the page is {width} px wide in a 420 px window (sideways scrolling)"
        next_link = page.locator("nav.lesson-steps a.lesson-next")
        box = next_link.bounding_box()
        assert next_link.is_visible() and box and box["x"] + box["width"] <= 420 and box["y"] < 860, \
            f"the next lesson's link is not in view: {box}"
        lesson_link = page.locator(".sidebar-tree a", has_text=LESSONS[3][:2]).first
        assert not lesson_link.is_visible() or lesson_link.bounding_box()["x"] < 0, "the sidebar covers the lesson"
        page.locator(".nav-overlay-icon, label[for='__navigation']:visible").first.click()
        page.wait_for_timeout(400)
        steps.shot("phone_menu_open")
        box = lesson_link.bounding_box()
        assert lesson_link.is_visible() and box and 0 <= box["x"] < 420, f"the menu shows no lesson: {box}"
        lesson_link.click()
        page.wait_for_url(re.compile(re.escape(LESSONS[3]) + r"\.html"))
        steps.shot("phone_after_menu")
        assert not _outside(requests, site_url), _outside(requests, site_url)
    finally:
        context.close()
    if not os.environ.get("KEEP_SCREENSHOTS"):
        shutil.rmtree(steps.folder, ignore_errors=True)
