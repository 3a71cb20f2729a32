"""Browser tests: Playwright for Python driving Debian's Chromium (never Playwright's own download).

Chromium is looked up as $CHROMIUM, then `chromium` on PATH. Without it the tests skip with the
reason, except under CI (CI=true), where a missing browser fails them: `.ci/run` installs it.
Every test keeps a screenshot per step under tests/browser/artifacts/<test>/ when it fails (the
folder is removed when it passes, unless KEEP_SCREENSHOTS=1).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def chromium_path() -> str | None:
    candidate = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return candidate if candidate and os.access(candidate, os.X_OK) else None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        message = ("Chromium not found (set CHROMIUM=/path/to/chromium, or install it: "
                   "`sudo apt-get install chromium` on Debian/Ubuntu)")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI must have it (.ci/run installs it)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
        browser = playwright.chromium.launch(executable_path=path, args=args)
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


class Steps:
    """Screenshots of one test's steps, kept when the test fails."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def shot(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


@pytest.fixture
def page(browser, request):
    """A fresh page (own browser context) of 1400x900 that records console errors and failed requests."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    # A request the page's own navigation cut off (net::ERR_ABORTED, e.g. the favicon while the test
    # moves on) is not a fault of the site; a missing file still shows as HTTP 404 below.
    page.on("requestfailed", lambda req: "ERR_ABORTED" not in (req.failure or "")
            and page.console_errors.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda resp: resp.status >= 400 and page.console_errors.append(f"HTTP {resp.status}: {resp.url}"))
    page.steps = Steps(page, ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name))
    yield page
    failed = any(getattr(request.node, f"report_{when}", None) is not None
                 and getattr(request.node, f"report_{when}").failed for when in ("setup", "call"))
    if failed:
        try:
            page.steps.shot("at_failure")
        except Exception:  # the page may be gone; the earlier steps are kept anyway
            pass
    context.close()
    if not failed and not os.environ.get("KEEP_SCREENSHOTS"):
        shutil.rmtree(page.steps.folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A process (JupyterLab) started in its own process group, stopped with everything it started."""

    def __init__(self, command: list[str], *, url: str, log: Path, env: dict, cwd: Path, timeout: float = 120):
        self.url, self.log = url, log
        self._log_file = open(log, "wb")
        self.process = subprocess.Popen(command, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        env=env, cwd=cwd, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {self.process.returncode}:\n{self.output()}")
            try:
                urllib.request.urlopen(url, timeout=5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"no answer from {url} after {timeout} s:\n{self.output()}")
                time.sleep(0.5)

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()
