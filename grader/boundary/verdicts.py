"""Grades decided on the trusted side: nbgrader's Execute step, with the hidden tests moved out.

`TrustedExecute` replaces nbgrader's `Execute` in the autograde pipeline:

1. The hidden part of every test cell (`### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS`) is cut
   out before the kernel sees the notebook, so the kernel runs the student's code and the
   visible tests only, and never imports the checks.
2. After the last cell, while the kernel is still up, the grader loads a small agent into it
   (grader/sandboxed/kernel_agent.py) and runs each hidden block *here*, in the grader's own process: the names
   of the student's functions and classes resolve to proxies (remote.py) that call into the
   kernel and get plain data back.
3. Each test cell's outputs are rewritten from the trusted verdict: the kernel's
   `execute_result`s become plain displays (nbgrader would read one as a partial grade), the
   kernel's own errors stay (they can only lower a grade), and a failed hidden check adds an
   error output with its message. nbgrader's SaveAutoGrades then scores the cells as usual: a
   cell has its points exactly when the visible part raised nothing and the trusted check passed.

The hidden source is put back afterwards, so the graded notebook reads as before.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import re
import time

import nbformat
from nbformat.v4 import new_output
from traitlets import Integer
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute, SaveAutoGrades
from nbgrader.utils import is_grade, is_solution

from course_check import reading
from grader.sandboxed.codec import MIME
from grader.boundary.line import AgentLine
from grader.boundary.remote import KernelAnswerError, RemoteKernel, redact, submission

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n(.*?)^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


def split_hidden(source: str) -> tuple[str, str]:
    """(visible source, hidden source) of a test cell."""
    hidden = "\n".join(m.group(1) for m in HIDDEN.finditer(source))
    return HIDDEN.sub("", source), hidden


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


class _StudentNames(dict):
    """Names a hidden block reads: its own imports first, then the student's objects in the kernel."""

    def __init__(self, kernel: RemoteKernel):
        super().__init__()
        self.kernel = kernel

    def __missing__(self, name: str):
        value = self.kernel.lookup(name)
        self[name] = value
        return value


def error_output(message: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename="AssertionError", evalue=message, traceback=[f"AssertionError: {message}"])


class BoundedExecute(Execute):
    """nbgrader's Execute, keeping at most `max_cell_output_bytes` of output per cell and
    `max_output_bytes` per notebook *while it runs*, so a cell printing a 150 MB line neither
    bloats the graded notebook and its feedback page nor the grading process. An error output
    is always kept (it is how nbgrader tells that a test failed), with its message cut short;
    the line limit (`LimitOutput`) still applies afterwards."""

    max_cell_output_bytes = Integer(256 * 1024, help="bytes of output kept per cell").tag(config=True)
    max_output_bytes = Integer(16 * 2**20, help="bytes of output kept per notebook").tag(config=True)
    max_error_chars = 2000

    def preprocess(self, nb, resources=None, km=None):
        self.start_bounds()
        return super().preprocess(nb, resources, km)

    def start_bounds(self) -> None:
        self._kept: dict[int, int] = {}
        self._total = 0

    def output(self, outs, msg, display_id, cell_index):
        content = msg["content"]
        if msg["msg_type"] == "error":
            content["evalue"] = str(content.get("evalue", ""))[: self.max_error_chars]
            content["traceback"] = [str(line)[: self.max_error_chars] for line in content.get("traceback", [])[:200]]
            return super().output(outs, msg, display_id, cell_index)
        kept = self._kept.get(cell_index, 0)
        room = min(self.max_cell_output_bytes - kept, self.max_output_bytes - self._total)
        if msg["msg_type"] == "stream":
            size = len(content.get("text", ""))
        else:
            size = len(json.dumps(content.get("data", {}), default=str))
        if size <= room:
            self._kept[cell_index] = kept + size
            self._total += size
            return super().output(outs, msg, display_id, cell_index)
        if kept > self.max_cell_output_bytes:  # already cut, and said so
            return None
        if msg["msg_type"] == "stream" and room > 0:
            content["text"] = content["text"][:room]
            super().output(outs, msg, display_id, cell_index)
        self._kept[cell_index] = self.max_cell_output_bytes + 1
        self._total += max(room, 0)
        limit = self.max_cell_output_bytes if room == self.max_cell_output_bytes - kept else self.max_output_bytes
        note = new_output("stream", name="stdout", text=f"\n... Output truncated: more than {limit // 1024} KB ...\n")
        outs.append(note)
        return note


class SaveTrustedGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades; a test the grader sent to review (`needs_review`) is marked as
    needing a manual grade in the gradebook, so formgrader lists it and an instructor's score
    overrides its automatic 0."""

    def _add_score(self, cell, resources) -> None:
        super()._add_score(cell, resources)
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if grade_id in resources.get("grader", {}).get("review", {}):
            grade = self.gradebook.find_grade(grade_id, self.notebook_id, self.assignment_id, self.student_id)
            grade.needs_manual_grade = True
            self.gradebook.db.commit()


class TrustedExecute(BoundedExecute):
    """nbgrader's Execute, with every grade decided by the grader's own process (module docstring)."""

    def preprocess(self, nb, resources=None, km=None):
        self.start_bounds()
        hidden = {}
        for index, cell in enumerate(nb.cells):
            if is_test_cell(cell):
                cell.source, hidden[index] = split_hidden(cell.source)
        code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
        self.verdicts: dict[int, str | None] = {}
        try:
            nb, resources = self._execute_and_judge(nb, resources, km, hidden, code)
        finally:
            for index, source in hidden.items():
                cell = nb.cells[index]
                visible = cell.source
                cell.source = visible.rstrip("\n") + ("\n\n### BEGIN HIDDEN TESTS\n" + source + "### END HIDDEN TESTS" if source else "")
        review = {}
        for index in hidden:
            failure = self.verdicts.get(index, "the grader could not run this test")
            record(nb.cells[index], failure)
            if needs_review(failure):
                review[nb.cells[index].metadata.nbgrader.get("grade_id")] = failure
        resources.setdefault("grader", {})["review"] = review  # read by SaveTrustedGrades
        return nb, resources

    def _execute_and_judge(self, nb, resources, km, hidden, code):
        # nbconvert's ExecutePreprocessor.preprocess, with the judging step inside the kernel's lifetime.
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        with self.setup_kernel():
            assert self.kc
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            assert info_msg
            self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):
                self.preprocess_cell(cell, resources, index)
            self.judge(hidden, code)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def run_code(self, source: str) -> list[dict]:
        """Run grader code in the kernel (not stored in the notebook); return its outputs."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self._judging = True
        try:
            self.execute_cell(cell, len(self.nb.cells) - 1, store_history=False)
        finally:
            self._judging = False
            self.nb.cells.pop()
        return cell.outputs

    def output(self, outs, msg, display_id, cell_index):
        """While the grader's own calls run, keep only what the grader reads: the agent's answer
        and errors (a student's function printing a gigabyte must not fill the grader's memory)."""
        if getattr(self, "_judging", False):
            kind = msg["msg_type"]
            if kind == "stream" or (kind in ("display_data", "update_display_data", "execute_result")
                                    and MIME not in msg.get("content", {}).get("data", {})):
                return None
            if len(outs) >= 10:
                return None
            return Execute.output(self, outs, msg, display_id, cell_index)  # answers are size-checked on reading
        return super().output(outs, msg, display_id, cell_index)

    def judge(self, hidden: dict[int, str], code: list[str]) -> None:
        """Run every hidden block here, against the kernel's objects; fill `self.verdicts`."""
        names = {index: self.nb.cells[index].metadata.nbgrader.get("grade_id") for index in hidden}
        self.verdicts = judge(hidden, code, self.run_code, names, self.log, open_line=lambda: AgentLine.open(self, self.log))


def judge(hidden: dict[int, str], code: list[str], run, names: dict[int, str], log,
          open_line=None) -> dict[int, str | None]:
    """The verdict of every hidden block (cell index -> failure message, None when it passed).

    `hidden` maps test cells to their hidden source, `code` is the submitted notebook's code (for
    the reading, course_check/reading.py), `run(code) -> outputs` runs code in the student's kernel after the
    notebook has run there, and `names` gives each cell's grade id for tracebacks. `open_line`
    opens a direct line to the agent once it is installed (line.py); without one, every request
    is a cell run through `run`.
    """
    text = reading.read(tuple(code))
    uses = {index: _student_names(source) for index, source in hidden.items()}
    exercises = frozenset(name for found in uses.values() for name in found)
    verdicts: dict[int, str | None] = {}
    kernel = RemoteKernel(run, open_line)
    started = time.monotonic()
    dead = None
    with submission(code), contextlib.closing(kernel):
        for index, source in hidden.items():
            if dead:
                verdicts[index] = dead
                continue
            if not source.strip():
                verdicts[index] = "this test has no hidden check; ask your instructor"
                continue
            doubt = _unreadable(text, uses[index], exercises)
            if doubt:  # the text does not show what the exercise runs: a person decides
                verdicts[index] = doubt
                continue
            began = time.monotonic()
            try:
                if not kernel.installed:
                    kernel.install()
                exec(compile(source, f"<hidden test {names.get(index)}>", "exec"),
                     {"__name__": "grader_hidden_test"}, _StudentNames(kernel))
                verdicts[index] = None
            except DeadKernelError:
                dead = "your kernel died while the grader was testing your code"
                verdicts[index] = dead
            except KernelAnswerError as err:
                verdicts[index] = str(err)
            except AssertionError as err:  # the checks' own words (a student's exception text never reaches them)
                verdicts[index] = str(err) or "a hidden check failed"
            except NameError as err:
                verdicts[index] = f"{err}: define it in the notebook (run every cell above before submitting)"
            except NotImplementedError:
                verdicts[index] = "this exercise raised NotImplementedError: write the exercise first."
            except Exception as err:  # a student's exception, rebuilt by class only, or a check that could not run
                log.debug("hidden check of cell %d raised", index, exc_info=True)
                verdicts[index] = (f"your code raised {type(err).__name__} on the grader's inputs (its message is "
                                   "not shown, so that the hidden inputs stay hidden); the visible tests and "
                                   "`python -m course_check` show it on other inputs")
            if verdicts[index] and kernel.student_texts:
                verdicts[index] = redact(verdicts[index], kernel.student_texts)
            log.debug("hidden test of cell %d: %.2f s", index, time.monotonic() - began)
    log.debug("trusted checks took %.1f s", time.monotonic() - started)
    return verdicts


def _student_names(hidden: str) -> list[str]:
    """The names a hidden block takes from the student's notebook (those it does not bind itself)."""
    try:
        tree = ast.parse(hidden)
    except SyntaxError:
        return []
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
              if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    used = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return [name for name in dict.fromkeys(used) if name not in bound and not hasattr(builtins, name)]


def _unreadable(text: reading.Reading, names: list[str], exercises: frozenset[str]) -> str | None:
    """The reading's doubt about any of the student's `names` a hidden block uses, as its verdict."""
    for name in names:
        finding = text.unreadable(name, exercises)
        if finding:
            return finding.message(name)
    return None


def needs_review(failure: str | None) -> bool:
    """Whether a verdict sends its exercise to a person (reading.REVIEW starts it)."""
    return bool(failure) and failure.startswith(reading.REVIEW)


def record(cell, failure: str | None) -> None:
    """Rewrite a test cell's outputs from the trusted verdict (see the module docstring, step 3)."""
    outputs = []
    for out in cell.outputs:
        if out.output_type == "execute_result":
            out = nbformat.v4.new_output("display_data", data=out.get("data", {}), metadata=out.get("metadata", {}))
        outputs.append(out)
    if failure:
        outputs.append(error_output(failure))
    cell.outputs = outputs

