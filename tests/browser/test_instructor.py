"""The instructor's path, offline, in Chromium: autograde -> report with the review queue -> a
manual decision -> feedback -> formgrader.

The toy class is graded through the command line (with a roster); one exercise is flagged for
review as the verdicts flag one (tests/e2e/test_instructor_review.py). Every page is opened with
every request that leaves this machine refused and recorded: none may be made.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_instructor_review import flag_for_review

from .conftest import ROOT, Server, free_port
from .test_lab import lab_env, lab_options

TOY = "00_toy"
FIXTURES = ROOT / "tests" / "fixtures"


def grader(*args, check: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(FIXTURES / "kernel_path")}  # the toy's hidden checks
    done = subprocess.run([sys.executable, "-m", "grader", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == check, f"grader {args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def offline(page) -> list[str]:
    """Refuse (and record) every request that is neither a local file nor this machine's server."""
    outside: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("file://", "data:", "http://127.0.0.1", "about:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    page.route("**/*", route)
    return outside


def test_instructor_path_offline(page, tmp_path):
    subs, ws, out = tmp_path / "submitted", tmp_path / "ws", tmp_path / "report"
    grader("sample-class", subs, "--source", FIXTURES / "solutions")
    shutil.rmtree(subs / "dave_broken")
    (subs / "gina" / TOY).mkdir(parents=True)
    shutil.copy(subs / "alice_correct" / TOY / f"{TOY}.ipynb", subs / "gina" / TOY / f"{TOY}.ipynb")
    roster = tmp_path / "students.csv"
    roster.write_text("student_id,first_name,last_name,email\ngina,Gina,Gauss,gina@example.org\n")
    grader("autograde", subs, "--workspace", ws, "--source", FIXTURES / "solutions", "--roster", roster)
    flag_for_review(ws, "gina", "test_square_values")
    outside = offline(page)

    # The report: contents, the queue with gina's exercise, a table that sorts.
    grader("report", "--workspace", ws, "--out", out)
    page.goto((out / "summary.html").as_uri())
    page.steps.shot("report")
    assert page.locator("nav a", has_text="Review queue").is_visible()
    row = page.locator("#review-queue tbody tr").first
    assert row.inner_text().split("\t")[:4] == ["gina", TOY, "square", "test_square_values"], row.inner_text()
    assert "to review" in row.inner_text()
    students = page.locator("#students-table")
    students.locator("th").nth(2).click()  # total, ascending
    first = students.locator("tbody tr").first.inner_text().split("\t")[0]
    assert first == "carol_blank", f"sorted by total, the lowest first: {first}"
    page.steps.shot("report_sorted")

    # The instructor reads the code and accepts it: the report shows the decision and the score.
    grader("review", "--workspace", ws, "gina", TOY, "square", "--accept")
    grader("report", "--workspace", ws, "--out", out)
    page.goto((out / "summary.html").as_uri())
    assert page.locator("#review-queue tbody tr").first.inner_text().endswith("2/2")
    assert "gina\t3" in page.locator("#students-table").inner_text()

    # Feedback: linked from the report, titled tests, the environment's MathJax loaded from disk.
    grader("feedback", "--workspace", ws)
    grader("report", "--workspace", ws, "--out", out)
    page.goto((out / "summary.html").as_uri())
    page.locator("#students-table tr", has_text="bob_partial").locator("a").first.click()
    page.wait_for_function("window.MathJax && window.MathJax.startup && window.MathJax.startup.promise")
    page.steps.shot("feedback")
    assert page.locator("a", has_text="double: twice the input for a few numbers.").count() == 1
    assert page.locator("a", has_text=re.compile(r"^Test cell$")).count() == 0

    # Formgrader: roster names, the released course, gina's manual score; no CDN, no errors.
    port, token = free_port(), secrets.token_hex(16)
    server = Server([sys.executable, str(ROOT / "lab" / "instructor.py"), f"--workspace={ws}",
                     *lab_options(tmp_path, port, token)],
                    url=f"http://127.0.0.1:{port}/api/status?token={token}", log=tmp_path / "lab.log",
                    env=lab_env(tmp_path), cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        page.goto(f"{base}/lab?token={token}")  # logs in (cookie) as the instructor's browser would be
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for(timeout=60_000)
        page.goto(f"{base}/formgrader/manage_students")
        page.locator("td", has_text="gina").first.wait_for(timeout=60_000)
        page.console_errors.clear()  # JupyterLab's own requests, cut off by leaving it, are not formgrader's
        assert "Gauss, Gina" in page.locator("body").inner_text()
        page.goto(f"{base}/formgrader/manage_assignments")
        page.locator("td", has_text="01_embeddings").first.wait_for(timeout=60_000)
        page.steps.shot("formgrader_assignments")
        row = page.locator("tr", has_text="01_embeddings").first.inner_text()
        assert "released" in row and "draft" not in row, row
        page.goto(f"{base}/formgrader/gradebook/{TOY}/{TOY}")
        page.locator("text=Submission #1").first.wait_for(timeout=60_000)
        with page.expect_response(re.compile(r"/files/feedback/_static/mathjax/tex-svg\.js$")) as mathjax:
            page.locator("a", has_text=re.compile(r"^Submission #")).first.click()
        assert mathjax.value.status == 200
        page.wait_for_function("window.MathJax && window.MathJax.loaded === true", timeout=60_000)
        page.steps.shot("formgrade")
        assert not page.console_errors, page.console_errors
    finally:
        server.stop()
    assert not outside, f"requests that left the machine: {outside}"
