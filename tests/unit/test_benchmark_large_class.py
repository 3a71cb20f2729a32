"""benchmarks/large_class.py measures what it says: each process of a grading run is counted as the
kind it is, a process tree's memory is read until its root exits, and a task gradebook copied under
a new student id merges as that student with the original's grades."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grader.gradebook import graded_submissions, merge_submission, open_gradebook, submission_score
from grader.release import generate

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import large_class  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
TOY = "00_toy"

# Command lines of a `python -m grader autograde --workers 2` tree, as /proc showed them (shortened).
COMMAND = "/venv/bin/python -m grader autograde subs --workspace ws --workers 2"
BWRAP = "/usr/bin/bwrap --unshare-user --uid 65534 --unshare-pid -- /venv/bin/python -m _sandboxed.warm_parent {}"
WARM = "/venv/bin/python -Xfrozen_modules=off -m _sandboxed.warm_parent {\"socket\": \"/tmp/.warm/parent.sock\"}"
FORK_SERVER = "/venv/bin/python -B -c from multiprocessing.forkserver import main; main(6, 12)"
TRACKER = "/venv/bin/python -B -c from multiprocessing.resource_tracker import main;main(6)"


@pytest.mark.parametrize("chain, kind", [
    ([COMMAND], large_class.GRADER),
    ([BWRAP, COMMAND], large_class.SANDBOX),
    ([BWRAP, BWRAP, COMMAND], large_class.SANDBOX),
    ([WARM, BWRAP, BWRAP, COMMAND], large_class.WARM_PARENT),
    ([WARM, WARM, BWRAP, BWRAP, COMMAND], large_class.OTHER),  # the kernel's supervisor
    ([WARM, WARM, WARM, BWRAP, BWRAP, COMMAND], large_class.OTHER),  # the init of its PID namespace
    ([WARM, WARM, WARM, WARM, BWRAP, BWRAP, COMMAND], large_class.KERNEL),
    ([WARM, WARM, WARM, WARM, WARM, BWRAP, BWRAP, COMMAND], large_class.OTHER),  # something a kernel started
    ([FORK_SERVER, COMMAND], large_class.FORK_SERVER),
    ([FORK_SERVER, FORK_SERVER, COMMAND], large_class.GRADING),
    ([TRACKER, COMMAND], large_class.OTHER),
])
def test_each_process_of_a_grading_tree_gets_its_kind(chain, kind):
    assert large_class.kind_of(chain) == kind


def test_the_memory_of_a_process_tree_is_read_until_its_root_exits():
    child = "import time; b = bytearray(64 * 2**20); time.sleep(1.0)"
    root = subprocess.Popen([sys.executable, "-c",
                             f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"])
    watch = large_class.MemoryWatch(interval=0.05)
    watch.start(root.pid)
    root.wait()
    watch.join()  # returns: the root has exited
    peaks = sorted(watch.peaks.values(), key=lambda peak: peak.rss)
    assert [peak.kind for peak in peaks] == [large_class.GRADER, large_class.OTHER]
    assert peaks[-1].rss >= 64 * 2**20 and peaks[-1].pss >= 64 * 2**20  # the child's 64 MiB, touched
    assert watch.tree_pss >= peaks[-1].pss


def test_a_renamed_task_gradebook_merges_as_the_new_student_with_the_same_grades(tmp_path):
    task, main = (tmp_path / name / "gradebook.db" for name in ("task", "main"))
    for db in (task, main):
        generate(FIXTURES / "solutions", db.parent / "release", [TOY], f"sqlite:///{db}", db.parent)
    with open_gradebook(f"sqlite:///{task}") as gb:
        gb.add_student("ada")
        for notebook in gb.add_submission(TOY, "ada").notebooks:
            for grade in notebook.grades:
                grade.auto_score = grade.max_score / 3
        gb.db.commit()
    copy = tmp_path / "copy.db"

    large_class.renamed_copy(task, copy, "ada", "bob")
    merge_submission(f"sqlite:///{copy}", f"sqlite:///{main}", TOY, "bob")

    assert graded_submissions(f"sqlite:///{main}") == [("bob", TOY)]
    assert submission_score(f"sqlite:///{main}", TOY, "bob") == submission_score(f"sqlite:///{task}", TOY, "ada")
    assert graded_submissions(f"sqlite:///{task}") == [("ada", TOY)]  # the template is unchanged
