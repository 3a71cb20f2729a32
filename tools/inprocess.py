"""Run notebooks in-process and judge them with the grader's own trusted-verdict code.

    python -m tools.inprocess [--workers N] [--visible-only] [--only test_softmax] [--json OUT] NOTEBOOK.ipynb ...

A developer tool, not a way to grade students. Grading a notebook through a kernel costs a
kernel start, `import torch` and Jupyter messaging every time; the corpus (~300 notebooks) paid
that for most of `make test`. Here one warm parent (torch, IPython and the checks imported once)
forks a child per notebook; the child runs the notebook's cells in a real IPython shell (the
kernel's own executor, with the grading kernel's start-up file) and judges the hidden tests with
`verdicts.judge`, the code `TrustedExecute` runs: the hidden blocks call the student's objects
through `RemoteKernel` proxies and the kernel agent exactly as in grading. Only the transport
differs: a request is handed to the agent in this process (`DirectLine`) instead of a socket.

What it does not have, so what must still go through real kernels (tools/corpus.py does):
no sandbox and no process boundary between the judge and the notebook (a notebook that patches
modules would patch the judge too: cheats are graded in kernels only), no nbgrader converter,
gradebook or output limits. tools/corpus.py grades a sample of the same notebooks through the
real pipeline too and requires both to agree cell by cell.

Scoring follows nbgrader's rule as our pipeline configures it: a test cell earns its points when
its visible part raised nothing and its hidden check passed (stderr is ignored, runner.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

if __name__ == "__main__":  # the warm parent, before torch is imported
    # One thread per notebook: children run side by side on a small machine, and a torch thread
    # pool must never be started in the parent they are forked from.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ.setdefault("MPLBACKEND", "agg")

import nbformat  # noqa: E402

from grader.boundary.verdicts import is_test_cell, judge, split_hidden  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP = REPO_ROOT / "grader" / "kernel_startup.py"
NOTEBOOK_TIMEOUT = 600  # seconds; a notebook that takes longer is reported, not waited for


@dataclass
class Cell:
    """One test cell's result."""

    grade_id: str
    points: float
    visible: str | None  # what its visible part raised ("ValueError: ..."), None if nothing
    hidden: str | None   # the hidden check's failure message, None if it passed

    @property
    def score(self) -> float:
        return 0.0 if self.visible or self.hidden else self.points


class Shell:
    """A fresh IPython shell that runs code cells like a grading kernel does."""

    def __init__(self):
        from IPython.core.interactiveshell import InteractiveShell

        self.ip = InteractiveShell.instance()
        self.ip.run_cell(STARTUP.read_text(), store_history=False)

    def run(self, source: str) -> list[dict]:
        """Run `source`; return its displays and error as nbformat output dicts."""
        from IPython.utils.capture import capture_output

        with capture_output(stdout=True, stderr=True, display=True) as captured:
            result = self.ip.run_cell(source, store_history=False)
        outputs = [{"output_type": "display_data", "data": dict(out.data)} for out in captured.outputs]
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            outputs.append({"output_type": "error", "ename": type(error).__name__, "evalue": str(error)})
        return outputs


class DirectLine:
    """The in-process twin of grader/boundary/line.py's AgentLine: a request goes straight to the
    agent the judge installed in this process (no cell per request), its output dropped."""

    def __init__(self):
        from grader.boundary.remote import AGENT_NAME

        self.agent = sys.modules[AGENT_NAME].AGENT

    def ask(self, request: bytes, limit: int) -> str:
        import contextlib

        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
            answer = self.agent.answer(request)
        if len(answer) > limit:
            from grader.boundary.line import LineError

            raise LineError(f"your code returned more than {limit // 2**20} MB of data; results this large are not graded")
        return answer.decode()

    def close(self) -> None:
        pass


def with_tests(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` with every test cell as the instructor's `source` notebook has it, hidden tests included
    (what nbgrader's OverwriteCells does before grading)."""
    tests = {c.metadata.nbgrader["grade_id"]: c.source for c in source.cells if is_test_cell(c)}
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if is_test_cell(cell) and cell.metadata.nbgrader["grade_id"] in tests:
            cell.source = tests[cell.metadata.nbgrader["grade_id"]]
    return nb


def run_notebook(nb: nbformat.NotebookNode, hidden: bool = True, only: str | None = None) -> list[Cell]:
    """Run `nb` in this process (a fresh child of the warm parent) and score its test cells; with
    `only`, score just the test cells whose grade id starts with it (every cell still runs)."""
    import logging

    shell = Shell()
    cells, hidden_blocks, code = [], {}, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = cell.source
        if is_test_cell(cell):
            source, hidden_blocks[index] = split_hidden(source)
        code.append(source)
        outputs = shell.run(source)
        if index in hidden_blocks and cell.metadata.nbgrader["grade_id"].startswith(only or ""):
            error = next((f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"), None)
            cells.append((index, Cell(cell.metadata.nbgrader["grade_id"], float(cell.metadata.nbgrader.get("points", 0)), error, None)))
    if hidden:
        names = {index: cell.grade_id for index, cell in cells}
        verdicts = judge({index: hidden_blocks[index] for index in names}, code, shell.run, names,
                         logging.getLogger("tools.inprocess"), open_line=DirectLine)
        for index, cell in cells:
            cell.hidden = verdicts.get(index)
    return [cell for _, cell in cells]


def run_in_subprocess(jobs: dict[Path, str | None], workers: int, hidden: bool = True,
                      timeout: float = NOTEBOOK_TIMEOUT) -> dict[str, list[Cell] | str]:
    """`run_many` on notebook files, each with its `only`, from a fresh interpreter (keys: the
    paths as given).

    The caller may have run torch with a thread pool (a test process has); children forked from
    it could inherit a pool that is not fork-safe, so the warm parent is a new process."""
    with tempfile.TemporaryDirectory(prefix="inprocess-") as tmp:
        out, jobs_file = Path(tmp) / "results.json", Path(tmp) / "jobs.json"
        jobs_file.write_text(json.dumps({str(path): only for path, only in jobs.items()}))
        command = [sys.executable, "-m", "tools.inprocess", "--workers", str(workers), "--json", str(out),
                   "--timeout", str(timeout), "--jobs", str(jobs_file)]
        subprocess.run(command + ([] if hidden else ["--visible-only"]), check=True, cwd=REPO_ROOT)
        data = json.loads(out.read_text())
    return {key: value if isinstance(value, str) else [Cell(**c) for c in value] for key, value in data.items()}


def _child(nb: nbformat.NotebookNode, hidden: bool, only: str | None, out: int) -> None:
    """Body of a forked child: become a fresh process, run the notebook, report as JSON, exit."""
    import random

    import numpy as np
    import torch

    seed = int.from_bytes(os.urandom(8), "little")  # as a new process would: not the parent's draws
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # what nbgrader tells a grading kernel
    os.chdir(tempfile.mkdtemp(prefix="inprocess-"))
    try:
        payload = {"cells": [asdict(c) for c in run_notebook(nb, hidden, only)]}
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which decides
        payload = {"error": f"{type(err).__name__}: {err}"}
    data = json.dumps(payload).encode()
    with os.fdopen(out, "wb") as pipe:
        pipe.write(data)
    os._exit(0)


def run_many(notebooks: dict[str, nbformat.NotebookNode], workers: int = 2, hidden: bool = True,
             timeout: float = NOTEBOOK_TIMEOUT, only: dict[str, str | None] | None = None,
             progress: Callable[[int, int], None] = lambda done, total: None) -> dict[str, list[Cell] | str]:
    """Run every notebook in its own forked child, `workers` at a time (`only`: see run_notebook).

    Returns {key: [Cell, ...]} or {key: "why it has no result"} (crashed, timed out).
    """
    import IPython.core.interactiveshell  # noqa: F401 - imported once, here, for every child
    import torch  # noqa: F401
    import grader.checks  # noqa: F401  (and with it the course_check modules the hidden blocks use)

    pending = list(notebooks.items())
    running: dict[int, tuple[str, int, float, bytearray]] = {}  # pid -> key, fd, started, data
    results: dict[str, list[Cell] | str] = {}
    selector = selectors.DefaultSelector()
    while pending or running:
        while pending and len(running) < workers:
            key, nb = pending.pop(0)
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                os.setpgid(0, 0)
                _child(nb, hidden, (only or {}).get(key), write)
            os.close(write)
            running[pid] = (key, read, time.monotonic(), bytearray())
            selector.register(read, selectors.EVENT_READ, pid)
        for event, _ in selector.select(timeout=1.0):
            pid = event.data
            chunk = os.read(event.fd, 1 << 20)
            if chunk:
                running[pid][3].extend(chunk)
                continue
            selector.unregister(event.fd)
            os.close(event.fd)
            key, _, _, data = running.pop(pid)
            _, status = os.waitpid(pid, 0)
            results[key] = _result(data, status)
            progress(len(results), len(notebooks))
        for pid, (key, fd, started, _) in list(running.items()):
            if time.monotonic() - started > timeout:
                _kill(pid)
                selector.unregister(fd)
                os.close(fd)
                running.pop(pid)
                results[key] = f"did not finish within {timeout:.0f} s"
                progress(len(results), len(notebooks))
    return results


def _result(data: bytearray, status: int) -> list[Cell] | str:
    if not data:
        return f"the notebook's process died ({_status(status)})"
    payload = json.loads(data)
    if "error" in payload:
        return f"could not be run: {payload['error'][:300]}"
    return [Cell(**cell) for cell in payload["cells"]]


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def _say_progress(done: int, total: int) -> None:
    if done % 25 == 0 or done == total:
        print(f"judged {done}/{total} notebooks in-process", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.inprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks with their hidden tests (see with_tests)")
    parser.add_argument("--only", help="score only the test cells whose grade id starts with this")
    parser.add_argument("--jobs", type=Path, help="a JSON file {notebook: only or null}, instead of NOTEBOOK and --only")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--visible-only", action="store_true", help="run the visible tests only (no hidden checks)")
    parser.add_argument("--timeout", type=float, default=NOTEBOOK_TIMEOUT, help="seconds per notebook")
    parser.add_argument("--json", type=Path, help="write {notebook: [cell, ...] or reason} here instead of printing")
    args = parser.parse_args(argv)
    jobs = json.loads(args.jobs.read_text()) if args.jobs else {str(p): args.only for p in args.notebooks}
    if not jobs:
        parser.error("name at least one notebook (or --jobs)")
    results = run_many({path: nbformat.read(path, as_version=4) for path in jobs}, workers=args.workers,
                       hidden=not args.visible_only, timeout=args.timeout, only=jobs, progress=_say_progress)
    if args.json:
        args.json.write_text(json.dumps({key: cells if isinstance(cells, str) else [asdict(c) for c in cells]
                                         for key, cells in results.items()}))
        return 0
    for key, cells in results.items():
        print(key)
        if isinstance(cells, str):
            print(f"  {cells}")
            continue
        for cell in cells:
            why = cell.visible or cell.hidden or ""
            print(f"  {cell.grade_id}: {cell.score:g}/{cell.points:g}  {why[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
