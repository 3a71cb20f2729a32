"""What does a large class need? Grading throughput and memory, measured on a class this machine can
grade; the gradebook's merge and `report` measured on a class of thousands.

    .venv/bin/python benchmarks/large_class.py [--students 10] [--assignments A ...] [--workers 2]
                                               [--class-sizes 100 250 500 1000 2000] [--keep DIR]
                                               [--reuse DIR]

Grading every notebook of a class of 2,000 (16,000 notebooks, 2-4 s each per worker) would take
days on two cores, so the run has two parts:

1. **Grading.** `--students` synthetic full-course submissions (benchmarks/grading.py's `build`:
   two thirds correct, every third one with its last exercise blank) graded for real by
   `python -m grader autograde --workers N` (forked kernels, sandboxed: the defaults). Prints
   notebooks per core-minute, overall (notebooks / (wall minutes x workers), start-up included) and
   per assignment (60 / the median seconds a worker spent on one of its notebooks), and the memory:
   while the command runs, its process tree is read from /proc every `--poll` seconds
   (`MemoryWatch`); each process is sorted into a kind by its place in the tree (`kind_of`) and
   keeps its peak RSS (the kernel's own high-water mark, VmHWM, so a peak between two reads is not
   missed) and its peak PSS (proportional set size, at the reads: pages shared copy-on-write with
   a warm parent or the fork server are divided among the processes sharing them, so PSS adds up,
   RSS does not). The tree's peak total PSS, divided by the workers, is the memory one grading
   slot (one core) needs.
2. **Gradebook and report.** The graded submissions of part 1 are merged again and again, under
   new student ids, into an empty workspace gradebook until it holds the largest `--class-sizes`
   class, by what merges a real run's results: `grader.autograde.Recorder` (the gradebook merge,
   the score read back, the saved hashes), from task gradebooks like a grading task's (the
   gradebook before the run plus the one graded submission; only the student id is rewritten),
   with the submission's files staged in submitted/ and autograded/ as a run leaves them. Prints
   the time per merged submission in each step of class size (flat = the total grows linearly),
   then times `python -m grader report` on the smallest and the largest gradebook.
   `--reuse DIR` runs part 2 alone, from the graded submissions of an earlier run kept with
   `--keep DIR` (its `graded/` workspace), and skips part 3, which needs part 1's figures.

The machine's load changes during a run and other processes share its cores: the load average is
printed with every figure. It is a script, not a test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading import REPO, build, ours  # noqa: E402  (benchmarks/grading.py)
from notebook_times import processor_name  # noqa: E402

from grader import execution, gradebook  # noqa: E402
from grader.autograde import AutogradeResult, Recorder, RunOptions  # noqa: E402
from grader.intake import Submission, find_assignments  # noqa: E402
from grader.settings import SOLUTIONS_DIR, GradingLimits  # noqa: E402
from grader.workspace import Workspace  # noqa: E402

MiB = 2**20
# What each kind of process in `python -m grader autograde`'s tree is (grader/execution.py, grader/forked.py,
# grader/warm_parent.py): the command; multiprocessing's fork server and the grading processes it forks
# (one per notebook); per worker a bubblewrap sandbox whose warm parent forks, per notebook, a supervisor,
# the init of a new PID namespace, and under it the kernel.
GRADER, FORK_SERVER, GRADING, WARM_PARENT, KERNEL, SANDBOX, OTHER = (
    "grader command", "fork server", "grading process", "warm parent", "kernel", "bwrap", "other")
KERNEL_DEPTH = 3  # warm parent -> supervisor -> init -> kernel


def kind_of(cmdlines: list[str]) -> str:
    """The kind of a process, from its command line and its ancestors' up to the grader command:
    `cmdlines[0]` is the process's own, `cmdlines[-1]` the grader command's. A forked process keeps
    its parent's command line, so the place in the tree tells the fork server from its children
    and the warm parent from what it forks. "other": multiprocessing's resource tracker, and a
    kernel's supervisor and init and what a kernel or a grading process starts (counted in the tree's
    total only)."""
    if len(cmdlines) == 1:
        return GRADER
    program = [line.split(" ", 1)[0].rsplit("/", 1)[-1] for line in cmdlines]
    if program[0] == "bwrap":
        return SANDBOX
    in_warm = [i for i, line in enumerate(cmdlines) if "warm_parent" in line and program[i] != "bwrap"]
    if in_warm:
        top = in_warm[-1]  # the warm parent itself: the topmost process running warm_parent
        return WARM_PARENT if top == 0 else KERNEL if top == KERNEL_DEPTH else OTHER
    if "forkserver" in cmdlines[0]:
        return FORK_SERVER if "forkserver" not in cmdlines[1] else GRADING if "forkserver" not in cmdlines[2] else OTHER
    return OTHER


@dataclass
class Peak:
    kind: str
    rss: int = 0  # bytes: VmHWM, the process's peak resident set
    pss: int = 0  # bytes: the largest proportional set size read


@dataclass
class MemoryWatch:
    """Reads the memory of a process tree every `interval` seconds until its root exits (see the
    module docstring): `peaks` per process, `tree_pss` the largest total PSS of the tree at one read."""

    interval: float = 0.25
    peaks: dict[int, Peak] = field(default_factory=dict)
    tree_pss: int = 0
    thread: threading.Thread | None = None

    def start(self, pid: int) -> None:
        self.thread = threading.Thread(target=self._watch, args=(pid,), daemon=True)
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def _watch(self, pid: int) -> None:
        try:
            root = psutil.Process(pid)
            while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
                self._read(root)
                time.sleep(self.interval)
        except psutil.NoSuchProcess:
            return

    def _read(self, root: psutil.Process) -> None:
        lines = {root.pid: " ".join(root.cmdline())}
        total = 0
        for process in [root, *root.children(recursive=True)]:
            try:
                lines.setdefault(process.pid, " ".join(process.cmdline()))
                chain = [process.pid]
                while chain[-1] != root.pid:
                    chain.append(psutil.Process(chain[-1]).ppid())
                    lines.setdefault(chain[-1], " ".join(psutil.Process(chain[-1]).cmdline()))
                pss = process.memory_full_info().pss
                hwm = _vm_hwm(process.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError, ProcessLookupError):
                continue
            peak = self.peaks.setdefault(process.pid, Peak(kind_of([lines[p] for p in chain])))
            peak.rss, peak.pss = max(peak.rss, hwm), max(peak.pss, pss)
            total += pss
        self.tree_pss = max(self.tree_pss, total)

    def by_kind(self) -> dict[str, list[Peak]]:
        found: dict[str, list[Peak]] = {}
        for peak in self.peaks.values():
            found.setdefault(peak.kind, []).append(peak)
        return found


def _vm_hwm(pid: int) -> int:
    """The peak resident set of a process, in bytes (VmHWM in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f})"


# ------------------------------------------------------------------------------------------------
# 1. Grading
# ------------------------------------------------------------------------------------------------
def grade_class(work: Path, assignments: list[str], students: int, workers: int, timeout: int,
                interval: float) -> tuple[Workspace, float, int]:
    """Grade the class for real (module docstring, part 1); print its figures; return the workspace,
    the core-seconds a notebook took on average and the peak memory per worker (bytes)."""
    subs = work / "submitted"
    build(subs, work / "course", assignments, students)
    n = students * len(assignments)
    print(f"1. grading {students} students x {len(assignments)} assignments = {n} notebooks: "
          f"python -m grader autograde --workers {workers} (forked kernels, sandboxed); {load()} at the start")
    watch = MemoryWatch(interval)
    workspace = Workspace.at(work / "graded")
    wall, per, _ = ours(workspace.root, subs, workers, timeout, on_start=watch.start)
    watch.join()
    print(f"   wall {wall:.1f} s; {load()} at the end")
    print(f"   notebooks per core-minute: {n / (wall / 60 * workers):.1f} overall (start-up included)")
    print(f"   {'assignment':<20} {'s per notebook (median)':>24} {'notebooks per core-minute':>26}")
    for a in assignments:
        median = statistics.median(per[a])
        print(f"   {a:<20} {median:24.2f} {60 / median:26.1f}")
    every = [s for seconds in per.values() for s in seconds]
    print(f"   all notebooks: {statistics.mean(every):.2f} s on average per worker -> "
          f"{60 / statistics.mean(every):.1f} notebooks per core-minute once started")
    print(f"   peak memory per process (method: VmHWM for RSS, PSS from /proc/PID/smaps_rollup read every {interval:g} s):")
    print(f"   {'kind':<16} {'processes':>9} {'RSS max MiB':>12} {'RSS median':>11} {'PSS max MiB':>12} {'PSS median':>11}")
    for kind, peaks in sorted(watch.by_kind().items()):
        rss, pss = [p.rss / MiB for p in peaks], [p.pss / MiB for p in peaks]
        print(f"   {kind:<16} {len(peaks):9d} {max(rss):12.0f} {statistics.median(rss):11.0f} "
              f"{max(pss):12.0f} {statistics.median(pss):11.0f}")
    print(f"   the whole tree at its peak: {watch.tree_pss / MiB:.0f} MiB PSS = "
          f"{watch.tree_pss / MiB / workers:.0f} MiB per worker (per core)")
    return workspace, statistics.mean(every), watch.tree_pss // workers


# ------------------------------------------------------------------------------------------------
# 2. Gradebook and report
# ------------------------------------------------------------------------------------------------
def renamed_copy(template: Path, into: Path, student: str, as_student: str) -> None:
    """A copy of a one-submission task gradebook with its student's id changed: nbgrader's student
    row and the submission's reference to it are the only places that name the student. Through an
    engine of its own, so the merge meets the copy as it meets a task's: with no engine yet."""
    import sqlalchemy
    from nbgrader.api import Student, SubmittedAssignment

    shutil.copyfile(template, into)
    engine = sqlalchemy.create_engine(f"sqlite:///{into}", poolclass=sqlalchemy.pool.NullPool)
    submissions, students = SubmittedAssignment.__table__, Student.__table__
    with engine.begin() as connection:
        connection.execute(submissions.update().where(submissions.c.student_id == student).values(student_id=as_student))
        connection.execute(students.update().where(students.c.id == student).values(id=as_student))
    engine.dispose()


def link_files(source: Path, target: Path) -> None:
    """`target` as a folder of hard links to the files of `source` (a staged or graded submission)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        os.link(path, target / path.name)


@dataclass
class Step:
    students: int
    seconds: list[float]  # per merged submission


def grow_gradebook(graded: Workspace, work: Path, sizes: list[int], workers: int,
                   report_at: set[int]) -> tuple[list[Step], dict[int, float]]:
    """Merge part 1's graded submissions under new student ids into a new workspace until it holds
    max(sizes) students (module docstring, part 2); the seconds per merge in each step of class size,
    and the seconds `python -m grader report` took at the sizes in `report_at`."""
    originals = gradebook.graded_submissions(graded.db_url)  # (student, assignment)
    students = sorted({s for s, _ in originals})
    assignments = sorted({a for _, a in originals})
    # The gradebook as a run's tasks start from it: the assignments known, no submission.
    base = work / "templates" / "gradebook-base.db"
    base.parent.mkdir(parents=True)
    shutil.copyfile(graded.gradebook, base)
    for student, assignment in originals:
        gradebook.forget_submission(f"sqlite:///{base}", assignment, student)
    templates = {}
    for student, assignment in originals:
        templates[student, assignment] = work / "templates" / f"{student}-{assignment}.db"
        shutil.copyfile(base, templates[student, assignment])
        gradebook.merge_submission(graded.db_url, f"sqlite:///{templates[student, assignment]}", assignment, student)
    files = {key: {p.name: p.read_bytes() for p in (graded.step("submitted") / key[0] / key[1]).iterdir()}
             for key in originals}

    target = Workspace.at(work / "class")
    target.prepare(SOLUTIONS_DIR)
    shutil.copyfile(base, target.gradebook)
    shutil.copytree(graded.step("release"), target.step("release"))
    target.tasks_dir.mkdir()
    ids = [f"s{i:05d}" for i in range(max(sizes))]
    todo = [Submission(new, a, files[students[i % len(students)], a], target.step("submitted") / new / a)
            for i, new in enumerate(ids) for a in assignments]
    options = RunOptions(SOLUTIONS_DIR, GradingLimits(), workers, None, False, None, None, lambda _: None)
    result = AutogradeResult()
    record = Recorder(todo, target, {}, options, result)
    steps, reports, seconds, index = [], {}, [], 0
    for i, new in enumerate(ids):
        original = students[i % len(students)]
        for a in assignments:
            # What a run has done before the orchestrator merges: staged the files, graded into a task copy.
            link_files(graded.step("submitted") / original / a, target.step("submitted") / new / a)
            link_files(graded.step("autograded") / original / a, target.step("autograded") / new / a)
            task = execution.Task(new, a, str(target.root), str(base), str(target.tasks_dir / f"gradebook-{index}.db"),
                                  0, 0.0, {})
            renamed_copy(templates[original, a], Path(task.db_path), original, new)
            index += 1
            start = time.perf_counter()
            record(task, execution.Outcome(True, "", 1.0, f"sqlite:///{task.db_path}"))
            execution.remove_copy(task)
            seconds.append(time.perf_counter() - start)
        if result.failures:
            sys.exit(f"a merge failed: {result.failures[0]}")
        if i + 1 in sizes:
            steps.append(Step(i + 1, seconds))
            print_step(steps, target)
            seconds = []
            if i + 1 in report_at:
                reports[i + 1] = time_report(target, work / f"report-{i + 1}")
    return steps, reports


def print_step(steps: list[Step], workspace: Workspace) -> None:
    step = steps[-1]
    before = steps[-2].students if len(steps) > 1 else 0
    ms = sorted(1000 * s for s in step.seconds)
    total = sum(sum(s.seconds) for s in steps)
    # The Recorder writes submissions.json and reviews.json whole after the run's last outcome;
    # until then, its changes are in their journals.
    sizes = ", ".join(f"{name} {sum(p.stat().st_size for p in workspace.root.glob(name + '*')) / MiB:.1f} MiB"
                      for name in ("gradebook.db", "submissions.json", "reviews.json"))
    print(f"   {before + 1:>5}-{step.students:<5} {statistics.mean(ms):9.1f} {statistics.median(ms):9.1f} "
          f"{ms[int(0.9 * (len(ms) - 1))]:9.1f} {total:10.1f}   {load()}; {sizes}", flush=True)


def time_report(workspace: Workspace, out: Path) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "grader", "report", "--workspace", str(workspace.root), "--out", str(out)],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


# ------------------------------------------------------------------------------------------------
# 3. What the largest class needs
# ------------------------------------------------------------------------------------------------
def print_plan(students: int, assignments: int, notebook_seconds: float, per_worker: int, steps: list[Step],
               report_seconds: float, cores: list[int]) -> None:
    """Core-hours and wall-clock hours for `students` x `assignments` notebooks on each number of
    `cores` (one grading task per core), from the figures measured above. The merges run one at a
    time in the grading command while the workers grade, so the wall time is the longer of the two."""
    notebooks = students * assignments
    merging = sum(sum(step.seconds) for step in steps)
    last_merge = statistics.mean(steps[-1].seconds)
    print(f"\n3. {students} students x {assignments} notebooks = {notebooks} notebooks, from these figures: "
          f"{notebook_seconds:.2f} core-s per notebook, {per_worker / MiB:.0f} MiB per core, "
          f"{merging / 60:.1f} min of merging, report {report_seconds:.0f} s")
    print(f"   grading: {notebooks * notebook_seconds / 3600:.1f} core-hours; the merges keep up with up to "
          f"{notebook_seconds / last_merge:.0f} cores (a merge takes {1000 * last_merge:.0f} ms at the end)")
    print(f"   {'cores':>6} {'grading h':>10} {'merging h':>10} {'wall h':>8} {'memory GiB':>11}")
    for count in cores:
        grading = notebooks * notebook_seconds / count
        wall = max(grading, merging) + report_seconds
        print(f"   {count:6d} {grading / 3600:10.2f} {merging / 3600:10.2f} {wall / 3600:8.2f} "
              f"{count * per_worker / 2**30:11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=10, help="students graded for real in part 1 (default 10)")
    parser.add_argument("--assignments", nargs="+", metavar="A", help="default: every assignment in solutions/")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=120, help="per-cell timeout")
    parser.add_argument("--poll", type=float, default=0.25, help="seconds between two reads of the memory")
    parser.add_argument("--class-sizes", type=int, nargs="+", default=[100, 250, 500, 1000, 2000],
                        help="class sizes (students) at which part 2 reports the merge time")
    parser.add_argument("--plan-cores", type=int, nargs="+", default=[2, 16, 64],
                        help="numbers of cores part 3 plans the largest class for")
    parser.add_argument("--keep", type=Path, help="keep the work folder here instead of a temporary one")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="skip part 1 (and 3): merge the graded submissions of an earlier run kept with --keep DIR")
    args = parser.parse_args()
    assignments = args.assignments or find_assignments(SOLUTIONS_DIR)
    work = Path(tempfile.mkdtemp(prefix="large-class-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    print(f"{processor_name()}, {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}")
    try:
        if args.reuse is None:
            graded, seconds, per_worker = grade_class(work, assignments, args.students, args.workers, args.timeout,
                                                      args.poll)
        else:
            graded = Workspace.at(args.reuse / "graded")
            assignments = sorted({a for _, a in gradebook.graded_submissions(graded.db_url)})
            print(f"1. skipped: the graded submissions of {graded.root} ({load()})")
        sizes = sorted(args.class_sizes)
        print(f"\n2. merging part 1's graded submissions under new ids into one gradebook, up to {sizes[-1]} students "
              f"x {len(assignments)} assignments (grader.autograde.Recorder, per submission)")
        print(f"   {'students':<11} {'mean ms':>9} {'median':>9} {'p90':>9} {'total s':>10}")
        steps, reports = grow_gradebook(graded, work, sizes, args.workers, {sizes[0], sizes[-1]})
        first, last = (statistics.mean(step.seconds) for step in (steps[0], steps[-1]))
        print(f"   per submission, the last step / the first: {last / first:.2f}x "
              f"({'flat: the total grows linearly' if last / first < 1.3 else 'it grows with the class'})")
        for size, wall in sorted(reports.items()):
            print(f"   python -m grader report on {size} students: {wall:.1f} s; {load()}")
        if args.reuse is not None:
            return
        print_plan(sizes[-1], len(assignments), seconds, per_worker, steps, reports[sizes[-1]], args.plan_cores)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
