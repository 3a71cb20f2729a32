"""The instructor command line, `python -m grader <command>` (CONTRACT.md §2).

Each command is a thin wrapper: it parses arguments, calls one module (release, autograde,
report, feedback, sample) and turns the result into output and an exit status:
0 when everything worked, 1 when something could not be done (each problem is listed, one line
each, naming the file), 2 for a wrong command line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from grader import settings
from grader.settings import (
    DEFAULT_CELL_TIMEOUT,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_NOTEBOOK_TIMEOUT,
    GraderError,
    GradingLimits,
    parse_size,
)
from grader.workspace import Workspace

WORKSPACE_HELP = (
    "nbgrader workspace: gradebook.db and the submitted/autograded/feedback folders "
    "(default: workspace/ in the repository, git-ignored)"
)
SOURCE_HELP = "folder of nbgrader source notebooks, <A>/<A>.ipynb (default: solutions/)"

DESCRIPTION = """\
Grade the course's notebooks with nbgrader.

  release      regenerate course/ from solutions/ and the student bundle
  autograde    grade submissions into the workspace's gradebook
  report       grades.csv, cells.csv and summary.html from the gradebook
  feedback     an HTML page per student and notebook, failures explained in words
  review       the review queue, and the instructor's decision on one of its exercises
  similarity   submissions whose code is alike beyond the template, per exercise
  sample-class write sample submissions to try the pipeline on

Typical round:
  python -m grader release
  python -m grader autograde path/to/submissions
  python -m grader report --out grades/
  python -m grader feedback
"""

AUTOGRADE_EPILOG = f"""\
SUBMISSIONS may hold, in any mix:
  <student_id>/<assignment>/<assignment>.ipynb   nbgrader's submitted layout
  <student_id>_<assignment>.ipynb                one notebook, as an LMS exports it
  <student_id>_<assignment>.zip                  a zip holding <assignment>.ipynb (any folder)
In the flat names the assignment is matched at the end: doejane_12345_67890_01_embeddings.ipynb
is student doejane_12345_67890, assignment 01_embeddings. Student ids are ASCII letters, digits,
'_', '-', '.', '@'. Anything that does not fit is listed at the end with the reason and is not
graded; the others are. Exit status 1 if anything could not be graded.

Unchanged submissions (same content hash as when last graded) are skipped; --force regrades
them, e.g. after changing solutions/ or grader/checks/.
Limits: each cell may run --timeout seconds (default {DEFAULT_CELL_TIMEOUT}; a cell over it is interrupted
and fails). Each submission is graded in a worker process that is killed, with its kernel, after
--notebook-timeout seconds (default {DEFAULT_NOTEBOOK_TIMEOUT}); the submission is then listed with the
reason. So S submissions on N workers finish within about ceil(S/N) x notebook-timeout. Each
kernel's address space is capped at --memory-limit (default {DEFAULT_MEMORY_LIMIT // 2**30}G, RLIMIT_AS; 0 = none):
a bigger allocation raises MemoryError in that cell. Output beyond 1000 lines or 256 KB per
cell is cut.
Grading runs with NBGRADER_EXECUTION=autograde, so the capstone trains its reduced schedule.
Warnings on stderr never cost points; exceptions do.
Sandbox (default; --no-sandbox turns it off): every kernel runs under bubblewrap as its own user,
sees only the Python environment, lib/ and a copy of its notebook's folder (no solutions/, grader/,
workspace or gradebook), has no network, cannot signal the grader, and takes every process it
started with it. Its scratch space, file sizes and process count are capped. Needs `bwrap`
(Debian/Ubuntu: sudo apt install bubblewrap) and user namespaces; the command stops before
grading, saying what is missing, if they are not there.
Kernels (--kernel): forked by default: a warm parent per worker, in its own sandbox, imports torch,
numpy, matplotlib and ipykernel once and forks a kernel per notebook with its own namespaces,
scratch and random seeds, which saves each notebook the kernel start and imports. Fresh kernels
are used, with the reason printed, without the sandbox, on Dask, off Linux or on a machine with an
NVIDIA GPU.
Kernels get OMP_NUM_THREADS = cores / workers.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m grader", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's own log on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Options several commands share, each written once.
    workspace = argparse.ArgumentParser(add_help=False)
    workspace.add_argument("--workspace", type=Path, metavar="DIR", help=WORKSPACE_HELP)
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--source", type=Path, default=settings.SOLUTIONS_DIR, metavar="DIR", help=SOURCE_HELP)

    p = commands.add_parser("release", parents=[source], help="regenerate course/ from solutions/ (nbgrader generate_assignment)",
                            description="Regenerate course/<A>/<A>.ipynb from solutions/ with nbgrader "
                            "generate_assignment, and write the student bundle zip. Deterministic: a "
                            "second run changes nothing.")
    p.add_argument("--assignment", action="append", metavar="A",
                   help="only this assignment (repeatable; default: every folder of solutions/)")
    p.add_argument("--course", type=Path, default=settings.COURSE_DIR, metavar="DIR",
                   help="where the student notebooks go (default: course/)")
    p.add_argument("--bundle", type=Path, default=settings.BUNDLE_PATH, metavar="ZIP",
                   help="student bundle to write (default: dist/transformer-course-student.zip)")
    p.add_argument("--no-bundle", action="store_true", help="do not write the student bundle")

    p = commands.add_parser("autograde", parents=[workspace, source], help="grade submissions (nbgrader autograde)",
                            description="Grade every submission under SUBMISSIONS with nbgrader's autograder "
                            "into the workspace's gradebook, showing progress and an ETA on stderr.",
                            epilog=AUTOGRADE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", type=Path, metavar="SUBMISSIONS", help="folder of submissions (see below)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="grading processes running at once (default: 1)")
    p.add_argument("--timeout", type=int, default=DEFAULT_CELL_TIMEOUT, metavar="SECONDS",
                   help=f"time limit per notebook cell (default: {DEFAULT_CELL_TIMEOUT})")
    p.add_argument("--notebook-timeout", type=float, default=DEFAULT_NOTEBOOK_TIMEOUT, metavar="SECONDS",
                   help="time limit per submission; its worker and kernel are killed when it is exceeded "
                   f"(default: {DEFAULT_NOTEBOOK_TIMEOUT})")
    p.add_argument("--memory-limit", default=str(DEFAULT_MEMORY_LIMIT // 2**30) + "G", metavar="SIZE",
                   help="address space per grading kernel, e.g. 4G, 3000M; 0 for no limit "
                   f"(default: {DEFAULT_MEMORY_LIMIT // 2**30}G)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="grade on an existing Dask cluster (scheduler address, e.g. tcp://host:8786) instead of "
                   "local workers; its workers must see the workspace at the same path and have the course installed")
    p.add_argument("--force", action="store_true", help="regrade submissions that have not changed")
    p.add_argument("--kernel", choices=("forked", "fresh"), default=None,
                   help="forked: fork every kernel from a warm parent per worker, which has imported torch & co "
                   "once (default where supported: Linux, with the sandbox, no NVIDIA GPU, not on Dask; otherwise "
                   "fresh, saying why); fresh: start a new kernel for every notebook")
    p.add_argument("--roster", type=Path, metavar="CSV",
                   help="a class list with student_id and any of first_name, last_name, email, lms_user_id: "
                   "every student on it goes into the gradebook with these details (formgrader shows the names)")
    p.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=True,
                   help="run every grading kernel in a bubblewrap sandbox (default); --no-sandbox runs student "
                   "code with your permissions (see the README's threat model)")

    p = commands.add_parser("report", parents=[workspace], help="grades.csv, cells.csv and summary.html",
                            description="Write OUT/grades.csv (student_id,assignment,score,max_score), "
                            "OUT/cells.csv (student_id,assignment,notebook,grade_id,score,max_score) and "
                            "OUT/summary.html (score distribution and pass rate per test), and print the "
                            "grade table.")
    p.add_argument("--out", type=Path, required=True, metavar="OUT", help="folder for the report files")

    p = commands.add_parser("feedback", parents=[workspace], help="HTML feedback per student (nbgrader generate_feedback)",
                            description="Write <workspace>/feedback/<student>/<A>/<A>.html for every graded "
                            "submission: each test with its points and, for a failed one, the reason in "
                            "words. Hidden test data and the grader's code are never shown.")

    p = commands.add_parser("review", parents=[workspace], help="the review queue; accept or score a flagged exercise",
                            description="Without STUDENT: list the review queue, every test cell the grader could "
                            "not verify (scored 0, needing a manual grade), with the reason, and the decisions "
                            "taken. With STUDENT ASSIGNMENT ITEM: decide on ITEM (a test cell's grade_id, or an "
                            "exercise: all its test cells) of that submission. The decision is nbgrader's manual "
                            "score, which overrides the automatic score in the gradebook, grades.csv and "
                            "formgrader, and stands when autograde runs again on the same submission (it is "
                            "dropped if the student submits a changed one).")
    p.add_argument("student", nargs="?", metavar="STUDENT")
    p.add_argument("assignment", nargs="?", metavar="ASSIGNMENT")
    p.add_argument("item", nargs="?", metavar="ITEM", help="test cell grade_id or exercise name")
    decision = p.add_mutually_exclusive_group()
    decision.add_argument("--accept", action="store_true", help="the code is right: full points for each test cell of ITEM")
    decision.add_argument("--score", type=float, metavar="POINTS", help="these points for the test cell ITEM")
    decision.add_argument("--reset", action="store_true", help="take the decision back (the automatic score counts again)")

    p = commands.add_parser("similarity", parents=[workspace], help="pairs of submissions alike beyond the template",
                            description="Compare every exercise's solution cells pair by pair (the released "
                            "template removed; names of variables, comments and the order of statements do not "
                            "count) and write OUT/pairs.csv (assignment,exercise,student_a,student_b,similarity,"
                            "flagged; pairs from 0.25 up) and OUT/similarity.html (clusters, flagged pairs side "
                            "by side, shared statements highlighted). See grader/similarity.py for the method.")
    p.add_argument("--out", type=Path, required=True, metavar="OUT", help="folder for pairs.csv and similarity.html")
    p.add_argument("--threshold", type=float, default=None, metavar="S",
                   help="flag pairs with similarity >= S, in (0, 1] (default: 0.6)")

    p = commands.add_parser("sample-class", parents=[source], help="write sample submissions to try the pipeline on",
                            description="Write sample submissions in nbgrader's layout, OUT/<student>/<A>/<A>.ipynb: "
                            "alice_correct (full marks), bob_partial (in between), carol_blank (0), "
                            "dave_broken (not JSON: reported) and erin_warnings (full marks despite warnings).")
    p.add_argument("out", type=Path, nargs="?", default=settings.REPO_ROOT / "sample_class" / "submitted",
                   metavar="OUT", help="where to write them (default: sample_class/submitted/)")
    p.add_argument("--assignment", action="append", metavar="A",
                   help="only this assignment (repeatable; default: every assignment)")
    return parser


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run_release(args) -> int:
    from grader.release import release

    release(args.assignment, source_dir=args.source, course_dir=args.course,
            bundle_path=None if args.no_bundle else args.bundle)
    return 0


def _run_autograde(args) -> int:
    from grader.autograde import autograde
    from grader.report import SubmissionGrade, grade_table

    from grader.sandbox import Sandbox

    workspace = Workspace.at(args.workspace)
    roster = None
    if args.roster is not None:
        from grader.roster import read_roster

        roster = read_roster(args.roster)  # a bad roster stops the command before anything is graded
    limits = GradingLimits(args.timeout, args.notebook_timeout, parse_size(args.memory_limit))
    sandbox = Sandbox() if args.sandbox else None
    result = autograde(args.submissions, workspace, source_dir=args.source, limits=limits, workers=args.workers,
                       dask=args.dask, force=args.force, sandbox=sandbox, kernel=args.kernel)
    if roster is not None:
        from grader.gradebook import apply_roster

        print(f"roster: {apply_roster(workspace.db_url, roster)} student(s) with their details in {workspace.gradebook}")
    if result.graded:
        graded = [g for g in result.graded if not g.unchanged]
        unchanged = [g for g in result.graded if g.unchanged]
        print(f"graded {len(graded)} submission(s), {len(unchanged)} unchanged, into {workspace.gradebook}")
        print(grade_table([SubmissionGrade(g.student, g.assignment, g.score, g.max_score) for g in result.graded]))
    if result.failures:
        print(f"\ncould not grade {len(result.failures)}:")
        for failure in result.failures:
            print(f"  {failure}")
        return 1
    return 0


def _run_report(args) -> int:
    from grader.report import grade_table, report

    submissions, cells = report(Workspace.at(args.workspace), args.out)
    print(grade_table(submissions) if submissions else "no graded submissions yet")
    print(f"\nwrote {args.out / 'grades.csv'}, {args.out / 'cells.csv'}, {args.out / 'summary.html'}")
    return 0


def _run_feedback(args) -> int:
    from grader.feedback import generate_feedback

    result = generate_feedback(Workspace.at(args.workspace))
    if not result.pages and not result.failures:
        print("no graded submissions yet")
    if result.failures:
        print(f"\nno feedback for {len(result.failures)}:")
        for what, reason in result.failures:
            print(f"  {what}: {reason}")
        return 1
    return 0


def _run_review(args) -> int:
    from grader.review import decide, queue

    workspace = Workspace.at(args.workspace)
    if args.student is None:
        if args.accept or args.score is not None or args.reset:
            raise GraderError("name the submission: review STUDENT ASSIGNMENT ITEM --accept|--score POINTS|--reset")
        items = queue(workspace)
        pending = [i for i in items if i.pending]
        print(f"{len(pending)} test cell(s) to review, {len(items) - len(pending)} decided")
        for i in items:
            state = "to review" if i.pending else f"decided {i.manual_score:g}/{i.max_score:g}"
            print(f"  {i.student}  {i.assignment}  {i.exercise} ({i.grade_id})  {state}: {i.reason}")
        return 0
    if args.item is None:
        raise GraderError("review needs STUDENT ASSIGNMENT ITEM (or nothing, to list the queue)")
    decisions = decide(workspace, args.student, args.assignment, args.item, accept=args.accept,
                       score=args.score, reset=args.reset)
    for d in decisions:
        what = "decision taken back" if d.score is None else f"manual score {d.score:g}/{d.max_score:g}"
        print(f"{args.student} {args.assignment} {d.grade_id}: {what}")
    return 0


def _run_similarity(args) -> int:
    from grader.similarity import THRESHOLD, write_similarity

    threshold = THRESHOLD if args.threshold is None else args.threshold
    exercises = write_similarity(Workspace.at(args.workspace), args.out, threshold=threshold)
    flagged = [p for ex in exercises for p in ex.pairs if p.flagged]
    print(f"{len(exercises)} exercise(s) compared, {len(flagged)} flagged pair(s) (similarity >= {threshold:g})")
    for p in flagged[:20]:
        print(f"  {p.assignment} {p.exercise}: {p.student_a} ~ {p.student_b} {p.similarity:.2f}")
    if len(flagged) > 20:
        print(f"  ... and {len(flagged) - 20} more in pairs.csv")
    print(f"\nwrote {args.out / 'pairs.csv'}, {args.out / 'similarity.html'}")
    return 0


def _run_sample_class(args) -> int:
    from grader.sample import build_sample_class, reset

    reset(args.out)
    build_sample_class(args.out, args.assignment, source_dir=args.source)
    return 0


COMMANDS = {
    "release": _run_release,
    "autograde": _run_autograde,
    "report": _run_report,
    "feedback": _run_feedback,
    "review": _run_review,
    "similarity": _run_similarity,
    "sample-class": _run_sample_class,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose:
        from grader.runner import LOG

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[nbgrader %(levelname)s] %(message)s"))
        LOG.addHandler(handler)
    try:
        return COMMANDS[args.command](args)
    except GraderError as error:
        _err(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
