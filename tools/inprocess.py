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
from grader.workspace import KERNEL_STARTUP as STARTUP  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
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


class _Run:
    """One notebook run in this process's shell, cell by cell, then judged (`run_notebook`)."""

    def __init__(self):
        self.shell = Shell()
        self.tests: list[tuple[int, Cell]] = []  # every test cell run so far, with what its visible part raised
        self.hidden: dict[int, str] = {}
        self.code: list[str] = []

    def step(self, index: int, cell, source: str | None = None) -> None:
        """Run cell `index` of the notebook (with `source` instead of its own, for a variant)."""
        if cell.cell_type != "code":
            return
        source = cell.source if source is None else source
        if is_test_cell(cell):
            source, self.hidden[index] = split_hidden(source)
        self.code.append(source)
        outputs = self.shell.run(source)
        if index in self.hidden:
            error = next((f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"), None)
            self.tests.append((index, Cell(cell.metadata.nbgrader["grade_id"], float(cell.metadata.nbgrader.get("points", 0)), error, None)))

    def finish(self, hidden: bool, only: str | None) -> list[Cell]:
        """Score the test cells whose grade id starts with `only` (all: None), judging their hidden parts."""
        import logging

        cells = [(index, copy.copy(cell)) for index, cell in self.tests if cell.grade_id.startswith(only or "")]
        if hidden:
            names = {index: cell.grade_id for index, cell in cells}
            verdicts = judge({index: self.hidden[index] for index in names}, self.code, self.shell.run, names,
                             logging.getLogger("tools.inprocess"), open_line=DirectLine)
            for index, cell in cells:
                cell.hidden = verdicts.get(index)
        return [cell for _, cell in cells]


def run_notebook(nb: nbformat.NotebookNode, hidden: bool = True, only: str | None = None) -> list[Cell]:
    """Run `nb` in this process (a fresh child of the warm parent) and score its test cells; with
    `only`, score just the test cells whose grade id starts with it (every cell still runs)."""
    run = _Run()
    for index, cell in enumerate(nb.cells):
        run.step(index, cell)
    return run.finish(hidden, only)


def run_variants(base: nbformat.NotebookNode, variants: dict[str, tuple[int, str, str | None]], hidden: bool = True,
                 timeout: float = NOTEBOOK_TIMEOUT) -> dict[str, list[Cell] | str]:
    """Judge notebooks that differ from `base` in one cell each, `{key: (cell index, its source, only)}`,
    as `run_notebook` would judge each, without running their shared beginning again: `base` runs
    here cell by cell, and at a variant's cell a child is forked that runs the variant's source and
    the rest of the notebook up to the last test cell it is judged on, then is judged. (The cells
    after that one, the capstone's training among them, change no visible outcome before them, and
    the hidden checks call the exercises' objects, which the reference's later cells do not rebind:
    tools/corpus.py grades a sample in kernels, which run every cell, and requires the same scores.)"""
    run = _Run()
    tests = [i for i, cell in enumerate(base.cells) if is_test_cell(cell)]
    at: dict[int, list[tuple[str, str, str | None]]] = {}
    for key, (index, source, only) in variants.items():
        at.setdefault(index, []).append((key, source, only))
    results: dict[str, list[Cell] | str] = {}
    for index, cell in enumerate(base.cells):
        for key, source, only in at.get(index, []):

            def variant(source=source, only=only, index=index):
                run.step(index, base.cells[index], source)
                last = max((i for i in tests if base.cells[i].metadata.nbgrader["grade_id"].startswith(only or "")),
                           default=len(base.cells) - 1)
                for later in range(index + 1, last + 1):
                    run.step(later, base.cells[later])
                return [asdict(c) for c in run.finish(hidden, only)]

            done = _schedule([(key, variant, timeout)], 1, leader=False)[key]
            results[key] = done if isinstance(done, str) else [Cell(**c) for c in done]
        if len(results) == len(variants):  # the rest of `base` is run by no variant
            break
        run.step(index, cell)
    return results


def run_in_subprocess(jobs: dict[Path, str | None], workers: int, hidden: bool = True,
                      timeout: float = NOTEBOOK_TIMEOUT, variants: dict[str, dict] | None = None) -> dict[str, list[Cell] | str]:
    """`run_many` on notebook files, each with its `only`, and `run_variants` on groups of variants
    (`{group: {"base": path, "variants": {key: [cell index, source, only]}}}`), from a fresh
    interpreter (keys: the paths as given, and the variants' keys).

    The caller may have run torch with a thread pool (a test process has); children forked from
    it could inherit a pool that is not fork-safe, so the warm parent is a new process."""
    with tempfile.TemporaryDirectory(prefix="inprocess-") as tmp:
        out, jobs_file = Path(tmp) / "results.json", Path(tmp) / "jobs.json"
        jobs_file.write_text(json.dumps({str(path): only for path, only in jobs.items()}))
        command = [sys.executable, "-m", "tools.inprocess", "--workers", str(workers), "--json", str(out),
                   "--timeout", str(timeout), "--jobs", str(jobs_file)]
        if variants:
            (Path(tmp) / "variants.json").write_text(json.dumps(variants))
            command += ["--variants", str(Path(tmp) / "variants.json")]
        subprocess.run(command + ([] if hidden else ["--visible-only"]), check=True, cwd=REPO_ROOT)
        data = json.loads(out.read_text())
    return {key: value if isinstance(value, str) else [Cell(**c) for c in value] for key, value in data.items()}


def _fresh_process() -> None:
    """In a forked child: what a new grading process would have (its own random seeds, nbgrader's
    environment variable, a scratch working folder)."""
    import random

    import numpy as np
    import torch

    seed = int.from_bytes(os.urandom(8), "little")  # as a new process would: not the parent's draws
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # what nbgrader tells a grading kernel
    os.chdir(tempfile.mkdtemp(prefix="inprocess-"))


def run_many(notebooks: dict[str, nbformat.NotebookNode], workers: int = 2, hidden: bool = True,
             timeout: float = NOTEBOOK_TIMEOUT, only: dict[str, str | None] | None = None,
             progress: Callable[[int, int], None] = lambda done, total: None,
             variants: dict[str, tuple[nbformat.NotebookNode, dict]] | None = None) -> dict[str, list[Cell] | str]:
    """Run every notebook in its own forked child, `workers` at a time (`only`: see run_notebook),
    and every group of `variants` (`{group: (base, {key: (index, source, only)})}`, see run_variants)
    in a child of its own, largest groups first.

    Returns {key: [Cell, ...]} or {key: "why it has no result"} (crashed, timed out).
    """
    import IPython.core.interactiveshell  # noqa: F401 - imported once, here, for every child
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401  (the first optimizer imports it: 0.7 s)
    import grader.checks  # noqa: F401  (and with it the course_check modules the hidden blocks use)

    jobs: list[tuple[str, Callable[[], object], float]] = []
    for group, (base, members) in sorted((variants or {}).items(), key=lambda item: -len(item[1][1])):
        def judged(base=base, members=members):
            _fresh_process()
            return {key: cells if isinstance(cells, str) else [asdict(c) for c in cells]
                    for key, cells in run_variants(base, members, hidden, timeout).items()}
        jobs.append((f"\0group {group}", judged, timeout * (1 + len(members))))
    for key, nb in notebooks.items():
        def notebook(nb=nb, key=key):
            _fresh_process()
            return [asdict(c) for c in run_notebook(nb, hidden, (only or {}).get(key))]
        jobs.append((key, notebook, timeout))
    total = len(notebooks) + sum(len(members) for _, members in (variants or {}).values())
    done = 0

    def count(key: str, payload) -> None:
        nonlocal done
        done += len(payload) if key.startswith("\0group") and isinstance(payload, dict) else 1
        progress(done, total)

    results: dict[str, list[Cell] | str] = {}
    for key, payload in _schedule(jobs, workers, finished=count).items():
        if not key.startswith("\0group"):
            results[key] = payload if isinstance(payload, str) else [Cell(**c) for c in payload]
            continue
        members = variants[key.removeprefix("\0group ")][1]
        for member in members:
            value = payload.get(member, "no result") if isinstance(payload, dict) else f"its group {payload}"
            results[member] = value if isinstance(value, str) else [Cell(**c) for c in value]
    return results


def _schedule(jobs: list[tuple[str, Callable[[], object], float]], workers: int, leader: bool = True,
              finished: Callable[[str, object], None] = lambda key, payload: None) -> dict[str, object]:
    """Run each job `(key, function, seconds)` in a forked child, `workers` at a time, killing one that
    runs longer than its seconds; {key: the function's JSON result, or why there is none}. With
    `leader`, each child leads a process group of its own (killed with everything it started);
    else it stays in this process's group, which is killed with it."""
    pending = list(jobs)
    running: dict[int, tuple[str, int, float, bytearray, float]] = {}  # pid -> key, fd, deadline, data, seconds
    results: dict[str, object] = {}
    selector = selectors.DefaultSelector()
    while pending or running:
        while pending and len(running) < workers:
            key, work, seconds = pending.pop(0)
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                if leader:
                    os.setpgid(0, 0)
                _child(work, write)
            os.close(write)
            running[pid] = (key, read, time.monotonic() + seconds, bytearray(), seconds)
            selector.register(read, selectors.EVENT_READ, pid)
        for event, _ in selector.select(timeout=1.0):
            pid = event.data
            chunk = os.read(event.fd, 1 << 20)
            if chunk:
                running[pid][3].extend(chunk)
                continue
            selector.unregister(event.fd)
            os.close(event.fd)
            key, _, _, data, _ = running.pop(pid)
            _, status = os.waitpid(pid, 0)
            results[key] = _result(data, status)
            finished(key, results[key])
        for pid, (key, fd, deadline, _, seconds) in list(running.items()):
            if time.monotonic() > deadline:
                _kill(pid)
                selector.unregister(fd)
                os.close(fd)
                running.pop(pid)
                results[key] = f"did not finish within {seconds:.0f} s"
                finished(key, results[key])
    return results


def _child(work: Callable[[], object], out: int) -> None:
    """Body of a forked child: run `work`, report its result as JSON, exit."""
    try:
        payload = {"result": work()}
    except BaseException as err:  # noqa: BLE001 - reported to the parent, which decides
        payload = {"error": f"{type(err).__name__}: {err}"}
    data = json.dumps(payload).encode()
    with os.fdopen(out, "wb") as pipe:
        pipe.write(data)
    os._exit(0)


def _result(data: bytearray, status: int) -> object:
    if not data:
        return f"the notebook's process died ({_status(status)})"
    payload = json.loads(data)
    if "error" in payload:
        return f"could not be run: {payload['error'][:300]}"
    return payload["result"]


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _kill(pid: int) -> None:
    """Kill a child and, if it leads one, its process group."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
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
    parser.add_argument("--variants", type=Path, help="a JSON file {group: {\"base\": notebook, \"variants\": "
                        "{key: [cell index, source, only or null]}}}: notebooks that differ from the base in one cell each")
    parser.add_argument("--json", type=Path, help="write {notebook: [cell, ...] or reason} here instead of printing")
    args = parser.parse_args(argv)
    jobs = json.loads(args.jobs.read_text()) if args.jobs else {str(p): args.only for p in args.notebooks}
    groups = json.loads(args.variants.read_text()) if args.variants else {}
    if not jobs and not groups:
        parser.error("name at least one notebook (or --jobs, --variants)")
    variants = {group: (nbformat.read(spec["base"], as_version=4), {key: tuple(v) for key, v in spec["variants"].items()})
                for group, spec in groups.items()}
    results = run_many({path: nbformat.read(path, as_version=4) for path in jobs}, workers=args.workers,
                       hidden=not args.visible_only, timeout=args.timeout, only=jobs, progress=_say_progress,
                       variants=variants)
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
